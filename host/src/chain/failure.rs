//! What the host answers when a link fails, and how each call is recorded:
//! every failure goes through the failing link's `on_error` policy, is
//! counted and logged, and becomes a skip or a response.

use crate::config::OnError;
use crate::plugin::{Link, LinkFailure};
use crate::telemetry::access::WalkLog;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use std::time::Instant;

/// What happens to a request after a link failed.
pub enum Flow {
    /// Go on without the link (`fail-open`).
    Skip,
    /// Answer with this (`fail-closed`, or a body over a limit).
    Reject(Response<Full<Bytes>>),
}

/// A short plain-text response the host itself produces.
pub fn host_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{message}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// Apply the link's policy to a failure: log it, then skip or reject.
pub fn on_failure(
    link: &Link,
    failure: &LinkFailure,
    phase: &'static str,
    log: &mut WalkLog,
) -> Flow {
    link.record_failure(failure);
    tracing::warn!(
        plugin = link.name(),
        cause = failure.cause(),
        phase,
        error = %failure,
        policy = ?link.on_error(),
        "plugin failed"
    );
    let flow = match (link.on_error(), failure) {
        (_, LinkFailure::BodyTooLarge(_)) if phase == "request" => Flow::Reject(host_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )),
        (_, LinkFailure::BodyTooLarge(_)) => Flow::Reject(host_response(
            StatusCode::BAD_GATEWAY,
            "response body too large",
        )),
        (OnError::FailOpen, _) => Flow::Skip,
        (OnError::FailClosed, LinkFailure::Instantiate(_)) => Flow::Reject(host_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "edge module unavailable",
        )),
        (OnError::FailClosed, _) => Flow::Reject(host_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "edge module failed",
        )),
    };
    let verdict = match flow {
        Flow::Skip => "skipped",
        Flow::Reject(_) => "failed",
    };
    log.record(
        link.name_arc(),
        phase,
        format!("{verdict}:{}", failure.cause()),
    );
    flow
}

/// The outcome logged for a hook call its request outlived no longer: the
/// client went away while the link ran, and the request's future was dropped.
pub const CANCELLED: &str = "cancelled";

/// A hook call under way. It is logged as [`CANCELLED`] from the start and
/// counted as such if dropped unfinished, so a call cut short by a client
/// that left (499) is in the access log's `links` and in the metrics; a
/// call that returns is taken back out with [`HookCall::returned`] and
/// recorded by its real outcome.
#[must_use = "a hook call must be marked returned, or it counts as cancelled"]
pub struct HookCall<'l> {
    link: &'l Link,
    started: Instant,
    returned: bool,
}

impl<'l> HookCall<'l> {
    /// Start a call of `link` in `phase`, timed from `started`.
    pub fn begin(link: &'l Link, phase: &'static str, started: Instant, log: &mut WalkLog) -> Self {
        log.record(link.name_arc(), phase, CANCELLED);
        HookCall {
            link,
            started,
            returned: false,
        }
    }

    /// The call returned: its provisional record is removed, for the caller
    /// to record what it did.
    pub fn returned(mut self, log: &mut WalkLog) {
        self.returned = true;
        // Nothing else records while the call runs: it is the last record.
        if log.links.last().is_some_and(|r| r.outcome == CANCELLED) {
            log.links.pop();
        }
    }
}

impl Drop for HookCall<'_> {
    fn drop(&mut self) {
        if !self.returned {
            self.link.record_cancelled_call(self.started.elapsed());
        }
    }
}
