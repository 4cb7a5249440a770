//! Semantics of the i386 integer instructions that unpacking stubs use. Anything else is
//! reported as [`Trap::Unsupported`] (the caller stops there), never guessed.

use iced_x86::{Instruction, Mnemonic as M, OpKind};

use super::cpu::{mask, sext, sign, Cpu, Trap, EAX, ECX, EDI, EDX, ESI, ESP};
use super::mem::Mem;

/// Most iterations of a `rep` string instruction done in one step (the rest resumes at the
/// same instruction, so every iteration counts against the instruction budget).
const REP_CHUNK: u32 = 4096;

/// Executes `ins` (whose `eip` the caller has already moved past it); returns how many
/// instructions it counts as (iterations of a `rep` prefix count one each).
pub(crate) fn exec(c: &mut Cpu, m: &mut Mem, ins: &Instruction) -> Result<u32, Trap> {
    let mn = ins.mnemonic();
    if ins.is_jcc_short_or_near() {
        if c.cond(ins.condition_code()) {
            c.eip = ins.near_branch_target() as u32;
        }
        return Ok(1);
    }
    if is_setcc(mn) {
        let v = u32::from(c.cond(ins.condition_code()));
        c.put(m, ins, 0, 1, v)?;
        return Ok(1);
    }
    if is_cmovcc(mn) {
        let s = c.op_size(ins, 0);
        let v = c.get(m, ins, 1, s)?;
        if c.cond(ins.condition_code()) {
            c.put(m, ins, 0, s, v)?;
        }
        return Ok(1);
    }
    if is_string(mn) {
        return string(c, m, ins);
    }
    let s = if ins.op_count() > 0 {
        c.op_size(ins, 0)
    } else {
        4
    };
    match mn {
        M::Nop | M::Fnop | M::Wait | M::Lfence | M::Mfence | M::Sfence | M::Prefetchnta => {}
        M::Mov => {
            let v = c.get(m, ins, 1, s)?;
            c.put(m, ins, 0, s, v)?;
        }
        M::Movzx | M::Movsx => {
            let ss = c.op_size(ins, 1);
            let v = c.get(m, ins, 1, ss)?;
            let v = if mn == M::Movsx { sext(v, ss) } else { v };
            c.put(m, ins, 0, s, v)?;
        }
        M::Lea => {
            let a = c
                .ea(ins)
                .wrapping_sub(if ins.memory_segment() == iced_x86::Register::FS {
                    c.fs_base
                } else {
                    0
                });
            c.put(m, ins, 0, s, a)?;
        }
        M::Xchg => {
            let a = c.get(m, ins, 0, s)?;
            let b = c.get(m, ins, 1, s)?;
            c.put(m, ins, 0, s, b)?;
            c.put(m, ins, 1, s, a)?;
        }
        M::Add | M::Adc | M::Sub | M::Sbb | M::Cmp => {
            let a = c.get(m, ins, 0, s)?;
            let b = c.get(m, ins, 1, s)?;
            let r = match mn {
                M::Add => c.add(a, b, false, s),
                M::Adc => c.add(a, b, c.cf, s),
                M::Sbb => c.sub(a, b, c.cf, s),
                _ => c.sub(a, b, false, s),
            };
            if mn != M::Cmp {
                c.put(m, ins, 0, s, r)?;
            }
        }
        M::And | M::Or | M::Xor | M::Test => {
            let a = c.get(m, ins, 0, s)?;
            let b = c.get(m, ins, 1, s)?;
            let r = match mn {
                M::Or => a | b,
                M::Xor => a ^ b,
                _ => a & b,
            };
            let r = c.logic(r, s);
            if mn != M::Test {
                c.put(m, ins, 0, s, r)?;
            }
        }
        M::Inc | M::Dec => {
            let a = c.get(m, ins, 0, s)?;
            let cf = c.cf;
            let r = if mn == M::Inc {
                c.add(a, 1, false, s)
            } else {
                c.sub(a, 1, false, s)
            };
            c.cf = cf;
            c.put(m, ins, 0, s, r)?;
        }
        M::Neg => {
            let a = c.get(m, ins, 0, s)?;
            let r = c.sub(0, a, false, s);
            c.put(m, ins, 0, s, r)?;
        }
        M::Not => {
            let a = c.get(m, ins, 0, s)?;
            c.put(m, ins, 0, s, !a)?;
        }
        M::Shl | M::Sal | M::Shr | M::Sar | M::Rol | M::Ror | M::Rcl | M::Rcr => {
            let a = c.get(m, ins, 0, s)?;
            let n = c.get(m, ins, 1, 1)? & 0x1f;
            let r = shift(c, mn, a, n, s);
            c.put(m, ins, 0, s, r)?;
        }
        M::Shld | M::Shrd => {
            let a = c.get(m, ins, 0, s)?;
            let b = c.get(m, ins, 1, s)?;
            let n = c.get(m, ins, 2, 1)? & 0x1f;
            if n != 0 && s == 4 {
                let r = if mn == M::Shld {
                    c.cf = (a >> (32 - n)) & 1 != 0;
                    (a << n) | (b >> (32 - n))
                } else {
                    c.cf = (a >> (n - 1)) & 1 != 0;
                    (a >> n) | (b << (32 - n))
                };
                c.szp(r, s);
                c.put(m, ins, 0, s, r)?;
            } else if n != 0 {
                return Err(Trap::Unsupported(mn));
            }
        }
        M::Bt | M::Bts | M::Btr | M::Btc => {
            let a = c.get(m, ins, 0, s)?;
            let bit = c.get(m, ins, 1, s)? % (s * 8);
            c.cf = (a >> bit) & 1 != 0;
            let r = match mn {
                M::Bts => a | (1 << bit),
                M::Btr => a & !(1 << bit),
                M::Btc => a ^ (1 << bit),
                _ => a,
            };
            if mn != M::Bt {
                c.put(m, ins, 0, s, r)?;
            }
        }
        M::Bsf | M::Bsr => {
            let v = c.get(m, ins, 1, s)?;
            c.zf = v == 0;
            if v != 0 {
                let r = if mn == M::Bsf {
                    v.trailing_zeros()
                } else {
                    31 - v.leading_zeros()
                };
                c.put(m, ins, 0, s, r)?;
            }
        }
        M::Bswap => {
            let v = c.get(m, ins, 0, 4)?;
            c.put(m, ins, 0, 4, v.swap_bytes())?;
        }
        M::Xadd => {
            let a = c.get(m, ins, 0, s)?;
            let b = c.get(m, ins, 1, s)?;
            let r = c.add(a, b, false, s);
            c.put(m, ins, 1, s, a)?;
            c.put(m, ins, 0, s, r)?;
        }
        M::Cmpxchg => {
            let a = c.get(m, ins, 0, s)?;
            let acc = c.r[EAX] & mask(s);
            c.sub(acc, a, false, s);
            if c.zf {
                let b = c.get(m, ins, 1, s)?;
                c.put(m, ins, 0, s, b)?;
            } else {
                let v = (c.r[EAX] & !mask(s)) | a;
                c.r[EAX] = v;
            }
        }
        M::Mul | M::Imul | M::Div | M::Idiv => muldiv(c, m, ins, s)?,
        M::Cbw => {
            let v = sext(c.r[EAX] & 0xff, 1) & 0xffff;
            c.r[EAX] = (c.r[EAX] & 0xffff_0000) | v;
        }
        M::Cwde => c.r[EAX] = sext(c.r[EAX], 2),
        M::Cwd => {
            let v = if c.r[EAX] & 0x8000 != 0 { 0xffff } else { 0 };
            c.r[EDX] = (c.r[EDX] & 0xffff_0000) | v;
        }
        M::Cdq => c.r[EDX] = if c.r[EAX] & 0x8000_0000 != 0 { !0 } else { 0 },
        M::Push => {
            let v = c.get(m, ins, 0, s)?;
            let v = if ins.op_kind(0) == OpKind::Register {
                v
            } else {
                sext(v, s)
            };
            c.push(m, v)?;
        }
        M::Pop => {
            let v = c.pop(m)?;
            c.put(m, ins, 0, s, v)?;
        }
        M::Pushad => {
            let sp = c.r[ESP];
            for i in 0..8 {
                let v = if i == ESP { sp } else { c.r[i] };
                c.push(m, v)?;
            }
        }
        M::Popad => {
            for i in (0..8).rev() {
                let v = c.pop(m)?;
                if i != ESP {
                    c.r[i] = v;
                }
            }
        }
        M::Pushfd | M::Pushf => {
            let f = c.eflags();
            c.push(m, f)?;
        }
        M::Popfd | M::Popf => {
            let f = c.pop(m)?;
            c.set_eflags(f);
        }
        M::Lahf => {
            let f = c.eflags() & 0xff;
            c.set_reg(iced_x86::Register::AH, f);
        }
        M::Sahf => {
            let ah = (c.r[EAX] >> 8) & 0xff;
            let f = (c.eflags() & !0xff) | ah;
            let (of, df) = (c.of, c.df);
            c.set_eflags(f);
            c.of = of;
            c.df = df;
        }
        M::Clc => c.cf = false,
        M::Stc => c.cf = true,
        M::Cmc => c.cf = !c.cf,
        M::Cld => c.df = false,
        M::Std => c.df = true,
        M::Jmp => c.eip = c.get(m, ins, 0, 4)?,
        M::Call => {
            let t = c.get(m, ins, 0, 4)?;
            c.push(m, ins.next_ip32())?;
            c.eip = t;
        }
        M::Ret => {
            let r = c.pop(m)?;
            if ins.op_count() > 0 {
                let n = c.get(m, ins, 0, 2)?;
                c.r[ESP] = c.r[ESP].wrapping_add(n);
            }
            c.eip = r;
        }
        M::Leave => {
            c.r[ESP] = c.r[super::cpu::EBP];
            c.r[super::cpu::EBP] = c.pop(m)?;
        }
        M::Enter => {
            let size = c.get(m, ins, 0, 2)?;
            let bp = c.r[super::cpu::EBP];
            c.push(m, bp)?;
            c.r[super::cpu::EBP] = c.r[ESP];
            c.r[ESP] = c.r[ESP].wrapping_sub(size);
        }
        M::Loop | M::Loope | M::Loopne => {
            c.r[ECX] = c.r[ECX].wrapping_sub(1);
            let go = c.r[ECX] != 0
                && match mn {
                    M::Loope => c.zf,
                    M::Loopne => !c.zf,
                    _ => true,
                };
            if go {
                c.eip = ins.near_branch_target() as u32;
            }
        }
        M::Jecxz => {
            if c.r[ECX] == 0 {
                c.eip = ins.near_branch_target() as u32;
            }
        }
        M::Xlatb => {
            let a = c.r[super::cpu::EBX].wrapping_add(c.r[EAX] & 0xff);
            let v = m.read(a, 1)?;
            c.set_reg(iced_x86::Register::AL, v);
        }
        M::Rdtsc => {
            // A clock that moves a little between two reads (stubs check both that it moves
            // and that it moves slowly, as it would without a debugger).
            c.tsc = c.tsc.wrapping_add(0x40);
            c.r[EAX] = c.tsc as u32;
            c.r[EDX] = (c.tsc >> 32) as u32;
        }
        M::Cpuid => {
            c.r[EAX] = 0;
            c.r[super::cpu::EBX] = 0x756e_6547;
            c.r[EDX] = 0x4965_6e69;
            c.r[ECX] = 0x6c65_746e;
        }
        M::Int3 => return Err(Trap::Breakpoint),
        M::Int => {
            if c.get(m, ins, 0, 1)? == 3 {
                return Err(Trap::Breakpoint);
            }
            return Err(Trap::Privileged);
        }
        M::Hlt | M::Cli | M::Sti | M::In | M::Out | M::Ud2 | M::Into | M::Int1 => {
            return Err(Trap::Privileged)
        }
        _ => return Err(Trap::Unsupported(mn)),
    }
    Ok(1)
}

