//! Logical expressions of `.ldb` signatures: `& | ( )` over subsignature indexes, with counts
//! `=n`, `>n`, `<n` and the distinct-subsignature minimum `,m`.

/// A comparison on a match count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Cmp {
    /// `=n`
    Eq,
    /// `>n`
    Gt,
    /// `<n`
    Lt,
}

/// A logical expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Expr {
    /// Subsignature `n` matched at least once.
    Sub(u8),
    /// All of them.
    And(Vec<Expr>),
    /// Any of them.
    Or(Vec<Expr>),
    /// A count condition on the matches of the inner expression's subsignatures.
    Count {
        /// The counted expression.
        inner: Box<Expr>,
        /// The comparison.
        cmp: Cmp,
        /// Its operand.
        n: u32,
        /// Minimum number of distinct subsignatures matched.
        distinct: Option<u32>,
    },
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn num(&mut self) -> Result<u32, &'static str> {
        let st = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[st..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or("malformed logical expression")
    }
    fn or(&mut self) -> Result<Expr, &'static str> {
        let mut v = vec![self.and()?];
        while self.peek() == Some(b'|') {
            self.i += 1;
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, &'static str> {
        let mut v = vec![self.unary()?];
        while self.peek() == Some(b'&') {
            self.i += 1;
            v.push(self.unary()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }
    fn unary(&mut self) -> Result<Expr, &'static str> {
        let prim = if self.peek() == Some(b'(') {
            self.i += 1;
            let e = self.or()?;
            if self.peek() != Some(b')') {
                return Err("malformed logical expression");
            }
            self.i += 1;
            e
        } else {
            let n = self.num()?;
            Expr::Sub(u8::try_from(n).map_err(|_| "subsignature index too large")?)
        };
        let leaf = matches!(prim, Expr::Sub(_));
        let cmp_of = |c: Option<u8>| match c {
            Some(b'=') => Some(Cmp::Eq),
            Some(b'>') => Some(Cmp::Gt),
            Some(b'<') => Some(Cmp::Lt),
            _ => None,
        };
        let Some(mut cmp) = cmp_of(self.peek()) else {
            return Ok(prim);
        };
        self.i += 1;
        // ClamAV reads a subsignature's comparison from the last of its comparison characters
        // (`8==9` is `8=9`; main.ldb has one).
        if leaf {
            while let Some(c) = cmp_of(self.peek()) {
                cmp = c;
                self.i += 1;
            }
        }
        let n = self.num()?;
        // `,m` (distinct subsignatures) counts only after a group; ClamAV ignores it, and an
        // empty one, after a single subsignature (main.ldb has `0=2,&1&2`).
        let distinct = if self.peek() == Some(b',') {
            self.i += 1;
            let digits = self.s[self.i..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 || leaf {
                self.i += digits;
                None
            } else {
                Some(self.num()?)
            }
        } else {
            None
        };
        Ok(Expr::Count {
            inner: Box::new(prim),
            cmp,
            n,
            distinct,
        })
    }
}

/// Parses a logical expression.
pub fn parse(s: &str) -> Result<Expr, &'static str> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let mut p = P {
        s: s.as_bytes(),
        i: 0,
    };
    let e = p.or()?;
    if p.i != p.s.len() {
        return Err("malformed logical expression");
    }
    Ok(e)
}

impl Expr {
    /// The largest subsignature index used.
    pub fn max_sub(&self) -> u8 {
        match self {
            Expr::Sub(n) => *n,
            Expr::And(v) | Expr::Or(v) => v.iter().map(Expr::max_sub).max().unwrap_or(0),
            Expr::Count { inner, .. } => inner.max_sub(),
        }
    }

    /// Raises `out[k]` to the count of subsignature `k` past which more matches cannot change
    /// this expression's value: 1 where it is only tested for a match, `n + 1` under a count
    /// comparison with `n`.
    pub fn saturation(&self, out: &mut [u32]) {
        self.saturation_under(0, out);
    }

