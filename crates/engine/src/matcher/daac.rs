//! Pure-Rust atom matcher (daachorse): not written yet. Building without the `vectorscan` feature
//! stops here with an explicit error rather than silently scanning nothing.

compile_error!(
    "the pure-rust (daachorse) atom matcher is not implemented yet; enable feature `vectorscan`"
);
