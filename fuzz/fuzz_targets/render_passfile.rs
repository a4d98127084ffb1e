//! Fuzz target: the replication role and passphrase (fields cut at 0xFF).
//! mirrorset refuses the passphrase when it reads it (as from the
//! environment variable the cluster file names), or libpq's passfile reader
//! finds exactly that passphrase in the passfile mirrorset renders. In:
//! bytes. Out: a panic on a broken property. Sets one environment variable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset_fuzz::cluster::{self, Spec};
use mirrorset_fuzz::fields;

fuzz_target!(|data: &[u8]| {
    let fields = fields(data);
    let [Some(user), Some(passphrase), ..] = fields.as_slice() else {
        return;
    };
    let spec = Spec {
        user: user.to_string(),
        ..Spec::default()
    };
    let Some(parsed) = spec.cluster() else {
        return;
    };
    if let Some(secret) = cluster::passphrase(&parsed, passphrase) {
        cluster::check(&parsed, &secret);
    }
});
