//! Errors of the Windows readers: always the file, 1-based line and column.

use thiserror::Error;

/// Why a Windows Firewall export could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadError {
    /// Malformed content.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column (characters).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// `netsh` text whose labels were destroyed by a code-page mismatch (`?` for every CJK
    /// character) or are in a language without a label table.
    #[error(
        "{file}:{line}:{column}: cannot read this netsh output ({reason}); netsh labels and \
         values are localised and a console code page can destroy them: run the PowerShell \
         export instead (`portdoctor windows-export`), which is the same in every language"
    )]
    UnreadableLocale {
        /// File name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was seen.
        reason: String,
    },
    /// The text is none of the recognised formats.
    #[error("{file}: not a Windows Firewall export this reader knows ({hint})")]
    Unrecognised {
        /// File name.
        file: String,
        /// What it looked like.
        hint: String,
    },
}

impl LoadError {
    /// A syntax error.
    pub fn syntax(file: &str, line: usize, column: usize, message: impl Into<String>) -> LoadError {
        LoadError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
        }
    }

    /// The 1-based (line, column), when the error has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            LoadError::Syntax { line, column, .. }
            | LoadError::UnreadableLocale { line, column, .. } => Some((*line, *column)),
            LoadError::Unrecognised { .. } => None,
        }
    }
}

/// 1-based column of byte offset `at` in `line` (in characters).
pub(crate) fn column_of(line: &str, at: usize) -> usize {
    line.get(..at.min(line.len()))
        .map_or(1, |s| s.chars().count() + 1)
}
