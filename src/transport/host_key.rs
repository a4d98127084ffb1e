//! Host keys checked strictly against known_hosts, as OpenSSH does: an
//! unknown key is refused with its fingerprint unless the operator accepts
//! new keys; a changed key is always refused. I/O: reads and appends the
//! local known_hosts file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use base64::Engine;
use ssh2::{CheckResult, HashType, HostKeyType, KnownHostFileKind, Session};

use super::AccessError;
use crate::model::NodeName;

/// How known_hosts names a host: `host` on port 22, `[host]:port` otherwise.
pub fn host_spec(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:…`, as `ssh-keygen -l` prints it.
fn fingerprint(session: &Session) -> String {
    let hash = session.host_key_hash(HashType::Sha256).unwrap_or_default();
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    )
}

fn key_type_name(kind: HostKeyType) -> &'static str {
    match kind {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        HostKeyType::Unknown => "unknown",
    }
}

pub fn verify(
    session: &Session,
    node: &NodeName,
    host: &str,
    port: u16,
    known_hosts: &Path,
    accept_new: bool,
) -> Result<(), AccessError> {
    let known_hosts_error = |reason: String| AccessError::KnownHosts {
        node: node.clone(),
        known_hosts: known_hosts.to_path_buf(),
        reason,
    };
    let (key, kind) = session
        .host_key()
        .ok_or_else(|| known_hosts_error("the server sent no host key".into()))?;
    let spec = host_spec(host, port);
    // As OpenSSH: the operator's file, then the machine's.
    let files = [known_hosts, Path::new(GLOBAL_KNOWN_HOSTS)];
    let key_text = base64::engine::general_purpose::STANDARD.encode(key);
    if let Some((file, line)) = revoked(&files, &key_text) {
        return Err(AccessError::RevokedHostKey {
            node: node.clone(),
            host_spec: spec,
            fingerprint: fingerprint(session),
            file: file.display().to_string(),
            line,
        });
    }
    let mut known = session
        .known_hosts()
        .map_err(|e| known_hosts_error(e.to_string()))?;
    for file in files.iter().filter(|file| file.exists()) {
        known
            .read_file(file, KnownHostFileKind::OpenSSH)
            .map_err(|e| known_hosts_error(format!("{}: {e}", file.display())))?;
    }
    match known.check_port(host, port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(AccessError::ChangedHostKey {
            node: node.clone(),
            host_spec: spec,
            fingerprint: fingerprint(session),
            known_hosts: known_hosts.display().to_string(),
        }),
        CheckResult::NotFound if accept_new => {
            let line = format!(
                "{spec} {} {}\n",
                key_type_name(kind),
                base64::engine::general_purpose::STANDARD.encode(key)
            );
            append(known_hosts, &line)
                .map_err(|e| known_hosts_error(format!("cannot add the key: {e}")))?;
            eprintln!(
                "{node}: added the host key of {spec} ({}) to {}",
                fingerprint(session),
                known_hosts.display()
            );
            Ok(())
        }
        CheckResult::NotFound => Err(AccessError::UnknownHostKey {
            node: node.clone(),
            host_spec: spec,
            fingerprint: fingerprint(session),
            known_hosts: known_hosts.display().to_string(),
        }),
        CheckResult::Failure => Err(known_hosts_error("libssh2 could not check the key".into())),
    }
}

/// The machine's known_hosts, which OpenSSH reads after the user's.
const GLOBAL_KNOWN_HOSTS: &str = "/etc/ssh/ssh_known_hosts";

/// The file and line that mark this key `@revoked`, whatever host the line
/// names: OpenSSH refuses a revoked key for every host.
fn revoked<'a>(files: &[&'a Path], key: &str) -> Option<(&'a Path, usize)> {
    files.iter().find_map(|file| {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().enumerate().find_map(|(index, line)| {
            let mut fields = line.split_whitespace();
            let marked = fields.next() == Some("@revoked");
            let _hosts = fields.next();
            let _kind = fields.next();
            (marked && fields.next() == Some(key)).then_some((*file, index + 1))
        })
    })
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_all()
}
