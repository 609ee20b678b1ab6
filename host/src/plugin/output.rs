//! A plugin's stdout and stderr: captured, split into lines and logged as
//! diagnostics tagged with the plugin's name, never passed to the host's own
//! stdio (stdout carries access logs).
//!
//! Writes always succeed, so a plugin that prints a lot never blocks or
//! traps on it, but lines beyond a per-plugin rate are dropped and counted,
//! and a line is cut at [`MAX_LINE_BYTES`]: a flooding plugin costs its own
//! CPU budget, not the host's memory or log volume.

use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept; the rest of a longer line is dropped.
pub const MAX_LINE_BYTES: usize = 4096;
/// Lines per second one plugin may log (with a burst of the same size).
pub const LINES_PER_SECOND: f64 = 50.0;
/// Shortest time between two "lines dropped" summaries of one plugin: a
/// plugin logging steadily over its rate would otherwise get a summary with
/// nearly every line let through. A pending summary is logged when the
/// interval ends even if the plugin writes nothing more.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(1);

/// Which stream a line came from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// The guest's stdout.
    Stdout,
    /// The guest's stderr.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

struct LineState {
    partial: Vec<u8>,
    cut: bool,
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
    /// When the last summary of dropped lines was logged.
    summarised: Option<Instant>,
    /// Summaries logged (for tests).
    summaries: u64,
    /// A task will log the pending summary when it is due.
    flush_scheduled: bool,
}

/// The output sink of one link, shared by all of its instances.
pub struct LinkOutput {
    plugin: Arc<str>,
    state: Mutex<LineState>,
    /// Itself, for the task that logs a pending summary.
    this: std::sync::Weak<LinkOutput>,
}

impl LinkOutput {
    /// A sink for plugin `plugin`.
    pub fn new(plugin: Arc<str>) -> Arc<LinkOutput> {
        Arc::new_cyclic(|this| LinkOutput {
            plugin,
            state: Mutex::new(LineState {
                partial: Vec::new(),
                cut: false,
                tokens: LINES_PER_SECOND,
                refilled: Instant::now(),
                suppressed: 0,
                summarised: None,
                summaries: 0,
                flush_scheduled: false,
            }),
            this: this.clone(),
        })
    }

    /// A WASI stream writing into this sink.
    pub fn stream(self: &Arc<Self>, stream: Stream) -> GuestStream {
        GuestStream {
            sink: self.clone(),
            stream,
        }
    }

    fn write(&self, stream: Stream, mut bytes: &[u8]) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        while !bytes.is_empty() {
            let (chunk, line_ends) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], Some(i + 1)),
                None => (bytes, None),
            };
            let room = MAX_LINE_BYTES.saturating_sub(s.partial.len());
            s.partial.extend_from_slice(&chunk[..chunk.len().min(room)]);
            s.cut |= chunk.len() > room;
            match line_ends {
                Some(next) => {
                    self.emit(&mut s, stream);
                    bytes = &bytes[next..];
                }
                None => bytes = &[],
            }
        }
    }

    /// Whether one more line (output or `host.log` call) may be logged now;
    /// counts the ones that may not, and reports them once lines flow again,
    /// at most once per [`SUMMARY_INTERVAL`].
    fn take_token(&self, s: &mut LineState) -> bool {
        self.take_token_at(s, Instant::now())
    }

    fn take_token_at(&self, s: &mut LineState, now: Instant) -> bool {
        let elapsed = now.duration_since(s.refilled).as_secs_f64();
        s.tokens = (s.tokens + elapsed * LINES_PER_SECOND).min(LINES_PER_SECOND);
        s.refilled = now;
        if s.tokens < 1.0 {
            s.suppressed += 1;
            self.schedule_summary(s, now);
            return false;
        }
        s.tokens -= 1.0;
        let due = s
            .summarised
            .is_none_or(|at| now.duration_since(at) >= SUMMARY_INTERVAL);
        if s.suppressed > 0 && due {
            self.summarise(s, now);
        }
        true
    }

    /// Log how many lines were dropped since the last summary.
    fn summarise(&self, s: &mut LineState, now: Instant) {
        tracing::warn!(
            target: "plugin",
            plugin = &*self.plugin,
            suppressed = s.suppressed,
            "plugin output over {LINES_PER_SECOND} lines/s; lines dropped"
        );
        s.suppressed = 0;
        s.summarised = Some(now);
        s.summaries += 1;
    }

    /// Make sure the lines dropped so far are summarised once the next
    /// summary is due, whether or not the plugin writes again: a task on the
    /// current runtime (none outside one; the next line let through then
    /// says it).
    fn schedule_summary(&self, s: &mut LineState, now: Instant) {
        if s.flush_scheduled {
            return;
        }
        let (Ok(runtime), Some(this)) =
            (tokio::runtime::Handle::try_current(), self.this.upgrade())
        else {
            return;
        };
        let due = s.summarised.unwrap_or(now) + SUMMARY_INTERVAL;
        s.flush_scheduled = true;
        runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            if let Ok(mut s) = this.state.lock() {
                s.flush_scheduled = false;
                if s.suppressed > 0 {
                    this.summarise(&mut s, Instant::now());
                }
            }
        });
    }

    /// Whether a `host.log` call may be logged now (shares the output's rate).
    pub fn admit_log(&self) -> bool {
        self.state
            .lock()
            .map(|mut s| self.take_token(&mut s))
            .unwrap_or(false)
    }

    fn emit(&self, s: &mut LineState, stream: Stream) {
        let line = String::from_utf8_lossy(&s.partial).into_owned();
        let cut = std::mem::take(&mut s.cut);
        s.partial.clear();
        if self.take_token(s) {
            tracing::info!(target: "plugin", plugin = &*self.plugin, stream = stream.name(), cut, "{line}");
        }
    }
}

