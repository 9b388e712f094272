//! haproxy.cfg text through the lexer, the section parser and the translator: a translation
//! or errors with line numbers, never a panic; a translation that is accepted is a native
//! configuration the balancer's own validation accepts too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |k: &str| (k == "PORT").then(|| "8080".to_string());
    match netpulse_haproxy_compat::translate_str(text, "fuzz.cfg", &env) {
        Ok(t) => {
            for w in &t.warnings {
                assert!(w.to_string().contains("fuzz.cfg"), "a warning names the file: {w}");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
