//! `show ssl cert [FILE]` on the runtime API, in HAProxy's shape: the files loaded, or one
//! certificate's details (names, validity, subject). Never a key.

use super::Acceptor;

/// The listing, or `FILE`'s details; an unknown file is an error as HAProxy words it.
pub fn certs(acceptors: &[&Acceptor], file: Option<&str>) -> Result<String, String> {
    let loaded = acceptors.iter().flat_map(|a| &a.loaded);
    let Some(file) = file else {
        let mut out = String::from("# filename\n");
        for l in loaded {
            out.push_str(&format!("{}\n", l.path.display()));
        }
        return Ok(out);
    };
    let l = loaded
        .into_iter()
        .find(|l| l.path.to_str() == Some(file))
        .ok_or_else(|| "Can't display the certificate: Not found or the certificate is a bundle!".to_string())?;
    let status = match l.invalid_at(super::certs::now()) {
        None => "Used".to_string(),
        Some(e) => format!("Used ({e})"),
    };
    Ok(format!(
        "Filename: {}\nStatus: {status}\nnotBefore: {}\nnotAfter: {}\nSubject: {}\nSubject Alternative Name: {}\n",
        l.path.display(),
        l.validity.0,
        l.validity.1,
        l.subject,
        l.names
            .iter()
            .map(|n| format!("DNS:{n}"))
            .collect::<Vec<_>>()
            .join(", "),
    ))
}
