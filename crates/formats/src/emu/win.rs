//! The little of Windows an unpacking stub sees: a thread and process environment block, a
//! fake KERNEL32 image whose export table names the functions below, the loader's filling of
//! the import table, the handful of API calls stubs make (module handles, `GetProcAddress`,
//! memory allocation and protection) and structured exception dispatch through `fs:[0]`.
//!
//! Any other API call is where the stub hands over to the unpacked program: emulation stops
//! there (see [`super::Stop::Api`]).

use super::cpu::{Cpu, Trap, EAX, EBP, EBX, ECX, EDI, EDX, ESI, ESP};
use super::mem::{Mem, PAGE};
use super::Stop;

/// Where the fake KERNEL32 is loaded.
pub(crate) const K32: u32 = 0x7c80_0000;
/// RVA of the first API thunk inside the fake KERNEL32; thunk `i` is the `THUNK` bytes at
/// `THUNKS + THUNK * i`, all `nop`s, and control anywhere in them calls the API (stubs that
/// copy an API's first instructions and jump past them land inside).
const THUNKS: u32 = 0x4000;
/// Bytes of one thunk.
const THUNK: u32 = 64;
/// Most thunks (named APIs, known or not).
const MAX_THUNKS: u32 = 0x400;
/// The address a stub returns to when it leaves its entry point with `ret`.
pub(crate) const EXIT_THUNK: u32 = K32 + 0x3000;
/// The address an exception handler returns to.
pub(crate) const SEH_RETURN: u32 = K32 + 0x3010;
/// The last-chance handler at the end of the SEH chain.
pub(crate) const SEH_LAST: u32 = K32 + 0x3020;
/// Thread and process environment blocks.
pub(crate) const TEB: u32 = 0x7ffd_e000;
const PEB: u32 = 0x7ffd_f000;
/// Top of the stack and its size.
pub(crate) const STACK_TOP: u32 = 0x0013_0000;
const STACK_SIZE: u32 = 0x0004_0000;
/// Where `VirtualAlloc` without an address places blocks.
const HEAP: u32 = 0x0100_0000;
/// Module handles returned for DLLs other than KERNEL32 (never mapped).
const FAKE_DLL: u32 = 0x7700_0000;
/// Most exceptions dispatched before emulation gives up (stubs raise a few on purpose).
const MAX_EXCEPTIONS: u32 = 256;

/// APIs the emulator implements, by name, with the bytes of arguments they pop.
const KNOWN: [(&str, u32); 37] = [
    ("CloseHandle", 4),
    ("CreateFileA", 28),
    ("CreateFileMappingA", 24),
    ("ExitProcess", 4),
    ("FlushInstructionCache", 12),
    ("FreeLibrary", 4),
    ("GetCommandLineA", 0),
    ("GetCurrentProcess", 0),
    ("GetCurrentProcessId", 0),
    ("GetCurrentThreadId", 0),
    ("GetFileSize", 8),
    ("GetLastError", 0),
    ("GetModuleFileNameA", 12),
    ("GetModuleHandleA", 4),
    ("GetModuleHandleW", 4),
    ("GetProcAddress", 8),
    ("GetTickCount", 0),
    ("GetVersion", 0),
    ("GlobalAlloc", 8),
    ("GlobalFree", 4),
    ("IsDebuggerPresent", 0),
    ("LoadLibraryA", 4),
    ("LoadLibraryExA", 12),
    ("LoadLibraryW", 4),
    ("LocalAlloc", 8),
    ("LocalFree", 4),
    ("MapViewOfFile", 20),
    ("ReadFile", 20),
    ("SetErrorMode", 4),
    ("SetFilePointer", 16),
    ("Sleep", 4),
    ("UnmapViewOfFile", 4),
    ("VirtualAlloc", 16),
    ("VirtualFree", 12),
    ("VirtualProtect", 16),
    ("VirtualQuery", 12),
    ("lstrlenA", 4),
];

