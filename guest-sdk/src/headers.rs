//! Case-insensitive header list helpers shared by [`crate::Request`] and
//! [`crate::Response`].

/// HTTP header fields in order; names are stored lower-case and may repeat.
///
/// Lookups are case-insensitive. Values are bytes because HTTP allows
/// non-UTF-8 octets; the `_str` helpers cover the common UTF-8 case.
///
/// Headers arrive from the host packed in one buffer. Reading scans that
/// buffer without allocating, and a plugin that never changes a header hands
/// the same buffer back untouched, so the host sees at a glance that nothing
/// changed; the first change unpacks the fields once.
#[derive(Clone, Default)]
pub struct HeaderList {
    /// As received (the `edgechain-wire` encoding); when present it is the
    /// whole truth and `fields` is empty.
    packed: Option<Vec<u8>>,
    /// Unpacked for editing.
    fields: Vec<(String, Vec<u8>)>,
}

impl HeaderList {
    /// A list of `(name, value)` fields; names are lower-cased.
    pub fn from_fields(fields: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let fields = fields
            .into_iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v))
            .collect();
        HeaderList {
            packed: None,
            fields,
        }
    }

    pub(crate) fn from_packed(block: Vec<u8>) -> Self {
        HeaderList {
            packed: Some(block),
            fields: Vec::new(),
        }
    }

    pub(crate) fn into_packed(self) -> Vec<u8> {
        self.packed.unwrap_or_else(|| {
            edgechain_wire::encode(
                self.fields
                    .iter()
                    .map(|(n, v)| (n.as_bytes(), v.as_slice())),
            )
        })
    }

    /// The fields, unpacked for editing (once).
    fn fields_mut(&mut self) -> &mut Vec<(String, Vec<u8>)> {
        if let Some(block) = self.packed.take() {
            self.fields = unpack(&block);
        }
        &mut self.fields
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
        self.fields_mut()
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Remove every value of `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        if !self.contains(name) {
            return 0;
        }
        let fields = self.fields_mut();
        let before = fields.len();
        fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - fields.len()
    }

    /// Iterate over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        // The host only sends well-formed blocks with ASCII names.
        let packed = self
            .packed
            .iter()
            .flat_map(|block| edgechain_wire::fields(block))
            .filter_map(|field| {
                let (n, v) = field.ok()?;
                Some((std::str::from_utf8(n).ok()?, v))
            });
        let fields = self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
        packed.chain(fields)
    }

    /// Number of fields (a repeated name counts once per value).
    pub fn len(&self) -> usize {
        match &self.packed {
            Some(_) => self.iter().count(),
            None => self.fields.len(),
        }
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        match &self.packed {
            Some(block) => block.is_empty(),
            None => self.fields.is_empty(),
        }
    }
}

fn unpack(block: &[u8]) -> Vec<(String, Vec<u8>)> {
    edgechain_wire::fields(block)
        .filter_map(|field| {
            let (n, v) = field.ok()?;
            Some((String::from_utf8_lossy(n).into_owned(), v.to_vec()))
        })
        .collect()
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
        assert!(h.packed.is_some(), "reads and no-op removes keep it packed");
        assert_eq!(h.clone().into_packed(), block);

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
