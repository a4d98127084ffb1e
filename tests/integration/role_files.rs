//! `[[files]]` on real hosts: the application's files follow each node's
//! role through a bootstrap and a switchover, and the plan is empty after
//! each apply.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::apply::{assert_converged, mirrorset};
use crate::hosts::TestHosts;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn role_files_of(hosts: &TestHosts, node: u8) -> (String, String) {
    let app = hosts.dir.join(format!("node{node}/app"));
    (
        read(&app.join("configurations.properties")),
        read(&app.join("serverstate.conf")),
    )
}

#[test]
fn role_files_follow_each_node_through_a_switchover() {
    let hosts = TestHosts::up(76, 3);
    let dir = hosts.dir.display().to_string();
    // Installed as read-only servers everywhere, as the product's installer leaves them.
    for node in 1..=3 {
        let app = hosts.dir.join(format!("node{node}/app"));
        std::fs::create_dir_all(&app).unwrap();
        let properties = app.join("configurations.properties");
        std::fs::write(&properties, "# app\nreadonly.mode=true\nport=8443\n").unwrap();
        std::fs::set_permissions(&properties, std::fs::Permissions::from_mode(0o640)).unwrap();
        let status = std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&app)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut toml = hosts.cluster_toml();
    toml.push_str(&format!(
        "\n[[files]]\npath    = \"{dir}/{{node}}/app/configurations.properties\"\nformat  = \"properties\"\nprimary = {{ unset = [\"readonly.mode\"] }}\nmirror  = {{ set = {{ \"readonly.mode\" = \"true\" }} }}\n\n[[files]]\npath    = \"{dir}/{{node}}/app/serverstate.conf\"\nprimary = {{ content = \"master\\n\" }}\nmirror  = {{ content = \"ro\\n\" }}\n"
    ));
    std::fs::write(hosts.cluster_file(), &toml).unwrap();

    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert_eq!(
        role_files_of(&hosts, 1),
        ("# app\nport=8443\n".into(), "master\n".into())
    );
    for mirror in [2, 3] {
        assert_eq!(
            role_files_of(&hosts, mirror),
            (
                "# app\nreadonly.mode=true\nport=8443\n".into(),
                "ro\n".into()
            )
        );
    }
    let properties = hosts.dir.join("node1/app/configurations.properties");
    assert_eq!(
        std::fs::metadata(&properties).unwrap().permissions().mode() & 0o777,
        0o640,
        "the file's mode is kept"
    );

    mirrorset(&hosts, &["promote", "node2", "FILE", "--no-plan"], 0);
    mirrorset(&hosts, &["apply", "FILE", "--auto-approve"], 0);
    assert_converged(&hosts);
    assert_eq!(
        role_files_of(&hosts, 2),
        ("# app\nport=8443\n".into(), "master\n".into())
    );
    // node1 takes the key back at the end; node3, a mirror throughout, is untouched.
    assert_eq!(
        role_files_of(&hosts, 1),
        (
            "# app\nport=8443\nreadonly.mode=true\n".into(),
            "ro\n".into()
        )
    );
    assert_eq!(
        role_files_of(&hosts, 3),
        (
            "# app\nreadonly.mode=true\nport=8443\n".into(),
            "ro\n".into()
        )
    );
}
