//! Byte strings in the image's JSON records as lowercase hex strings
//! (schema 2): a JSON array of numbers cost ~4 bytes and a parser step per
//! byte, and made encoding a dump with queued data slower than the dump
//! itself. Reading accepts both forms, so schema-1 images still load.

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn encode(bytes: &[u8]) -> String {
    let mut s = Vec::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize]);
        s.push(HEX[(b & 15) as usize]);
    }
    // only ASCII hex digits were pushed
    String::from_utf8(s).unwrap_or_default()
}

pub fn decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return Err(format!("hex string of odd length {}", b.len()));
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("{:?} is not a hex digit", c as char)),
    };
    b.chunks_exact(2)
        .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_any(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a hex string or an array of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
        decode(v).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(v)
    }
}

/// The same for a `Captured<Vec<u8>>` (pipe buffers).
pub mod captured {
    use crate::model::Captured;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum Out<'a> {
        Data(#[serde(with = "super")] &'a Vec<u8>),
        Unavailable { reason: &'a str },
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum In {
        Data(#[serde(with = "super")] Vec<u8>),
        Unavailable { reason: String },
    }

    pub fn serialize<S: Serializer>(c: &Captured<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match c {
            Captured::Data(d) => Out::Data(d),
            Captured::Unavailable { reason } => Out::Unavailable { reason },
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Captured<Vec<u8>>, D::Error> {
        Ok(match In::deserialize(d)? {
            In::Data(v) => Captured::Data(v),
            In::Unavailable { reason } => Captured::unavailable(reason),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super")]
        d: Vec<u8>,
    }

    proptest! {
        #[test]
        fn round_trip(d in proptest::collection::vec(any::<u8>(), 0..300)) {
            let t = T { d };
            let j = serde_json::to_string(&t).expect("json");
            prop_assert_eq!(serde_json::from_str::<T>(&j).expect("back"), t);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(s in ".{0,40}") {
            let _ = decode(&s);
        }
    }

    #[test]
    fn schema_1_arrays_still_read() {
        let t: T = serde_json::from_str(r#"{"d":[1,2,255]}"#).expect("array form");
        assert_eq!(t.d, vec![1, 2, 255]);
        let t: T = serde_json::from_str(r#"{"d":"0102ff"}"#).expect("hex form");
        assert_eq!(t.d, vec![1, 2, 255]);
        assert!(serde_json::from_str::<T>(r#"{"d":"0g"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"d":"012"}"#).is_err());
    }
}
