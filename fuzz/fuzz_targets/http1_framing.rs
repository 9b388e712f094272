//! The balancer's own HTTP/1 code on the request path, with `httparse` as the differential
//! oracle: the front door's reading of a head (`door/head.rs`) with the express lane's view of
//! the request it parses (`door/lane.rs`), and the lane's response framing (`express/http1.rs`),
//! compiled here from the balancer's sources in the balancer's module layout.
#![no_main]

#[path = "../../balancer/src/express/http1.rs"]
#[allow(dead_code)]
mod http1;

// The balancer's `door/head.rs` reaches `door/lane.rs` as `super::lane`: here both sit at the
// crate root, where `super` of `head` is the root.
#[path = "../../balancer/src/door/head.rs"]
#[allow(dead_code)]
mod head;
#[path = "../../balancer/src/door/lane.rs"]
#[allow(dead_code)]
mod lane;

use libfuzzer_sys::fuzz_target;
use head::{Head, examine};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| *b as usize % (data.len().max(1)));
    // Examined as if the bytes came in two reads, as the front door sees them.
    let _ = examine(&data[..split], 0);
    if let Head::Complete { end, rewritten, lane, .. } = examine(data, split) {
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
        let alone = lane::plain(head);
        if let Some(p) = &alone {
            let target = req.path.expect("a target");
            assert_eq!(p.path, target.split('?').next().unwrap(), "{target:?}");
        }
        // The lane's reading taken from the front door's parse is the one of a parse alone.
        let shared = lane.as_ref().and_then(|l| l.view(head));
        let key = |p: &lane::Plain<'_>| (p.path.to_string(), p.host.to_string(), p.body, p.closes, p.header_len);
        if rewritten.is_none() || shared.is_some() {
            assert_eq!(shared.as_ref().map(key), alone.as_ref().map(key), "{:?}", String::from_utf8_lossy(head));
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
