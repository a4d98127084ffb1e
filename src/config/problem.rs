//! One thing wrong with a cluster file, as a miette diagnostic: a stable
//! code, a message, labels on exact spans and a help line. Pure.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

use super::Rule;

#[derive(Debug, Clone)]
pub struct Problem {
    rule: Rule,
    message: String,
    labels: Vec<(Range<usize>, String)>,
    help: Option<String>,
    source: Option<NamedSource<Arc<String>>>,
}

impl Problem {
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            source: None,
        }
    }

    /// Points at `span` with `label`; the first label is the primary one.
    pub fn at(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.labels.push((span, label.into()));
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn rule(&self) -> Rule {
        self.rule
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The primary span, if any.
    pub fn span(&self) -> Option<Range<usize>> {
        self.labels.first().map(|(span, _)| span.clone())
    }

    pub(crate) fn in_source(mut self, source: NamedSource<Arc<String>>) -> Self {
        self.source = Some(source);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.rule.code()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|source| source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() || self.source.is_none() {
            return None;
        }
        Some(Box::new(self.labels.iter().enumerate().map(
            |(index, (span, label))| {
                let span = span.start..span.end.max(span.start);
                if index == 0 {
                    LabeledSpan::new_primary_with_span(Some(label.clone()), span)
                } else {
                    LabeledSpan::new_with_span(Some(label.clone()), span)
                }
            },
        )))
    }
}
