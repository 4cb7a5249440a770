//! ClamAV 1.4's JavaScript normaliser, reproduced from its behaviour: the third view of an HTML
//! page (ClamAV's temp file `javascript`), which target 3 signatures such as `var n000=` are
//! written against.
//!
//! The HTML normaliser ([`mod@super::html`]) feeds it each `<script>`'s bytes as ClamAV does: from
//! the first non-blank byte after `<script …>` to the end of each 8,191-byte chunk, then up to
//! the first non-blank byte after `</script>` (so `</script>` itself is tokenized too). For each
//! script the view gets `<script>`, the normalised tokens and `</script>` (unless the tokens
//! already end with it), scripts separated by `\n`.
//!
//! What ClamAV does to a script, and so this module:
//! * tokenize it ([`lexer`]), keeping the tokenizer's state from chunk to chunk;
//! * track function scopes and declarations: identifiers declared with `var`, function names
//!   and parameters are renamed `n000`, `n001`… (a per-script counter; a name declared twice in
//!   a scope takes its last number everywhere), other identifiers and member names after `.`
//!   are kept; adjacent string literals joined by `+` are folded into one;
//! * at the end, close an unfinished string and unbalanced `(`, fold `unescape("…")` of a
//!   constant, then decode `eval("…")` of a constant, scriptasylum's `dF('…')` and Dean
//!   Edwards' packer (`eval(function(p,a,c,k,e,r|d){…}(…))`) by normalising the decoded text
//!   in their place ([`decode`]);
//! * write the tokens lower-cased, white space as spaces, strings in `"` with their escapes
//!   decoded, numbers as C prints them, one space only between two alphanumeric bytes
//!   ([`output`]).
//!
//! Bounded: at most [`MAX_TOKENS`] tokens are kept per script, [`MAX_DECODED`] bytes of decoded
//! text (plus 8 times the script's size) and [`MAX_PACKED`] packer decodings are normalised;
//! beyond them, the rest of the script is left out and what ClamAV would still decode is kept
//! as written (only scripts of several megabytes or hostile ones reach them). No recursion; the work is
//! linear in the script and its decoded text, save the packer search (bounded by
//! [`MAX_PACKED`]) and scope look-ups ([`MAX_SCOPE_DEPTH`]).

mod decode;
mod lexer;
mod output;

use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;

use lexer::{Input, LexState, Lexer};

/// Decoded text normalised per script, besides 8 times the script's size.
pub const MAX_DECODED: usize = 4 << 20;

/// Packer decodings per script.
pub const MAX_PACKED: usize = 64;

/// Tokens kept per script (about 40 bytes each, besides names and strings): the rest of a
/// larger script is not read.
pub const MAX_TOKENS: usize = 1 << 21;

/// Scopes walked up to find a declaration when writing an identifier.
pub const MAX_SCOPE_DEPTH: usize = 256;

/// The kinds of token the normaliser tells apart.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    /// An identifier looked up in the scopes (renamed when declared).
    Ident,
    /// A member name after `.` (never renamed).
    Member,
    Str,
    Int,
    Float,
    /// `function`, or the marker of a function's end (not written).
    Function,
    Var,
    ParOpen,
    ParClose,
    CurlyOpen,
    CurlyClose,
    BracketOpen,
    BracketClose,
    Comma,
    Semicolon,
    Dot,
    Plus,
    /// Other keywords and operators.
    Other,
}

/// A token's value.
#[derive(Clone, Debug)]
pub(super) enum Val {
    None,
    /// A keyword's or operator's text.
    Static(&'static str),
    /// An identifier's name.
    Name(Rc<[u8]>),
    /// A string's decoded bytes or a member name (`None` once taken by `eval`).
    Str(Option<Vec<u8>>),
    /// `function`'s scope, `None` for the end marker.
    Scope(Option<usize>),
    Int(i64),
    Float(f64),
}

/// One token.
#[derive(Clone, Debug)]
pub(super) struct Token {
    kind: Kind,
    val: Val,
}

impl Token {
    /// The token's text as ClamAV's `cstring` accessor gives it (strings, names, keywords and
    /// operators).
    fn text(&self) -> Option<&[u8]> {
        match &self.val {
            Val::Static(s) => Some(s.as_bytes()),
            Val::Name(n) => Some(n),
            Val::Str(s) => s.as_deref(),
            _ => None,
        }
    }

    /// An owned string's bytes (ClamAV's `string` accessor: strings and member names).
    fn string(&self) -> Option<&[u8]> {
        match &self.val {
            Val::Str(s) => s.as_deref(),
            _ => None,
        }
    }

