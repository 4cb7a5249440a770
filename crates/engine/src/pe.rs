//! The PE structures ClamAV 1.4 hashes, computed as it does (observed with clamscan 1.4.6 and
//! its `--debug` output): section ranges for `.mdb`/`.msb` signatures and the import-table
//! string for `.imp` signatures.
//!
//! Sections: the raw pointer is rounded down and the raw size up to the file alignment, the
//! size then cut at the end of the file; when the file alignment is not 0x200 and a section's
//! raw pointer is a multiple of 0x200 but not of the file alignment, 0x200 is used instead
//! (ClamAV's "fallback mode"); a file alignment of 0 leaves both unchanged.
//!
//! Imports: for each import descriptor (until one with no name, or the directory size is used
//! up), for each thunk, `dll.function` with the DLL name lower-cased and cut at its first `.`
//! when the extension there starts with `.dll`, `.ocx` or `.sys`, the function name
//! lower-cased (ordinals as `ordN`, or their name for the ordinals of `ws2_32.dll`,
//! `wsock32.dll` and `oleaut32.dll` listed in [`ordinal_name`]), joined with `,`. The `.imp`
//! size is the length of that string, the hash its MD5/SHA-1/SHA-256. A function name with a
//! byte other than `[0-9A-Za-z_.]` makes ClamAV give up the import hash (no `.imp` match); a
//! name whose hint/name entry starts within 258 bytes of the end of the file is skipped (ClamAV
//! cannot read it).

/// Most import descriptors read (ClamAV's limit).
const MAX_IMPORTS: usize = 1024;
/// Most bytes of a name read.
const MAX_NAME: usize = 256;
/// Most functions read per object (bounds the work on hostile thunk arrays).
const MAX_FUNCTIONS: usize = 1 << 16;

use bulwark_formats::le::{u16_at as u16le, u32_at as u32le, u64_at as u64le};

fn align_down(x: u64, a: u64) -> u64 {
    x.checked_div(a).map_or(x, |q| q * a)
}
fn align_up(x: u64, a: u64) -> u64 {
    if a == 0 {
        x
    } else {
        x.div_ceil(a).saturating_mul(a)
    }
}

/// A section as ClamAV aligns it.
#[derive(Debug, Clone, Copy)]
struct Sec {
    rva: u64,
    raw: u64,
    rsz: u64,
}

/// The headers needed here.
struct Pe {
    plus: bool,
    secs: Vec<Sec>,
    hdr_size: u64,
    imports: (u32, u32),
    /// RVA of the resource directory (0: none).
    resources: u32,
}

fn parse(d: &[u8]) -> Option<Pe> {
    let h = bulwark_formats::pe::Headers::parse(d).ok()?;
    let o = h.optional?;
    // Every entry the header declares (up to the limit) must be there.
    if h.sections.len() < h.declared_sections.min(bulwark_formats::pe::MAX_SECTIONS) {
        return None;
    }
    let valign = u64::from(o.section_alignment);
    let mut falign = u64::from(o.file_alignment);
    let hdr_size = align_up(u64::from(o.size_of_headers), valign);
    let imports = h
        .data_dir(d, bulwark_formats::pe::DIR_IMPORT)
        .unwrap_or((0, 0));
    let hdrs: Vec<(u64, u64, u64)> = h
        .sections
        .iter()
        .map(|s| {
            (
                u64::from(s.rva),
                u64::from(s.raw_offset),
                u64::from(s.raw_size),
            )
        })
        .collect();
    if falign != 0x200
        && falign != 0
        && hdrs
            .iter()
            .any(|&(_, p, sz)| sz != 0 && p % falign != 0 && p % 0x200 == 0)
    {
        falign = 0x200;
    }
    let flen = d.len() as u64;
    let secs = hdrs
        .iter()
        .map(|&(va, p, sz)| {
            let raw = align_down(p, falign);
            Sec {
                rva: align_down(va, valign),
                raw,
                rsz: align_up(sz, falign).min(flen.saturating_sub(raw)),
            }
        })
        .collect();
    Some(Pe {
        plus: h.is_plus(),
        secs,
        hdr_size,
        imports,
        resources: h
            .data_dir(d, bulwark_formats::pe::DIR_RESOURCE)
            .map_or(0, |r| r.0),
    })
}

