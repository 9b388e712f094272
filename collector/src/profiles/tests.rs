//! The loader: the shipped files, matching, and the errors a broken file gets.

use super::*;

fn oid(s: &str) -> Oid {
    Oid::parse(s).unwrap()
}

#[test]
fn every_shipped_file_is_built_in_and_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    let mut on_disk: Vec<String> = (std::fs::read_dir(&dir).unwrap().flatten())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let mut built_in: Vec<String> = BUILTIN.iter().map(|(f, _)| f.to_string()).collect();
    built_in.sort();
    assert_eq!(on_disk, built_in, "collector/profiles/ and profiles::BUILTIN differ");
    let p = Profiles::builtin();
    for name in p.names() {
        let profile = p.get(name).unwrap();
        assert!(
            name == FALLBACK || !profile.sys_object_ids.is_empty(),
            "{name}: no sysObjectID claims it"
        );
        for d in &profile.module.derived {
            assert!(
                d.tags.iter().any(|(t, _)| &**t == "profile"),
                "{name}: {}",
                d.measurement
            );
        }
    }
}

#[test]
fn the_longest_prefix_wins_component_by_component() {
    let p = Profiles::builtin();
    let name = |id: &str| p.choose(&oid(id)).profile.name.clone();
    assert_eq!(name("1.3.6.1.4.1.2011.2.235.1.1"), "huawei-ibmc");
    assert_eq!(name("1.3.6.1.4.1.2011.2.23.276"), "huawei");
    assert_eq!(name("1.3.6.1.4.1.9.1.617"), "cisco");
    assert_eq!(name("1.3.6.1.4.1.90.1"), FALLBACK, "9 is not a prefix of 90");
    assert!(
        p.choose(&oid("1.3.6.1.4.1.9.1.617"))
            .why
            .contains("starts with 1.3.6.1.4.1.9 (profiles/cisco.toml:")
    );
}

#[test]
fn a_child_replaces_its_parents_metric_of_the_same_measurement() {
    let p = Profiles::builtin();
    let cisco = p.get("cisco").unwrap();
    let cpu: Vec<_> = (cisco.module.derived.iter())
        .filter(|d| &*d.measurement == "device_cpu")
        .collect();
    let reads = |oid: &str| cpu.iter().any(|d| d.columns.iter().any(|c| c.oid.to_string() == oid));
    assert!(
        !reads("1.3.6.1.2.1.25.3.3.1.2"),
        "hrProcessorLoad replaced by Cisco's own"
    );
    assert!(reads("1.3.6.1.4.1.9.9.109.1.1.1.1.8"));
    let zte = p.get("zte").unwrap();
    let tags = &zte.module.derived[0].tags;
    assert!(tags.contains(&(
        "profile".into(),
        crate::modules::derived::TagSource::Literal("zte".into())
    )));
    let modules: Vec<&str> = zte.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        modules,
        ["etherlike"],
        "generic's etherlike; the target's own modules stay its choice"
    );
}

fn load(extra: &str) -> Result<Profiles, String> {
    let mut files: Vec<(String, String)> = BUILTIN.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect();
    files.push(("mine.toml".into(), extra.into()));
    Profiles::load(files)
}

