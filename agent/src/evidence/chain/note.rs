//! Signed notes (the C2SP signed-note format) over checkpoints: the agent's
//! Ed25519 key, loading and writing it, and verifying a note's signature.

use super::*;

/// What is wrong with a key, a note or the file holding one.
#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    /// The text does not have the expected form; says what it should be.
    #[error("{0}")]
    Form(&'static str),
    #[error("{what} is not base64: {source}")]
    Base64 {
        what: &'static str,
        source: base64::DecodeError,
    },
    #[error("not a valid Ed25519 key: {0}")]
    Key(#[from] ed25519_dalek::SignatureError),
    #[error("cannot {action} {path}: {source}")]
    File {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    InFile {
        path: std::path::PathBuf,
        source: Box<NoteError>,
    },
    #[error(transparent)]
    Secret(#[from] crate::config::SecretError),
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Algorithm byte of Ed25519 keys in signed notes.
pub(super) const ED25519: u8 = 0x01;

/// A signing key with its name (the signed-note key name).
#[derive(Clone)]
pub struct NoteKey {
    pub name: String,
    key: SigningKey,
}

impl std::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
pub(super) fn key_hash(name: &str, public: &VerifyingKey) -> [u8; 4] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519]);
    h.update(public.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

impl NoteKey {
    /// A new random key.
    pub fn generate(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
        }
    }

    /// The private key as a signed-note skey line:
    /// `PRIVATE+KEY+NAME+HASH+BASE64(0x01 ‖ seed)`.
    pub fn to_skey(&self) -> String {
        let mut b = vec![ED25519];
        b.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            hex::encode(key_hash(&self.name, &self.key.verifying_key())),
            B64.encode(b)
        )
    }

    /// The public key as a signed-note vkey: `NAME+HASH+BASE64(0x01 ‖ key)`.
    pub fn vkey(&self) -> String {
        vkey(&self.name, &self.key.verifying_key())
    }

    /// Parses an skey line.
    ///
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn from_skey(text: &str) -> Result<Self, NoteError> {
        let parts: Vec<&str> = text.trim().splitn(5, '+').collect();
        let [p, k, name, _hash, key] = parts.as_slice() else {
            return Err(NoteError::Form(
                "not a signed-note private key (PRIVATE+KEY+NAME+HASH+KEY)",
            ));
        };
        if *p != "PRIVATE" || *k != "KEY" {
            return Err(NoteError::Form(
                "not a signed-note private key (PRIVATE+KEY+NAME+HASH+KEY)",
            ));
        }
        let raw = B64.decode(key).map_err(|source| NoteError::Base64 {
            what: "the key",
            source,
        })?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ED25519, rest)) => rest
                .try_into()
                .map_err(|_| NoteError::Form("the key is not 32 bytes"))?,
            _ => return Err(NoteError::Form("not an Ed25519 key")),
        };
        Ok(Self {
            name: (*name).to_owned(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Reads an skey file.
    ///
    /// # Errors
    /// When it cannot be read or parsed.
    pub fn load(path: &Path) -> Result<Self, NoteError> {
        let text = std::fs::read_to_string(path).map_err(|source| NoteError::File {
            action: "read the signing key",
            path: path.to_owned(),
            source,
        })?;
        Self::from_skey(&text).map_err(|e| NoteError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// The raw 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The key's fingerprint: hex SHA-256 of its raw public key (the
    /// `keyid` of DSSE signatures).
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.public_key()))
    }

    /// An Ed25519 signature over `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Signs a checkpoint: the full note text.
    pub fn sign_note(&self, origin: &str, size: u64, head_hex: &str) -> String {
        let head = hex::decode(head_hex).unwrap_or_default();
        let text = format!("{origin}\n{size}\n{}\n", B64.encode(head));
        let sig = self.key.sign(text.as_bytes());
        let mut b = key_hash(&self.name, &self.key.verifying_key()).to_vec();
        b.extend_from_slice(&sig.to_bytes());
        format!("{text}\n\u{2014} {} {}\n", self.name, B64.encode(b))
    }
}

/// The checkpoint signing key the config names: a systemd credential, or a
/// file that is created (mode 0600) on first use when missing.
///
/// # Errors
/// When the credential or file cannot be read or the file created.
pub fn load_signer(source: &crate::config::SecretSource) -> Result<NoteKey, NoteError> {
    use crate::config::SecretSource;
    match source {
        SecretSource::File(path) if !path.exists() => {
            let host = crate::evidence::AgentInfo::current().host;
            let key = NoteKey::generate(&format!("restoreproof-{host}"));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| NoteError::File {
                    action: "create",
                    path: dir.to_owned(),
                    source,
                })?;
            }
            write_private(path, &key.to_skey())?;
            tracing::info!(path = %path.display(), public_key = %key.vkey(), "Created the evidence signing key; keep its public key off this host to verify checkpoints.");
            Ok(key)
        }
        SecretSource::File(path) => NoteKey::load(path),
        other => other
            .read("the evidence signing key")
            .map_err(NoteError::from)
            .and_then(|s| NoteKey::from_skey(s.expose())),
    }
}

/// Writes a private key readable by its owner only.
///
/// # Errors
/// When the file cannot be created.
pub fn write_private(path: &Path, text: &str) -> Result<(), NoteError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| NoteError::File {
            action: "create",
            path: path.to_owned(),
            source,
        })?;
    f.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|source| NoteError::File {
            action: "write",
            path: path.to_owned(),
            source,
        })
}

pub(super) fn vkey(name: &str, public: &VerifyingKey) -> String {
    let mut b = vec![ED25519];
    b.extend_from_slice(public.as_bytes());
    format!(
        "{name}+{}+{}",
        hex::encode(key_hash(name, public)),
        B64.encode(b)
    )
}

/// A public key to verify checkpoints with.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    pub name: String,
    pub(super) hash: [u8; 4],
    pub(super) key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses a vkey (`NAME+HASH+BASE64(0x01 ‖ key)`).
    ///
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let parts: Vec<&str> = text.trim().splitn(3, '+').collect();
        let [name, hash, key] = parts.as_slice() else {
            return Err(NoteError::Form("a public key looks like NAME+HASH+KEY, as `restoreproof evidence keygen` prints it"));
        };
        let raw = B64.decode(key).map_err(|source| NoteError::Base64 {
            what: "the public key",
            source,
        })?;
        let bytes: [u8; 32] = match raw.split_first() {
            Some((&ED25519, rest)) => rest
                .try_into()
                .map_err(|_| NoteError::Form("the public key is not 32 bytes"))?,
            _ => return Err(NoteError::Form("not an Ed25519 public key")),
        };
        let key = VerifyingKey::from_bytes(&bytes)?;
        let expected = key_hash(name, &key);
        if hex::encode(expected) != *hash {
            return Err(NoteError::Form(
                "the key hash does not match the name and key",
            ));
        }
        Ok(Self {
            name: (*name).to_owned(),
            hash: expected,
            key,
        })
    }
}
