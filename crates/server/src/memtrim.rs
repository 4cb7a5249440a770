//! Gives the memory freed after a database compile back to the system.
//!
//! Compiling the real ClamAV database peaks at ~350 MB and frees most of it again, but glibc's
//! allocator keeps freed heap pages mapped: without a trim, a server that compiled its database
//! (first start, every update) stays at the compile's peak (measured: 356 MB RSS, against
//! 102 MB when the same database came from the compiled cache).

/// Returns the allocator's free memory to the system (glibc's `malloc_trim`; nothing elsewhere).
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes a plain integer, touches only the allocator's own free
        // lists under its locks, and is safe to call from any thread at any time.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
