"""The code's structure: no import cycles between the modules of a crate.

A module (a file) that uses another through `crate::...` or `super::...` depends on it.
Within one crate those dependencies must form no cycle, so each module can be read (and
changed) knowing only the ones below it. Test-only code (`#[cfg(test)] mod tests`) is left
out: tests may reach anywhere.
"""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRATES = {
    "iam-assurance": ROOT / "src",
    "iam-assurance-aws": ROOT / "crates/aws/src",
    "iam-assurance-rules": ROOT / "crates/rules/src",
}
PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super)((?:::[a-z_][a-z0-9_]*)*)::\{([^;]*)\};", re.S)


def module_of(src: pathlib.Path, file: pathlib.Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def non_test_text(text: str) -> str:
    """The file without its `#[cfg(test)]` module (always last in this code base)."""
    at = text.find("#[cfg(test)]\nmod tests")
    return text if at < 0 else text[:at]


def references(module: tuple, text: str):
    text = re.sub(r"//[^\n]*", "", text)  # comments (doc links are not dependencies)
    paths = [(m.group(1), m.group(2)) for m in PATH.finditer(text)]
    for m in USE_GROUP.finditer(text):
        for item in m.group(3).split(","):
            item = item.strip().split(" as ")[0].strip()
            first = re.match(r"[a-z_][a-z0-9_]*", item)
            if first and first.group(0) != "self":
                paths.append((m.group(1), f"{m.group(2)}::{item}"))
    # A module imported by name (`use crate::rules;`), then used through it (`rules::root::x`).
    aliases = {}
    for root, rest in list(paths):
        last = rest.rsplit("::", 1)[-1]
        if re.search(r"\buse\s+" + root + re.escape(rest) + r"\s*;", text) or rest.endswith("::" + last):
            aliases.setdefault(last, (root, rest))
    for alias, (root, rest) in aliases.items():
        for m in re.finditer(r"(?<![:\w])" + alias + r"((?:::[a-z_][a-z0-9_]*)+)", text):
            paths.append((root, rest + m.group(1)))
    for root, rest in paths:
        segments = [s for s in rest.split("::") if s]
        base = list(module if root == "super" else ())
        if root == "super":
            base = base[:-1]
        yield tuple(base), segments


def graph(src: pathlib.Path):
    files = {module_of(src, f): f for f in src.rglob("*.rs")}
    edges = {m: set() for m in files}
    for module, file in files.items():
        for base, segments in references(module, non_test_text(file.read_text())):
            target = None
            for n in range(len(segments), 0, -1):  # the longest prefix that is a module
                candidate = base + tuple(segments[:n])
                if candidate in files:
                    target = candidate
                    break
            if target is None and base in files:
                target = base
            if target is not None and target != module and target != module[: len(target)]:
                edges[module].add(target)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append("/".join(w) or "<root>")
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_inside_a_crate():
    found = {name: cycles(graph(src)) for name, src in CRATES.items()}
    assert found == {name: [] for name in CRATES}, found


def test_the_checker_sees_a_cycle(tmp_path):
    (tmp_path / "a.rs").write_text("use crate::b::thing;\n")
    (tmp_path / "b.rs").write_text("fn f() { crate::a::other(); }\n")
    (tmp_path / "c.rs").write_text("use super::{a, b};\n")
    assert cycles(graph(tmp_path)) == [["a", "b"]]
