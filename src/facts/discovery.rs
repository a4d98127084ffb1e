//! The PostgreSQL servers running on a machine, for `import`: the command
//! that finds them (each postmaster's working directory is its data
//! directory, whose postmaster.pid names its pid, port and socket folder)
//! paired with the parser of what it prints. The parser is pure and tested
//! from fixtures; the command runs as the PostgreSQL OS user.

/// Finds every postmaster the PostgreSQL OS user can see: its pid, data
/// dir, port, socket dir, listen address, binary, the file its output goes
/// to (pg_ctl -l) and the systemd unit it runs in, one `key value` line
/// each; first the address the SSH session reached, given as `$1`
/// (read by [`WHERE`] as the login user: a switch to the PostgreSQL user
/// clears the environment that says it).
pub const SCRIPT: &str = r#"printf 'reached %s\n' "$1"
for proc in /proc/[0-9]*; do
  pid=${proc#/proc/}
  cwd=$(readlink "$proc/cwd" 2>/dev/null) || continue
  [ -r "$cwd/postmaster.pid" ] || continue
  [ "$(sed -n 1p "$cwd/postmaster.pid")" = "$pid" ] || continue
  printf 'postmaster %s\n' "$pid"
  printf 'data %s\n' "$cwd"
  printf 'port %s\n' "$(sed -n 4p "$cwd/postmaster.pid")"
  printf 'socket %s\n' "$(sed -n 5p "$cwd/postmaster.pid")"
  printf 'listen %s\n' "$(sed -n 6p "$cwd/postmaster.pid")"
  printf 'exe %s\n' "$(readlink "$proc/exe" 2>/dev/null)"
  printf 'log %s\n' "$(readlink "$proc/fd/2" 2>/dev/null)"
  printf 'unit %s\n' "$(grep -o '[^/]*\.service' "$proc/cgroup" 2>/dev/null | tail -n 1)"
done
"#;

/// The machine's name, then the address the SSH session reached
/// (`$SSH_CONNECTION`'s third field), one per line; run as the login user.
pub const WHERE: &str = r#"uname -n
set -- $SSH_CONNECTION
printf '%s\n' "$3"
"#;

/// One running server as the machine shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Postmaster {
    pub pid: u32,
    pub data_dir: String,
    pub port: u16,
    pub socket_dir: Option<String>,
    /// The first of listen_addresses (`*` for all).
    pub listen: Option<String>,
    /// The folder of the postgres binary.
    pub bin_dir: Option<String>,
    /// Where its output goes, when that is a file (`pg_ctl -l`).
    pub log_file: Option<String>,
    /// The systemd unit it runs in, when it does.
    pub systemd_unit: Option<String>,
}

/// What the script found: the servers, and the address SSH reached.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discovered {
    pub reached: Option<String>,
    pub servers: Vec<Postmaster>,
}

impl Discovered {
    /// The servers of the machine SSH reached: on a machine with several
    /// addresses and servers, those listening on that address (or on all).
    pub fn on_reached_address(&self) -> Vec<Postmaster> {
        if self.servers.len() < 2 {
            return self.servers.clone();
        }
        let Some(reached) = &self.reached else {
            return self.servers.clone();
        };
        let listening: Vec<Postmaster> = self
            .servers
            .iter()
            .filter(|server| {
                server.listen.as_deref().is_some_and(|listen| {
                    listen == reached || matches!(listen, "*" | "0.0.0.0" | "::")
                })
            })
            .cloned()
            .collect();
        if listening.is_empty() {
            self.servers.clone()
        } else {
            listening
        }
    }
}

pub fn parse(text: &str) -> Discovered {
    let mut found: Vec<Postmaster> = Vec::new();
    let mut reached = None;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = value.trim();
        if key == "reached" {
            reached = (!value.is_empty()).then(|| value.to_owned());
            continue;
        }
        if key == "postmaster" {
            if let Ok(pid) = value.parse() {
                found.push(Postmaster {
                    pid,
                    ..Postmaster::default()
                });
            }
            continue;
        }
        let Some(current) = found.last_mut() else {
            continue;
        };
        let named = || (!value.is_empty()).then(|| value.to_owned());
        match key {
            "data" => current.data_dir = value.to_owned(),
            "port" => current.port = value.parse().unwrap_or(0),
            "socket" => current.socket_dir = named(),
            "listen" => current.listen = named(),
            "exe" => {
                current.bin_dir =
                    named().and_then(|exe| exe.rsplit_once('/').map(|(dir, _)| dir.to_owned()))
            }
            // A terminal, a pipe or /dev/null is no log file.
            "log" => current.log_file = named().filter(|path| is_log_file(path)),
            "unit" => current.systemd_unit = named(),
            _ => {}
        }
    }
    found.retain(|postmaster| postmaster.port > 0 && postmaster.data_dir.starts_with('/'));
    Discovered {
        reached,
        servers: found,
    }
}

fn is_log_file(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("/dev/") && !path.starts_with("/proc/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_server_and_skips_what_is_not_one() {
        let text = "reached 10.0.0.5\npostmaster 4242\ndata /srv/pg/data\nport 5433\nsocket /run/pg\nlisten *\nexe /usr/lib/postgresql/16/bin/postgres\nlog /srv/pg/postgresql.log\nunit \n\
                    postmaster 77\ndata /var/lib/postgresql/15/main\nport 5432\nsocket /var/run/postgresql\nlisten 10.0.0.9\nexe /usr/lib/postgresql/15/bin/postgres\nlog /dev/null\nunit postgresql@15-main.service\n\
                    postmaster 9\ndata \nport \nsocket \nexe \nlog \nunit \n";
        let discovered = parse(text);
        assert_eq!(discovered.reached.as_deref(), Some("10.0.0.5"));
        assert_eq!(
            discovered.servers,
            [
                Postmaster {
                    pid: 4242,
                    data_dir: "/srv/pg/data".into(),
                    port: 5433,
                    socket_dir: Some("/run/pg".into()),
                    listen: Some("*".into()),
                    bin_dir: Some("/usr/lib/postgresql/16/bin".into()),
                    log_file: Some("/srv/pg/postgresql.log".into()),
                    systemd_unit: None,
                },
                Postmaster {
                    pid: 77,
                    data_dir: "/var/lib/postgresql/15/main".into(),
                    port: 5432,
                    socket_dir: Some("/var/run/postgresql".into()),
                    listen: Some("10.0.0.9".into()),
                    bin_dir: Some("/usr/lib/postgresql/15/bin".into()),
                    log_file: None,
                    systemd_unit: Some("postgresql@15-main.service".into()),
                },
            ]
        );
        // Of two servers, the one listening where SSH arrived (or everywhere).
        assert_eq!(
            discovered
                .on_reached_address()
                .iter()
                .map(|s| s.pid)
                .collect::<Vec<_>>(),
            [4242]
        );
        assert!(parse("").servers.is_empty());
        assert!(parse("data /x\nport 5\n").servers.is_empty());
    }
}
