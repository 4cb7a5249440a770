use super::*;

fn find(sig: &str, data: &[u8]) -> bool {
    let p = parse(sig).unwrap();
    find_pattern(&p, data, false)
}

/// Reference search: every start position, parts chained leftmost.
pub(crate) fn find_pattern(p: &Pattern, data: &[u8], nocase: bool) -> bool {
    let w = Window {
        data,
        at_start: true,
        at_end: true,
    };
    let mut from = 0usize;
    let mut prev_end: Option<usize> = None;
    for (i, part) in p.parts.iter().enumerate() {
        let (lo, hi) = match (i, prev_end) {
            (0, _) => (0, data.len()),
            (_, Some(e)) => {
                let (min, max) = p.gaps[i - 1];
                (
                    e + min as usize,
                    max.map_or(data.len(), |m| (e + m as usize).min(data.len())),
                )
            }
            _ => unreachable!(),
        };
        let mut found = None;
        for s in lo.max(from)..=hi {
            if let Some(e) = match_part_at(part, w, s, nocase) {
                found = Some(e);
                break;
            }
        }
        match found {
            Some(e) => {
                prev_end = Some(e);
                from = e;
            }
            None => return false,
        }
    }
    true
}

#[test]
fn literal_and_wildcards() {
    assert!(find("41424344", b"xxABCDyy"));
    assert!(!find("41424344", b"xxABCEyy"));
    assert!(find("41??4344", b"AzCD"));
    assert!(find("41?24344", b"A\x12CD"));
    assert!(!find("41?24344", b"A\x13CD"));
    assert!(find("414?4344", b"A\x4fCD"));
    assert!(!find("414?4344", b"A\x5fCD"));
}

#[test]
fn gaps() {
    assert!(find("4142{2}4344", b"ABxxCD"));
    assert!(!find("4142{2}4344", b"ABxCD"));
    assert!(find("4142{1-3}4344", b"ABxxxCD"));
    assert!(!find("4142{1-3}4344", b"ABxxxxCD"));
    assert!(find("4142{-2}4344", b"ABCD"));
    assert!(find("4142{3-}4344", b"ABxxxxxxxxxxxxCD"));
    assert!(!find("4142{3-}4344", b"ABxxCD"));
    assert!(find("4142*4344", b"AB...........................CD"));
    assert!(!find("4142*4344", b"CD...AB"));
    assert!(find("41[1-2]4243", b"AxBC"));
    assert!(!find("41[1-2]4243", b"AxxxBC"));
    let p = parse("4142{200-300}4344").unwrap();
    assert_eq!(p.parts.len(), 2);
    assert_eq!(p.gaps, vec![(200, Some(300))]);
    let mut d = b"AB".to_vec();
    d.extend(vec![b'.'; 250]);
    d.extend(b"CD");
    assert!(find_pattern(&p, &d, false));
    let mut d = b"AB".to_vec();
    d.extend(vec![b'.'; 350]);
    d.extend(b"CD");
    assert!(!find_pattern(&p, &d, false));
}

#[test]
fn alternatives() {
    assert!(find("41(42|43)44", b"ACD"));
    assert!(!find("41(42|43)44", b"AED"));
    assert!(find("41!(42|43)44", b"AED"));
    assert!(!find("41!(42|43)44", b"ABD"));
    assert!(find("41(4242|4343)44", b"ACCD"));
    assert!(!find("41!(4242|4343)44", b"ACCD"));
    assert!(find("41!(4242|4343)44", b"AXXD"));
    assert!(find("41(42|4343??)44", b"ACCxD"));
    assert!(find("41(42|4343??)44", b"ABD"));
    assert!(parse("41!(42|4343)44").is_err());
}

#[test]
fn boundaries() {
    assert!(find("(B)616263(B)", b"x abc y"));
    assert!(!find("(B)616263(B)", b"xabc y"));
    assert!(find("(B)616263", b"abc"));
    assert!(find("616263(L)", b"abc\r\n"));
    assert!(find("616263(L)", b"abc"));
    assert!(!find("616263(L)", b"abcd"));
    assert!(!find("61(W)62", b"ab"));
}

#[test]
fn errors() {
    assert!(parse("414").is_err());
    assert!(parse("41zz").is_err());
    assert!(parse("41{3-1}42").is_err());
    assert!(parse("41(42").is_err());
}

#[test]
fn wide() {
    let p = widen(&parse("414243").unwrap());
    assert!(find_pattern(&p, b"A\0B\0C\0", false));
    assert!(!find_pattern(&p, b"ABC", false));
}

#[test]
fn nocase() {
    let p = parse("616263").unwrap();
    assert!(find_pattern(&p, b"xABC", true));
    assert!(!find_pattern(&p, b"xABC", false));
}

#[test]
fn split_verification() {
    let p = parse("41{1-3}42434445??46").unwrap();
    let part = &p.parts[0];
    // atom = 42434445: element 2, the whole literal
    let sp = Split::new(part, 2, 0, 4);
    assert_eq!(sp.atom(part), b"BCDE");
    let data = b"zzAxxBCDExFzz";
    let w = Window {
        data,
        at_start: true,
        at_end: true,
    };
    assert_eq!(verify_split(part, &sp, w, 5, 9, false), Some((2, 11)));
    let data = b"zzAxxxxBCDExFzz";
    let w = Window {
        data,
        at_start: true,
        at_end: true,
    };
    assert_eq!(verify_split(part, &sp, w, 7, 11, false), None);
}
