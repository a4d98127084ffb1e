//! `mirrorset history` on real hosts: every member's audit log merged in
//! time order, narrowed with --node, and as JSON.

use crate::apply::mirrorset;
use crate::hosts::TestHosts;

fn steps(apply_stdout: &str) -> usize {
    apply_stdout
        .lines()
        .filter(|line| line.starts_with('[') && line.contains(": done in "))
        .count()
}

#[test]
fn history_merges_every_nodes_audit_log_in_time_order() {
    let hosts = TestHosts::up(75, 2);
    let empty = mirrorset(&hosts, &["history", "FILE"], 0);
    assert_eq!(empty.stdout, "No apply has run on these nodes yet.\n");

    let first = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let text = std::fs::read_to_string(hosts.cluster_file()).unwrap();
    std::fs::write(
        hosts.cluster_file(),
        text.replacen(
            "[nodes.node1]",
            "[settings]\nwork_mem = \"8MB\"\n\n[nodes.node1]",
            1,
        ),
    )
    .unwrap();
    let second = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let total = steps(&first.stdout) + steps(&second.stdout);

    let history = mirrorset(&hosts, &["history", "FILE", "--json"], 0);
    let document: serde_json::Value = serde_json::from_str(&history.stdout).unwrap();
    let records = document["records"].as_array().unwrap();
    assert_eq!(records.len(), total, "{}", history.stdout);
    let keys: Vec<(String, String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["time"].as_str().unwrap().to_owned(),
                r["plan"].as_str().unwrap().to_owned(),
                r["step"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "in time order");
    let nodes: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["node1", "node2"].into());
    assert!(records.iter().all(|r| r["result"] == "ok"));
    assert!(
        records
            .iter()
            .any(|r| r["reason"].as_str().unwrap().contains("work_mem"))
    );

    let node2 = mirrorset(&hosts, &["history", "FILE", "--node", "node2"], 0);
    let rows: Vec<&str> = node2.stdout.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|row| row.split_whitespace().nth(1) == Some("node2")),
        "{}",
        node2.stdout
    );
    assert!(node2.stdout.starts_with("TIME"), "{}", node2.stdout);

    let unknown = mirrorset(&hosts, &["history", "FILE", "--node", "node9"], 1);
    assert!(
        unknown
            .stderr
            .contains("--node node9: the cluster file has no such node"),
        "{}",
        unknown.stderr
    );
}