fn is_setcc(mn: M) -> bool {
    matches!(
        mn,
        M::Seto
            | M::Setno
            | M::Setb
            | M::Setae
            | M::Sete
            | M::Setne
            | M::Setbe
            | M::Seta
            | M::Sets
            | M::Setns
            | M::Setp
            | M::Setnp
            | M::Setl
            | M::Setge
            | M::Setle
            | M::Setg
    )
}

fn is_cmovcc(mn: M) -> bool {
    matches!(
        mn,
        M::Cmovo
            | M::Cmovno
            | M::Cmovb
            | M::Cmovae
            | M::Cmove
            | M::Cmovne
            | M::Cmovbe
            | M::Cmova
            | M::Cmovs
            | M::Cmovns
            | M::Cmovp
            | M::Cmovnp
            | M::Cmovl
            | M::Cmovge
            | M::Cmovle
            | M::Cmovg
    )
}

fn is_string(mn: M) -> bool {
    matches!(
        mn,
        M::Movsb
            | M::Movsw
            | M::Movsd
            | M::Stosb
            | M::Stosw
            | M::Stosd
            | M::Lodsb
            | M::Lodsw
            | M::Lodsd
            | M::Scasb
            | M::Scasw
            | M::Scasd
            | M::Cmpsb
            | M::Cmpsw
            | M::Cmpsd
    )
}

