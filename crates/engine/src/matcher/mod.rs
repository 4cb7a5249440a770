//! Atom matchers: a set of short literals ("atoms") searched in a stream. The default is
//! Vectorscan (feature `vectorscan`); feature `pure-rust` without `vectorscan` uses daachorse.

#[cfg(feature = "vectorscan")]
mod vs;

#[cfg(not(feature = "vectorscan"))]
mod daac;

#[cfg(not(any(feature = "vectorscan", feature = "pure-rust")))]
compile_error!("bulwark-engine needs an atom matcher: enable feature `vectorscan` or `pure-rust`");

use std::sync::Arc;

/// An atom occurrence: atom id and the absolute offset just past its last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Atom index.
    pub atom: u32,
    /// Absolute end offset.
    pub end: u64,
}

/// A matcher failure (compile, scratch, scan).
#[derive(Debug, Clone, thiserror::Error)]
#[error("atom matcher: {0}")]
pub struct MatchError(pub String);

#[cfg(feature = "vectorscan")]
pub use vs::{fingerprint, VsDb as AtomDb, VsStream as AtomStreamImpl};

#[cfg(not(feature = "vectorscan"))]
pub use daac::{fingerprint, DaacDb as AtomDb, DaacStream as AtomStreamImpl};

/// Opens a stream over `db`.
pub fn open(db: &Arc<AtomDb>) -> Result<AtomStreamImpl, MatchError> {
    AtomStreamImpl::open(Arc::clone(db), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_atoms_across_chunks_including_leading_nul() {
        let atoms = vec![
            (b"\x00ABC".to_vec(), false),
            (b"hello".to_vec(), true),
            (b"xyzw".to_vec(), false),
        ];
        let db = Arc::new(AtomDb::compile(&atoms).unwrap());
        let data = b"....\x00ABC....HeLLo....xyzw..xyzw";
        for split in 0..data.len() {
            let mut s = open(&db).unwrap();
            let mut hits = Vec::new();
            s.scan(&data[..split], &mut hits).unwrap();
            s.scan(&data[split..], &mut hits).unwrap();
            hits.sort_by_key(|h| h.end);
            let got: Vec<(u32, u64)> = hits.iter().map(|h| (h.atom, h.end)).collect();
            assert_eq!(
                got,
                vec![(0, 8), (1, 17), (2, 25), (2, 31)],
                "split {split}"
            );
        }
        let bytes = db.serialize().unwrap();
        let db2 = Arc::new(AtomDb::deserialize(&bytes).unwrap());
        let mut s = open(&db2).unwrap();
        let mut hits = Vec::new();
        s.scan(data, &mut hits).unwrap();
        assert_eq!(hits.len(), 4);
    }
}
