"""Line numbers for the keys of a TOML file (tomllib keeps no positions), so
that every error in a policy file names ``file:line``."""

from __future__ import annotations

import re
from pathlib import Path


class Lines:
    """Where a key or value first appears, within the whole file or one table
    of an array of tables (``[[grant]]`` number ``index``)."""

    def __init__(self, path: Path, text: str, array: str = "grant") -> None:
        self.path = path
        self.lines = text.splitlines()
        header = f"[[{array}]]"
        self.starts = [i for i, line in enumerate(self.lines) if line.strip() == header]

    def at(self, needle: str, index: int | None = None) -> str:
        start, end = 0, len(self.lines)
        if index is not None and index < len(self.starts):
            start = self.starts[index]
            end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        pattern = re.compile(rf"(^|[^\w-]){re.escape(needle)}([^\w-]|$)")
        for i in range(start, end):
            if self.lines[i].lstrip().startswith("#"):
                continue
            if pattern.search(self.lines[i]):
                return f"{self.path}:{i + 1}"
        return f"{self.path}:{start + 1}" if index is not None else str(self.path)

    def why(self, index: int) -> str:
        """The "# Why:" comment of table ``index`` (above its header or inside it), "" if it has none."""
        if index >= len(self.starts):
            return ""
        start = self.starts[index]
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        first = start
        while first > 0 and self.lines[first - 1].lstrip().startswith("#"):
            first -= 1
        found: list[str] = []
        for line in self.lines[first:end]:
            text = line.strip()
            if not text.startswith("#"):
                if found:
                    break
                continue
            text = text.lstrip("#").strip()
            if found or text.startswith("Why:"):
                found.append(text)
        return " ".join(found).removeprefix("Why:").strip()
