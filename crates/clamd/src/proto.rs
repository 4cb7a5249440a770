//! clamd's wire protocol as a pure state machine: bytes in, [`Event`]s out, no I/O.
//!
//! A command is `z` + name + NUL, `n` + name + newline, or (the old form, for the commands that
//! allow it) the bare name + newline. Names are matched as clamd matches them: by prefix, in
//! clamd's table order, a command taking an argument reads it after one separator byte, one
//! taking none refuses trailing bytes. After `INSTREAM` come chunks, each a 4-byte big-endian
//! length then the bytes, ended by a zero length; their sum may not pass StreamMaxLength.
//! After `FILDES` comes one byte carrying the descriptor (SCM_RIGHTS). After `IDSESSION`
//! every command is numbered from 1 and its replies start with `N: `.

use bytes::{Buf, Bytes, BytesMut};

/// Longest command line accepted (clamd reads commands into a 1 KiB buffer plus a path).
pub const MAX_COMMAND: usize = 8 * 1024;

/// A command, as clamd names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `PING` → `PONG`.
    Ping,
    /// `VERSION`.
    Version,
    /// `VERSIONCOMMANDS`: the version and the command list.
    VersionCommands,
    /// `RELOAD` → `RELOADING`.
    Reload,
    /// `SHUTDOWN` (or its old name `QUIT`).
    Shutdown,
    /// `SCAN path`: stop at the first virus.
    Scan(Vec<u8>),
    /// `CONTSCAN path`: go on after a virus.
    ContScan(Vec<u8>),
    /// `MULTISCAN path`: like CONTSCAN, files in parallel.
    MultiScan(Vec<u8>),
    /// `ALLMATCHSCAN path`: every signature of every file.
    AllMatchScan(Vec<u8>),
    /// `INSTREAM`: chunks follow.
    InStream,
    /// `FILDES`: a descriptor follows.
    Fildes,
    /// `STATS`.
    Stats,
    /// `IDSESSION`: numbered commands follow on this connection.
    IdSession,
    /// `END`: the session ends.
    End,
    /// `STREAM` (the old second-port stream), `DETSTATS`, `DETSTATSCLEAR`: known names with
    /// nothing behind them (clamd 1.x closes without a reply for the last two).
    Obsolete(&'static str),
    /// Anything else, a missing argument, trailing bytes, or an old-form command that only
    /// exists in the `z`/`n` forms.
    Unknown,
}

/// The command table in clamd's order: name, takes an argument, allowed in the old form.
/// `VERSIONCOMMANDS` precedes `VERSION` and `DETSTATSCLEAR` precedes `DETSTATS` (prefixes).
const TABLE: [(&str, bool, bool); 18] = [
    ("SCAN", true, true),
    ("QUIT", false, true),
    ("RELOAD", false, true),
    ("PING", false, true),
    ("CONTSCAN", true, true),
    ("VERSIONCOMMANDS", false, false),
    ("VERSION", false, true),
    ("STREAM", false, true),
    ("END", false, false),
    ("SHUTDOWN", false, true),
    ("MULTISCAN", true, true),
    ("FILDES", false, true),
    ("STATS", false, false),
    ("IDSESSION", false, false),
    ("INSTREAM", false, false),
    ("DETSTATSCLEAR", false, true),
    ("DETSTATS", false, true),
    ("ALLMATCHSCAN", true, false),
];

/// The names `VERSIONCOMMANDS` lists, as clamd 1.4 does.
pub const COMMAND_NAMES: &str = "SCAN QUIT RELOAD PING CONTSCAN VERSIONCOMMANDS VERSION END \
     SHUTDOWN MULTISCAN FILDES STATS IDSESSION INSTREAM DETSTATSCLEAR DETSTATS ALLMATCHSCAN";

/// Parses a command line (without prefix and terminator) as clamd's `parse_command` does.
pub fn parse_command(line: &[u8], old_form: bool) -> Command {
    for (name, needs_arg, old_ok) in TABLE {
        let Some(rest) = line.strip_prefix(name.as_bytes()) else {
            continue;
        };
        if needs_arg {
            if rest.is_empty() {
                return Command::Unknown;
            }
        } else if !rest.is_empty() {
            return Command::Unknown;
        }
        if old_form && !old_ok {
            return Command::Unknown;
        }
        let arg = || rest[1..].to_vec();
        return match name {
            "SCAN" => Command::Scan(arg()),
            "CONTSCAN" => Command::ContScan(arg()),
            "MULTISCAN" => Command::MultiScan(arg()),
            "ALLMATCHSCAN" => Command::AllMatchScan(arg()),
            "QUIT" | "SHUTDOWN" => Command::Shutdown,
            "RELOAD" => Command::Reload,
            "PING" => Command::Ping,
            "VERSIONCOMMANDS" => Command::VersionCommands,
            "VERSION" => Command::Version,
            "END" => Command::End,
            "FILDES" => Command::Fildes,
            "STATS" => Command::Stats,
            "IDSESSION" => Command::IdSession,
            "INSTREAM" => Command::InStream,
            other => Command::Obsolete(other),
        };
    }
    Command::Unknown
}

