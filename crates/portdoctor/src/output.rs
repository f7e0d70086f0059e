//! Rendering: JSON or human tables, colour policy, and a stdout that reports broken pipes.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use std::io::{self, IsTerminal, Write};

/// Where and how a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print JSON instead of tables.
    pub json: bool,
    /// Use colour and styling.
    pub color: bool,
}

impl Output {
    /// Writes a value as JSON plus a newline: indented for a terminal, compact for a pipe.
    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> io::Result<()> {
        let stdout = io::stdout();
        let pretty = stdout.is_terminal();
        let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
        if pretty {
            serde_json::to_writer_pretty(&mut out, value)
        } else {
            serde_json::to_writer(&mut out, value)
        }
        .map_err(io::Error::other)?;
        writeln!(out)?;
        out.flush()
    }

    /// Writes rows as left-aligned columns separated by two spaces, fast for 100,000 rows.
    ///
    /// Widths count characters, not bytes; colour codes are not expected in cells.
    pub fn grid(&self, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
        let mut line = String::new();
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&header).chain(rows) {
            line.clear();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    let pad = w - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.write_all(line.trim_end().as_bytes())?;
            out.write_all(b"\n")?;
        }
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
