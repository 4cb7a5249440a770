//! One module per format the deep scanner opens: each turns a blob into members. Decoders that
//! need nothing of the scan live in `bulwark_formats`.

pub(crate) mod cab;
pub mod chm;
pub(crate) mod compress;
pub mod embedded;
pub(crate) mod emu;
pub(crate) mod exe;
pub mod legacy;
pub mod mime;
pub mod nsis;
pub(crate) mod ole;
pub(crate) mod packer;
pub mod pdf;
pub(crate) mod screnc;
pub(crate) mod sevenz;
pub(crate) mod szdd;
pub(crate) mod tar;
pub mod text;
pub(crate) mod zip;