#[test]
fn a_broken_file_is_refused_naming_file_and_line() {
    let metric = |body: &str| {
        format!("[[profile]]\nname = \"x\"\nsys_object_ids = [\"1.3.6.1.4.1.424242\"]\n\n[[profile.metric]]\n{body}")
    };
    let cases = [
        (
            "[[profile]]\nname = \"x\"\nsys_object_ids = [1.3]\n".to_string(),
            "mine.toml:3",
        ),
        (
            metric("measurement = \"cpu_load\"\ncolumns = { a = \"1.3.6\" }\nfields = { utilization = \"a\" }\n"),
            "mine.toml:5: profile \"x\": measurement \"cpu_load\" is not one of",
        ),
        (
            metric(
                "measurement = \"device_cpu\"\ncolumns = { a = \"1.3.6\" }\ntags = { cpu = \"index\" }\nfields = { utilization = \"b\" }\n",
            ),
            "reads \"b\", which is not a column",
        ),
        (
            metric(
                "measurement = \"device_cpu\"\ncolumns = { a = \"1.3.6\" }\ntags = { cpu = \"index\" }\nfields = { utilization = \"a +\" }\n",
            ),
            "field \"utilization\": expected a number",
        ),
        (
            metric("measurement = \"device_cpu\"\ncolumns = { a = \"1.3.6\" }\nfields = { utilization = \"a\" }\n"),
            "device_cpu needs the tag \"cpu\"",
        ),
        (
            metric(
                "measurement = \"device_cpu\"\ncolumns = { a = \"1.3.6\" }\ntags = { cpu = \"index\" }\nfields = { utilization = \"a\" }\nbogus = 1\n",
            ),
            "mine.toml:10: unknown field `bogus`",
        ),
        (
            metric(
                "measurement = \"device_component\"\ncolumns = { s = \"1.3.6\" }\ntags = { component = \"index\" }\nfields = { state = \"s\" }\n",
            ),
            "mine.toml:5: profile \"x\": device_component needs states",
        ),
        (
            metric(
                "measurement = \"device_component\"\ncolumns = { s = \"1.3.6\" }\ntags = { component = \"index\" }\nfields = { state = \"s\" }\nstates = { 1 = \"up\" }\nok = [2]\n",
            ),
            "ok: 2 is not one of the states",
        ),
        (
            metric(
                "measurement = \"device_component\"\ncolumns = { s = \"1.3.6\" }\ntags = { component = \"index\" }\nfields = { state = \"s\" }\nstates = { up = \"1\" }\nok = [1]\n",
            ),
            "states: \"up\" = \"1\" is not a number",
        ),
        (
            metric(
                "measurement = \"device_cpu\"\ncolumns = { a = \"1.3.6\" }\ntags = { cpu = \"index\" }\nfields = { utilization = \"a\" }\nok = [1]\n",
            ),
            "states and ok belong to device_component only",
        ),
        (
            "[[profile]]\nname = \"x\"\nextends = [\"y\"]\n[[profile]]\nname = \"y\"\nextends = [\"x\"]\n".into(),
            "extends itself",
        ),
        (
            "[[profile]]\nname = \"x\"\nsys_object_ids = [\"1.3.6.1.4.1.9\"]\n".into(),
            "is claimed by \"cisco\"",
        ),
    ];
    for (text, want) in cases {
        let e = load(&text).err().unwrap_or_else(|| panic!("accepted:\n{text}"));
        assert!(e.contains(want), "{e}\n  wanted: {want}");
    }
}

#[test]
fn a_users_profile_named_as_a_shipped_one_replaces_it() {
    let mine = "[[profile]]\nname = \"zte\"\nextends = [\"generic\"]\nsys_object_ids = [\"1.3.6.1.4.1.3902\"]\nmodules = [\"host_resources\"]\n";
    let p = load(mine).unwrap();
    assert_eq!(p.get("zte").unwrap().origin, "mine.toml:1");
    assert!(p.get("zte").unwrap().modules.iter().any(|m| m.name == "host_resources"));
}

#[test]
fn quirks_apply_where_the_target_sets_none() {
    let mine = "[[profile]]\nname = \"slowpoke\"\nextends = [\"generic\"]\nsys_object_ids = [\"1.3.6.1.4.1.424242\"]\n\
                quirks = { max_repetitions = 5, max_varbinds = 10, allow_non_increasing = true, no_getbulk = true, timeout = \"7s\" }\n";
    let profiles = Arc::new(load(mine).unwrap());
    let matched = profiles.choose(&oid("1.3.6.1.4.1.424242.1"));
    let cfg = netpulse_config::CollectorConfig::default();
    let registry = crate::registry::Registry::builtin();
    let tc = |max_repetitions| netpulse_config::TargetConfig {
        name: "t".into(),
        address: "udp://192.0.2.1".into(),
        max_repetitions,
        ..Default::default()
    };
    let plain = crate::target::Target::from_config(&tc(None), &cfg, &registry).unwrap();
    let t = plain.with_profile(&matched);
    assert_eq!(t.limits.max_repetitions, 5);
    assert_eq!((t.limits.max_varbinds, t.policy.max_varbinds), (10, 10));
    assert!(t.limits.allow_non_increasing);
    assert!(t.limits.no_getbulk);
    assert_eq!(t.policy.timeout, std::time::Duration::from_secs(7));
    assert!(t.modules.iter().any(|m| m.name == "profile"));
    let own = crate::target::Target::from_config(&tc(Some(40)), &cfg, &registry).unwrap();
    assert_eq!(
        own.with_profile(&matched).limits.max_repetitions,
        40,
        "the target's own key wins"
    );
}
