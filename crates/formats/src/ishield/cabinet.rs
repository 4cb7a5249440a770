//! Layout B, second half: InstallShield cabinets (`ISc(` header file plus data volumes).

use super::*;

pub(super) const CAB_SIG: &[u8] = b"ISc(";
pub(super) const FILE_SPLIT: u16 = 1;
pub(super) const FILE_OBFUSCATED: u16 = 2;
pub(super) const FILE_COMPRESSED: u16 = 4;
pub(super) const FILE_INVALID: u16 = 8;
pub(super) const LINK_PREV: u8 = 1;

/// The volume-name stem of a cabinet file name: the name up to its first digit or dot, as
/// `data` for `data1.hdr`.
pub(super) fn stem(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .position(|&b| b == b'.' || b.is_ascii_digit())
        .unwrap_or(name.len());
    name.get(..end).unwrap_or(name)
}

/// Extracts every InstallShield cabinet among the overlay files.
pub(super) fn cabinets(files: &[OverlayFile<'_>], sink: &mut Sink) -> Result<(), IShieldError> {
    let mut done: Vec<&[u8]> = Vec::new();
    for f in files.iter().take(MAX_RECORDS) {
        if !f.data.starts_with(CAB_SIG) || u32_at(f.data, 0x10).unwrap_or(0) == 0 {
            continue; // not a cabinet, or a data volume without descriptor
        }
        let st = stem(f.name);
        if done.iter().any(|d| d.eq_ignore_ascii_case(st)) || done.len() >= MAX_HITS {
            continue;
        }
        done.push(st);
        // Volume n is `<stem><n>.cab`; volume 0 never exists.
        let volumes: Vec<Option<&[u8]>> = (0..=MAX_VOLUMES)
            .map(|n| {
                let want = format!("{}{}.cab", String::from_utf8_lossy(st), n);
                files
                    .iter()
                    .find(|g| n > 0 && g.name.eq_ignore_ascii_case(want.as_bytes()))
                    .map(|g| g.data)
                    .filter(|d| d.starts_with(CAB_SIG))
            })
            .collect();
        let Some(cab) = Cabinet::parse(f.data) else {
            sink.corrupt = Some("bad InstallShield cabinet header");
            continue;
        };
        cab.extract_all(&volumes, sink)?;
    }
    Ok(())
}

/// A parsed cabinet header (`.hdr`, or the first `.cab` when there is no `.hdr`).
pub(super) struct Cabinet<'a> {
    pub(super) hdr: &'a [u8],
    pub(super) major: u32,
    /// Where the file table starts: descriptor offset + file table offset.
    pub(super) base: usize,
    pub(super) dir_count: usize,
    pub(super) file_count: usize,
    /// Offset of the v6+ file descriptors from `base`.
    pub(super) table2: usize,
}

/// One file descriptor.
pub(super) struct FileDesc {
    pub(super) name_off: usize,
    pub(super) dir: usize,
    pub(super) flags: u16,
    pub(super) esize: u64,
    pub(super) csize: u64,
    pub(super) data_off: u64,
    pub(super) volume: u32,
    pub(super) link_flags: u8,
}

/// The fields of a volume header that say where a split file's part is.
pub(super) struct VolumeHeader {
    pub(super) first_index: u64,
    pub(super) last_index: u64,
    pub(super) first_off: u64,
    pub(super) first_esize: u64,
    pub(super) first_csize: u64,
    pub(super) last_off: u64,
    pub(super) last_esize: u64,
    pub(super) last_csize: u64,
}

