//! Lower-case hex, as indexes write SHA-256 digests and CVD checks compare MD5s.

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
