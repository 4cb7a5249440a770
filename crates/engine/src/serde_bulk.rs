//! Serde helpers for the compiled cache's large fields (`#[serde(with = "crate::serde_bulk::…")]`):
//! vectors and byte strings read into one exact-size allocation instead of serde's doubling.

/// Serde helper for large vectors: allocates the announced length at once (capped at 64 MiB
/// worth of elements, so a corrupt length cannot ask for more) instead of serde's cautious
/// doubling, which leaves up to twice the memory reserved and copies on every growth.
pub(crate) mod exact_vec {
    use std::marker::PhantomData;

    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
    use serde::ser::{Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v)
    }

    struct V<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let cap = (64usize << 20) / std::mem::size_of::<T>().max(1);
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(cap));
            while let Some(x) = seq.next_element()? {
                v.push(x);
            }
            v.shrink_to_fit();
            Ok(v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(V(PhantomData))
    }
}

/// Serde helper for large byte vectors: the total length, then chunks of at most 64 KiB each
/// written as bytes, so reading streams them in bulk into one exact-size allocation.
pub(crate) mod big_bytes {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};

    const CHUNK: usize = 64 << 10;

    struct Chunk<'a>(&'a [u8]);
    impl serde::Serialize for Chunk<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut q = s.serialize_seq(Some(1 + v.len().div_ceil(CHUNK)))?;
        q.serialize_element(&(v.len() as u64))?;
        for c in v.chunks(CHUNK) {
            q.serialize_element(&Chunk(c))?;
        }
        q.end()
    }

    struct Append<'a>(&'a mut Vec<u8>);
    impl<'de> DeserializeSeed<'de> for Append<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_byte_buf(self)
        }
    }
    impl<'de> Visitor<'de> for Append<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<(), E> {
            self.0.extend_from_slice(b);
            Ok(())
        }
    }

    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("chunked bytes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let total: u64 = seq.next_element()?.unwrap_or(0);
            let mut v = Vec::with_capacity(total.min(64 << 20) as usize);
            while seq.next_element_seed(Append(&mut v))?.is_some() {}
            if v.len() as u64 != total {
                return Err(serde::de::Error::custom("chunked bytes: wrong length"));
            }
            Ok(v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_seq(V)
    }
}

/// Serde helper: a large `String` as [`big_bytes`], checked to be UTF-8 when read.
pub(crate) mod big_string {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        super::big_bytes::serialize(v.as_bytes(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let v = super::big_bytes::deserialize(d)?;
        String::from_utf8(v).map_err(serde::de::Error::custom)
    }
}