impl<'a> Cabinet<'a> {
    fn parse(hdr: &'a [u8]) -> Option<Self> {
        if !hdr.starts_with(CAB_SIG) {
            return None;
        }
        let version = u32_at(hdr, 4)?;
        let major = match version >> 24 {
            1 => (version >> 12) & 0xf,
            2 | 4 => (version & 0xffff) / 100,
            _ => 0,
        };
        let desc = usize::try_from(u32_at(hdr, 0xc)?).ok()?;
        let table = usize::try_from(u32_at(hdr, desc.checked_add(0xc)?)?).ok()?;
        let dir_count = usize::try_from(u32_at(hdr, desc.checked_add(0x1c)?)?).ok()?;
        let file_count = usize::try_from(u32_at(hdr, desc.checked_add(0x28)?)?).ok()?;
        let table2 = usize::try_from(u32_at(hdr, desc.checked_add(0x2c)?)?).ok()?;
        let base = desc.checked_add(table)?;
        // The tables the counts promise must be inside the header: directory name offsets, then
        // (up to v5) file descriptor offsets.
        let offsets = if major <= 5 {
            dir_count.checked_add(file_count)?
        } else {
            dir_count
        };
        let offsets_end = offsets.checked_mul(4)?.checked_add(base)?;
        if offsets_end > hdr.len() {
            return None;
        }
        if major > 5 {
            let descs_end = file_count
                .checked_mul(0x57)?
                .checked_add(base)?
                .checked_add(table2)?;
            if descs_end > hdr.len() {
                return None;
            }
        }
        Some(Cabinet {
            hdr,
            major,
            base,
            dir_count,
            file_count,
            table2,
        })
    }

    fn unicode(&self) -> bool {
        self.major >= 17
    }

    /// The string at `base + off` (UTF-16LE from version 17 on).
    fn string(&self, off: usize) -> Option<String> {
        let start = self.base.checked_add(off)?;
        let rest = self.hdr.get(start..)?;
        if self.unicode() {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .take(MAX_NAME)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            Some(String::from_utf16_lossy(&units))
        } else {
            let rest = rest.get(..rest.len().min(MAX_NAME))?;
            let len = memchr::memchr(0, rest).unwrap_or(rest.len());
            Some(String::from_utf8_lossy(rest.get(..len)?).into_owned())
        }
    }

    /// Entry `i` of the file table (directories first, then v5 file descriptors).
    fn table_entry(&self, i: usize) -> Option<usize> {
        let at = self.base.checked_add(i.checked_mul(4)?)?;
        usize::try_from(u32_at(self.hdr, at)?).ok()
    }

    fn file(&self, i: usize) -> Option<FileDesc> {
        let h = self.hdr;
        if self.major <= 5 {
            let p = self
                .base
                .checked_add(self.table_entry(self.dir_count.checked_add(i)?)?)?;
            Some(FileDesc {
                name_off: usize::try_from(u32_at(h, p)?).ok()?,
                dir: usize::from(u16_at(h, p.checked_add(4)?)?),
                flags: u16_at(h, p.checked_add(8)?)?,
                esize: u64::from(u32_at(h, p.checked_add(0xa)?)?),
                csize: u64::from(u32_at(h, p.checked_add(0xe)?)?),
                data_off: u64::from(u32_at(h, p.checked_add(0x26)?)?),
                volume: 1,
                link_flags: 0,
            })
        } else {
            let p = self
                .base
                .checked_add(self.table2)?
                .checked_add(i.checked_mul(0x57)?)?;
            Some(FileDesc {
                flags: u16_at(h, p)?,
                esize: u64_at(h, p.checked_add(2)?)?,
                csize: u64_at(h, p.checked_add(0xa)?)?,
                data_off: u64_at(h, p.checked_add(0x12)?)?,
                name_off: usize::try_from(u32_at(h, p.checked_add(0x3a)?)?).ok()?,
                dir: usize::from(u16_at(h, p.checked_add(0x3e)?)?),
                link_flags: *h.get(p.checked_add(0x54)?)?,
                volume: u32::from(u16_at(h, p.checked_add(0x55)?)?),
            })
        }
    }