/// Other KERNEL32 exports named in the fake export table (stubs that resolve their APIs by
/// walking it, often by a hash of the name, give up when one is missing). Calling one stops
/// emulation like any API the emulator does not implement.
const EXPORTED: [&str; 72] = [
    "CreateEventA",
    "CreateMutexA",
    "CreateProcessA",
    "CreateThread",
    "CreateToolhelp32Snapshot",
    "DeleteCriticalSection",
    "DeleteFileA",
    "DeviceIoControl",
    "EnterCriticalSection",
    "ExitThread",
    "FindClose",
    "FindFirstFileA",
    "FindNextFileA",
    "FindResourceA",
    "FreeEnvironmentStringsA",
    "GetACP",
    "GetCPInfo",
    "GetCurrentDirectoryA",
    "GetEnvironmentStrings",
    "GetEnvironmentVariableA",
    "GetExitCodeProcess",
    "GetFileAttributesA",
    "GetFileType",
    "GetLocalTime",
    "GetModuleFileNameW",
    "GetOEMCP",
    "GetStartupInfoA",
    "GetStdHandle",
    "GetSystemDirectoryA",
    "GetSystemInfo",
    "GetSystemTime",
    "GetSystemTimeAsFileTime",
    "GetTempPathA",
    "GetVersionExA",
    "GetWindowsDirectoryA",
    "HeapAlloc",
    "HeapCreate",
    "HeapDestroy",
    "HeapFree",
    "HeapReAlloc",
    "InitializeCriticalSection",
    "InterlockedDecrement",
    "InterlockedIncrement",
    "LeaveCriticalSection",
    "LoadResource",
    "LockResource",
    "MultiByteToWideChar",
    "OpenProcess",
    "OutputDebugStringA",
    "QueryPerformanceCounter",
    "RaiseException",
    "ReadProcessMemory",
    "ResumeThread",
    "RtlUnwind",
    "SetEndOfFile",
    "SetFileAttributesA",
    "SetLastError",
    "SetUnhandledExceptionFilter",
    "SizeofResource",
    "TerminateProcess",
    "TlsAlloc",
    "TlsGetValue",
    "TlsSetValue",
    "UnhandledExceptionFilter",
    "VirtualAllocEx",
    "VirtualProtectEx",
    "WaitForSingleObject",
    "WideCharToMultiByte",
    "WinExec",
    "WriteFile",
    "WriteProcessMemory",
    "lstrcpyA",
];

/// Exports of the fake DLLs other than KERNEL32 (common USER32, ADVAPI32, SHELL32 and C
/// runtime functions), sorted.
const OTHER_EXPORTS: [&str; 24] = [
    "CharUpperA",
    "CreateWindowExA",
    "DialogBoxParamA",
    "DispatchMessageA",
    "EndDialog",
    "ExitWindowsEx",
    "FindWindowA",
    "GetDC",
    "GetMessageA",
    "GetWindowTextA",
    "LoadIconA",
    "MessageBoxA",
    "MessageBoxW",
    "PostQuitMessage",
    "RegCloseKey",
    "RegOpenKeyExA",
    "RegQueryValueExA",
    "SendMessageA",
    "ShellExecuteA",
    "ShowWindow",
    "exit",
    "malloc",
    "memcpy",
    "wsprintfA",
];

/// Bytes mapped for each fake DLL's headers and export table.
const DLL_SIZE: u32 = 0x3000;

/// The emulated Windows state.
pub(crate) struct Win {
    /// Names of the thunks handed out, in thunk order (the known ones first).
    names: Vec<String>,
    /// Next free address for `VirtualAlloc`.
    heap: u32,
    /// DLL names loaded (for their fake handles).
    dlls: Vec<String>,
    /// Exceptions dispatched so far.
    pub exceptions: u32,
    /// The image base of the executable.
    pub image_base: u32,
    /// The executable's own file, for stubs that read themselves (checksums, overlays).
    file: Vec<u8>,
    /// Read position in it.
    file_pos: usize,
}

/// The file name the executable is given, and the handle of its open file.
const SELF_NAME: &[u8] = b"C:\\sample.exe\0";
const SELF_HANDLE: u32 = 0x44;
const MAPPING_HANDLE: u32 = 0x48;
/// Where `GetCommandLineA`'s string lives (in the fake KERNEL32 image).
const CMDLINE: u32 = K32 + 0x3100;

