#!/usr/bin/env python3
"""Fails when a Rust module imports one that imports it back (directly or through others).

For each crate under the workspace (core, trainer, web, python when present), every source
file is a module; an edge A -> B is a path `crate::…`, `super::…` or `self::…` in A's non-test
code that names an item of B. Paths through a parent's `pub use` re-exports are followed to
the module that defines the item, and the re-export lines themselves are not edges (they only
name things). Cycles are looked for twice: between files, and between the crate's top-level
modules (`classic`, `models`, `sim`, … with everything below them folded in). Test modules
(`#[cfg(test)]` to the end of the file, the convention here) are left out: a test may use
anything.

Usage: scripts/check-modules.py [CRATE_DIR …]   (default: every workspace crate with a src/)
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_files(src):
    """Maps module path (tuple of names; () is the crate root) to its file."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if parts and parts[0] == "bin":
                continue
            out[tuple(parts)] = os.path.join(root, f)
    return out


def code_of(path):
    text = open(path, encoding="utf-8").read()
    cut = re.search(r"^\s*#\[cfg\(test\)\]", text, re.M)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//[^\n]*", "", text)  # comments (doc comments name paths too)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)  # strings
    return text


def expand_use_groups(text):
    """`a::{b::C, d}` -> `a::b::C a::d` (one level; nested groups are rare here)."""
    pattern = re.compile(r"((?:" + IDENT + r"::)+)\{([^{}]*)\}")
    while True:
        new = pattern.sub(lambda m: " ".join(m.group(1) + p.strip() for p in m.group(2).split(",") if p.strip()), text)
        if new == text:
            return text
        text = new


def reexports(code):
    """Item name -> relative path it is re-exported from (`pub use x::y::Item`)."""
    out = {}
    for m in re.finditer(r"pub\s+use\s+([^;]+);", code):
        for path in expand_use_groups(m.group(1)).split():
            path = path.strip().rstrip(",")
            if " as " in path:
                continue
            segs = path.split("::")
            out[segs[-1]] = segs[:-1]
    return out


def analyse(src):
    mods = module_files(src)
    codes = {m: code_of(p) for m, p in mods.items()}
    exports = {m: reexports(c) for m, c in codes.items()}

    def resolve(segs, depth=0):
        """The module defining the item named by absolute segments `segs`."""
        best = ()
        for i in range(len(segs), 0, -1):
            if tuple(segs[:i]) in mods:
                best = tuple(segs[:i])
                break
        rest = segs[len(best):]
        if rest and depth < 8:
            via = exports.get(best, {}).get(rest[0])
            if via is not None:
                base = list(best) if via[0] not in ("crate", "super", "self") else []
                if via and via[0] == "crate":
                    return resolve(via[1:] + rest, depth + 1)
                if via and via[0] == "super":
                    return resolve(list(best[:-1]) + via[1:] + rest, depth + 1)
                if via and via[0] == "self":
                    via = via[1:]
                return resolve(base + via + rest, depth + 1)
        return best

    edges = {m: set() for m in mods}
    for m, code in codes.items():
        body = re.sub(r"pub\s+use\s+[^;]+;", "", code)
        body = expand_use_groups(body)
        here = list(m) if mods[m].endswith(("mod.rs", "lib.rs", "main.rs")) else list(m)
        for ref in re.finditer(r"\b(crate|super|self)((?:::" + IDENT + r")+)", body):
            kind, segs = ref.group(1), ref.group(2).split("::")[1:]
            if kind == "crate":
                absolute = segs
            elif kind == "self":
                absolute = here + segs
            else:
                absolute = here[:-1] + segs
            target = resolve(absolute)
            if target != m:
                edges[m].add(target)
    return mods, edges


def cycles(edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def main():
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    crates = sys.argv[1:] or [d for d in ("core", "trainer", "web", "python") if os.path.isdir(os.path.join(top, d, "src"))]
    failed = False
    for crate in crates:
        src = os.path.join(top, crate, "src")
        mods, edges = analyse(src)
        found = [("files", c, edges) for c in cycles(edges)]
        folded = {}
        for a, bs in edges.items():
            fa = a[:1]
            for b in bs:
                if b[:1] != fa and fa and b[:1]:
                    folded.setdefault(fa, set()).add(b[:1])
        found += [("top-level modules", c, folded) for c in cycles(folded)]
        n_edges = sum(len(v) for v in edges.values())
        if found:
            failed = True
            for level, comp, graph in found:
                members = sorted(comp)
                detail = "; ".join(f"{name(a)} -> {', '.join(name(b) for b in sorted(graph.get(a, ())) if b in comp)}" for a in members)
                print(f"{crate}: module cycle between {level}: {detail}")
        else:
            print(f"{crate}: {len(mods)} modules, {n_edges} imports, no cycles")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
