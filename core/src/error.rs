//! Typed errors. Every user-facing failure (bad file, bad argument, degenerate data) is one of
//! these; library code never panics on user input, because a panic in wasm kills the page.

/// Error type of `rme-core`.
#[derive(Debug, thiserror::Error)]
pub enum RmeError {
    /// A text or binary input could not be parsed. `source_name` names the file (or "input"),
    /// `line` is 1-based where it applies.
    #[error("{source_name}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Parse {
        /// The file (or "input").
        source_name: String,
        /// 1-based line, where it applies.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// An argument or a data set is not acceptable (NaN, out of range, mismatched shapes…).
    #[error("invalid {what}: {message}")]
    Invalid {
        /// The argument or data set.
        what: String,
        /// What is wrong with it.
        message: String,
    },
    /// A set that must hold something is empty.
    #[error("{0} is empty")]
    Empty(String),
    /// A numerical procedure failed (singular system, no convergence).
    #[error("numerical failure in {what}: {message}")]
    Numerical {
        /// The procedure.
        what: String,
        /// How it failed.
        message: String,
    },
    /// The method cannot answer this request (e.g. a transmitter position it needs is absent).
    #[error("{method} cannot be used here: {message}")]
    Unsupported {
        /// The method.
        method: String,
        /// Why it cannot answer.
        message: String,
    },
}

impl RmeError {
    /// A parse error in `source_name`, at `line` where it applies.
    pub fn parse(source_name: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        RmeError::Parse { source_name: source_name.into(), line, message: message.into() }
    }
    /// An unacceptable argument or data set, `what` naming it.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        RmeError::Invalid { what: what.into(), message: message.into() }
    }
    /// A numerical failure in `what`.
    pub fn numerical(what: impl Into<String>, message: impl Into<String>) -> Self {
        RmeError::Numerical { what: what.into(), message: message.into() }
    }
    /// A request `method` cannot answer.
    pub fn unsupported(method: impl Into<String>, message: impl Into<String>) -> Self {
        RmeError::Unsupported { method: method.into(), message: message.into() }
    }
}

/// Result of `rme-core`'s fallible functions.
pub type Result<T> = std::result::Result<T, RmeError>;
