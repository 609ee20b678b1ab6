//! Log to the host's diagnostic stream, tagged with this plugin's name.

pub use crate::Level;
use crate::sys::host;

/// Log `message` at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Log at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
