//! A relay between standard input/output and a Unix socket, for reaching
//! PostgreSQL's socket as its OS user when the login user is another one.
//! Perl because perl-base is part of every Debian and Ubuntu system. Pure.

use std::time::Duration;

use super::RemoteCommand;

const RELAY: &str = r#"use strict; use IO::Socket::UNIX; use IO::Select;
my $socket = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $ARGV[0])
  or die "cannot connect to $ARGV[0]: $!\n";
binmode STDIN; binmode STDOUT;
my $select = IO::Select->new(\*STDIN, $socket);
while (my @ready = $select->can_read) {
  for my $from (@ready) {
    my $n = sysread($from, my $buffer, 65536);
    exit 0 unless $n;
    my $to = fileno($from) == fileno($socket) ? \*STDOUT : $socket;
    my $offset = 0;
    while ($offset < $n) {
      my $written = syswrite($to, $buffer, $n - $offset, $offset);
      die "write: $!\n" unless defined $written;
      $offset += $written;
    }
  }
}
"#;

/// The relay as a command; it lives as long as the stream it serves.
pub fn relay_command(socket_path: &str) -> RemoteCommand {
    RemoteCommand::new("perl")
        .args(["-e", RELAY, socket_path])
        .timeout(Duration::from_secs(24 * 3600))
}
