//! What a frontend listens on and how, from its proxy section: `bind` lines (plain or
//! `ssl` with `crt`, `alpn`, `tls-ticket-keys`) and `redirect scheme https` for the plain ones.

use super::proxy::{Proxy, SslBind};
use super::values;
use crate::diag::Diags;
use crate::parse::Directive;

impl Proxy {
    /// `bind ADDR[,ADDR] [ssl crt FILE|DIR] [alpn LIST] [tls-ticket-keys FILE] [options]`.
    pub(super) fn bind(&mut self, dir: &Directive, d: &mut Diags) {
        let (at, w) = (dir.line, &dir.words);
        let (mut ssl, mut crt) = (false, None::<String>);
        let (mut alpn, mut ticket_keys) = (None::<Vec<String>>, None::<String>);
        let mut extra = w[2.min(w.len())..].iter();
        while let Some(word) = extra.next() {
            match word.as_str() {
                "ssl" => ssl = true,
                "crt" | "alpn" | "tls-ticket-keys" => {
                    let Some(v) = extra.next() else {
                        return d.error(at, format!("bind option '{word}' needs a value"));
                    };
                    if word == "alpn" {
                        alpn = Some(v.split(',').map(str::to_string).collect());
                    } else if word == "tls-ticket-keys" {
                        ticket_keys = Some(v.clone());
                    } else if crt.is_some() {
                        return d.error(
                            at,
                            "netpulse takes one 'crt' per frontend: a PEM file or a directory of them (one certificate each, chosen by SNI)",
                        );
                    } else {
                        crt = Some(v.clone());
                    }
                }
                "quic" | "proto" | "ca-file" | "verify" | "crt-list" => {
                    return d.error(
                        at,
                        format!("bind option '{word}' is not supported by netpulse-balancer"),
                    );
                }
                "ssl-min-ver" | "ssl-max-ver" | "ciphers" | "ciphersuites" | "curves" | "ecdhe" => {
                    extra.next();
                    d.warn(
                        at,
                        format!(
                            "bind option '{word}' is ignored: netpulse offers TLS 1.2 and 1.3 with modern suites only"
                        ),
                    );
                }
                other => d.warn(at, format!("bind option '{other}' is ignored")),
            }
        }
        if ssl && crt.is_none() {
            return d.error(at, "'bind … ssl' needs 'crt FILE|DIR'");
        }
        if !ssl && crt.is_some() {
            d.warn(at, "'crt' without 'ssl': the listener stays plain HTTP");
        }
        if ssl {
            let this = SslBind {
                crt: crt.unwrap_or_default(),
                alpn,
                ticket_keys,
            };
            match &self.tls {
                Some((l, first)) if *first != this => {
                    return d.error(
                        at,
                        format!("this frontend's ssl binds differ in 'crt', 'alpn' or 'tls-ticket-keys' from line {l}; netpulse takes one set per frontend"),
                    );
                }
                Some(_) => {}
                None => self.tls = Some((at, this)),
            }
        }
        for a in dir.arg(1).unwrap_or("").split(',') {
            match values::bind(a) {
                Ok(a) if ssl => self.tls_binds.push((at, a)),
                Ok(a) => self.binds.push((at, a)),
                Err(e) => d.error(at, e),
            }
        }
    }

    /// `[http-request] redirect scheme https [code N] [if !{ ssl_fc } | unless { ssl_fc }]`:
    /// plain-HTTP requests redirected to https. Anything else `redirect` can do is refused.
    pub(super) fn redirect(&mut self, dir: &Directive, d: &mut Diags) {
        let at = dir.line;
        let w: Vec<&str> = dir.words.iter().map(String::as_str).collect();
        let w = if w.first() == Some(&"http-request") {
            &w[1..]
        } else {
            &w[..]
        };
        if w.get(1..3) != Some(&["scheme", "https"][..]) {
            return d.error(at, "only 'redirect scheme https' is supported by netpulse-balancer");
        }
        let mut rest = &w[3..];
        let mut code = 302;
        if rest.first() == Some(&"code") {
            match rest.get(1).and_then(|c| c.parse::<u16>().ok()) {
                Some(c) if [301, 302, 303, 307, 308].contains(&c) => code = c,
                _ => return d.error(at, "redirect code: expected 301, 302, 303, 307 or 308"),
            }
            rest = &rest[2..];
        }
        // netpulse redirects only requests that came over plain HTTP, which is what these
        // conditions say; a redirect of TLS requests to https would loop.
        let plain_only = [
            &["if", "!{", "ssl_fc", "}"][..],
            &["unless", "{", "ssl_fc", "}"][..],
            &[],
        ];
        if !plain_only.contains(&rest) {
            return d.error(
                at,
                format!("redirect condition '{}': netpulse redirects exactly the requests not over TLS (`if !{{ ssl_fc }}`)", rest.join(" ")),
            );
        }
        self.redirect_https = Some(code);
    }
}
