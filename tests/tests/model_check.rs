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
    let s = check("requests+cancel", LinkModel { style: FrontStyle::MiniOs, budget }, 200_000);
    assert!(s.complete);
}
