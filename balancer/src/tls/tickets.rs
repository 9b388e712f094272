//! TLS session tickets sealed with keys from a file (`ticket_keys`, HAProxy's
//! `tls-ticket-keys`), so that a ticket issued by one balancer process resumes on another:
//! the process that replaces it in an upgrade, or a second balancer behind the same name.
//! Without a file each process makes its own keys and resumption ends with the process.
//!
//! The file is HAProxy's: one base64 key per line (48 bytes: AES-128, or 80 bytes: AES-256;
//! the first 16 bytes name the key), at least three keys; the last three decrypt and the
//! second-to-last encrypts. Rotation is HAProxy's too: append a key to every node's file,
//! then upgrade each — a node that already has the new key can read tickets from one that
//! does not yet encrypt with it — or, without an upgrade, `set ssl tls-key` on the runtime API
//! (the new key last, the oldest dropped, as HAProxy does). Tickets are AES-GCM sealed (the HMAC part of a key is
//! unused: GCM authenticates), the key's name is the additional data.

use arc_swap::ArcSwap;
use base64::Engine;
use ring::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How many of the file's last keys decrypt (HAProxy's `TLS_TICKETS_NO`).
pub const KEYS_IN_USE: usize = 3;
/// The lifetime hint given to clients, in seconds (OpenSSL's default, HAProxy's too).
const LIFETIME: u32 = 7200;
const NAME_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum TicketKeysError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}:{line}: not a base64 ticket key", path.display())]
    Base64 { path: PathBuf, line: usize },
    #[error("{}:{line}: a ticket key is 48 bytes (AES-128) or 80 bytes (AES-256) once base64-decoded, this one is {len} (make one with `openssl rand 80 | openssl base64 -A`)", path.display())]
    Length { path: PathBuf, line: usize, len: usize },
    #[error("{}:{line}: a {len}-byte key after {first}-byte ones; one file holds one kind", path.display())]
    Mixed {
        path: PathBuf,
        line: usize,
        len: usize,
        first: usize,
    },
    #[error("{}: {found} ticket key(s); at least {KEYS_IN_USE} are needed (the last {KEYS_IN_USE} decrypt, the second-to-last encrypts)", path.display())]
    TooFew { path: PathBuf, found: usize },
}

/// The keys in use: `keys[1]` encrypts, all three decrypt. Never printed (Debug says how many).
pub struct TicketKeys {
    keys: ArcSwap<Vec<Key>>,
    rng: SystemRandom,
}

#[derive(Clone)]
struct Key {
    name: [u8; NAME_LEN],
    aead: Arc<LessSafeKey>,
    /// 48 or 80: the file's kind, which a key set at run time must match.
    len: usize,
}

impl std::fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKeys({} keys)", self.keys.load().len())
    }
}

