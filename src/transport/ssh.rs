//! The SSH transport: one ssh2 session per node, opened once per run and
//! reused for every command, file and SQL stream, reached through the jump
//! hosts ssh_config names. After login the session
//! is non-blocking, so an SQL stream pumped by its own thread and commands
//! on other threads never hold the session lock while waiting. I/O.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Channel, ErrorCode, MethodType, Session};

use super::host_key::HostKeyCheck;
use super::relay::relay_command;
use super::route::{Hop, Route};
use super::{AccessError, AccessOptions, ExecOutput, RemoteCommand, Transport};
use crate::model::{Node, NodeName};

/// libssh2's "would block" in non-blocking mode.
const EAGAIN: i32 = -37;
/// The longest a waiter sleeps before trying again: another thread may
/// have read the bytes it was waiting for into its channel's buffer.
const POLL_SLICE: Duration = Duration::from_millis(5);

pub struct SshTransport {
    node: NodeName,
    login_user: String,
    postgres_user: String,
    session: Session,
    socket: RawFd,
}

fn would_block(error: &ssh2::Error) -> bool {
    error.code() == ErrorCode::Session(EAGAIN)
}

/// One login on the way to a node: its session, and the descriptor
/// libssh2 reads it from (a TCP socket, or the local end of a jump host's
/// forwarded connection).
struct Login {
    session: Session,
    socket: RawFd,
}

impl SshTransport {
    /// Logs in to the node, through its jump hosts in order when
    /// ssh_config names some (each hop's key checked, each reached through
    /// the one before it), as ssh would.
    pub fn connect(node: &Node, options: &AccessOptions) -> Result<Self, AccessError> {
        let name = node.name.clone();
        let route =
            Route::for_node(&node.ssh, options).map_err(|reason| AccessError::SshConfig {
                node: name.clone(),
                reason,
            })?;
        let mut via: Option<(Login, String)> = None;
        for hop in &route.jumps {
            let login = log_in(&name, hop, via.as_ref())?;
            let described = format!("{} ({}:{})", hop.alias, hop.host_name, hop.port);
            via = Some((login, described));
        }
        let login = log_in(&name, &route.target, via.as_ref())?;
        login.session.set_blocking(false);
        Ok(Self {
            node: name,
            login_user: route.target.user.clone(),
            postgres_user: node.postgres.os_user.clone(),
            session: login.session,
            socket: login.socket,
        })
    }

