//! Fuzz target: key/value pairs (fields cut at 0xFF), rendered by
//! mirrorset's conninfo() and read back by a model of libpq's parser as the
//! same pairs; and the same pairs as a cluster's host, port, user, passfile,
//! data_dir and mirror name, whose primary_conninfo and pg_rewind source
//! libpq reads as intended (or the validator refuses them). In: bytes. Out:
//! a panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::desired::conninfo;
use mirrorset::model::Secret;
use mirrorset_fuzz::cluster::{self, Spec};
use mirrorset_fuzz::{fields, libpq};

fuzz_target!(|data: &[u8]| {
    let fields = fields(data);
    let pairs: Vec<(&str, &str)> = fields
        .chunks(2)
        .filter_map(|pair| match pair {
            [Some(key), Some(value)] => Some((*key, *value)),
            _ => None,
        })
        .collect();
    // Keys are mirrorset's own literals; values are C strings for libpq.
    let direct: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(key, value)| {
            !key.is_empty()
                && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                && !value.contains('\0')
        })
        .collect();
    let rendered = conninfo(&direct);
    let read =
        libpq::conninfo(&rendered).unwrap_or_else(|e| panic!("libpq refuses {rendered:?}: {e}"));
    let read: Vec<(&str, &[u8])> = read
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let expected: Vec<(&str, &[u8])> = direct.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    assert_eq!(read, expected, "libpq reads {rendered:?} differently");

    let mut spec = Spec::default();
    for (key, value) in pairs {
        match key {
            "host" => spec.nodes[0].host = value.to_owned(),
            "port" => spec.nodes[0].port = value.parse().ok(),
            "user" => spec.user = value.to_owned(),
            "passfile" => spec.nodes[1].passfile = Some(value.to_owned()),
            "data_dir" => spec.nodes[1].data_dir = Some(value.to_owned()),
            "application_name" => spec.nodes[1].name = value.to_owned(),
            _ => {}
        }
    }
    if let Some(parsed) = spec.cluster() {
        cluster::check(&parsed, &Secret::new("fuzz passphrase".to_owned()));
    }
});