impl TicketKeys {
    pub fn load(path: &Path) -> Result<Self, TicketKeysError> {
        let text = std::fs::read_to_string(path).map_err(|source| TicketKeysError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self, TicketKeysError> {
        let path = || path.to_path_buf();
        let mut raw: Vec<Vec<u8>> = Vec::new();
        for (i, l) in text.lines().enumerate() {
            let (line, l) = (i + 1, l.trim());
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(l)
                .map_err(|_| TicketKeysError::Base64 { path: path(), line })?;
            let len = bytes.len();
            if len != 48 && len != 80 {
                return Err(TicketKeysError::Length {
                    path: path(),
                    line,
                    len,
                });
            }
            if let Some(first) = raw.first().map(Vec::len).filter(|&f| f != len) {
                return Err(TicketKeysError::Mixed {
                    path: path(),
                    line,
                    len,
                    first,
                });
            }
            raw.push(bytes);
        }
        if raw.len() < KEYS_IN_USE {
            return Err(TicketKeysError::TooFew {
                path: path(),
                found: raw.len(),
            });
        }
        let keys: Vec<Key> = raw[raw.len() - KEYS_IN_USE..].iter().map(|b| Key::new(b)).collect();
        Ok(Self {
            keys: ArcSwap::from_pointee(keys),
            rng: SystemRandom::new(),
        })
    }

    /// `set ssl tls-key`: `b64` becomes the last key (the one that encrypts next time), the
    /// oldest is dropped. The error never repeats the key.
    pub fn rotate(&self, b64: &str) -> Result<(), String> {
        let bytes = (base64::engine::general_purpose::STANDARD.decode(b64.trim()))
            .map_err(|_| "the TLS ticket key is not base64".to_string())?;
        let len = self.keys.load()[0].len;
        if bytes.len() != len {
            return Err(format!(
                "the TLS ticket key is {} bytes once decoded; this listener's keys are {len}",
                bytes.len()
            ));
        }
        let key = Key::new(&bytes);
        self.keys.rcu(|old| {
            let mut next: Vec<Key> = old[1..].to_vec();
            next.push(key.clone());
            next
        });
        Ok(())
    }

    /// The names of the keys in use, hex, for `show tls-keys`: which keys a node runs with
    /// can be compared across nodes without showing a key.
    pub fn names(&self) -> Vec<String> {
        let hex = |n: &[u8]| n.iter().map(|b| format!("{b:02x}")).collect::<String>();
        self.keys.load().iter().map(|k| hex(&k.name)).collect()
    }
}

impl Key {
    /// 48 bytes: name(16) hmac(16) aes(16); 80 bytes: name(16) hmac(32) aes(32).
    fn new(b: &[u8]) -> Self {
        let mut name = [0; NAME_LEN];
        name.copy_from_slice(&b[..NAME_LEN]);
        let (alg, aes) = match b.len() {
            48 => (&AES_128_GCM, &b[32..48]),
            _ => (&AES_256_GCM, &b[48..80]),
        };
        let key = UnboundKey::new(alg, aes).expect("the length matches the algorithm");
        Self {
            name,
            aead: Arc::new(LessSafeKey::new(key)),
            len: b.len(),
        }
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        LIFETIME
    }

    /// name ‖ nonce ‖ sealed(plain) ‖ tag.
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.keys.load();
        let key = &keys[1];
        let mut nonce = [0; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut out = Vec::with_capacity(NAME_LEN + NONCE_LEN + plain.len() + 16);
        out.extend_from_slice(&key.name);
        out.extend_from_slice(&nonce);
        let mut body = plain.to_vec();
        let nonce = Nonce::assume_unique_for_key(nonce);
        key.aead
            .seal_in_place_append_tag(nonce, Aad::from(key.name), &mut body)
            .ok()?;
        out.extend_from_slice(&body);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        if cipher.len() < NAME_LEN + NONCE_LEN + 16 {
            return None;
        }
        let (name, rest) = cipher.split_at(NAME_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let keys = self.keys.load();
        let key = keys.iter().find(|k| k.name == name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = sealed.to_vec();
        let plain = key.aead.open_in_place(nonce, Aad::from(key.name), &mut body).ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(fill: u8, len: usize) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![fill; len])
    }

    fn file(keys: &[String]) -> String {
        keys.join("\n") + "\n"
    }

    fn parse(text: &str) -> Result<TicketKeys, TicketKeysError> {
        TicketKeys::parse(text, Path::new("/etc/t.keys"))
    }

    #[test]
    fn a_ticket_opens_on_another_process_with_the_same_file_and_after_a_rotation() {
        let three = file(&[key(1, 80), key(2, 80), key(3, 80)]);
        let (a, b) = (parse(&three).unwrap(), parse(&three).unwrap());
        let t = a.encrypt(b"session state").unwrap();
        assert_eq!(&t[..16], &[2; 16], "the second-to-last key encrypts");
        assert_eq!(b.decrypt(&t).unwrap(), b"session state");
        // A node that got the fourth key reads tickets of one that did not yet.
        let four = parse(&file(&[key(1, 80), key(2, 80), key(3, 80), key(4, 80)])).unwrap();
        assert_eq!(four.decrypt(&t).unwrap(), b"session state");
        assert_eq!(a.decrypt(&four.encrypt(b"x").unwrap()).unwrap(), b"x");
        // Rotated out: key 2 no longer decrypts.
        let later = parse(&file(&[key(3, 80), key(4, 80), key(5, 80)])).unwrap();
        assert_eq!(later.decrypt(&t), None);
    }

    #[test]
    fn a_key_set_at_run_time_rotates_like_an_appended_line() {
        let k = parse(&file(&[key(1, 80), key(2, 80), key(3, 80)])).unwrap();
        let old = k.encrypt(b"s").unwrap();
        k.rotate(&key(4, 80)).unwrap();
        assert_eq!(&k.encrypt(b"s").unwrap()[..16], &[3; 16], "key 3 encrypts now");
        assert_eq!(k.decrypt(&old).unwrap(), b"s", "key 2 still decrypts");
        assert_eq!(k.names()[2], "04".repeat(16));
        k.rotate(&key(5, 80)).unwrap();
        assert_eq!(k.decrypt(&old), None, "key 2 dropped");
        let e = k.rotate(&key(6, 48)).unwrap_err();
        assert_eq!(
            e,
            "the TLS ticket key is 48 bytes once decoded; this listener's keys are 80"
        );
        assert_eq!(k.rotate("*").unwrap_err(), "the TLS ticket key is not base64");
        assert_eq!(k.names()[2], "05".repeat(16), "refused keys change nothing");
    }

    #[test]
    fn aes128_keys_work_and_forged_or_cut_tickets_do_not_open() {
        let k = parse(&file(&[key(7, 48), key(8, 48), key(9, 48)])).unwrap();
        let t = k.encrypt(b"state").unwrap();
        assert_ne!(t, k.encrypt(b"state").unwrap(), "a fresh nonce each time");
        assert_eq!(k.decrypt(&t).unwrap(), b"state");
        for i in [0, 20, t.len() - 1] {
            let mut bad = t.clone();
            bad[i] ^= 1;
            assert_eq!(k.decrypt(&bad), None, "byte {i} flipped");
        }
        assert_eq!(k.decrypt(&t[..30]), None);
        assert_eq!(k.decrypt(b""), None);
        let other = parse(&file(&[key(7, 80), key(8, 80), key(9, 80)])).unwrap();
        assert_eq!(other.decrypt(&t), None, "same names, other key material");
    }

    #[test]
    fn bad_files_name_the_file_and_line_and_never_the_key() {
        let err = |t: &str| parse(t).unwrap_err().to_string();
        let e = err(&file(&[key(1, 80), "not*base64".into(), key(3, 80)]));
        assert_eq!(e, "/etc/t.keys:2: not a base64 ticket key");
        let e = err(&file(&["# comment".into(), key(1, 80), key(2, 64)]));
        assert!(e.starts_with("/etc/t.keys:3: a ticket key is 48 bytes"), "{e}");
        assert!(!e.contains(&key(2, 64)));
        let e = err(&file(&[key(1, 80), key(2, 48), key(3, 80)]));
        assert!(e.starts_with("/etc/t.keys:2: a 48-byte key after 80-byte ones"), "{e}");
        let e = err(&file(&[key(1, 80), key(2, 80)]));
        assert!(e.starts_with("/etc/t.keys: 2 ticket key(s); at least 3"), "{e}");
        let k = parse(&file(&[key(1, 80), key(2, 80), key(3, 80)])).unwrap();
        assert_eq!(format!("{k:?}"), "TicketKeys(3 keys)");
        assert_eq!(k.names()[0], "01".repeat(16));
    }
}