    fn session_error(&self, doing: &str, error: impl ToString) -> AccessError {
        AccessError::Session {
            node: self.node.clone(),
            doing: doing.to_owned(),
            reason: error.to_string(),
        }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on, at most one slice.
    fn wait(&self) {
        let directions = self.session.block_directions();
        let events = match directions {
            BlockDirections::Inbound => libc::POLLIN,
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            BlockDirections::None => libc::POLLIN,
        };
        poll(&mut [(self.socket, events)], POLL_SLICE);
    }

    /// Repeats a non-blocking libssh2 call until it stops saying "would block".
    fn retry<T>(
        &self,
        doing: &str,
        deadline: Instant,
        mut call: impl FnMut() -> Result<T, ssh2::Error>,
    ) -> Result<T, AccessError> {
        loop {
            match call() {
                Ok(value) => return Ok(value),
                Err(error) if would_block(&error) => {
                    if Instant::now() > deadline {
                        return Err(self.session_error(doing, "timed out"));
                    }
                    self.wait();
                }
                Err(error) => return Err(self.session_error(doing, error.message())),
            }
        }
    }

    /// The user switch is only needed when the login user is someone else.
    fn effective(&self, command: &RemoteCommand) -> RemoteCommand {
        let mut command = command.clone();
        if command.run_as.as_deref() == Some(self.login_user.as_str()) {
            command.run_as = None;
        }
        command
    }

    fn open_exec(
        &self,
        command: &RemoteCommand,
        deadline: Instant,
    ) -> Result<Channel, AccessError> {
        let mut channel = self.retry("opening a channel", deadline, || {
            self.session.channel_session()
        })?;
        let line = command.shell_line();
        self.retry("starting a command", deadline, || channel.exec(&line))?;
        Ok(channel)
    }
}

/// One hop: a byte stream to it (TCP, or a channel the jump host before
/// it forwards), the handshake, its host key checked, the login.
fn log_in(node: &NodeName, hop: &Hop, via: Option<&(Login, String)>) -> Result<Login, AccessError> {
    let address = match via {
        None => format!("{}:{}", hop.host_name, hop.port),
        Some((_, jump)) => format!("{}:{} through {jump}", hop.host_name, hop.port),
    };
    let handshake_error = |reason: String| AccessError::Handshake {
        node: node.clone(),
        address: address.clone(),
        reason,
    };
    let mut session = Session::new().map_err(|e| handshake_error(e.to_string()))?;
    let socket = match via {
        None => {
            let tcp = connect_tcp(node, hop, &address)?;
            let socket = tcp.as_raw_fd();
            session.set_tcp_stream(tcp);
            socket
        }
        Some((jump, described)) => {
            let local = forward(node, jump, described, hop)?;
            let socket = local.as_raw_fd();
            session.set_tcp_stream(local);
            socket
        }
    };
    session.set_timeout(timeout_millis(hop.connect_timeout));
    let host_keys = HostKeyCheck::read(
        node,
        &hop.host_name,
        hop.port,
        &hop.known_hosts,
        hop.hash_known_hosts,
    )?;
    // Only plain host keys, known types first: libssh2 cannot verify a
    // certificate, and a server asked for one presents it instead of its key.
    session
        .method_pref(MethodType::HostKey, &host_keys.algorithms())
        .map_err(|e| handshake_error(e.message().to_owned()))?;
    session
        .handshake()
        .map_err(|e| handshake_error(e.message().to_owned()))?;
    host_keys.verify(&session, hop.accept_new)?;
    authenticate(&session, node, hop, &address)?;
    session.set_timeout(0);
    Ok(Login { session, socket })
}

fn connect_tcp(node: &NodeName, hop: &Hop, address: &str) -> Result<TcpStream, AccessError> {
    let addresses: Vec<_> = (hop.host_name.as_str(), hop.port)
        .to_socket_addrs()
        .map_err(|e| AccessError::Resolve {
            node: node.clone(),
            host: hop.host_name.clone(),
            reason: e.to_string(),
        })?
        .collect();
    let mut last_error = None;
    for candidate in &addresses {
        match TcpStream::connect_timeout(candidate, hop.connect_timeout) {
            Ok(tcp) => {
                // Small request/response exchanges: without this each waits for delayed ACKs.
                tcp.set_nodelay(true).ok();
                return Ok(tcp);
            }
            Err(error) => last_error = Some(error),
        }
    }
    Err(AccessError::Connect {
        node: node.clone(),
        address: address.to_owned(),
        reason: last_error.map_or("no address".to_owned(), |e| e.to_string()),
    })
}

/// A connection to `hop` forwarded by the jump host before it
/// (`direct-tcpip`, as `ssh -J` asks), pumped by its own thread to a local
/// socket the next session reads as if it were TCP.
fn forward(
    node: &NodeName,
    jump: &Login,
    described: &str,
    hop: &Hop,
) -> Result<UnixStream, AccessError> {
    let refused = |reason: String| AccessError::Jump {
        node: node.clone(),
        jump: described.to_owned(),
        target: format!("{}:{}", hop.host_name, hop.port),
        reason,
    };
    // The jump host may wait long on a target that drops packets: the
    // hop's ConnectTimeout bounds it, as in ssh.
    jump.session
        .set_timeout(timeout_millis(hop.connect_timeout));
    let channel = jump
        .session
        .channel_direct_tcpip(&hop.host_name, hop.port, None)
        .map_err(|e| refused(e.message().to_owned()))?;
    jump.session.set_timeout(0);
    let (ours, theirs) = UnixStream::pair().map_err(|e| refused(e.to_string()))?;
    ours.set_nonblocking(true)
        .map_err(|e| refused(e.to_string()))?;
    // From here the pump alone drives the jump host's session.
    jump.session.set_blocking(false);
    let pump = Pump {
        session: jump.session.clone(),
        socket: jump.socket,
        channel,
        local: ours,
    };
    std::thread::Builder::new()
        .name(format!("jump-pump-{node}"))
        .spawn(move || pump.run())
        .map_err(|e| refused(e.to_string()))?;
    Ok(theirs)
}

fn authenticate(
    session: &Session,
    node: &NodeName,
    hop: &Hop,
    address: &str,
) -> Result<(), AccessError> {
    let user = hop.user.as_str();
    let mut tried = Vec::new();
    let keys: Vec<PathBuf> = if hop.key_named {
        let key = &hop.identity_files[0];
        let unreadable = |reason: String| AccessError::KeyUnreadable {
            node: node.clone(),
            path: key.clone(),
            reason,
        };
        let text = std::fs::read(key).map_err(|error| unreadable(error.to_string()))?;
        if !text.starts_with(b"-----BEGIN ") {
            return Err(unreadable(
                "it is not a private key (no -----BEGIN line)".to_owned(),
            ));
        }
        vec![key.clone()]
    } else if !hop.identity_files.is_empty() {
        // ssh_config's IdentityFile: one that does not exist is skipped, as ssh does.
        hop.identity_files
            .iter()
            .filter(|path| path.is_file())
            .cloned()
            .collect()
    } else {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .iter()
            .map(|name| home.join(".ssh").join(name))
            .filter(|path| path.is_file())
            .collect()
    };
    for key in &keys {
        match session.userauth_pubkey_file(user, None, key, None) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push(format!("key {}", key.display())),
            Err(error) => tried.push(format!("key {}: {}", key.display(), error.message())),
        }
    }
    // An encrypted key (or none named) is used through the agent; under
    // IdentitiesOnly only the agent's copies of the named keys, as in ssh.
    let only: Option<Vec<Vec<u8>>> =
        (hop.identities_only && !hop.identity_files.is_empty()).then(|| {
            hop.identity_files
                .iter()
                .filter_map(|key| public_blob(key))
                .collect()
        });
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match agent_login(session, user, only.as_deref()) {
            Ok(true) => return Ok(()),
            Ok(false) => tried.push("ssh-agent: no identity accepted".to_owned()),
            Err(error) => tried.push(format!("ssh-agent: {}", error.message())),
        }
    } else if keys.is_empty() {
        tried.push("no key named and no ssh-agent (SSH_AUTH_SOCK unset)".to_owned());
    }
    Err(AccessError::AuthFailed {
        node: node.clone(),
        user: user.to_owned(),
        address: address.to_owned(),
        tried: tried.join("; "),
    })
}

