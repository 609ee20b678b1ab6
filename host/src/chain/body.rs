//! Bodies in the walk: they stay streams unless a link declared it needs
//! one; only then is the body read, within that link's `max_body_bytes` and
//! [`BODY_READ_TIMEOUT`], and lent to the link for its call.

use crate::client_body::ClientBodyFailed;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};

/// A body that is either the original stream or one the chain rebuilt.
pub type ChainBody<B> = Either<B, Full<Bytes>>;

/// A message body in the walk: the stream as it came, or bytes a link was
/// (or will be) lent.
pub(super) enum Body<B> {
    /// Not read: it streams through.
    Stream(B),
    /// Read whole, or replaced by a link.
    Buffered(Vec<u8>),
}

/// Buffer a body up to `limit` bytes.
async fn buffer<B>(body: B, limit: u64) -> Result<Vec<u8>, BufferError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BufferError::TooLarge),
        // A client body that stalled is a timeout (408), not a bad body.
        Err(e) if matches!(e.downcast_ref(), Some(ClientBodyFailed::Stalled(_))) => {
            Err(BufferError::TimedOut)
        }
        Err(e) => Err(BufferError::Read(e.to_string())),
    }
}

/// Why a body could not be buffered.
pub(super) enum BufferError {
    /// Over the limit asked for.
    TooLarge,
    /// The stream failed.
    Read(String),
    /// Not received within [`BODY_READ_TIMEOUT`].
    TimedOut,
}

/// Longest time to receive a whole body a link asked for. Without it a client
/// (or next hop) trickling a body would hold its instances and memory forever.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The body length a message declares in `Content-Length`, if valid.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl<B> Body<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Make sure the body is in memory and within `limit`.
    pub(super) async fn ensure_buffered(
        &mut self,
        limit: u64,
        declared: Option<u64>,
    ) -> Result<(), BufferError> {
        match self {
            Body::Buffered(b) if b.len() as u64 > limit => Err(BufferError::TooLarge),
            Body::Buffered(_) => Ok(()),
            Body::Stream(_) if declared.is_some_and(|n| n > limit) => Err(BufferError::TooLarge),
            Body::Stream(_) => {
                // Only a body that was read (partly) is lost on error, and the
                // caller then answers without forwarding it.
                let Body::Stream(s) = std::mem::replace(self, Body::Buffered(Vec::new())) else {
                    return Ok(());
                };
                match tokio::time::timeout(BODY_READ_TIMEOUT, buffer(s, limit)).await {
                    Ok(read) => {
                        *self = Body::Buffered(read?);
                        Ok(())
                    }
                    Err(_) => Err(BufferError::TimedOut),
                }
            }
        }
    }

    /// The body to send on, with the `Content-Length` it needs.
    pub(super) fn into_chain_body(
        self,
        headers: &mut HeaderMap,
        original_length: Option<HeaderValue>,
    ) -> ChainBody<B> {
        match self {
            Body::Stream(s) => {
                if let Some(len) = original_length {
                    // At most as many fields as the head limits allow.
                    let _ = headers.try_insert(header::CONTENT_LENGTH, len);
                }
                Either::Left(s)
            }
            Body::Buffered(b) => {
                let _ = headers.try_insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
                Either::Right(Full::new(Bytes::from(b)))
            }
        }
    }
}

/// Call one hook with the body moved in only if the link asked for it; a
/// `None` body in the answer keeps the current one.
pub(super) fn lend_body(slot: &mut Option<Vec<u8>>, body: &mut Body<impl Sized>, wants: bool) {
    if wants && let Body::Buffered(b) = body {
        *slot = Some(std::mem::take(b));
    }
}

/// Take back what a link was lent, or what it answered with.
pub(super) fn settle_body<S>(body: &mut Body<S>, lent: Option<Vec<u8>>, answered: Option<Vec<u8>>) {
    match (answered, lent) {
        (Some(new), _) => *body = Body::Buffered(new),
        (None, Some(old)) => *body = Body::Buffered(old),
        (None, None) => {}
    }
}
