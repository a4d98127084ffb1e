//! The managed block of pg_hba.conf: what it holds, where it is, and the
//! file with it in place. Lines outside the markers are never touched. Pure.

use std::net::IpAddr;

use crate::model::{Cluster, Node, ReplicationTransport};

pub const BEGIN: &str = "# BEGIN mirrorset";
pub const END: &str = "# END mirrorset";
const BEGIN_COMMENT: &str =
    "# BEGIN mirrorset: replication and pg_rewind access between members; managed, do not edit";

/// Where the managed block sits in a pg_hba.conf, by line index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HbaBlock {
    pub begin: usize,
    /// The END marker's line.
    pub end: usize,
}

/// A block mirrorset cannot tell the end of: it never guesses, because a
/// guess that runs to the end of the file would delete foreign rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BrokenBlock {
    #[error("has \"{BEGIN}\" on line {begin} but no \"{END}\" after it")]
    NoEnd { begin: usize },
    #[error("has \"{BEGIN}\" twice, on lines {first} and {second}")]
    TwoBegins { first: usize, second: usize },
    #[error("has \"{END}\" on line {end} with no \"{BEGIN}\" before it")]
    EndWithoutBegin { end: usize },
}

/// One replication and one pg_rewind (database postgres) line per other member.
pub fn hba_block_lines(cluster: &Cluster, others: &[&Node]) -> Vec<String> {
    let kind = match cluster.replication.transport {
        ReplicationTransport::Plain => "host",
        ReplicationTransport::Tls => "hostssl",
    };
    let user = field(cluster.replication.user.as_str());
    // One pair of lines per address: nodes sharing a machine share its lines.
    let mut addresses: Vec<(String, Vec<&str>)> = Vec::new();
    for node in others {
        let address = match node.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => format!("{ip}/32"),
            Ok(IpAddr::V6(ip)) => format!("{ip}/128"),
            Err(_) => field(&node.host),
        };
        match addresses.iter_mut().find(|(known, _)| *known == address) {
            Some((_, names)) => names.push(node.name.as_str()),
            None => addresses.push((address, vec![node.name.as_str()])),
        }
    }
    let mut lines = Vec::new();
    for (address, names) in addresses {
        let names = names.join(", ");
        lines.push(format!(
            "{kind:<7} replication {user} {address} scram-sha-256   # {names}"
        ));
        lines.push(format!(
            "{kind:<7} postgres    {user} {address} scram-sha-256   # {names} (pg_rewind)"
        ));
    }
    if cluster.replication.transport == ReplicationTransport::Tls && !lines.is_empty() {
        // Unencrypted attempts by the replication role end here, whatever
        // broader rule follows the block.
        lines.push(format!(
            "hostnossl replication {user} all reject            # TLS only"
        ));
        lines.push(format!(
            "hostnossl postgres    {user} all reject            # TLS only"
        ));
    }
    lines
}

/// A role or host name as a pg_hba.conf field that means exactly that
/// name: double-quoted where pg_hba would read a keyword (a role `all`
/// would allow every role, a host `samenet` every address of the server's
/// subnets), a +group or an @file.
fn field(name: &str) -> String {
    const KEYWORDS: [&str; 7] = [
        "all",
        "sameuser",
        "samerole",
        "samegroup",
        "replication",
        "samehost",
        "samenet",
    ];
    if KEYWORDS.contains(&name) || name.starts_with(['+', '@']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_owned()
    }
}