/// The key blob of `<key>.pub`, as the agent lists it.
fn public_blob(key: &std::path::Path) -> Option<Vec<u8>> {
    use base64::Engine;
    let mut public = key.as_os_str().to_owned();
    public.push(".pub");
    let text = std::fs::read_to_string(public).ok()?;
    let encoded = text.split_whitespace().nth(1)?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}

/// Logs in with the agent's identities, or only those whose blob is in `only`.
fn agent_login(
    session: &Session,
    user: &str,
    only: Option<&[Vec<u8>]>,
) -> Result<bool, ssh2::Error> {
    let mut agent = session.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    for identity in agent.identities()? {
        if only.is_some_and(|blobs| !blobs.iter().any(|blob| blob.as_slice() == identity.blob())) {
            continue;
        }
        if agent.userauth(user, &identity).is_ok() && session.authenticated() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A timeout as libssh2 takes it: milliseconds, where 0 means none.
fn timeout_millis(timeout: Duration) -> u32 {
    timeout.as_millis().try_into().unwrap_or(u32::MAX)
}

/// poll(2) on a few descriptors; returns when any is ready or the timeout passes.
pub(crate) fn poll(fds: &mut [(RawFd, libc::c_short)], timeout: Duration) {
    let mut pollfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: *fd,
            events: *events,
            revents: 0,
        })
        .collect();
    let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: pollfds is a valid, exclusively borrowed array of pollfd for the call's duration.
    unsafe {
        libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis);
    }
}

impl Transport for SshTransport {
    fn node(&self) -> &NodeName {
        &self.node
    }

    fn postgres_user(&self) -> &str {
        &self.postgres_user
    }

    fn login_user(&self) -> &str {
        &self.login_user
    }

