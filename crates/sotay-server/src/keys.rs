//! The server's secrets, in a key file of their own beside (never inside) the database.
//!
//! Two kinds of key live here: the private half of the key devices seal citizen-ID numbers
//! to ([`OpenKey`]; the public half goes to every device at enrolment), and each commune's
//! HMAC key that turns a number into the hash records keep ([`CidKey`]). A citizen-ID
//! number has about 40 bits of entropy, so a hash together with its key gives the number
//! back in seconds: the hashes are in the database, the keys only here. A copy of the
//! database alone (a stolen backup, a curious office user with file access) therefore
//! identifies no one by ID number; a copy of both does, which is why backups keep the key
//! file apart and encrypted (README, "Backups").
//!
//! The file is JSON, created with mode 0600 in one step (no moment at which it is readable
//! by others), written to a temporary file that is synced and renamed over the old one, and
//! the folder synced, so a power cut leaves the old file or the new one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::citizen_id::{CidKey, CitizenId, OpenKey, SealKey};

/// Why the key file could not be used. Never carries a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key file could not be read or written ({0})")]
    Io(std::io::ErrorKind),
    #[error("the key file is damaged")]
    Damaged,
    #[error("the key file is missing, but the database already holds communes")]
    Missing,
    #[error("the two key files give the same commune different keys")]
    Clash,
}

impl From<std::io::Error> for KeyError {
    fn from(e: std::io::Error) -> Self {
        KeyError::Io(e.kind())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    version: u32,
    /// The sealing key's secret, hex.
    seal_secret: String,
    /// Commune code → (key id, key hex).
    communes: BTreeMap<String, (String, String)>,
    /// The sealing secrets of servers whose data moved here (`migrate`), hex: their devices
    /// still seal to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    earlier_seals: Vec<String>,
}

/// The server's keys, loaded from (and saved to) their file.
pub struct ServerKeys {
    path: PathBuf,
    open: OpenKey,
    earlier: Vec<OpenKey>,
    communes: BTreeMap<String, CidKey>,
}

impl std::fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKeys({}, {} communes)", self.path.display(), self.communes.len())
    }
}

