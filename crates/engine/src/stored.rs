//! A value kept in the encoding it was stored in until it is first used.
//!
//! A rule set read back from the compiled-rule cache holds thousands of rules, of which a
//! hunt evaluates a fraction: 1,320 of the 3,739 SigmaHQ rules over the whole sample EVTX
//! corpus, a handful over a file of one product. Decoding every rule (its conditions were
//! three fifths of that, its metadata the rest) was most of reading the rule set back, and
//! the memory they take most of the pages the kernel had to clear for it. Each rule is
//! therefore kept as the bytes it was stored as, and decoded (and checked) when it is first
//! evaluated or shown.

use std::fmt;
use std::sync::OnceLock;

use serde::de::{DeserializeOwned, Visitor};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value, or its encoding until it is first asked for (see the module doc). Stored, it is
/// written as one byte string: its own encoding.
#[derive(Clone)]
pub(crate) struct Stored<T> {
    /// The value, once built or decoded.
    value: OnceLock<T>,
    /// Its encoding while it is not decoded (empty for a value built in this process).
    encoded: Box<[u8]>,
}

impl<T> Stored<T> {
    /// A value that is already there.
    pub(crate) fn new(value: T) -> Self {
        Stored {
            value: OnceLock::from(value),
            encoded: Box::default(),
        }
    }

    /// The value if it is decoded (or was never encoded).
    pub(crate) fn decoded(&self) -> Option<&T> {
        self.value.get()
    }
}

impl<T: DeserializeOwned> Stored<T> {
    /// The value, decoded now if this is its first use. `accept` turns what decoding gave
    /// (the value, or why it could not be read) into the value to keep: it is where the
    /// owner checks a decoded value, and decides what stands in for one that fails.
    pub(crate) fn get(&self, accept: impl FnOnce(Result<T, postcard::Error>) -> T) -> &T {
        self.value
            .get_or_init(|| accept(postcard::from_bytes(&self.encoded)))
    }

    /// The value to change, decoded first if need be (tests alter compiled rules).
    #[cfg(test)]
    pub(crate) fn get_mut(&mut self) -> &mut T {
        if self.value.get().is_none() {
            let value: T = postcard::from_bytes(&self.encoded).expect("a test's value decodes");
            self.value = OnceLock::from(value);
        }
        self.value.get_mut().expect("set above")
    }
}

impl<T> fmt::Debug for Stored<T>
where
    T: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value.get() {
            Some(value) => value.fmt(f),
            None => write!(f, "<{} bytes not decoded yet>", self.encoded.len()),
        }
    }
}

impl<T: Serialize> Serialize for Stored<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value.get() {
            Some(value) => {
                let bytes = postcard::to_stdvec(value).map_err(S::Error::custom)?;
                serializer.serialize_bytes(&bytes)
            }
            None => serializer.serialize_bytes(&self.encoded),
        }
    }
}

impl<'de, T> Deserialize<'de> for Stored<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = deserializer.deserialize_bytes(BytesVisitor)?;
        Ok(Stored {
            value: OnceLock::new(),
            encoded,
        })
    }
}

/// Reads a byte string, borrowed or owned.
struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Box<[u8]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
        Ok(bytes.into())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Self::Value, E> {
        Ok(bytes.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_value_is_decoded_on_first_use_and_kept() {
        let built = Stored::new(vec![1u32, 2, 3]);
        let bytes = postcard::to_stdvec(&built).unwrap();
        let read: Stored<Vec<u32>> = postcard::from_bytes(&bytes).unwrap();
        assert!(read.decoded().is_none());
        let mut calls = 0;
        assert_eq!(
            read.get(|decoded| {
                calls += 1;
                decoded.unwrap()
            }),
            &[1, 2, 3]
        );
        assert_eq!(read.get(|_| unreachable!("decoded once")), &[1, 2, 3]);
        assert_eq!(calls, 1);
        // Stored again without having been decoded, it is the same bytes.
        let again: Stored<Vec<u32>> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(postcard::to_stdvec(&again).unwrap(), bytes);
    }

    #[test]
    fn a_value_that_cannot_be_decoded_is_what_the_owner_says() {
        // A byte string whose content is no vector of numbers: a length of 200 and nothing.
        let bytes = postcard::to_stdvec(&undecoded(&[200, 1])).unwrap();
        let read: Stored<Vec<u32>> = postcard::from_bytes(&bytes).unwrap();
        let kept = read.get(|decoded| {
            assert!(decoded.is_err());
            Vec::new()
        });
        assert!(kept.is_empty());
    }

    /// A stored value whose encoding is `bytes`, not decoded yet.
    fn undecoded(bytes: &[u8]) -> Stored<Vec<u32>> {
        Stored {
            value: OnceLock::new(),
            encoded: bytes.into(),
        }
    }
}
