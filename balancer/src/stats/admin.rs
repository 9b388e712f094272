//! The stats page's admin form (HAProxy `stats admin`): `b=#<backend iid>`, `s=<server>`…,
//! `action=ready|drain|maint` (also HAProxy's older `enable`/`disable`), URL-encoded. The
//! outcome is HAProxy's `st=` code for the 303 redirect: DONE, PART, NONE or ERRP.

use crate::pool::Admin;
use crate::state::State;

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Applies the form to the backend whose proxy id is `b`.
pub fn apply(state: &State, body: &[u8]) -> &'static str {
    let form = String::from_utf8_lossy(body);
    let (mut backend, mut servers, mut action) = (None, vec![], None);
    for (k, v) in form.split('&').filter_map(|kv| kv.split_once('=')) {
        match (k, decode(v)) {
            ("b", v) => backend = v.trim_start_matches('#').parse::<u32>().ok(),
            ("s", v) => servers.push(v),
            ("action", v) => action = Some(v),
            _ => {}
        }
    }
    let to = match action.as_deref() {
        Some("ready" | "enable") => Admin::Ready,
        Some("drain") => Admin::Drain,
        Some("maint" | "disable") => Admin::Maint,
        _ => return "ERRP",
    };
    let Some(b) = (state.proxies.iter())
        .find(|p| Some(p.id) == backend)
        .and_then(|p| p.backend)
        .map(|i| &state.pool.backends[i])
    else {
        return "ERRP";
    };
    if servers.is_empty() {
        return "NONE";
    }
    let mut done = 0;
    for name in &servers {
        if let Some((_, s)) = b.server_named(name) {
            b.set_admin(s, to, "stats page");
            done += 1;
        }
    }
    match done {
        0 => "NONE",
        n if n == servers.len() => "DONE",
        _ => "PART",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn url_decoding() {
        assert_eq!(super::decode("a%23b+c%2"), "a#b c%2");
        assert_eq!(super::decode("%41"), "A");
    }
}
