//! Shared by the fuzz targets: models of the parsers that read what
//! mirrorset writes (PostgreSQL's config lexer and pg_hba tokenizer,
//! libpq's conninfo and passfile readers, glibc's numeric addresses), a
//! builder of cluster files from fuzzed pieces, and the property checks of
//! everything `desired` renders. In: bytes and mirrorset values. Out:
//! parsed values, or a panic naming the broken property. Pure, except that
//! `cluster::passphrase` sets one environment variable of the fuzzing process.

pub mod cluster;
pub mod libpq;
pub mod postgres;

/// The fuzz input cut at 0xFF bytes (never part of UTF-8, so any text can
/// sit in a field); fields that are not UTF-8 come out as None.
pub fn fields(data: &[u8]) -> Vec<Option<&str>> {
    data.split(|byte| *byte == 0xFF)
        .map(|field| std::str::from_utf8(field).ok())
        .collect()
}
