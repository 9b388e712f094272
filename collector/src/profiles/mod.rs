//! Device profiles: data files (`collector/profiles/*.toml`, and the user's `profiles_dir`)
//! that say, per vendor family, which modules to poll, which vendor metrics become the
//! normalized `device_*` measurements, and the agent's quirks. A target's profile is the one
//! whose `sys_object_ids` prefix of its sysObjectID is longest; `generic` when none matches.
//! Loaded once at start and on reload; a broken file is refused naming file and line.

pub mod file;
pub mod poll;

pub use file::Quirks;

use crate::modules::{Module, builtin_module};
use crate::snmp::Oid;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// The profile of devices no other profile claims.
pub const FALLBACK: &str = "generic";

/// The shipped profiles, one file per vendor family; a test holds this list equal to the
/// files of `collector/profiles/`.
pub const BUILTIN: &[(&str, &str)] = &[
    ("generic.toml", include_str!("../../profiles/generic.toml")),
    ("cisco.toml", include_str!("../../profiles/cisco.toml")),
    ("juniper.toml", include_str!("../../profiles/juniper.toml")),
    ("huawei.toml", include_str!("../../profiles/huawei.toml")),
    ("h3c.toml", include_str!("../../profiles/h3c.toml")),
    ("hpe.toml", include_str!("../../profiles/hpe.toml")),
    ("dlink.toml", include_str!("../../profiles/dlink.toml")),
    ("brocade.toml", include_str!("../../profiles/brocade.toml")),
    ("fortinet.toml", include_str!("../../profiles/fortinet.toml")),
    ("paloalto.toml", include_str!("../../profiles/paloalto.toml")),
    ("arista.toml", include_str!("../../profiles/arista.toml")),
    ("aruba.toml", include_str!("../../profiles/aruba.toml")),
    ("zte.toml", include_str!("../../profiles/zte.toml")),
    ("ruijie.toml", include_str!("../../profiles/ruijie.toml")),
    ("netsnmp.toml", include_str!("../../profiles/netsnmp.toml")),
];

pub struct Profile {
    pub name: String,
    pub description: String,
    /// `file:line` of its definition.
    pub origin: String,
    pub sys_object_ids: Vec<Oid>,
    /// Built-in modules it polls besides the target's own.
    pub modules: Vec<Arc<Module>>,
    /// Its vendor metrics, as one module named `profile`.
    pub module: Arc<Module>,
    pub quirks: Quirks,
}

/// A target's profile and why it was chosen (`--test`, `/targets`).
#[derive(Clone)]
pub struct Matched {
    pub profile: Arc<Profile>,
    pub why: String,
}

impl std::fmt::Debug for Matched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.profile.name, self.why)
    }
}

impl std::fmt::Debug for Profiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

pub struct Profiles {
    by_name: BTreeMap<String, Arc<Profile>>,
    /// Every claimed prefix, longest first.
    prefixes: Vec<(Oid, Arc<Profile>)>,
}

static SHIPPED: LazyLock<Arc<Profiles>> = LazyLock::new(|| {
    let files = BUILTIN
        .iter()
        .map(|(f, t)| (format!("profiles/{f}"), t.to_string()))
        .collect();
    Arc::new(Profiles::load(files).expect("the shipped profiles load (tests/profiles_files)"))
});

impl Profiles {
    /// The shipped profiles (parsed once per process).
    pub fn builtin() -> Arc<Self> {
        SHIPPED.clone()
    }

    /// The shipped profiles and every `*.toml` of `dir`; a user's profile named as a shipped
    /// one replaces it.
    pub fn with_dir(dir: &Path) -> Result<Self, String> {
        let mut files: Vec<(String, String)> = BUILTIN
            .iter()
            .map(|(f, t)| (format!("profiles/{f}"), t.to_string()))
            .collect();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = (entries.flatten().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            files.push((p.display().to_string(), text));
        }
        Self::load(files)
    }

