//! One haproxy.cfg line into words, with HAProxy's quoting: `\` escapes, weak `"…"` quotes
//! (escapes and `$VAR`/`${VAR}`/`${VAR-default}` expanded), strong `'…'` quotes (nothing
//! expanded), `#` starting a comment outside quotes. HAProxy has no line continuation.

/// Splits `line` into words; `env` looks up environment variables.
pub fn words(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut word = String::new();
    let mut started = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('\''), c) => word.push(c),
            (None, c) if c.is_whitespace() => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, '#') => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (_, '\\') => {
                started = true;
                match chars.next() {
                    None => return Err("a line ending in '\\' (haproxy.cfg has no line continuation)".into()),
                    Some(e @ (' ' | '#' | '\\' | '\'' | '"' | '$')) => word.push(e),
                    Some('r') => word.push('\r'),
                    Some('n') => word.push('\n'),
                    Some('t') => word.push('\t'),
                    Some('x') => {
                        let hex: String = (0..2).filter_map(|_| chars.next()).collect();
                        let b = u8::from_str_radix(&hex, 16).map_err(|_| format!("bad escape \\x{hex}"))?;
                        word.push(char::from(b));
                    }
                    Some(o) => {
                        word.push('\\');
                        word.push(o);
                    }
                }
            }
            (Some('"'), '$') => word.push_str(&expand(&mut chars, env)?),
            (_, c) => {
                started = true;
                word.push(c);
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("unterminated {q}quote{q}"));
    }
    if started {
        out.push(word);
    }
    Ok(out)
}

/// `$NAME`, `${NAME}` or `${NAME-default}` after the `$`; undefined variables expand to
/// nothing, as in HAProxy.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let is_name = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut inner = String::new();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => inner.push(c),
                None => return Err("unterminated ${…}".into()),
            }
        }
        let (name, default) = match inner.split_once('-') {
            Some((n, d)) => (n, Some(d)),
            None => (inner.as_str(), None),
        };
        if name.is_empty() || !name.chars().all(|c| is_name(&c)) || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("bad variable name {name:?}"));
        }
        return Ok(env(name).or(default.map(str::to_string)).unwrap_or_default());
    }
    let mut name = String::new();
    while let Some(c) = chars.peek().copied().filter(is_name) {
        name.push(c);
        chars.next();
    }
    if name.is_empty() {
        return Ok("$".into());
    }
    Ok(env(&name).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(line: &str) -> Vec<String> {
        let env = |n: &str| (n == "PORT").then(|| "8086".to_string());
        words(line, &env).unwrap()
    }

    #[test]
    fn quoting_and_escapes_like_haproxy() {
        assert_eq!(
            w("  server a 127.0.0.1:80 check # comment"),
            ["server", "a", "127.0.0.1:80", "check"]
        );
        assert_eq!(
            w(r"stats realm HAProxy\ Statistics"),
            ["stats", "realm", "HAProxy Statistics"]
        );
        assert_eq!(w(r#"bind "127.0.0.1:${PORT}""#), ["bind", "127.0.0.1:8086"]);
        assert_eq!(w(r#"bind "127.0.0.1:$PORT""#), ["bind", "127.0.0.1:8086"]);
        assert_eq!(w(r#"x "${NOPE-9}""#), ["x", "9"]);
        assert_eq!(w(r"x '${PORT} # not a comment'"), ["x", "${PORT} # not a comment"]);
        assert_eq!(w(r#"x "a"'b'c"#), ["x", "abc"]);
        assert_eq!(w(r"x ''"), ["x", ""]);
        assert_eq!(w(r"x a\#b"), ["x", "a#b"]);
        assert_eq!(w(r"x ${PORT}"), ["x", "${PORT}"], "unquoted: not expanded");
        assert!(words("x \"open", &|_| None).is_err());
        assert!(words("x \\", &|_| None).is_err());
    }
}