/// One command as received: what, how its replies end, its number in a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command.
    pub command: Command,
    /// The byte ending each reply: NUL for `z`, newline for `n` and the old form.
    pub term: u8,
    /// The command's number inside an IDSESSION.
    pub id: Option<u32>,
}

impl Request {
    /// One reply line: `N: ` in a session, the text, the terminator.
    pub fn reply(&self, text: &str) -> Vec<u8> {
        let mut out = match self.id {
            Some(n) => format!("{n}: {text}").into_bytes(),
            None => text.as_bytes().to_vec(),
        };
        out.push(self.term);
        out
    }
}

/// What the parser found in the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command.
    Request(Request),
    /// Stream bytes of the INSTREAM in progress (a chunk, or part of one).
    Data(Bytes),
    /// The zero-length chunk: the stream is complete.
    StreamEnd,
    /// A chunk would pass StreamMaxLength: reply clamd's error and close.
    StreamTooLarge,
    /// The byte after FILDES arrived (its descriptor, if any, came with it).
    FdByte,
    /// A command line longer than [`MAX_COMMAND`], or a session command in the old form.
    Garbage,
}

/// Where the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading a command.
    Command,
    /// Reading a chunk length (`None`) or `left` bytes of a chunk.
    Stream { left: Option<u32> },
    /// Waiting for the FILDES byte.
    FdByte,
    /// After an error: nothing more is read.
    Closed,
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Parser {
    buf: BytesMut,
    mode: Mode,
    /// The last command number given in an IDSESSION.
    session: Option<u32>,
    max_stream: u64,
    quota: u64,
}

