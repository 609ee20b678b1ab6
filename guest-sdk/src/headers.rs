//! Case-insensitive header list helpers shared by [`crate::Request`] and
//! [`crate::Response`].

/// HTTP header fields in order; names are stored lower-case and may repeat.
///
/// Lookups are case-insensitive. Values are bytes because HTTP allows
/// non-UTF-8 octets; the `_str` helpers cover the common UTF-8 case.
///
/// The fields stay in the packed buffer they arrive in from the host (the
/// `edgechain-wire` encoding): reading scans it without allocating, adding a
/// field appends to it, and removing one copies the others once. A plugin
/// that changes nothing hands the same bytes back, so the host sees at a
/// glance that nothing changed; one that sets a header pays for that header,
/// not for taking every field apart and packing it again.
#[derive(Clone, Default)]
pub struct HeaderList {
    block: Vec<u8>,
}

impl HeaderList {
    /// A list of `(name, value)` fields; names are lower-cased.
    pub fn from_fields(fields: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let mut list = HeaderList::default();
        for (name, value) in fields {
            list.append(&name, value);
        }
        list
    }

    pub(crate) fn from_packed(block: Vec<u8>) -> Self {
        HeaderList { block }
    }

    pub(crate) fn into_packed(self) -> Vec<u8> {
        self.block
    }

    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of `name` if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Replace every value of `name` with `value`.
    pub fn set(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.remove(name);
        self.append(name, value);
    }

    /// Add a value for `name`, keeping existing ones.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        let value = value.as_ref();
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            let lower = name.to_ascii_lowercase();
            edgechain_wire::push(&mut self.block, lower.as_bytes(), value);
        } else {
            edgechain_wire::push(&mut self.block, name.as_bytes(), value);
        }
    }

    /// Remove every value of `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let removed = self.get_all(name).count();
        if removed > 0 {
            let kept = self
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
                .map(|(n, v)| (n.as_bytes(), v));
            self.block = edgechain_wire::encode(kept);
        }
        removed
    }

    /// Iterate over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        // The host only sends well-formed blocks with ASCII names, and
        // `append` writes nothing else.
        edgechain_wire::fields(&self.block).filter_map(|field| {
            let (n, v) = field.ok()?;
            Some((std::str::from_utf8(n).ok()?, v))
        })
    }

    /// Number of fields (a repeated name counts once per value).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.block.is_empty()
    }
}

impl PartialEq for HeaderList {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for HeaderList {}

impl std::fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v))))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_set_replaces_all() {
        let mut h = HeaderList::default();
        h.append("X-A", "1");
        h.append("x-a", "2");
        assert_eq!(h.get_all("x-A").count(), 2);
        assert_eq!(h.get_str("X-a"), Some("1"));
        h.set("X-A", "3");
        assert_eq!(h.get_all("x-a").collect::<Vec<_>>(), vec![b"3".as_slice()]);
        assert_eq!(
            h.iter().next().map(|(n, _)| n),
            Some("x-a"),
            "names are stored lower-case"
        );
        assert_eq!(h.remove("x-a"), 1);
        assert!(h.is_empty());
    }

    #[test]
    fn non_utf8_values_are_kept_as_bytes() {
        let mut h = HeaderList::default();
        h.append("x-bin", [0xff, 0x00]);
        assert_eq!(h.get("x-bin"), Some([0xff, 0x00].as_slice()));
        assert_eq!(h.get_str("x-bin"), None);
    }

    #[test]
    fn packed_headers_are_read_in_place_and_returned_untouched() {
        let block = edgechain_wire::encode([(&b"accept"[..], &b"*/*"[..]), (b"x-a", b"1")]);
        let mut h = HeaderList::from_packed(block.clone());
        assert_eq!(h.get_str("Accept"), Some("*/*"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.remove("absent"), 0);
        assert_eq!(
            h.clone().into_packed(),
            block,
            "reads and no-op removes hand the same bytes back"
        );

        h.set("x-a", "2");
        assert_eq!(h.get_str("x-a"), Some("2"));
        assert_eq!(h.get_str("accept"), Some("*/*"));
        let edited = edgechain_wire::encode([(&b"accept"[..], &b"*/*"[..]), (b"x-a", b"2")]);
        assert_eq!(h.into_packed(), edited);
        assert_eq!(
            HeaderList::from_packed(edited),
            HeaderList::from_fields([
                ("Accept".to_string(), b"*/*".to_vec()),
                ("x-a".to_string(), b"2".to_vec())
            ])
        );
    }
}
