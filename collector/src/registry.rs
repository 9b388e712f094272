//! The modules and device profiles a configuration can name: the built-in modules, the user's
//! `[[modules]]`, the built-in objects' symbolic names, and the device profiles (shipped and
//! `profiles_dir`). Built once per configuration load; targets are made against it.

use crate::modules::{Column, Module, ScalarGroup, TableGroup};
use crate::snmp::Oid;
use netpulse_config::ModuleConfig;
use std::collections::HashMap;
use std::sync::Arc;

/// Built-in and user modules by name, and the device profiles.
#[derive(Clone)]
pub struct Registry {
    modules: HashMap<String, Arc<Module>>,
    symbols: HashMap<&'static str, Oid>,
    profiles: Arc<crate::profiles::Profiles>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.modules.keys().collect();
        names.sort();
        f.debug_struct("Registry")
            .field("modules", &names)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn builtin() -> Self {
        let symbols = crate::modules::builtin_symbols()
            .map(|(n, o)| (n, Oid::parse(o).expect("valid")))
            .collect();
        let modules = crate::modules::builtin_modules()
            .into_iter()
            .map(|m| (m.name.clone(), Arc::new(m)))
            .collect();
        Self {
            modules,
            symbols,
            profiles: crate::profiles::Profiles::builtin(),
        }
    }

    /// The shipped profiles and the user's in `dir` (`[collector] profiles_dir`).
    pub fn with_profiles_dir(mut self, dir: Option<&str>) -> Result<Self, String> {
        if let Some(d) = dir {
            self.profiles = Arc::new(crate::profiles::Profiles::with_dir(std::path::Path::new(d))?);
        }
        Ok(self)
    }

    pub fn profiles(&self) -> Arc<crate::profiles::Profiles> {
        self.profiles.clone()
    }

    pub fn builtin_names() -> Vec<String> {
        crate::modules::builtin_modules().into_iter().map(|m| m.name).collect()
    }

