//! Host keys checked as OpenSSH checks them. In: the node, its host and
//! port, its known_hosts files (then the machine's /etc/ssh/ssh_known_hosts)
//! and, after the handshake, the key the server presented. Out: the host key
//! algorithms to ask for, then the verdict: a known key passes; a changed,
//! revoked or certificate-only one is refused, naming the node and what to
//! do; an unknown one is refused unless new keys are accepted, then
//! appended as ssh writes it, hashed when ssh_config says `HashKnownHosts
//! yes`. I/O: reads known_hosts files, appends to the first of them.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ssh2::Session;

use super::AccessError;
use super::HostCertificateOnly;
use super::known_hosts::{self, HostKey, KnownHostsFile, Verdict};
use crate::model::NodeName;

/// The machine's known_hosts, which OpenSSH reads after the user's.
const GLOBAL_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";

/// Appends from the nodes' concurrent connections go one at a time.
static APPENDING: Mutex<()> = Mutex::new(());

/// The known_hosts files as read before the handshake, for one node.
pub struct HostKeyCheck {
    node: NodeName,
    host: String,
    port: u16,
    /// ssh_config says `HashKnownHosts yes` for the host: added lines name it hashed.
    hash_names: bool,
    /// The host as known_hosts names it.
    name: String,
    known_hosts: PathBuf,
    files: Vec<KnownHostsFile>,
}

impl HostKeyCheck {
    pub fn read(
        node: &NodeName,
        host: &str,
        port: u16,
        known_hosts: &[PathBuf],
        hash_names: bool,
    ) -> Result<Self, AccessError> {
        let mut files = Vec::new();
        let global = Path::new(GLOBAL_KNOWN_HOSTS);
        for path in known_hosts.iter().map(PathBuf::as_path).chain([global]) {
            match std::fs::read_to_string(path) {
                Ok(text) => files.push(KnownHostsFile {
                    path: path.to_path_buf(),
                    text,
                }),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(AccessError::KnownHosts {
                        node: node.clone(),
                        known_hosts: path.to_path_buf(),
                        reason: error.to_string(),
                    });
                }
            }
        }
        Ok(Self {
            node: node.clone(),
            host: host.to_owned(),
            port,
            hash_names,
            name: known_hosts::host_name(host, port),
            // The first file gets the keys accepted, as with ssh.
            known_hosts: known_hosts
                .first()
                .cloned()
                .unwrap_or_else(|| PathBuf::from("known_hosts")),
            files,
        })
    }

    /// For `Session::method_pref(MethodType::HostKey, …)` before the handshake.
    pub fn algorithms(&self) -> String {
        known_hosts::host_key_algorithms(&self.files, &self.name)
    }

    pub fn verify(&self, session: &Session, accept_new: bool) -> Result<(), AccessError> {
        let key = session
            .host_key()
            .and_then(|(blob, _)| HostKey::from_blob(blob))
            .ok_or_else(|| self.error("the server sent no host key mirrorset can read".into()))?;
        if key.is_certificate() {
            // Only plain key algorithms are asked for; a certificate here is a server fault.
            return Err(self.error(format!(
                "the server presented a {} although no certificate was asked for",
                key.kind()
            )));
        }
        let node = self.node.clone();
        let host_spec = self.name.clone();
        let fingerprint = key.fingerprint();
        match known_hosts::check(&self.files, &self.name, &key) {
            Verdict::Known => Ok(()),
            Verdict::Revoked(place) => Err(AccessError::RevokedHostKey {
                node,
                host_spec,
                fingerprint,
                file: place.file.display().to_string(),
                line: place.line,
            }),
            Verdict::Changed(place) => Err(AccessError::ChangedHostKey {
                node,
                host_spec,
                fingerprint,
                file: place.file.display().to_string(),
                line: place.line,
            }),
            Verdict::CertAuthority(_) | Verdict::Unknown if accept_new => self.add(&key),
            Verdict::CertAuthority(place) => Err(AccessError::HostCertificate(Box::new(
                HostCertificateOnly {
                    node,
                    key_line: known_hosts::plain_line(&host_spec, &key)
                        .trim_end()
                        .to_owned(),
                    host_spec,
                    key_type: key.kind().to_owned(),
                    fingerprint,
                    file: place.file.display().to_string(),
                    line: place.line,
                    host: self.host.clone(),
                    port: self.port,
                    known_hosts: self.known_hosts.display().to_string(),
                },
            ))),
            Verdict::Unknown => Err(AccessError::UnknownHostKey {
                node,
                host_spec,
                fingerprint,
                known_hosts: self.known_hosts.display().to_string(),
            }),
        }
    }

    fn error(&self, reason: String) -> AccessError {
        AccessError::KnownHosts {
            node: self.node.clone(),
            known_hosts: self.known_hosts.clone(),
            reason,
        }
    }

    /// Appends the key as ssh would write it for this host.
    fn add(&self, key: &HostKey) -> Result<(), AccessError> {
        let line = if self.hash_names {
            let mut salt = [0u8; 20];
            rand::fill(&mut salt);
            known_hosts::hashed_line(&self.name, key, &salt)
        } else {
            known_hosts::plain_line(&self.name, key)
        };
        append(&self.known_hosts, &line)
            .map_err(|e| self.error(format!("cannot add the key: {e}")))?;
        eprintln!(
            "{}: added the host key of {} ({} {}) to {}",
            self.node,
            self.name,
            key.kind(),
            key.fingerprint(),
            self.known_hosts.display(),
        );
        Ok(())
    }
}

/// Appends one line, first ending a last line that has no newline (or the
/// two would run together into one line neither ssh nor mirrorset reads).
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    let _one_at_a_time = APPENDING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let length = file.metadata()?.len();
    let mut last = [b'\n'];
    if length > 0 {
        file.read_exact_at(&mut last, length - 1)?;
    }
    let mut text = String::with_capacity(line.len() + 1);
    if last[0] != b'\n' {
        text.push('\n');
    }
    text.push_str(line);
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