    fn exec_streaming(
        &self,
        command: &RemoteCommand,
        on_stderr: &(dyn Fn(&[u8]) + Sync),
    ) -> Result<ExecOutput, AccessError> {
        let command = self.effective(command);
        // The node's own `timeout` ends the program; this deadline only
        // covers a node that stops answering altogether.
        let deadline = Instant::now() + command.timeout + Duration::from_secs(15);
        let mut channel = self.open_exec(&command, deadline)?;
        let stdin = command
            .stdin
            .as_ref()
            .map(|s| s.expose().as_slice())
            .unwrap_or(&[]);
        let mut written = 0;
        let mut eof_sent = false;
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut buffer = vec![0u8; 32 * 1024];
        loop {
            let mut progressed = false;
            if written < stdin.len() {
                match channel.write(&stdin[written..]) {
                    Ok(n) => {
                        written += n;
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.session_error("sending input", e)),
                }
            } else if !eof_sent && !command.stop_when_abandoned {
                // A command that stops when abandoned reads the end of its
                // input as "the caller is gone": it never gets one from here.
                match channel.send_eof() {
                    Ok(()) => {
                        eof_sent = true;
                        progressed = true;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(self.session_error("closing input", e.message())),
                }
            }
            for (stream_id, sink) in [(0, &mut stdout), (1, &mut stderr)] {
                match channel.stream(stream_id).read(&mut buffer) {
                    Ok(0) => {}
                    Ok(n) => {
                        if stream_id == 1 {
                            on_stderr(&buffer[..n]);
                        }
                        sink.extend_from_slice(&buffer[..n]);
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(self.session_error("reading output", e)),
                }
            }
            if channel.eof() && !progressed {
                break;
            }
            if !progressed {
                if Instant::now() > deadline {
                    return Err(AccessError::Timeout {
                        node: self.node.clone(),
                        program: command.program.clone(),
                        seconds: command.timeout.as_secs(),
                    });
                }
                self.wait();
            }
        }
        self.retry("closing a channel", deadline, || channel.wait_close())?;
        let signal = channel
            .exit_signal()
            .ok()
            .and_then(|signal| signal.exit_signal);
        let status = if signal.is_some() {
            None
        } else {
            channel.exit_status().ok()
        };
        Ok(ExecOutput {
            stdout,
            stderr,
            status,
            signal,
        })
    }

    fn connect_unix(&self, path: &str) -> Result<UnixStream, AccessError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        // Logged in as the PostgreSQL user: a direct stream to the socket,
        // no process on the node. Otherwise a relay running as that user.
        let channel = if self.login_user == self.postgres_user {
            self.retry(
                "opening a stream to the PostgreSQL socket",
                deadline,
                || self.session.channel_direct_streamlocal(path, None),
            )?
        } else {
            let relay = relay_command(path).run_as(Some(&self.postgres_user));
            self.open_exec(&relay, deadline)?
        };
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| self.session_error("making a socket pair", e))?;
        ours.set_nonblocking(true)
            .map_err(|e| self.session_error("making a socket pair", e))?;
        let pump = Pump {
            session: self.session.clone(),
            socket: self.socket,
            channel,
            local: ours,
        };
        std::thread::Builder::new()
            .name(format!("sql-pump-{}", self.node))
            .spawn(move || pump.run())
            .map_err(|e| self.session_error("starting the SQL stream", e))?;
        Ok(theirs)
    }
}

/// Copies bytes both ways between a local socket and an SSH channel until either side closes.
struct Pump {
    session: Session,
    socket: RawFd,
    channel: Channel,
    local: UnixStream,
}

impl Pump {
    fn run(mut self) {
        let mut to_local: Vec<u8> = Vec::new();
        let mut to_remote: Vec<u8> = Vec::new();
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let mut progressed = false;
            if to_local.is_empty() {
                match self.channel.read(&mut buffer) {
                    Ok(0) if self.channel.eof() => break,
                    Ok(0) => {}
                    Ok(n) => {
                        to_local.extend_from_slice(&buffer[..n]);
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            if !to_local.is_empty() {
                match self.local.write(&to_local) {
                    Ok(n) => {
                        to_local.drain(..n);
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            if to_remote.is_empty() {
                match self.local.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        to_remote.extend_from_slice(&buffer[..n]);
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            if !to_remote.is_empty() {
                match self.channel.write(&to_remote) {
                    Ok(n) => {
                        to_remote.drain(..n);
                        progressed = true;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
            }
            if !progressed {
                let ssh_events = match self.session.block_directions() {
                    BlockDirections::Outbound => libc::POLLOUT,
                    BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
                    _ => libc::POLLIN,
                };
                let local_events = if to_local.is_empty() {
                    libc::POLLIN
                } else {
                    libc::POLLIN | libc::POLLOUT
                };
                poll(
                    &mut [
                        (self.socket, ssh_events),
                        (self.local.as_raw_fd(), local_events),
                    ],
                    POLL_SLICE,
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.channel.close() {
                Err(e) if would_block(&e) => poll(
                    &mut [(self.socket, libc::POLLIN | libc::POLLOUT)],
                    POLL_SLICE,
                ),
                _ => break,
            }
        }
    }
}
