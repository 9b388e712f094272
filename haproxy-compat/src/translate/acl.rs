//! ACLs and `use_backend … if|unless` conditions into the native config's conditions.
//! An ACL is a disjunction of conditions (several `acl` lines with one name are OR'ed); a
//! rule's condition is brought into disjunctive normal form, one native route per term.

use netpulse_config::{Condition, Test};
use std::collections::HashMap;

/// Named ACLs of one proxy: each an OR of conditions.
pub type Acls = HashMap<String, Vec<Condition>>;

/// The criteria netpulse can evaluate.
pub const CRITERIA: &[&str] = &["path_beg", "path", "hdr(host)", "hdr_dom(host)", "req.hdr(host)"];

/// `acl NAME CRITERION [flags] VALUE…` (the words after `acl NAME`) into a condition.
pub fn parse(words: &[String]) -> Result<Condition, String> {
    let (criterion, rest) = words.split_first().ok_or("an acl needs a criterion and values")?;
    let lower = criterion.to_ascii_lowercase();
    let mut test = match lower.as_str() {
        "path_beg" => Some(Test::PathPrefix),
        "path" => Some(Test::Path),
        "hdr(host)" | "req.hdr(host)" => Some(Test::Host),
        "hdr_dom(host)" => Some(Test::HostDomain),
        _ => None,
    };
    let (mut ignore_case, mut values) = (false, vec![]);
    let mut it = rest.iter();
    let mut flags = true;
    while let Some(w) = it.next() {
        match w.as_str() {
            "-i" if flags => ignore_case = true,
            "--" if flags => flags = false,
            "-m" if flags => {
                let m = it.next().ok_or("'-m' needs a match method")?;
                test = match (test, m.as_str()) {
                    (Some(Test::Path | Test::PathPrefix), "beg") => Some(Test::PathPrefix),
                    (Some(Test::Path | Test::PathPrefix), "str") => Some(Test::Path),
                    (Some(Test::Host | Test::HostDomain), "str") => Some(Test::Host),
                    (Some(Test::Host | Test::HostDomain), "dom") => Some(Test::HostDomain),
                    _ => return Err(format!("'{criterion} -m {m}' is not supported")),
                };
            }
            f if flags && f.starts_with('-') && f.len() > 1 => {
                return Err(format!("acl flag '{f}' is not supported"));
            }
            v => {
                flags = false;
                values.push(v.to_string());
            }
        }
    }
    let test = test.ok_or_else(|| {
        format!(
            "acl criterion '{criterion}' is not supported (supported: {})",
            CRITERIA.join(", ")
        )
    })?;
    if values.is_empty() {
        return Err(format!("acl '{criterion}' without a value"));
    }
    Ok(Condition {
        test,
        values,
        negate: false,
        ignore_case,
    })
}

/// A condition in disjunctive normal form: OR of ANDs.
pub type Dnf = Vec<Vec<Condition>>;

/// `if|unless` and the condition words of a `use_backend` rule.
pub fn condition(words: &[String], acls: &Acls) -> Result<Dnf, String> {
    let (kw, rest) = words.split_first().ok_or("missing 'if' or 'unless'")?;
    let unless = match kw.as_str() {
        "if" => false,
        "unless" => true,
        other => return Err(format!("expected 'if' or 'unless', found '{other}'")),
    };
    let mut dnf: Dnf = vec![];
    let mut term: Dnf = vec![vec![]];
    let mut it = rest.iter().peekable();
    while let Some(w) = it.next() {
        if w == "||" || w.eq_ignore_ascii_case("or") {
            dnf.append(&mut term);
            term = vec![vec![]];
            continue;
        }
        let (neg, name) = match w.strip_prefix('!') {
            Some("") => (true, it.next().ok_or("'!' at the end of the condition")?.clone()),
            Some(n) => (true, n.to_string()),
            None => (false, w.clone()),
        };
        let alternatives = if name == "{" {
            let mut inner = vec![];
            loop {
                match it.next() {
                    Some(x) if x == "}" => break,
                    Some(x) => inner.push(x.clone()),
                    None => return Err("'{' without '}' in the condition".into()),
                }
            }
            vec![parse(&inner)?]
        } else {
            acls.get(&name)
                .cloned()
                .ok_or_else(|| format!("unknown acl '{name}'"))?
        };
        let acl: Dnf = alternatives.into_iter().map(|c| vec![c]).collect();
        term = and(term, if neg { not(acl) } else { acl });
    }
    dnf.append(&mut term);
    if dnf.iter().any(Vec::is_empty) {
        return Err("an empty condition".into());
    }
    Ok(if unless { not(dnf) } else { dnf })
}

fn and(a: Dnf, b: Dnf) -> Dnf {
    let mut out = vec![];
    for x in &a {
        for y in &b {
            out.push([x.clone(), y.clone()].concat());
        }
    }
    out
}

/// De Morgan: NOT (t1 OR t2 …) = AND over terms of (OR of negated conditions).
fn not(dnf: Dnf) -> Dnf {
    let mut out: Dnf = vec![vec![]];
    for term in dnf {
        let negated: Dnf = term
            .into_iter()
            .map(|mut c| {
                c.negate = !c.negate;
                vec![c]
            })
            .collect();
        out = and(out, negated);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn conditions_into_dnf() {
        let mut acls = Acls::new();
        acls.insert("api".into(), vec![parse(&s(&["path_beg", "/api", "/v2"])).unwrap()]);
        acls.insert(
            "graf".into(),
            vec![parse(&s(&["hdr(host)", "-i", "grafana.example"])).unwrap()],
        );
        let d = condition(&s(&["if", "api", "!graf"]), &acls).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].len(), 2);
        assert!(d[0][1].negate && d[0][1].ignore_case);
        let d = condition(&s(&["if", "api", "||", "graf"]), &acls).unwrap();
        assert_eq!(d.len(), 2);
        // unless (a AND b) = !a OR !b
        let d = condition(&s(&["unless", "api", "graf"]), &acls).unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|t| t.len() == 1 && t[0].negate));
        let d = condition(&s(&["if", "{", "path", "/x", "}"]), &acls).unwrap();
        assert_eq!(d[0][0].test, Test::Path);
        assert!(
            condition(&s(&["if", "nope"]), &acls)
                .unwrap_err()
                .contains("unknown acl 'nope'")
        );
        assert!(parse(&s(&["src", "10.0.0.0/8"])).unwrap_err().contains("not supported"));
        assert_eq!(parse(&s(&["path", "-m", "beg", "/a"])).unwrap().test, Test::PathPrefix);
    }
}
