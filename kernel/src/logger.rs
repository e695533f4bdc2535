//! The `log` crate's backend: records go to the console as `<LEVEL> <message>`.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct ConsoleLogger;

static LOGGER: ConsoleLogger = ConsoleLogger;

impl Log for ConsoleLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let tag = match record.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN",
                Level::Info => "INFO",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            crate::console::write_fmt(format_args!("{tag}: {}\n", record.args()));
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at level Info.
pub fn init() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Applies a `loglevel=` option value (`error|warn|info|debug|trace`); false if unknown.
pub fn set_level(name: &str) -> bool {
    let level = match name {
        "error" => LevelFilter::Error,
        "warn" | "warning" => LevelFilter::Warn,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => return false,
    };
    log::set_max_level(level);
    true
}