    fn saturation_under(&self, floor: u32, out: &mut [u32]) {
        match self {
            Expr::Sub(k) => {
                if let Some(o) = out.get_mut(*k as usize) {
                    *o = (*o).max(floor.max(1));
                }
            }
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.saturation_under(floor, out)),
            Expr::Count { inner, n, .. } => {
                inner.saturation_under(floor.max(n.saturating_add(1)), out)
            }
        }
    }

    /// True when more matches can never turn the expression false (no `=` or `<`), so it may be
    /// evaluated early.
    pub fn monotone(&self) -> bool {
        match self {
            Expr::Sub(_) => true,
            Expr::And(v) | Expr::Or(v) => v.iter().all(Expr::monotone),
            Expr::Count { inner, cmp, .. } => *cmp == Cmp::Gt && inner.monotone(),
        }
    }

    fn sum(&self, counts: &[u32]) -> (u64, u32) {
        match self {
            Expr::Sub(n) => {
                let c = counts.get(*n as usize).copied().unwrap_or(0);
                (u64::from(c), u32::from(c > 0))
            }
            Expr::And(v) | Expr::Or(v) => v.iter().fold((0, 0), |(a, b), e| {
                let (x, y) = e.sum(counts);
                (a + x, b + y)
            }),
            Expr::Count { inner, .. } => inner.sum(counts),
        }
    }

    /// Evaluates with per-subsignature match counts.
    pub fn eval(&self, counts: &[u32]) -> bool {
        match self {
            Expr::Sub(n) => counts.get(*n as usize).copied().unwrap_or(0) > 0,
            Expr::And(v) => v.iter().all(|e| e.eval(counts)),
            Expr::Or(v) => v.iter().any(|e| e.eval(counts)),
            Expr::Count {
                inner,
                cmp,
                n,
                distinct,
            } => {
                let (total, uniq) = inner.sum(counts);
                let n = u64::from(*n);
                let ok = match cmp {
                    Cmp::Eq => total == n,
                    Cmp::Gt => total > n,
                    Cmp::Lt => total < n,
                };
                ok && distinct.is_none_or(|d| uniq >= d)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_eval() {
        let e = parse("0&1&2").unwrap();
        assert!(e.eval(&[1, 1, 1]));
        assert!(!e.eval(&[1, 0, 1]));
        let e = parse("(0|1)&2").unwrap();
        assert!(e.eval(&[0, 1, 1]));
        assert!(!e.eval(&[1, 1, 0]));
        let e = parse("0&1>50").unwrap();
        assert!(e.eval(&[1, 51]));
        assert!(!e.eval(&[1, 50]));
        let e = parse("0=0&1").unwrap();
        assert!(e.eval(&[0, 1]));
        assert!(!e.eval(&[1, 1]));
        assert!(!e.monotone());
        let e = parse("(0|1|2)>3,2").unwrap();
        assert!(e.eval(&[3, 1, 0]));
        assert!(!e.eval(&[4, 0, 0]));
        let e = parse("0=2,1").unwrap();
        assert!(e.eval(&[2]));
        let e = parse("(0|1)<2").unwrap();
        assert!(e.eval(&[1, 0]));
        assert!(!e.eval(&[1, 1]));
        assert_eq!(parse("(0|1)&(2|3)").unwrap().max_sub(), 3);
        let mut sat = [0; 4];
        parse("0&(1|2>5)&(3=2)").unwrap().saturation(&mut sat);
        assert_eq!(sat, [1, 1, 6, 3]);
        let mut sat = [0; 3];
        parse("((0|1)>3,2)&0").unwrap().saturation(&mut sat);
        assert_eq!(sat, [4, 4, 0]);
        // ClamAV's readings of main.ldb's unusual lines.
        assert_eq!(parse("8==9").unwrap(), parse("8=9").unwrap());
        assert_eq!(parse("0=2,&1&2").unwrap(), parse("0=2&1&2").unwrap());
        assert_eq!(parse("0>2,1").unwrap(), parse("0>2").unwrap());
        assert_eq!(parse("(0|1)>2,").unwrap(), parse("(0|1)>2").unwrap());
        assert!(parse("(0|1)==2").is_err());
        assert!(parse("0&").is_err());
        assert!(parse("(0|1").is_err());
    }
}
