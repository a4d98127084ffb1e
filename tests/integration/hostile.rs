//! Hostile input that used to do damage (issue 12), on real hosts where a
//! node is involved: a pg_hba.conf whose mirrorset block lost its END line
//! is refused with the line and left as it is, a CRLF pg_hba.conf keeps its
//! line endings, and a passphrase command that never returns is stopped
//! before any node is contacted.

use std::time::{Duration, Instant};

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;
use crate::test::{Test, flatten};

#[test]
fn a_pg_hba_block_without_its_end_is_refused_and_a_crlf_file_keeps_its_endings() {
    let hosts = TestHosts::up(74, 2);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let hba = hosts.dir.join("node1/etc/pg_hba.conf");
    let converged = std::fs::read_to_string(&hba).unwrap();

    // Without its END the block would run to the end of the file, rules
    // like `local all all peer` included: that is refused, never assumed.
    let begin = converged
        .lines()
        .position(|line| line.starts_with("# BEGIN mirrorset"))
        .unwrap()
        + 1;
    let broken: String = converged
        .lines()
        .filter(|line| *line != "# END mirrorset")
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&hba, &broken).unwrap();
    let refused = mirrorset(&hosts, &["plan", "FILE"], 1);
    let said = flatten(&format!("{}{}", refused.stdout, refused.stderr));
    assert!(
        said.contains(&format!(
            "has \"# BEGIN mirrorset\" on line {begin} but no \"# END mirrorset\" after it"
        )),
        "{said}"
    );
    let apply = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    assert!(!apply.stdout.contains("write "), "{}", apply.stdout);
    assert_eq!(std::fs::read_to_string(&hba).unwrap(), broken);
    assert_eq!(hosts.psql(1, "SELECT 1"), "1", "postgres can still log in");

    // CRLF line endings stay as found; the plan is empty afterwards.
    let crlf = converged.replace('\n', "\r\n");
    std::fs::write(&hba, &crlf).unwrap();
    let plan = mirrorset(&hosts, &["plan", "FILE", "--detailed-exitcode"], 0);
    assert!(
        plan.stdout.contains("No changes"),
        "an identical block in CRLF is no change:\n{}",
        plan.stdout
    );
    // A real change is written in the file's own line endings.
    let without_node2_rewind: String = crlf
        .split_inclusive("\r\n")
        .filter(|line| !line.contains("(pg_rewind)"))
        .collect();
    std::fs::write(&hba, &without_node2_rewind).unwrap();
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    let repaired = std::fs::read_to_string(&hba).unwrap();
    assert_eq!(repaired, crlf, "repaired in CRLF, every other line kept");
    assert_converged(&hosts);
}

#[test]
fn a_passphrase_command_that_never_returns_is_stopped_at_its_timeout_before_any_contact() {
    let dir = std::env::temp_dir().join(format!("mirrorset-hang-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cluster.toml");
    // Hosts in TEST-NET-1: nothing answers there, so a contact would show as a long wait.
    std::fs::write(
        &file,
        "[cluster]\nname = \"hang\"\nprimary = \"db1\"\n\n[replication]\nuser = \"replicator\"\n\
         passphrase = { command = [\"sh\", \"-c\", \"echo waiting for a pinentry >&2; sleep 600\"], timeout = \"1s\" }\n\
         max_slot_wal_keep_size = \"1GB\"\n\n[nodes.db1]\nhost = \"192.0.2.1\"\n\n[nodes.db2]\nhost = \"192.0.2.2\"\n",
    )
    .unwrap();
    let started = Instant::now();
    let refused = Test::new()
        .args(["plan", file.to_str().unwrap()])
        .status(1)
        .run();
    let elapsed = started.elapsed();
    let said = flatten(&refused.stderr);
    assert!(
        said.contains("the passphrase command `sh` did not finish within 1 s and was stopped")
            && said.contains("waiting for a pinentry"),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    // Not a timing assertion on speed: a contact to TEST-NET-1 would take
    // the SSH connect timeout, a hang the command's 600 s.
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
