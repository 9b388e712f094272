//! A frontend's certificates from disk: PEM chains and keys (a file, or a directory of
//! them as HAProxy's `crt DIR`), each checked — the key matches the leaf, the leaf is in
//! its validity period — and indexed by the names it serves (SAN, else CN) for SNI.
//! Every failure names the file.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: no certificate (PEM `CERTIFICATE` block) in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no private key (PEM `PRIVATE KEY` block) in it{hint}", path.display())]
    NoKey { path: PathBuf, hint: &'static str },
    #[error("{}: not PEM: {why}", path.display())]
    Pem { path: PathBuf, why: String },
    #[error("{}: the certificate cannot be parsed: {why}", path.display())]
    Parse { path: PathBuf, why: String },
    #[error("{}: the private key is not usable: {why}", path.display())]
    Key { path: PathBuf, why: String },
    #[error("{}: the private key does not match the certificate", path.display())]
    Mismatch { path: PathBuf },
    #[error("{}: the certificate expired on {not_after}", path.display())]
    Expired { path: PathBuf, not_after: String },
    #[error("{}: the certificate is not valid before {not_before}", path.display())]
    NotYetValid { path: PathBuf, not_before: String },
    #[error("{}: a directory without any *.pem or *.crt file", path.display())]
    EmptyDir { path: PathBuf },
}

/// One loaded certificate: its chain and key, the names it serves, where it came from.
#[derive(Debug)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// DNS names (SAN, else the subject CN), lower-case; `*.example.com` for wildcards.
    pub names: Vec<String>,
    pub path: PathBuf,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// not_before and not_after as the certificate states them.
    pub validity: (String, String),
    pub subject: String,
}

/// The certificates of `cert` (a PEM file or a directory), with the key from `key` when
/// given. Whether each is valid now is [`Loaded::invalid_at`]'s to say.
pub fn load(cert: &Path, key: Option<&Path>) -> Result<Vec<Loaded>, CertError> {
    let read_err = |e| CertError::Read {
        path: cert.to_path_buf(),
        source: e,
    };
    if !std::fs::metadata(cert).map_err(read_err)?.is_dir() {
        return Ok(vec![load_one(cert, key)?]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(cert)
        .map_err(read_err)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "pem" || x == "crt"))
        .collect();
    // Name order makes the default certificate (the first) predictable.
    files.sort();
    if files.is_empty() {
        return Err(CertError::EmptyDir {
            path: cert.to_path_buf(),
        });
    }
    files.iter().map(|f| load_one(f, key)).collect()
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn load_one(path: &Path, key_file: Option<&Path>) -> Result<Loaded, CertError> {
    let p = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|e| CertError::Read { path: p(), source: e })?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Pem {
            path: p(),
            why: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(CertError::NoCertificate { path: p() });
    };
    // The key lives in the cert file (HAProxy's layout), or beside it when `key` is given,
    // or in a sibling `NAME.key` (HAProxy's `ssl-load-extra-files key`).
    let (key_path, key) = match key_file {
        Some(k) => (k.to_path_buf(), read_key(k)?),
        None => match PrivateKeyDer::from_pem_slice(&bytes) {
            Ok(k) => (p(), Some(k)),
            Err(_) => {
                let sibling = path.with_extension("key");
                match sibling.exists() {
                    true => (sibling.clone(), read_key(&sibling)?),
                    false => (p(), None),
                }
            }
        },
    };
    let Some(key) = key else {
        return Err(CertError::NoKey {
            path: key_path,
            hint: if key_file.is_none() {
                " (nor a `key` file set, nor a sibling .key file)"
            } else {
                ""
            },
        });
    };
    let signer = any_supported_type(&key).map_err(|e| CertError::Key {
        path: key_path.clone(),
        why: e.to_string(),
    })?;
    let (_, x509) = X509Certificate::from_der(leaf).map_err(|e| CertError::Parse {
        path: p(),
        why: e.to_string(),
    })?;
    let validity = x509.validity();
    let names = names(&x509);
    let (not_before, not_after) = (validity.not_before, validity.not_after);
    let subject = x509.subject().to_string();
    let ck = CertifiedKey::new(chain, signer);
    if ck.keys_match().is_err() {
        return Err(CertError::Mismatch { path: key_path });
    }
    Ok(Loaded {
        key: Arc::new(ck),
        names,
        path: p(),
        not_before: not_before.timestamp(),
        not_after: not_after.timestamp(),
        validity: (not_before.to_string(), not_after.to_string()),
        subject,
    })
}

