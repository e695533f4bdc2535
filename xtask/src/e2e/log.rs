//! Parses the serial log of a test-bed boot into what dom0's plan runner reported
//! (`@@…` lines, see `tests/e2e/overlay/usr/local/bin/xt-dom0`), grouped by scenario.
//! Lines may carry a host timestamp prefix, and Xen or kernel output may precede the marker
//! on the same line; everything before `@@` is ignored.

use std::collections::BTreeMap;

/// One reported step result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Create {
        dom: String,
        rc: i32,
        domid: Option<u32>,
        secs: String,
    },
    Wait {
        dom: String,
        result: String,
        secs: String,
    },
    /// `xl list` snapshot: the domain names listed.
    List(Vec<String>),
    Shutdown {
        dom: String,
        rc: i32,
        secs: String,
        gone: bool,
    },
    Gone {
        dom: String,
        gone: bool,
        secs: String,
    },
    Disk {
        path: String,
        rc: i32,
    },
    /// dom0 backends serving a domain: (backend type, device ids).
    Backends {
        dom: String,
        backends: Vec<(String, Vec<String>)>,
    },
    /// `xl reboot`: the domain's domid before and after (None: it did not come back).
    Reboot {
        dom: String,
        rc: i32,
        old: Option<u32>,
        new: Option<u32>,
        secs: String,
    },
    /// A `timed` step: a command's exit code and how long it took.
    Timed {
        label: String,
        rc: i32,
        secs: String,
    },
    Warn(String),
}

/// Everything one scenario's steps reported.
#[derive(Clone, Debug, Default)]
pub struct ScenarioLog {
    pub events: Vec<Event>,
    /// Console lines per domain (the last dump wins).
    pub consoles: BTreeMap<String, Vec<String>>,
    /// xl output per domain (create/shutdown/destroy), and qdisk backend (qemu) logs.
    pub xl_output: BTreeMap<String, Vec<String>>,
    pub qemu_logs: BTreeMap<String, Vec<String>>,
    /// The raw serial lines between this scenario's start and the next.
    pub raw: Vec<String>,
}

/// The whole boot.
#[derive(Clone, Debug, Default)]
pub struct BootLog {
    pub dom0_ready: Option<String>,
    pub plan_done: bool,
    pub scenarios: BTreeMap<String, ScenarioLog>,
    /// Lines that tell of a crash: Xen panic, dom0 kernel panic, a domain crash.
    pub crashes: Vec<String>,
    pub warnings: Vec<String>,
}

fn kv<'a>(words: &[&'a str], key: &str) -> Option<&'a str> {
    words.iter().find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Strips a `[+  12.34] ` host timestamp.
pub fn strip_stamp(line: &str) -> &str {
    if line.starts_with("[+")
        && let Some(i) = line.find("] ")
    {
        return &line[i + 2..];
    }
    line
}

/// `name| text` → (name, text).
fn tagged(rest: &str) -> Option<(String, String)> {
    let (name, text) = rest.split_once('|')?;
    Some((name.trim().to_string(), text.strip_prefix(' ').unwrap_or(text).to_string()))
}

