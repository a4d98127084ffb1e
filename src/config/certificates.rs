//! The TLS files a cluster file names, read from local disk and checked
//! before any node is contacted: every PEM parses, each node's certificate
//! is signed by the CA, valid now, and names the node's host. Reads local
//! files; the checks themselves are pure.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{ASN1Time, FromDer};

use crate::model::{
    Cluster, NodeName, NodeState, NodeTlsMaterial, ReplicationTransport, Secret, TlsMaterial,
};

/// Everything wrong with a cluster's TLS files, each naming its node and file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{file}: the TLS files are not usable ({} problem{})", problems.len(), if problems.len() == 1 { "" } else { "s" })]
#[diagnostic(
    code(tls::invalid),
    help("fix the files the cluster file names; no node was contacted")
)]
pub struct InvalidCertificates {
    pub file: String,
    #[related]
    pub problems: Vec<CertificateProblem>,
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{}{file}: {message}", node.as_ref().map(|n| format!("{n}: ")).unwrap_or_default())]
#[diagnostic(code(tls::certificate))]
pub struct CertificateProblem {
    pub node: Option<String>,
    pub file: String,
    pub message: String,
    #[help]
    pub help: Option<String>,
}

/// Reads and checks the TLS files when the cluster uses (or names) TLS;
/// None for a plain cluster that names none.
pub fn load_tls(cluster: &Cluster) -> Result<Option<TlsMaterial>, InvalidCertificates> {
    let Some(tls) = &cluster.replication.tls else {
        return Ok(None);
    };
    if cluster.replication.transport == ReplicationTransport::Plain
        && cluster.nodes.iter().all(|node| node.tls.is_none())
    {
        return Ok(None);
    }
    let mut problems = Vec::new();
    let problem = |node: Option<&NodeName>, file: &Path, message: String, help: Option<&str>| {
        CertificateProblem {
            node: node.map(ToString::to_string),
            file: file.display().to_string(),
            message,
            help: help.map(str::to_owned),
        }
    };
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| e.to_string());
    let ca_text = match read(&tls.ca) {
        Ok(text) => text,
        Err(error) => {
            return Err(InvalidCertificates {
                file: cluster.file.display().to_string(),
                problems: vec![problem(
                    None,
                    &tls.ca,
                    format!("cannot read the CA: {error}"),
                    None,
                )],
            });
        }
    };
    let now = ASN1Time::now();
    let mut nodes = BTreeMap::new();
    for node in cluster
        .nodes
        .iter()
        .filter(|node| node.state != NodeState::Absent)
    {
        let Some(files) = &node.tls else {
            continue;
        };
        let cert = match read(&files.cert) {
            Ok(cert) => cert,
            Err(error) => {
                problems.push(problem(
                    Some(&node.name),
                    &files.cert,
                    format!("cannot read the certificate: {error}"),
                    None,
                ));
                continue;
            }
        };
        let key = match read(&files.key) {
            Ok(key) => key,
            Err(error) => {
                problems.push(problem(
                    Some(&node.name),
                    &files.key,
                    format!("cannot read the key: {error}"),
                    None,
                ));
                continue;
            }
        };
        if let Err(message) = check_certificate(&ca_text, &cert, &node.host, now) {
            let help = match message {
                CertificateError::Ca(_) => None,
                CertificateError::Host(_) => Some(
                    "a mirror checks the server's name (sslmode=verify-full): issue the certificate with the host as written in the cluster file",
                ),
                CertificateError::Signature(_) => Some(
                    "every node's certificate must be signed by [replication.tls] ca, with an ECDSA or RSA key, or mirrors refuse the server",
                ),
                CertificateError::Other(_) => None,
            };
            let file = if matches!(message, CertificateError::Ca(_)) {
                &tls.ca
            } else {
                &files.cert
            };
            problems.push(problem(Some(&node.name), file, message.to_string(), help));
        }
        if !key.contains("PRIVATE KEY-----") {
            problems.push(problem(
                Some(&node.name),
                &files.key,
                "is not a PEM private key".to_owned(),
                None,
            ));
        }
        nodes.insert(
            node.name.clone(),
            NodeTlsMaterial {
                cert,
                key: Secret::new(key),
            },
        );
    }
    if problems.is_empty() {
        Ok(Some(TlsMaterial { ca: ca_text, nodes }))
    } else {
        Err(InvalidCertificates {
            file: cluster.file.display().to_string(),
            problems,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the CA {0}")]
    Ca(String),
    #[error("{0}")]
    Host(String),
    #[error("{0}")]
    Signature(String),
    #[error("{0}")]
    Other(String),
}

fn parse_pem(text: &str) -> Result<Vec<u8>, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|e| format!("is not a PEM certificate ({e})"))?;
    if pem.label != "CERTIFICATE" {
        return Err(format!("holds a {}, not a CERTIFICATE", pem.label));
    }
    Ok(pem.contents)
}

fn validity(cert: &X509Certificate<'_>, now: ASN1Time) -> Result<(), String> {
    let validity = cert.validity();
    if now < validity.not_before {
        Err(format!("is not valid before {}", validity.not_before))
    } else if now > validity.not_after {
        Err(format!("expired on {}", validity.not_after))
    } else {
        Ok(())
    }
}

/// The CA and node certificates that expire within `days` of `now`, as
/// (node, what to say); none when `days` is 0.
pub fn expiry_warnings(
    material: &TlsMaterial,
    days: u32,
    now: ASN1Time,
) -> Vec<(Option<NodeName>, String)> {
    if days == 0 {
        return Vec::new();
    }
    let soon = |pem: &str| -> Option<(i64, String)> {
        let der = parse_pem(pem).ok()?;
        let (_, cert) = X509Certificate::from_der(&der).ok()?;
        let not_after = cert.validity().not_after;
        let left = not_after.timestamp() - now.timestamp();
        (left < i64::from(days) * 86_400).then(|| (left.div_euclid(86_400), not_after.to_string()))
    };
    let words = |what: &str, (left, date): (i64, String)| {
        format!(
            "{what} expires on {date}, in {left} day{}: renew it; plan then writes the new one and reloads the servers",
            if left == 1 { "" } else { "s" }
        )
    };
    let mut warnings = Vec::new();
    if let Some(expiry) = soon(&material.ca) {
        warnings.push((None, words("the CA certificate", expiry)));
    }
    for (node, files) in &material.nodes {
        if let Some(expiry) = soon(&files.cert) {
            warnings.push((Some(node.clone()), words("its certificate", expiry)));
        }
    }
    warnings
}

const ED25519_OID: &str = "1.3.101.112";
const ED448_OID: &str = "1.3.101.113";

/// Checks one node's certificate against the CA and the node's host at `now`.
pub fn check_certificate(
    ca_pem: &str,
    cert_pem: &str,
    host: &str,
    now: ASN1Time,
) -> Result<(), CertificateError> {
    let ca_der = parse_pem(ca_pem).map_err(CertificateError::Ca)?;
    let (_, ca) = X509Certificate::from_der(&ca_der)
        .map_err(|e| CertificateError::Ca(format!("does not parse: {e}")))?;
    validity(&ca, now).map_err(CertificateError::Ca)?;
    let der = parse_pem(cert_pem).map_err(CertificateError::Other)?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|e| CertificateError::Other(format!("does not parse: {e}")))?;
    validity(&cert, now).map_err(CertificateError::Other)?;
    cert.verify_signature(Some(ca.public_key())).map_err(|_| {
        CertificateError::Signature(format!(
            "is not signed by the CA ({}); it was issued by {}",
            ca.subject(),
            cert.issuer()
        ))
    })?;
    // SCRAM channel binding hashes the server certificate with its
    // signature's digest; EdDSA has none, and libpq fails mid-clone with
    // "could not find digest for NID UNDEF".
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    if algorithm == ED25519_OID || algorithm == ED448_OID {
        return Err(CertificateError::Signature(
            "is signed with EdDSA (Ed25519 or Ed448), which PostgreSQL's SCRAM channel binding cannot hash: \
             mirrors could not log in"
                .to_owned(),
        ));
    }
    let names: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_string()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => Some(IpAddr::from(<[u8; 4]>::try_from(*bytes).ok()?).to_string()),
                    16 => Some(IpAddr::from(<[u8; 16]>::try_from(*bytes).ok()?).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let matches = names.iter().any(|name| {
        name.eq_ignore_ascii_case(host)
            || name.strip_prefix("*.").is_some_and(|suffix| {
                host.split_once('.')
                    .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(suffix))
            })
    });
    if !matches {
        return Err(CertificateError::Host(format!(
            "is for {}, not for the node's host {host}",
            if names.is_empty() {
                "no host (it has no subject alternative name)".to_owned()
            } else {
                names.join(", ")
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use x509_parser::prelude::ASN1Time;

    use super::{
        CertificateError, NodeTlsMaterial, TlsMaterial, check_certificate, expiry_warnings,
    };

    fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    fn leaf(issuer: &CertifiedIssuer<'_, KeyPair>, host: &str, expired: bool) -> String {
        let mut params = CertificateParams::new(vec![host.to_owned()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        params
            .signed_by(&KeyPair::generate().unwrap(), issuer)
            .unwrap()
            .pem()
    }

    #[test]
    fn refuses_an_eddsa_signed_certificate_before_any_node_is_touched() {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let ca = CertifiedIssuer::self_signed(params, ca_key).unwrap();
        let cert = CertificateParams::new(vec!["db1.example".to_owned()])
            .unwrap()
            .signed_by(&KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(), &ca)
            .unwrap()
            .pem();
        let error =
            check_certificate(&ca.pem(), &cert, "db1.example", ASN1Time::now()).unwrap_err();
        assert!(
            matches!(&error, CertificateError::Signature(m) if m.contains("EdDSA")),
            "{error}"
        );
    }

    #[test]
    fn warns_of_certificates_that_expire_soon() {
        let ca = new_ca("expiry CA");
        let mut params = CertificateParams::new(vec!["db1.example".to_owned()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2026, 12, 20);
        let cert = params
            .signed_by(&KeyPair::generate().unwrap(), &ca)
            .unwrap()
            .pem();
        let material = TlsMaterial {
            ca: ca.pem(),
            nodes: [(
                crate::model::NodeName::new("db1").unwrap(),
                NodeTlsMaterial {
                    cert,
                    key: crate::model::Secret::new(String::new()),
                },
            )]
            .into(),
        };
        // 2026-12-02: 18 days before the node's certificate expires.
        let now = ASN1Time::from_timestamp(1_796_169_600).unwrap();
        let warnings = expiry_warnings(&material, 30, now);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].0.as_ref().unwrap().as_str(), "db1");
        assert!(warnings[0].1.contains("in 18 days"), "{}", warnings[0].1);
        assert!(expiry_warnings(&material, 10, now).is_empty());
        assert!(expiry_warnings(&material, 0, now).is_empty());
    }

    #[test]
    fn accepts_a_certificate_of_the_ca_for_the_host() {
        let ca = new_ca("test CA");
        let now = ASN1Time::now();
        check_certificate(&ca.pem(), &leaf(&ca, "10.0.0.1", false), "10.0.0.1", now).unwrap();
        check_certificate(
            &ca.pem(),
            &leaf(&ca, "db1.example", false),
            "DB1.example",
            now,
        )
        .unwrap();
        check_certificate(
            &ca.pem(),
            &leaf(&ca, "*.example", false),
            "db2.example",
            now,
        )
        .unwrap();
    }

    #[test]
    fn names_what_is_wrong() {
        let ca = new_ca("test CA");
        let now = ASN1Time::now();
        let wrong_host =
            check_certificate(&ca.pem(), &leaf(&ca, "10.0.0.9", false), "10.0.0.1", now);
        assert!(
            matches!(&wrong_host, Err(CertificateError::Host(m)) if m == "is for 10.0.0.9, not for the node's host 10.0.0.1"),
            "{wrong_host:?}"
        );
        let other = new_ca("another CA");
        let foreign =
            check_certificate(&ca.pem(), &leaf(&other, "10.0.0.1", false), "10.0.0.1", now);
        assert!(
            matches!(&foreign, Err(CertificateError::Signature(m)) if m.contains("is not signed by the CA (CN=test CA); it was issued by CN=another CA")),
            "{foreign:?}"
        );
        let expired = check_certificate(&ca.pem(), &leaf(&ca, "10.0.0.1", true), "10.0.0.1", now);
        assert!(
            matches!(&expired, Err(CertificateError::Other(m)) if m.starts_with("expired on")),
            "{expired:?}"
        );
        let garbage =
            check_certificate("not a pem", &leaf(&ca, "10.0.0.1", false), "10.0.0.1", now);
        assert!(
            matches!(garbage, Err(CertificateError::Ca(_))),
            "{garbage:?}"
        );
    }
}