    /// Profiles from `(file name, text)` in order; later definitions of a name replace
    /// earlier ones.
    pub fn load(files: Vec<(String, String)>) -> Result<Self, String> {
        let mut defs: BTreeMap<String, file::Def> = BTreeMap::new();
        for (name, text) in &files {
            for d in file::parse(name, text)? {
                defs.insert(d.name.clone(), d);
            }
        }
        let mut by_name = BTreeMap::new();
        for name in defs.keys() {
            let p = resolve(&defs, name, &mut vec![])?;
            by_name.insert(name.clone(), Arc::new(p));
        }
        if !by_name.contains_key(FALLBACK) {
            return Err(format!("no profile named {FALLBACK:?} (the fallback)"));
        }
        let mut prefixes: Vec<(Oid, Arc<Profile>)> = vec![];
        for p in by_name.values() {
            for o in &p.sys_object_ids {
                if let Some((_, other)) = prefixes.iter().find(|(q, _)| q == o) {
                    return Err(format!(
                        "{}: sysObjectID prefix {o} is claimed by {:?} ({}) too",
                        p.origin, other.name, other.origin
                    ));
                }
                prefixes.push((o.clone(), p.clone()));
            }
        }
        prefixes.sort_by_key(|(o, _)| std::cmp::Reverse(o.len()));
        Ok(Self { by_name, prefixes })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        self.by_name.get(name).cloned()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// The profile of an agent whose sysObjectID is `id`: the longest claimed prefix, else
    /// the fallback.
    pub fn choose(&self, id: &Oid) -> Matched {
        match self.prefixes.iter().find(|(o, _)| id.starts_with(o)) {
            Some((o, p)) => Matched {
                profile: p.clone(),
                why: format!("sysObjectID {id} starts with {o} ({})", p.origin),
            },
            None => self.fallback(&format!("sysObjectID {id}: no profile claims it")),
        }
    }

    /// The fallback profile, and why it is used.
    pub fn fallback(&self, why: &str) -> Matched {
        Matched {
            profile: self.by_name[FALLBACK].clone(),
            why: format!("{why}: the fallback"),
        }
    }
}

/// A profile with what it `extends` folded in: parents' modules and quirks first, its own
/// win; a metric of its own replaces the parents' metrics of the same measurement.
fn resolve(defs: &BTreeMap<String, file::Def>, name: &str, path: &mut Vec<String>) -> Result<Profile, String> {
    let d = &defs[name];
    if path.iter().any(|p| p == name) {
        return Err(format!(
            "{}: profile {name:?} extends itself ({})",
            d.origin,
            path.join(" → ")
        ));
    }
    path.push(name.to_string());
    let (mut modules, mut metrics, mut quirks) = (vec![], vec![], Quirks::default());
    for parent in &d.extends {
        if !defs.contains_key(parent) {
            return Err(format!("{}: profile {name:?} extends unknown {parent:?}", d.origin));
        }
        let p = resolve(defs, parent, path)?;
        modules.extend(p.modules);
        metrics.extend(p.module.derived.iter().cloned());
        quirks = merge(quirks, p.quirks);
    }
    path.pop();
    for m in &d.modules {
        let module =
            builtin_module(m).ok_or_else(|| format!("{}: profile {name:?}: unknown module {m:?}", d.origin))?;
        if !modules.iter().any(|x: &Arc<Module>| x.name == module.name) {
            modules.push(module);
        }
    }
    metrics.retain(|m| !d.metrics.iter().any(|own| own.measurement == m.measurement));
    let mut own = d.metrics.clone();
    // Inherited metrics carry the parent's name in `profile`: the point says which profile wrote it.
    for m in metrics.iter_mut() {
        for (t, src) in m.tags.iter_mut() {
            if &**t == "profile" {
                *src = crate::modules::derived::TagSource::Literal(name.into());
            }
        }
    }
    metrics.append(&mut own);
    Ok(Profile {
        name: name.to_string(),
        description: d.description.clone(),
        origin: d.origin.clone(),
        sys_object_ids: d.sys_object_ids.clone(),
        modules,
        module: Arc::new(Module {
            derived: metrics,
            name: "profile".into(),
            scalars: None,
            tables: vec![],
        }),
        quirks: merge(quirks, d.quirks),
    })
}

fn merge(base: Quirks, over: Quirks) -> Quirks {
    Quirks {
        max_repetitions: over.max_repetitions.or(base.max_repetitions),
        max_varbinds: over.max_varbinds.or(base.max_varbinds),
        allow_non_increasing: over.allow_non_increasing.or(base.allow_non_increasing),
        no_getbulk: over.no_getbulk.or(base.no_getbulk),
        timeout: over.timeout.or(base.timeout),
    }
}

#[cfg(test)]
mod tests;
