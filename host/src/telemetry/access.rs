//! The access log: one JSON object per request per line on stdout, in the
//! field names the platform's modules already emit, plus what a chain adds.
//!
//! Lines go to the process's shared stdout writer ([`super::stdout`]), so a
//! slow stdout never blocks a request: when its queue is full the line is
//! dropped and counted in `edgechain_access_log_dropped_total`.

use super::stdout::{Priority, Stdout};
use http::header::{self, HeaderName, HeaderValue};
use prometheus_client::metrics::counter::Counter;
use std::borrow::Cow;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Where access log lines go.
#[derive(Debug, Clone)]
pub struct AccessLog {
    out: Option<Stdout>,
    dropped: Counter,
}

impl AccessLog {
    /// Log to stdout through the shared writer.
    pub fn stdout(dropped: Counter) -> std::io::Result<AccessLog> {
        let out = Stdout::global()
            .cloned()
            .ok_or_else(|| std::io::Error::other("cannot start the stdout writer thread"))?;
        Ok(AccessLog {
            out: Some(out),
            dropped,
        })
    }

    /// No access log (benchmarks, or when another layer logs).
    pub fn disabled() -> AccessLog {
        AccessLog {
            out: None,
            dropped: Counter::default(),
        }
    }

    /// Whether lines are written at all.
    pub fn enabled(&self) -> bool {
        self.out.is_some()
    }

    /// Write the line for `finished` straight into a reused buffer and queue
    /// it; never blocks, and wakes no other thread per line.
    pub fn write(&self, finished: &Finished<'_>) {
        let Some(out) = &self.out else {
            return;
        };
        let queued = SCRATCH.with(|cell| {
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                return out.line(line(finished), Priority::Droppable);
            };
            let (buf, request) = &mut *scratch;
            buf.clear();
            write_line(buf, request, finished);
            out.bytes(buf, Priority::Droppable)
        });
        if !queued {
            self.dropped.inc();
        }
    }
}

/// What the chain did to one request, for the access log and metrics.
#[derive(Debug, Default)]
pub struct WalkLog {
    /// One entry per hook call (or failure), in call order.
    pub links: Vec<LinkRecord>,
    /// The link that answered at the edge, if one did.
    pub answered_by: Option<Arc<str>>,
    /// Time spent getting instances and running hooks.
    pub plugin_time: Duration,
    /// What the HTTP cache did (`hit`, `miss`, `stale`, `revalidated`,
    /// `bypass`, `pass`, `collapsed`); `None` without a cache in the chain.
    pub cache: Option<&'static str>,
    /// What the links asked of the cache for this request (plugin control):
    /// the walk owns it, links record into it, the cache reads it.
    pub cache_directives: crate::cache_directives::CacheDirectives,
}

/// One link's part in a request.
#[derive(Debug, Clone)]
pub struct LinkRecord {
    /// The link's name.
    pub link: Arc<str>,
    /// `request` or `response`.
    pub phase: &'static str,
    /// `next`, `respond`, `ok`, `handle`, `failed:<cause>` (fail-closed),
    /// `skipped:<cause>` (fail-open) or `cancelled` (the client left while
    /// it ran).
    pub outcome: Cow<'static, str>,
}

impl WalkLog {
    /// Add what link `link` did in `phase`.
    pub fn record(
        &mut self,
        link: Arc<str>,
        phase: &'static str,
        outcome: impl Into<Cow<'static, str>>,
    ) {
        self.links.push(LinkRecord {
            link,
            phase,
            outcome: outcome.into(),
        });
    }
}

/// The request line as received.
#[derive(Debug, Default)]
pub enum RequestLine {
    /// Parsed by hyper: kept as its parts (cheap clones of the parsed head)
    /// and written out only for the log line.
    Parsed {
        /// The method.
        method: http::Method,
        /// The target as received (absolute-form stays absolute).
        target: http::Uri,
        /// The protocol version.
        version: http::Version,
    },
    /// Written by the listener for a request it answered itself.
    Raw(String),
    /// Nothing was received.
    #[default]
    None,
}