    fn is_ident(&self, name: &[u8]) -> bool {
        self.kind == Kind::Ident && self.text() == Some(name)
    }
}

/// Where the declaration tracker is within a scope.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fsm {
    Base,
    InsideVar,
    InsideInitializer,
    WaitFunctionName,
    WaitParameterList,
    InsideFunctionDecl,
}

/// A function scope (or the global one): its names, `None` for those used but not declared.
struct Scope {
    names: HashMap<Rc<[u8]>, Option<u64>>,
    parent: Option<usize>,
    fsm: Fsm,
    last: Option<Kind>,
    brackets: u32,
    blocks: u32,
}

impl Scope {
    fn new(parent: Option<usize>) -> Self {
        Scope {
            names: HashMap::default(),
            parent,
            fsm: Fsm::Base,
            last: None,
            brackets: 0,
            blocks: 0,
        }
    }
}

/// One script being normalised.
pub(super) struct Script {
    lexer: Lexer,
    scopes: Vec<Scope>,
    current: usize,
    tokens: Vec<Token>,
    next_id: u64,
    /// Bytes fed so far (for the decoding budget).
    fed: usize,
}

impl Script {
    pub(super) fn new() -> Self {
        Script {
            lexer: Lexer::new(),
            scopes: vec![Scope::new(None)],
            current: 0,
            tokens: Vec::new(),
            next_id: 0,
            fed: 0,
        }
    }

    /// Feeds one piece of the script (a chunk, or its part inside the script).
    pub(super) fn feed(&mut self, data: &[u8]) {
        if self.tokens.len() >= MAX_TOKENS {
            return;
        }
        self.fed += data.len();
        let mut tokens = std::mem::take(&mut self.tokens);
        self.parse(data, &mut tokens);
        self.tokens = tokens;
    }

    /// Ends the script and appends its normalised form to `view` (after a `\n` when `view`
    /// already holds a script).
    pub(super) fn finish(mut self, view: &mut Vec<u8>) {
        let end = match self.lexer.state {
            LexState::DqString => Some(b'"'),
            LexState::SqString => Some(b'\''),
            _ => None,
        };
        if let Some(q) = end {
            self.feed(&[q]);
        }
        let mut open = 0usize;
        for t in &self.tokens {
            match t.kind {
                Kind::ParOpen => open += 1,
                Kind::ParClose => open = open.saturating_sub(1),
                _ => {}
            }
        }
        for _ in 0..open {
            self.tokens.push(Token {
                kind: Kind::ParClose,
                val: Val::Static(")"),
            });
        }
        decode::fold_unescape(&mut self.tokens);
        self.run_decoders();
        output::write(&self.tokens, &self.scopes, view);
    }

    /// Declares `name` in scope `s` with the next number.
    fn declare(&mut self, s: usize, name: &Rc<[u8]>) {
        let id = self.next_id;
        self.next_id += 1;
        self.scopes[s].names.insert(name.clone(), Some(id));
    }

