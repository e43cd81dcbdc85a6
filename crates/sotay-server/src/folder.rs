//! The server's data folder holds personal data (names, phone numbers, ID hashes) and the
//! office's password hashes, so it is its owner's only: the folder 0700, every file in it
//! 0600. [`private_umask`] makes every file and folder the process creates from then on
//! private (the database, SQLite's WAL and shared-memory files, anything written beside
//! them); [`prepare`] creates the folder, and tightens one made by an earlier version or by
//! hand. On systems without Unix permissions both do nothing.

use std::io;
use std::path::{Path, PathBuf};

/// The database file's name in the data folder.
pub const DB_FILE: &str = "sotay-server.db";

/// Sets the process's file-creation mask to 077: whatever the server creates from now on is
/// readable and writable by its owner only.
pub fn private_umask() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates the data folder 0700 if it is missing, makes it and every file and folder
/// directly in it private (0700 for folders, 0600 for files) and creates the database file
/// 0600 if it is missing (SQLite gives the WAL and shared-memory files the database file's
/// mode). Returns the database file's path and how many entries had to be tightened.
pub fn prepare(dir: &Path) -> io::Result<(PathBuf, usize)> {
    let mut tightened = 0;
    let db = dir.join(DB_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let mut private = |path: &Path, mode: u32| -> io::Result<()> {
            let meta = std::fs::symlink_metadata(path)?;
            if meta.file_type().is_symlink() {
                return Ok(());
            }
            if meta.permissions().mode() & 0o777 != mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
                tightened += 1;
            }
            Ok(())
        };
        private(dir, 0o700)?;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                private(&entry.path(), 0o700)?;
            } else if kind.is_file() {
                private(&entry.path(), 0o600)?;
            }
        }
        std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&db)?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok((db, tightened))
}
