//! `mirrorset demo` as a newcomer runs it: three local servers converged,
//! an empty plan after it, the switchover it suggests, and `--down`
//! removing everything.

use crate::test::Test;

#[test]
fn demo_builds_a_streaming_cluster_and_takes_it_down() {
    let dir = "/tmp/mirrorset-e2e/demo";
    // A demo a failed run left behind is taken down first, whatever it says.
    let _ = std::process::Command::new(env!("CARGO_BIN_EXE_mirrorset"))
        .args(["demo", "--dir", dir, "--down"])
        .output();
    let _ = std::fs::remove_dir_all(dir);
    let output = Test::new().args(["demo", "--dir", dir]).run();
    assert!(
        output
            .stdout
            .contains("Apply complete: 20 added, 6 changed, 0 removed; 1 restart."),
        "{}",
        output.stdout
    );
    let streaming = output
        .stdout
        .lines()
        .filter(|l| l.contains("standby  node1"))
        .count();
    assert_eq!(streaming, 2, "{}", output.stdout);
    assert!(
        output
            .stdout
            .contains(&format!("mirrorset demo --dir {dir} --down"))
    );

    let file = format!("{dir}/cluster.toml");
    Test::new()
        .args(["plan", &file, "--detailed-exitcode"])
        .run();
    // Running the demo again converges to the same cluster: nothing to apply.
    let again = Test::new().args(["demo", "--dir", dir]).run();
    assert!(
        again
            .stdout
            .contains("No changes: the cluster matches the file."),
        "{}",
        again.stdout
    );

    // The switchover the demo suggests, on local access (runuser, no SSH).
    assert!(
        output
            .stdout
            .contains(&format!("mirrorset promote node2 {file}"))
    );
    Test::new()
        .args(["promote", "node2", &file, "--no-plan"])
        .run();
    let switched = Test::new().args(["apply", &file, "--auto-approve"]).run();
    assert!(
        switched.stdout.contains("Switchover node1 -> node2"),
        "{}",
        switched.stdout
    );
    let status = Test::new().args(["status", &file]).run();
    assert_eq!(
        status
            .stdout
            .lines()
            .filter(|l| l.contains("standby  node2"))
            .count(),
        2,
        "{}",
        status.stdout
    );
    Test::new()
        .args(["plan", &file, "--detailed-exitcode"])
        .run();

    let down = Test::new().args(["demo", "--dir", dir, "--down"]).run();
    assert!(
        down.stdout.contains("stopped node1") && down.stdout.contains(&format!("removed {dir}")),
        "{}",
        down.stdout
    );
    assert!(!std::path::Path::new(dir).exists());
}
