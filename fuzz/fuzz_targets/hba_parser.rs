//! Fuzz target: any pg_hba.conf text and block lines (fields cut at 0xFF),
//! through locating, reading and replacing mirrorset's managed block. A
//! whole block is found again with exactly the lines written, writing is
//! idempotent, and no line outside the block changes. In: bytes. Out: a
//! panic on a broken property. Pure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorset::desired::{block_contents, locate_block, with_block};
use mirrorset_fuzz::fields;

/// The markers of the managed block, as pg_hba.conf holds them.
const BEGIN: &str = "# BEGIN mirrorset";
const END: &str = "# END mirrorset";

/// The file's lines without the block's lines (and the blank line a new
/// block brings); a CR before the line end is not the line's content.
fn outside(text: &str, skip: std::ops::RangeInclusive<usize>) -> Vec<&str> {
    text.lines()
        .enumerate()
        .filter(|(index, _)| !skip.contains(index))
        .map(|(_, line)| line.trim_end_matches('\r'))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let fields = fields(data);
    let Some(Some(hba)) = fields.first().copied() else {
        return;
    };
    let lines: Vec<String> = fields[1..]
        .iter()
        .flatten()
        .map(|s| s.to_string())
        .collect();
    let located = locate_block(hba);
    if let Ok(Some(block)) = located {
        let all: Vec<&str> = hba.lines().collect();
        assert!(
            block.begin < block.end && block.end < all.len(),
            "{block:?}"
        );
        assert!(all[block.begin].trim_start().starts_with(BEGIN));
        assert!(all[block.end].trim_start().starts_with(END));
    }
    let written = with_block(hba, &lines);
    assert_eq!(
        written.is_err(),
        located.is_err(),
        "with_block and locate_block disagree"
    );
    let Ok(written) = written else {
        return;
    };
    let plain = lines.iter().all(|line| {
        !line.contains(['\n', '\r'])
            && !line.trim_start().starts_with(BEGIN)
            && !line.trim_start().starts_with(END)
    });
    if !plain {
        return;
    }
    let block = locate_block(&written)
        .expect("a block mirrorset wrote is whole")
        .expect("a block mirrorset wrote is found");
    assert_eq!(block_contents(&written).as_deref(), Some(lines.as_slice()));
    assert_eq!(
        with_block(&written, &lines).as_deref(),
        Ok(written.as_str()),
        "not idempotent"
    );
    let kept = match located {
        Ok(Some(old)) => {
            assert_eq!(
                outside(hba, old.begin..=old.end),
                outside(&written, block.begin..=block.end),
                "a line outside the block changed"
            );
            return;
        }
        _ => outside(&written, block.begin..=block.end + 1),
    };
    // A new block: before the first rule, followed by one blank line.
    assert_eq!(written.lines().nth(block.end + 1), Some(""));
    assert_eq!(
        outside(hba, 1..=0),
        kept,
        "a line outside the block changed"
    );
    assert!(
        written.lines().take(block.begin).all(|line| {
            let line = line.trim();
            line.is_empty() || line.starts_with('#')
        }),
        "the new block is not before the first rule"
    );
});
