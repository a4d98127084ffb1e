//! A `[[sync]]` file copied from one node to another through mirrorset's
//! own sessions, in bounded chunks (package folders run to hundreds of MB),
//! into a temporary file that is checked against the planned sha256 before
//! it is renamed into place, with the planned mode and owner. The content
//! never reaches output. I/O.

use super::{Applier, ApplyError};
use crate::model::NodeName;
use crate::transport::RemoteCommand;

/// Bytes per round trip each way.
const CHUNK: u64 = 4 * 1024 * 1024;

const READ_CHUNK: &str = r#"exec dd if="$1" bs="$2" skip="$3" count=1 2>/dev/null"#;

const APPEND_CHUNK: &str = r#"set -eu
tmp=$1.mirrorset-copy
if [ "$2" = 0 ]; then
  [ -d "${1%/*}" ] || mkdir -p -- "${1%/*}"
  umask 077; : > "$tmp"
fi
cat >> "$tmp"
"#;

const FINISH: &str = r#"set -eu
tmp=$1.mirrorset-copy
got=$(sha256sum < "$tmp" | cut -d' ' -f1)
if [ "$got" != "$2" ]; then rm -f -- "$tmp"; echo "sha256 $got, planned $2" >&2; exit 3; fi
chmod "$3" -- "$tmp"
chown -- "$6" "$tmp" || { rm -f -- "$tmp"; echo "cannot give the copy to $6" >&2; exit 4; }
if [ -e "$1" ] && [ "$4" = keep ]; then cp -p -- "$1" "$1.mirrorset-$5"; fi
sync -- "$tmp" 2>/dev/null || true
mv -f -- "$tmp" "$1"
"#;

fn script(name: &str, body: &str) -> RemoteCommand {
    RemoteCommand::new("sh").args(["-c", body, name])
}

/// What a copy needs to know.
pub(super) struct Copy<'a> {
    pub from_node: &'a str,
    pub from_path: &'a str,
    pub path: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub mode: u32,
    pub owner: &'a str,
    pub sensitive: bool,
}

impl Applier<'_> {
    pub(super) fn copy_file(
        &self,
        name: &NodeName,
        copy: &Copy,
        advance: &(dyn Fn(&str) + Sync),
    ) -> Result<Option<String>, ApplyError> {
        let from = NodeName::new(copy.from_node).map_err(|error| {
            self.failed(
                name,
                format!("the plan names no node {}: {error}", copy.from_node),
            )
        })?;
        let source = &*self.session(&from).transport;
        let target = &*self.session(name).transport;
        let chunks = copy.size.div_ceil(CHUNK).max(1);
        for index in 0..chunks {
            let read = source.exec_as_postgres(script("mirrorset-read", READ_CHUNK).args([
                copy.from_path.to_owned(),
                CHUNK.to_string(),
                index.to_string(),
            ]))?;
            if !read.success() {
                return Err(self.failed(
                    name,
                    format!(
                        "reading {}:{}: {}",
                        copy.from_node,
                        copy.from_path,
                        read.failure_reason()
                    ),
                ));
            }
            let written = target.exec_as_postgres(
                script("mirrorset-append", APPEND_CHUNK)
                    .args([copy.path.to_owned(), index.to_string()])
                    .stdin(read.stdout),
            )?;
            if !written.success() {
                return Err(self.failed(
                    name,
                    format!("writing {}: {}", copy.path, written.failure_reason()),
                ));
            }
            if chunks > 1 {
                advance(&format!("{} of {} chunks", index + 1, chunks));
            }
        }
        let finish = script("mirrorset-finish", FINISH).args([
            copy.path.to_owned(),
            copy.sha256.to_owned(),
            format!("{:o}", copy.mode),
            if copy.sensitive { "discard" } else { "keep" }.to_owned(),
            crate::transport::utc_stamp(),
            copy.owner.to_owned(),
        ]);
        // Handing the copy to another user takes root, which the plan made
        // sure the login is; otherwise it stays the PostgreSQL OS user's.
        let finished = if copy.owner == target.postgres_user() {
            target.exec_as_postgres(finish)?
        } else {
            target.exec(&finish)?
        };
        if finished.status == Some(4) {
            return Err(self.failed(
                name,
                format!(
                    "{}: {}; nothing was replaced (does that user exist on {name}?)",
                    copy.path,
                    finished.failure_reason()
                ),
            ));
        }
        if !finished.success() {
            return Err(self.failed(
                name,
                format!(
                    "{} changed on {} while it was copied, or the copy was damaged ({}); nothing was replaced, plan again",
                    copy.from_path,
                    copy.from_node,
                    finished.failure_reason()
                ),
            ));
        }
        Ok(None)
    }
}
