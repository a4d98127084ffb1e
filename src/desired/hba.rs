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
    /// The END marker's line; None when the block is not closed.
    pub end: Option<usize>,
}

/// One replication and one pg_rewind (database postgres) line per other member.
pub fn hba_block_lines(cluster: &Cluster, others: &[&Node]) -> Vec<String> {
    let kind = match cluster.replication.transport {
        ReplicationTransport::Plain => "host",
        ReplicationTransport::Tls => "hostssl",
    };
    let user = &cluster.replication.user;
    // One pair of lines per address: nodes sharing a machine share its lines.
    let mut addresses: Vec<(String, Vec<&str>)> = Vec::new();
    for node in others {
        let address = match node.host.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => format!("{ip}/32"),
            Ok(IpAddr::V6(ip)) => format!("{ip}/128"),
            Err(_) => node.host.clone(),
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

pub fn locate_block(hba: &str) -> Option<HbaBlock> {
    let lines: Vec<&str> = hba.lines().collect();
    let begin = lines
        .iter()
        .position(|line| line.trim_start().starts_with(BEGIN))?;
    let end = lines[begin..]
        .iter()
        .position(|line| line.trim_start().starts_with(END))
        .map(|offset| begin + offset);
    Some(HbaBlock { begin, end })
}

/// The lines inside the block, when there is one.
pub fn block_contents(hba: &str) -> Option<Vec<String>> {
    let block = locate_block(hba)?;
    let lines: Vec<&str> = hba.lines().collect();
    let end = block.end.unwrap_or(lines.len());
    Some(
        lines[block.begin + 1..end]
            .iter()
            .map(|l| l.to_string())
            .collect(),
    )
}

/// The file with the block holding `lines`: replaced where it is, or on
/// creation placed before the first rule so it is not shadowed by a broader one.
pub fn with_block(hba: &str, lines: &[String]) -> String {
    let mut block = vec![BEGIN_COMMENT.to_owned()];
    block.extend(lines.iter().cloned());
    block.push(END.to_owned());
    let mut file: Vec<String> = hba.lines().map(str::to_owned).collect();
    match locate_block(hba) {
        Some(HbaBlock { begin, end }) => {
            let end = end.unwrap_or(file.len().saturating_sub(1));
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
    let mut out = file.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HBA: &str =
        "# comment\n\n# admin\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n";

    #[test]
    fn block_goes_before_the_first_rule_then_stays() {
        let lines = vec!["host replication r 10.0.0.2/32 scram-sha-256".to_owned()];
        let first = with_block(HBA, &lines);
        assert_eq!(
            first,
            format!(
                "# comment\n\n{BEGIN_COMMENT}\nhost replication r 10.0.0.2/32 scram-sha-256\n{END}\n\n# admin\nlocal all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
            )
        );
        assert_eq!(with_block(&first, &lines), first, "idempotent");
        // Moved by hand to the end: kept there, contents replaced.
        let moved = "local all postgres peer\n# BEGIN mirrorset\nold line\n# END mirrorset\n";
        assert_eq!(
            with_block(moved, &[]),
            format!("local all postgres peer\n{BEGIN_COMMENT}\n{END}\n")
        );
        assert_eq!(block_contents(moved), Some(vec!["old line".to_owned()]));
    }
}
