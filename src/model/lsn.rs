//! WAL positions as PostgreSQL prints them ("16/B374D848"), and the first
//! position a WAL segment file holds. Pure.

use std::fmt;

/// A position in the write-ahead log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    /// "16/B374D848" -> Lsn; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let (high, low) = text.trim().split_once('/')?;
        let high = u64::from_str_radix(high, 16).ok()?;
        let low = u64::from_str_radix(low, 16).ok()?;
        (high <= u32::MAX as u64 && low <= u32::MAX as u64).then_some(Self(high << 32 | low))
    }

    /// The first position in a segment file named like
    /// "000000020000000100000042" (timeline, then the segment number split in two).
    pub fn of_segment(name: &str, segment_bytes: u64) -> Option<Self> {
        if name.len() != 24 || segment_bytes == 0 {
            return None;
        }
        let log = u64::from_str_radix(name.get(8..16)?, 16).ok()?;
        let seg = u64::from_str_radix(name.get(16..24)?, 16).ok()?;
        let per_log = 0x1_0000_0000 / segment_bytes;
        // A name past the end of the WAL's 64-bit range is no position.
        log.checked_mul(per_log)?
            .checked_add(seg)?
            .checked_mul(segment_bytes)
            .map(Self)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[cfg(test)]
mod tests {
    use super::Lsn;

    #[test]
    fn parses_and_prints_positions() {
        let lsn = Lsn::parse("16/B374D848").unwrap();
        assert_eq!(lsn.0, 0x16_B374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!(Lsn::parse("0/3000148").unwrap().to_string(), "0/3000148");
        assert!(Lsn::parse("").is_none());
        assert!(Lsn::parse("zz/1").is_none());
        assert!(Lsn::parse("0/3000148") < Lsn::parse("1/0"));
    }

    #[test]
    fn finds_where_a_segment_starts() {
        let mb16 = 16 * 1024 * 1024;
        assert_eq!(
            Lsn::of_segment("000000010000000000000003", mb16),
            Lsn::parse("0/3000000")
        );
        assert_eq!(
            Lsn::of_segment("0000000200000001000000FF", mb16),
            Lsn::parse("1/FF000000")
        );
        assert_eq!(Lsn::of_segment("00000001.history", mb16), None);
    }

    #[test]
    fn a_name_past_the_wal_range_is_no_position() {
        // Found by fuzz/fuzz_targets/controldata_parser.rs: the multiplication
        // overflowed (a panic in a debug build, a wrong position in release).
        let mb16 = 16 * 1024 * 1024;
        assert_eq!(Lsn::of_segment("FFFFFFFFFFFFFFFFFFFFFFFF", mb16), None);
        assert_eq!(Lsn::of_segment("000000010000000100000002", u64::MAX), None);
        // 24 bytes, but not 24 characters: no panic on a char boundary.
        assert_eq!(Lsn::of_segment("日本日本日本日本", mb16), None);
        assert_eq!(
            Lsn::of_segment("00000001FFFFFFFF000000FF", mb16),
            Lsn::parse("FFFFFFFF/FF000000")
        );
    }
}