/// The raw `(offset, size)` of each section as ClamAV hashes it for `.mdb`/`.msb` signatures
/// (empty sections and sections past the end of the file left out).
pub(crate) fn section_ranges(d: &[u8]) -> Vec<(u64, u64)> {
    let Some(pe) = parse(d) else {
        return Vec::new();
    };
    pe.secs
        .iter()
        .filter(|s| s.rsz > 0 && s.raw < d.len() as u64)
        .map(|s| (s.raw, s.rsz))
        .collect()
}

impl Pe {
    /// File offset of `rva` (ClamAV: headers map 1:1, else the last section holding it).
    fn raw(&self, rva: u64, flen: u64) -> Option<u64> {
        if rva < self.hdr_size {
            return (rva < flen).then_some(rva);
        }
        self.secs
            .iter()
            .rev()
            .find(|s| s.rsz != 0 && s.rva <= rva && s.rsz > rva - s.rva)
            .map(|s| rva - s.rva + s.raw)
    }
}

/// The NUL-terminated string at `off`, at most [`MAX_NAME`] bytes.
fn cstr(d: &[u8], off: usize) -> &[u8] {
    let s = d.get(off..).unwrap_or(&[]);
    let s = &s[..s.len().min(MAX_NAME)];
    match memchr::memchr(0, s) {
        Some(n) => &s[..n],
        None => s,
    }
}

