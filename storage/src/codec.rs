//! Typed key encoding.
//!
//! Keys are tuples of parts. A string part is its UTF-8 bytes followed by [`SEP`] (0xFF),
//! a byte that never occurs in UTF-8, so a string can never run into the next part and a
//! prefix built from the leading parts matches exactly the keys that start with those parts.
//! Integers are fixed-width big-endian so that byte order equals numeric order, which the
//! ordered scans (timelines, streams) rely on. Nothing else in the project builds key bytes.

/// Separator after every string part. 0xFF is not a valid byte anywhere in UTF-8.
pub const SEP: u8 = 0xFF;

/// One component of a key.
pub trait KeyPart {
    fn encode_into(&self, out: &mut Vec<u8>);
}

impl KeyPart for str {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
        out.push(SEP);
    }
}

impl KeyPart for String {
    fn encode_into(&self, out: &mut Vec<u8>) {
        self.as_str().encode_into(out);
    }
}

impl KeyPart for u64 {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl<T: KeyPart + ?Sized> KeyPart for &T {
    fn encode_into(&self, out: &mut Vec<u8>) {
        (**self).encode_into(out);
    }
}

/// Fixed-size raw bytes (hashes). Only fixed-size arrays are allowed, so that the part
/// boundary is implied by the tree's documented layout.
impl<const N: usize> KeyPart for [u8; N] {
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// A tuple of key parts.
pub trait KeyTuple {
    fn encode(&self) -> Vec<u8>;
}

macro_rules! impl_key_tuple {
    ($($name:ident),+) => {
        impl<$($name: KeyPart),+> KeyTuple for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self) -> Vec<u8> {
                let ($($name,)+) = self;
                let mut out = Vec::with_capacity(64);
                $($name.encode_into(&mut out);)+
                out
            }
        }
    };
}
impl_key_tuple!(A);
impl_key_tuple!(A, B);
impl_key_tuple!(A, B, C);
impl_key_tuple!(A, B, C, D);

/// Encodes a tuple of parts into key bytes: `key(("@a:b", "DEVICE"))`.
pub fn key<T: KeyTuple>(parts: T) -> Vec<u8> {
    parts.encode()
}

/// Reads the parts of a key back, in the order they were written.
pub struct KeyReader<'a> {
    rest: &'a [u8],
}

/// A key did not have the layout its tree documents (a corrupt or foreign key).
#[derive(Debug, thiserror::Error)]
#[error("malformed key")]
pub struct MalformedKey;

impl<'a> KeyReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn str(&mut self) -> Result<&'a str, MalformedKey> {
        let end = self
            .rest
            .iter()
            .position(|b| *b == SEP)
            .ok_or(MalformedKey)?;
        let s = std::str::from_utf8(&self.rest[..end]).map_err(|_| MalformedKey)?;
        self.rest = &self.rest[end + 1..];
        Ok(s)
    }

    pub fn u64(&mut self) -> Result<u64, MalformedKey> {
        let (head, tail) = self.rest.split_first_chunk::<8>().ok_or(MalformedKey)?;
        self.rest = tail;
        Ok(u64::from_be_bytes(*head))
    }

    pub fn bytes<const N: usize>(&mut self) -> Result<[u8; N], MalformedKey> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(MalformedKey)?;
        self.rest = tail;
        Ok(*head)
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_parts_round_trip_and_separate() {
        let k = key(("@alice:example.org", "DEVICE", 7u64));
        let mut r = KeyReader::new(&k);
        assert_eq!(r.str().unwrap(), "@alice:example.org");
        assert_eq!(r.str().unwrap(), "DEVICE");
        assert_eq!(r.u64().unwrap(), 7);
        assert!(r.is_empty());
    }

    #[test]
    fn prefix_of_one_user_does_not_match_a_longer_user_id() {
        let prefix = key(("@al:x",));
        let other = key(("@al:xy", "D"));
        assert!(!other.starts_with(&prefix));
        let own = key(("@al:x", "D"));
        assert!(own.starts_with(&prefix));
    }

    #[test]
    fn integers_sort_numerically() {
        let a = key(("r", 255u64));
        let b = key(("r", 256u64));
        assert!(a < b);
    }

    #[test]
    fn truncated_keys_are_errors_not_panics() {
        let mut r = KeyReader::new(b"abc");
        assert!(r.str().is_err());
        let mut r = KeyReader::new(&[1, 2, 3]);
        assert!(r.u64().is_err());
        let mut r = KeyReader::new(&[0xC3, SEP]);
        assert!(r.str().is_err());
    }
}
