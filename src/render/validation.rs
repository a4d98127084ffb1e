//! Renders cluster-file problems as miette reports: colour only on a
//! terminal and never with NO_COLOR, a fixed width off a terminal so
//! output is the same in CI logs and tests. Pure.

use std::io::IsTerminal;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme};

/// How reports look; decided once per run from the environment, or fixed in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportStyle {
    pub color: bool,
    pub width: usize,
}

/// The width used whenever the output is not a terminal.
pub const DEFAULT_WIDTH: usize = 100;

impl ReportStyle {
    /// Plain and 100 columns wide: what tests and pipes get.
    pub const PLAIN: Self = Self {
        color: false,
        width: DEFAULT_WIDTH,
    };

    /// Colour when stderr is a terminal and NO_COLOR is unset; its width when it is a terminal.
    pub fn for_stderr() -> Self {
        let stderr = std::io::stderr();
        let terminal = stderr.is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let width = terminal
            .then(|| terminal_size::terminal_size_of(&stderr))
            .flatten()
            .map(|(terminal_size::Width(width), _)| usize::from(width))
            .unwrap_or(DEFAULT_WIDTH);
        Self {
            color: terminal && !no_color,
            width,
        }
    }

    /// Colour for standard output: a terminal, and NO_COLOR unset.
    pub fn stdout_color() -> bool {
        std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
    }

    pub fn handler(self) -> GraphicalReportHandler {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        GraphicalReportHandler::new_themed(theme)
            .with_width(self.width)
            .with_links(false)
    }
}

/// Every problem as its own report, separated by blank lines.
pub fn render_problems<'a>(
    problems: impl IntoIterator<Item = &'a (dyn Diagnostic + 'a)>,
    style: ReportStyle,
) -> String {
    let handler = style.handler();
    let mut out = String::new();
    for problem in problems {
        let mut report = String::new();
        handler
            .render_report(&mut report, problem)
            .expect("rendering into a String cannot fail");
        out.push_str(report.trim_end());
        out.push_str("\n\n");
    }
    out
}