impl Parser {
    /// A parser for a new connection; `max_stream` is StreamMaxLength.
    pub fn new(max_stream: u64) -> Self {
        Self {
            buf: BytesMut::new(),
            mode: Mode::Command,
            session: None,
            max_stream,
            quota: max_stream,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        if self.mode != Mode::Closed {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes received and not yet parsed (bounded: at most one command line, or one read).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// True inside an IDSESSION.
    pub fn in_session(&self) -> bool {
        self.session.is_some()
    }

    /// True while an INSTREAM's chunks are being read.
    pub fn in_stream(&self) -> bool {
        matches!(self.mode, Mode::Stream { .. })
    }

    /// Ends the session (after `END`, or a command refused inside it).
    pub fn end_session(&mut self) {
        self.session = None;
    }

    /// The next event, or `None` until more bytes come.
    pub fn next_event(&mut self) -> Option<Event> {
        match self.mode {
            Mode::Closed => None,
            Mode::FdByte => {
                if self.buf.is_empty() {
                    return None;
                }
                self.buf.advance(1);
                self.mode = Mode::Command;
                Some(Event::FdByte)
            }
            Mode::Stream { left: None } => {
                if self.buf.len() < 4 {
                    return None;
                }
                let n = self.buf.get_u32();
                if n == 0 {
                    self.mode = Mode::Command;
                    return Some(Event::StreamEnd);
                }
                if u64::from(n) > self.quota {
                    self.mode = Mode::Closed;
                    self.buf.clear();
                    return Some(Event::StreamTooLarge);
                }
                self.quota -= u64::from(n);
                self.mode = Mode::Stream { left: Some(n) };
                self.next_event()
            }
            Mode::Stream { left: Some(left) } => {
                if self.buf.is_empty() {
                    return None;
                }
                let take = self.buf.len().min(left as usize);
                let data = self.buf.split_to(take).freeze();
                let rest = left - take as u32;
                self.mode = Mode::Stream {
                    left: (rest > 0).then_some(rest),
                };
                Some(Event::Data(data))
            }
            Mode::Command => self.command(),
        }
    }

    fn command(&mut self) -> Option<Event> {
        let first = *self.buf.first()?;
        let (term, skip, old) = match first {
            b'z' => (0u8, 1, false),
            b'n' => (b'\n', 1, false),
            _ => (b'\n', 0, true),
        };
        let Some(end) = self.buf[skip..].iter().position(|&b| b == term) else {
            if self.buf.len() > MAX_COMMAND {
                self.mode = Mode::Closed;
                self.buf.clear();
                return Some(Event::Garbage);
            }
            return None;
        };
        let line = self.buf.split_to(skip + end + 1);
        let mut text = &line[skip..skip + end];
        if term == b'\n' {
            // clamd chomps newline-ended commands (a CR before the newline goes too).
            while let [rest @ .., b'\r' | b'\n'] = text {
                text = rest;
            }
        }
        if old && self.session.is_some() {
            self.mode = Mode::Closed;
            return Some(Event::Garbage);
        }
        let command = parse_command(text, old);
        let id = self.session.map(|n| n + 1);
        if let Some(n) = id {
            self.session = Some(n);
        }
        match command {
            Command::InStream => {
                self.quota = self.max_stream;
                self.mode = Mode::Stream { left: None };
            }
            Command::Fildes => self.mode = Mode::FdByte,
            Command::IdSession if self.session.is_none() => self.session = Some(0),
            _ => {}
        }
        Some(Event::Request(Request { command, term, id }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8], max: u64) -> Vec<Event> {
        let mut p = Parser::new(max);
        p.push(input);
        std::iter::from_fn(|| p.next_event()).collect()
    }

    fn req(command: Command, term: u8, id: Option<u32>) -> Event {
        Event::Request(Request { command, term, id })
    }

    #[test]
    fn command_table() {
        let cases: &[(&[u8], bool, Command)] = &[
            (b"PING", false, Command::Ping),
            (b"PING", true, Command::Ping),
            (b"PINGX", false, Command::Unknown),
            (b"VERSION", false, Command::Version),
            (b"VERSIONCOMMANDS", false, Command::VersionCommands),
            (b"VERSIONCOMMANDS", true, Command::Unknown),
            (b"SCAN /tmp/x", true, Command::Scan(b"/tmp/x".to_vec())),
            (b"SCAN", false, Command::Unknown),
            (b"CONTSCAN /a b", false, Command::ContScan(b"/a b".to_vec())),
            (b"MULTISCAN /d", false, Command::MultiScan(b"/d".to_vec())),
            (
                b"ALLMATCHSCAN /f",
                false,
                Command::AllMatchScan(b"/f".to_vec()),
            ),
            (b"ALLMATCHSCAN /f", true, Command::Unknown),
            (b"INSTREAM", false, Command::InStream),
            (b"INSTREAM", true, Command::Unknown),
            (b"FILDES", true, Command::Fildes),
            (b"STATS", false, Command::Stats),
            (b"IDSESSION", false, Command::IdSession),
            (b"END", false, Command::End),
            (b"QUIT", true, Command::Shutdown),
            (b"SHUTDOWN", false, Command::Shutdown),
            (b"RELOAD", false, Command::Reload),
            (b"DETSTATS", false, Command::Obsolete("DETSTATS")),
            (b"HELLO", false, Command::Unknown),
            (b"", false, Command::Unknown),
            (b"ping", false, Command::Unknown),
        ];
        for (line, old, want) in cases {
            assert_eq!(
                &parse_command(line, *old),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn forms_and_terminators() {
        assert_eq!(events(b"zPING\0", 10), vec![req(Command::Ping, 0, None)]);
        assert_eq!(
            events(b"nPING\n", 10),
            vec![req(Command::Ping, b'\n', None)]
        );
        assert_eq!(
            events(b"PING\r\n", 10),
            vec![req(Command::Ping, b'\n', None)]
        );
        // Incomplete: nothing yet.
        assert_eq!(events(b"zPIN", 10), vec![]);
        assert_eq!(events(b"nSTATS", 10), vec![]);
        // The old form of a z/n-only command.
        assert_eq!(
            events(b"STATS\n", 10),
            vec![req(Command::Unknown, b'\n', None)]
        );
    }

    #[test]
    fn instream_chunks_and_limit() {
        let mut input = b"zINSTREAM\0".to_vec();
        input.extend_from_slice(&3u32.to_be_bytes());
        input.extend_from_slice(b"abc");
        input.extend_from_slice(&2u32.to_be_bytes());
        input.extend_from_slice(b"de");
        input.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(
            events(&input, 5),
            vec![
                req(Command::InStream, 0, None),
                Event::Data(Bytes::from_static(b"abc")),
                Event::Data(Bytes::from_static(b"de")),
                Event::StreamEnd,
            ]
        );
        // One byte more than StreamMaxLength.
        let mut over = b"zINSTREAM\0".to_vec();
        over.extend_from_slice(&3u32.to_be_bytes());
        over.extend_from_slice(b"abc");
        over.extend_from_slice(&3u32.to_be_bytes());
        over.extend_from_slice(b"def");
        assert_eq!(
            events(&over, 5),
            vec![
                req(Command::InStream, 0, None),
                Event::Data(Bytes::from_static(b"abc")),
                Event::StreamTooLarge,
            ]
        );
        // A truncated length waits for more (the driver's timeout or EOF ends it).
        let mut cut = b"zINSTREAM\0".to_vec();
        cut.extend_from_slice(&[0, 0]);
        assert_eq!(events(&cut, 5), vec![req(Command::InStream, 0, None)]);
    }

    #[test]
    fn partial_chunks_come_out_as_they_arrive() {
        let mut p = Parser::new(100);
        p.push(b"zINSTREAM\0\0\0\0\x0aabcd");
        assert_eq!(p.next_event(), Some(req(Command::InStream, 0, None)));
        assert_eq!(
            p.next_event(),
            Some(Event::Data(Bytes::from_static(b"abcd")))
        );
        assert_eq!(p.next_event(), None);
        assert_eq!(p.buffered(), 0);
        p.push(b"efghij\0\0\0\0");
        assert_eq!(
            p.next_event(),
            Some(Event::Data(Bytes::from_static(b"efghij")))
        );
        assert_eq!(p.next_event(), Some(Event::StreamEnd));
    }

    #[test]
    fn sessions_number_their_commands() {
        let mut input = b"zIDSESSION\0zPING\0zINSTREAM\0".to_vec();
        input.extend_from_slice(&0u32.to_be_bytes());
        input.extend_from_slice(b"zFILDES\0\0zEND\0");
        assert_eq!(
            events(&input, 10),
            vec![
                req(Command::IdSession, 0, None),
                req(Command::Ping, 0, Some(1)),
                req(Command::InStream, 0, Some(2)),
                Event::StreamEnd,
                req(Command::Fildes, 0, Some(3)),
                Event::FdByte,
                req(Command::End, 0, Some(4)),
            ]
        );
        assert_eq!(
            events(b"zIDSESSION\0PING\n", 10),
            vec![req(Command::IdSession, 0, None), Event::Garbage]
        );
    }

    #[test]
    fn overlong_lines_are_garbage() {
        let long = vec![b'A'; MAX_COMMAND + 2];
        assert_eq!(events(&long, 10), vec![Event::Garbage]);
    }

    /// Events with the stream bytes joined (Data boundaries depend on how bytes arrive).
    fn normalised(events: Vec<Event>) -> (Vec<Event>, Vec<u8>) {
        let mut data = Vec::new();
        let mut rest = Vec::new();
        for e in events {
            match e {
                Event::Data(b) => data.extend_from_slice(&b),
                other => rest.push(other),
            }
        }
        (rest, data)
    }

    proptest::proptest! {
        #[test]
        fn any_split_gives_the_same_events(
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            chunk in 1usize..700,
            cuts in proptest::collection::vec(1usize..400, 1..20),
        ) {
            let mut input = b"zIDSESSION\0nPING\n".to_vec();
            input.extend(instream_bytes(b"zINSTREAM\0", &payload, chunk));
            input.extend_from_slice(b"zFILDES\0\0zEND\0");
            let whole = normalised(events(&input, 1 << 20));
            let mut p = Parser::new(1 << 20);
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= input.len() {
                    break;
                }
                let end = (at + c).min(input.len());
                p.push(&input[at..end]);
                at = end;
                while let Some(e) = p.next_event() {
                    got.push(e);
                }
                proptest::prop_assert!(p.buffered() <= 400 + MAX_COMMAND);
            }
            proptest::prop_assert_eq!(normalised(got), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            input in proptest::collection::vec(proptest::num::u8::ANY, 0..20000),
        ) {
            let mut p = Parser::new(1000);
            for piece in input.chunks(997) {
                p.push(piece);
                while p.next_event().is_some() {}
                proptest::prop_assert!(p.buffered() <= 997 + MAX_COMMAND);
            }
        }
    }

    fn instream_bytes(prefix: &[u8], data: &[u8], chunk: usize) -> Vec<u8> {
        let mut v = prefix.to_vec();
        for c in data.chunks(chunk) {
            v.extend_from_slice(&(c.len() as u32).to_be_bytes());
            v.extend_from_slice(c);
        }
        v.extend_from_slice(&0u32.to_be_bytes());
        v
    }

    #[test]
    fn replies() {
        let r = Request {
            command: Command::Ping,
            term: 0,
            id: Some(3),
        };
        assert_eq!(r.reply("PONG"), b"3: PONG\0");
        let r = Request {
            command: Command::Ping,
            term: b'\n',
            id: None,
        };
        assert_eq!(r.reply("stream: OK"), b"stream: OK\n");
    }
}
