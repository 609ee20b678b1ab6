//! Standard `wasi:http` components as the chain's last link: an edge app
//! (the WASI 0.2 `proxy` world, exporting `wasi:http/incoming-handler`)
//! answers the request instead of the next hop, and its response goes back
//! through the response phase of the links before it.
//!
//! Each request gets a fresh instance. Its call (instantiation, the handler,
//! and the handler writing its body) runs in a task of its own under the
//! link's `timeout_ms` of own time and memory cap; the response streams to
//! the client while the task runs. A handler that fails before answering
//! goes through the link's `on_error` policy; one that fails after its head
//! was sent cuts the body off with an error (the client sees an aborted
//! response, never a clean end).
//!
//! Outbound requests a handler makes through `wasi:http/outgoing-handler`
//! obey the link's `"grants": {"http": [...]}` like a plugin's (see
//! [`crate::outbound::Egress`]).

use super::call::{LinkFailure, guarded};
use super::link::{Link, LinkError};
use super::state::{HostState, LinkContext};
use bytes::Bytes;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The export that makes a component a `wasi:http` handler (any 0.2.x).
pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.0";

/// A loaded `wasi:http` handler: the chain's terminal link.
pub struct Handler {
    link: Link,
    pre: ProxyPre<HostState>,
}

/// A handler is a link: its name, policy and accounting are the link's.
impl Deref for Handler {
    type Target = Link;

    fn deref(&self) -> &Link {
        &self.link
    }
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("name", &self.spec().name)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// A handler of `pre`; refuses the manifest settings a handler cannot
    /// honour.
    pub(super) fn load(link: Link, pre: ProxyPre<HostState>) -> Result<Handler, LinkError> {
        if link.spec().instance == crate::config::InstanceMode::Reuse {
            return Err(LinkError::World(
                "a wasi:http handler gets a fresh instance per request: \"instance\": \"reuse\" does not apply".into(),
            ));
        }
        if &*link.context.config != "null" {
            return Err(LinkError::World(
                "a wasi:http handler has no `init` to read \"config\": give it settings through \"grants\" (\"env\" or \"config_dir\")".into(),
            ));
        }
        Ok(Handler { link, pre })
    }

    /// Serve `req`: the response head, or why there is none.
    pub async fn handle<B>(
        &self,
        client_ip: Option<std::net::IpAddr>,
        req: http::Request<B>,
    ) -> Result<Response<HandlerBody>, LinkFailure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: std::fmt::Display,
    {
        self.handles.instances.inc();
        let served = serve(
            &self.pre,
            self.context.clone(),
            client_ip,
            req,
            self.timeout,
        )
        .await;
        self.handles.instances.dec();
        served
    }
}

/// A handler's response body: the guest's stream, and the end of its task,
/// so a failure after the head is an error, not a clean end.
pub struct HandlerBody {
    inner: HyperOutgoingBody,
    outcome: oneshot::Receiver<Result<(), LinkFailure>>,
}

impl Body for HandlerBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(None) => match self.outcome.try_recv() {
                // The guest's task failed: its body did not really end.
                Ok(Err(failure)) => Poll::Ready(Some(Err(Box::new(failure)))),
                _ => Poll::Ready(None),
            },
            Poll::Ready(Some(r)) => Poll::Ready(Some(r.map_err(|e| Box::new(e) as Self::Error))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serve `req` with a fresh instance of the handler `pre`, within `budget`
/// of own time. The response head, or why there is none.
async fn serve<B>(
    pre: &ProxyPre<HostState>,
    context: Arc<LinkContext>,
    client_ip: Option<std::net::IpAddr>,
    req: http::Request<B>,
    budget: Duration,
) -> Result<Response<HandlerBody>, LinkFailure>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display,
{
    let mut store =
        HostState::new_store(pre.engine(), context).map_err(LinkFailure::Instantiate)?;
    store.data_mut().client_ip = client_ip;
    let (parts, body) = req.into_parts();
    let body = body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())));
    let req = http::Request::from_parts(parts, body);
    let (head_tx, head_rx) = oneshot::channel();
    let invalid = |e: wasmtime::Error| LinkFailure::Invalid(format!("{e:#}"));
    let incoming = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .map_err(invalid)?;
    let out = store
        .data_mut()
        .http()
        .new_response_outparam(head_tx)
        .map_err(invalid)?;
    let (done_tx, done_rx) = oneshot::channel();
    let pre = pre.clone();
    tokio::spawn(async move {
        let result = guarded(&mut store, budget, async |s| {
            let proxy = pre.instantiate_async(&mut *s).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(s, incoming, out)
                .await
        })
        .await;
        // Told before the store (and with it the body's sender) goes, so
        // the body sees the failure when it sees its end.
        let _ = done_tx.send(result);
        drop(store);
    });
    match head_rx.await {
        // wasi:http takes any three digits; a handler's answer is held to
        // what a plugin may answer (no 1xx: nothing would follow it).
        Ok(Ok(resp)) if !(200..=599).contains(&resp.status().as_u16()) => {
            Err(LinkFailure::Invalid(format!(
                "status {} is not in 200..=599",
                resp.status().as_u16()
            )))
        }
        Ok(Ok(resp)) => Ok(resp.map(|inner| HandlerBody {
            inner,
            outcome: done_rx,
        })),
        Ok(Err(code)) => Err(LinkFailure::Invalid(format!(
            "the handler answered with an error: {code:?}"
        ))),
        // The task ended without an answer: its result says why.
        Err(_) => Err(match done_rx.await {
            Ok(Err(failure)) => failure,
            _ => LinkFailure::Invalid("the handler returned without a response".into()),
        }),
    }
}
