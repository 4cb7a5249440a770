//! One module per format.

pub mod autoit;
pub(crate) mod cab;
pub mod chm;
pub(crate) mod compress;
pub mod embedded;
pub mod emu;
pub mod eocd;
pub mod ishield;
pub(crate) mod le;
pub mod legacy;
pub mod mime;
pub mod nsis;
pub(crate) mod ole;
pub mod packer;
pub mod pdf;
pub(crate) mod sevenz;
pub mod szdd;
pub(crate) mod tar;
pub mod text;
pub mod upx;
pub(crate) mod zip;
