#!/usr/bin/env python3
"""Reports import cycles between the modules of one folder.

A module is one .c file (and the header that declares it). Module A
depends on module B when A's object uses a global symbol that B's object
defines (nm: undefined in A, defined in B). Two modules that reach each
other through such calls form a cycle; the script prints every strongly
connected component of more than one module, with the symbols behind each
edge, so the call to turn into a hook is named.

Usage: cycles.py [--allow LABEL]... LABEL=SRCDIR:OBJDIR...
Each LABEL names a folder: the modules are SRCDIR/*.c, their objects
OBJDIR/<stem>.o. A folder given with --allow is reported but does not fail
the run. Exit status: 0 without a cycle outside the allowed folders, 1
with one or on a usage or build error (a missing object).
"""
import os
import subprocess
import sys


def symbols(obj):
    """Returns (defined, undefined) global symbol sets of one object."""
    out = subprocess.run(["nm", "-g", obj], check=True, text=True,
                         stdout=subprocess.PIPE).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] not in ("U", "w", "v"):
            defined.add(parts[2])
    return defined, undefined


def graph(srcdir, objdir):
    """Returns {module: {module it calls: [symbols]}}."""
    mods = sorted(f[:-2] for f in os.listdir(srcdir) if f.endswith(".c"))
    defs, uses = {}, {}
    for m in mods:
        obj = os.path.join(objdir, m + ".o")
        if not os.path.exists(obj):
            sys.exit("cycles: %s is missing: build first" % obj)
        defs[m], uses[m] = symbols(obj)
    owner = {}
    for m in mods:
        for s in defs[m]:
            owner[s] = m
    g = {m: {} for m in mods}
    for m in mods:
        for s in sorted(uses[m]):
            o = owner.get(s)
            if o is not None and o != m:
                g[m].setdefault(o, []).append(s)
    return g


def sccs(g):
    """Tarjan's strongly connected components, iteratively."""
    index, low, onstack, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        onstack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    onstack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in onstack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def report(label, g):
    """Prints the cycles of one folder; returns how many there are."""
    n = 0
    for comp in sccs(g):
        if len(comp) < 2:
            continue
        n += 1
        print("%s: cycle of %d modules: %s" % (label, len(comp),
                                              " ".join(comp)))
        for m in comp:
            for o in sorted(g[m]):
                if o in comp:
                    syms = g[m][o]
                    more = " ..." if len(syms) > 4 else ""
                    print("  %s -> %s: %s%s" % (m, o, " ".join(syms[:4]),
                                                more))
    return n


def main(argv):
    allow, folders = set(), []
    i = 0
    while i < len(argv):
        if argv[i] == "--allow" and i + 1 < len(argv):
            allow.add(argv[i + 1])
            i += 2
            continue
        label, _, dirs = argv[i].partition("=")
        srcdir, _, objdir = dirs.partition(":")
        if not label or not srcdir or not objdir:
            sys.exit(__doc__)
        folders.append((label, srcdir, objdir))
        i += 1
    if not folders:
        sys.exit(__doc__)
    failed = 0
    for label, srcdir, objdir in folders:
        n = report(label, graph(srcdir, objdir))
        if n == 0:
            print("%s: no cycle" % label)
        elif label in allow:
            print("%s: %d cycle(s), allowed (see the Makefile)" % (label, n))
        else:
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