    /// The volume header of a data volume.
    fn volume_header(&self, vol: &[u8]) -> Option<VolumeHeader> {
        const AT: usize = 0x14;
        if self.major <= 5 {
            let f = |k: usize| u32_at(vol, AT + 4 * k).map(u64::from);
            let last_off = match f(7)? {
                0 => 0x7fff_ffff,
                o => o,
            };
            Some(VolumeHeader {
                first_index: f(2)?,
                last_index: f(3)?,
                first_off: f(4)?,
                first_esize: f(5)?,
                first_csize: f(6)?,
                last_off,
                last_esize: f(8)?,
                last_csize: f(9)?,
            })
        } else {
            let f = |k: usize| u32_at(vol, AT + 4 * k).map(u64::from);
            let g = |k: usize| u64_at(vol, AT + 4 * k);
            Some(VolumeHeader {
                first_index: f(2)?,
                last_index: f(3)?,
                first_off: g(4)?,
                first_esize: g(6)?,
                first_csize: g(8)?,
                last_off: g(10)?,
                last_esize: g(12)?,
                last_csize: g(14)?,
            })
        }
    }

    /// Extracts the cabinet's files; `volumes[n]` is data volume `n`.
    fn extract_all(&self, volumes: &[Option<&[u8]>], sink: &mut Sink) -> Result<(), IShieldError> {
        let mut z = Decompress::new(false);
        for i in 0..self.file_count {
            let Some(fd) = self.file(i) else {
                sink.corrupt = Some("truncated cabinet file descriptor");
                continue;
            };
            if fd.flags & FILE_INVALID != 0
                || fd.name_off == 0
                || fd.data_off == 0
                || fd.link_flags & LINK_PREV != 0
            {
                continue;
            }
            let Some(file_name) = self.string(fd.name_off) else {
                sink.corrupt = Some("cabinet file name outside the header");
                continue;
            };
            let dir = if fd.dir < self.dir_count {
                self.table_entry(fd.dir).and_then(|o| self.string(o))
            } else {
                None
            };
            let name = match dir {
                Some(d) if !d.is_empty() => format!("{d}\\{file_name}"),
                _ => file_name,
            };
            sink.check_count()?;
            let Some(parts) = self.locate(i, &fd, volumes) else {
                sink.corrupt = Some("cabinet file data outside its volume");
                continue;
            };
            let stored: usize = parts.iter().map(|p| p.len()).sum();
            if !sink.spend(stored) {
                return Ok(());
            }
            let raw = gather(&parts, fd.flags & FILE_OBFUSCATED != 0);
            if fd.flags & FILE_COMPRESSED == 0 {
                sink.push(clean_name(&name), raw.into_owned())?;
                continue;
            }
            let mut data = Vec::new();
            let mut decoded = chunks(&mut z, &raw, &mut data, sink);
            if matches!(decoded, Err(InflateError::Bad)) {
                sink.waste(data.len());
                data.clear();
                decoded = chunks_old(&mut z, &raw, &mut data, sink);
            }
            match decoded {
                Ok(()) => sink.push(clean_name(&name), data)?,
                Err(InflateError::OverCap) => {
                    return Err(IShieldError::TooLarge {
                        limit: sink.max_out,
                    })
                }
                Err(InflateError::Bad) => {
                    sink.waste(data.len());
                    sink.corrupt = Some("bad compressed data in cabinet");
                }
            }
        }
        Ok(())
    }