impl Loaded {
    /// Why the certificate is not valid at `now` (seconds since the epoch), if it is not.
    pub fn invalid_at(&self, now: i64) -> Option<CertError> {
        let path = self.path.clone();
        if self.not_after < now {
            return Some(CertError::Expired {
                path,
                not_after: self.validity.1.clone(),
            });
        }
        (self.not_before > now).then(|| CertError::NotYetValid {
            path,
            not_before: self.validity.0.clone(),
        })
    }
}

fn read_key(path: &Path) -> Result<Option<PrivateKeyDer<'static>>, CertError> {
    let bytes = std::fs::read(path).map_err(|e| CertError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(PrivateKeyDer::from_pem_slice(&bytes).ok())
}

/// The DNS names a leaf serves: its SAN entries, else its subject's common names.
fn names(x509: &X509Certificate<'_>) -> Vec<String> {
    let san: Vec<String> = match x509.subject_alternative_name() {
        Ok(Some(ext)) => (ext.value.general_names.iter())
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                _ => None,
            })
            .collect(),
        _ => vec![],
    };
    if !san.is_empty() {
        return san;
    }
    (x509.subject().iter_common_name())
        .filter_map(|cn| cn.as_str().ok().map(str::to_ascii_lowercase))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(names: &[&str], days: (i64, i64)) -> (String, String) {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        let day = |d: i64| rcgen::date_time_ymd(2026, 1, 1) + time_days(d);
        params.not_before = day(days.0);
        params.not_after = day(days.1);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn time_days(d: i64) -> time::Duration {
        time::Duration::days(d)
    }

    const JAN_2026: i64 = 1_767_225_600;

    #[test]
    fn a_combined_pem_loads_with_its_names() {
        let dir = tempdir();
        let (c, k) = self_signed(&["grafana.example", "*.influx.example"], (-1, 400));
        std::fs::write(dir.join("site.pem"), format!("{c}{k}")).unwrap();
        let got = load(&dir.join("site.pem"), None).unwrap();
        assert_eq!(got[0].names, ["grafana.example", "*.influx.example"]);
        assert!(got[0].invalid_at(JAN_2026 + 86_400).is_none());
        let e = got[0].invalid_at(JAN_2026 - 3 * 86_400).unwrap().to_string();
        assert!(e.contains("site.pem: the certificate is not valid before"), "{e}");
    }

    #[test]
    fn each_problem_names_its_file() {
        let dir = tempdir();
        let (c, k) = self_signed(&["a.example"], (-10, -1));
        std::fs::write(dir.join("old.pem"), format!("{c}{k}")).unwrap();
        let old = load(&dir.join("old.pem"), None).unwrap();
        let e = old[0].invalid_at(JAN_2026).unwrap().to_string();
        assert!(e.contains("old.pem: the certificate expired on"), "{e}");

        let (c, _) = self_signed(&["a.example"], (-1, 10));
        let (_, other_key) = self_signed(&["b.example"], (-1, 10));
        std::fs::write(dir.join("c.pem"), &c).unwrap();
        std::fs::write(dir.join("other.key"), &other_key).unwrap();
        let e = load(&dir.join("c.pem"), Some(&dir.join("other.key"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: the private key does not match the certificate",
                dir.join("other.key").display()
            )
        );

        let e = load(&dir.join("c.pem"), None).unwrap_err().to_string();
        assert!(e.contains("c.pem: no private key"), "{e}");
        std::fs::write(dir.join("junk.pem"), "hello").unwrap();
        let e = load(&dir.join("junk.pem"), None).unwrap_err().to_string();
        assert!(e.contains("junk.pem: no certificate"), "{e}");
        let e = load(&dir.join("absent.pem"), None).unwrap_err().to_string();
        assert!(e.contains("absent.pem: No such file"), "{e}");
    }

    #[test]
    fn a_directory_loads_every_pem_in_name_order_with_sibling_keys() {
        let dir = tempdir();
        for (file, name) in [("b.pem", "b.example"), ("a.crt", "a.example")] {
            let (c, k) = self_signed(&[name], (-1, 10));
            std::fs::write(dir.join(file), &c).unwrap();
            std::fs::write(dir.join(file).with_extension("key"), &k).unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not a certificate").unwrap();
        let got = load(&dir, None).unwrap();
        let names: Vec<_> = got.iter().map(|l| l.names[0].as_str()).collect();
        assert_eq!(names, ["a.example", "b.example"]);
    }

    fn tempdir() -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "netpulse-certs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
