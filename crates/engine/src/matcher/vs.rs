//! A thin FFI to the system libvectorscan (Debian `libvectorscan-dev`, pkg-config `libhs`):
//! multi-literal databases compiled with `hs_compile_multi` (literals written as `\xNN` escapes,
//! because Vectorscan 5.4.9's literal API rejects a leading NUL), streaming scans, a scratch pool,
//! and serialisation for the compiled cache.
//!
//! The one module of the engine that calls C: `unsafe` is allowed here only, and every block,
//! `unsafe impl` and `unsafe fn` carries the SAFETY argument for it.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, Mutex};

use super::{Hit, MatchError};

#[repr(C)]
struct HsDatabase {
    _p: [u8; 0],
}
#[repr(C)]
struct HsScratch {
    _p: [u8; 0],
}
#[repr(C)]
struct HsStream {
    _p: [u8; 0],
}
#[repr(C)]
struct HsCompileError {
    message: *mut c_char,
    expression: c_int,
}

type MatchCb = unsafe extern "C" fn(c_uint, c_ulonglong, c_ulonglong, c_uint, *mut c_void) -> c_int;

#[link(name = "hs")]
extern "C" {
    fn hs_compile_multi(
        expressions: *const *const c_char,
        flags: *const c_uint,
        ids: *const c_uint,
        elements: c_uint,
        mode: c_uint,
        platform: *const c_void,
        db: *mut *mut HsDatabase,
        error: *mut *mut HsCompileError,
    ) -> c_int;
    fn hs_free_compile_error(error: *mut HsCompileError) -> c_int;
    fn hs_free_database(db: *mut HsDatabase) -> c_int;
    fn hs_alloc_scratch(db: *const HsDatabase, scratch: *mut *mut HsScratch) -> c_int;
    fn hs_free_scratch(scratch: *mut HsScratch) -> c_int;
    fn hs_open_stream(db: *const HsDatabase, flags: c_uint, stream: *mut *mut HsStream) -> c_int;
    fn hs_scan_stream(
        stream: *mut HsStream,
        data: *const c_char,
        length: c_uint,
        flags: c_uint,
        scratch: *mut HsScratch,
        cb: Option<MatchCb>,
        ctx: *mut c_void,
    ) -> c_int;
    fn hs_close_stream(
        stream: *mut HsStream,
        scratch: *mut HsScratch,
        cb: Option<MatchCb>,
        ctx: *mut c_void,
    ) -> c_int;
    fn hs_serialize_database(
        db: *const HsDatabase,
        bytes: *mut *mut c_char,
        length: *mut usize,
    ) -> c_int;
    fn hs_deserialize_database(
        bytes: *const c_char,
        length: usize,
        db: *mut *mut HsDatabase,
    ) -> c_int;
    fn hs_database_size(db: *const HsDatabase, size: *mut usize) -> c_int;
    fn hs_version() -> *const c_char;
    fn hs_populate_platform(platform: *mut HsPlatformInfo) -> c_int;
}

#[repr(C)]
#[derive(Default)]
struct HsPlatformInfo {
    tune: c_uint,
    cpu_features: c_ulonglong,
    reserved1: c_ulonglong,
    reserved2: c_ulonglong,
}

/// Identifies what a serialised database depends on: the Vectorscan version and the host's
/// platform (tuning family and CPU features Vectorscan compiles for).
pub fn fingerprint() -> String {
    // SAFETY: hs_version returns a pointer to a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(hs_version()) }
        .to_string_lossy()
        .into_owned();
    let mut p = HsPlatformInfo::default();
    // SAFETY: `p` is a valid, writable hs_platform_info_t.
    let rc = unsafe { hs_populate_platform(&mut p) };
    format!(
        "vectorscan {version}; {}; tune {} features {:#x} (rc {rc})",
        std::env::consts::ARCH,
        p.tune,
        p.cpu_features
    )
}

const HS_SUCCESS: c_int = 0;
const HS_FLAG_CASELESS: c_uint = 1;
const HS_MODE_STREAM: c_uint = 2;

/// A compiled Vectorscan stream-mode database of literals, with a pool of scratch spaces.
pub struct VsDb {
    db: *mut HsDatabase,
    scratch: Mutex<Vec<ScratchPtr>>,
}

struct ScratchPtr(*mut HsScratch);

// SAFETY: a compiled hs_database_t is immutable and documented thread-safe for concurrent scans;
// scratch pointers in the pool are only handed to one scanner at a time (taken out of the Mutex),
// so moving them between threads is sound.
unsafe impl Send for VsDb {}
// SAFETY: see above; `&VsDb` only reads `db` and locks the pool.
unsafe impl Sync for VsDb {}
// SAFETY: a scratch is owned by exactly one holder at a time.
unsafe impl Send for ScratchPtr {}