    /// Tokenizes `data` and tracks scopes, appending the tokens to `tokens`.
    fn parse(&mut self, data: &[u8], tokens: &mut Vec<Token>) {
        let mut inp = Input::new(data);
        let mut cur = self.current;
        while let Some((kind, val)) = self.lexer.next(&mut inp) {
            let mut tok = Token { kind, val };
            match kind {
                Kind::Var => self.scopes[cur].fsm = Fsm::InsideVar,
                Kind::Ident => {
                    let Val::Name(name) = &tok.val else {
                        continue;
                    };
                    let name = name.clone();
                    if self.scopes[cur].last == Some(Kind::Dot) {
                        tok = Token {
                            kind: Kind::Member,
                            val: Val::Str(Some(name.to_vec())),
                        };
                    } else {
                        match self.scopes[cur].fsm {
                            Fsm::WaitParameterList | Fsm::Base | Fsm::InsideInitializer => {
                                self.scopes[cur].names.entry(name).or_insert(None);
                            }
                            Fsm::InsideVar | Fsm::InsideFunctionDecl => {
                                self.declare(cur, &name);
                                let s = &mut self.scopes[cur];
                                s.fsm = Fsm::InsideInitializer;
                                s.brackets = 0;
                            }
                            Fsm::WaitFunctionName => {
                                self.declare(cur, &name);
                                self.scopes[cur].fsm = Fsm::WaitParameterList;
                            }
                        }
                    }
                }
                Kind::ParOpen => {
                    let s = &mut self.scopes[cur];
                    if matches!(s.fsm, Fsm::WaitFunctionName | Fsm::WaitParameterList) {
                        s.fsm = Fsm::InsideFunctionDecl;
                    }
                }
                Kind::ParClose => {
                    let s = &mut self.scopes[cur];
                    if s.fsm == Fsm::WaitParameterList {
                        s.fsm = Fsm::Base;
                    }
                }
                Kind::CurlyOpen => {
                    let s = &mut self.scopes[cur];
                    if matches!(
                        s.fsm,
                        Fsm::WaitFunctionName | Fsm::WaitParameterList | Fsm::InsideFunctionDecl
                    ) {
                        s.fsm = Fsm::Base;
                    }
                    s.blocks += 1;
                }
                Kind::CurlyClose => {
                    let s = &mut self.scopes[cur];
                    s.blocks = s.blocks.saturating_sub(1);
                    if s.blocks == 0 {
                        if let Some(parent) = s.parent {
                            // `}` then the marker of the function's end.
                            tokens.push(tok);
                            tok = Token {
                                kind: Kind::Function,
                                val: Val::Scope(None),
                            };
                            cur = parent;
                            self.current = cur;
                        }
                    }
                }
                Kind::BracketOpen => self.scopes[cur].brackets += 1,
                Kind::BracketClose => {
                    let s = &mut self.scopes[cur];
                    s.brackets = s.brackets.saturating_sub(1);
                }
                Kind::Comma => {
                    let s = &mut self.scopes[cur];
                    if s.fsm == Fsm::InsideInitializer && s.brackets == 0 && s.blocks == 0 {
                        s.fsm = Fsm::InsideVar;
                    }
                }
                Kind::Semicolon => {
                    let s = &mut self.scopes[cur];
                    if s.brackets == 0 && s.blocks == 0 {
                        s.fsm = Fsm::Base;
                    }
                }
                Kind::Function => {
                    self.scopes.push(Scope::new(Some(self.current)));
                    cur = self.scopes.len() - 1;
                    self.current = cur;
                    self.scopes[cur].fsm = Fsm::WaitFunctionName;
                    tok.val = Val::Scope(Some(cur));
                }
                Kind::Str => {
                    // "a" + "b": folded into the first string.
                    let n = tokens.len();
                    if n > 1 && tokens[n - 1].kind == Kind::Plus && tokens[n - 2].kind == Kind::Str
                    {
                        tokens.pop();
                        if let (Val::Str(Some(prev)), Val::Str(Some(s))) =
                            (&mut tokens[n - 2].val, &tok.val)
                        {
                            prev.extend_from_slice(s);
                        }
                        continue;
                    }
                }
                _ => {}
            }
            tokens.push(tok);
            self.scopes[cur].last = Some(kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Script;

    fn run(script: &[u8]) -> Vec<u8> {
        let mut s = Script::new();
        for chunk in script.chunks(8191) {
            s.feed(chunk);
        }
        let mut view = Vec::new();
        s.finish(&mut view);
        view
    }

    /// Hostile scripts stay fast and bounded: many decoders, deep functions, a packer that
    /// expands a lot, random bytes.
    #[test]
    fn hostile_js_is_bounded() {
        let t = std::time::Instant::now();
        let many_evals = b"eval('eval(\"var x=1;\")');".repeat(40_000);
        assert!(run(&many_evals).len() < 2 * many_evals.len());
        let mut deep = b"function(){var a;".repeat(20_000);
        deep.extend(b"a;b;c;".repeat(20_000));
        assert!(!run(&deep).is_empty());
        let mut packed = b"eval(function(p,a,c,k,e,d){}('".to_vec();
        packed.extend(b"0 ".repeat(200_000));
        packed.extend(b"',10,1,'");
        packed.extend(vec![b'w'; 4000]);
        packed.extend(b"'.split('|'),0,{}))");
        let v = run(&packed.repeat(3));
        assert!(v.len() < 64 << 20, "{}", v.len());
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"\"'\\/*+-.(){}[];,=<>!0x9eEu%a$ \n\xc3function eval unescape dF p,a,c,"
                    [(x % 60) as usize]
            })
            .collect();
        let _ = run(&noise);
        assert!(
            t.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn numbers_as_c_prints_them() {
        use super::output::fmt_g;
        assert_eq!(fmt_g(1500.0), "1500");
        assert_eq!(fmt_g(2.5), "2.5");
        assert_eq!(fmt_g(1234567.5), "1.23457e+06");
        assert_eq!(fmt_g(0.0001), "0.0001");
        assert_eq!(fmt_g(0.00001), "1e-05");
        assert_eq!(fmt_g(100000.0), "100000");
        assert_eq!(fmt_g(999999.5), "1e+06");
        assert_eq!(fmt_g(f64::INFINITY), "inf");
    }
}
