//! `mirrorset demo`: a local three-node cluster on this machine, built and
//! converged by mirrorset itself (plan, apply, status), and `--down` to stop
//! and remove it. Nodes are PostgreSQL servers on 127.0.0.1 ports
//! 5501-5503 under one folder, reached with local access (as the postgres
//! user when run as root). I/O.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use base64::Engine;
use miette::{IntoDiagnostic, Result, WrapErr, miette};

use super::{apply, plan, status};
use crate::transport::{AccessOptions, current_user};

const MARKER: &str = ".mirrorset-demo";
const NODES: u16 = 3;
const FIRST_PORT: u16 = 5501;

/// The newest PostgreSQL binaries of the Debian layout.
fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        miette!(
            code = "demo::no_postgres",
            help = "install it, e.g. `apt-get install postgresql-15`",
            "the demo needs PostgreSQL server binaries in /usr/lib/postgresql/<version>/bin"
        )
    })
}

/// Runs a program as `user` (through runuser when that is not us).
fn run_as(user: &str, program: &Path, args: &[&str]) -> Result<String> {
    let mut command = if current_user() == user {
        Command::new(program)
    } else {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--"]).arg(program);
        command
    };
    let output = command
        .args(args)
        .output()
        .into_diagnostic()
        .wrap_err_with(|| format!("cannot run {}", program.display()))?;
    if !output.status.success() {
        return Err(miette!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn chown(path: &Path, user: &str) -> Result<()> {
    if current_user() == user {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", &format!("{user}:")])
        .arg(path)
        .status()
        .into_diagnostic()?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| miette!("cannot give {} to {user}", path.display()))
}

fn node_dir(dir: &Path, index: u16) -> PathBuf {
    dir.join(format!("node{index}"))
}

pub fn demo(dir: &Path, down: bool, access: &AccessOptions) -> Result<ExitCode> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().into_diagnostic()?.join(dir)
    };
    if down {
        return demo_down(&dir);
    }
    let bin = bin_dir()?;
    let os_user = if current_user() == "root" {
        "postgres".to_owned()
    } else {
        current_user()
    };
    let cluster_file = dir.join("cluster.toml");
    if !dir.join(MARKER).exists() {
        if dir.exists() && std::fs::read_dir(&dir).into_diagnostic()?.next().is_some() {
            return Err(miette!(
                code = "demo::dir_in_use",
                help = "choose another folder with --dir",
                "{} exists and is not a mirrorset demo",
                dir.display()
            ));
        }
        for index in 1..=NODES {
            let port = FIRST_PORT + index - 1;
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                return Err(miette!(
                    code = "demo::port_in_use",
                    "port {port} on 127.0.0.1 is in use; the demo needs 5501-5503"
                ));
            }
        }
        create(&dir, &bin, &os_user)?;
        println!(
            "Created a demo cluster in {}: node1 runs PostgreSQL, node2 and node3 are empty.\n",
            dir.display()
        );
    } else {
        println!(
            "The demo cluster in {} exists; converging it again.\n",
            dir.display()
        );
    }
    let file = cluster_file.display().to_string();
    println!("$ mirrorset plan {file}\n");
    plan::plan(
        std::slice::from_ref(&file),
        &plan::PlanOptions {
            json: false,
            out: None,
            detailed_exitcode: false,
            target: None,
            settings: crate::plan::PlanSettings::default(),
        },
        access,
    )?;
    println!("\n$ mirrorset apply {file} --auto-approve\n");
    let args = apply::ApplyArgs {
        auto_approve: true,
        allow_failover: false,
        lock_timeout: Duration::from_secs(30),
        wait_timeout: Duration::from_secs(120),
    };
    let applied = apply::apply_quietly(&file, &args, access)?;
    if applied != ExitCode::SUCCESS {
        return Ok(applied);
    }
    println!("\n$ mirrorset status {file}\n");
    status::status(&file, false, access)?;
    println!(
        "\nThe demo cluster is up: a primary and two streaming read-only mirrors.\n\
         Try next:\n  \
         mirrorset plan {file} --detailed-exitcode   # nothing to do: exit 0\n  \
         edit {file} (add a [settings] value, set a node's state = \"absent\"), then plan and apply again\n  \
         mirrorset promote node2 {file}   # a switchover: review the plan, then apply\n  \
         mirrorset demo --dir {} --down              # stop and remove it",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn create(dir: &Path, bin: &Path, os_user: &str) -> Result<()> {
    std::fs::create_dir_all(dir).into_diagnostic()?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).into_diagnostic()?;
    std::fs::write(
        dir.join(MARKER),
        "created by mirrorset demo; `mirrorset demo --down` removes this folder\n",
    )
    .into_diagnostic()?;
    let mut random = [0u8; 18];
    rand::fill(&mut random);
    let passphrase_file = dir.join("replication-passphrase");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode_0600()
        .open(&passphrase_file)
        .into_diagnostic()?;
    writeln!(
        file,
        "{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
    .into_diagnostic()?;

    let mut toml = format!(
        "# A demo cluster made by `mirrorset demo`: three PostgreSQL servers on this machine.\n\
         [cluster]\nname    = \"demo\"\nprimary = \"node1\"\n\n\
         [replication]\nuser                   = \"replicator\"\n\
         passphrase             = {{ file = \"replication-passphrase\" }}\n\
         max_slot_wal_keep_size = \"1GB\"\n\n\
         [defaults]\naccess   = \"local\"\npostgres = {{ bin_dir = \"{}\", os_user = \"{os_user}\" }}\n",
        bin.display()
    );
    for index in 1..=NODES {
        let node = node_dir(dir, index);
        let port = FIRST_PORT + index - 1;
        for sub in ["etc", "data", "run"] {
            std::fs::create_dir_all(node.join(sub)).into_diagnostic()?;
        }
        std::fs::set_permissions(node.join("data"), std::fs::Permissions::from_mode(0o700))
            .into_diagnostic()?;
        let data = node.join("data");
        let config = format!(
            "# PostgreSQL configuration of demo node{index}, written by mirrorset demo.\n\
             data_directory = '{data}'\nhba_file = '{etc}/pg_hba.conf'\nident_file = '{etc}/pg_ident.conf'\n\
             listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{run}'\n\
             max_connections = 50\nshared_buffers = 32MB\n",
            data = data.display(),
            etc = node.join("etc").display(),
            run = node.join("run").display(),
        );
        std::fs::write(node.join("etc/postgresql.conf"), config).into_diagnostic()?;
        std::fs::write(
            node.join("etc/pg_hba.conf"),
            "# Debian's defaults: local peer, TCP with a password.\n\
             local   all             all                                     peer\n\
             host    all             all             127.0.0.1/32            scram-sha-256\n\
             local   replication     all                                     peer\n",
        )
        .into_diagnostic()?;
        std::fs::write(node.join("etc/pg_ident.conf"), "").into_diagnostic()?;
        chown(&node, os_user)?;
        toml.push_str(&format!(
            "\n[nodes.node{index}]\nhost     = \"127.0.0.1\"\npostgres = {{ port = {port}, data_dir = \"{}\", config_dir = \"{}\", socket_dir = \"{}\" }}\n",
            data.display(),
            node.join("etc").display(),
            node.join("run").display()
        ));
    }
    let node1 = node_dir(dir, 1);
    let data = node1.join("data");
    run_as(
        os_user,
        &bin.join("initdb"),
        &[
            "-D",
            data.to_str().unwrap(),
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ],
    )?;
    for generated in ["postgresql.conf", "pg_hba.conf", "pg_ident.conf"] {
        // initdb's copies in the data directory are unused: the config folder holds the real ones.
        std::fs::remove_file(data.join(generated)).into_diagnostic()?;
    }
    let log = node1.join("postgresql-mirrorset.log");
    run_as(
        os_user,
        &bin.join("pg_ctl"),
        &[
            "-D",
            node1.join("etc").to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ],
    )?;
    std::fs::write(dir.join("cluster.toml"), toml).into_diagnostic()?;
    Ok(())
}

trait CreateMode {
    fn mode_0600(&mut self) -> &mut Self;
}

impl CreateMode for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}

fn demo_down(dir: &Path) -> Result<ExitCode> {
    if !dir.join(MARKER).exists() {
        return Err(miette!(
            code = "demo::not_a_demo",
            "{} is not a mirrorset demo folder; nothing was touched",
            dir.display()
        ));
    }
    let bin = bin_dir()?;
    for index in 1..=NODES {
        let node = node_dir(dir, index);
        if node.join("data/postmaster.pid").exists() {
            let owner = std::fs::metadata(node.join("data")).into_diagnostic()?;
            let user = crate::transport::user_name(std::os::unix::fs::MetadataExt::uid(&owner));
            run_as(
                &user,
                &bin.join("pg_ctl"),
                &[
                    "-D",
                    node.join("etc").to_str().unwrap(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
            )?;
            println!("stopped node{index}");
        }
    }
    std::fs::remove_dir_all(dir).into_diagnostic()?;
    println!("removed {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