/// What the access log needs from the client's request, taken before the
/// chain may rewrite it. Header values are clones of the parsed head
/// (reference-counted, not copied); they become text only in the log line.
#[derive(Debug, Default)]
pub struct RequestFacts {
    /// `METHOD target HTTP/1.1`.
    pub request: RequestLine,
    /// `Host`.
    pub hostname: Option<HeaderValue>,
    /// `Referer`.
    pub referrer: Option<HeaderValue>,
    /// `User-Agent`.
    pub useragent: Option<HeaderValue>,
    /// `X-Forwarded-Proto`.
    pub http_x_forwarded_proto: Option<HeaderValue>,
    /// The platform's request id.
    pub section_io_id: Option<HeaderValue>,
    /// The TCP peer.
    pub remote_addr: Option<IpAddr>,
}

impl RequestFacts {
    /// Keep the logged parts of a client request.
    pub fn of(parts: &http::request::Parts, remote_addr: Option<IpAddr>) -> RequestFacts {
        let header = |name: HeaderName| parts.headers.get(name).cloned();
        RequestFacts {
            request: RequestLine::Parsed {
                method: parts.method.clone(),
                target: parts.uri.clone(),
                version: parts.version,
            },
            hostname: header(header::HOST),
            referrer: header(header::REFERER),
            useragent: header(header::USER_AGENT),
            http_x_forwarded_proto: header(HeaderName::from_static("x-forwarded-proto")),
            section_io_id: header(HeaderName::from_static("section-io-id")),
            remote_addr,
        }
    }
}

/// Everything known about a finished request.
#[derive(Debug)]
pub struct Finished<'a> {
    /// When the request arrived.
    pub time: SystemTime,
    /// The request's logged parts.
    pub facts: &'a RequestFacts,
    /// Status sent to the client.
    pub status: u16,
    /// `Content-Type` sent to the client.
    pub content_type: Option<&'a HeaderValue>,
    /// Bytes of the response head (status line and headers).
    pub header_bytes: u64,
    /// Bytes of the response body.
    pub body_bytes: u64,
    /// The next hop's status, if it was asked.
    pub upstream_status: Option<u16>,
    /// Time to the next hop's response headers.
    pub upstream_time: Option<Duration>,
    /// Arrival to the last body byte.
    pub request_time: Duration,
    /// What the chain did.
    pub walk: &'a WalkLog,
    /// Why the request ended unfinished (`client_closed`, `drain_timeout`);
    /// `None` when its response was sent whole.
    pub cause: Option<&'static str>,
}

thread_local! {
    /// The line being written, and scratch for the request line: reused, so
    /// a line costs no allocation once a thread has written a long one.
    static SCRATCH: RefCell<(Vec<u8>, String)> = const { RefCell::new((Vec::new(), String::new())) };
}

/// The JSON line for a finished request (without its newline). Strings are
/// escaped as serde_json escapes them, so any bytes a client sent yield
/// valid JSON; keys come in the same (sorted) order as before.
pub fn line(f: &Finished<'_>) -> String {
    let mut out = Vec::new();
    let mut scratch = String::new();
    write_line(&mut out, &mut scratch, f);
    String::from_utf8_lossy(&out).into_owned()
}

