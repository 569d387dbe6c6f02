//! The one way a command writes its files: all of them or none. Every file is first written
//! to a temporary beside its final name; only when all are complete are they renamed into
//! place. A failure (a bad path, a full disk) removes the temporaries and leaves every
//! existing file as it was.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The files one command writes, committed together.
#[derive(Default)]
pub struct Outputs {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Outputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file (a later one with the same path replaces it).
    pub fn add(&mut self, path: impl Into<PathBuf>, bytes: impl Into<Vec<u8>>) {
        let path = path.into();
        self.files.retain(|(p, _)| *p != path);
        self.files.push((path, bytes.into()));
    }

    /// Writes every file to its temporary, then renames them all into place; on any error
    /// the temporaries are removed and no final file has been touched.
    pub fn commit(self) -> Result<()> {
        let mut staged: Vec<(PathBuf, &Path)> = Vec::new();
        let result = (|| -> Result<()> {
            for (path, bytes) in &self.files {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                let tmp = temporary_for(path);
                // Registered before writing, so that a half-written one is removed too.
                staged.push((tmp.clone(), path));
                std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for (tmp, _) in &staged {
                let _ = std::fs::remove_file(tmp);
            }
            return Err(e);
        }
        for (i, (tmp, path)) in staged.iter().enumerate() {
            if let Err(e) = std::fs::rename(tmp, path) {
                for (t, _) in &staged[i..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(e).with_context(|| format!("renaming into {}", path.display()));
            }
        }
        Ok(())
    }
}

/// A hidden name beside `path`, unique to this process: `.NAME.PID.partial`.
fn temporary_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.partial", std::process::id()))
}

/// Writes one file all-or-nothing (an [`Outputs`] of one).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut o = Outputs::new();
    o.add(path, bytes);
    o.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rme-outputs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn all_files_or_none_and_no_temporaries_left() {
        let d = scratch("all");
        std::fs::write(d.join("a.csv"), "SENTINEL").unwrap();
        // The second file cannot be made: its parent is a file.
        std::fs::write(d.join("blocker"), "").unwrap();
        let mut o = Outputs::new();
        o.add(d.join("a.csv"), "new");
        o.add(d.join("blocker/b.npy"), "x");
        assert!(o.commit().is_err());
        assert_eq!(std::fs::read_to_string(d.join("a.csv")).unwrap(), "SENTINEL");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");

        let mut o = Outputs::new();
        o.add(d.join("a.csv"), "new");
        o.add(d.join("sub/b.npy"), "x");
        o.commit().unwrap();
        assert_eq!(std::fs::read_to_string(d.join("a.csv")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(d.join("sub/b.npy")).unwrap(), "x");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_full_disk_leaves_no_partial_file() {
        // /dev/full fails every write with ENOSPC; its folder cannot take a temporary, so
        // use a path whose temporary write fails instead: a folder in the temporary's place.
        let d = scratch("full");
        std::fs::create_dir_all(d.join(format!(".o.csv.{}.partial", std::process::id()))).unwrap();
        std::fs::write(d.join("o.csv"), "SENTINEL").unwrap();
        assert!(write_atomic(&d.join("o.csv"), b"new").is_err());
        assert_eq!(std::fs::read_to_string(d.join("o.csv")).unwrap(), "SENTINEL");
        let _ = std::fs::remove_dir_all(&d);
    }
}
