//! Host tests of the xenstore client against a small in-memory xenstored (`FakeXenstored`):
//! a tree with watches and transactions whose commit can be forced to conflict, and hooks
//! that inject malformed replies.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use xen_abi::xs_wire::{XsdSockmsg, XsdSockmsgType};

use super::client::{XsClient, XsTransport};
use super::wire::{MessageReader, XsError, XsTx, encode_header};

#[derive(Default)]
struct FakeXenstored {
    tree: BTreeMap<String, String>,
    watches: Vec<(String, String)>,
    reader: MessageReader,
    out: VecDeque<u8>,
    now: u64,
    /// Commits that will still fail with EAGAIN.
    conflicts: u32,
    next_tx: u32,
    tx_writes: BTreeMap<u32, Vec<(String, Option<String>)>>,
    /// Raw bytes to answer the next request with, instead of a real reply.
    inject: Option<Vec<u8>>,
    /// Do not answer at all.
    silent: bool,
    commits: u32,
}

fn reply(ty: u32, req_id: u32, payload: &[u8]) -> Vec<u8> {
    let h = XsdSockmsg { r#type: ty, req_id, tx_id: 0, len: payload.len() as u32 };
    let mut v = encode_header(&h).to_vec();
    v.extend_from_slice(payload);
    v
}

impl FakeXenstored {
    fn fire(&mut self, path: &str) {
        let evs: Vec<Vec<u8>> = self
            .watches
            .iter()
            .filter(|(w, _)| path == w || path.starts_with(&(w.clone() + "/")))
            .map(|(_, t)| {
                let mut p = path.as_bytes().to_vec();
                p.push(0);
                p.extend_from_slice(t.as_bytes());
                p.push(0);
                reply(XsdSockmsgType::WatchEvent as u32, 0, &p)
            })
            .collect();
        for e in evs {
            self.out.extend(e);
        }
    }

    fn apply(&mut self, path: String, value: Option<String>) {
        match value {
            Some(v) => {
                self.tree.insert(path.clone(), v);
            }
            None => {
                let prefix = path.clone() + "/";
                self.tree.retain(|k, _| *k != path && !k.starts_with(&prefix));
            }
        }
        self.fire(&path);
    }

    fn handle(&mut self, h: XsdSockmsg, payload: Vec<u8>) {
        if self.silent {
            return;
        }
        if let Some(raw) = self.inject.take() {
            self.out.extend(raw);
            return;
        }
        let fields: Vec<String> = payload.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
        let ok = |s: &mut Self| s.out.extend(reply(h.r#type, h.req_id, b"OK\0"));
        let err = |s: &mut Self, e: &str| {
            let mut p = e.as_bytes().to_vec();
            p.push(0);
            s.out.extend(reply(XsdSockmsgType::Error as u32, h.req_id, &p));
        };
        match XsdSockmsgType::from_u32(h.r#type) {
            Some(XsdSockmsgType::Read) => match self.tree.get(&fields[0]).cloned() {
                Some(v) => self.out.extend(reply(h.r#type, h.req_id, v.as_bytes())),
                None => err(self, "ENOENT"),
            },
            Some(XsdSockmsgType::Write) => {
                let nul = payload.iter().position(|&b| b == 0).unwrap();
                let path = String::from_utf8_lossy(&payload[..nul]).into_owned();
                let value = String::from_utf8_lossy(&payload[nul + 1..]).into_owned();
                if h.tx_id != 0 {
                    self.tx_writes.entry(h.tx_id).or_default().push((path, Some(value)));
                } else {
                    self.apply(path, Some(value));
                }
                ok(self)
            }
            Some(XsdSockmsgType::Mkdir) => {
                if !self.tree.contains_key(&fields[0]) {
                    self.apply(fields[0].clone(), Some(String::new()));
                }
                ok(self)
            }
            Some(XsdSockmsgType::Rm) => {
                if self.tree.contains_key(&fields[0]) {
                    self.apply(fields[0].clone(), None);
                    ok(self)
                } else {
                    err(self, "ENOENT")
                }
            }
            Some(XsdSockmsgType::Directory) => {
                let prefix = fields[0].clone() + "/";
                let mut names: Vec<String> = self
                    .tree
                    .keys()
                    .filter_map(|k| k.strip_prefix(&prefix))
                    .map(|r| r.split('/').next().unwrap().to_string())
                    .collect();
                names.dedup();
                let mut p = Vec::new();
                for n in names {
                    p.extend_from_slice(n.as_bytes());
                    p.push(0);
                }
                self.out.extend(reply(h.r#type, h.req_id, &p));
            }
            Some(XsdSockmsgType::Watch) => {
                self.watches.push((fields[0].clone(), fields[1].clone()));
                ok(self);
                let p = fields[0].clone();
                self.fire(&p);
            }
            Some(XsdSockmsgType::Unwatch) => {
                self.watches.retain(|(p, t)| !(*p == fields[0] && *t == fields[1]));
                ok(self)
            }
            Some(XsdSockmsgType::TransactionStart) => {
                self.next_tx += 1;
                let id = self.next_tx;
                self.tx_writes.insert(id, Vec::new());
                let mut p = id.to_string().into_bytes();
                p.push(0);
                self.out.extend(reply(h.r#type, h.req_id, &p));
            }
            Some(XsdSockmsgType::TransactionEnd) => {
                let writes = self.tx_writes.remove(&h.tx_id).unwrap_or_default();
                if fields[0] == "T" {
                    if self.conflicts > 0 {
                        self.conflicts -= 1;
                        return err(self, "EAGAIN");
                    }
                    self.commits += 1;
                    for (p, v) in writes {
                        self.apply(p, v);
                    }
                }
                ok(self)
            }
            _ => err(self, "ENOSYS"),
        }
    }
}

impl XsTransport for FakeXenstored {
    fn send(&mut self, data: &[u8]) -> Result<usize, XsError> {
        // Accept at most 100 bytes per call, like a partly full ring.
        let n = data.len().min(100);
        let mut off = 0;
        while off < n {
            let (used, res) = self.reader.feed(&data[off..n]);
            off += used;
            if let Some(m) = res? {
                self.handle(m.header, m.payload);
            }
        }
        Ok(n)
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, XsError> {
        let n = buf.len().min(self.out.len()).min(7); // small pieces
        for b in buf.iter_mut().take(n) {
            *b = self.out.pop_front().unwrap();
        }
        Ok(n)
    }
    fn notify(&mut self) {}
    fn wait(&mut self, _deadline_ns: u64) {
        self.now += 1_000_000_000;
    }
    fn now_ns(&self) -> u64 {
        self.now
    }
}

fn client() -> XsClient<FakeXenstored> {
    let mut fake = FakeXenstored::default();
    fake.tree.insert("domid".into(), "3".into());
    fake.tree.insert("name".into(), "vtpm".into());
    XsClient::new(fake)
}

#[test]
fn read_write_mkdir_rm_directory() {
    let mut xs = client();
    assert_eq!(xs.read("domid").unwrap(), "3");
    assert_eq!(xs.read("nope"), Err(XsError::NoEnt));
    xs.write("data/a", "1").unwrap();
    xs.mkdir("data/b").unwrap();
    assert_eq!(xs.directory("data").unwrap(), vec!["a", "b"]);
    xs.rm("data/a").unwrap();
    assert_eq!(xs.read("data/a"), Err(XsError::NoEnt));
    assert_eq!(xs.rm("data/a"), Err(XsError::NoEnt));
    assert_eq!(xs.directory("data").unwrap(), vec!["b"]);
    assert_eq!(xs.directory("empty").unwrap(), Vec::<String>::new());
}

#[test]
fn long_values_cross_the_ring_in_pieces() {
    let mut xs = client();
    let long: String = core::iter::repeat_n('v', 3000).collect();
    xs.write("big", &long).unwrap();
    assert_eq!(xs.read("big").unwrap(), long);
}

#[test]
fn watches_are_queued_for_the_loop() {
    let mut xs = client();
    xs.watch("control/shutdown", "shutdown").unwrap();
    // The initial firing (it may arrive after the reply, so poll first).
    xs.poll().unwrap();
    let ev = xs.take_watch_event().unwrap();
    assert_eq!((ev.path.as_str(), ev.token.as_str()), ("control/shutdown", "shutdown"));
    assert!(xs.take_watch_event().is_none());
    xs.write("control/shutdown", "poweroff").unwrap();
    xs.poll().unwrap();
    let ev = xs.take_watch_event().unwrap();
    assert_eq!(ev.path, "control/shutdown");
    xs.unwatch("control/shutdown", "shutdown").unwrap();
    xs.write("control/shutdown", "").unwrap();
    xs.poll().unwrap();
    assert!(xs.take_watch_event().is_none());
}

#[test]
fn unwatch_drops_only_the_events_of_that_watch() {
    // One token for several paths, as tpmback uses it: removing the watch of `fe/a` must keep
    // the queued event of `fe/b` (and of `fe/ab`, which is not below `fe/a`).
    let mut xs = client();
    xs.watch("fe/a", "tpmback").unwrap();
    xs.watch("fe/b", "tpmback").unwrap();
    xs.watch("fe/ab", "tpmback").unwrap();
    xs.poll().unwrap();
    while xs.take_watch_event().is_some() {}
    xs.write("fe/a/state", "1").unwrap();
    xs.write("fe/b/state", "3").unwrap();
    xs.write("fe/ab", "x").unwrap();
    xs.poll().unwrap();
    xs.unwatch("fe/a", "tpmback").unwrap();
    let left: Vec<String> = core::iter::from_fn(|| xs.take_watch_event_for("tpmback")).map(|e| e.path).collect();
    assert_eq!(left, vec!["fe/b/state", "fe/ab"]);
}

#[test]
fn watch_events_can_be_taken_per_token() {
    let mut xs = client();
    xs.watch("a", "ta").unwrap();
    xs.watch("b", "tb").unwrap();
    xs.poll().unwrap();
    xs.write("a/x", "1").unwrap();
    xs.write("b/y", "2").unwrap();
    xs.poll().unwrap();
    let b: Vec<String> = core::iter::from_fn(|| xs.take_watch_event_for("tb")).map(|e| e.path).collect();
    assert_eq!(b, vec!["b", "b/y"]);
    let a: Vec<String> = core::iter::from_fn(|| xs.take_watch_event()).map(|e| e.path).collect();
    assert_eq!(a, vec!["a", "a/x"]);
}

#[test]
fn received_counter_counts_events_read_by_requests() {
    let mut xs = client();
    xs.watch("a", "ta").unwrap();
    xs.poll().unwrap();
    let n0 = xs.watch_events_received();
    assert!(n0 >= 1, "the initial firing");
    xs.write("a/x", "1").unwrap();
    // a later request reads the event off the ring: the counter moves although nobody polled
    let _ = xs.read("a/x").unwrap();
    xs.poll().unwrap();
    assert_eq!(xs.watch_events_received(), n0 + 1);
    while xs.take_watch_event().is_some() {}
    assert_eq!(xs.watch_events_received(), n0 + 1, "taking events does not change the count");
}

#[test]
fn transaction_commits() {
    let mut xs = client();
    let r = crate::with_transaction(&mut xs, |xs, tx| {
        xs.write_tx(tx, "t/a", "1")?;
        xs.write_tx(tx, "t/b", "2")?;
        Ok(7)
    });
    assert_eq!(r, Ok(7));
    assert_eq!(xs.read("t/b").unwrap(), "2");
}

#[test]
fn transaction_retries_on_eagain() {
    let mut xs = client();
    xs.transport_mut().conflicts = 2;
    let mut runs = 0;
    crate::with_transaction(&mut xs, |xs, tx| {
        runs += 1;
        xs.write_tx(tx, "t/x", "y")
    })
    .unwrap();
    assert_eq!(runs, 3);
    assert_eq!(xs.transport_mut().commits, 1);
    assert_eq!(xs.read("t/x").unwrap(), "y");
}

#[test]
fn transaction_gives_up_after_the_retry_limit() {
    let mut xs = client();
    xs.transport_mut().conflicts = 1000;
    assert_eq!(crate::with_transaction(&mut xs, |xs, tx| xs.write_tx(tx, "t/x", "y")), Err(XsError::Again));
}

#[test]
fn transaction_body_error_aborts() {
    let mut xs = client();
    let r: Result<(), _> = crate::with_transaction(&mut xs, |xs, tx| {
        xs.write_tx(tx, "t/z", "1")?;
        Err(XsError::Access)
    });
    assert_eq!(r, Err(XsError::Access));
    assert_eq!(xs.read("t/z"), Err(XsError::NoEnt));
}

#[test]
fn malformed_replies_are_errors() {
    let mut xs = client();
    // Oversized length.
    let h = XsdSockmsg { r#type: 2, req_id: 1, tx_id: 0, len: 100_000 };
    xs.transport_mut().inject = Some(encode_header(&h).to_vec());
    assert!(matches!(xs.read("domid"), Err(XsError::Malformed(_))));
    // Reply of the wrong type with the right id.
    let id = 2;
    xs.transport_mut().inject = Some(reply(XsdSockmsgType::Directory as u32, id, b"x\0"));
    assert!(matches!(xs.read("domid"), Err(XsError::Malformed(_))));
    // Unknown error name.
    xs.transport_mut().inject = Some(reply(XsdSockmsgType::Error as u32, 3, b"EWEIRD\0"));
    assert!(matches!(xs.read("domid"), Err(XsError::Malformed(_))));
    // Non-UTF-8 value.
    xs.transport_mut().inject = Some(reply(XsdSockmsgType::Read as u32, 4, b"\xff\xfe"));
    assert!(matches!(xs.read("domid"), Err(XsError::Malformed(_))));
    // Write answered with something other than OK.
    xs.transport_mut().inject = Some(reply(XsdSockmsgType::Write as u32, 5, b"KO\0"));
    assert!(matches!(xs.write("a", "b"), Err(XsError::Malformed(_))));
    // A bad watch event in front of the real reply is dropped, the reply still arrives.
    let mut raw = reply(XsdSockmsgType::WatchEvent as u32, 0, b"no-token");
    raw.extend(reply(XsdSockmsgType::Read as u32, 6, b"3"));
    xs.transport_mut().inject = Some(raw);
    assert_eq!(xs.read("domid").unwrap(), "3");
    assert!(xs.take_watch_event().is_none());
    // A stale reply (wrong id) is skipped; then no answer at all times out.
    xs.transport_mut().inject = Some(reply(XsdSockmsgType::Read as u32, 999, b"stale"));
    assert_eq!(xs.read("domid"), Err(XsError::Timeout));
    // And the client still works afterwards.
    assert_eq!(xs.read("name").unwrap(), "vtpm");
}

#[test]
fn silent_server_times_out() {
    let mut xs = client();
    xs.transport_mut().silent = true;
    assert_eq!(xs.read("domid"), Err(XsError::Timeout));
}

#[test]
fn too_long_request_is_refused_locally() {
    let mut xs = client();
    let long: String = core::iter::repeat_n('p', 5000).collect();
    assert_eq!(xs.read(&long), Err(XsError::TooLong));
    assert_eq!(XsTx::NONE, XsTx(0));
}
