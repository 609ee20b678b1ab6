//! The access log: one JSON object per request per line on stdout, in the
//! field names the platform's modules already emit, plus what a chain adds.
//!
//! Lines go to the process's shared stdout writer ([`super::stdout`]), so a
//! slow stdout never blocks a request: when its queue is full the line is
//! dropped and counted in `edgechain_access_log_dropped_total`.

use super::stdout::{Priority, Stdout};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
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

    /// Queue one line; never blocks.
    pub fn write(&self, line: String) {
        if let Some(out) = &self.out
            && !out.line(line, Priority::Droppable)
        {
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

/// What the access log needs from the client's request, taken before the
/// chain may rewrite it.
#[derive(Debug, Default)]
pub struct RequestFacts {
    /// `METHOD path HTTP/1.1`.
    pub request: String,
    /// `Host`.
    pub hostname: String,
    /// `Referer`.
    pub referrer: String,
    /// `User-Agent`.
    pub useragent: String,
    /// `X-Forwarded-Proto`.
    pub http_x_forwarded_proto: String,
    /// The platform's request id.
    pub section_io_id: String,
    /// The TCP peer.
    pub remote_addr: Option<IpAddr>,
}

impl RequestFacts {
    /// Copy the logged parts of a client request.
    pub fn of(parts: &http::request::Parts, remote_addr: Option<IpAddr>) -> RequestFacts {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        RequestFacts {
            request: format!(
                "{} {} {:?}",
                parts.method,
                // As received: absolute-form stays absolute.
                parts.uri,
                parts.version
            ),
            hostname: header("host"),
            referrer: header("referer"),
            useragent: header("user-agent"),
            http_x_forwarded_proto: header("x-forwarded-proto"),
            section_io_id: header("section-io-id"),
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
    pub content_type: &'a str,
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

/// The JSON line for a finished request. Values are escaped by serde_json,
/// so any bytes a client sent yield valid JSON.
pub fn line(f: &Finished<'_>) -> String {
    let links: Vec<Value> = f
        .walk
        .links
        .iter()
        .map(|r| json!({ "link": &*r.link, "phase": r.phase, "outcome": r.outcome }))
        .collect();
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put(
        "time",
        humantime::format_rfc3339_millis(f.time).to_string().into(),
    );
    put("request", f.facts.request.as_str().into());
    put("status", f.status.into());
    put("bytes", (f.header_bytes + f.body_bytes).into());
    put("response_body_bytes", f.body_bytes.into());
    put("content_type", f.content_type.into());
    put("hostname", f.facts.hostname.as_str().into());
    put("referrer", f.facts.referrer.as_str().into());
    put("useragent", f.facts.useragent.as_str().into());
    put(
        "http_x_forwarded_proto",
        f.facts.http_x_forwarded_proto.as_str().into(),
    );
    put("section_io_id", f.facts.section_io_id.as_str().into());
    put(
        "remote_addr",
        f.facts
            .remote_addr
            .map(|ip| ip.to_string())
            .unwrap_or_default()
            .into(),
    );
    put(
        "upstream_status",
        f.upstream_status.map_or(Value::Null, Value::from),
    );
    put("request_time_seconds", secs(f.request_time));
    put(
        "upstream_time_seconds",
        f.upstream_time.map_or(Value::Null, secs),
    );
    put("plugin_time_seconds", secs(f.walk.plugin_time));
    put(
        "answered_by",
        f.walk
            .answered_by
            .as_deref()
            .map_or(Value::Null, Value::from),
    );
    put("links", links.into());
    put("cause", f.cause.map_or(Value::Null, Value::from));
    Value::Object(m).to_string()
}

fn secs(d: Duration) -> Value {
    // Microsecond precision, as a plain number.
    ((d.as_micros() as f64) / 1e6).into()
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
        let text = line(&Finished {
            time: SystemTime::UNIX_EPOCH,
            facts: &facts,
            status: 200,
            content_type: "text/plain",
            header_bytes: 10,
            body_bytes: 5,
            upstream_status: Some(200),
            upstream_time: Some(Duration::from_millis(3)),
            request_time: Duration::from_millis(4),
            walk: &walk,
            cause: None,
        });
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(v["useragent"], "evil\"\\\tagent");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["request"], "GET /a?b=%22 HTTP/1.1");
        assert_eq!(v["bytes"], 15);
        assert_eq!(v["upstream_time_seconds"], 0.003);
        assert_eq!(v["cause"], Value::Null);
        assert!(!text.contains('\n'));
    }
}