impl Win {
    /// Maps the stack, TEB, PEB and the fake KERNEL32, and sets the registers a process
    /// starts with (`ebx` = PEB, `[esp]` = a return address inside KERNEL32).
    pub(crate) fn new(m: &mut Mem, c: &mut Cpu, image_base: u32, file: &[u8]) -> Result<Win, Trap> {
        let mut w = Win {
            file: file.to_vec(),
            file_pos: 0,
            names: KNOWN.iter().map(|(n, _)| n.to_string()).collect(),
            heap: HEAP,
            dlls: Vec::new(),
            exceptions: 0,
            image_base,
        };
        m.map(STACK_TOP - STACK_SIZE, STACK_SIZE)?;
        m.map(TEB, 2 * PAGE)?;
        m.map(K32, THUNKS + MAX_THUNKS * THUNK)?;
        w.build_k32(m)?;
        m.write_bytes(CMDLINE, SELF_NAME)?;
        // The last SEH frame, at the top of the stack.
        let frame = STACK_TOP - 8;
        m.write(frame, 0xffff_ffff, 4)?;
        m.write(frame + 4, SEH_LAST, 4)?;
        m.write(TEB, frame, 4)?;
        m.write(TEB + 4, STACK_TOP, 4)?;
        m.write(TEB + 8, STACK_TOP - STACK_SIZE, 4)?;
        m.write(TEB + 0x18, TEB, 4)?;
        m.write(TEB + 0x30, PEB, 4)?;
        m.write(PEB + 8, image_base, 4)?;
        w.build_ldr(m)?;
        c.fs_base = TEB;
        c.r = [0; 8];
        c.r[ESP] = frame - 0x40;
        c.r[EBP] = frame - 0x10;
        c.r[EBX] = PEB;
        m.write(c.r[ESP], EXIT_THUNK, 4)?;
        Ok(w)
    }

    /// A fake DLL at `base`: DOS and PE headers and an export directory (at RVA 0x1000:
    /// functions, names, ordinals, then the strings; `names` sorted, as loaders' binary
    /// searches expect) whose functions are thunks in the fake KERNEL32.
    fn build_dll(
        &mut self,
        m: &mut Mem,
        base: u32,
        dll: &[u8],
        names: &[&str],
        size: u32,
    ) -> Result<(), Trap> {
        m.map(base, DLL_SIZE)?;
        m.write_bytes(base, b"MZ")?;
        m.write(base + 0x3c, 0x80, 4)?;
        let pe = base + 0x80;
        m.write_bytes(pe, b"PE\0\0")?;
        m.write(pe + 4, 0x14c, 2)?;
        m.write(pe + 20, 0xe0, 2)?;
        m.write(pe + 22, 0x2102, 2)?;
        m.write(pe + 24, 0x10b, 2)?;
        m.write(pe + 24 + 28, base, 4)?;
        m.write(pe + 24 + 56, size, 4)?;
        m.write(pe + 24 + 92, 16, 4)?;
        let (dir, funcs, nametab, ords, strs) =
            (0x1000u32, 0x1100u32, 0x1500u32, 0x1900u32, 0x1b00u32);
        m.write(pe + 24 + 96, dir, 4)?;
        m.write(pe + 24 + 100, 0x2000, 4)?;
        let n = names.len().min(256) as u32;
        m.write(base + dir + 12, strs, 4)?;
        m.write(base + dir + 16, 1, 4)?;
        m.write(base + dir + 20, n, 4)?;
        m.write(base + dir + 24, n, 4)?;
        m.write(base + dir + 28, funcs, 4)?;
        m.write(base + dir + 32, nametab, 4)?;
        m.write(base + dir + 36, ords, 4)?;
        m.write_bytes(base + strs, dll)?;
        let mut at = strs + 32;
        for (i, name) in names.iter().take(256).enumerate() {
            let i = i as u32;
            if at + name.len() as u32 + 1 > DLL_SIZE {
                break;
            }
            let thunk = self.thunk(name).wrapping_sub(base);
            m.write(base + funcs + 4 * i, thunk, 4)?;
            m.write(base + nametab + 4 * i, at, 4)?;
            m.write(base + ords + 2 * i, i, 2)?;
            m.write_bytes(base + at, name.as_bytes())?;
            at += name.len() as u32 + 1;
        }
        Ok(())
    }