    /// Adds the user modules; errors are `(key path, problem)` as the config loader wants.
    pub fn with_user_modules(mut self, defs: &[ModuleConfig]) -> Result<Self, Vec<(Vec<String>, String)>> {
        let mut problems = vec![];
        for (i, def) in defs.iter().enumerate() {
            match self.user_module(def) {
                Ok(m) => {
                    if self.modules.contains_key(&m.name) {
                        problems.push((key(i, "name"), format!("module {:?} already exists", m.name)));
                    } else {
                        self.modules.insert(m.name.clone(), Arc::new(m));
                    }
                }
                Err((k, msg)) => problems.push((key_at(i, &k), msg)),
            }
        }
        if problems.is_empty() { Ok(self) } else { Err(problems) }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Module>> {
        self.modules.get(name).cloned()
    }

    /// `1.3.6.1.2.1.1.3`, `.1.3.6…`, or a built-in symbolic name like `ifHCInOctets`.
    pub fn resolve(&self, text: &str) -> Option<Oid> {
        Oid::parse(text).or_else(|| self.symbols.get(text.trim()).cloned())
    }

    fn object(&self, obj: &netpulse_config::ObjectConfig, defines_row: bool) -> Result<Column, (Vec<String>, String)> {
        let oid = self.resolve(&obj.oid).ok_or_else(|| {
            (
                vec!["oid".into()],
                format!("{:?} is neither a numeric OID nor a known object name", obj.oid),
            )
        })?;
        let name = match (&obj.name, Oid::parse(&obj.oid)) {
            (Some(n), _) if !n.is_empty() => n.clone(),
            (_, None) => obj.oid.trim().to_string(),
            (_, Some(_)) => {
                return Err((vec!["name".into()], "required when oid is numeric".into()));
            }
        };
        Ok(Column {
            name: name.into(),
            oid,
            tag: obj.tag,
            defines_row: defines_row && !obj.tag,
        })
    }

    fn user_module(&self, def: &ModuleConfig) -> Result<Module, (Vec<String>, String)> {
        if def.name.is_empty() {
            return Err((vec!["name".into()], "required".into()));
        }
        if def.scalars.is_empty() && def.columns.is_empty() {
            return Err((vec!["columns".into()], "a module needs scalars or columns".into()));
        }
        let measurement: Arc<str> = def.measurement.clone().unwrap_or_else(|| def.name.clone()).into();
        if measurement.starts_with('#') {
            // InfluxDB reads such a line as a comment: every point would vanish silently.
            let key = if def.measurement.is_some() {
                "measurement"
            } else {
                "name"
            };
            return Err((
                vec![key.into()],
                "a measurement cannot start with '#' (line protocol comment)".into(),
            ));
        }
        let scalars = def
            .scalars
            .iter()
            .enumerate()
            .map(|(j, o)| self.object(o, true).map_err(|(k, m)| (sub("scalars", j, k), m)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut columns = def
            .columns
            .iter()
            .enumerate()
            .map(|(j, o)| self.object(o, true).map_err(|(k, m)| (sub("columns", j, k), m)))
            .collect::<Result<Vec<_>, _>>()?;
        if !columns.is_empty() && columns.iter().all(|c| !c.defines_row) {
            // Only tag columns: let them define the rows.
            columns.iter_mut().for_each(|c| c.defines_row = true);
        }
        Ok(Module {
            derived: vec![],
            name: def.name.clone(),
            scalars: (!scalars.is_empty()).then(|| ScalarGroup {
                measurement: measurement.clone(),
                objects: scalars,
            }),
            tables: if columns.is_empty() {
                vec![]
            } else {
                vec![TableGroup {
                    measurement,
                    index_tag: def.index_tag.clone().unwrap_or_else(|| "index".into()).into(),
                    columns,
                }]
            },
        })
    }
}

fn key(i: usize, k: &str) -> Vec<String> {
    vec!["modules".into(), i.to_string(), k.into()]
}

fn key_at(i: usize, rest: &[String]) -> Vec<String> {
    let mut v = vec!["modules".into(), i.to_string()];
    v.extend(rest.iter().cloned());
    v
}

fn sub(list: &str, j: usize, rest: Vec<String>) -> Vec<String> {
    let mut v = vec![list.to_string(), j.to_string()];
    v.extend(rest);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use netpulse_config::ObjectConfig;

    #[test]
    fn builtins_and_symbols() {
        let r = Registry::builtin();
        assert_eq!(r.get("interfaces").unwrap().tables[0].columns.len(), 26);
        assert_eq!(r.resolve("ifHCInOctets").unwrap().to_string(), "1.3.6.1.2.1.31.1.1.1.6");
        assert_eq!(r.resolve(".1.3.6.1.4.1.9").unwrap().to_string(), "1.3.6.1.4.1.9");
        assert!(r.resolve("noSuchThing").is_none());
    }

    #[test]
    fn user_modules() {
        let def = ModuleConfig {
            name: "cpu".into(),
            columns: vec![
                ObjectConfig {
                    oid: "1.3.6.1.4.1.9.9.109.1.1.1.1.8".into(),
                    name: Some("cpmCPUTotal5minRev".into()),
                    tag: false,
                },
                ObjectConfig {
                    oid: "ifDescr".into(),
                    name: None,
                    tag: true,
                },
            ],
            ..Default::default()
        };
        let r = Registry::builtin().with_user_modules(&[def]).unwrap();
        let m = r.get("cpu").unwrap();
        assert_eq!(&*m.tables[0].measurement, "cpu");
        assert_eq!(&*m.tables[0].columns[1].name, "ifDescr");
        let bad = ModuleConfig {
            name: "x".into(),
            scalars: vec![ObjectConfig {
                oid: "1.3.6.1.4.1.1".into(),
                name: None,
                tag: false,
            }],
            ..Default::default()
        };
        let err = Registry::builtin().with_user_modules(&[bad]).unwrap_err();
        assert_eq!(err[0].0.join("."), "modules.0.scalars.0.name");
    }
}
