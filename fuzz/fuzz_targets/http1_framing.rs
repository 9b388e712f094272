//! The balancer's own HTTP/1 code on the request path, with `httparse` as the differential
//! oracle: the front door (`request_head.rs`) and the express lane's request test and response
//! framing (`express/http1.rs`), compiled here from the balancer's sources.
#![no_main]

#[path = "../../balancer/src/request_head.rs"]
#[allow(dead_code)]
mod request_head;

#[path = "../../balancer/src/express/http1.rs"]
#[allow(dead_code)]
mod http1;

use libfuzzer_sys::fuzz_target;
use request_head::{Head, examine};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len().max(1)));
    // Examined as if the bytes came in two reads, as the front door sees them.
    let _ = examine(&data[..split], 0);
    if let Head::Complete { end, rewritten, .. } = examine(data, split) {
        assert!(end <= data.len());
        let head = rewritten.as_deref().unwrap_or(&data[..end]);
        // What passes the front door is a complete request for httparse too.
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(n)) => assert_eq!(n, head.len(), "{:?}", String::from_utf8_lossy(head)),
            other => panic!("front door passed what httparse calls {other:?}: {:?}", String::from_utf8_lossy(head)),
        }
        // A request the express lane takes is one httparse parses the same way.
        // (its path is the target without the query: what routing matches)
        if let Some(p) = http1::plain(head) {
            let target = req.path.expect("a target");
            assert_eq!(p.path, target.split('?').next().unwrap(), "{target:?}");
        }
    }
    // Response framing on arbitrary server bytes, full and as a HEAD answer.
    for is_head in [false, true] {
        if let Ok(Some(r)) = http1::response(data, is_head) {
            let mut headers = [httparse::EMPTY_HEADER; 128];
            let mut resp = httparse::Response::new(&mut headers);
            assert!(
                matches!(resp.parse(data), Ok(httparse::Status::Complete(_))),
                "a framed response httparse cannot parse"
            );
            let _ = r;
        }
    }
    let mut chunks = http1::ChunkScanner::default();
    let _ = http1::progress(&http1::Framing::Chunked, &mut chunks, data, 0);
});
