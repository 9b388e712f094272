//! The runtime API's server changes under churn and hostile names (issue 24, items 6–8): a
//! deleted server's pooled connections are closed (descriptors do not grow over add/del
//! cycles), a mirroring backend's servers cannot be deleted (their writers and queues would go
//! on), and names HAProxy refuses are refused.

mod common;

use common::{Balancer, Upstream, exchange, runtime, status_of};

/// One HTTP/1.1 request on its own connection (the express lane's shape, as a curl or a
/// close-per-request client sends it): its status.
fn get(port: u16) -> u16 {
    status_of(&exchange(
        port,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    ))
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn add_and_del_server_churn_leaves_no_descriptors_behind() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bal = Balancer::with_config(&format!(
        "[server]\nthreads = 2\n[stats]\nlisten = \"127.0.0.1:{{stats}}\"\n[runtime]\nsocket = \"{{dir}}/rt.sock\"\n\
         [[frontends]]\nname = \"web\"\nlisten = [\"127.0.0.1:{{port}}\"]\nbackend = \"web\"\n\
         routes = [ {{ path_prefix = \"/write\", backend = \"write\" }} ]\n\
         [[backends]]\nname = \"web\"\nservers = [ {{ name = \"a\", address = \"127.0.0.1:{}\" }}, {{ name = \"b\", address = \"127.0.0.1:{}\" }} ]\n\
         [[backends]]\nname = \"write\"\nmirror = {{ queue_dir = \"{{dir}}/mirror\" }}\n\
         servers = [ {{ name = \"influx-a\", address = \"127.0.0.1:9\" }} ]\n",
        a.port, b.port
    ));
    let sock = bal.dir.join("rt.sock");
    let e = Upstream::start("e");
    // Warm up: the steady set of descriptors (listeners, pools to a and b, runtime socket).
    for _ in 0..40 {
        assert_eq!(get(bal.port), 200);
    }
    let before = fds(bal.pid());
    for cycle in 0..40 {
        let name = format!("e{cycle}");
        let added = runtime(&sock, &format!("add server web/{name} 127.0.0.1:{} weight 4", e.port));
        assert_eq!(added, "New server registered.\n\n", "cycle {cycle}");
        runtime(&sock, &format!("enable server web/{name}"));
        for _ in 0..12 {
            assert_eq!(get(bal.port), 200);
        }
        runtime(&sock, &format!("disable server web/{name}"));
        assert_eq!(runtime(&sock, &format!("del server web/{name}")), "Server deleted.\n\n");
    }
    assert!(e.hits() >= 200, "the added servers served: {}", e.hits());
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = fds(bal.pid());
    assert!(
        after <= before + 8,
        "descriptors {before} before 40 add/del cycles, {after} after"
    );

    // A mirroring backend's configured servers are not deleted at run time.
    runtime(&sock, "disable server write/influx-a");
    let del = runtime(&sock, "del server write/influx-a");
    assert!(del.contains("cannot be deleted"), "{del}");
    assert!(!bal.row("influx-a").is_empty(), "still there");

    // Names HAProxy refuses.
    let long = "n".repeat(5000);
    for bad in ["a,b,c", "../etc", "\"q\"", "x/y", long.as_str()] {
        let answer = runtime(&sock, &format!("add server web/{bad} 127.0.0.1:{}", e.port));
        assert!(answer.starts_with("Invalid"), "{bad}: {answer}");
    }
    let csv = bal.csv();
    assert!(
        csv.lines()
            .all(|l| l.split(',').count() == csv.lines().next().unwrap().split(',').count()),
        "{csv}"
    );
}
