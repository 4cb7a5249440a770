#!/usr/bin/env python3
"""Import cycles between the modules of one Rust crate.

Usage: scripts/module-cycles.py CRATE_SRC_DIR [...]

Each file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` is the root). An edge
A -> B is a path to B's items written in A (`crate::b::…`, `super::…`, `self::…`, in `use`
lines, groups included, or inline), outside `#[cfg(test)]` modules and test-only files
(`tests.rs`). A parent declaring `mod child` is not an edge; a child reaching its parent's items
through `super::` is. Prints every strongly connected component of more than one module and
exits 1 when there is one, 0 otherwise.
"""
import os
import re
import sys


def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[-1] in ("lib", "main", "mod"):
                rel = rel[:-1]
            if rel and rel[-1] == "tests":
                continue
            mods[tuple(rel)] = path
    return mods


def strip_tests(text):
    """Drops `#[cfg(test)] mod … { … }` blocks and comments."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(prefix, body):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    body = body.strip()
    if not body.startswith("{"):
        return [prefix + body]
    inner, depth, cur, parts = body[1:-1], 0, "", []
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    res = []
    for p in parts:
        p = p.strip()
        if not p:
            continue
        if "::{" in p:
            head, rest = p.split("::{", 1)
            res += expand(prefix + head + "::", "{" + rest)
        else:
            res.append(prefix + p)
    return res


def paths(text):
    found = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)(?:::\w+)*)::(\{.*?\}|[\w:]+)\s*;", text, re.S):
        # Balanced braces: re-read the group from its start.
        start = m.start(2)
        if text[start] == "{":
            depth, j = 0, start
            while j < len(text):
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            found += expand(m.group(1) + "::", text[start:j])
        else:
            found.append(m.group(1) + "::" + m.group(2))
    found += re.findall(r"\b(?:crate|super)(?:::\w+)+", text)
    return found


def resolve(mod, path, mods):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    else:
        base = mod
        while parts and parts[0] in ("super", "self"):
            if parts[0] == "super":
                base = base[:-1]
            parts = parts[1:]
        rest = parts
    best = base
    for i in range(1, len(rest) + 1):
        cand = base + tuple(rest[:i])
        if cand in mods:
            best = cand
    return best


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def main():
    bad = False
    for src in sys.argv[1:]:
        mods = modules(src)
        graph = {m: set() for m in mods}
        for m, path in mods.items():
            text = strip_tests(open(path, encoding="utf-8").read())
            aliases = {}
            for p in paths(text):
                t = resolve(m, p, mods)
                if t in mods and t != m:
                    graph[m].add(t)
                    # `use crate::fmt;` makes `fmt::zip::…` a path to fmt::zip.
                    last = p.split("::")[-1]
                    if t and last == t[-1]:
                        aliases[last] = t
            for alias, t in aliases.items():
                for q in re.findall(r"(?<![:\w])" + alias + r"((?:::\w+)+)", text):
                    u = resolve(t, "self" + q, mods)
                    if u in mods and u != m:
                        graph[m].add(u)
        name = lambda m: "::".join(m) or "crate"
        cyc = [sorted(c) for c in sccs(graph) if len(c) > 1]
        for c in cyc:
            bad = True
            print(f"{src}: cycle among {len(c)} modules: " + ", ".join(name(m) for m in c))
            for m in c:
                inner = sorted(name(t) for t in graph[m] if t in c)
                print(f"    {name(m)} -> {', '.join(inner)}")
        if not cyc:
            print(f"{src}: {len(mods)} modules, no import cycle")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