    /// Where the stored bytes of file `index` (still compressed when it is) are: one slice per
    /// volume it spans.
    fn locate<'v>(
        &self,
        index: usize,
        fd: &FileDesc,
        volumes: &[Option<&'v [u8]>],
    ) -> Option<Vec<&'v [u8]>> {
        let volume = |n: u32| volumes.get(usize::try_from(n).ok()?).copied().flatten();
        let index = u64::try_from(index).ok()?;
        let compressed = fd.flags & FILE_COMPRESSED != 0;
        let total = if compressed { fd.csize } else { fd.esize };
        let mut vol_no = fd.volume;
        // Old cabinets do not say which volume a file starts in.
        let (mut vol, mut head) = loop {
            let v = volume(vol_no)?;
            let h = self.volume_header(v)?;
            if self.major <= 5 && index > h.last_index && vol_no < MAX_VOLUMES {
                vol_no += 1;
                continue;
            }
            break (v, h);
        };
        let mut need = total;
        let mut parts: Vec<&'v [u8]> = Vec::new();
        loop {
            let split_last = index == head.last_index
                && (fd.flags & FILE_SPLIT != 0
                    || (self.major == 5
                        && index.checked_add(1)? < self.file_count as u64
                        && head.last_csize != fd.csize));
            let split_first = index == head.first_index
                && (fd.flags & FILE_SPLIT != 0
                    || (self.major == 5 && index > 0 && head.first_csize != fd.csize));
            let (off, left) = if parts.is_empty() && !split_last && !split_first {
                (fd.data_off, total)
            } else if split_last && head.last_off != 0x7fff_ffff {
                let l = if compressed {
                    head.last_csize
                } else {
                    head.last_esize
                };
                (head.last_off, l)
            } else if split_first {
                let l = if compressed {
                    head.first_csize
                } else {
                    head.first_esize
                };
                (head.first_off, l)
            } else {
                return None;
            };
            let take = need.min(left);
            if take == 0 {
                return None;
            }
            parts.push(slice_at(vol, off, take)?);
            need -= take;
            if need == 0 {
                break;
            }
            vol_no = vol_no.checked_add(1).filter(|&n| n <= MAX_VOLUMES)?;
            vol = volume(vol_no)?;
            head = self.volume_header(vol)?;
        }
        Some(parts)
    }
}

/// A file's stored bytes in one piece, deobfuscated when `obfuscated`.
pub(super) fn gather<'v>(parts: &[&'v [u8]], obfuscated: bool) -> Cow<'v, [u8]> {
    let mut raw: Cow<'v, [u8]> = match parts {
        [one] => Cow::Borrowed(one),
        many => Cow::Owned(many.concat()),
    };
    if obfuscated {
        for (seed, b) in raw.to_mut().iter_mut().enumerate() {
            // The seed modulo 0x47 fits in a byte.
            let sub = (seed % 0x47) as u8;
            *b = (*b ^ 0xd5).rotate_right(2).wrapping_sub(sub);
        }
    }
    raw
}

/// Inflates a cabinet file's data (raw-deflate chunks, each preceded by its `u16` length) into
/// `out`, within the byte and chunk budgets of `sink`.
pub(super) fn chunks(
    z: &mut Decompress,
    raw: &[u8],
    out: &mut Vec<u8>,
    sink: &mut Sink,
) -> Result<(), InflateError> {
    let cap = sink.remaining();
    let mut pos = 0usize;
    while pos < raw.len() {
        let len = usize::from(u16_at(raw, pos).ok_or(InflateError::Bad)?);
        if len == 0 {
            return Err(InflateError::Bad);
        }
        let start = pos + 2;
        let end = start.checked_add(len).ok_or(InflateError::Bad)?;
        let chunk = raw.get(start..end).ok_or(InflateError::Bad)?;
        sink.chunks_left = sink.chunks_left.checked_sub(1).ok_or(InflateError::Bad)?;
        inflate_into(z, chunk, false, out, cap)?;
        pos = end;
    }
    Ok(())
}

/// Inflates a cabinet file's data in the older layout (what `unshield` calls old compression):
/// raw-deflate chunks with no length prefix, each ending in a sync flush (`00 00 ff ff`). Read
/// as one deflate stream, restarted wherever a chunk ends with a final block.
pub(super) fn chunks_old(
    z: &mut Decompress,
    raw: &[u8],
    out: &mut Vec<u8>,
    sink: &mut Sink,
) -> Result<(), InflateError> {
    let cap = sink.remaining();
    let mut pos = 0usize;
    while let Some(rest) = raw.get(pos..).filter(|r| !r.is_empty()) {
        sink.chunks_left = sink.chunks_left.checked_sub(1).ok_or(InflateError::Bad)?;
        let used = inflate_into(z, rest, false, out, cap)?;
        if used == 0 {
            return Err(InflateError::Bad);
        }
        pos = pos.checked_add(used).ok_or(InflateError::Bad)?;
    }
    Ok(())
}
