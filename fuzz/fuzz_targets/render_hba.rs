//! Fuzz target: a transport ("tls" or anything else for plain), the
//! replication role and the nodes' hosts (fields cut at 0xFF) in a cluster
//! file. mirrorset's validator refuses them, or every pg_hba line it
//! renders reads, with PostgreSQL's tokenizer, as exactly that role from
//! exactly one other member's address, never a keyword. In: bytes. Out: a
//! panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::model::{ReplicationTransport, Secret};
use mirrorset_fuzz::cluster::{self, NodeSpec, Spec};
use mirrorset_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let fields = fields(data);
    let [Some(transport), Some(user), hosts @ ..] = fields.as_slice() else {
        return;
    };
    let nodes: Vec<NodeSpec> = hosts
        .iter()
        .take(5)
        .enumerate()
        .filter_map(|(index, host)| Some(NodeSpec::new(&format!("db{}", index + 1), (*host)?)))
        .collect();
    if nodes.is_empty() {
        return;
    }
    let spec = Spec {
        user: user.to_string(),
        nodes,
        ..Spec::default()
    };
    let Some(mut parsed) = spec.cluster() else {
        return;
    };
    if *transport == "tls" {
        // TLS needs certificate files; the hba lines need only the transport.
        parsed.replication.transport = ReplicationTransport::Tls;
    }
    cluster::check(&parsed, &Secret::new("fuzz passphrase".to_owned()));
});
