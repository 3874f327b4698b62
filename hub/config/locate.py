"""Where each key of a TOML document is written: ``tomllib`` keeps no positions.

:class:`Positions` reads the text once, as a TOML parser would but keeping
only the structure, and records the line of every table header, key and
array element under its path, the same path a validation error has::

    >>> p = Positions('[hub]\\nsecret = "k"\\n\\n[[peers]]\\nurl = "a"\\n[[peers]]\\nurl = "b"\\n')
    >>> p.line(("hub", "secret")), p.line(("peers", 1, "url")), p.line(("peers", 1, "token"))
    (2, 7, 6)

A path that is not written (a missing key) gets the line of its nearest
written parent: the ``[[peers]]`` header of that peer, above. The text is
one ``tomllib`` accepted; should it still surprise the scanner, what was read
up to there is kept and the rest falls back to the parents' lines.
"""

from __future__ import annotations

import bisect
import re
import tomllib

Path = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = " \t"
#: What ends a number, boolean or date-time ("1979-05-27 07:32:00" has a space).
_SCALAR_END = re.compile(r"[,\]}\n#]|\r\n")


class Positions:
    """Line (1-based) of each path written in a TOML document."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: dict[Path, int] = {}
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        self._i = 0
        self._arrays: dict[Path, int] = {}  # array-of-tables path -> tables seen so far
        try:
            self._document()
        except (IndexError, ValueError, tomllib.TOMLDecodeError):
            pass  # keep what was found; line() falls back to parents

    def line(self, path: Path) -> int | None:
        """The line of ``path``, else of its nearest written parent, else None."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    # -- the scanner ------------------------------------------------------
    def _lineno(self, index: int) -> int:
        return bisect.bisect_left(self._newlines, index) + 1

    def _peek(self, n: int = 1) -> str:
        return self.text[self._i:self._i + n]

    def _record(self, path: Path, index: int) -> None:
        self.lines.setdefault(path, self._lineno(index))

    def _document(self) -> None:
        table: Path = ()
        while self._skip(newlines=True) < len(self.text):
            start = self._i
            if self._peek(2) == "[[":
                self._i += 2
                keys = self._key("]")
                self._expect("]]")
                table = self._header(keys, start, array=True)
            elif self._peek() == "[":
                self._i += 1
                keys = self._key("]")
                self._expect("]")
                table = self._header(keys, start, array=False)
            else:
                self._keyvalue(table)

    def _header(self, keys: list[str], start: int, *, array: bool) -> Path:
        path: Path = ()
        for n, key in enumerate(keys):
            path = (*path, key)
            last = n == len(keys) - 1
            if last and array:
                count = self._arrays.get(path, 0)
                self._arrays[path] = count + 1
                self._record(path, start)
                path = (*path, count)
            elif path in self._arrays:
                # [a.b] under the latest [[a]] means that table's b.
                self._record(path, start)
                path = (*path, self._arrays[path] - 1)
            self._record(path, start)
        return path

    def _keyvalue(self, table: Path) -> None:
        start = self._i
        path = table
        for key in self._key("="):
            path = (*path, key)
            self._record(path, start)
        self._expect("=")
        self._value(path)

    def _key(self, stop: str) -> list[str]:
        """A dotted key, up to (not including) ``stop``."""
        keys = []
        while True:
            self._skip()
            c = self._peek()
            if c in "\"'":
                end = self.text.index(c, self._i + 1) if c == "'" else self._basic_end(self._i)
                token = self.text[self._i:end + 1]
                keys.append(tomllib.loads(f"k = {token}")["k"])
                self._i = end + 1
            else:
                match = _BARE.match(self.text, self._i)
                if match is None:
                    raise ValueError(f"no key at {self._i}")
                keys.append(match.group())
                self._i = match.end()
            self._skip()
            if self._peek() != ".":
                break
            self._i += 1
        if not self.text.startswith(stop, self._i):
            raise ValueError(f"expected {stop!r} at {self._i}")
        return keys

    def _value(self, path: Path) -> None:
        self._skip()
        c = self._peek()
        if c == "[":
            self._i += 1
            index = 0
            while True:
                self._skip(newlines=True)
                if self._peek() == "]":
                    break
                self._record((*path, index), self._i)
                self._value((*path, index))
                self._skip(newlines=True)
                if self._peek() == ",":
                    self._i += 1
                    index += 1
            self._i += 1
        elif c == "{":
            self._i += 1
            while True:
                self._skip(newlines=True)  # newlines: TOML 1.1 allows them in inline tables
                if self._peek() == "}":
                    break
                if self._peek() == ",":
                    self._i += 1
                    continue
                self._keyvalue(path)
            self._i += 1
        elif c in "\"'":
            self._string()
        else:
            match = _SCALAR_END.search(self.text, self._i)
            self._i = match.start() if match else len(self.text)

    def _string(self) -> None:
        text, quote = self.text, self._peek()
        if self._peek(3) != quote * 3:
            self._i = (text.index("'", self._i + 1) if quote == "'" else self._basic_end(self._i)) + 1
            return
        j = self._i + 3
        while not text.startswith(quote * 3, j):
            j += 2 if quote == '"' and text[j] == "\\" else 1
            if j >= len(text):
                raise ValueError("unterminated string")
        extra = 0
        while extra < 2 and text.startswith(quote, j + 3):
            j, extra = j + 1, extra + 1  # up to two quotes may end the content: """a"""""
        self._i = j + 3

    def _basic_end(self, start: int) -> int:
        """Index of the first unescaped ``"`` after ``start``."""
        i = start + 1
        while True:
            c = self.text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i
            i += 1

    def _skip(self, *, newlines: bool = False) -> int:
        """Past spaces and comments (and newlines, if asked); returns the new index."""
        text, i = self.text, self._i
        while i < len(text):
            c = text[i]
            if c in _SPACE or (newlines and c in "\r\n"):
                i += 1
            elif c == "#":
                end = text.find("\n", i)
                i = len(text) if end < 0 else end
            else:
                break
        self._i = i
        return i

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self._i):
            raise ValueError(f"expected {token!r} at {self._i}")
        self._i += len(token)
