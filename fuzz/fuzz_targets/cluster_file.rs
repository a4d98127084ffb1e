//! Fuzz target: any text as a cluster file. mirrorset's reader and
//! validator must not panic; a file they accept must render (mirrorset.conf,
//! primary_conninfo, pg_hba lines, passfile) with every property of
//! `cluster::check`. In: bytes. Out: a panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::model::Secret;
use mirrorset_fuzz::cluster;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(parsed) = cluster::parse(text) {
        cluster::check(&parsed, &Secret::new("fuzz passphrase".to_owned()));
    }
});
