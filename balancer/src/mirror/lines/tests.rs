//! The scanner against InfluxDB's parser: unit cases, and a differential test on random lines
//! (the scanner may hand any line to the parser, but never accept one the parser refuses, and
//! the result is always the parser's).

use super::*;
use proptest::prelude::*;

fn run(body: &str, now: i64) -> Result<(String, u32), Invalid> {
    let mut out = vec![];
    let n = stamp(body.as_bytes(), now, &mut out)?;
    Ok((String::from_utf8(out).unwrap(), n))
}

/// The parser alone, line by line from the start.
fn oracle(body: &str, now: i64) -> Result<(String, u32), Invalid> {
    let mut out = vec![];
    let n = slow(body, 0, itoa::Buffer::new().format(now).as_bytes(), &mut out, 0)?;
    Ok((String::from_utf8(out).unwrap(), n))
}

#[test]
fn lines_without_time_get_the_arrival_time() {
    let (out, n) = run("cpu,host=a v=1 17\n\n# note\nmem v=2i\r\n", 99).unwrap();
    assert_eq!(out, "cpu,host=a v=1 17\nmem v=2i 99\n");
    assert_eq!(n, 2);
}

#[test]
fn the_first_bad_line_is_named() {
    let e = run("cpu v=1\ncpu v=\n", 1).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    let mut out = vec![];
    assert_eq!(stamp(b"a v=1\n\xff", 1, &mut out).unwrap_err().line, 2);
    assert_eq!(run("a v=1\nb v=1\nc v=1 x\n", 1).unwrap_err().line, 3);
}

#[test]
fn numbers_out_of_range_are_refused_as_influxdb_refuses_them() {
    for body in [
        "m v=1e999\n",
        "m v=-1e999\n",
        "m a=1,v=1E+400 5\n",
        &format!("m v={}\n", "9".repeat(400)),
    ] {
        let e = run(body, 1).unwrap_err();
        assert!(e.why.contains("out of range"), "{body}: {e}");
    }
    assert_eq!(run("m v=1e300\n", 7).unwrap().1, 1);
}

#[test]
fn uncommon_shapes_go_to_the_parser_and_keep_its_answer() {
    for body in [
        "m\\ x,t\\,a=b\\ c f\\=g=1i 5\n",   // escapes
        "m s=\"multi\nline\" 7\nn v=1\n",   // a newline inside a string
        "  m v=1\n",                        // leading blanks
        "m  v=1  9  \n",                    // several spaces
        "m v=1e-5,w=-3.25E+2,x=T,y=\"\"\n", // floats, booleans, empty string
        "m v=1.\n",                         // refused by InfluxDB
        "m v=9223372036854775808i\n",       // overflow
        "m v=1 1.5\n",                      // float timestamp
        "# a=\"x\nm v=1\nn v=2\n",          // a quote in a comment
    ] {
        assert_eq!(run(body, 42), oracle(body, 42), "{body:?}");
    }
}

#[test]
fn the_common_shape_is_taken_by_the_scanner() {
    for (line, timed) in [
        (
            &b"ifstats,host=bench,port=p1 in=1000i,out=2000i,errors=0i,util=0.5"[..],
            false,
        ),
        (
            b"cpu,host=a usage=-1.5e-3,up=true,name=\"sw 1, core\",n=42u 1700000000000000000",
            true,
        ),
        (b"m v=1 -5", true),
    ] {
        assert_eq!(fast(line), Shape::Point { timed }, "{}", String::from_utf8_lossy(line));
    }
    assert_eq!(fast(b"  \t"), Shape::Skip);
    assert_eq!(fast(b"# a comment"), Shape::Skip);
    assert_eq!(fast(b"m\\ x v=1"), Shape::Unsure);
}

#[test]
fn precisions() {
    assert_eq!(unit_ns(None), Some(1));
    assert_eq!(unit_ns(Some("s")), Some(1_000_000_000));
    assert_eq!(unit_ns(Some("ms")), Some(1_000_000));
    assert_eq!(unit_ns(Some("fortnight")), None);
}

/// Lines near the common shape, with every byte the grammar cares about.
fn line() -> impl Strategy<Value = String> {
    let name = "[a-zA-Z0-9_é]{1,4}";
    let piece = prop_oneof![
        Just(",".to_string()),
        Just("=".to_string()),
        Just(" ".to_string()),
        Just("  ".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("\t".to_string()),
        Just("#".to_string()),
        Just("\0".to_string()),
        Just("-".to_string()),
        Just(".".to_string()),
        "[0-9]{1,20}".prop_map(|s| s),
        "[0-9]{1,3}[iu]".prop_map(|s| s),
        "(t|T|true|True|TRUE|f|F|false|False|FALSE|tru|yes)".prop_map(|s| s),
        "[0-9]{1,3}[eE][+-]?[0-9]{1,3}".prop_map(|s| s),
        name.prop_map(|s| s),
    ];
    let shaped = (
        name,
        proptest::collection::vec((name, name), 0..3),
        proptest::collection::vec(
            (
                name,
                "(-?[0-9]{1,4}i|[0-9]{1,3}u|-?[0-9]{1,3}(\\.[0-9]{1,3})?|t|FALSE|\"[a-z ,=]{0,5}\")",
            ),
            1..3,
        ),
        proptest::option::of("-?[0-9]{1,19}"),
    )
        .prop_map(|(m, tags, fields, ts)| {
            let mut l = m;
            for (k, v) in tags {
                l.push_str(&format!(",{k}={v}"));
            }
            let f: Vec<String> = fields.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            l.push(' ');
            l.push_str(&f.join(","));
            if let Some(t) = ts {
                l.push(' ');
                l.push_str(&t);
            }
            l
        });
    prop_oneof![
        3 => shaped.clone(),
        // A well-shaped line with one piece spliced in somewhere.
        3 => (shaped, piece.clone(), any::<prop::sample::Index>()).prop_map(|(l, p, at)| {
            let cut = at.index(l.len() + 1);
            let cut = (0..=cut).rev().find(|&c| l.is_char_boundary(c)).unwrap_or(0);
            format!("{}{p}{}", &l[..cut], &l[cut..])
        }),
        1 => proptest::collection::vec(piece, 1..12).prop_map(|v| v.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn the_scanner_never_disagrees_with_influxdbs_parser(lines in proptest::collection::vec(line(), 1..4)) {
        let body = lines.join("\n");
        prop_assert_eq!(run(&body, 7), oracle(&body, 7), "{:?}", body);
    }
}
