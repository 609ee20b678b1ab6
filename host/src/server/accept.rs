//! Accepting connections on one listener: the connection cap (503 beyond
//! it), hyper's HTTP/1.1 on a watched socket, what the listener answers
//! itself (logged and counted like any request), and the drain.

use crate::conn::{self, ConnHold, ConnInfo, ConnWatch, Drain, WatchedIo};
use crate::limits::HeadLimits;
use crate::proxy::completion::{ListenerAnswer, Observer};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Pending connections the kernel queues per listener.
pub(super) const LISTEN_BACKLOG: u32 = 1024;

/// hyper's smallest allowed read buffer.
const MIN_READ_BUFFER: usize = 8 * 1024;

/// The whole answer to a connection over the cap.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 21\r\nconnection: close\r\nretry-after: 1\r\n\r\ntoo many connections\n";
/// The body's length in [`OVER_CAPACITY`].
const OVER_CAPACITY_BODY: usize = "too many connections\n".len();

/// Answer a connection over the cap with 503 and close it; the request it
/// sent (if any arrived within a second) is logged and counted.
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr, report: Option<Observer>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let answer = async {
        // Read what the client sent first, so the log can name it and
        // closing does not reset the connection before it reads the answer.
        let mut sink = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(200), stream.read(&mut sink)).await
        {
            head.extend_from_slice(&sink[..n.min(256)]);
        }
        stream.write_all(OVER_CAPACITY).await?;
        stream.shutdown().await?;
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
    if let Some(report) = report {
        let line = head
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or(&[]);
        report.rejected(
            peer.ip(),
            &String::from_utf8_lossy(line),
            ListenerAnswer {
                status: 503,
                content_type: "text/plain; charset=utf-8",
                head_bytes: (OVER_CAPACITY.len() - OVER_CAPACITY_BODY) as u64,
                body_bytes: OVER_CAPACITY_BODY as u64,
            },
        );
    }
}

#[derive(Debug, Clone)]
pub(super) struct ConnLimits {
    /// Connection slots, shared by every listener of one port (all workers).
    pub slots: Arc<Semaphore>,
    /// From a request's first byte to its whole head (then 408).
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive connection is kept.
    pub keepalive_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// What a request head may be.
    pub head: HeadLimits,
}

/// Completes once the server is stopping.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // An Err means the server is gone: that is stopping too.
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// A request the listener itself answered (hyper's parse errors, our 408):
/// what was sent, for the access log and metrics.
fn listener_answer(watch: &ConnWatch, result: &Result<(), hyper::Error>) -> Option<ListenerAnswer> {
    if let Some((status, sent)) = watch.answered() {
        // Written best effort: count what reached the socket.
        let head = conn::TIMEOUT_ANSWER.len() - conn::TIMEOUT_ANSWER_BODY;
        return Some(ListenerAnswer {
            status,
            content_type: "text/plain; charset=utf-8",
            head_bytes: sent.min(head) as u64,
            body_bytes: sent.saturating_sub(head) as u64,
        });
    }
    let status = match result {
        // An HTTP/2 prior-knowledge client: hyper closes without an answer
        // (an HTTP/1.1 one would mean nothing to it), so none is logged.
        Err(e) if e.is_parse_version_h2() => None,
        // hyper's own target limit (64 KiB) answers 414; only its message
        // tells it from a head over `--max-request-head-bytes` (431).
        Err(e) if e.is_parse_too_large() && e.to_string().starts_with("URI too long") => Some(414),
        Err(e) if e.is_parse_too_large() => Some(431),
        Err(e) if e.is_parse() => Some(400),
        _ => None,
    }?;
    Some(ListenerAnswer::hyper(status))
}

pub(super) async fn accept_loop<F, Fut, B>(
    listener: TcpListener,
    limits: ConnLimits,
    stop: tokio::sync::watch::Receiver<bool>,
    report: Option<Observer>,
    handler: F,
) where
    F: Fn(http::Request<hyper::body::Incoming>, ConnInfo) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = http::Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let drain = Arc::new(Drain::default());
    // Turns true when the drain timeout has passed: what is still in flight
    // is cut off.
    let (cut, cut_off) = tokio::sync::watch::channel(false);
    let permits = limits.slots.clone();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .keep_alive(true)
        // The proxy sets `Date` itself, from a clock read once a second.
        .auto_date_header(false)
        // Replaced by ConnWatch: hyper's runs while a connection idles.
        .header_read_timeout(None)
        .max_headers(limits.head.max_headers)
        .max_header_size(limits.head.max_request_head_bytes)
        // The read buffer holds an unfinished head: bound it near the head
        // limit, so a slow client cannot pin hyper's default ~400 KiB.
        .max_buf_size(
            limits
                .head
                .max_request_head_bytes
                .saturating_add(8 * 1024)
                .max(MIN_READ_BUFFER),
        );
    let mut accepting = stop.clone();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut accepting) => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Over the cap: say so and close, rather than leave the client
            // hanging in the accept queue.
            tokio::spawn(refuse(stream, peer, report.clone()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let watch = ConnWatch::new(limits.keepalive_timeout, limits.header_read_timeout);
        let info = ConnInfo {
            peer,
            watch: watch.clone(),
            hold: ConnHold::new(permit, drain.enter()),
            stopping: stop.clone(),
        };
        let handler = handler.clone();
        let service = service_fn(move |req| {
            info.watch.busy();
            let fut = handler(req, info.clone());
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let io = TokioIo::new(WatchedIo::new(stream, watch.clone()));
        let conn = builder.serve_connection(io, service).with_upgrades();
        let mut stopping = stop.clone();
        let mut cutting = cut_off.clone();
        let report = report.clone();
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                () = stopped(&mut stopping) => {
                    // Finish the request in progress, then close.
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        r = conn.as_mut() => r,
                        () = stopped(&mut cutting) => {
                            // The drain timeout passed. Returning drops the
                            // connection and the request on it, whose report
                            // then says it was cut off, not that the client
                            // went away.
                            watch.cut_off();
                            return;
                        }
                    }
                }
            };
            if let Some(report) = &report
                && let Some(sent) = listener_answer(&watch, &result)
            {
                report.rejected(peer.ip(), &watch.request_line(), sent);
            }
            if let Err(e) = result {
                tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Connections and the tunnels upgraded from them finish, within bounds.
    if tokio::time::timeout(limits.drain_timeout, drain.finished())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = drain.active(),
            drain_timeout_secs = limits.drain_timeout.as_secs_f64(),
            "drain timeout reached; cutting off what is still in flight"
        );
        let _ = cut.send(true);
        // The cut connections end at their next poll; give them a moment
        // to report, so their access lines are written before the exit.
        let _ = tokio::time::timeout(CUT_OFF_GRACE, drain.finished()).await;
    }
}

/// How long connections cut off at the drain timeout get to report.
const CUT_OFF_GRACE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    /// A canned answer's `content-length` is its body's length.
    fn framed(answer: &[u8], body: usize) {
        let text = String::from_utf8_lossy(answer);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or_default();
        assert_eq!(rest.len(), body, "{text}");
        let declared = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse::<usize>().ok());
        assert_eq!(declared, Some(body), "{text}");
    }

    #[test]
    fn the_listeners_own_answers_are_framed_by_their_bodies() {
        framed(OVER_CAPACITY, OVER_CAPACITY_BODY);
        framed(conn::TIMEOUT_ANSWER, conn::TIMEOUT_ANSWER_BODY);
    }
}
