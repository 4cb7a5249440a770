//! The i386 register file, operand access and arithmetic flags of the emulator.

use iced_x86::{Instruction, OpKind, Register};

use super::mem::{Fault, Mem};

/// Register numbers in the usual encoding order.
pub(crate) const EAX: usize = 0;
pub(crate) const ECX: usize = 1;
pub(crate) const EDX: usize = 2;
pub(crate) const EBX: usize = 3;
pub(crate) const ESP: usize = 4;
pub(crate) const EBP: usize = 5;
pub(crate) const ESI: usize = 6;
pub(crate) const EDI: usize = 7;

/// Why an instruction could not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trap {
    /// Memory access to an unmapped address.
    Mem(u32),
    /// `int3` (or `int 3`).
    Breakpoint,
    /// Division by zero or quotient overflow.
    Divide,
    /// A privileged or undefined instruction (`hlt`, `cli`, `ud2`, port I/O, …).
    Privileged,
    /// An instruction this emulator does not implement.
    Unsupported(iced_x86::Mnemonic),
}

impl From<Fault> for Trap {
    fn from(f: Fault) -> Self {
        Trap::Mem(f.0)
    }
}

/// Registers and flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cpu {
    pub r: [u32; 8],
    pub eip: u32,
    pub cf: bool,
    pub pf: bool,
    pub af: bool,
    pub zf: bool,
    pub sf: bool,
    pub of: bool,
    pub df: bool,
    /// Base of the FS segment (the thread environment block).
    pub fs_base: u32,
    /// The time-stamp counter `rdtsc` reads.
    pub tsc: u64,
}

/// All ones in the low `size` bytes.
pub(crate) fn mask(size: u32) -> u32 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        _ => 0xffff_ffff,
    }
}

/// The sign bit of a `size`-byte value.
pub(crate) fn sign(size: u32) -> u32 {
    match size {
        1 => 0x80,
        2 => 0x8000,
        _ => 0x8000_0000,
    }
}

/// `v` of `size` bytes sign-extended to 32 bits.
pub(crate) fn sext(v: u32, size: u32) -> u32 {
    match size {
        1 => v as u8 as i8 as i32 as u32,
        2 => v as u16 as i16 as i32 as u32,
        _ => v,
    }
}

impl Cpu {
    /// EFLAGS as pushed by `pushfd`.
    pub(crate) fn eflags(&self) -> u32 {
        let b = |f: bool, n: u32| u32::from(f) << n;
        0x202
            | b(self.cf, 0)
            | b(self.pf, 2)
            | b(self.af, 4)
            | b(self.zf, 6)
            | b(self.sf, 7)
            | b(self.df, 10)
            | b(self.of, 11)
    }

    /// Loads the arithmetic flags and DF from an EFLAGS value.
    pub(crate) fn set_eflags(&mut self, v: u32) {
        let f = |n: u32| v & (1 << n) != 0;
        self.cf = f(0);
        self.pf = f(2);
        self.af = f(4);
        self.zf = f(6);
        self.sf = f(7);
        self.df = f(10);
        self.of = f(11);
    }

    /// A general register (8, 16 or 32 bits); segment and other registers read as a selector.
    pub(crate) fn reg(&self, r: Register) -> u32 {
        use Register::*;
        let n = |base: Register| (r as usize).wrapping_sub(base as usize) & 7;
        match r {
            EAX | ECX | EDX | EBX | ESP | EBP | ESI | EDI => self.r[n(Register::EAX)],
            AX | CX | DX | BX | SP | BP | SI | DI => self.r[n(Register::AX)] & 0xffff,
            AL | CL | DL | BL => self.r[n(Register::AL)] & 0xff,
            AH | CH | DH | BH => (self.r[n(Register::AH)] >> 8) & 0xff,
            FS => 0x3b,
            CS => 0x1b,
            _ => 0x23,
        }
    }

    /// Writes a general register; writes to other registers are ignored.
    pub(crate) fn set_reg(&mut self, r: Register, v: u32) {
        use Register::*;
        let n = |base: Register| (r as usize).wrapping_sub(base as usize) & 7;
        match r {
            EAX | ECX | EDX | EBX | ESP | EBP | ESI | EDI => self.r[n(Register::EAX)] = v,
            AX | CX | DX | BX | SP | BP | SI | DI => {
                let i = n(Register::AX);
                self.r[i] = (self.r[i] & 0xffff_0000) | (v & 0xffff);
            }
            AL | CL | DL | BL => {
                let i = n(Register::AL);
                self.r[i] = (self.r[i] & 0xffff_ff00) | (v & 0xff);
            }
            AH | CH | DH | BH => {
                let i = n(Register::AH);
                self.r[i] = (self.r[i] & 0xffff_00ff) | ((v & 0xff) << 8);
            }
            _ => {}
        }
    }

    /// The effective address of the memory operand of `ins` (FS-relative when it says so).
    pub(crate) fn ea(&self, ins: &Instruction) -> u32 {
        let mut a = ins.memory_displacement32();
        if ins.memory_base() != Register::None {
            a = a.wrapping_add(self.reg(ins.memory_base()));
        }
        if ins.memory_index() != Register::None {
            a = a.wrapping_add(
                self.reg(ins.memory_index())
                    .wrapping_mul(ins.memory_index_scale()),
            );
        }
        if ins.memory_segment() == Register::FS {
            a = a.wrapping_add(self.fs_base);
        }
        a
    }