/// The managed block: Ok(None) when there is none; Err (with 1-based line
/// numbers) when its markers do not make exactly one closed block.
pub fn locate_block(hba: &str) -> Result<Option<HbaBlock>, BrokenBlock> {
    let marked = |marker: &str| -> Vec<usize> {
        hba.lines()
            .enumerate()
            .filter(|(_, line)| line.trim_start().starts_with(marker))
            .map(|(index, _)| index)
            .collect()
    };
    let (begins, ends) = (marked(BEGIN), marked(END));
    match (begins.as_slice(), ends.as_slice()) {
        ([], []) => Ok(None),
        ([first, second, ..], _) => Err(BrokenBlock::TwoBegins {
            first: first + 1,
            second: second + 1,
        }),
        ([], [end, ..]) => Err(BrokenBlock::EndWithoutBegin { end: end + 1 }),
        ([begin], ends) => match ends.iter().find(|end| *end > begin) {
            Some(end) if ends.len() == 1 => Ok(Some(HbaBlock {
                begin: *begin,
                end: *end,
            })),
            Some(_) | None => match ends.iter().find(|end| *end < begin) {
                Some(end) => Err(BrokenBlock::EndWithoutBegin { end: end + 1 }),
                None if ends.len() > 1 => Err(BrokenBlock::EndWithoutBegin { end: ends[1] + 1 }),
                None => Err(BrokenBlock::NoEnd { begin: begin + 1 }),
            },
        },
    }
}

/// The lines inside the block, when there is one and it is whole.
pub fn block_contents(hba: &str) -> Option<Vec<String>> {
    let block = locate_block(hba).ok()??;
    let lines: Vec<&str> = hba.lines().collect();
    Some(
        lines[block.begin + 1..block.end]
            .iter()
            .map(|l| l.to_string())
            .collect(),
    )
}