pub fn parse(text: &str) -> BootLog {
    let mut log = BootLog::default();
    let mut cur: Option<String> = None;
    let mut pending_list: Option<Vec<String>> = None;
    let flush_list = |log: &mut BootLog, cur: &Option<String>, pl: &mut Option<Vec<String>>| {
        if let (Some(l), Some(s)) = (pl.take(), cur.as_ref()) {
            log.scenarios.entry(s.clone()).or_default().events.push(Event::List(l));
        }
    };
    for line in text.lines() {
        let line = strip_stamp(line);
        if line.contains("Panic on CPU")
            || line.contains("Kernel panic - not syncing")
            || line.contains("Hardware Dom0 crashed")
        {
            log.crashes.push(line.to_string());
        }
        if line.contains("(XEN)") && line.contains("crashed") && line.contains("Domain") {
            log.crashes.push(line.to_string());
        }
        if let Some(s) = &cur {
            log.scenarios.entry(s.clone()).or_default().raw.push(line.to_string());
        }
        let Some(at) = line.find("@@") else { continue };
        let m = &line[at + 2..];
        if let Some(rest) = m.strip_prefix("xl|") {
            if let Some(l) = pending_list.as_mut() {
                let name = rest.split_whitespace().next().unwrap_or("");
                if !name.is_empty() && name != "Name" {
                    l.push(name.to_string());
                }
            }
            continue;
        }
        if pending_list.is_some() {
            flush_list(&mut log, &cur, &mut pending_list);
        }
        if let Some(rest) = m.strip_prefix("con ") {
            if let (Some((dom, text)), Some(s)) = (tagged(rest), cur.as_ref()) {
                log.scenarios.entry(s.clone()).or_default().consoles.entry(dom).or_default().push(text);
            }
            continue;
        }
        if let Some(rest) = m.strip_prefix("out ") {
            if let (Some((dom, text)), Some(s)) = (tagged(rest), cur.as_ref()) {
                log.scenarios.entry(s.clone()).or_default().xl_output.entry(dom).or_default().push(text);
            }
            continue;
        }
        if let Some(rest) = m.strip_prefix("qemu ") {
            if let (Some((dom, text)), Some(s)) = (tagged(rest), cur.as_ref()) {
                log.scenarios.entry(s.clone()).or_default().qemu_logs.entry(dom).or_default().push(text);
            }
            continue;
        }
        let Some(rest) = m.strip_prefix("xt ") else { continue };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let Some(&ev) = w.first() else { continue };
        let dom = w.get(1).map(|s| s.to_string()).unwrap_or_default();
        let rc = |w: &[&str]| kv(w, "rc").and_then(|v| v.parse().ok()).unwrap_or(-1);
        let secs = |w: &[&str]| kv(w, "secs").unwrap_or("?").to_string();
        let event = match ev {
            "dom0-ready" => {
                log.dom0_ready = Some(rest.to_string());
                None
            }
            "plan-done" => {
                log.plan_done = true;
                None
            }
            "scenario" => {
                cur = Some(dom.clone());
                log.scenarios.entry(dom).or_default();
                None
            }
            "list" => {
                pending_list = Some(Vec::new());
                None
            }
            "console" => {
                if w.get(2) == Some(&"begin")
                    && let Some(s) = &cur
                {
                    log.scenarios.entry(s.clone()).or_default().consoles.insert(dom.clone(), Vec::new());
                }
                None
            }
            "create" => Some(Event::Create {
                dom,
                rc: rc(&w),
                domid: kv(&w, "domid").and_then(|v| v.parse().ok()),
                secs: secs(&w),
            }),
            "wait" => Some(Event::Wait { dom, result: w.get(2).unwrap_or(&"?").to_string(), secs: secs(&w) }),
            "shutdown" => {
                Some(Event::Shutdown { dom, rc: rc(&w), secs: secs(&w), gone: kv(&w, "gone") == Some("yes") })
            }
            "gone" => Some(Event::Gone { dom, gone: w.get(2) == Some(&"yes"), secs: secs(&w) }),
            "disk" => Some(Event::Disk { path: dom, rc: rc(&w) }),
            "reboot" => Some(Event::Reboot {
                dom,
                rc: rc(&w),
                old: kv(&w, "old").and_then(|v| v.parse().ok()),
                new: kv(&w, "new").and_then(|v| v.parse().ok()),
                secs: secs(&w),
            }),
            "timed" => Some(Event::Timed { label: dom, rc: rc(&w), secs: secs(&w) }),
            "backends" => Some(Event::Backends {
                dom,
                backends: w[2..]
                    .iter()
                    .filter_map(|b| b.split_once(':'))
                    .map(|(t, ids)| (t.to_string(), ids.split(',').map(str::to_string).collect()))
                    .collect(),
            }),
            "warn" => {
                log.warnings.push(rest.to_string());
                Some(Event::Warn(rest.to_string()))
            }
            _ => None,
        };
        if let (Some(e), Some(s)) = (event, cur.as_ref()) {
            log.scenarios.entry(s.clone()).or_default().events.push(e);
        }
    }
    flush_list(&mut log, &cur, &mut pending_list);
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
[+  1.00] (XEN) Xen version 4.17.7
[+ 20.00] @@xt dom0-ready uptime=12.0 xen=4.17.7
[+ 20.10] @@xt plan-start
[+ 20.20] @@xt scenario boot
[+ 20.30] @@xt disk /var/vtpm.img rc=0
[+ 28.00] @@xt create vtpm rc=0 domid=1 secs=7.7
[+ 28.10] @@xt backends vtpm vbd:768,51712 console:0
[+ 29.00] @@xt wait vtpm found secs=1.0
[+ 29.10] @@xt list
[+ 29.20] @@xl| Name                                        ID   Mem VCPUs\tState\tTime(s)
[+ 29.20] @@xl| Domain-0                                     0  1024     2     r-----      10.0
[+ 29.30] [  12.3] xen-blkback: something @@xl| vtpm                                          1     8     1     -b----       0.1
[+ 30.00] @@xt shutdown vtpm rc=0 secs=2.1 gone=yes
[+ 30.10] @@xt console vtpm begin
[+ 30.10] @@con vtpm| vtpm-stubdom 0.1.0 (Rust) starting
[+ 30.10] @@con vtpm| option: a|b
[+ 30.20] @@xt console vtpm end
[+ 30.30] @@xt scenario selftest
[+ 31.00] @@xt create vtpm-selftest rc=1 domid=- secs=0.5
[+ 31.00] @@out vtpm-selftest| libxl: error: boom
[+ 31.10] (XEN) Domain 3 (vcpu#0) crashed on cpu#1:
[+ 32.00] @@xt gone vtpm-selftest yes secs=0.0
[+ 33.00] @@xt plan-done uptime=40
";

    #[test]
    fn parses_sample() {
        let l = parse(SAMPLE);
        assert!(l.plan_done);
        assert!(l.dom0_ready.is_some());
        let mut b = l.scenarios["boot"].clone();
        assert_eq!(b.events[0], Event::Disk { path: "/var/vtpm.img".into(), rc: 0 });
        assert_eq!(b.events[1], Event::Create { dom: "vtpm".into(), rc: 0, domid: Some(1), secs: "7.7".into() });
        assert_eq!(
            b.events.remove(2),
            Event::Backends {
                dom: "vtpm".into(),
                backends: vec![
                    ("vbd".into(), vec!["768".into(), "51712".into()]),
                    ("console".into(), vec!["0".into()])
                ]
            }
        );
        assert_eq!(b.events[2], Event::Wait { dom: "vtpm".into(), result: "found".into(), secs: "1.0".into() });
        assert_eq!(b.events[3], Event::List(vec!["Domain-0".into(), "vtpm".into()]));
        assert_eq!(b.events[4], Event::Shutdown { dom: "vtpm".into(), rc: 0, secs: "2.1".into(), gone: true });
        assert_eq!(b.consoles["vtpm"], ["vtpm-stubdom 0.1.0 (Rust) starting", "option: a|b"]);
        let s = &l.scenarios["selftest"];
        assert_eq!(s.events[0], Event::Create { dom: "vtpm-selftest".into(), rc: 1, domid: None, secs: "0.5".into() });
        assert_eq!(s.xl_output["vtpm-selftest"], ["libxl: error: boom"]);
        assert_eq!(l.crashes.len(), 1);
    }

    #[test]
    fn garbage_is_ignored() {
        let l = parse("@@xt\n@@xt create\n@@con nobar\n@@xl| x\n\u{0}@@@@\n");
        assert!(!l.plan_done);
        assert!(l.scenarios.is_empty());
    }
}
