//! What mirrorset made and the cluster file stops naming, on real hosts: a
//! renamed slot, a renamed replication role (one owning an object), a moved
//! passfile and a node deleted from the file are each removed by the next
//! apply, which ends with an empty plan. Foreign data is left alone.

use std::os::unix::fs::PermissionsExt;

use crate::apply::{assert_converged, mirrorset, wait_replayed};
use crate::hosts::TestHosts;

fn edit(hosts: &TestHosts, from: &str, to: &str) {
    let text = std::fs::read_to_string(hosts.cluster_file()).unwrap();
    assert!(text.contains(from), "{from:?} not in\n{text}");
    std::fs::write(hosts.cluster_file(), text.replace(from, to)).unwrap();
}

fn record(hosts: &TestHosts, node: u8) -> serde_json::Value {
    let path = hosts.dir.join(format!("node{node}/mirrorset-owned.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn apply(hosts: &TestHosts) -> String {
    let output = mirrorset(hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(hosts);
    output.stdout
}

#[test]
fn what_the_file_stops_naming_is_removed_and_what_it_never_named_is_kept() {
    let hosts = TestHosts::up(62, 3);
    apply(&hosts);
    let primary = record(&hosts, 1);
    assert_eq!(
        primary["slots"],
        serde_json::json!({"node2": "node2", "node3": "node3"})
    );
    assert_eq!(primary["roles"], serde_json::json!(["replicator"]));
    let mode = std::fs::metadata(hosts.dir.join("node1/mirrorset-owned.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A slot mirrorset never made is reported, never dropped.
    hosts.psql(
        1,
        "SELECT pg_create_physical_replication_slot('operators_own')",
    );

    // A renamed slot: the new one is made, the mirror moves, the old one goes.
    edit(
        &hosts,
        "[nodes.node2]\n",
        "[nodes.node2]\nslot     = \"node2_v2\"\n",
    );
    let output = apply(&hosts);
    assert!(
        output.contains("now replicates through slot node2_v2"),
        "{output}"
    );
    let slots = "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots";
    assert_eq!(hosts.psql(1, slots), "node2_v2,node3,operators_own");
    wait_replayed(
        &hosts,
        1,
        "SELECT string_agg(slot_name, ',' ORDER BY slot_name) FROM pg_replication_slots WHERE active",
        "node2_v2,node3",
    );

    // A renamed role that owns an object keeps it, without login or password.
    hosts.psql(
        1,
        "CREATE TABLE kept_by_old_role (id int); ALTER TABLE kept_by_old_role OWNER TO replicator",
    );
    edit(
        &hosts,
        "user                   = \"replicator\"",
        "user                   = \"streamer\"",
    );
    let output = apply(&hosts);
    assert!(output.contains("kept as NOLOGIN"), "{output}");
    assert_eq!(
        hosts.psql(
            1,
            "SELECT rolcanlogin::text || ',' || (rolpassword IS NULL)::text FROM pg_authid WHERE rolname = 'replicator'"
        ),
        "false,true"
    );
    wait_replayed(
        &hosts,
        1,
        "SELECT string_agg(DISTINCT usename::text, ',') FROM pg_stat_replication",
        "streamer",
    );
    // Once nothing depends on it, a later rename drops it outright.
    hosts.psql(1, "DROP TABLE kept_by_old_role");
    edit(
        &hosts,
        "user                   = \"streamer\"",
        "user                   = \"replicator2\"",
    );
    apply(&hosts);
    assert_eq!(
        hosts.psql(
            1,
            "SELECT string_agg(rolname::text, ',' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('replicator', 'streamer', 'replicator2')"
        ),
        "replicator,replicator2",
        "streamer is dropped; replicator stays, no longer recorded"
    );

    // A moved passfile: the old file is removed on every node.
    for node in 1..=3 {
        edit(
            &hosts,
            &format!("node{node}/mirrorset.pgpass\""),
            &format!("node{node}/secrets/replication.pgpass\""),
        );
    }
    let output = apply(&hosts);
    assert!(output.contains("mirrorset.pgpass (passfile)"), "{output}");
    for node in 1..=3 {
        assert!(
            !hosts
                .dir
                .join(format!("node{node}/mirrorset.pgpass"))
                .exists()
        );
        let moved = hosts
            .dir
            .join(format!("node{node}/secrets/replication.pgpass"));
        let mode = std::fs::metadata(&moved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", moved.display());
    }

    // A node deleted from the file is treated as absent: its slot goes,
    // and with it its walsender; its server and data stay as they are.
    let text = std::fs::read_to_string(hosts.cluster_file()).unwrap();
    let start = text.find("\n[nodes.node3]").unwrap();
    std::fs::write(hosts.cluster_file(), &text[..start + 1]).unwrap();
    let output = apply(&hosts);
    assert!(
        output.contains("node3 is no longer in the cluster file"),
        "{output}"
    );
    assert_eq!(hosts.psql(1, slots), "node2_v2,operators_own");
    wait_replayed(
        &hosts,
        1,
        "SELECT string_agg(application_name, ',') FROM pg_stat_replication",
        "node2",
    );
    assert!(hosts.dir.join("node3/data/PG_VERSION").exists());
    assert_eq!(hosts.psql(3, "SELECT pg_is_in_recovery()"), "t");
    let plan = mirrorset(&hosts, &["plan", "FILE"], 0);
    assert!(
        plan.stdout
            .contains("slot operators_own is not named in the cluster file"),
        "{}",
        plan.stdout
    );
}
