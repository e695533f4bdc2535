//! An exhaustive breadth-first explorer for models whose system cannot be cloned.
//!
//! The systems checked here are the real drivers on the simulated Xen: `Rc`-shared pages,
//! xenstore and event channels, driver objects holding mappings. None of that can be copied,
//! so a state is kept as the *trace* of events that leads to it from the initial state and is
//! rebuilt by replaying that trace (the code under test is deterministic: the simulated clock
//! only moves when a model's event moves it). Two states are the same when the model's
//! fingerprint (a 64-bit hash of everything that decides the future) is the same; each state
//! is expanded once.
//!
//! Every transition is checked by [`Model::apply`] (safety: a wrong response, a request served
//! twice, a driver panic); every new state by [`Model::settle`] (liveness, bounded: from this
//! state, with no more disruptions and every side taking its turn, every request in flight gets
//! its outcome and the link comes back Connected). A violation stops the search with the
//! shortest trace that shows it (BFS).
//!
//! Not done: partial-order reduction, symmetry reduction beyond what a model leaves out of its
//! fingerprint. Hash collisions (64 bits) could hide a state; at the state counts we run
//! (≤ 10⁶) the chance is below 10⁻⁷.

use std::collections::{HashSet, VecDeque};
use std::fmt::Debug;

/// A system to explore.
pub trait Model {
    /// One atomic step of one party (a driver call, a toolstack action, time passing).
    type Event: Clone + Debug;
    /// The running system.
    type Sys;

    /// The initial state.
    fn init(&self) -> Self::Sys;
    /// The events that may happen next (an event that turns out to change nothing is fine:
    /// its successor is a state already seen).
    fn enabled(&self, sys: &mut Self::Sys) -> Vec<Self::Event>;
    /// Applies one event; `Err` names a broken safety property.
    fn apply(&self, sys: &mut Self::Sys, event: &Self::Event) -> Result<(), String>;
    /// A hash of everything that decides the future.
    fn fingerprint(&self, sys: &mut Self::Sys) -> u64;
    /// Runs the system on from this state with no more disruptions (every party takes its
    /// turn, time passes when nothing else moves); `Err` names a broken liveness property.
    fn settle(&self, sys: Self::Sys) -> Result<(), String>;
    /// The state in words, for a counterexample.
    fn describe(&self, sys: &mut Self::Sys) -> String;
}

/// How much was explored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct states reached (and settled).
    pub states: usize,
    /// Transitions taken (each checked).
    pub transitions: usize,
    /// The longest shortest-path from the initial state to a state.
    pub depth: usize,
    /// False if `max_states` stopped the search before the frontier was empty.
    pub complete: bool,
}

/// A broken property and the shortest trace to it.
#[derive(Debug)]
pub struct Counterexample<E> {
    /// The events from the initial state.
    pub trace: Vec<E>,
    /// What broke.
    pub violation: String,
    /// The last state in words (before the event that broke it, or the state that did not settle).
    pub state: String,
}

fn replay<M: Model>(m: &M, trace: &[M::Event]) -> Result<M::Sys, Counterexample<M::Event>> {
    let mut sys = m.init();
    for (i, e) in trace.iter().enumerate() {
        if let Err(v) = m.apply(&mut sys, e) {
            // Cannot happen for a deterministic model (the trace was applied before).
            return Err(Counterexample {
                trace: trace[..=i].to_vec(),
                violation: format!("on replay: {v}"),
                state: String::new(),
            });
        }
    }
    Ok(sys)
}

/// Explores every state reachable from [`Model::init`] (up to `max_states`).
pub fn explore<M: Model>(m: &M, max_states: usize) -> Result<Stats, Counterexample<M::Event>> {
    let mut stats = Stats::default();
    let mut seen = HashSet::new();
    let mut frontier: VecDeque<Vec<M::Event>> = VecDeque::new();
    let mut sys = m.init();
    seen.insert(m.fingerprint(&mut sys));
    stats.states = 1;
    m.settle(sys).map_err(|v| Counterexample { trace: vec![], violation: v, state: String::from("initial") })?;
    frontier.push_back(Vec::new());
    while let Some(trace) = frontier.pop_front() {
        let mut here = replay(m, &trace)?;
        let events = m.enabled(&mut here);
        for (i, e) in events.iter().enumerate() {
            let mut sys = if i == 0 { std::mem::replace(&mut here, m.init()) } else { replay(m, &trace)? };
            stats.transitions += 1;
            if let Err(v) = m.apply(&mut sys, e) {
                let before = m.describe(&mut replay(m, &trace)?);
                let mut t = trace.clone();
                t.push(e.clone());
                return Err(Counterexample { trace: t, violation: v, state: before });
            }
            if !seen.insert(m.fingerprint(&mut sys)) {
                continue;
            }
            let mut t = trace.clone();
            t.push(e.clone());
            stats.states += 1;
            stats.depth = stats.depth.max(t.len());
            if let Err(v) = m.settle(sys) {
                let state = m.describe(&mut replay(m, &t)?);
                return Err(Counterexample { trace: t, violation: v, state });
            }
            if stats.states >= max_states {
                return Ok(stats);
            }
            frontier.push_back(t);
        }
    }
    stats.complete = true;
    Ok(stats)
}