/// `movs`, `stos`, `lods`, `scas`, `cmps`, with or without `rep`/`repe`/`repne`.
fn string(c: &mut Cpu, m: &mut Mem, ins: &Instruction) -> Result<u32, Trap> {
    let mn = ins.mnemonic();
    // SSE's movsd has register or xmm operands; only the string form is handled.
    if mn == M::Movsd && ins.op_count() > 0 && ins.op_kind(0) == OpKind::Register {
        return Err(Trap::Unsupported(mn));
    }
    let s: u32 = match mn {
        M::Movsb | M::Stosb | M::Lodsb | M::Scasb | M::Cmpsb => 1,
        M::Movsw | M::Stosw | M::Lodsw | M::Scasw | M::Cmpsw => 2,
        _ => 4,
    };
    let rep = ins.has_rep_prefix() || ins.has_repne_prefix();
    let step = if c.df { s.wrapping_neg() } else { s };
    let mut n = 0u32;
    loop {
        if rep && c.r[ECX] == 0 {
            return Ok(n.max(1));
        }
        match mn {
            M::Movsb | M::Movsw | M::Movsd => {
                let v = m.read(c.r[ESI], s)?;
                m.write(c.r[EDI], v, s)?;
                c.r[ESI] = c.r[ESI].wrapping_add(step);
                c.r[EDI] = c.r[EDI].wrapping_add(step);
            }
            M::Stosb | M::Stosw | M::Stosd => {
                m.write(c.r[EDI], c.r[EAX] & mask(s), s)?;
                c.r[EDI] = c.r[EDI].wrapping_add(step);
            }
            M::Lodsb | M::Lodsw | M::Lodsd => {
                let v = m.read(c.r[ESI], s)?;
                c.r[EAX] = (c.r[EAX] & !mask(s)) | v;
                c.r[ESI] = c.r[ESI].wrapping_add(step);
            }
            M::Scasb | M::Scasw | M::Scasd => {
                let v = m.read(c.r[EDI], s)?;
                c.sub(c.r[EAX], v, false, s);
                c.r[EDI] = c.r[EDI].wrapping_add(step);
            }
            _ => {
                let a = m.read(c.r[ESI], s)?;
                let b = m.read(c.r[EDI], s)?;
                c.sub(a, b, false, s);
                c.r[ESI] = c.r[ESI].wrapping_add(step);
                c.r[EDI] = c.r[EDI].wrapping_add(step);
            }
        }
        n += 1;
        if !rep {
            return Ok(1);
        }
        c.r[ECX] = c.r[ECX].wrapping_sub(1);
        let compares = matches!(
            mn,
            M::Scasb | M::Scasw | M::Scasd | M::Cmpsb | M::Cmpsw | M::Cmpsd
        );
        if compares && ((ins.has_rep_prefix() && !c.zf) || (ins.has_repne_prefix() && c.zf)) {
            return Ok(n);
        }
        if c.r[ECX] != 0 && n >= REP_CHUNK {
            // Resume at this instruction next step.
            c.eip = ins.ip32();
            return Ok(n);
        }
    }
}

