//! README quotes no figure that BENCHMARKS.md does not hold (issue 25, item 5): every ratio
//! (`1.06×`, `0.82–1.18×`) written in README must appear, as written, in BENCHMARKS.md — whose
//! first section lists the medians of the latest runs, their ranges and the scripts.

use netpulse_deploy::deploy_dir;

/// The ratios of `text`: a number, optionally a range (`–`), then `×`.
fn ratios(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = vec![];
    for (i, c) in chars.iter().enumerate() {
        if *c != '×' {
            continue;
        }
        let mut start = i;
        while start > 0 && (chars[start - 1].is_ascii_digit() || matches!(chars[start - 1], '.' | ',' | '–')) {
            start -= 1;
        }
        let figure: String = chars[start..=i].iter().collect();
        if figure.len() > '×'.len_utf8() && figure.starts_with(|c: char| c.is_ascii_digit()) {
            out.push(figure);
        }
    }
    out
}

#[test]
fn every_ratio_in_readme_is_in_benchmarks() {
    let root = deploy_dir().join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let bench = std::fs::read_to_string(root.join("BENCHMARKS.md")).unwrap();
    let figures = ratios(&readme);
    assert!(figures.len() > 20, "README's ratios: {figures:?}");
    let missing: Vec<&String> = figures.iter().filter(|f| !bench.contains(f.as_str())).collect();
    assert!(
        missing.is_empty(),
        "README quotes figures BENCHMARKS.md does not hold: {missing:?}"
    );
}

#[test]
fn ratios_are_read_whole() {
    assert_eq!(
        ratios("median 1.06× (0.82–1.18×), 1.0× and 11.5–16.1×; ×2"),
        ["1.06×", "0.82–1.18×", "1.0×", "11.5–16.1×"]
    );
}
