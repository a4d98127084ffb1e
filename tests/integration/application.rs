//! Issue 13's whole cycle on real hosts: a primary and two mirrors with
//! role files, a synced 0600 key and a glob of three packages, and hooks
//! that log `node when old new`; bootstrapped, switched over to node2, a
//! package removed on the new primary, each time ending with an empty plan.

use std::os::unix::fs::PermissionsExt;

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;

fn text(hosts: &TestHosts, node: u8, rest: &str) -> String {
    std::fs::read_to_string(hosts.dir.join(format!("node{node}/{rest}"))).unwrap_or_default()
}

fn listing(hosts: &TestHosts, node: u8) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(hosts.dir.join(format!("node{node}/app/packages")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".zip"))
            .collect();
    names.sort();
    names
}

#[test]
fn the_application_follows_a_bootstrap_and_a_switchover() {
    let hosts = TestHosts::up(79, 3);
    let dir = hosts.dir.display().to_string();
    let log = hosts.dir.join("hooks.log");
    std::fs::write(&log, "").unwrap();
    for node in 1..=3u8 {
        let app = hosts.dir.join(format!("node{node}/app"));
        std::fs::create_dir_all(app.join("packages")).unwrap();
        std::fs::write(
            app.join("configurations.properties"),
            "readonly.mode=true\nport=8443\n",
        )
        .unwrap();
    }
    let app1 = hosts.dir.join("node1/app");
    std::fs::write(app1.join("app_key.key"), "KEY-4b1d-content").unwrap();
    std::fs::set_permissions(
        app1.join("app_key.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(app1.join(format!("packages/{name}.zip")), name).unwrap();
    }
    let chown = std::process::Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(&log)
        .args((1..=3).map(|n| hosts.dir.join(format!("node{n}/app"))))
        .status()
        .unwrap();
    assert!(chown.success());
    let append = |when: &str| {
        format!(
            "[\"sh\", \"-c\", \"echo \\\"$MIRRORSET_NODE {when} $MIRRORSET_OLD_ROLE $MIRRORSET_NEW_ROLE\\\" >> {}\"]",
            log.display()
        )
    };
    let mut toml = hosts.cluster_toml();
    toml.push_str(&format!(
        "\n[[files]]\npath    = \"{dir}/{{node}}/app/configurations.properties\"\nformat  = \"properties\"\nprimary = {{ unset = [\"readonly.mode\"] }}\nmirror  = {{ set = {{ \"readonly.mode\" = \"true\" }} }}\n\
         \n[[files]]\npath    = \"{dir}/{{node}}/app/serverstate.conf\"\nprimary = {{ content = \"master\\n\" }}\nmirror  = {{ content = \"ro\\n\" }}\n\
         \n[[sync]]\npath      = \"{dir}/{{node}}/app/app_key.key\"\nmode      = \"0600\"\nsensitive = true\n\
         \n[[sync]]\npath   = \"{dir}/{{node}}/app/packages/*.zip\"\ndelete = true\n\
         \n[hooks]\nbefore_role_change = {}\nafter_role_change  = {}\n",
        append("before"),
        append("after")
    ));
    std::fs::write(hosts.cluster_file(), &toml).unwrap();

    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert!(!text(&hosts, 1, "app/configurations.properties").contains("readonly.mode"));
    assert_eq!(text(&hosts, 1, "app/serverstate.conf"), "master\n");
    for mirror in [2, 3] {
        assert!(
            text(&hosts, mirror, "app/configurations.properties").contains("readonly.mode=true")
        );
        assert_eq!(text(&hosts, mirror, "app/serverstate.conf"), "ro\n");
        assert_eq!(text(&hosts, mirror, "app/app_key.key"), "KEY-4b1d-content");
        let key = hosts.dir.join(format!("node{mirror}/app/app_key.key"));
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(listing(&hosts, mirror), ["a.zip", "b.zip", "c.zip"]);
    }

    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "node1 before primary mirror\nnode2 before mirror primary\nnode2 after mirror primary\nnode1 after primary mirror\n"
    );
    assert!(!text(&hosts, 2, "app/configurations.properties").contains("readonly.mode"));
    assert_eq!(text(&hosts, 2, "app/serverstate.conf"), "master\n");
    assert!(text(&hosts, 1, "app/configurations.properties").contains("readonly.mode=true"));
    assert_eq!(text(&hosts, 1, "app/serverstate.conf"), "ro\n");

    std::fs::remove_file(hosts.dir.join("node2/app/packages/b.zip")).unwrap();
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    for node in 1..=3 {
        assert_eq!(listing(&hosts, node), ["a.zip", "c.zip"], "node{node}");
    }
}
