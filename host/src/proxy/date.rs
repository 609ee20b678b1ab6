//! The `Date` header of responses this hop makes or passes on without one.
//!
//! hyper's own date header reads the wall clock for every response; this one
//! formats the date once per second per thread, checked on the coarse
//! monotonic clock.

use http::HeaderValue;
use std::cell::RefCell;
use std::time::SystemTime;

thread_local! {
    static CACHED: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

/// The current date as an HTTP `Date` value (RFC 9110 §5.6.7).
pub fn now() -> HeaderValue {
    let second = crate::conn::coarse_nanos() / 1_000_000_000;
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if let Some((at, value)) = cached.as_ref()
            && *at == second
        {
            return value.clone();
        }
        let text = httpdate::fmt_http_date(SystemTime::now());
        let value = HeaderValue::from_str(&text)
            .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"));
        *cached = Some((second, value.clone()));
        value
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_date_is_an_http_date() {
        let value = super::now();
        let text = value.to_str().unwrap_or_default();
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
        assert_eq!(
            super::now(),
            value,
            "cached within the second (almost always)"
        );
    }
}