/// The file with the block holding `lines`: replaced where it is, or on
/// creation placed before the first rule so it is not shadowed by a
/// broader one. Line endings stay as found. Err when the markers are broken.
pub fn with_block(hba: &str, lines: &[String]) -> Result<String, BrokenBlock> {
    let mut block = vec![BEGIN_COMMENT.to_owned()];
    block.extend(lines.iter().cloned());
    block.push(END.to_owned());
    let mut file: Vec<String> = hba.lines().map(str::to_owned).collect();
    // Bare CRs that end the file end its last line: kept as content, they
    // would turn into a CRLF once written, and the next write would then
    // change every line ending of the file.
    if !hba.ends_with('\n') {
        if let Some(last) = file.last_mut() {
            last.truncate(last.trim_end_matches('\r').len());
        }
    }
    match locate_block(hba)? {
        Some(HbaBlock { begin, end }) => {
            file.splice(begin..=end, block);
        }
        None => {
            let first_rule = file
                .iter()
                .position(|line| {
                    let line = line.trim();
                    !line.is_empty() && !line.starts_with('#')
                })
                .unwrap_or(file.len());
            // Keep the comment that introduces the first rule with that rule.
            let mut at = first_rule;
            while at > 0 && file[at - 1].trim_start().starts_with('#') {
                at -= 1;
            }
            block.push(String::new());
            file.splice(at..at, block);
        }
    }
    let newline = if hba.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out = file.join(newline);
    out.push_str(newline);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HBA: &str =
        "# comment\n\n# admin\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n";

    #[test]
    fn block_goes_before_the_first_rule_then_stays() {
        let lines = vec!["host replication r 10.0.0.2/32 scram-sha-256".to_owned()];
        let first = with_block(HBA, &lines).unwrap();
        assert_eq!(
            first,
            format!(
                "# comment\n\n{BEGIN_COMMENT}\nhost replication r 10.0.0.2/32 scram-sha-256\n{END}\n\n# admin\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
            )
        );
        assert_eq!(with_block(&first, &lines).unwrap(), first, "idempotent");
        // Moved by hand to the end: kept there, contents replaced.
        let moved = "local all postgres peer\n# BEGIN mirrorset\nold line\n# END mirrorset\n";
        assert_eq!(
            with_block(moved, &[]).unwrap(),
            format!("local all postgres peer\n{BEGIN_COMMENT}\n{END}\n")
        );
        assert_eq!(block_contents(moved), Some(vec!["old line".to_owned()]));
    }

    #[test]
    fn a_block_it_cannot_delimit_is_refused_never_run_to_the_end_of_the_file() {
        let lines = vec!["host replication r 10.0.0.2/32 scram-sha-256".to_owned()];
        let open = "# BEGIN mirrorset\nlocal all all peer\nhost all all 0.0.0.0/0 scram-sha-256\n";
        assert_eq!(
            with_block(open, &lines),
            Err(BrokenBlock::NoEnd { begin: 1 })
        );
        let twice = "# BEGIN mirrorset\n# END mirrorset\nlocal all all peer\n# BEGIN mirrorset\n# END mirrorset\n";
        assert_eq!(
            locate_block(twice),
            Err(BrokenBlock::TwoBegins {
                first: 1,
                second: 4
            })
        );
        let backwards = "# END mirrorset\nlocal all all peer\n# BEGIN mirrorset\n";
        assert_eq!(
            locate_block(backwards),
            Err(BrokenBlock::EndWithoutBegin { end: 1 })
        );
        assert_eq!(
            BrokenBlock::NoEnd { begin: 1 }.to_string(),
            "has \"# BEGIN mirrorset\" on line 1 but no \"# END mirrorset\" after it"
        );
    }

    #[test]
    fn a_role_or_host_named_like_a_keyword_is_quoted() {
        // Found by fuzz/fuzz_targets/render_hba.rs (with its dictionary of
        // pg_hba words): a replication role named all allowed every role,
        // and a host named samenet or all allowed whole networks.
        let text = "[cluster]\nname = \"t\"\nprimary = \"db1\"\n[replication]\nuser = \"all\"\n\
                    passphrase = { env = \"T\" }\nmax_slot_wal_keep_size = \"1GB\"\n\
                    [nodes.db1]\nhost = \"10.0.0.1\"\n[nodes.db2]\nhost = \"samenet\"\n\
                    [nodes.db3]\nhost = \"db3.example.net\"\n";
        let cluster = crate::config::parse(std::path::Path::new("c.toml"), text.into()).unwrap();
        let db1 = cluster.nodes[0].clone();
        let others: Vec<&Node> = cluster.nodes[1..].iter().collect();
        assert_eq!(
            hba_block_lines(&cluster, &others)[..3],
            [
                "host    replication \"all\" \"samenet\" scram-sha-256   # db2",
                "host    postgres    \"all\" \"samenet\" scram-sha-256   # db2 (pg_rewind)",
                "host    replication \"all\" db3.example.net scram-sha-256   # db3",
            ]
        );
        assert_eq!(
            hba_block_lines(&cluster, &[&db1])[0],
            "host    replication \"all\" 10.0.0.1/32 scram-sha-256   # db1"
        );
        assert_eq!(field("replicator"), "replicator");
        assert_eq!(field("+admins"), "\"+admins\"");
    }

    #[test]
    fn a_bare_cr_at_the_end_of_the_file_does_not_make_writing_twice_differ() {
        // Found by fuzz/fuzz_targets/hba_parser.rs: the first write kept the
        // CR and added "\n", and the second write, seeing a CRLF, turned
        // every line ending into CRLF.
        let lines = vec!["host replication r 10.0.0.2/32 scram-sha-256".to_owned()];
        for hba in [
            "local all all peer\r",
            "local all all peer\r\r",
            "a\r\nlocal all all peer\r",
        ] {
            let once = with_block(hba, &lines).unwrap();
            assert_eq!(with_block(&once, &lines).unwrap(), once, "{hba:?}");
            assert!(
                once.ends_with("local all all peer\n") || once.ends_with("local all all peer\r\n")
            );
        }
    }

    #[test]
    fn line_endings_stay_as_found() {
        let crlf = "local all postgres peer\r\nhost all all 127.0.0.1/32 scram-sha-256\r\n";
        let written = with_block(
            crlf,
            &["host replication r 10.0.0.2/32 scram-sha-256".into()],
        )
        .unwrap();
        assert!(written.lines().count() > 3);
        assert_eq!(
            written.matches("\r\n").count(),
            written.matches('\n').count()
        );
    }
}
