//! Rendering: JSON or human tables, colour policy, and a stdout that reports broken pipes.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use std::io::{self, Write};

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of tables.
    pub json: bool,
    /// Use colour and styling.
    pub color: bool,
}

impl Output {
    /// Writes a value as pretty JSON plus a newline.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::other)?;
        writeln!(out)?;
        out.flush()
    }

    /// Writes text as is.
    pub fn text(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Writes one line.
    pub fn line(&self, text: &str) -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "{text}")
    }

    /// A table in the project's style, with the given header.
    pub fn table<I: IntoIterator<Item = S>, S: Into<comfy_table::Cell>>(&self, header: I) -> Table {
        let mut t = Table::new();
        t.load_preset(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header);
        if !self.color {
            t.force_no_tty();
        }
        t
    }

    /// Styles a warning word (yellow) when colour is on.
    pub fn warn(&self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Styles an error word (red) when colour is on.
    pub fn bad(&self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Styles a good word (green) when colour is on.
    pub fn good(&self, text: &str) -> String {
        self.paint("32", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Writes a note line to stderr (human mode only; JSON carries notes in its own fields).
pub fn note(text: &str) {
    let _ = writeln!(io::stderr(), "note: {text}");
}