impl ServerKeys {
    /// Reads the key file; `None` if there is none.
    pub fn load(path: impl AsRef<Path>) -> Result<Option<ServerKeys>, KeyError> {
        let path = path.as_ref().to_owned();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: KeyFile = serde_json::from_slice(&bytes).map_err(|_| KeyError::Damaged)?;
                let open = OpenKey::from_hex(&file.seal_secret).ok_or(KeyError::Damaged)?;
                let earlier = file
                    .earlier_seals
                    .iter()
                    .map(|s| OpenKey::from_hex(s).ok_or(KeyError::Damaged))
                    .collect::<Result<_, _>>()?;
                let mut communes = BTreeMap::new();
                for (code, (id, key)) in file.communes {
                    communes.insert(code, CidKey::from_hex(id, &key).ok_or(KeyError::Damaged)?);
                }
                Ok(Some(ServerKeys { path, open, earlier, communes }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes and saves a new key file: a fresh sealing key, no commune yet.
    pub fn create(path: impl AsRef<Path>) -> Result<ServerKeys, KeyError> {
        let keys = ServerKeys {
            path: path.as_ref().to_owned(),
            open: OpenKey::generate(),
            earlier: Vec::new(),
            communes: BTreeMap::new(),
        };
        keys.save()?;
        Ok(keys)
    }

    /// Reads the key file, or makes a new one if there is none.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<ServerKeys, KeyError> {
        match ServerKeys::load(&path)? {
            Some(keys) => Ok(keys),
            None => ServerKeys::create(path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The public key devices seal ID numbers to.
    pub fn seal_key(&self) -> &SealKey {
        self.open.seal_key()
    }

    /// The number inside a value a device sealed, if it was sealed to this server (or to a
    /// server whose data moved here).
    pub fn open(&self, sealed: &str) -> Option<CitizenId> {
        self.open.open(sealed).or_else(|| self.earlier.iter().find_map(|k| k.open(sealed)))
    }

    /// Takes in the keys of a server whose data moves here (`migrate`): its communes'
    /// hashing keys, and its sealing key for opening what its devices still seal to it;
    /// saved before returning. A commune this file already has with another key is
    /// refused: its stored hashes could not be told apart.
    pub fn take_in(&mut self, other: &ServerKeys) -> Result<(), KeyError> {
        if other.communes.iter().any(|(c, k)| self.communes.get(c).is_some_and(|mine| mine.to_hex() != k.to_hex())) {
            return Err(KeyError::Clash);
        }
        for (c, k) in &other.communes {
            self.communes.entry(c.clone()).or_insert_with(|| k.clone());
        }
        for key in std::iter::once(&other.open).chain(&other.earlier) {
            let known = std::iter::once(&self.open).chain(&self.earlier).any(|k| k.secret_hex() == key.secret_hex());
            if !known {
                self.earlier.push(OpenKey::from_hex(&key.secret_hex()).ok_or(KeyError::Damaged)?);
            }
        }
        self.save()
    }

    /// The commune's hashing key, if it has one.
    pub fn cid_key(&self, commune: &str) -> Option<&CidKey> {
        self.communes.get(commune)
    }

    /// Gives the commune a hashing key if it has none, saving the file before returning.
    pub fn ensure_commune(&mut self, commune: &str) -> Result<&CidKey, KeyError> {
        if !self.communes.contains_key(commune) {
            let mut raw = vec![0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
            self.communes.insert(commune.to_owned(), CidKey::new(format!("commune:{commune}:1"), raw));
            self.save()?;
        }
        Ok(&self.communes[commune])
    }

    /// Takes over a commune key that an older server kept in its database (the hashes
    /// already stored were made with it), saving the file before returning. A commune that
    /// already has a key here keeps it.
    pub fn adopt(&mut self, commune: &str, key: CidKey) -> Result<(), KeyError> {
        if !self.communes.contains_key(commune) {
            self.communes.insert(commune.to_owned(), key);
            self.save()?;
        }
        Ok(())
    }

    /// Drops a commune's hashing key (the demo commune, removed with everything in it),
    /// saving the file before returning.
    pub fn forget(&mut self, commune: &str) -> Result<(), KeyError> {
        if self.communes.remove(commune).is_some() {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<(), KeyError> {
        let file = KeyFile {
            version: 1,
            seal_secret: self.open.secret_hex(),
            communes: self.communes.iter().map(|(c, k)| (c.clone(), (k.id.clone(), k.to_hex()))).collect(),
            earlier_seals: self.earlier.iter().map(OpenKey::secret_hex).collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|_| KeyError::Damaged)?;
        write_private(&self.path, &json)
    }
}

/// Writes `bytes` to `path` through a temporary file created with mode 0600, synced and
/// renamed over it; then syncs the folder, so the rename itself survives a power cut.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("keys-tmp");
    // A temporary file left by a crash is ours and holds nothing newer than the real one.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_private_and_keeps_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sotay-server.keys");
        let mut keys = ServerKeys::load_or_create(&path).unwrap();
        let seal = keys.seal_key().clone();
        let hash_key = keys.ensure_commune("23497").unwrap().to_hex();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let again = ServerKeys::load_or_create(&path).unwrap();
        assert_eq!(again.seal_key(), &seal);
        assert_eq!(again.cid_key("23497").unwrap().to_hex(), hash_key);
        assert!(again.cid_key("99999").is_none());
        let id = CitizenId::parse("051203004567").unwrap();
        assert!(again.open(&id.seal(&seal)).is_some());
        std::fs::write(&path, b"{").unwrap();
        assert!(matches!(ServerKeys::load_or_create(&path), Err(KeyError::Damaged)));
    }
}
