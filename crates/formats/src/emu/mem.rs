//! The emulated 32-bit address space: 4 KiB pages mapped on demand up to a fixed budget, with
//! a record of the pages written since loading (to tell when the stub jumps into code it
//! wrote).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Page size of the emulated machine.
pub(crate) const PAGE: u32 = 0x1000;

/// A read or write of an address no page backs (or a mapping past the budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fault(pub u32);

/// Page numbers hash to themselves.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IdHasher>>;

/// Sparse memory: mapped pages and which of them were written since [`Mem::clear_written`].
pub(crate) struct Mem {
    pages: IdMap<Box<[u8]>>,
    written: HashSet<u32, BuildHasherDefault<IdHasher>>,
    /// The page last recorded in `written` (most writes fall in the page before).
    last_written: u32,
    max_pages: usize,
}

impl Mem {
    /// Empty memory that maps at most `max_pages` pages.
    pub(crate) fn new(max_pages: usize) -> Self {
        Mem {
            pages: IdMap::default(),
            written: HashSet::default(),
            last_written: u32::MAX,
            max_pages,
        }
    }

    /// Maps (zero-filled) every page that `[addr, addr + len)` touches.
    pub(crate) fn map(&mut self, addr: u32, len: u32) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        let first = addr / PAGE;
        let last = addr.checked_add(len - 1).ok_or(Fault(addr))? / PAGE;
        for p in first..=last {
            if !self.pages.contains_key(&p) {
                if self.pages.len() >= self.max_pages {
                    return Err(Fault(p.wrapping_mul(PAGE)));
                }
                self.pages
                    .insert(p, vec![0u8; PAGE as usize].into_boxed_slice());
            }
        }
        Ok(())
    }

    /// Whether the page holding `addr` is mapped.
    pub(crate) fn is_mapped(&self, addr: u32) -> bool {
        self.pages.contains_key(&(addr / PAGE))
    }

    /// Forgets which pages were written.
    pub(crate) fn clear_written(&mut self) {
        self.written.clear();
        self.last_written = u32::MAX;
    }

    /// Whether the page holding `addr` was written since the last [`Mem::clear_written`].
    pub(crate) fn was_written(&self, addr: u32) -> bool {
        self.written.contains(&(addr / PAGE))
    }

    /// One byte.
    pub(crate) fn r8(&self, addr: u32) -> Result<u8, Fault> {
        let p = self.pages.get(&(addr / PAGE)).ok_or(Fault(addr))?;
        Ok(p[(addr % PAGE) as usize])
    }

    /// One byte written.
    pub(crate) fn w8(&mut self, addr: u32, v: u8) -> Result<(), Fault> {
        let n = addr / PAGE;
        let p = self.pages.get_mut(&n).ok_or(Fault(addr))?;
        p[(addr % PAGE) as usize] = v;
        if n != self.last_written {
            self.written.insert(n);
            self.last_written = n;
        }
        Ok(())
    }

    /// A little-endian value of `size` (1, 2 or 4) bytes.
    pub(crate) fn read(&self, addr: u32, size: u32) -> Result<u32, Fault> {
        let off = addr % PAGE;
        if off + size <= PAGE {
            let p = self.pages.get(&(addr / PAGE)).ok_or(Fault(addr))?;
            let o = off as usize;
            return Ok(match size {
                1 => u32::from(p[o]),
                2 => u32::from(u16::from_le_bytes([p[o], p[o + 1]])),
                _ => u32::from_le_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]]),
            });
        }
        let mut v = 0u32;
        for i in 0..size.min(4) {
            v |= u32::from(self.r8(addr.wrapping_add(i))?) << (8 * i);
        }
        Ok(v)
    }

    /// A little-endian value of `size` (1, 2 or 4) bytes written.
    pub(crate) fn write(&mut self, addr: u32, v: u32, size: u32) -> Result<(), Fault> {
        // Check every page first so that a faulting write changes nothing.
        let last = addr.wrapping_add(size.saturating_sub(1));
        if !self.is_mapped(addr) {
            return Err(Fault(addr));
        }
        if !self.is_mapped(last) {
            return Err(Fault(last));
        }
        for i in 0..size.min(4) {
            self.w8(addr.wrapping_add(i), (v >> (8 * i)) as u8)?;
        }
        Ok(())
    }

    /// Copies `data` to `addr` (the pages must be mapped).
    pub(crate) fn write_bytes(&mut self, addr: u32, data: &[u8]) -> Result<(), Fault> {
        for (i, &b) in data.iter().enumerate() {
            self.w8(addr.wrapping_add(i as u32), b)?;
        }
        Ok(())
    }

    /// Up to `buf.len()` bytes from `addr`, stopping at the first unmapped byte; returns how
    /// many were read.
    pub(crate) fn read_some(&self, addr: u32, buf: &mut [u8]) -> usize {
        let off = (addr % PAGE) as usize;
        if off + buf.len() <= PAGE as usize {
            return match self.pages.get(&(addr / PAGE)) {
                Some(p) => {
                    buf.copy_from_slice(&p[off..off + buf.len()]);
                    buf.len()
                }
                None => 0,
            };
        }
        for (i, b) in buf.iter_mut().enumerate() {
            match self.r8(addr.wrapping_add(i as u32)) {
                Ok(v) => *b = v,
                Err(_) => return i,
            }
        }
        buf.len()
    }

    /// A NUL-terminated string of at most `max` bytes at `addr` (lossy).
    pub(crate) fn cstr(&self, addr: u32, max: u32) -> Result<String, Fault> {
        let mut s = Vec::new();
        for i in 0..max {
            let c = self.r8(addr.wrapping_add(i))?;
            if c == 0 {
                break;
            }
            s.push(c);
        }
        Ok(String::from_utf8_lossy(&s).into_owned())
    }

    /// A NUL-terminated UTF-16 string of at most `max` units at `addr` (lossy).
    pub(crate) fn wstr(&self, addr: u32, max: u32) -> Result<String, Fault> {
        let mut s = Vec::new();
        for i in 0..max {
            let c = self.read(addr.wrapping_add(i * 2), 2)? as u16;
            if c == 0 {
                break;
            }
            s.push(c);
        }
        Ok(String::from_utf16_lossy(&s))
    }

    /// `len` bytes from `addr`, unmapped bytes read as zero.
    pub(crate) fn dump(&self, addr: u32, len: u32) -> Vec<u8> {
        let mut out = vec![0u8; len as usize];
        let mut done = 0u32;
        while done < len {
            let a = addr.wrapping_add(done);
            let off = a % PAGE;
            let n = (PAGE - off).min(len - done);
            if let Some(p) = self.pages.get(&(a / PAGE)) {
                let o = off as usize;
                out[done as usize..(done + n) as usize].copy_from_slice(&p[o..o + n as usize]);
            }
            done += n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_and_budget() {
        let mut m = Mem::new(2);
        m.map(0x1000, 0x2000).unwrap();
        assert!(m.map(0x5000, 1).is_err());
        m.write(0x1ffe, 0xAABBCCDD, 4).unwrap();
        assert_eq!(m.read(0x1ffe, 4), Ok(0xAABBCCDD));
        assert_eq!(m.write(0x2ffe, 1, 4), Err(Fault(0x3001)));
        assert_eq!(m.r8(0x2ffe), Ok(0));
        assert!(m.was_written(0x1000) && m.was_written(0x2000));
        assert_eq!(m.dump(0x2ffe, 4), vec![0, 0, 0, 0]);
        assert!(m.map(0xffff_f000, 0x2000).is_err());
    }
}
