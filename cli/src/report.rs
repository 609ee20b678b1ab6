//! How a failed command is said: one JSON line on stderr, each cause once, so
//! an operator's log pipeline reads it like the server's own diagnostics.

/// One JSON line on stderr, usable before (or without) the log subscriber.
pub(crate) fn error(message: &str) {
    let line = serde_json::json!({ "level": "ERROR", "message": message });
    eprintln!("{line}");
}

/// An error and its causes, each said once: the library's errors already
/// carry their cause in their message, which `{:#}` would repeat.
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let syntax = edgechain::config::Manifest::parse(std::path::Path::new("m.json"), b"{", &[])
            .err()
            .map(anyhow::Error::new)
            .unwrap_or_else(|| anyhow::anyhow!("accepted"))
            .context("cannot start");
        let text = error_chain(&syntax);
        assert!(text.starts_with("cannot start: m.json: EOF"), "{text}");
        assert_eq!(text.matches("EOF").count(), 1, "{text}");
        let io = anyhow::Error::new(std::io::Error::other("refused")).context("cannot connect");
        assert_eq!(error_chain(&io), "cannot connect: refused");
    }
}