fn valid_name(n: &[u8]) -> bool {
    n.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// The import-table string ClamAV hashes for `.imp` signatures, or `None` when it computes no
/// import hash (no import directory, unreadable descriptors, an invalid function name).
pub(crate) fn import_string(d: &[u8]) -> Option<Vec<u8>> {
    let pe = parse(d)?;
    let flen = d.len() as u64;
    let (rva, size) = pe.imports;
    if rva == 0 || size == 0 {
        return None;
    }
    let impoff = pe.raw(u64::from(rva), flen)?;
    if impoff + u64::from(size) > flen {
        return None;
    }
    let mut out = Vec::new();
    let mut left = size as usize;
    let mut at = impoff as usize;
    let mut nfns = 0usize;
    for _ in 0..MAX_IMPORTS {
        if left <= 20 {
            break;
        }
        let oft = u32le(d, at)?;
        let name = u32le(d, at + 12)?;
        let ft = u32le(d, at + 16)?;
        if name == 0 {
            break;
        }
        left -= 20;
        at += 20;
        let name_off = pe.raw(u64::from(name), flen).filter(|&o| o <= flen)?;
        let dll = cstr(d, name_off as usize);
        let cut = memchr::memchr(b'.', dll)
            .filter(|&p| {
                let ext = &dll[p..];
                ext.len() >= 4
                    && [b".dll", b".ocx", b".sys"]
                        .iter()
                        .any(|e| ext[..4].eq_ignore_ascii_case(*e))
            })
            .unwrap_or(dll.len());
        let dll_short = dll[..cut].to_ascii_lowercase();
        let mut thunk = match (oft != 0).then(|| pe.raw(u64::from(oft), flen)).flatten() {
            Some(o) if o != 0 => o,
            _ => pe.raw(u64::from(ft), flen)?,
        } as usize;
        let width = if pe.plus { 8 } else { 4 };
        loop {
            let v = if pe.plus {
                u64le(d, thunk)
            } else {
                u32le(d, thunk).map(u64::from)
            };
            let Some(v) = v.filter(|&v| v != 0) else {
                break;
            };
            nfns += 1;
            if nfns > MAX_FUNCTIONS {
                return None;
            }
            thunk += width;
            let ordinal = if pe.plus {
                v & (1 << 63) != 0
            } else {
                v & (1 << 31) != 0
            };
            let func: Vec<u8> = if ordinal {
                let ord = (v & 0xffff) as u16;
                match ordinal_name(dll, ord) {
                    Some(n) => n.as_bytes().to_vec(),
                    None => format!("ord{ord}").into_bytes(),
                }
            } else {
                let Some(off) = pe.raw(v & 0xffff_ffff, flen) else {
                    continue;
                };
                if off + 2 + MAX_NAME as u64 > flen {
                    // ClamAV reads 256 bytes from after the hint and fails this close to the end.
                    continue;
                }
                cstr(d, off as usize + 2).to_vec()
            };
            if !valid_name(&func) {
                return None;
            }
            if !out.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(&dll_short);
            out.push(b'.');
            out.extend(func.iter().map(u8::to_ascii_lowercase));
        }
    }
    Some(out)
}

/// Most resource directory entries, version resources and strings looked at (bounds the work
/// on hostile resource trees).
const MAX_RES_ENTRIES: usize = 256;
const MAX_VERSION_RES: usize = 16;
const MAX_STRINGS: usize = 4096;

/// The UTF-16 key at `at` (up to its NUL), and the offset after the NUL.
fn utf16_key(d: &[u8], at: usize, end: usize) -> Option<(Vec<u16>, usize)> {
    let mut key = Vec::new();
    let mut p = at;
    while p + 2 <= end {
        let c = u16le(d, p)?;
        p += 2;
        if c == 0 {
            return Some((key, p));
        }
        key.push(c);
        if key.len() > 256 {
            return None;
        }
    }
    None
}

fn key_is(k: &[u16], s: &str) -> bool {
    k.iter().copied().eq(s.encode_utf16())
}

fn align4(x: usize) -> usize {
    x.div_ceil(4) * 4
}

/// The children of the version structure at `at` (wLength, wValueLength, wType, key, value of
/// `value_bytes`, children) as `(offset, length)`, within `end`.
fn children(d: &[u8], at: usize, end: usize, value_bytes: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Some(len) = u16le(d, at).map(usize::from) else {
        return out;
    };
    let stop = (at + len).min(end);
    let Some((_, key_end)) = utf16_key(d, at + 6, stop) else {
        return out;
    };
    let mut p = align4(align4(key_end) + value_bytes);
    while p + 6 <= stop && out.len() < MAX_STRINGS {
        let Some(l) = u16le(d, p).map(usize::from) else {
            break;
        };
        if l < 6 {
            break;
        }
        out.push((p, l.min(stop - p)));
        p = align4(p + l);
    }
    out
}

/// The version-information key/value pairs of a PE (`VI` offsets): the byte ranges from each
/// `String`'s key to the end of the structure, in file offsets.
pub(crate) fn version_info(d: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Some(pe) = parse(d) else {
        return out;
    };
    let flen = d.len() as u64;
    let rsrc_rva = pe.resources;
    if rsrc_rva == 0 {
        return out;
    }
    let Some(root) = pe.raw(u64::from(rsrc_rva), flen).map(|r| r as usize) else {
        return out;
    };
    // Directory entries at `dir` (relative to the resource root): (id, offset, is_dir).
    let entries = |dir: usize| -> Vec<(u32, usize, bool)> {
        let at = root + dir;
        let (Some(named), Some(ids)) = (u16le(d, at + 12), u16le(d, at + 14)) else {
            return Vec::new();
        };
        let n = (usize::from(named) + usize::from(ids)).min(MAX_RES_ENTRIES);
        (0..n)
            .filter_map(|i| {
                let e = at + 16 + 8 * i;
                let (id, off) = (u32le(d, e)?, u32le(d, e + 4)?);
                Some((id, (off & 0x7fff_ffff) as usize, off & 0x8000_0000 != 0))
            })
            .collect()
    };
    let mut data_entries = Vec::new();
    for (id, off, sub) in entries(0) {
        if id != 16 || !sub {
            continue;
        }
        for (_, off2, sub2) in entries(off) {
            if !sub2 {
                continue;
            }
            for (_, off3, sub3) in entries(off2) {
                if !sub3 && data_entries.len() < MAX_VERSION_RES {
                    data_entries.push(root + off3);
                }
            }
        }
    }
    for de in data_entries {
        let (Some(rva), Some(size)) = (u32le(d, de), u32le(d, de + 4)) else {
            continue;
        };
        let Some(start) = pe.raw(u64::from(rva), flen).map(|r| r as usize) else {
            continue;
        };
        let end = start.saturating_add(size as usize).min(d.len());
        let Some((key, _)) = utf16_key(d, start + 6, end) else {
            continue;
        };
        if !key_is(&key, "VS_VERSION_INFO") {
            continue;
        }
        let fixed = u16le(d, start + 2).map_or(0, usize::from);
        for (c, _) in children(d, start, end, fixed) {
            let Some((k, _)) = utf16_key(d, c + 6, end) else {
                continue;
            };
            if !key_is(&k, "StringFileInfo") {
                continue;
            }
            for (t, _) in children(d, c, end, 0) {
                for (st, len) in children(d, t, end, 0) {
                    if out.len() < MAX_STRINGS {
                        out.push((st + 6, st + len));
                    }
                }
            }
        }
    }
    out
}

/// Export names of ordinal imports ClamAV resolves (verified against clamscan 1.4.6: it knows
/// more `oleaut32.dll` ordinals than listed here, for which this gives `ordN`).
fn ordinal_name(dll: &[u8], ord: u16) -> Option<&'static str> {
    let starts = |p: &[u8]| dll.len() >= p.len() && dll[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"ws2_32.dll") || starts(b"wsock32.dll") {
        const WS: [&str; 57] = [
            "accept",
            "bind",
            "closesocket",
            "connect",
            "getpeername",
            "getsockname",
            "getsockopt",
            "htonl",
            "htons",
            "ioctlsocket",
            "inet_addr",
            "inet_ntoa",
            "listen",
            "ntohl",
            "ntohs",
            "recv",
            "recvfrom",
            "select",
            "send",
            "sendto",
            "setsockopt",
            "shutdown",
            "socket",
            "GetAddrInfoW",
            "GetNameInfoW",
            "WSApSetPostRoutine",
            "FreeAddrInfoW",
            "WPUCompleteOverlappedRequest",
            "WSAAccept",
            "WSAAddressToStringA",
            "WSAAddressToStringW",
            "WSACloseEvent",
            "WSAConnect",
            "WSACreateEvent",
            "WSADuplicateSocketA",
            "WSADuplicateSocketW",
            "WSAEnumNameSpaceProvidersA",
            "WSAEnumNameSpaceProvidersW",
            "WSAEnumNetworkEvents",
            "WSAEnumProtocolsA",
            "WSAEnumProtocolsW",
            "WSAEventSelect",
            "WSAGetOverlappedResult",
            "WSAGetQOSByName",
            "WSAGetServiceClassInfoA",
            "WSAGetServiceClassInfoW",
            "WSAGetServiceClassNameByClassIdA",
            "WSAGetServiceClassNameByClassIdW",
            "WSAHtonl",
            "WSAHtons",
            "gethostbyaddr",
            "gethostbyname",
            "getprotobyname",
            "getprotobynumber",
            "getservbyname",
            "getservbyport",
            "gethostname",
        ];
        const WSA: [&str; 16] = [
            "WSAAsyncSelect",
            "WSAAsyncGetHostByAddr",
            "WSAAsyncGetHostByName",
            "WSAAsyncGetProtoByNumber",
            "WSAAsyncGetProtoByName",
            "WSAAsyncGetServByPort",
            "WSAAsyncGetServByName",
            "WSACancelAsyncRequest",
            "WSASetBlockingHook",
            "WSAUnhookBlockingHook",
            "WSAGetLastError",
            "WSASetLastError",
            "WSACancelBlockingCall",
            "WSAIsBlocking",
            "WSAStartup",
            "WSACleanup",
        ];
        return match ord {
            1..=57 => WS.get(usize::from(ord) - 1).copied(),
            101..=116 => WSA.get(usize::from(ord) - 101).copied(),
            151 => Some("__WSAFDIsSet"),
            500 => Some("WEP"),
            _ => None,
        };
    }
    if starts(b"oleaut32.dll") {
        const OLE: [&str; 39] = [
            "SysAllocString",
            "SysReAllocString",
            "SysAllocStringLen",
            "SysReAllocStringLen",
            "SysFreeString",
            "SysStringLen",
            "VariantInit",
            "VariantClear",
            "VariantCopy",
            "VariantCopyInd",
            "VariantChangeType",
            "VariantTimeToDosDateTime",
            "DosDateTimeToVariantTime",
            "SafeArrayCreate",
            "SafeArrayDestroy",
            "SafeArrayGetDim",
            "SafeArrayGetElemsize",
            "SafeArrayGetUBound",
            "SafeArrayGetLBound",
            "SafeArrayLock",
            "SafeArrayUnlock",
            "SafeArrayAccessData",
            "SafeArrayUnaccessData",
            "SafeArrayGetElement",
            "SafeArrayPutElement",
            "SafeArrayCopy",
            "DispGetParam",
            "DispGetIDsOfNames",
            "DispInvoke",
            "CreateDispTypeInfo",
            "CreateStdDispatch",
            "RegisterActiveObject",
            "RevokeActiveObject",
            "GetActiveObject",
            "SafeArrayAllocDescriptor",
            "SafeArrayAllocData",
            "SafeArrayDestroyDescriptor",
            "SafeArrayDestroyData",
            "SafeArrayRedim",
        ];
        return match ord {
            2..=40 => OLE.get(usize::from(ord) - 2).copied(),
            147 => Some("VariantChangeTypeEx"),
            148 => Some("SafeArrayPtrOfIndex"),
            149 => Some("SysStringByteLen"),
            150 => Some("SysAllocStringByteLen"),
            161 => Some("LoadTypeLib"),
            162 => Some("LoadRegTypeLib"),
            163 => Some("RegisterTypeLib"),
            183 => Some("LoadTypeLibEx"),
            200 => Some("GetErrorInfo"),
            201 => Some("SetErrorInfo"),
            202 => Some("CreateErrorInfo"),
            277 => Some("VarUI4FromStr"),
            411 => Some("SafeArrayCreateVector"),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn put(d: &mut [u8], o: usize, v: &[u8]) {
        d[o..o + v.len()].copy_from_slice(v);
    }

    /// A PE32 image with `.text` at raw 0x200 and `.idata` (RVA 0x2000, raw 0x400) holding an
    /// import table for `imports` (DLL, functions: names or ordinals), `total` bytes long.
    pub(crate) fn pe_with_imports(
        imports: &[(&str, &[Result<&str, u16>])],
        total: usize,
    ) -> Vec<u8> {
        let mut d = vec![0u8; total];
        put(&mut d, 0, b"MZ");
        put(&mut d, 0x3c, &0x80u32.to_le_bytes());
        put(&mut d, 0x80, b"PE\0\0");
        let c = 0x84;
        put(&mut d, c, &0x14cu16.to_le_bytes());
        put(&mut d, c + 2, &2u16.to_le_bytes());
        put(&mut d, c + 16, &0xe0u16.to_le_bytes());
        put(&mut d, c + 18, &0x0102u16.to_le_bytes());
        let o = c + 20;
        put(&mut d, o, &0x10bu16.to_le_bytes());
        put(&mut d, o + 16, &0x1000u32.to_le_bytes());
        put(&mut d, o + 28, &0x400000u32.to_le_bytes());
        put(&mut d, o + 32, &0x1000u32.to_le_bytes());
        put(&mut d, o + 36, &0x200u32.to_le_bytes());
        put(&mut d, o + 40, &4u16.to_le_bytes());
        put(&mut d, o + 48, &4u16.to_le_bytes());
        put(&mut d, o + 56, &0x3000u32.to_le_bytes());
        put(&mut d, o + 60, &0x200u32.to_le_bytes());
        put(&mut d, o + 68, &2u16.to_le_bytes());
        put(&mut d, o + 92, &16u32.to_le_bytes());
        let s = o + 0xe0;
        put(&mut d, s, b".text");
        for (k, v) in [
            (8, 0x200u32),
            (12, 0x1000),
            (16, 0x200),
            (20, 0x200),
            (36, 0x6000_0020),
        ] {
            put(&mut d, s + k, &v.to_le_bytes());
        }
        let s2 = s + 40;
        put(&mut d, s2, b".idata");
        for (k, v) in [
            (8, 0x200u32),
            (12, 0x2000),
            (16, 0x200),
            (20, 0x400),
            (36, 0xc000_0040),
        ] {
            put(&mut d, s2 + k, &v.to_le_bytes());
        }
        d[0x200] = 0xc3;
        let (rva0, raw0) = (0x2000usize, 0x400usize);
        let ndesc = imports.len() + 1;
        let mut pos = ndesc * 20;
        let mut descs = Vec::new();
        for (_, f) in imports {
            let ilt = pos;
            pos += 4 * (f.len() + 1);
            let iat = pos;
            pos += 4 * (f.len() + 1);
            descs.push((ilt, iat));
        }
        for (i, (dll, funcs)) in imports.iter().enumerate() {
            let (ilt, iat) = descs[i];
            for (k, f) in funcs.iter().enumerate() {
                let v = match f {
                    Ok(name) => {
                        let r = (rva0 + pos) as u32;
                        put(&mut d, raw0 + pos + 2, name.as_bytes());
                        pos += 2 + name.len() + 1;
                        pos += pos & 1;
                        r
                    }
                    Err(ord) => 0x8000_0000 | u32::from(*ord),
                };
                put(&mut d, raw0 + ilt + 4 * k, &v.to_le_bytes());
                put(&mut d, raw0 + iat + 4 * k, &v.to_le_bytes());
            }
            let name_rva = (rva0 + pos) as u32;
            put(&mut d, raw0 + pos, dll.as_bytes());
            pos += dll.len() + 1;
            let e = raw0 + 20 * i;
            put(&mut d, e, &((rva0 + ilt) as u32).to_le_bytes());
            put(&mut d, e + 12, &name_rva.to_le_bytes());
            put(&mut d, e + 16, &((rva0 + iat) as u32).to_le_bytes());
        }
        put(&mut d, o + 104, &(rva0 as u32).to_le_bytes());
        put(&mut d, o + 108, &((ndesc * 20) as u32).to_le_bytes());
        d
    }

    mod pe_build {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/common/pe_build.rs"
        ));
    }
    pub(crate) use pe_build::version_resource;

    /// The pairs clamscan 1.4.6 `--debug` printed (`VersionInfo … VI:hex`) for this layout.
    #[test]
    fn version_info_pairs_as_clamav() {
        let mut d = pe_with_imports(&[], 0x1000);
        let res = version_resource(
            &[
                ("CompanyName", "Microsoft Corporation"),
                ("InternalName", "freecell"),
                ("FileVersion", "5.1"),
            ],
            0x2000,
        );
        put(&mut d, 0x400, &res);
        let o = 0x84 + 20;
        put(&mut d, o + 96 + 16, &0x2000u32.to_le_bytes());
        put(&mut d, o + 96 + 20, &(res.len() as u32).to_le_bytes());
        let s2 = o + 0xe0 + 40;
        put(&mut d, s2 + 8, &0x800u32.to_le_bytes());
        put(&mut d, s2 + 16, &0x800u32.to_le_bytes());
        let hex = |r: (usize, usize)| -> String {
            d[r.0..r.1].iter().map(|b| format!("{b:02x}")).collect()
        };
        let pairs: Vec<String> = version_info(&d).into_iter().map(hex).collect();
        assert_eq!(
            pairs,
            vec![
                "43006f006d00700061006e0079004e0061006d006500000000004d006900630072006f0073006f0066007400200043006f00720070006f0072006100740069006f006e000000",
                "49006e007400650072006e0061006c004e0061006d00650000006600720065006500630065006c006c0000000000",
                "460069006c006500560065007200730069006f006e000000000035002e0031000000",
            ]
        );
    }

    /// Strings (and their MD5s) printed by clamscan 1.4.6 `--debug` (`IMP: md5:size`) for
    /// the same images.
    #[test]
    fn import_strings_as_clamav() {
        let s = |imports: &[(&str, &[Result<&str, u16>])]| {
            String::from_utf8(import_string(&pe_with_imports(imports, 0x800)).unwrap()).unwrap()
        };
        assert_eq!(
            s(&[
                ("KERNEL32.dll", &[Ok("ExitProcess"), Ok("GetProcAddress")]),
                ("User32.DLL", &[Ok("MessageBoxA")]),
            ]),
            "kernel32.exitprocess,kernel32.getprocaddress,user32.messageboxa"
        );
        assert_eq!(s(&[("WS2_32.dll", &[Err(23)])]), "ws2_32.socket");
        assert_eq!(s(&[("oleaut32.dll", &[Err(2)])]), "oleaut32.sysallocstring");
        assert_eq!(s(&[("Other.ocx", &[Err(5)])]), "other.ord5");
        assert_eq!(s(&[("y.drv", &[Ok("Q")])]), "y.drv.q");
        assert_eq!(s(&[("noext", &[Ok("Bar")])]), "noext.bar");
        assert_eq!(
            s(&[("A.dll", &[Ok("F1")]), ("my.lib.dll", &[Ok("H")])]),
            "a.f1,my.lib.dll.h"
        );
        assert_eq!(s(&[("x.sys", &[Ok("Baz")])]), "x.baz");
        // An invalid function name: no import hash at all.
        assert_eq!(
            import_string(&pe_with_imports(&[("a.dll", &[Ok("b-c")])], 0x800)),
            None
        );
        // Names within 258 bytes of the end of the file are skipped (ClamAV cannot read them).
        let imports: Vec<(String, Vec<Result<&str, u16>>)> = (0..7)
            .map(|i| (format!("D{i}.dll"), vec![Ok("F")]))
            .collect();
        let refs: Vec<(&str, &[Result<&str, u16>])> = imports
            .iter()
            .map(|(d, f)| (d.as_str(), f.as_slice()))
            .collect();
        assert_eq!(import_string(&pe_with_imports(&refs, 0x600)).unwrap(), b"");
    }

    /// Section ranges clamscan 1.4.6 hashed for `.mdb` signatures (pointer, size, file
    /// alignment -> offset, size hashed).
    #[test]
    fn section_ranges_as_clamav() {
        let img = |ptr: u32, size: u32, falign: u32, total: usize| {
            let mut d = pe_with_imports(&[], total);
            let o = 0x84 + 20;
            put(&mut d, o + 36, &falign.to_le_bytes());
            put(&mut d, 0x84 + 2, &1u16.to_le_bytes());
            let s = o + 0xe0;
            put(&mut d, s + 16, &size.to_le_bytes());
            put(&mut d, s + 20, &ptr.to_le_bytes());
            d
        };
        for (ptr, size, falign, want) in [
            (0x310, 0x180, 0x200, (0x200, 0x200)),
            (0x300, 0x100, 0x100, (0x300, 0x100)),
            (0x280, 0x90, 0x80, (0x280, 0x100)),
            (0x200, 0x100, 0x1000, (0x200, 0x200)),
            (0x300, 0x100, 0, (0x300, 0x100)),
            (0x400, 0x500, 0x200, (0x400, 0x600)),
            (0x410, 0x120, 0x400, (0x400, 0x400)),
            (0x300, 0x180, 0x100, (0x300, 0x200)),
        ] {
            assert_eq!(
                section_ranges(&img(ptr, size, falign, 0x1000)),
                vec![want],
                "{ptr:#x} {size:#x} {falign:#x}"
            );
        }
        // Cut at the end of the file.
        assert_eq!(
            section_ranges(&img(0x400, 0x500, 0x200, 0x800)),
            vec![(0x400, 0x400)]
        );
    }
}
