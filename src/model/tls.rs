//! The TLS files a cluster file names, as their PEM text: the CA, and each
//! node's certificate and key. Read and checked by `config`, used by
//! `desired`. Pure data.

use std::collections::BTreeMap;

use super::{NodeName, Secret};

/// The CA, and each node's certificate and key, as their PEM text.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub ca: String,
    pub nodes: BTreeMap<NodeName, NodeTlsMaterial>,
}

#[derive(Debug, Clone)]
pub struct NodeTlsMaterial {
    pub cert: String,
    pub key: Secret<String>,
}