/// Shifts and rotates of a `size`-byte value by `n` (already masked to 5 bits).
fn shift(c: &mut Cpu, mn: M, a: u32, n: u32, size: u32) -> u32 {
    if n == 0 {
        return a;
    }
    let bits = size * 8;
    let a = a & mask(size);
    let r = match mn {
        M::Shl | M::Sal => {
            let wide = u64::from(a) << n;
            let r = (wide as u32) & mask(size);
            c.cf = n <= bits && (wide >> bits) & 1 != 0;
            c.of = ((r & sign(size)) != 0) != c.cf;
            c.szp(r, size);
            r
        }
        M::Shr => {
            c.cf = n <= bits && (u64::from(a) >> (n - 1)) & 1 != 0;
            c.of = a & sign(size) != 0;
            let r = ((u64::from(a)) >> n) as u32;
            c.szp(r, size);
            r
        }
        M::Sar => {
            let v = i64::from(sext(a, size) as i32);
            c.cf = (v >> (n - 1).min(63)) & 1 != 0;
            c.of = false;
            let r = ((v >> n.min(63)) as u32) & mask(size);
            c.szp(r, size);
            r
        }
        M::Rol | M::Ror => {
            let k = n % bits;
            let r = if k == 0 {
                a
            } else if mn == M::Rol {
                ((a << k) | (a >> (bits - k))) & mask(size)
            } else {
                ((a >> k) | (a << (bits - k))) & mask(size)
            };
            if mn == M::Rol {
                c.cf = r & 1 != 0;
                c.of = ((r & sign(size)) != 0) != c.cf;
            } else {
                c.cf = r & sign(size) != 0;
                c.of = ((r ^ (r << 1)) & sign(size)) != 0;
            }
            r
        }
        _ => {
            // rcl / rcr: rotate through carry, one bit at a time (n <= 31).
            let mut r = a;
            let k = n % (bits + 1);
            for _ in 0..k {
                if mn == M::Rcl {
                    let out = r & sign(size) != 0;
                    r = ((r << 1) | u32::from(c.cf)) & mask(size);
                    c.cf = out;
                } else {
                    let out = r & 1 != 0;
                    r = (r >> 1) | if c.cf { sign(size) } else { 0 };
                    c.cf = out;
                }
            }
            c.of = ((r & sign(size)) != 0) != c.cf;
            r
        }
    };
    r & mask(size)
}