impl std::fmt::Debug for LinkOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkOutput")
            .field("plugin", &self.plugin)
            .finish()
    }
}

/// One guest stdio stream.
#[derive(Clone)]
pub struct GuestStream {
    sink: Arc<LinkOutput>,
    stream: Stream,
}

impl IsTerminal for GuestStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for GuestStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.sink.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for GuestStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.sink.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_cut_and_rate_limited() {
        let out = LinkOutput::new("p".into());
        out.write(Stream::Stdout, b"hello\nwor");
        out.write(Stream::Stdout, b"ld\n");
        let long = vec![b'x'; MAX_LINE_BYTES * 3];
        out.write(Stream::Stdout, &long);
        out.write(Stream::Stdout, b"\n");
        let flood = "line\n".repeat(1000);
        out.write(Stream::Stdout, flood.as_bytes());
        let s = out.state.lock().unwrap_or_else(|e| e.into_inner());
        assert!(s.partial.is_empty());
        // 3 lines plus the burst allowance passed; most of the flood was dropped.
        assert!(
            s.suppressed >= 1000 - LINES_PER_SECOND as u64,
            "{}",
            s.suppressed
        );
    }

    #[test]
    fn summaries_of_dropped_lines_are_limited_too() {
        let out = LinkOutput::new("p".into());
        let mut s = out.state.lock().unwrap_or_else(|e| e.into_inner());
        let start = Instant::now();
        // Four lines per token for a minute: a steady flood over the rate.
        let mut passed = 0;
        for i in 0..(4 * LINES_PER_SECOND as u64 * 60) {
            let at = start + Duration::from_secs_f64(i as f64 / (4.0 * LINES_PER_SECOND));
            passed += u64::from(out.take_token_at(&mut s, at));
        }
        assert!(passed > 60 * LINES_PER_SECOND as u64 / 2, "{passed} passed");
        let most = 60 / SUMMARY_INTERVAL.as_secs() + 1;
        assert!(
            (1..=most).contains(&s.summaries),
            "{} summaries for {passed} lines",
            s.summaries
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pending_summary_is_logged_when_the_plugin_stops_writing() {
        let out = LinkOutput::new("p".into());
        out.write(Stream::Stdout, "line\n".repeat(200).as_bytes());
        let pending = |out: &LinkOutput| {
            let s = out.state.lock().unwrap_or_else(|e| e.into_inner());
            (s.suppressed, s.summaries)
        };
        let (dropped, summaries) = pending(&out);
        assert!(dropped >= 100, "{dropped} dropped");
        assert_eq!(summaries, 0, "no line has been let through since");
        // The clock is paused: this returns once the summary task has run.
        tokio::time::sleep(SUMMARY_INTERVAL * 2).await;
        assert_eq!(pending(&out), (0, 1), "summarised without another line");
    }
}
