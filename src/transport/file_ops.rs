//! File operations on a node, built on `Transport::exec`: each is one fixed
//! shell script run with `sh -c`, the paths passed as positional arguments
//! (never spliced into the script), as the PostgreSQL OS user. I/O.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{AccessError, RemoteCommand, Transport};

/// Exit status the scripts use for "nothing at that path".
const MISSING: i32 = 3;

const READ: &str = r#"[ -e "$1" ] || exit 3; exec cat -- "$1""#;

const STAT: &str = r#"[ -e "$1" ] || [ -L "$1" ] || exit 3; exec stat -c '%a %U %G %s %F' -- "$1""#;

const WRITE_ATOMIC: &str = r#"set -eu
path=$1 mode=$2 stamp=$3 keep=$4
case $path in */*) dir=${path%/*} ;; *) dir=. ;; esac
[ -n "$dir" ] || dir=/
[ -d "$dir" ] || mkdir -p -m 0700 -- "$dir"
base=${path##*/}
tmp=$(mktemp "$dir/.$base.mirrorset-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
if [ -e "$path" ]; then
  chmod --reference="$path" -- "$tmp"
  chown --reference="$path" -- "$tmp" 2>/dev/null || true
  if [ "$keep" = keep ]; then
    backup=$path.mirrorset-$stamp
    cp -p -- "$path" "$backup"
    printf 'backup=%s\n' "$backup"
  fi
else
  chmod "$mode" -- "$tmp"
fi
sync -- "$tmp"
mv -f -- "$tmp" "$path"
trap - EXIT
if [ "$keep" != keep ]; then
  # Versions of a secret that earlier runs kept: <name>.mirrorset-<UTC time>.
  for old in "$path".mirrorset-[0-9]*T[0-9]*Z; do
    if [ -f "$old" ]; then rm -f -- "$old"; fi
  done
fi
sync -- "$dir" 2>/dev/null || true
"#;

/// Whether an atomic write keeps the previous version beside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    Keep,
    /// For secrets: none kept, and earlier kept versions removed.
    Discard,
}

const MOVE_ASIDE: &str = r#"set -eu
[ -e "$1" ] || [ -L "$1" ] || exit 3
target=$1.mirrorset-moved-$2
[ ! -e "$target" ] || { echo "$target already exists" >&2; exit 1; }
mv -- "$1" "$target"
printf '%s\n' "$target"
"#;

/// What `stat` found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat {
    /// Permission bits, e.g. 0o600.
    pub mode: u32,
    pub owner: String,
    pub group: String,
    pub size: u64,
    /// `regular file`, `directory`, `symbolic link`, …
    pub kind: String,
}

/// What an atomic write did besides writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Where the previous version was kept, when there was one.
    pub backup: Option<String>,
}

/// A UTC timestamp for backup names, sortable: 20261122T010203Z.
pub fn utc_stamp() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn script(name: &str, body: &str) -> RemoteCommand {
    RemoteCommand::new("sh").args(["-c", body, name])
}

fn failed<T: Transport + ?Sized>(
    transport: &T,
    doing: String,
    output: &super::ExecOutput,
) -> AccessError {
    AccessError::CommandFailed {
        node: transport.node().clone(),
        doing,
        reason: output.failure_reason(),
    }
}

pub fn read_file<T: Transport + ?Sized>(
    transport: &T,
    path: &str,
) -> Result<Option<Vec<u8>>, AccessError> {
    let output = transport.exec_as_postgres(script("mirrorset-read", READ).arg(path))?;
    match output.status {
        _ if output.success() => Ok(Some(output.stdout)),
        Some(MISSING) if output.signal.is_none() => Ok(None),
        _ => Err(failed(transport, format!("reading {path}"), &output)),
    }
}

pub fn stat<T: Transport + ?Sized>(
    transport: &T,
    path: &str,
) -> Result<Option<FileStat>, AccessError> {
    let output = transport.exec_as_postgres(script("mirrorset-stat", STAT).arg(path))?;
    if output.status == Some(MISSING) && output.signal.is_none() {
        return Ok(None);
    }
    if !output.success() {
        return Err(failed(transport, format!("stat of {path}"), &output));
    }
    parse_stat(&output.stdout_text())
        .map(Some)
        .ok_or_else(|| failed(transport, format!("reading the stat of {path}"), &output))
}

/// Parses `stat -c '%a %U %G %s %F'`.
fn parse_stat(line: &str) -> Option<FileStat> {
    let mut words = line.trim_end().splitn(5, ' ');
    Some(FileStat {
        mode: u32::from_str_radix(words.next()?, 8).ok()?,
        owner: words.next()?.to_owned(),
        group: words.next()?.to_owned(),
        size: words.next()?.parse().ok()?,
        kind: words.next()?.to_owned(),
    })
}

pub fn write_file_atomic<T: Transport + ?Sized>(
    transport: &T,
    path: &str,
    contents: &[u8],
    new_mode: u32,
    previous: Previous,
) -> Result<WriteOutcome, AccessError> {
    let keep = match previous {
        Previous::Keep => "keep",
        Previous::Discard => "discard",
    };
    let command = script("mirrorset-write", WRITE_ATOMIC)
        .args([
            path.to_owned(),
            format!("{new_mode:o}"),
            utc_stamp(),
            keep.to_owned(),
        ])
        .stdin(contents.to_vec());
    let output = transport.exec_as_postgres(command)?;
    if !output.success() {
        return Err(failed(transport, format!("writing {path}"), &output));
    }
    let stdout = output.stdout_text();
    let backup = stdout
        .lines()
        .find_map(|line| line.strip_prefix("backup="))
        .map(str::to_owned);
    Ok(WriteOutcome { backup })
}

pub fn move_aside<T: Transport + ?Sized>(
    transport: &T,
    path: &str,
) -> Result<Option<String>, AccessError> {
    let output = transport.exec_as_postgres(
        script("mirrorset-move-aside", MOVE_ASIDE).args([path.to_owned(), utc_stamp()]),
    )?;
    match output.status {
        _ if output.success() => Ok(Some(output.stdout_text().trim_end().to_owned())),
        Some(MISSING) if output.signal.is_none() => Ok(None),
        _ => Err(failed(transport, format!("moving {path} aside"), &output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_parses() {
        assert_eq!(
            parse_stat("600 postgres postgres 42 regular file\n"),
            Some(FileStat {
                mode: 0o600,
                owner: "postgres".into(),
                group: "postgres".into(),
                size: 42,
                kind: "regular file".into()
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn dates_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(utc_stamp().len(), 16);
    }
}
