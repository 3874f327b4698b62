"""The README's Layout section is the map: the rooms it names exist, every
import goes where the table allows, and no module imports itself round a cycle.

Imports are read from the source (``ast``), function-level ones included and
``if TYPE_CHECKING:`` blocks left out (those never run).
``python -m tests.test_layout`` prints which room imports which.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hub", "connectors", "schema")
MAX_LINES = 400


def rooms() -> list[tuple[list[str], list[str] | None]]:
    """(paths of the room, paths it may import; None: anything) from the README's table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Layout"):]
    out = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        paths = re.findall(r"`([^`]+)`", cells[0])
        allowed = None if "(anything)" in cells[2] else re.findall(r"`([^`]+)`", cells[2])
        out.append((paths, allowed))
    return out


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports (a ``from pkg import sub`` counts as ``pkg.sub``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    raw: set[str] = set()

    class Visit(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                    isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            raw.update(a.name for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
            raw.update(subs)
            if len(subs) < len(node.names):
                raw.add(module)

    Visit().visit(tree)
    out = set()
    for target in raw:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def room_of(path: Path, table: list[tuple[list[str], list[str] | None]]) -> str | None:
    rel = path.relative_to(ROOT).as_posix()
    best: tuple[int, str] | None = None
    for paths, _allowed in table:
        for pattern in paths:
            if "*" in pattern:
                score = (3, pattern) if fnmatch.fnmatch(rel, pattern) else None
            elif pattern.endswith("/"):
                score = (1 + len(pattern) / 1000, pattern) if rel.startswith(pattern) else None
            else:
                score = (2, pattern) if rel == pattern else None
            if score is not None and (best is None or score[0] > best[0]):
                best = (score[0], paths[0])  # a room is named by its first path
    return best[1] if best else None


def _matches(path: Path, patterns: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(fnmatch.fnmatch(rel, p) if "*" in p else
               rel.startswith(p) if p.endswith("/") else rel == p for p in patterns)


def test_every_room_the_readme_names_exists() -> None:
    table = rooms()
    assert len(table) >= 10, "the README's Layout table is missing or unreadable"
    for paths, _allowed in table:
        for pattern in paths:
            matches = list(ROOT.glob(pattern.rstrip("/"))) if "*" in pattern else [ROOT / pattern]
            assert any(m.exists() for m in matches), f"README names {pattern}, which does not exist"


def test_every_module_is_in_a_room() -> None:
    table = rooms()
    homeless = [n for n, p in modules().items() if room_of(p, table) is None]
    assert not homeless, f"modules in no room of the README's Layout table: {homeless}"


def test_imports_follow_the_table() -> None:
    table = rooms()
    may_import = {paths[0]: may for paths, may in table}
    known = modules()
    wrong = []
    for name, targets in graph().items():
        room = room_of(known[name], table)
        assert room is not None
        may = may_import[room]
        if may is None:
            continue
        for target in targets:
            path = known[target]
            if room_of(path, table) != room and not _matches(path, may):
                wrong.append(f"{name} ({room}) imports {target} ({room_of(path, table)})")
    assert not wrong, "imports against the README's Layout table:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle() -> None:
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
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
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_is_over_400_lines() -> None:
    long = {n: c for n, p in modules().items()
            if (c := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split along their seams): {long}"


if __name__ == "__main__":
    table = rooms()
    known = modules()
    between: dict[str, set[str]] = defaultdict(set)
    for name, targets in graph().items():
        for target in targets:
            a, b = room_of(known[name], table), room_of(known[target], table)
            if a != b and a and b:
                between[a].add(b)
    for paths, _ in table:
        if paths[0] in between or any(_matches(p, paths) for p in known.values()):
            print(f"{paths[0]:<24} -> {', '.join(sorted(between.get(paths[0], ()))) or '-'}")
