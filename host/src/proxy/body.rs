//! The body types of the proxy's messages: what goes to the next hop, what
//! comes back (from it, a `wasi:http` handler or the cache's store as it
//! streams), and the relay that gives the links after the cache one body type.

use crate::chain::body::ChainBody;
use crate::client_body::ClientBody;
use crate::plugin::handler::HandlerBody;
use crate::upstream::UpstreamBody;
use bytes::Bytes;
use http_body_util::Either;
use hyper::body::Incoming;

/// The request body as it goes to the next hop: the client's (watched), or
/// one the chain or the prebuffer rebuilt.
pub type ForwardBody = ChainBody<ClientBody<Incoming>>;

/// Where an answer's body comes from: the next hop, or a `wasi:http`
/// handler at the end of the chain.
pub type AnswerBody = Either<UpstreamBody<ForwardBody>, Either<HandlerBody, CacheBody>>;

/// A response the cache is storing while it streams (boxed: its layers
/// depend on the links around the cache; only misses pay for the box).
/// Its error is a named type: a boxed trait object inside the boxed body's
/// type defeats rustc's proof that the request's future is `Send`.
pub type CacheBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BodyError>;

pin_project_lite::pin_project! {
    /// A request body on its way through the links after the cache. Its
    /// error is a named type: with `Either`'s boxed error, rustc cannot prove
    /// the walk's future `Send` (a higher-ranked lifetime limitation).
    pub struct Relay {
        #[pin]
        inner: ForwardBody,
    }
}

impl Relay {
    /// Relay `inner`.
    pub fn new(inner: ForwardBody) -> Relay {
        Relay { inner }
    }
}

/// An error of a body the cache relays ([`CacheBody`], the request body
/// through the links after the cache).
#[derive(Debug)]
pub struct BodyError(pub(crate) Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for BodyError {}

impl http_body::Body for Relay {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        self.project().inner.poll_frame(cx).map_err(BodyError)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// One body type for the request the links after the cache passed on.
pub fn flatten(body: ChainBody<Relay>) -> ForwardBody {
    match body {
        Either::Left(relay) => relay.inner,
        Either::Right(full) => Either::Right(full),
    }
}