impl std::fmt::Debug for VsDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsDb").field("bytes", &self.size()).finish()
    }
}

impl Drop for VsDb {
    fn drop(&mut self) {
        let pool = std::mem::take(&mut *self.scratch.lock().unwrap_or_else(|e| e.into_inner()));
        for s in pool {
            // SAFETY: each pooled scratch was allocated by hs_alloc_scratch and is owned only by
            // the pool; it is freed once.
            unsafe { hs_free_scratch(s.0) };
        }
        // SAFETY: `db` came from hs_compile_multi/hs_deserialize_database, is non-null and is
        // freed exactly once; no stream outlives the VsDb (streams hold an Arc<VsDb>).
        unsafe { hs_free_database(self.db) };
    }
}

fn escape(lit: &[u8]) -> CString {
    let mut s = String::with_capacity(lit.len() * 4);
    for b in lit {
        s.push_str(&format!("\\x{b:02x}"));
    }
    // The escaped text never contains a NUL byte.
    CString::new(s).unwrap_or_default()
}

impl VsDb {
    /// Compiles `atoms` (literal bytes, caseless flag); pattern id = index.
    pub fn compile(atoms: &[(Vec<u8>, bool)]) -> Result<Self, MatchError> {
        if atoms.is_empty() {
            return Err(MatchError("empty atom set".into()));
        }
        let exprs: Vec<CString> = atoms.iter().map(|(a, _)| escape(a)).collect();
        let ptrs: Vec<*const c_char> = exprs.iter().map(|c| c.as_ptr()).collect();
        let flags: Vec<c_uint> = atoms
            .iter()
            .map(|&(_, ci)| if ci { HS_FLAG_CASELESS } else { 0 })
            .collect();
        let ids: Vec<c_uint> = (0..atoms.len() as c_uint).collect();
        let n = c_uint::try_from(atoms.len()).map_err(|_| MatchError("too many atoms".into()))?;
        let mut db = ptr::null_mut();
        let mut err = ptr::null_mut();
        // SAFETY: the three arrays have `n` elements and live across the call; every expression
        // is a NUL-terminated C string; out-pointers point to valid locals.
        let rc = unsafe {
            hs_compile_multi(
                ptrs.as_ptr(),
                flags.as_ptr(),
                ids.as_ptr(),
                n,
                HS_MODE_STREAM,
                ptr::null(),
                &mut db,
                &mut err,
            )
        };
        if rc != HS_SUCCESS {
            let msg = if err.is_null() {
                format!("hs_compile_multi failed ({rc})")
            } else {
                // SAFETY: on failure `err` points to a valid hs_compile_error_t whose message is a
                // NUL-terminated string; we copy it, then free the error once.
                unsafe {
                    let m = CStr::from_ptr((*err).message)
                        .to_string_lossy()
                        .into_owned();
                    hs_free_compile_error(err);
                    m
                }
            };
            return Err(MatchError(msg));
        }
        Self::from_raw(db)
    }

    fn from_raw(db: *mut HsDatabase) -> Result<Self, MatchError> {
        let me = VsDb {
            db,
            scratch: Mutex::new(Vec::new()),
        };
        let s = me.alloc_scratch()?;
        me.put_scratch(s);
        Ok(me)
    }

    fn alloc_scratch(&self) -> Result<ScratchPtr, MatchError> {
        let mut s = ptr::null_mut();
        // SAFETY: `db` is a valid database; `s` is a valid out-pointer (null asks for a new one).
        let rc = unsafe { hs_alloc_scratch(self.db, &mut s) };
        if rc != HS_SUCCESS {
            return Err(MatchError(format!("hs_alloc_scratch failed ({rc})")));
        }
        Ok(ScratchPtr(s))
    }

