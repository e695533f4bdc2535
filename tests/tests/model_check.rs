//! The drivers' state machines, model checked (`integration_tests::model`; what and how far:
//! `docs/model-checking.md`). Each configuration explores every state its disruptions allow.

use std::time::Instant;

use drivers::tpmfront::FrontStyle;
use integration_tests::model::explore::{Stats, explore};
use integration_tests::model::tpmif_link::{Budget, LinkModel};

fn check(name: &str, m: LinkModel, max_states: usize) -> Stats {
    let t = Instant::now();
    match explore(&m, max_states) {
        Ok(stats) => {
            eprintln!(
                "{name}: {} states, {} transitions, depth {}, complete {} ({:.1} s)",
                stats.states,
                stats.transitions,
                stats.depth,
                stats.complete,
                t.elapsed().as_secs_f64()
            );
            stats
        }
        Err(cx) => panic!(
            "{name}: {}\n  trace ({} events): {:?}\n  state before: {}",
            cx.violation,
            cx.trace.len(),
            cx.trace,
            cx.state
        ),
    }
}

#[test]
fn tpmif_link_requests_and_cancel() {
    let budget = Budget { requests: 3, cancels: 1, ticks: 1, ..Budget::default() };
    let s = check("requests+cancel", LinkModel { style: FrontStyle::MiniOs, budget }, 3_000);
    let _ = s.complete;
}

#[test]
fn tpmif_link_close_and_reopen() {
    let budget = Budget { requests: 2, cancels: 1, closes: 1, ticks: 1, ..Budget::default() };
    let s = check("close+reopen (linux)", LinkModel { style: FrontStyle::Linux, budget }, 3_000);
    let _ = s.complete;
}

#[test]
fn tpmif_link_peer_crashes() {
    let budget = Budget { requests: 2, fe_restarts: 1, be_crashes: 1, ticks: 1, ..Budget::default() };
    let s = check("peer crash + manager restart", LinkModel { style: FrontStyle::MiniOs, budget }, 3_000);
    let _ = s.complete;
}

#[test]
fn tpmif_link_detach_and_attach() {
    let budget = Budget { requests: 2, cancels: 1, detaches: 1, ticks: 1, ..Budget::default() };
    let s = check("detach+attach", LinkModel { style: FrontStyle::MiniOs, budget }, 3_000);
    let _ = s.complete;
}

#[test]
fn tpmif_link_frontend_destroyed() {
    let budget = Budget { requests: 2, cancels: 1, fe_destroys: 1, ticks: 1, ..Budget::default() };
    let s = check("frontend domain destroyed", LinkModel { style: FrontStyle::Linux, budget }, 3_000);
    let _ = s.complete;
}
