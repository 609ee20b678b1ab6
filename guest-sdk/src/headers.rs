//! Case-insensitive header list helpers shared by [`crate::Request`] and
//! [`crate::Response`].

/// HTTP header fields in order; names are stored lower-case and may repeat.
///
/// Lookups are case-insensitive. Values are bytes because HTTP allows
/// non-UTF-8 octets; the `_str` helpers cover the common UTF-8 case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList(pub Vec<(String, Vec<u8>)>);

impl HeaderList {
    /// The first value of `name`, if any.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name` if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
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
        self.0
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Remove every value of `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.0.len()
    }

    /// Iterate over `(name, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of fields (a repeated name counts once per value).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
        assert_eq!(h.0[0].0, "x-a", "names are stored lower-case");
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
}