    fn take_scratch(&self) -> Result<ScratchPtr, MatchError> {
        let pooled = self.scratch.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(s) => Ok(s),
            None => self.alloc_scratch(),
        }
    }

    fn put_scratch(&self, s: ScratchPtr) {
        self.scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s);
    }

    /// Bytes used by the compiled database.
    pub fn size(&self) -> usize {
        let mut n = 0usize;
        // SAFETY: `db` is valid; `n` is a valid out-pointer.
        unsafe { hs_database_size(self.db, &mut n) };
        n
    }

    /// Serialises the database (for the compiled cache).
    pub fn serialize(&self) -> Result<Vec<u8>, MatchError> {
        let mut p = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: `db` is valid; out-pointers are valid locals.
        let rc = unsafe { hs_serialize_database(self.db, &mut p, &mut len) };
        if rc != HS_SUCCESS || p.is_null() {
            return Err(MatchError(format!("hs_serialize_database failed ({rc})")));
        }
        // SAFETY: on success `p` points to `len` bytes allocated with malloc (the default misc
        // allocator); we copy them and free the buffer once.
        let v = unsafe {
            let v = std::slice::from_raw_parts(p as *const u8, len).to_vec();
            libc_free(p as *mut c_void);
            v
        };
        Ok(v)
    }

    /// Loads a serialised database.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, MatchError> {
        let mut db = ptr::null_mut();
        // SAFETY: `bytes` is a valid slice for the call; Vectorscan validates the header and
        // returns an error for foreign or corrupt data; `db` is a valid out-pointer.
        let rc = unsafe {
            hs_deserialize_database(bytes.as_ptr() as *const c_char, bytes.len(), &mut db)
        };
        if rc != HS_SUCCESS {
            return Err(MatchError(format!("hs_deserialize_database failed ({rc})")));
        }
        Self::from_raw(db)
    }
}

extern "C" {
    #[link_name = "free"]
    fn libc_free(p: *mut c_void);
}

/// One streaming scan over a [`VsDb`].
pub struct VsStream {
    db: Arc<VsDb>,
    stream: *mut HsStream,
    scratch: Option<ScratchPtr>,
    base: u64,
}

// SAFETY: the stream state and scratch are owned exclusively by this value and used only through
// `&mut self`; Vectorscan has no thread affinity for streams or scratch.
unsafe impl Send for VsStream {}

impl std::fmt::Debug for VsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VsStream").finish()
    }
}

unsafe extern "C" fn on_match(
    id: c_uint,
    _from: c_ulonglong,
    to: c_ulonglong,
    _flags: c_uint,
    ctx: *mut c_void,
) -> c_int {
    // SAFETY: `ctx` is the `&mut (Vec<Hit>, u64)` passed to hs_scan_stream by `VsStream::scan`,
    // valid and exclusively borrowed for the duration of that call, which is when this runs.
    let (hits, base) = unsafe { &mut *(ctx as *mut (&mut Vec<Hit>, u64)) };
    hits.push(Hit {
        atom: id,
        end: *base + to,
    });
    0
}

impl VsStream {
    /// Opens a stream; `base` is added to reported offsets.
    pub fn open(db: Arc<VsDb>, base: u64) -> Result<Self, MatchError> {
        let scratch = db.take_scratch()?;
        let mut s = ptr::null_mut();
        // SAFETY: `db.db` is valid; `s` is a valid out-pointer.
        let rc = unsafe { hs_open_stream(db.db, 0, &mut s) };
        if rc != HS_SUCCESS {
            db.put_scratch(scratch);
            return Err(MatchError(format!("hs_open_stream failed ({rc})")));
        }
        Ok(VsStream {
            db,
            stream: s,
            scratch: Some(scratch),
            base,
        })
    }

    /// Scans the next bytes, appending hits (absolute end offsets).
    pub fn scan(&mut self, data: &[u8], hits: &mut Vec<Hit>) -> Result<(), MatchError> {
        let Some(scratch) = self.scratch.as_ref().map(|s| s.0) else {
            return Err(MatchError("stream closed".into()));
        };
        for chunk in data.chunks(1 << 30) {
            let mut ctx: (&mut Vec<Hit>, u64) = (hits, self.base);
            // SAFETY: `stream` and `scratch` are valid and exclusively ours; `chunk` is valid for
            // `chunk.len()` (< 2^32) bytes; `ctx` outlives the call and is only used by `on_match`
            // during it.
            let rc = unsafe {
                hs_scan_stream(
                    self.stream,
                    chunk.as_ptr() as *const c_char,
                    chunk.len() as c_uint,
                    0,
                    scratch,
                    Some(on_match),
                    &mut ctx as *mut _ as *mut c_void,
                )
            };
            if rc != HS_SUCCESS {
                return Err(MatchError(format!("hs_scan_stream failed ({rc})")));
            }
        }
        Ok(())
    }
}

impl Drop for VsStream {
    fn drop(&mut self) {
        if let Some(s) = self.scratch.take() {
            // SAFETY: the stream is valid and closed once here; no callback, so no scratch is used
            // for reporting (passing it is still allowed).
            unsafe { hs_close_stream(self.stream, s.0, None, ptr::null_mut()) };
            self.db.put_scratch(s);
        }
    }
}
