//! `show ssl cert [FILE]`, `show tls-keys [ID]` and `set ssl tls-key ID KEY` on the runtime
//! API, in HAProxy's shape: the certificate files loaded, or one certificate's details
//! (names, validity, subject); the ticket-key files, or one file's keys in use by name; a new
//! ticket key. Never a key shown.

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

/// `# id (file)` per frontend with a `ticket_keys` file; with `ID`, that file's keys in use
/// by their names (HAProxy prints the keys themselves; netpulse never prints a secret).
pub fn ticket_keys(acceptors: &[&Acceptor], id: Option<&str>) -> Result<String, String> {
    let files = acceptors.iter().filter_map(|a| a.ticket_keys.as_ref());
    let Some(id) = id else {
        let mut out = String::from("# id (file)\n");
        for (i, (path, _)) in files.enumerate() {
            out.push_str(&format!("{i} ({})\n", path.display()));
        }
        return Ok(out);
    };
    let (i, (path, keys)) = find(acceptors, id)?;
    let mut out = format!(
        "# id name (the keys themselves are never shown)\n# {i} ({})\n",
        path.display()
    );
    for (j, n) in keys.names().iter().enumerate() {
        out.push_str(&format!("{i}.{j} {n}\n"));
    }
    Ok(out)
}

/// `set ssl tls-key <id|file> <base64 key>`: the key becomes the listener's last, as HAProxy
/// sets it; answered as HAProxy answers.
pub fn set_ticket_key(acceptors: &[&Acceptor], id: &str, key: &str) -> Result<String, String> {
    let (_, (_, keys)) = find(acceptors, id)?;
    keys.rotate(key)?;
    Ok("TLS ticket key updated!\n".into())
}

type TicketFile<'a> = (
    usize,
    &'a (std::path::PathBuf, std::sync::Arc<super::tickets::TicketKeys>),
);

/// A ticket-key file by its `show tls-keys` id (`N` or `#N`), its path, or `*` (the first).
fn find<'a>(acceptors: &[&'a Acceptor], id: &str) -> Result<TicketFile<'a>, String> {
    let n = id.strip_prefix('#').unwrap_or(id).parse::<usize>().ok();
    let files = acceptors.iter().filter_map(|a| a.ticket_keys.as_ref());
    (files.enumerate())
        .find(|(i, (path, _))| id == "*" || n == Some(*i) || path.to_str() == Some(id))
        .ok_or_else(|| format!("'{id}' is not a ticket keys file reference ('show tls-keys' lists them)"))
}
