//! `[discovery]` in the daemon: the devices a sweep finds are polled without a restart —
//! standalone as a target source kept in the state folder, in cluster mode as run-time
//! targets every replica agrees on (one owner each, points in InfluxDB once per interval).

mod harness;

use harness::fleet::Fleet;
use harness::{Daemon, Influxd, Snmpd, free_udp_port, tempdir};
use std::time::Duration;

fn discovery(port: u16, state: &std::path::Path) -> String {
    format!(
        "[discovery]\nsubnets = [\"127.0.6.0/28\"]\nport = {port}\nrate = 500\ntimeout = \"500ms\"\ninterval = \"60s\"\n\
         credentials = [{{ community = \"wrong\" }}, {{ community = \"public\" }}]\nstate_dir = \"{}\"\n\
         defaults = {{ modules = [\"system\"], tags = {{ found = \"sweep\" }}, profile = \"none\" }}\n",
        state.display()
    )
}

#[test]
fn standalone_found_devices_are_polled_and_kept_across_a_restart() {
    let port = free_udp_port();
    let agent = Snmpd::start_on(&["127.0.6.2", "127.0.6.3"], port, "lab-found");
    let influx = Influxd::start();
    let dir = tempdir("discovery-daemon");
    let state = dir.join("discovery");
    let config = dir.join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\ninterval = \"1s\"\njitter = \"0s\"\n\n{}\n\
             [[outputs.influxdb]]\nname = \"influx-a\"\nurl = \"http://127.0.0.1:{}\"\ndatabase = \"telemetry\"\nqueue_dir = \"{}\"\nflush_interval = \"200ms\"\n",
            discovery(port, &state),
            influx.port,
            dir.join("queue").display()
        ),
    )
    .unwrap();
    let d = Daemon::start(&config, &[]);
    d.wait_for("the found device polled", Duration::from_secs(15), |d| {
        d.target("lab-found")["last_poll"]["ok"] == true
    });
    let t = d.target("lab-found");
    assert_eq!(
        t["address"],
        format!("udp://127.0.6.2:{port}"),
        "the lowest answering address: {t}"
    );
    assert_eq!(
        d.json("/targets")["targets"].as_array().unwrap().len(),
        1,
        "one device, two addresses"
    );
    d.wait_for("its points, tagged by the defaults", Duration::from_secs(10), |_| {
        let v = influx.query(
            "SELECT count(\"sysUpTime\") FROM \"system\" WHERE \"found\" = 'sweep' AND \"target\" = 'lab-found'",
        );
        v["results"][0]["series"][0]["values"][0][1].as_u64().unwrap_or(0) >= 2
    });
    use std::os::unix::fs::PermissionsExt;
    let file = state.join("discovered.json");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the state file holds credentials");
    assert!(std::fs::read_to_string(&file).unwrap().contains("\"public\""));
    assert!(!d.log_text().contains("public"), "a community reached the log");
    drop(d);

    // Restarted with the agent gone: the target is there from the state file at once.
    drop(agent);
    let d = Daemon::start(&config, &[]);
    d.wait_for("the kept target listed", Duration::from_secs(3), |d| {
        !d.target("lab-found").is_null()
    });
}

#[test]
fn in_cluster_mode_found_devices_become_run_time_targets_with_one_owner() {
    let port = free_udp_port();
    let _a = Snmpd::start_on(&["127.0.6.5"], port, "lab-cl-a");
    let _b = Snmpd::start_on(&["127.0.6.6", "127.0.6.7"], port, "lab-cl-b");
    let scratch = tempdir("discovery-cluster");
    let body = format!(
        "[collector]\ninterval = \"1s\"\njitter = \"0s\"\n\n{}",
        discovery(port, &scratch.join("unused"))
    );
    let f = Fleet::start(2, &body);
    f.converge(2);
    for id in ["collector-1", "collector-2"] {
        f.get(id)
            .wait_for("both found devices listed", Duration::from_secs(20), |d| {
                ["lab-cl-a", "lab-cl-b"]
                    .iter()
                    .all(|n| d.target(n)["owner"].is_string())
            });
    }
    let owners = |id: &str| {
        let t = f.get(id).json("/targets");
        let mut v: Vec<(String, String)> = (t["targets"].as_array().unwrap().iter())
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["owner"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(owners("collector-1"), owners("collector-2"), "the replicas disagree");
    assert_eq!(owners("collector-1").len(), 2);
    f.get("collector-1").wait_for(
        "points of both, each once per interval",
        Duration::from_secs(15),
        |_| {
            let v =
                f.db.query("SELECT count(\"sysUpTime\") FROM \"system\" WHERE \"found\" = 'sweep' GROUP BY \"target\"");
            v["results"][0]["series"].as_array().is_some_and(|s| s.len() == 2)
        },
    );
}