/// `mul`, `imul` (one, two and three operands), `div`, `idiv`.
fn muldiv(c: &mut Cpu, m: &mut Mem, ins: &Instruction, s: u32) -> Result<(), Trap> {
    let mn = ins.mnemonic();
    if mn == M::Imul && ins.op_count() > 1 {
        let (a, b) = if ins.op_count() == 3 {
            (c.get(m, ins, 1, s)?, c.get(m, ins, 2, s)?)
        } else {
            (c.get(m, ins, 0, s)?, c.get(m, ins, 1, s)?)
        };
        let wide = i64::from(sext(a, s) as i32) * i64::from(sext(b, s) as i32);
        let r = (wide as u32) & mask(s);
        c.cf = i64::from(sext(r, s) as i32) != wide;
        c.of = c.cf;
        c.put(m, ins, 0, s, r)?;
        return Ok(());
    }
    let src = c.get(m, ins, 0, s)?;
    let bits = s * 8;
    // The double-width accumulator: AX, DX:AX or EDX:EAX.
    let acc: u64 = match s {
        1 => u64::from(c.r[EAX] & 0xffff),
        2 => (u64::from(c.r[EDX] & 0xffff) << 16) | u64::from(c.r[EAX] & 0xffff),
        _ => (u64::from(c.r[EDX]) << 32) | u64::from(c.r[EAX]),
    };
    let low = u64::from(c.r[EAX] & mask(s));
    let (lo, hi) = match mn {
        M::Mul => {
            let p = low * u64::from(src);
            c.cf = (p >> bits) != 0;
            c.of = c.cf;
            (p as u32 & mask(s), (p >> bits) as u32 & mask(s))
        }
        M::Imul => {
            let p = i64::from(sext(low as u32, s) as i32) * i64::from(sext(src, s) as i32);
            let r = p as u64;
            c.cf = i64::from(sext(r as u32 & mask(s), s) as i32) != p;
            c.of = c.cf;
            (r as u32 & mask(s), (r >> bits) as u32 & mask(s))
        }
        M::Div => {
            if src == 0 {
                return Err(Trap::Divide);
            }
            let q = acc / u64::from(src);
            if q > u64::from(mask(s)) {
                return Err(Trap::Divide);
            }
            (q as u32, (acc % u64::from(src)) as u32)
        }
        _ => {
            if src == 0 {
                return Err(Trap::Divide);
            }
            let a = match s {
                1 => i64::from(acc as u16 as i16),
                2 => i64::from(acc as u32 as i32),
                _ => acc as i64,
            };
            let d = i64::from(sext(src, s) as i32);
            let q = a.checked_div(d).ok_or(Trap::Divide)?;
            let r = a.checked_rem(d).ok_or(Trap::Divide)?;
            let lim = i64::from(sign(s));
            if q >= lim || q < -lim {
                return Err(Trap::Divide);
            }
            (q as u32 & mask(s), r as u32 & mask(s))
        }
    };
    match s {
        1 => {
            let v = (hi << 8) | lo;
            c.r[EAX] = (c.r[EAX] & 0xffff_0000) | (v & 0xffff);
        }
        2 => {
            c.r[EAX] = (c.r[EAX] & 0xffff_0000) | lo;
            c.r[EDX] = (c.r[EDX] & 0xffff_0000) | hi;
        }
        _ => {
            c.r[EAX] = lo;
            c.r[EDX] = hi;
        }
    }
    let _ = (ESI, EDI);
    Ok(())
}
