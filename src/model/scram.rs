//! SCRAM-SHA-256 password verifiers as PostgreSQL stores them in
//! pg_authid.rolpassword, computed here so the cleartext passphrase never
//! travels to a server, and checked against a stored verifier by recomputing
//! it with the stored salt. Pure (a fresh salt comes from the OS RNG).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::Secret;

/// PostgreSQL's default iteration count (scram_iterations in PG 16+).
const ITERATIONS: u32 = 4096;
const SALT_LEN: usize = 16;

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// RFC 5802's Hi(): PBKDF2 with HMAC-SHA-256, one 32-byte block.
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut previous = hmac(password, &first);
    let mut result = previous;
    for _ in 1..iterations {
        previous = hmac(password, &previous);
        for (r, p) in result.iter_mut().zip(previous) {
            *r ^= p;
        }
    }
    result
}

/// SASLprep as libpq applies it: skipped when the passphrase would not survive it.
fn prepared(passphrase: &str) -> Vec<u8> {
    match stringprep::saslprep(passphrase) {
        Ok(prepared) => prepared.into_owned().into_bytes(),
        Err(_) => passphrase.as_bytes().to_vec(),
    }
}

fn verifier_with(passphrase: &str, salt: &[u8], iterations: u32) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let salted = hi(&prepared(passphrase), salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key),
        b64.encode(server_key)
    )
}

/// A new verifier for `passphrase` with a random salt.
pub fn scram_verifier(passphrase: &Secret<String>) -> Secret<String> {
    let mut salt = [0u8; SALT_LEN];
    rand::fill(&mut salt);
    Secret::new(verifier_with(passphrase.expose(), &salt, ITERATIONS))
}

/// Whether `stored` (a pg_authid.rolpassword value) was made from `passphrase`.
/// False for anything that is not a SCRAM-SHA-256 verifier (an md5 hash, none).
pub fn verifier_matches(stored: &Secret<String>, passphrase: &Secret<String>) -> bool {
    let Some(rest) = stored.expose().strip_prefix("SCRAM-SHA-256$") else {
        return false;
    };
    let Some((iterations_salt, _keys)) = rest.split_once('$') else {
        return false;
    };
    let Some((iterations, salt)) = iterations_salt.split_once(':') else {
        return false;
    };
    let (Ok(iterations), Ok(salt)) = (
        iterations.parse::<u32>(),
        base64::engine::general_purpose::STANDARD.decode(salt),
    ) else {
        return false;
    };
    verifier_with(passphrase.expose(), &salt, iterations) == *stored.expose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recomputes_with_the_stored_salt() {
        // The end-to-end tests check this against verifiers PostgreSQL itself made.
        let salt = base64::engine::general_purpose::STANDARD
            .decode("c2FsdHNhbHRzYWx0c2FsdA==")
            .unwrap();
        let made = verifier_with("correct horse", &salt, 4096);
        assert!(made.starts_with("SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$"));
        let secret = Secret::new("correct horse".to_owned());
        assert!(verifier_matches(&Secret::new(made.clone()), &secret));
        assert!(!verifier_matches(
            &Secret::new(made),
            &Secret::new("wrong".to_owned())
        ));
        assert!(!verifier_matches(
            &Secret::new("md5abc".to_owned()),
            &secret
        ));
    }

    #[test]
    fn fresh_verifiers_use_fresh_salts() {
        let secret = Secret::new("p".to_owned());
        let (a, b) = (scram_verifier(&secret), scram_verifier(&secret));
        assert_ne!(a.expose(), b.expose());
        assert!(verifier_matches(&a, &secret) && verifier_matches(&b, &secret));
    }
}
