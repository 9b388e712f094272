//! Names for what traps carry: the notification's name (the `trap` tag) by its exact OID, a
//! variable binding's object name (its field) by the longest known prefix of its OID, so
//! `ifOperStatus.3` is `ifOperStatus`. Objects come from the built-in modules' symbols and
//! `collector/traps/names.toml`; notifications from that file and `[[traps.names]]`.

use crate::lineproto::Name;
use crate::snmp::Oid;
use netpulse_config::TrapName;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

const BUILTIN: &str = include_str!("../../traps/names.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    notification: Vec<Entry>,
    #[serde(default)]
    object: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    oid: String,
}

pub struct Names {
    notifications: HashMap<Box<[u32]>, Name>,
    objects: HashMap<Box<[u32]>, Name>,
    longest_object: usize,
}

impl Names {
    /// The shipped names plus the user's notifications (which win over shipped ones).
    pub fn new(user: &[TrapName]) -> Result<Self, String> {
        let file: File = toml::from_str(BUILTIN).map_err(|e| format!("collector/traps/names.toml: {e}"))?;
        let mut n = Self {
            notifications: HashMap::new(),
            objects: HashMap::new(),
            longest_object: 0,
        };
        for (name, oid) in crate::modules::builtin_symbols() {
            n.add_object(name, oid)?;
        }
        for e in &file.object {
            n.add_object(&e.name, &e.oid)?;
        }
        for e in &file.notification {
            n.add_notification(&e.name, &e.oid, false)?;
        }
        for e in user {
            n.add_notification(&e.name, &e.oid, true)?;
        }
        Ok(n)
    }

    fn add_object(&mut self, name: &str, oid: &str) -> Result<(), String> {
        let o = parse(name, oid)?;
        self.longest_object = self.longest_object.max(o.len());
        if let Some(was) = self.objects.insert(o, name.into())
            && &*was != name
        {
            return Err(format!("object {oid} is named both {was:?} and {name:?}"));
        }
        Ok(())
    }

    fn add_notification(&mut self, name: &str, oid: &str, user: bool) -> Result<(), String> {
        let o = parse(name, oid)?;
        if self.notifications.insert(o, name.into()).is_some() && !user {
            return Err(format!("notification {oid} is named twice"));
        }
        Ok(())
    }

    /// The notification's name, if known.
    pub fn notification(&self, oid: &Oid) -> Option<&Name> {
        self.notifications.get(oid.arcs())
    }

    /// The object a variable binding is an instance of (longest known prefix), if known.
    pub fn object(&self, oid: &Oid) -> Option<&Name> {
        let arcs = oid.arcs();
        (1..=arcs.len().min(self.longest_object))
            .rev()
            .find_map(|n| self.objects.get(&arcs[..n]))
    }

    /// The notification for `name` or a dotted OID (`poll_on`), if it is one.
    pub fn lookup(&self, name_or_oid: &str) -> Option<Arc<[u32]>> {
        if let Some(o) = Oid::parse(name_or_oid) {
            return Some(o.arcs().into());
        }
        (self.notifications.iter())
            .find(|(_, n)| &***n == name_or_oid)
            .map(|(o, _)| Arc::from(&**o))
    }
}

fn parse(name: &str, oid: &str) -> Result<Box<[u32]>, String> {
    if !netpulse_config::trap_name_ok(name) {
        return Err(format!("{name:?} ({oid}): a name without spaces, commas or '='"));
    }
    let o = Oid::parse(oid).ok_or_else(|| format!("{name}: {oid:?} is not a dotted OID"))?;
    Ok(o.arcs().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_names_load_and_name_what_agents_send() {
        let n = Names::new(&[]).expect("collector/traps/names.toml loads");
        let oid = |s: &str| Oid::parse(s).unwrap();
        assert_eq!(
            n.notification(&oid("1.3.6.1.6.3.1.1.5.3")).map(|s| &**s),
            Some("linkDown")
        );
        assert_eq!(
            n.notification(&oid("1.3.6.1.4.1.9.9.43.2.0.1")).map(|s| &**s),
            Some("ciscoConfigManEvent")
        );
        // Instances resolve to their object, from the modules and from the file.
        assert_eq!(
            n.object(&oid("1.3.6.1.2.1.2.2.1.8.3")).map(|s| &**s),
            Some("ifOperStatus")
        );
        assert_eq!(n.object(&oid("1.3.6.1.2.1.2.2.1.1.3")).map(|s| &**s), Some("ifIndex"));
        assert_eq!(n.object(&oid("1.3.6.1.2.1.31.1.1.1.1.7")).map(|s| &**s), Some("ifName"));
        assert_eq!(n.object(&oid("1.3.6.1.4.1.99999.1")), None);
        assert_eq!(n.lookup("linkUp").as_deref(), Some(&[1, 3, 6, 1, 6, 3, 1, 1, 5, 4][..]));
        assert_eq!(n.lookup("noSuchTrap"), None);
    }

    #[test]
    fn users_name_more_notifications_and_bad_names_are_refused() {
        let user = |name: &str, oid: &str| TrapName {
            name: name.into(),
            oid: oid.into(),
        };
        let n = Names::new(&[user("myTrap", "1.3.6.1.4.1.99999.0.1")]).unwrap();
        let oid = Oid::parse("1.3.6.1.4.1.99999.0.1").unwrap();
        assert_eq!(n.notification(&oid).map(|s| &**s), Some("myTrap"));
        let err = Names::new(&[user("bad name", "1.3.6.1.4.1.1")]).err().unwrap();
        assert!(err.contains("bad name"), "{err}");
        let err = Names::new(&[user("x", "not.an.oid")]).err().unwrap();
        assert!(err.contains("not a dotted OID"), "{err}");
    }
}
