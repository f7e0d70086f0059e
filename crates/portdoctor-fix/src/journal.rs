//! The journal: every change portdoctor makes to a firewall, before and after, append-only,
//! under a lock so two runs cannot interleave. A change is written `planned` (with the old
//! state saved beside it) before anything is applied, then `applied`, `undone`, `failed`,
//! `confirmed`, `expired`; the latest event says where a change stands. A run that dies
//! between `planned` and `applied` leaves a change the next run finds and repairs.
//!
//! Location: `$PORTDOCTOR_STATE_DIR`, else `/var/lib/portdoctor`: `journal.jsonl`, `lock`,
//! and `changes/<id>/` with the saved state.

use crate::FixError;
use crate::change::Change;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Where a change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Written before applying; if it stays so, the run was interrupted.
    Planned,
    /// Applied and verified on the re-read rules.
    Applied,
    /// Applied, waiting for `portdoctor confirm ID` (rolled back otherwise).
    AwaitingConfirm,
    /// Confirmed in time.
    Confirmed,
    /// Undone (by `undo`, a TTL, or a missed confirmation).
    Undone,
    /// Failed; nothing of it stayed (rolled back).
    Failed,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// The change.
    pub id: String,
    /// Unix time, seconds.
    pub at: u64,
    /// New status.
    pub status: Status,
    /// Why (for failures, undo by TTL, repairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The change itself, on the first event of each id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
}

/// The journal in a state directory.
pub struct Journal {
    dir: PathBuf,
}

/// The state directory: `$PORTDOCTOR_STATE_DIR`, else `/var/lib/portdoctor`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("PORTDOCTOR_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/portdoctor"))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FixError + '_ {
    move |source| FixError::Journal {
        path: path.display().to_string(),
        source,
    }
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An exclusive lock on the journal, released on drop.
pub struct Lock {
    _file: File,
}

impl Journal {
    /// Opens (creating the directory when missing) the journal in `dir`.
    pub fn open(dir: &Path) -> Result<Journal, FixError> {
        std::fs::create_dir_all(dir.join("changes")).map_err(io(dir))?;
        Ok(Journal {
            dir: dir.to_path_buf(),
        })
    }

    /// The journal file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    /// The directory of one change's saved state.
    pub fn change_dir(&self, id: &str) -> PathBuf {
        self.dir.join("changes").join(id)
    }

    /// Takes the journal's lock (waits for another run to finish).
    pub fn lock(&self) -> Result<Lock, FixError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        lock_file(&file).map_err(io(&path))?;
        Ok(Lock { _file: file })
    }

    /// Every event, in order. A line that does not parse is an error with its number.
    pub fn events(&self) -> Result<Vec<Event>, FixError> {
        let path = self.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut out = vec![];
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io(&path))?;
            if line.trim().is_empty() {
                continue;
            }
            let e: Event = serde_json::from_str(&line).map_err(|e| FixError::CorruptJournal {
                path: path.display().to_string(),
                line: i + 1,
                message: e.to_string(),
            })?;
            out.push(e);
        }
        Ok(out)
    }

    /// Appends an event (the journal is checked first: a damaged one is never written to).
    pub fn append(&self, event: &Event) -> Result<(), FixError> {
        self.events()?;
        let path = self.path();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        let line = serde_json::to_string(event).expect("events serialise");
        writeln!(f, "{line}").map_err(io(&path))?;
        f.sync_all().map_err(io(&path))
    }

    /// Every change with its latest status, oldest first.
    pub fn changes(&self) -> Result<Vec<(Change, Status, Vec<Event>)>, FixError> {
        let events = self.events()?;
        let mut out: Vec<(Change, Status, Vec<Event>)> = vec![];
        for e in events {
            match out.iter_mut().find(|(c, _, _)| c.id == e.id) {
                Some((_, status, evs)) => {
                    *status = e.status;
                    evs.push(e);
                }
                None => {
                    if let Some(c) = e.change.clone() {
                        out.push((c, e.status, vec![e]));
                    }
                }
            }
        }
        Ok(out)
    }

    /// One change by id.
    pub fn change(&self, id: &str) -> Result<(Change, Status), FixError> {
        self.changes()?
            .into_iter()
            .find(|(c, _, _)| c.id == id)
            .map(|(c, s, _)| (c, s))
            .ok_or_else(|| FixError::UnknownChange(id.to_string()))
    }

    /// Records a status change.
    pub fn mark(&self, id: &str, status: Status, note: Option<String>) -> Result<(), FixError> {
        self.append(&Event {
            id: id.to_string(),
            at: now(),
            status,
            note,
            change: None,
        })
    }

    /// Saves a text of the old state beside the change.
    pub fn save(&self, id: &str, name: &str, text: &str) -> Result<(), FixError> {
        let dir = self.change_dir(id);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(&path))
    }
}

#[cfg(unix)]
fn lock_file(f: &File) -> std::io::Result<()> {
    rustix::fs::flock(f, rustix::fs::FlockOperation::LockExclusive).map_err(std::io::Error::from)
}

#[cfg(not(unix))]
fn lock_file(_f: &File) -> std::io::Result<()> {
    // Windows: the file is opened for writing; exclusive sharing is the default there.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_journal_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        std::fs::write(j.path(), "{\"id\":\"a\"\nnot json\n").unwrap();
        let e = j.mark("a", Status::Undone, None).unwrap_err();
        assert!(matches!(e, FixError::CorruptJournal { line: 1, .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(j.path()).unwrap(),
            "{\"id\":\"a\"\nnot json\n"
        );
    }

    #[test]
    fn a_missing_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        let j = Journal::open(&deep).unwrap();
        assert!(j.events().unwrap().is_empty());
        assert!(deep.join("changes").is_dir());
    }
}
