//! The body of `POST /cache/purge` on the admin port: what to purge, and how.

use serde::Deserialize;

/// One purge request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// What to purge.
    pub target: PurgeTarget,
    /// Mark stale (validated or served stale by its directives) instead of
    /// deleting.
    pub soft: bool,
}

/// What a purge matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    /// Every stored variant of one URL (`http://host/path?query`), every key
    /// part included.
    Url(String),
    /// Every object tagged with this surrogate key.
    SurrogateKey(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPurge {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    surrogate_key: Option<String>,
    #[serde(default)]
    soft: bool,
}

/// Why a purge body was refused (answered 400 with this text).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PurgeError {
    /// Not JSON of the expected shape.
    #[error("purge body: {0}")]
    Syntax(String),
    /// Neither or both of `url` and `surrogate_key`.
    #[error("purge body: give exactly one of `url` and `surrogate_key`")]
    Target,
    /// A `url` that is not an absolute http(s) URL.
    #[error("purge body: url `{0}` is not an absolute http:// or https:// URL")]
    Url(String),
}

impl Purge {
    /// Parse a purge body.
    pub fn parse(body: &[u8]) -> Result<Purge, PurgeError> {
        let raw: RawPurge =
            serde_json::from_slice(body).map_err(|e| PurgeError::Syntax(e.to_string()))?;
        let target = match (raw.url, raw.surrogate_key) {
            (Some(url), None) => {
                let uri: http::Uri = url.parse().map_err(|_| PurgeError::Url(url.clone()))?;
                let (Some(scheme @ ("http" | "https")), Some(host)) =
                    (uri.scheme_str(), uri.authority())
                else {
                    return Err(PurgeError::Url(url));
                };
                let pq = uri.path_and_query().map_or("/", |p| p.as_str());
                PurgeTarget::Url(super::key::url(scheme, host.as_str(), pq))
            }
            (None, Some(k)) if !k.is_empty() => PurgeTarget::SurrogateKey(k),
            _ => return Err(PurgeError::Target),
        };
        Ok(Purge {
            target,
            soft: raw.soft,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_url_and_key_purges_and_refuses_the_rest() {
        assert_eq!(
            Purge::parse(br#"{"url":"http://A.example:80/x/../y?q=1","soft":true}"#),
            Ok(Purge {
                target: PurgeTarget::Url("http://a.example/y?q=1".into()),
                soft: true
            })
        );
        assert_eq!(
            Purge::parse(br#"{"surrogate_key":"k1"}"#),
            Ok(Purge {
                target: PurgeTarget::SurrogateKey("k1".into()),
                soft: false
            })
        );
        assert_eq!(Purge::parse(b"{}"), Err(PurgeError::Target));
        assert_eq!(
            Purge::parse(br#"{"url":"http://a/","surrogate_key":"k"}"#),
            Err(PurgeError::Target)
        );
        assert_eq!(
            Purge::parse(br#"{"surrogate_key":""}"#),
            Err(PurgeError::Target)
        );
        for bad in ["/x", "ftp://a/x", "a.example/x"] {
            let body = format!(r#"{{"url":"{bad}"}}"#);
            assert!(
                matches!(Purge::parse(body.as_bytes()), Err(PurgeError::Url(_))),
                "{bad}"
            );
        }
        assert!(matches!(Purge::parse(b"nope"), Err(PurgeError::Syntax(_))));
        assert!(matches!(
            Purge::parse(br#"{"uri":"x"}"#),
            Err(PurgeError::Syntax(_))
        ));
    }
}
