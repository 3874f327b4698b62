"""SQLite files as sources: opened read-only, watched, and told in words.

A SQLite source is a file its department owns. The SQL driver opens it
read-only (``connectors.drivers.filepool``: never created, never written),
compares its :func:`signature` before each statement (a file replaced or
truncated while serving is opened again), and :func:`file_problem` says what is
wrong with it from one ``stat`` and its 100-byte header. :func:`why_failed`
turns a database's error into one line a person understands, for /readyz and
for the cause of SOURCE_UNAVAILABLE.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url

__all__ = ["SQLITE_MAGIC", "Signature", "file_problem", "signature", "sqlite_file",
           "why_failed"]

#: The first bytes of every SQLite 3 database file.
SQLITE_MAGIC = b"SQLite format 3\x00"

#: (device, inode, size, mtime): a file replaced, truncated or rewritten changes it.
Signature = tuple[int, int, int, int]

#: Database messages a person understands, as one line (sqlite3, asyncpg, MySQL).
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason) for pattern, reason in (
        (r"no such table: (?:main\.)?(\S+)", "table {0} is missing"),
        (r'relation "([^"]+)" does not exist', "table {0} is missing"),
        (r"Table '(?:[^'.]+\.)?([^']+)' doesn't exist", "table {0} is missing"),
        (r"no such column: (\S+)", "column {0} is missing"),
        (r'column "?([\w.]+)"? does not exist', "column {0} is missing"),
        (r"Unknown column '([^']+)'", "column {0} is missing"),
        (r"file is not a database", "the file is not a SQLite database (replaced or damaged?)"),
        (r"database disk image is malformed", "the file is damaged (database disk image is malformed)"),
        (r"database is locked", "database is locked"),
        (r"attempt to write a readonly database",
         "the file needs recovery by the program that writes it (the hub opens it read-only)"),
        (r"unable to open database file", "the file cannot be opened"),
    ))


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL reads, or None (a database server, or memory).

    >>> str(sqlite_file("sqlite+aiosqlite:////srv/city/clinic.sqlite"))
    '/srv/city/clinic.sqlite'
    >>> str(sqlite_file("sqlite+aiosqlite:///file:/srv/a%20b.sqlite?mode=ro&uri=true"))
    '/srv/a b.sqlite'
    >>> sqlite_file("sqlite+aiosqlite://"), sqlite_file("postgresql+asyncpg://hub@db/edu")
    (None, None)
    """
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    database = u.database or ""
    if _is_uri(u) and database.startswith("file:"):
        if u.query.get("mode") == "memory":
            return None
        rest = database[len("file:"):]
        if rest.startswith("//"):  # file://HOST/path, HOST empty or localhost
            rest = rest[rest.find("/", 2):] if "/" in rest[2:] else ""
        database = unquote(rest)
    if database in ("", ":memory:"):
        return None
    return Path(os.path.abspath(database))


def _is_uri(u: URL) -> bool:
    return str(u.query.get("uri", "")).lower() in ("true", "1", "yes", "on", "t", "y")


def signature(path: Path) -> Signature:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_problem(path: Path, label: str | None = None) -> str | None:
    """What is wrong with a SQLite source file, in one line; None if it looks whole.

    One ``stat`` and the 100-byte header: a missing, empty, replaced or
    truncated file. ``label`` names the file (default "the file NAME").

    >>> file_problem(Path("/nonexistent/clinic.sqlite"))
    'the file clinic.sqlite is missing'
    """
    name = label or f"the file {path.name}"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{name} is missing"
    except OSError as exc:
        return f"{name} cannot be reached ({_strerror(exc)})"
    if not stat.S_ISREG(st.st_mode):
        return f"{name} is not a regular file"
    if st.st_size == 0:
        return f"{name} is empty (0 bytes)"
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        return f"{name} is not readable ({_strerror(exc)})"
    if not header.startswith(SQLITE_MAGIC):
        return f"{name} is not a SQLite database (replaced or damaged?)"
    if len(header) < 100:
        return f"{name} is truncated ({st.st_size} bytes, less than a SQLite header)"
    promised = _promised_size(header)
    if promised is not None and st.st_size < promised:
        return f"{name} is truncated ({st.st_size:,} of the {promised:,} bytes its header records)"
    return None


def _strerror(exc: OSError) -> str:
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _promised_size(header: bytes) -> int | None:
    """Bytes a SQLite file's header says it has, when the header says so reliably."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if header[18] == 2 or header[19] == 2:
        return None  # WAL: the main file catches up at checkpoints
    pages = int.from_bytes(header[28:32], "big")
    if pages == 0 or header[24:28] != header[92:96]:
        return None  # written by a SQLite too old to keep the count (SQLite docs, 1.3.7)
    return page_size * pages


def why_failed(exc: BaseException, file: Path | None, *, known_only: bool = False) -> str:
    """One line saying why a statement failed, never SQL or data.

    ``known_only``: for answers to clients, a message not recognised is told
    by its class only (a database's own message may quote values)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig)
    for pattern, reason in _REASONS:
        match = pattern.search(text)
        if match:
            if reason == "the file cannot be opened" and file is not None:
                return file_problem(file) or f"the file {file.name} cannot be opened"
            return reason.format(*match.groups())
    if isinstance(orig, OSError) and orig.strerror:
        return orig.strerror
    if known_only:
        return type(orig).__name__
    args = [a for a in getattr(orig, "args", ()) if isinstance(a, str) and a.strip()]
    message = re.sub(r"^<class '[^']*'>:\s*", "", (args[-1] if args else text).strip())
    first = message.splitlines()[0][:200] if message else "no message"
    return f"{type(orig).__name__}: {first}"

