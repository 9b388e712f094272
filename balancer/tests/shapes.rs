//! Every request shape the edge carries — kept-alive GET, POST with an 8 KiB line-protocol body,
//! a sticky session, close per request — loses no request while a backend server is killed
//! and while the balancer upgrades itself in place, whichever path (express lane or Pingora)
//! each request takes.

mod common;

use common::{Balancer, CHECK, KeepAlive, Upstream, checksum, failures_under_load, servers};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug)]
enum Shape {
    Get,
    Post,
    Sticky,
    Close,
}

const SHAPES: [Shape; 4] = [Shape::Get, Shape::Post, Shape::Sticky, Shape::Close];

/// One client of `shape` on `port`: its connection and session cookie.
struct Client {
    shape: Shape,
    port: u16,
    conn: KeepAlive,
    cookie: Option<String>,
    body: Vec<u8>,
}

impl Client {
    fn new(shape: Shape, port: u16) -> Self {
        // About 8 KiB of line protocol.
        let body: Vec<u8> = (0..120)
            .map(|i| format!("ifHCInOctets,host=sw1,ifName=Gi0/{i} value={i}i 1764892800000000000\n"))
            .collect::<String>()
            .into_bytes();
        Self {
            shape,
            port,
            conn: KeepAlive::new(port),
            cookie: None,
            body,
        }
    }

    /// One request; why it failed, if it did.
    fn one(&mut self) -> Result<(), String> {
        let (status, head, answer) = match self.shape {
            Shape::Get => self.conn.request("GET", "/"),
            Shape::Post => self.conn.send("POST", "/write?db=net", "", &self.body),
            Shape::Sticky => {
                let cookie = self
                    .cookie
                    .as_ref()
                    .map(|c| format!("Cookie: {c}\r\n"))
                    .unwrap_or_default();
                self.conn.send("GET", "/s/d/home", &cookie, &[])
            }
            Shape::Close => {
                let out = common::exchange(self.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
                (common::status_of(head), head.to_string(), body.as_bytes().to_vec())
            }
        };
        if status != 200 {
            return Err(format!("{:?}: {status} {head:?}", self.shape));
        }
        if let Shape::Post = self.shape {
            let want = format!("{} {}", self.body.len(), checksum(&self.body));
            if !String::from_utf8_lossy(&answer).ends_with(&want) {
                return Err(format!("POST body not intact: {:?}", String::from_utf8_lossy(&answer)));
            }
        }
        if let Some(c) = head
            .lines()
            .find_map(|l| l.strip_prefix("Set-Cookie: ").or(l.strip_prefix("set-cookie: ")))
        {
            self.cookie = c.split(';').next().map(str::to_string);
        }
        Ok(())
    }
}

fn config(ups: &[&Upstream]) -> String {
    let list = servers(&ups.iter().map(|u| (*u, 1)).collect::<Vec<_>>());
    format!(
        "[[backends]]\nname = \"web\"\n{CHECK}{list}\n[[backends]]\nname = \"g\"\nsticky = {{ cookie = \"SERVERID\" }}\n{CHECK}{list}"
    )
}

fn balancer(ups: &[&Upstream]) -> Balancer {
    let bal = Balancer::with_frontend("routes = [ { path_prefix = \"/s\", backend = \"g\" } ]", &config(ups));
    for u in ups {
        bal.wait_status(&u.name, "UP");
    }
    bal
}

#[test]
fn killing_a_backend_loses_no_request_of_any_shape() {
    for shape in SHAPES {
        let (a, mut b, c) = (Upstream::start("a"), Upstream::start("b"), Upstream::start("c"));
        let bal = balancer(&[&a, &b, &c]);
        let port = bal.port;
        let client = || {
            let mut cl = Client::new(shape, port);
            (0..600)
                .filter(|_| cl.one().inspect_err(|e| eprintln!("{e}")).is_err())
                .count()
        };
        let failed = failures_under_load(client, || b.kill());
        assert_eq!(failed, 0, "{shape:?}: requests failed while a server died");
        assert!(a.hits() + c.hits() > 0, "{shape:?}");
    }
}

#[test]
fn an_upgrade_in_place_loses_no_request_of_any_shape() {
    for shape in SHAPES {
        let (a, b) = (Upstream::start("a"), Upstream::start("b"));
        let mut old = balancer(&[&a, &b]);
        let port = old.port;
        let client = |stop: &AtomicBool| {
            let mut cl = Client::new(shape, port);
            let (mut n, mut bad) = (0usize, vec![]);
            while !stop.load(Ordering::Relaxed) && n < 100_000 {
                n += 1;
                if let Err(e) = cl.one() {
                    bad.push(e);
                }
            }
            (n, bad)
        };
        let (results, mut new) = common::upgrade_under_load(&mut old, 3, client, || ());
        let _ = (new.kill(), new.wait());
        let sent: usize = results.iter().map(|(n, _)| n).sum();
        let failed: Vec<String> = results.into_iter().flat_map(|(_, b)| b).collect();
        assert!(sent > 30, "{shape:?}: load ran ({sent})");
        assert!(
            failed.is_empty(),
            "{shape:?}: {} of {sent} failed: {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        );
    }
}