    /// The fake KERNEL32: DOS and PE headers and an export directory naming [`KNOWN`] and
    /// [`EXPORTED`], then the thunk bodies.
    fn build_k32(&mut self, m: &mut Mem) -> Result<(), Trap> {
        let mut all: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).chain(EXPORTED).collect();
        all.sort_unstable();
        self.build_dll(m, K32, b"KERNEL32.dll\0", &all, THUNKS + MAX_THUNKS * THUNK)?;
        // Thunk bodies: `nop`s (stubs that check an API's first byte for a breakpoint
        // find none).
        for a in (K32 + THUNKS..K32 + THUNKS + MAX_THUNKS * THUNK).step_by(4) {
            m.write(a, 0x9090_9090, 4)?;
        }
        Ok(())
    }

    /// The loader's module lists (executable, ntdll stand-in, KERNEL32), for stubs that walk
    /// `PEB->Ldr` to find KERNEL32.
    fn build_ldr(&self, m: &mut Mem) -> Result<(), Trap> {
        let ldr = PEB + 0x100;
        m.write(PEB + 0xc, ldr, 4)?;
        let entries = [PEB + 0x200, PEB + 0x300, PEB + 0x400];
        let bases = [self.image_base, K32, K32];
        for (k, &e) in entries.iter().enumerate() {
            m.write(e + 0x18, bases[k], 4)?;
            m.write(e + 0x20, 0x10000, 4)?;
            let name = PEB + 0x600 + 0x40 * k as u32;
            let s: &str = ["a.exe", "ntdll.dll", "kernel32.dll"][k];
            for (i, u) in s.encode_utf16().enumerate() {
                m.write(name + 2 * i as u32, u32::from(u), 2)?;
            }
            for off in [0x24u32, 0x2c] {
                m.write(
                    e + off,
                    (s.len() as u32 * 2) | ((s.len() as u32 * 2 + 2) << 16),
                    4,
                )?;
                m.write(e + off + 4, name, 4)?;
            }
        }
        // Three circular lists: load order (+0x0c/+0x00), memory order (+0x14/+0x08),
        // initialisation order (+0x1c/+0x10, without the executable).
        for (head, link, list) in [
            (0x0cu32, 0u32, &entries[..]),
            (0x14, 8, &entries[..]),
            (0x1c, 0x10, &entries[1..]),
        ] {
            let nodes: Vec<u32> = std::iter::once(ldr + head)
                .chain(list.iter().map(|e| e + link))
                .collect();
            for (i, &n) in nodes.iter().enumerate() {
                let next = nodes[(i + 1) % nodes.len()];
                let prev = nodes[(i + nodes.len() - 1) % nodes.len()];
                m.write(n, next, 4)?;
                m.write(n + 4, prev, 4)?;
            }
        }
        Ok(())
    }

    /// The thunk address for an API name (a new thunk for a name not seen before).
    pub(crate) fn thunk(&mut self, name: &str) -> u32 {
        let i = match self.names.iter().position(|n| n.eq_ignore_ascii_case(name)) {
            Some(i) => i,
            None if (self.names.len() as u32) < MAX_THUNKS => {
                self.names.push(name.to_string());
                self.names.len() - 1
            }
            None => self.names.len() - 1,
        };
        K32 + THUNKS + THUNK * i as u32
    }

    /// Whether `eip` is one of the thunks.
    pub(crate) fn is_thunk(eip: u32) -> bool {
        (K32 + THUNKS..K32 + THUNKS + MAX_THUNKS * THUNK).contains(&eip)
    }

    fn module(&mut self, m: &mut Mem, name: &str) -> u32 {
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("kernel32") || lower.starts_with("ntdll") {
            return K32;
        }
        let i = match self.dlls.iter().position(|d| *d == lower) {
            Some(i) => i,
            None if self.dlls.len() < 64 => {
                let base = FAKE_DLL + 0x10_0000 * self.dlls.len() as u32;
                let mut dll = lower.clone().into_bytes();
                dll.truncate(30);
                dll.push(0);
                // A DLL that cannot be mapped stays a bare handle.
                let _ = self.build_dll(m, base, &dll, &OTHER_EXPORTS, DLL_SIZE);
                self.dlls.push(lower);
                self.dlls.len() - 1
            }
            None => 63,
        };
        FAKE_DLL + 0x10_0000 * i as u32
    }

    /// Runs the API whose thunk is at `c.eip`, as `stdcall` (the callee pops its
    /// arguments), or stops when it is one the stub would not call before handing over.
    pub(crate) fn call(&mut self, c: &mut Cpu, m: &mut Mem) -> Result<(), Stop> {
        let i = ((c.eip - K32 - THUNKS) / THUNK) as usize;
        let name = self.names.get(i).cloned().unwrap_or_default();
        let Some(&(_, pops)) = KNOWN.iter().find(|(n, _)| *n == name) else {
            return Err(Stop::Api(name));
        };
        let sp = c.r[ESP];
        let arg = |k: u32| {
            m.read(sp.wrapping_add(4 + 4 * k), 4)
                .map_err(|_| Stop::Fault(sp))
        };
        let ret = m.read(sp, 4).map_err(|_| Stop::Fault(sp))?;
        let eax = match name.as_str() {
            "ExitProcess" => return Err(Stop::Exit),
            "GetModuleHandleA" | "GetModuleHandleW" | "LoadLibraryA" | "LoadLibraryW"
            | "LoadLibraryExA" => {
                let p = arg(0)?;
                if p == 0 {
                    self.image_base
                } else {
                    let s = if name.ends_with('W') {
                        m.wstr(p, 260)
                    } else {
                        m.cstr(p, 260)
                    }
                    .map_err(|f| Stop::Fault(f.0))?;
                    self.module(m, &s)
                }
            }
            "GetProcAddress" => {
                let p = arg(1)?;
                let s = if p < 0x10000 {
                    format!("#{p}")
                } else {
                    m.cstr(p, 256).map_err(|f| Stop::Fault(f.0))?
                };
                self.thunk(&s)
            }
            "VirtualAlloc" | "GlobalAlloc" | "LocalAlloc" => {
                let (addr, size) = if name == "VirtualAlloc" {
                    (arg(0)?, arg(1)?)
                } else {
                    (0, arg(1)?)
                };
                self.alloc(m, addr, size)
            }
            "VirtualProtect" => {
                let old = arg(3)?;
                let _ = m.write(old, 0x40, 4);
                1
            }
            "GetModuleFileNameA" => {
                let (buf, size) = (arg(1)?, arg(2)?);
                let n = (SELF_NAME.len() as u32).min(size);
                let _ = m.write_bytes(buf, &SELF_NAME[..n as usize]);
                n.saturating_sub(1)
            }
            "GetCommandLineA" => CMDLINE,
            "lstrlenA" => m.cstr(arg(0)?, 0x10000).map_or(0, |s| s.len() as u32),
            "CreateFileA" => SELF_HANDLE,
            "CreateFileMappingA" => MAPPING_HANDLE,
            "GetFileSize" => self.file.len() as u32,
            "SetFilePointer" => {
                let (dist, method) = (arg(1)? as i32 as i64, arg(3)?);
                let from = match method {
                    1 => self.file_pos as i64,
                    2 => self.file.len() as i64,
                    _ => 0,
                };
                self.file_pos = (from + dist).clamp(0, self.file.len() as i64) as usize;
                self.file_pos as u32
            }
            "ReadFile" => {
                let (buf, want, got) = (arg(1)?, arg(2)?, arg(3)?);
                let rest = self.file.get(self.file_pos..).unwrap_or(&[]);
                let n = rest.len().min(want as usize);
                if m.write_bytes(buf, &rest[..n]).is_err() {
                    0
                } else {
                    self.file_pos += n;
                    let _ = m.write(got, n as u32, 4);
                    1
                }
            }
            "MapViewOfFile" => {
                let len = self.file.len() as u32;
                let at = self.alloc(m, 0, len);
                let file = std::mem::take(&mut self.file);
                let ok = at != 0 && m.write_bytes(at, &file).is_ok();
                self.file = file;
                if ok {
                    at
                } else {
                    0
                }
            }
            "VirtualQuery" => 0,
            "GetVersion" => 0x0a28_0105,
            "GetTickCount" => 0x0010_0000,
            "GetCurrentProcess" => 0xffff_ffff,
            "GetCurrentProcessId" | "GetCurrentThreadId" => 0x100,
            "IsDebuggerPresent" | "GetLastError" | "SetErrorMode" | "Sleep" => 0,
            _ => 1,
        };
        c.r[EAX] = eax;
        c.r[ECX] = 0;
        c.r[EDX] = 0;
        c.r[ESP] = sp.wrapping_add(4 + pops);
        c.eip = ret;
        Ok(())
    }

    /// Maps a block for `VirtualAlloc` (0 when the memory budget is spent).
    fn alloc(&mut self, m: &mut Mem, addr: u32, size: u32) -> u32 {
        let size = size.max(1);
        if addr != 0 && m.is_mapped(addr) && m.is_mapped(addr.wrapping_add(size - 1)) {
            return addr;
        }
        let at = if addr != 0 {
            addr & !(PAGE - 1)
        } else {
            self.heap
        };
        let Some(len) = size.checked_add(PAGE - 1).map(|l| l & !(PAGE - 1)) else {
            return 0;
        };
        if m.map(at, len).is_err() {
            return 0;
        }
        if addr == 0 {
            self.heap = self.heap.saturating_add(len + PAGE);
        }
        at
    }

    /// Dispatches an exception to the handler at the head of the SEH chain: pushes an
    /// exception record and a context (the registers at the fault) and calls the handler,
    /// which returns to [`SEH_RETURN`].
    pub(crate) fn raise(&mut self, c: &mut Cpu, m: &mut Mem, code: u32) -> Result<(), Stop> {
        self.exceptions += 1;
        if self.exceptions > MAX_EXCEPTIONS {
            return Err(Stop::Exception(code));
        }
        let f = |_| Stop::Exception(code);
        let frame = m.read(TEB, 4).map_err(f)?;
        let handler = m.read(frame.wrapping_add(4), 4).map_err(f)?;
        if handler == SEH_LAST {
            return Err(Stop::Exception(code));
        }
        let ctx = c.r[ESP].wrapping_sub(0x400) & !3;
        let rec = ctx.wrapping_sub(0x60);
        let w = |m: &mut Mem, a: u32, v: u32| m.write(a, v, 4).map_err(f);
        w(m, ctx, 0x1_0017)?;
        for (off, v) in [
            (0x9c, c.r[EDI]),
            (0xa0, c.r[ESI]),
            (0xa4, c.r[EBX]),
            (0xa8, c.r[EDX]),
            (0xac, c.r[ECX]),
            (0xb0, c.r[EAX]),
            (0xb4, c.r[EBP]),
            (0xb8, c.eip),
            (0xbc, 0x1b),
            (0xc0, c.eflags()),
            (0xc4, c.r[ESP]),
            (0xc8, 0x23),
        ] {
            w(m, ctx + off, v)?;
        }
        for off in [4u32, 8, 0xc, 0x10, 0x14, 0x18] {
            w(m, ctx + off, 0)?;
        }
        w(m, rec, code)?;
        w(m, rec + 4, 0)?;
        w(m, rec + 8, 0)?;
        w(m, rec + 0xc, c.eip)?;
        w(m, rec + 0x10, 0)?;
        // handler(record, frame, context, dispatcher context), returning to SEH_RETURN;
        // the context's address is kept below the arguments for the return.
        let mut sp = rec.wrapping_sub(4);
        for v in [ctx, 0, ctx, frame, rec, SEH_RETURN] {
            w(m, sp, v)?;
            sp = sp.wrapping_sub(4);
        }
        c.r[ESP] = sp.wrapping_add(4);
        c.eip = handler;
        Ok(())
    }

    /// A handler returned: `ExceptionContinueExecution` (0) reloads the registers from the
    /// context it may have changed; anything else ends emulation.
    pub(crate) fn seh_return(&mut self, c: &mut Cpu, m: &mut Mem) -> Result<(), Stop> {
        // Stack at return: [record, frame, context, dispatcher, saved context address].
        let sp = c.r[ESP];
        let f = |e: super::mem::Fault| Stop::Fault(e.0);
        let ctx = m.read(sp.wrapping_add(16), 4).map_err(f)?;
        if c.r[EAX] != 0 {
            return Err(Stop::Exception(c.r[EAX]));
        }
        let r = |off: u32| m.read(ctx.wrapping_add(off), 4).map_err(f);
        c.r[EDI] = r(0x9c)?;
        c.r[ESI] = r(0xa0)?;
        c.r[EBX] = r(0xa4)?;
        c.r[EDX] = r(0xa8)?;
        c.r[ECX] = r(0xac)?;
        c.r[EAX] = r(0xb0)?;
        c.r[EBP] = r(0xb4)?;
        c.eip = r(0xb8)?;
        c.set_eflags(r(0xc0)?);
        c.r[ESP] = r(0xc4)?;
        Ok(())
    }
}
