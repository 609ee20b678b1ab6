//! What both sides of the plugin boundary must compute identically: the
//! packed encoding of HTTP header fields (this module), which headers the host
//! keeps to itself ([`managed`]), the normalised request path ([`path`]),
//! which decisions the host accepts back from a plugin ([`decision`]) and
//! which calls of the `cache` import it records ([`cache`]), and where a
//! link applies ([`scope`], the manifest's `when`/`unless`).
//!
//! The WIT type `headers` is one `list<u8>` rather than a list of
//! `(string, bytes)` pairs: lowering a list of pairs into a guest costs one
//! guest allocation call per name and per value, which made header copying
//! the largest part of every plugin call (measured in `docs/benchmarks.md`).
//! One buffer is one allocation and one copy, however many fields there are,
//! and an unchanged block is compared with `memcmp`.
//!
//! Each field is its name length (`u32`, little-endian), the name, its value
//! length (`u32`, little-endian), then the value. Lengths, not delimiters, so
//! no value can smuggle in another field. Names and values are not validated
//! here: the host checks them as HTTP when a plugin hands a block back.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod cache;
pub mod decision;
pub mod managed;
pub mod path;
pub mod scope;

use alloc::vec::Vec;

/// Append one field to `block`.
///
/// A name or value longer than `u32::MAX` bytes cannot be encoded; no HTTP
/// header is that large, so it is cut to that length rather than fail.
pub fn push(block: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for part in [name, value] {
        let len = u32::try_from(part.len()).unwrap_or(u32::MAX);
        block.extend_from_slice(&len.to_le_bytes());
        block.extend_from_slice(&part[..len as usize]);
    }
}

/// Encode `fields` as one block.
pub fn encode<'a>(fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        push(&mut block, name, value);
    }
    block
}

/// A block that does not decode: a length runs past its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed {
    /// Byte offset where decoding stopped.
    pub offset: usize,
}

impl core::fmt::Display for Malformed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "malformed header block at byte {}", self.offset)
    }
}

/// The fields of `block`, in order, borrowed from it.
pub fn fields(block: &[u8]) -> Fields<'_> {
    Fields { block, offset: 0 }
}

/// Iterator over the `(name, value)` fields of a block; see [`fields`]. After
/// a [`Malformed`] item it ends.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    block: &'a [u8],
    offset: usize,
}

impl<'a> Fields<'a> {
    fn part(&mut self) -> Option<&'a [u8]> {
        let rest = self.block.get(self.offset..)?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let part = rest.get(4..4usize.checked_add(len)?)?;
        self.offset += 4 + len;
        Some(part)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.block.len() {
            return None;
        }
        let start = self.offset;
        match (self.part(), self.part()) {
            (Some(name), Some(value)) => Some(Ok((name, value))),
            _ => {
                self.offset = self.block.len();
                Some(Err(Malformed { offset: start }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn fields_round_trip_in_order_with_any_bytes() {
        let block = encode([
            (&b"x-a"[..], &b"1"[..]),
            (b"x-a", b""),
            (b"x-bin", b"\n\0\xff"),
        ]);
        let back: Vec<_> = fields(&block).collect();
        assert_eq!(
            back,
            vec![
                Ok((&b"x-a"[..], &b"1"[..])),
                Ok((&b"x-a"[..], &b""[..])),
                Ok((&b"x-bin"[..], &b"\n\0\xff"[..])),
            ]
        );
        assert_eq!(fields(&[]).count(), 0);
    }

    #[test]
    fn truncated_blocks_are_malformed_once() {
        let block = encode([(&b"name"[..], &b"value"[..])]);
        for cut in 1..block.len() {
            let items: Vec<_> = fields(&block[..cut]).collect();
            assert_eq!(items, vec![Err(Malformed { offset: 0 })], "cut at {cut}");
        }
        let mut two = block.clone();
        two.extend_from_slice(&[200, 0, 0, 0]);
        let items: Vec<_> = fields(&two).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1],
            Err(Malformed {
                offset: block.len()
            })
        );
    }
}
