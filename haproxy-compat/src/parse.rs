//! haproxy.cfg into sections of directives, each directive keeping its line. Knows the
//! section keywords and their headers (`defaults [NAME] [from D]`, `listen NAME [ADDR]`);
//! it does not interpret directives (that is `translate`).

use crate::diag::Diagnostic;
use crate::lex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Global,
    Defaults,
    Frontend,
    Backend,
    Listen,
    /// A section netpulse does not use (userlist, peers, resolvers, …).
    Other(String),
}

#[derive(Debug, Clone)]
pub struct Directive {
    pub line: usize,
    pub words: Vec<String>,
}

impl Directive {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct Section {
    pub kind: Kind,
    pub name: Option<String>,
    /// `from NAME`: the defaults section to inherit instead of the last one.
    pub from: Option<String>,
    /// `listen NAME ADDR`: the address given on the header line.
    pub addr: Option<String>,
    pub line: usize,
    pub directives: Vec<Directive>,
}

const OTHER_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "resolvers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "fcgi-app",
    "crt-store",
    "traces",
    "dynamic-update",
];

/// Parses the whole text; errors are collected, never a panic.
pub fn sections(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> (Vec<Section>, Vec<Diagnostic>) {
    let mut out: Vec<Section> = vec![];
    let mut errors = vec![];
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let words = match lex::words(raw, env) {
            Ok(w) => w,
            Err(e) => {
                errors.push(Diagnostic::new(file, line, e));
                continue;
            }
        };
        let Some(first) = words.first() else { continue };
        let kind = match first.as_str() {
            "global" => Some(Kind::Global),
            "defaults" => Some(Kind::Defaults),
            "frontend" => Some(Kind::Frontend),
            "backend" => Some(Kind::Backend),
            "listen" => Some(Kind::Listen),
            s if OTHER_SECTIONS.contains(&s) => Some(Kind::Other(s.to_string())),
            _ => None,
        };
        let Some(kind) = kind else {
            match out.last_mut() {
                Some(s) => s.directives.push(Directive { line, words }),
                None => errors.push(Diagnostic::new(
                    file,
                    line,
                    format!("'{first}' outside of any section (global, defaults, frontend, backend, listen)"),
                )),
            }
            continue;
        };
        match header(&kind, &words[1..]) {
            Ok((name, from, addr)) => out.push(Section {
                kind,
                name,
                from,
                addr,
                line,
                directives: vec![],
            }),
            Err(e) => {
                errors.push(Diagnostic::new(file, line, e));
                // Keep parsing its directives into a placeholder so later lines are not misread.
                out.push(Section {
                    kind: Kind::Other(first.clone()),
                    name: None,
                    from: None,
                    addr: None,
                    line,
                    directives: vec![],
                });
            }
        }
    }
    (out, errors)
}

type Header = (Option<String>, Option<String>, Option<String>);

fn header(kind: &Kind, args: &[String]) -> Result<Header, String> {
    let (mut name, mut from, mut addr) = (None, None, None);
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        if a == "from" {
            from = Some(
                rest.next()
                    .ok_or("'from' needs the name of a defaults section")?
                    .clone(),
            );
        } else if name.is_none() {
            name = Some(a.clone());
        } else if *kind == Kind::Listen && addr.is_none() {
            addr = Some(a.clone());
        } else {
            return Err(format!("unexpected '{a}' on the section line"));
        }
    }
    let needs_name = matches!(kind, Kind::Frontend | Kind::Backend | Kind::Listen);
    if needs_name && name.is_none() {
        return Err("this section needs a name".into());
    }
    if let Some(n) = &name {
        netpulse_config::haproxy_name("proxy", n)?;
    }
    if *kind == Kind::Global && (name.is_some() || from.is_some()) {
        return Err("'global' takes no arguments".into());
    }
    Ok((name, from, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_with_headers_and_lines() {
        let text = "global\n  daemon\n\ndefaults base\n  mode http\ndefaults from base\nlisten web 127.0.0.1:80\n  server a 1.2.3.4:80\nbackend\n";
        let (s, errors) = sections(text, "h.cfg", &|_| None);
        assert_eq!(s.len(), 5);
        assert_eq!(s[1].name.as_deref(), Some("base"));
        assert_eq!(s[2].from.as_deref(), Some("base"));
        assert_eq!(s[3].addr.as_deref(), Some("127.0.0.1:80"));
        assert_eq!(s[3].directives[0].line, 8);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].to_string(), "h.cfg:9: this section needs a name");
        let (_, e) = sections("  mode http\n", "x.cfg", &|_| None);
        assert!(e[0].to_string().starts_with("x.cfg:1: 'mode' outside of any section"));
    }
}