    /// The size in bytes of operand `i` of `ins`.
    pub(crate) fn op_size(&self, ins: &Instruction, i: u32) -> u32 {
        match ins.op_kind(i) {
            OpKind::Register => ins.op_register(i).size() as u32,
            OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Memory => match ins.memory_size().size() as u32 {
                0 => 4,
                s => s.min(4),
            },
            _ => 4,
        }
    }

    /// Operand `i` of `ins`, `size` bytes.
    pub(crate) fn get(&self, m: &Mem, ins: &Instruction, i: u32, size: u32) -> Result<u32, Trap> {
        Ok(match ins.op_kind(i) {
            OpKind::Register => self.reg(ins.op_register(i)),
            OpKind::Memory => m.read(self.ea(ins), size)?,
            OpKind::NearBranch32 | OpKind::NearBranch16 => ins.near_branch_target() as u32,
            _ => (ins.immediate(i) as u32) & mask(size),
        })
    }

    /// Writes operand `i` of `ins`.
    pub(crate) fn put(
        &mut self,
        m: &mut Mem,
        ins: &Instruction,
        i: u32,
        size: u32,
        v: u32,
    ) -> Result<(), Trap> {
        match ins.op_kind(i) {
            OpKind::Register => self.set_reg(ins.op_register(i), v),
            OpKind::Memory => m.write(self.ea(ins), v & mask(size), size)?,
            _ => return Err(Trap::Unsupported(ins.mnemonic())),
        }
        Ok(())
    }

    /// Sets ZF, SF and PF from a result.
    pub(crate) fn szp(&mut self, v: u32, size: u32) {
        let v = v & mask(size);
        self.zf = v == 0;
        self.sf = v & sign(size) != 0;
        self.pf = (v as u8).count_ones().is_multiple_of(2);
    }

    /// `a + b + carry` with all flags set.
    pub(crate) fn add(&mut self, a: u32, b: u32, carry: bool, size: u32) -> u32 {
        let (a, b) = (a & mask(size), b & mask(size));
        let wide = u64::from(a) + u64::from(b) + u64::from(carry);
        let r = (wide as u32) & mask(size);
        self.cf = wide > u64::from(mask(size));
        self.of = (!(a ^ b) & (a ^ r) & sign(size)) != 0;
        self.af = ((a ^ b ^ r) & 0x10) != 0;
        self.szp(r, size);
        r
    }

    /// `a - b - borrow` with all flags set.
    pub(crate) fn sub(&mut self, a: u32, b: u32, borrow: bool, size: u32) -> u32 {
        let (a, b) = (a & mask(size), b & mask(size));
        let r = a.wrapping_sub(b).wrapping_sub(u32::from(borrow)) & mask(size);
        self.cf = u64::from(a) < u64::from(b) + u64::from(borrow);
        self.of = ((a ^ b) & (a ^ r) & sign(size)) != 0;
        self.af = ((a ^ b ^ r) & 0x10) != 0;
        self.szp(r, size);
        r
    }

    /// Flags of a logical operation's result.
    pub(crate) fn logic(&mut self, r: u32, size: u32) -> u32 {
        self.cf = false;
        self.of = false;
        self.af = false;
        self.szp(r, size);
        r & mask(size)
    }

    /// Whether condition code `cc` holds.
    pub(crate) fn cond(&self, cc: iced_x86::ConditionCode) -> bool {
        use iced_x86::ConditionCode::*;
        match cc {
            o => self.of,
            no => !self.of,
            b => self.cf,
            ae => !self.cf,
            e => self.zf,
            ne => !self.zf,
            be => self.cf || self.zf,
            a => !self.cf && !self.zf,
            s => self.sf,
            ns => !self.sf,
            p => self.pf,
            np => !self.pf,
            l => self.sf != self.of,
            ge => self.sf == self.of,
            le => self.zf || self.sf != self.of,
            g => !self.zf && self.sf == self.of,
            None => true,
        }
    }

    /// Pushes a dword.
    pub(crate) fn push(&mut self, m: &mut Mem, v: u32) -> Result<(), Trap> {
        let sp = self.r[ESP].wrapping_sub(4);
        m.write(sp, v, 4)?;
        self.r[ESP] = sp;
        Ok(())
    }

    /// Pops a dword.
    pub(crate) fn pop(&mut self, m: &Mem) -> Result<u32, Trap> {
        let v = m.read(self.r[ESP], 4)?;
        self.r[ESP] = self.r[ESP].wrapping_add(4);
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let mut c = Cpu::default();
        assert_eq!(c.add(0xff, 1, false, 1), 0);
        assert!(c.cf && c.zf && !c.of && c.af);
        assert_eq!(c.sub(0, 1, false, 4), 0xffff_ffff);
        assert!(c.cf && c.sf && !c.of);
        assert_eq!(c.sub(0x80, 1, false, 1), 0x7f);
        assert!(c.of && !c.cf);
        c.set_reg(Register::AH, 0x12);
        c.set_reg(Register::AL, 0x34);
        assert_eq!(c.reg(Register::AX), 0x1234);
        assert_eq!(c.reg(Register::EAX), 0x1234);
        let f = c.eflags();
        let mut d = Cpu::default();
        d.set_eflags(f);
        assert_eq!(d.eflags(), f);
    }
}
