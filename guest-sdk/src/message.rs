//! The request and response types a plugin sees.

use crate::bindings::edgechain::plugin::types as raw;
use crate::headers::HeaderList;

/// A request on its way to the next hop. Fields are public except the target,
/// which goes through [`Request::path_with_query`] and the setters so that
/// [`Request::path`] (the normalised path) always describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path plus optional `?query`, as sent (raw), e.g. `/a?b=1`.
    path_with_query: String,
    /// The normalised path of `path_with_query` (see [`Request::path`]).
    normalized_path: String,
    /// The `Host` the request is addressed to; changing it changes the `Host`
    /// header sent upstream.
    pub authority: String,
    /// Headers except `host` and those the host manages (hop-by-hop, framing).
    pub headers: HeaderList,
    /// The whole body when the plugin declared [`crate::Needs::REQUEST_BODY`]
    /// or an earlier link replaced it. Set `Some` to replace the body; leave
    /// `None` to let the original body stream through.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request with no headers and no body, addressed to `localhost`. Plugins
    /// mostly receive requests; this is for tests and for building requests
    /// from scratch.
    pub fn new(method: &str, path_with_query: &str) -> Self {
        Request {
            method: method.to_owned(),
            normalized_path: normalize_or_raw(path_with_query),
            path_with_query: path_with_query.to_owned(),
            authority: "localhost".to_owned(),
            headers: HeaderList::default(),
            body: None,
        }
    }

    /// A `GET` for `path_with_query` (see [`Request::new`]).
    pub fn get(path_with_query: &str) -> Self {
        Request::new("GET", path_with_query)
    }

    /// Builder: add a header value.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Builder: set the authority (`Host`).
    pub fn with_authority(mut self, authority: &str) -> Self {
        self.authority = authority.to_owned();
        self
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The path, without the query string, **normalised**: every spelling of
    /// one resource looks the same (`/%61dmin`, `//admin` and `/x/../admin`
    /// are all `/admin`), so match path rules against this. The rules are
    /// those of the WIT `request.normalized-path`; the host refuses targets
    /// that cannot be normalised before any plugin sees them, and by default
    /// (`--escaped-slashes reject`) any target with an encoded `/`.
    pub fn path(&self) -> &str {
        &self.normalized_path
    }

    /// The path as the client sent it (not normalised), without the query.
    pub fn raw_path(&self) -> &str {
        edgechain_wire::path::path_of(&self.path_with_query)
    }

    /// Path plus optional `?query`, as sent (raw); this is what the next hop
    /// receives.
    pub fn path_with_query(&self) -> &str {
        &self.path_with_query
    }

    /// Replace the whole target (path and query) sent to the next hop.
    pub fn set_path_with_query(&mut self, path_with_query: impl Into<String>) {
        self.path_with_query = path_with_query.into();
        self.normalized_path = normalize_or_raw(&self.path_with_query);
    }

    /// The raw query string (without `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path_with_query.split_once('?').map(|(_, q)| q)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    /// Replace the path, keeping the query string.
    pub fn set_path(&mut self, path: &str) {
        let target = match self.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        self.set_path_with_query(target);
    }

    /// The first value of header `name` as UTF-8 text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// Replace every value of header `name`.
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.set(name, value);
    }

    /// Add a value to header `name`.
    pub fn append_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.append(name, value);
    }

    /// Remove header `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.remove(name);
    }

    pub(crate) fn from_raw(r: raw::Request) -> Self {
        Request {
            method: r.method,
            path_with_query: r.path_with_query,
            normalized_path: r.normalized_path,
            authority: r.authority,
            headers: HeaderList::from_packed(r.headers),
            body: r.body,
        }
    }

    pub(crate) fn into_raw(self) -> raw::Request {
        raw::Request {
            method: self.method,
            path_with_query: self.path_with_query,
            normalized_path: self.normalized_path,
            authority: self.authority,
            headers: self.headers.into_packed(),
            body: self.body,
        }
    }
}

/// A response: one a plugin answers with, or the next hop's on its way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code; a plugin may use 200..=599.
    pub status: u16,
    /// Headers except those the host manages (hop-by-hop, framing).
    pub headers: HeaderList,
    /// In `on_response`: the upstream body if the plugin declared
    /// [`crate::Needs::RESPONSE_BODY`]; `Some` replaces it, `None` keeps it.
    /// In [`crate::Action::Respond`]: the body, `None` meaning empty.
    pub body: Option<Vec<u8>>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: HeaderList::default(),
            body: None,
        }
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Response::new(status)
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.into().into_bytes())
    }

    /// A redirect to `location` (use 301, 302, 307 or 308).
    pub fn redirect(status: u16, location: &str) -> Self {
        Response::new(status).with_header("location", location)
    }

    /// Builder: add a header value.
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Builder: set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The first value of header `name` as UTF-8 text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// Replace every value of header `name`.
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.set(name, value);
    }

    /// Add a value to header `name`.
    pub fn append_header(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.headers.append(name, value);
    }

    /// Remove header `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.remove(name);
    }

    pub(crate) fn from_raw(r: raw::Response) -> Self {
        Response {
            status: r.status,
            headers: HeaderList::from_packed(r.headers),
            body: r.body,
        }
    }

    pub(crate) fn into_raw(self) -> raw::Response {
        raw::Response {
            status: self.status,
            headers: self.headers.into_packed(),
            body: self.body,
        }
    }
}

/// The normalised path of a target the plugin (or a test) wrote. A target the
/// host would refuse keeps its raw path: plugin rewrites are trusted, and the
/// host validates them when the link returns.
fn normalize_or_raw(path_with_query: &str) -> String {
    let path = edgechain_wire::path::path_of(path_with_query);
    edgechain_wire::path::normalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Decode `%XX` escapes and `+`; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str) -> Request {
        Request::get(path).with_authority("example.com")
    }

    #[test]
    fn path_and_query_split() {
        let r = req("/a/b?x=1&y=hello+w%6Frld&z");
        assert_eq!(r.path(), "/a/b");
        assert_eq!(r.query(), Some("x=1&y=hello+w%6Frld&z"));
        assert_eq!(r.query_param("y").as_deref(), Some("hello world"));
        assert_eq!(r.query_param("z").as_deref(), Some(""));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(req("/p").query(), None);
    }

    #[test]
    fn set_path_keeps_query() {
        let mut r = req("/old?q=1");
        r.set_path("/new");
        assert_eq!(r.path_with_query(), "/new?q=1");
    }

    #[test]
    fn path_is_normalised_and_follows_rewrites() {
        let mut r = req("/x/../%61dmin//panel?next=/../");
        assert_eq!(r.path(), "/admin/panel");
        assert_eq!(r.raw_path(), "/x/../%61dmin//panel");
        r.set_path("/%62");
        assert_eq!(r.path(), "/b");
        assert_eq!(r.path_with_query(), "/%62?next=/../");
    }

    #[test]
    fn bad_escapes_are_kept() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41"), "A");
    }
}
