//! `[traps]` checks: listen addresses, the rate limit, users (a password for every key,
//! privacy only with authentication, unique names), engine ids and notification names.

use super::{Problems, p, socket_addr};
use crate::collector::{TrapsConfig, engine_id_bytes, trap_name_ok};
use std::collections::HashSet;

const ENGINE_ID: &str = "an engine id in hex, 5 to 32 octets (0x80001f88…)";

pub(crate) fn traps(t: &TrapsConfig, out: &mut Problems) {
    if t.listen.is_empty() {
        out.push((p(&["traps", "listen"]), "at least one IP:PORT".into()));
    }
    for (i, l) in t.listen.iter().enumerate() {
        if !socket_addr(l) {
            let why = format!("{l:?} is not an IP:PORT listen address (IPv6 in brackets)");
            out.push((p(&["traps", "listen", &i.to_string()]), why));
        }
    }
    if t.engine_id.as_deref().is_some_and(|e| engine_id_bytes(e).is_none()) {
        out.push((p(&["traps", "engine_id"]), ENGINE_ID.into()));
    }
    if t.rate_limit.per_source == 0 || t.rate_limit.burst < t.rate_limit.per_source.min(1) {
        out.push((
            p(&["traps", "rate_limit"]),
            "per_source and burst must be at least 1".into(),
        ));
    }
    if !(64 << 10..=1 << 30).contains(&t.receive_buffer.0) {
        let why = format!("{} is outside 64KiB..1GiB", t.receive_buffer);
        out.push((p(&["traps", "receive_buffer"]), why));
    }
    let mut users = HashSet::new();
    for (i, u) in t.users.iter().enumerate() {
        let i = i.to_string();
        let at = |k: &str| p(&["traps", "users", &i, k]);
        if u.user.is_empty() {
            out.push((at("user"), "required: the USM user name".into()));
        } else if !users.insert(u.user.as_str()) {
            out.push((at("user"), format!("duplicate trap user {:?}", u.user)));
        }
        if u.privacy.is_some() && u.auth.is_none() {
            out.push((at("priv"), "privacy needs auth as well (authPriv)".into()));
        }
        for (k, pw) in [
            ("auth", u.auth.as_ref().map(|a| &a.password)),
            ("priv", u.privacy.as_ref().map(|a| &a.password)),
        ] {
            if pw.is_some_and(|pw| pw.expose().len() < 8) {
                out.push((at(k), "the password needs at least 8 characters (RFC 3414)".into()));
            }
        }
        if u.engine_id.as_deref().is_some_and(|e| engine_id_bytes(e).is_none()) {
            out.push((at("engine_id"), ENGINE_ID.into()));
        }
    }
    for (i, n) in t.names.iter().enumerate() {
        let i = i.to_string();
        if !dotted_oid(&n.oid) {
            let why = format!("{:?} is not a dotted OID (1.3.6.1.…)", n.oid);
            out.push((p(&["traps", "names", &i, "oid"]), why));
        }
        if !trap_name_ok(&n.name) {
            let why = "a name without spaces, commas or '=' (it is a tag value)";
            out.push((p(&["traps", "names", &i, "name"]), why.into()));
        }
    }
}

fn dotted_oid(s: &str) -> bool {
    let parts: Vec<&str> = s.trim_start_matches('.').split('.').collect();
    parts.len() >= 2 && parts.iter().all(|x| x.parse::<u32>().is_ok())
}
