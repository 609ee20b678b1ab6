//! The body of a response being stored: streamed to the client as it comes,
//! copied aside, and stored when it ends whole. Over the object limit, or if
//! the next hop or the client fails first, the copy is dropped (abandoned);
//! either way the collapse guard drops with the body, waking followers.

use super::collapse::FlightGuard;
use super::store::{Entry, Store};
use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Where a finished copy goes.
pub struct Destination {
    /// The store.
    pub store: Arc<Store>,
    /// The primary key.
    pub primary: String,
    /// The request fields its `Vary` selects on.
    pub request: HeaderMap,
    /// The response, body still empty.
    pub entry: Entry,
    /// Largest body stored.
    pub max_bytes: usize,
    /// Followers wait on this until the copy is stored or abandoned.
    pub guard: Option<FlightGuard>,
}

pin_project_lite::pin_project! {
    /// A body copied into the store as it streams.
    pub struct TeeBody<B> {
        #[pin]
        inner: B,
        copy: BytesMut,
        expected: Option<u64>,
        to: Option<Destination>,
    }
}

fn finish(copy: &mut BytesMut, to: &mut Option<Destination>) {
    if let Some(to) = to.take() {
        let Destination {
            store,
            primary,
            request,
            mut entry,
            guard,
            ..
        } = to;
        entry.body = std::mem::take(copy).freeze();
        store.insert(&primary, &request, entry);
        drop(guard);
    }
}

impl<B> TeeBody<B> {
    /// Stream `inner` and store it in `to` if it ends whole.
    pub fn new(inner: B, to: Destination, expected: Option<u64>) -> TeeBody<B> {
        let cap = expected.map_or(0, |n| n.min(to.max_bytes as u64) as usize);
        TeeBody {
            inner,
            copy: BytesMut::with_capacity(cap),
            expected,
            to: Some(to),
        }
    }
}

impl<B> Body for TeeBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && let Some(to) = this.to.as_ref()
                {
                    if this.copy.len() + data.len() > to.max_bytes {
                        // Too large to store: stream on, stop copying.
                        *this.to = None;
                        *this.copy = BytesMut::new();
                    } else {
                        this.copy.extend_from_slice(data);
                        if *this.expected == Some(this.copy.len() as u64) {
                            finish(this.copy, this.to);
                        }
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => *this.to = None,
            Poll::Ready(None) => finish(this.copy, this.to),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // Reported honestly only once the copy is settled; until then the
        // final `None` must be polled so the copy is stored.
        self.to.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
