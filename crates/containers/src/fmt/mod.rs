//! One module per format.

pub(crate) mod cab;
pub(crate) mod compress;
pub(crate) mod embedded;
pub mod eocd;
pub mod mime;
pub(crate) mod ole;
pub(crate) mod packer;
pub(crate) mod sevenz;
pub(crate) mod tar;
pub(crate) mod zip;