/// Write the line for `f` into `out`, using `scratch` for the request line.
fn write_line(out: &mut Vec<u8>, scratch: &mut String, f: &Finished<'_>) {
    use std::io::Write;
    out.extend_from_slice(b"{\"answered_by\":");
    opt_str(out, f.walk.answered_by.as_deref());
    let _ = write!(out, ",\"bytes\":{}", f.header_bytes + f.body_bytes);
    if let Some(cache) = f.walk.cache {
        out.extend_from_slice(b",\"cache\":");
        json_str(out, cache);
    }
    out.extend_from_slice(b",\"cause\":");
    opt_str(out, f.cause);
    out.extend_from_slice(b",\"content_type\":");
    header_str(out, f.content_type);
    out.extend_from_slice(b",\"hostname\":");
    header_str(out, f.facts.hostname.as_ref());
    out.extend_from_slice(b",\"http_x_forwarded_proto\":");
    header_str(out, f.facts.http_x_forwarded_proto.as_ref());
    out.extend_from_slice(b",\"links\":[");
    for (i, r) in f.walk.links.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"link\":");
        json_str(out, &r.link);
        out.extend_from_slice(b",\"outcome\":");
        json_str(out, &r.outcome);
        out.extend_from_slice(b",\"phase\":");
        json_str(out, r.phase);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"plugin_time_seconds\":");
    secs(out, f.walk.plugin_time);
    out.extend_from_slice(b",\"referrer\":");
    header_str(out, f.facts.referrer.as_ref());
    out.extend_from_slice(b",\"remote_addr\":\"");
    if let Some(ip) = f.facts.remote_addr {
        let _ = write!(out, "{ip}");
    }
    out.extend_from_slice(b"\",\"request\":");
    match &f.facts.request {
        RequestLine::Parsed {
            method,
            target,
            version,
        } => {
            use std::fmt::Write as _;
            scratch.clear();
            let _ = write!(scratch, "{method} {target} {version:?}");
            json_str(out, scratch);
        }
        RequestLine::Raw(text) => json_str(out, text),
        RequestLine::None => json_str(out, ""),
    }
    out.extend_from_slice(b",\"request_time_seconds\":");
    secs(out, f.request_time);
    let _ = write!(out, ",\"response_body_bytes\":{}", f.body_bytes);
    out.extend_from_slice(b",\"section_io_id\":");
    header_str(out, f.facts.section_io_id.as_ref());
    let _ = write!(out, ",\"status\":{},\"time\":\"", f.status);
    let _ = write!(out, "{}", humantime::format_rfc3339_millis(f.time));
    out.extend_from_slice(b"\",\"upstream_status\":");
    match f.upstream_status {
        Some(s) => {
            let _ = write!(out, "{s}");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"upstream_time_seconds\":");
    match f.upstream_time {
        Some(d) => secs(out, d),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"useragent\":");
    header_str(out, f.facts.useragent.as_ref());
    out.push(b'}');
}

