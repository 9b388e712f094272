//! Finds the line of a key path in a TOML file, so errors can say `file:line`.

use toml_edit::{Document, Item};

/// 1-based line of the deepest part of `path` present in `text`.
/// Path segments are keys, or array indexes written as numbers.
pub(crate) fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let doc = Document::parse(text).ok()?;
    let mut item: &Item = doc.as_item();
    let mut offset = None;
    for seg in path {
        let next = match seg.parse::<usize>() {
            Ok(i) => item.get(i),
            Err(_) => {
                if let Some((key, value)) = item.as_table_like().and_then(|t| t.get_key_value(seg)) {
                    offset = key.span().map(|s| s.start).or(offset);
                    Some(value)
                } else {
                    None
                }
            }
        };
        let Some(next) = next else { break };
        offset = next.span().map(|s| s.start).or(offset);
        item = next;
    }
    offset.map(|o| text[..o.min(text.len())].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn finds_nested_and_array_keys() {
        let text = "[collector]\ninterval = \"60s\"\n\n[[targets]]\nname = \"a\"\n\n[[targets]]\nname = \"b\"\ncommunity = 5\n";
        assert_eq!(line_of(text, &p("collector.interval")), Some(2));
        assert_eq!(line_of(text, &p("targets.1.community")), Some(9));
        assert_eq!(line_of(text, &p("targets.1.missing")), Some(7));
        assert_eq!(line_of(text, &p("nothing")), None);
    }
}
