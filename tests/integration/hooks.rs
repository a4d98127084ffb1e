//! `[hooks]` on real hosts: the application's programs run around a
//! switchover in order (before on the old primary, before on the new one,
//! after on the new one, after on the old one), a failing before-hook
//! leaves the primary as it was with no lock left, and a failing fence
//! refuses a failover's promotion. Detaching a standalone node and taking
//! it back run the hooks too.

use std::path::Path;

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;

/// The cluster file with `[hooks]`: both role-change hooks append
/// "node when old new" to `log`; `before` and `fence` may be replaced.
fn with_hooks(text: &str, log: &Path, before: Option<&str>, fence: &str) -> String {
    let append = |when: &str| {
        format!(
            "[\"sh\", \"-c\", \"echo \\\"$MIRRORSET_NODE {when} $MIRRORSET_OLD_ROLE $MIRRORSET_NEW_ROLE\\\" >> {}\"]",
            log.display()
        )
    };
    let before = before
        .map(str::to_owned)
        .unwrap_or_else(|| append("before"));
    format!(
        "{text}\n[hooks]\nbefore_role_change = {before}\nafter_role_change  = {}\nfence              = {fence}\n",
        append("after")
    )
}

fn set_primary(hosts: &TestHosts, node: &str) {
    mirrorset(hosts, &["promote", node, "FILE", "--no-plan"], 0);
}

fn in_recovery(hosts: &TestHosts, host: u8) -> String {
    hosts.psql(host, "SELECT pg_is_in_recovery()")
}

/// An empty file the hooks, run as postgres, append to.
fn empty_log(hosts: &TestHosts) -> std::path::PathBuf {
    let log = hosts.dir.join("hooks.log");
    std::fs::write(&log, "").unwrap();
    let status = std::process::Command::new("chown")
        .args(["postgres:postgres"])
        .arg(&log)
        .status()
        .unwrap();
    assert!(status.success());
    log
}

#[test]
fn hooks_run_around_a_switchover_and_a_failing_one_stops_it_in_time() {
    let hosts = TestHosts::up(77, 3);
    let log = empty_log(&hosts);
    let base = hosts.cluster_toml();
    std::fs::write(
        hosts.cluster_file(),
        with_hooks(&base, &log, None, "[\"true\"]"),
    )
    .unwrap();
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "",
        "no role changed"
    );

    set_primary(&hosts, "node2");
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        plan.stdout
            .contains("hook before_role_change (primary -> mirror): sh -c"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "node1 before primary mirror\nnode2 before mirror primary\nnode2 after mirror primary\nnode1 after primary mirror\n"
    );
    assert_converged(&hosts);

    // A before-hook that fails: node2 stays the writable primary, unlocked.
    let failing = with_hooks(
        &base,
        &log,
        Some("[\"sh\", \"-c\", \"echo app will not stop >&2; exit 3\"]"),
        "[\"true\"]",
    )
    .replace("primary = \"node1\"", "primary = \"node2\"");
    std::fs::write(hosts.cluster_file(), &failing).unwrap();
    assert_converged(&hosts);
    set_primary(&hosts, "node3");
    let refused = mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 1);
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        said.contains("hook before_role_change failed") && said.contains("app will not stop"),
        "{said}"
    );
    assert_eq!(in_recovery(&hosts, 2), "f");
    assert_eq!(in_recovery(&hosts, 3), "t");
    for node in 1..=3 {
        assert!(
            !hosts
                .dir
                .join(format!("node{node}/mirrorset.lock"))
                .exists()
        );
    }

    // A failover whose fence fails: node3 is not promoted.
    let unfenced = with_hooks(
        &base,
        &log,
        None,
        "[\"sh\", \"-c\", \"echo no route to the PDU >&2; exit 1\"]",
    )
    .replace("primary = \"node1\"", "primary = \"node3\"");
    std::fs::write(hosts.cluster_file(), &unfenced).unwrap();
    // Unreachable, perhaps still running: the case fencing exists for.
    hosts.ctl("stop-sshd", 2);
    let refused = mirrorset(
        &hosts,
        &["apply", "FILE", "--auto-approve", "--allow-failover"],
        1,
    );
    let said = format!("{}{}", refused.stdout, refused.stderr);
    assert!(
        said.contains("fencing node2 failed") && said.contains("no route to the PDU"),
        "{said}"
    );
    assert_eq!(in_recovery(&hosts, 3), "t");
    // node2 reachable again, named primary again: nothing else changed.
    hosts.ctl("start-sshd", 2);
    set_primary(&hosts, "node2");
    assert_converged(&hosts);
}

/// Detaching a mirror as a standalone server, and taking it back, are role
/// changes too: the hooks run around each, on that node only.
#[test]
fn hooks_run_around_a_standalone_detachment_and_return() {
    let hosts = TestHosts::up(82, 2);
    let log = empty_log(&hosts);
    let member = with_hooks(&hosts.cluster_toml(), &log, None, "[\"true\"]");
    std::fs::write(hosts.cluster_file(), &member).unwrap();
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);

    let standalone = member.replacen(
        "[nodes.node2]\n",
        "[nodes.node2]\nstate = \"standalone\"\n",
        1,
    );
    assert_ne!(standalone, member);
    std::fs::write(hosts.cluster_file(), &standalone).unwrap();
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        plan.stdout
            .contains("hook before_role_change (mirror -> standalone): sh -c"),
        "{}",
        plan.stdout
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(in_recovery(&hosts, 2), "f");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "node2 before mirror standalone\nnode2 after mirror standalone\n"
    );
    assert_converged(&hosts);

    std::fs::write(hosts.cluster_file(), &member).unwrap();
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0).stdout;
    let at = |text: &str| {
        plan.find(text)
            .unwrap_or_else(|| panic!("no {text:?} in:\n{plan}"))
    };
    assert!(
        at("hook before_role_change (standalone -> mirror)") < at("> stop (fast shutdown)")
            && at("> stop (fast shutdown)") < at("hook after_role_change (standalone -> mirror)"),
        "{plan}"
    );
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_eq!(in_recovery(&hosts, 2), "t");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "node2 before mirror standalone\nnode2 after mirror standalone\nnode2 before standalone mirror\nnode2 after standalone mirror\n"
    );
    assert_converged(&hosts);
}