/// `s` as a JSON string, escaped by serde_json (no allocation).
fn json_str(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// A header value as a JSON string (invalid UTF-8 replaced, as before); an
/// absent header is `""`.
fn header_str(out: &mut Vec<u8>, value: Option<&HeaderValue>) {
    let text = value.map(|v| String::from_utf8_lossy(v.as_bytes()));
    json_str(out, text.as_deref().unwrap_or_default());
}

/// Seconds with microsecond precision, as a plain number.
fn secs(out: &mut Vec<u8>, d: Duration) {
    let _ = serde_json::to_writer(&mut *out, &((d.as_micros() as f64) / 1e6));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bytes_stay_valid_json() {
        let req = http::Request::get("/a?b=%22")
            .header("user-agent", "evil\"\\\tagent")
            .header("referer", &[0xff, 0xfe, b'"'][..])
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        let (parts, ()) = req.into_parts();
        let facts = RequestFacts::of(&parts, "192.0.2.1".parse().ok());
        let walk = WalkLog::default();
        let content_type = HeaderValue::from_static("text/plain");
        let text = line(&Finished {
            time: SystemTime::UNIX_EPOCH,
            facts: &facts,
            status: 200,
            content_type: Some(&content_type),
            header_bytes: 10,
            body_bytes: 5,
            upstream_status: Some(200),
            upstream_time: Some(Duration::from_millis(3)),
            request_time: Duration::from_millis(4),
            walk: &walk,
            cause: None,
        });
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["useragent"], "evil\"\\\tagent");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["request"], "GET /a?b=%22 HTTP/1.1");
        assert_eq!(v["bytes"], 15);
        assert_eq!(v["upstream_time_seconds"], 0.003);
        assert_eq!(v["cause"], serde_json::Value::Null);
        assert!(!text.contains('\n'));
    }

    /// The line as the access log wrote it before it was written by hand:
    /// a serde_json object (sorted keys) serialised.
    fn reference(f: &Finished<'_>) -> String {
        use serde_json::{Map, Value, json};
        let text = |v: Option<&HeaderValue>| {
            Value::from(
                v.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
            )
        };
        let secs = |d: Duration| Value::from((d.as_micros() as f64) / 1e6);
        let request = match &f.facts.request {
            RequestLine::Parsed {
                method,
                target,
                version,
            } => format!("{method} {target} {version:?}"),
            RequestLine::Raw(t) => t.clone(),
            RequestLine::None => String::new(),
        };
        let links: Vec<Value> = f
            .walk
            .links
            .iter()
            .map(|r| json!({ "link": &*r.link, "phase": r.phase, "outcome": r.outcome }))
            .collect();
        let mut m = Map::new();
        m.insert(
            "time".into(),
            humantime::format_rfc3339_millis(f.time).to_string().into(),
        );
        m.insert("request".into(), request.into());
        m.insert("status".into(), f.status.into());
        m.insert("bytes".into(), (f.header_bytes + f.body_bytes).into());
        m.insert("response_body_bytes".into(), f.body_bytes.into());
        m.insert("content_type".into(), text(f.content_type));
        m.insert("hostname".into(), text(f.facts.hostname.as_ref()));
        m.insert("referrer".into(), text(f.facts.referrer.as_ref()));
        m.insert("useragent".into(), text(f.facts.useragent.as_ref()));
        m.insert(
            "http_x_forwarded_proto".into(),
            text(f.facts.http_x_forwarded_proto.as_ref()),
        );
        m.insert("section_io_id".into(), text(f.facts.section_io_id.as_ref()));
        m.insert(
            "remote_addr".into(),
            f.facts
                .remote_addr
                .map(|ip| ip.to_string())
                .unwrap_or_default()
                .into(),
        );
        m.insert(
            "upstream_status".into(),
            f.upstream_status.map_or(Value::Null, Value::from),
        );
        m.insert("request_time_seconds".into(), secs(f.request_time));
        m.insert(
            "upstream_time_seconds".into(),
            f.upstream_time.map_or(Value::Null, secs),
        );
        m.insert("plugin_time_seconds".into(), secs(f.walk.plugin_time));
        m.insert(
            "answered_by".into(),
            f.walk
                .answered_by
                .as_deref()
                .map_or(Value::Null, Value::from),
        );
        m.insert("links".into(), links.into());
        m.insert("cause".into(), f.cause.map_or(Value::Null, Value::from));
        if let Some(cache) = f.walk.cache {
            m.insert("cache".into(), cache.into());
        }
        Value::Object(m).to_string()
    }

    #[test]
    fn the_written_line_is_byte_for_byte_the_serde_json_object() {
        let req = http::Request::get("http://h.example/p?q=%22")
            .header("host", "h.example")
            .header("user-agent", "a\tb c\"d\\e é \u{2028}")
            .header("referer", &[0xc3, 0x28, b'\t'][..])
            .header("x-forwarded-proto", "https")
            .header("section-io-id", "id-1")
            .body(())
            .unwrap_or_else(|e| panic!("{e}"));
        let (parts, ()) = req.into_parts();
        let mut walk = WalkLog::default();
        walk.record("block".into(), "request", "next");
        walk.record("tag".into(), "request", "failed:trap");
        walk.record("tag\"x".into(), "response", String::from("skipped:timeout"));
        walk.answered_by = Some("block".into());
        walk.plugin_time = Duration::from_micros(1234);
        let content_type = HeaderValue::from_static("text/html; charset=utf-8");
        let facts = [
            RequestFacts::of(&parts, "2001:db8::1".parse().ok()),
            RequestFacts {
                request: RequestLine::Raw("GET /x\"y\u{1}\u{1f}\u{7f} HTTP/1.1".into()),
                ..RequestFacts::default()
            },
            RequestFacts::default(),
        ];
        for facts in &facts {
            for (status, upstream, cause) in [
                (200, Some((200, Duration::from_micros(1))), None),
                (499, None, Some("client_closed")),
            ] {
                let finished = Finished {
                    time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_765_000_000_123),
                    facts,
                    status,
                    content_type: Some(&content_type).filter(|_| status == 200),
                    header_bytes: 120,
                    body_bytes: 3,
                    upstream_status: upstream.map(|(s, _)| s),
                    upstream_time: upstream.map(|(_, t)| t),
                    request_time: Duration::from_millis(2),
                    walk: &walk,
                    cause,
                };
                assert_eq!(line(&finished), reference(&finished));
            }
        }
        // A chain with a cache adds its outcome, in its sorted place.
        walk.cache = Some("hit");
        let finished = Finished {
            time: SystemTime::UNIX_EPOCH,
            facts: &facts[0],
            status: 200,
            content_type: None,
            header_bytes: 1,
            body_bytes: 2,
            upstream_status: None,
            upstream_time: None,
            request_time: Duration::from_millis(2),
            walk: &walk,
            cause: None,
        };
        let text = line(&finished);
        assert_eq!(text, reference(&finished));
        assert!(
            text.contains(r#""bytes":3,"cache":"hit","cause""#),
            "{text}"
        );
    }
}
