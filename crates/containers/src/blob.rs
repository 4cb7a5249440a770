//! Objects and members held for unpacking, in the one buffer type of Bulwark
//! (`bulwark_spool`): collected in a [`Spool`] (memory, then an unlinked temp file beyond
//! `Limits::spill_bytes`), read back as a [`Blob`].

pub(crate) use bulwark_spool::{ReadSeek, SpillBuffer as Spool, Spilled as Blob};
