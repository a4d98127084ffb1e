//! How apply tells the operator what it does, without knowing where the
//! words go (a terminal, a log, a test). Pure trait.

use std::time::Duration;

use crate::plan::Action;

pub trait Progress: Sync {
    /// Action `number` of `total` begins.
    fn start(&self, number: usize, total: usize, action: &Action);
    /// It ended well; `note` says what came of it (a backup's name, the lag).
    fn finish(
        &self,
        number: usize,
        total: usize,
        action: &Action,
        elapsed: Duration,
        note: Option<&str>,
    );
    /// How a long step is getting on ("40% of 310 MB").
    fn advance(&self, number: usize, total: usize, action: &Action, detail: &str);
    /// Something the operator should see that does not stop the run.
    fn warn(&self, message: &str);
    /// Action `number` failed; said when it happens, before the run ends.
    fn fail(&self, number: usize, total: usize, action: &Action, message: &str);
}
