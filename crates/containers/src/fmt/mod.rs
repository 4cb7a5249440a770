//! One module per format.

pub(crate) mod cab;
pub(crate) mod compress;
pub mod embedded;
pub mod eocd;
pub mod mime;
pub(crate) mod ole;
pub mod packer;
pub(crate) mod sevenz;
pub(crate) mod tar;
pub mod text;
pub(crate) mod zip;
