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
            if let Some(e) = match_part_at(&part.elems, w, s, nocase) {
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

/// Markers at a subpattern's edge: zero-width checks with ClamAV 1.4's byte sets (observed
/// with clamscan 1.4.6 on binary objects; see tests/differential.rs `markers_and_alternatives`).
#[test]
fn markers_at_edges() {
    assert!(find("(B)616263(B)", b"x abc y"));
    assert!(!find("(B)616263(B)", b"xabc y"));
    assert!(find("(B)616263", b"abc"));
    assert!(find("(B)616263", b"x.abc"));
    assert!(!find("(B)616263", b"x\tabc"), "tab does not lead a word");
    assert!(!find("(B)616263", b"x\"abc"));
    assert!(find("616263(B)", b"abc\"x"));
    assert!(find("616263(B)", b"abc=x"));
    assert!(!find("616263(B)", b"abc.x"), "dot does not end a word");
    assert!(find("616263(L)", b"abc\r\n"));
    assert!(find("616263(L)", b"abc\nx"));
    assert!(!find("616263(L)", b"abc\rx"));
    assert!(find("616263(L)", b"abc"));
    assert!(!find("616263(L)", b"abcd"));
    assert!(find("(L)616263", b"x\nabc"));
    assert!(!find("(L)616263", b"x\rabc"));
    assert!(find("(W)616263(W)", b"\x00abc\xff"));
    assert!(!find("(W)616263(W)", b"0abc "));
    // Next to `*` and ranged gaps the marker is an edge of a ClamAV subpattern.
    assert!(find("6161*(B)6262", b"aaQ-bb"));
    assert!(!find("6161*(B)6262", b"aaQbb"));
    assert!(find("6161(B)*6262", b"aa-Qbb"));
    assert!(!find("6161(B)*6262", b"aaQbb"));
    assert!(find("6161{1-5}(B)6262", b"aa-bb"));
    assert!(find("6161{-5}(W)6262", b"aa-bb"));
    assert!(!find("6161{-5}(W)6262", b"aabb"));
    assert!(find("6161(6262|6363)(B)", b"aabb-"));
    assert!(!find("6161(6262|6363)(B)", b"aaccQ"));
    assert!(find("(B)(6161|6262)6363", b"-aacc"));
    assert!(!find("(B)(6161|6262)6363", b"Qbbcc"));
}

/// Markers in the middle of a subpattern consume one byte of their class.
#[test]
fn markers_in_the_middle() {
    assert!(find("6161(W)6262", b"aa-bb"));
    assert!(find("6161(W)6262", b"aa\xffbb"));
    assert!(!find("6161(W)6262", b"aabb"));
    assert!(!find("6161(W)6262", b"aaxbb"));
    assert!(!find("61(W)62", b"ab"));
    assert!(find("6161(B)6262", b"aa-bb"));
    assert!(find("6161(B)6262", b"aa.bb"));
    assert!(find("6161(B)6262", b"aa=bb"));
    assert!(!find("6161(B)6262", b"aa\tbb"));
    assert!(!find("6161(B)6262", b"aabb"));
    assert!(find("6161(L)6262", b"aa\nbb"));
    assert!(!find("6161(L)6262", b"aa\r\nbb"));
    assert!(find("6161{3}(B)6262", b"aaQQQ-bb"));
    assert!(!find("6161{3}(B)6262", b"aaQQ-bb"));
    assert!(find("(B)6161(B)6262(B)", b"x aa bb x"));
}

#[test]
fn markers_inside_alternatives_are_rejected() {
    for m in ["B", "L", "W"] {
        assert!(parse(&format!("6161(6262|({m})6363)")).is_err());
        assert!(parse(&format!("6161(6262({m})|6363)")).is_err());
    }
}

/// Generic alternatives (ClamAV 0.99+): variable-length, nested, with `??`, nibbles and `{n}`.
#[test]
fn nested_alternatives() {
    let sig = "6161(6a6a|66(6767|6868)66|6969)6161";
    assert!(find(sig, b"xxaajjaaxx"));
    assert!(find(sig, b"xxaafggfaaxx"));
    assert!(find(sig, b"xxaafhhfaaxx"));
    assert!(find(sig, b"xxaaiiaaxx"));
    assert!(!find(sig, b"xxaafgffaaxx"));
    assert!(!find(sig, b"xxaafgfaaxx"));
    let sig = "6161((62|63)(64|65)|(66(67|68)))6161";
    assert!(find(sig, b"aabdaa"));
    assert!(find(sig, b"aaceaa"));
    assert!(find(sig, b"aafhaa"));
    assert!(!find(sig, b"aafaa"));
    assert!(!find(sig, b"aabaa"));
    assert!(find("6161(62|6262)6363", b"aabbcc"));
    assert!(find("6161(62|6262)6363", b"aabcc"));
    // Backtracking into a nested branch: the first inner choice leaves no room for the rest.
    assert!(find("41((42|4242)|43)4243", b"ABBBC"));
    assert!(find("6161(62{2}62|6363)6161", b"aabQQbaa"));
    assert!(!find("6161(62{2}62|6363)6161", b"aabQbaa"));
    assert!(find("6161(6?62|6363)6161", b"aadbaa"));
    assert!(!find("6161(6?62|6363)6161", b"aarbaa"));
    // A lone branch is a plain sequence; empty branches never match.
    assert!(find("6161(6262)6161", b"aabbaa"));
    assert!(find("6161(62|)6161", b"aabaa"));
    assert!(!find("6161(62|)6161", b"aaaa"));
    // What ClamAV refuses inside alternatives.
    for bad in [
        "6161(62{1-3}62|6363)6161",
        "6161(62*62|6363)6161",
        "6161(62[1-2]62|6363)6161",
        "6161(62{200}62|6363)6161",
        "6161!(6262|(6363|6464))6161",
        "6161!(62??|6363)6161",
        "6161(|)6161",
        "6161((6262|6363)6161",
    ] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(parse("6161(62{127}62|6363)6161").is_ok());
}

/// Hostile patterns: deep nesting is refused, backtracking is capped by the budget.
#[test]
fn hostile_alternatives_are_bounded() {
    let deep = format!("41{}42{}", "(42|".repeat(40), ")".repeat(40));
    assert!(parse(&deep).is_err());
    let sig = format!("41{}5a", "(41|4141|414141){1}".repeat(30));
    let p = parse(&sig).unwrap();
    let data = vec![b'A'; 200];
    let t = std::time::Instant::now();
    assert!(!find_pattern(&p, &data, false));
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
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
    assert_eq!(sp.atom(&part.elems), b"BCDE");
    let data = b"zzAxxBCDExFzz";
    let w = Window {
        data,
        at_start: true,
        at_end: true,
    };
    assert_eq!(
        verify_split(&part.elems, &sp, w, 5, 9, false),
        Some((2, 11))
    );
    let data = b"zzAxxxxBCDExFzz";
    let w = Window {
        data,
        at_start: true,
        at_end: true,
    };
    assert_eq!(verify_split(&part.elems, &sp, w, 7, 11, false), None);
}

#[test]
fn gaps_before_and_after_the_atom_try_every_length() {
    // The shape of a real signature (a CVE_2017_16361 subsignature): literals separated by
    // inline gaps, the atom last, so both gaps are matched backward from it.
    let p = parse("2f464446{-95}2f4620{-13}68747470733a2f2f").unwrap();
    let part = &p.parts[0];
    let i = part.elems.len() - 1;
    let sp = Split::new(part, i, 0, 8);
    assert_eq!(sp.atom(&part.elems), b"https://");
    let check = |data: &[u8], nocase: bool| {
        let s = data
            .windows(8)
            .rposition(|w| w.eq_ignore_ascii_case(b"https://"));
        let s = s.expect("atom in data");
        let w = Window {
            data,
            at_start: true,
            at_end: true,
        };
        verify_split(&part.elems, &sp, w, s, s + 8, nocase)
    };
    let build = |x: usize, y: usize, head: &[u8], mid: &[u8]| {
        let mut d = b"..".to_vec();
        d.extend_from_slice(head);
        d.extend(std::iter::repeat_n(b'x', x));
        d.extend_from_slice(mid);
        d.extend(std::iter::repeat_n(b'y', y));
        d.extend_from_slice(b"https://");
        d
    };
    // Every gap length at and around the bounds.
    for x in [0, 1, 50, 94, 95, 96] {
        for y in [0, 1, 12, 13, 14] {
            let d = build(x, y, b"/FDF", b"/F ");
            let want = (x <= 95 && y <= 13).then_some((2, d.len()));
            assert_eq!(check(&d, false), want, "x {x} y {y}");
        }
    }
    // Case: only with ::i.
    let d = build(3, 3, b"/fdf", b"/f ");
    assert_eq!(check(&d, false), None);
    assert_eq!(check(&d, true), Some((2, d.len())));
    // Decoys: the literal's last byte where the gap could end, the rest not matching; then a
    // real match further out.
    let d = b"../FDF  F F /F y y yhttps://".to_vec();
    assert_eq!(check(&d, false), Some((2, d.len())));
    let d = b"../FDX /F https://".to_vec();
    assert_eq!(check(&d, false), None);
    // A gap running into the window's start: no match, no panic.
    let d = b"/F https://".to_vec();
    assert_eq!(check(&d, false), None);
    // Forward: a gap after the atom, then a byte.
    let p = parse("41424344{-3}45").unwrap();
    let sp = Split::new(&p.parts[0], 0, 0, 4);
    for (data, want) in [
        (&b"ABCDE"[..], Some((0, 5))),
        (b"ABCDxxxE", Some((0, 8))),
        (b"ABCDxxxxE", None),
        (b"ABCDxx", None),
    ] {
        let w = Window {
            data,
            at_start: true,
            at_end: true,
        };
        assert_eq!(
            verify_split(&p.parts[0].elems, &sp, w, 0, 4, false),
            want,
            "{data:?}"
        );
    }
}
