//! Captures the `log` records of the current thread (one test), so a test can count the lines
//! a driver printed, e.g. that guest-triggered warnings are rate-limited.

use std::cell::RefCell;
use std::sync::Once;

struct Capture;

thread_local! {
    static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{}: {}", record.level(), record.args());
        LINES.with(|l| l.borrow_mut().push(line));
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;
static INSTALL: Once = Once::new();

/// Installs the capturing logger (once per process) and clears this thread's lines.
pub fn start() {
    INSTALL.call_once(|| {
        if log::set_logger(&CAPTURE).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
    });
    LINES.with(|l| l.borrow_mut().clear());
}

/// This thread's lines that contain `needle`.
pub fn lines_with(needle: &str) -> Vec<String> {
    LINES.with(|l| l.borrow().iter().filter(|s| s.contains(needle)).cloned().collect())
}
