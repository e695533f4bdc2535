//! The dom0 xenstore client against a fake xenstored thread at the other end of a socket pair:
//! the real byte stream (partial reads, watch events interleaved with replies, EOF), the same
//! client code the kernel uses.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread;

use xen_abi::xs_wire::{XsdSockmsg, XsdSockmsgType};
use xen_hv::xenstore::client::XsClient;
use xen_hv::xenstore::wire::{MessageReader, encode_header, split_nul_terminated};
use xen_hv::{XenStore, XsError, XsTx, with_transaction};

use super::StreamTransport;

fn msg(ty: u32, req_id: u32, tx: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = encode_header(&XsdSockmsg { r#type: ty, req_id, tx_id: tx, len: payload.len() as u32 }).to_vec();
    v.extend_from_slice(payload);
    v
}

fn nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// A fake xenstored: a flat tree, watches, transactions that always commit; replies are written
/// a few bytes at a time to exercise reassembly. Ends when the client hangs up.
fn fake_xenstored(mut s: UnixStream, mut tree: BTreeMap<String, String>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = MessageReader::new();
        let mut watches: Vec<(String, String)> = Vec::new();
        let mut buf = [0u8; 512];
        loop {
            let n = match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut off = 0;
            while off < n {
                let (used, res) = reader.feed(&buf[off..n]);
                off += used;
                let Ok(Some(m)) = res else { continue };
                let h = m.header;
                let parts = split_nul_terminated(&m.payload).unwrap_or_default();
                let mut out = Vec::new();
                let mut fired = Vec::new();
                let ok = |out: &mut Vec<u8>| out.extend(msg(h.r#type, h.req_id, h.tx_id, b"OK\0"));
                let err = |out: &mut Vec<u8>, e: &str| out.extend(msg(16, h.req_id, h.tx_id, &nul(e)));
                match XsdSockmsgType::from_u32(h.r#type) {
                    Some(XsdSockmsgType::Read) => match tree.get(&parts[0]) {
                        Some(v) => out.extend(msg(2, h.req_id, h.tx_id, v.as_bytes())),
                        None => err(&mut out, "ENOENT"),
                    },
                    Some(XsdSockmsgType::Write) => {
                        let (path, value) = m.payload.split_at(m.payload.iter().position(|&b| b == 0).unwrap_or(0));
                        let path = String::from_utf8_lossy(path).into_owned();
                        tree.insert(path.clone(), String::from_utf8_lossy(&value[1..]).into_owned());
                        fired.push(path);
                        ok(&mut out);
                    }
                    Some(XsdSockmsgType::Directory) => {
                        let prefix = format!("{}/", parts[0]);
                        let mut kids: Vec<&str> = tree
                            .keys()
                            .filter_map(|k| k.strip_prefix(&prefix))
                            .map(|rest| rest.split('/').next().unwrap_or(rest))
                            .collect();
                        kids.dedup();
                        let payload: Vec<u8> = kids.iter().flat_map(|k| nul(k)).collect();
                        out.extend(msg(1, h.req_id, h.tx_id, &payload));
                    }
                    Some(XsdSockmsgType::Rm) => {
                        let before = tree.len();
                        tree.retain(|k, _| k != &parts[0] && !k.starts_with(&format!("{}/", parts[0])));
                        if tree.len() == before { err(&mut out, "ENOENT") } else { ok(&mut out) }
                    }
                    Some(XsdSockmsgType::Watch) => {
                        watches.push((parts[0].clone(), parts[1].clone()));
                        ok(&mut out);
                        fired.push(parts[0].clone());
                    }
                    Some(XsdSockmsgType::Unwatch) => {
                        watches.retain(|w| w.0 != parts[0] || w.1 != parts[1]);
                        ok(&mut out);
                    }
                    Some(XsdSockmsgType::TransactionStart) => out.extend(msg(6, h.req_id, 0, b"7\0")),
                    Some(XsdSockmsgType::TransactionEnd) => ok(&mut out),
                    _ => err(&mut out, "EINVAL"),
                }
                for p in fired {
                    for (w, t) in &watches {
                        if p == *w || p.starts_with(&format!("{w}/")) {
                            let mut payload = nul(&p);
                            payload.extend(nul(t));
                            out.extend(msg(15, 0, 0, &payload));
                        }
                    }
                }
                for chunk in out.chunks(5) {
                    if s.write_all(chunk).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

fn client(tree: &[(&str, &str)]) -> (XsClient<StreamTransport>, thread::JoinHandle<()>) {
    let (a, b) = UnixStream::pair().unwrap();
    let tree = tree.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let server = fake_xenstored(b, tree);
    let mut c = XsClient::new(StreamTransport::socket(a, "fake-xenstored").unwrap());
    c.timeout_ns = 5_000_000_000;
    (c, server)
}

#[test]
fn requests_round_trip_over_the_socket() {
    let (mut xs, server) = client(&[
        ("/local/domain/0/name", "Domain-0"),
        ("/local/domain/3/name", "vtpm"),
        ("/local/domain/3/domid", "3"),
    ]);
    assert_eq!(XenStore::read(&mut xs, XsTx::NONE, "/local/domain/3/name").unwrap(), "vtpm");
    assert_eq!(XenStore::read(&mut xs, XsTx::NONE, "/nope"), Err(XsError::NoEnt));
    assert_eq!(XenStore::directory(&mut xs, XsTx::NONE, "/local/domain").unwrap(), vec!["0", "3"]);
    XenStore::write(&mut xs, XsTx::NONE, "/local/domain/3/x", "1").unwrap();
    assert_eq!(XenStore::read(&mut xs, XsTx::NONE, "/local/domain/3/x").unwrap(), "1");
    XenStore::rm(&mut xs, XsTx::NONE, "/local/domain/3").unwrap();
    assert_eq!(XenStore::directory(&mut xs, XsTx::NONE, "/local/domain").unwrap(), vec!["0"]);
    let r = with_transaction(&mut xs, |xs, tx| {
        assert_eq!(tx, XsTx(7));
        XenStore::write(xs, tx, "/t", "v")
    });
    assert_eq!(r, Ok(()));
    drop(xs);
    server.join().unwrap();
}

#[test]
fn watch_events_interleave_with_replies() {
    let (mut xs, server) = client(&[]);
    XenStore::watch(&mut xs, "/local/domain/5/backend", "tok").unwrap();
    // The initial firing arrives after the OK reply; a later write fires again.
    XenStore::write(&mut xs, XsTx::NONE, "/local/domain/5/backend/vtpm/6/0/state", "2").unwrap();
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while events.len() < 2 && std::time::Instant::now() < deadline {
        if let Some(p) = xs.next_watch_event("tok") {
            events.push(p);
        }
    }
    assert_eq!(events, vec!["/local/domain/5/backend", "/local/domain/5/backend/vtpm/6/0/state"]);
    assert_eq!(xs.next_watch_event("other"), None);
    XenStore::unwatch(&mut xs, "/local/domain/5/backend", "tok").unwrap();
    drop(xs);
    server.join().unwrap();
}

#[test]
fn a_closed_connection_is_an_error_not_a_hang() {
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    let mut xs = XsClient::new(StreamTransport::socket(a, "gone").unwrap());
    xs.timeout_ns = 2_000_000_000;
    match XenStore::read(&mut xs, XsTx::NONE, "/x") {
        Err(XsError::Other(m)) => assert!(m.contains("gone"), "{m}"),
        other => panic!("expected a connection error, got {other:?}"),
    }
}

#[test]
fn a_silent_xenstored_times_out() {
    let (a, _b) = UnixStream::pair().unwrap();
    let mut xs = XsClient::new(StreamTransport::socket(a, "silent").unwrap());
    xs.timeout_ns = 200_000_000;
    let t = std::time::Instant::now();
    assert_eq!(XenStore::read(&mut xs, XsTx::NONE, "/x"), Err(XsError::Timeout));
    assert!(t.elapsed() < std::time::Duration::from_secs(3));
}

#[test]
fn opening_a_missing_device_and_socket_names_both() {
    let e = StreamTransport::open_device("/nonexistent/xenbus").err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    let e = StreamTransport::connect("/nonexistent/socket").err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}
