//! A message about one line of a configuration file (`file:line: text`), and the errors and
//! warnings of one file as the translation collects them.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl Diagnostic {
    pub fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// Errors and warnings of one file.
pub struct Diags {
    pub file: String,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diags {
    pub(crate) fn error(&mut self, line: usize, m: impl Into<String>) {
        self.errors.push(Diagnostic::new(&self.file, line, m));
    }
    pub(crate) fn warn(&mut self, line: usize, m: impl Into<String>) {
        self.warnings.push(Diagnostic::new(&self.file, line, m));
    }
}

/// `; did you mean 'K'?` for the closest of `known` to `word` when it is near enough to be
/// a likely typo, else nothing: the tail of an "unknown keyword" error.
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!("; did you mean '{k}'?"))
        .unwrap_or_default()
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn suggestions() {
        assert_eq!(
            super::did_you_mean("default_backnd", &["default_backend", "use_backend"]),
            "; did you mean 'default_backend'?"
        );
        assert_eq!(super::did_you_mean("zzz", &["bind"]), "");
    }
}
