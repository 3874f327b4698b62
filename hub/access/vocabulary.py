"""The vocabulary of the policies, as data: departments, purposes, scope kinds.

``policies/_vocabulary.toml`` declares the purposes a request may state and the
kinds of row scope a token may carry; every other ``policies/*.toml`` file is
one department (its name is the file's name) with its description, the
purposes it may state and its scope. Adding a department is a new file::

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "_vocabulary.toml").write_text('[purposes]\\nstatistics = "figures"\\n')
    >>> _ = (d / "bureau.toml").write_text('department = "bureau"\\npurposes = ["statistics"]\\n')
    >>> load_vocabulary(d).departments["bureau"].purposes
    ('statistics',)

Errors name the file and line, as the grants' do.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import ConfigError

from .lines import Lines

#: The repository's policy files (``hub.policy_dir`` in the configuration overrides it).
POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
VOCABULARY_FILE = "_vocabulary.toml"
_VOCABULARY_KEYS = {"purposes", "scopes"}
_SCOPE_KEYS = {"description", "example", "field", "subject"}


@dataclass(frozen=True)
class Department:
    name: str
    description: str
    #: Purposes its requests may state; its tokens allow these by default.
    purposes: tuple[str, ...]
    #: The kind of row scope its tokens must carry (None: every row).
    scope: str | None
    path: Path


@dataclass(frozen=True)
class ScopeKind:
    name: str
    description: str
    example: str
    #: The unified field that carries this kind in every view holding it (None:
    #: only the views that declare the kind in ``View.scopes`` carry it).
    field: str | None = None
    #: True: the id is the token's own subject (``hub token --citizen ID``), never a
    #: ``--scope`` of the token's.
    subject: bool = False


@dataclass(frozen=True)
class Vocabulary:
    purposes: Mapping[str, str]
    scopes: Mapping[str, ScopeKind]
    departments: Mapping[str, Department]
    directory: Path


def department_files(directory: Path) -> list[Path]:
    """The department files of a policy directory (files starting with ``_`` are not)."""
    return sorted(p for p in Path(directory).glob("*.toml") if not p.name.startswith("_"))


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def strings(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {what} must be a list of strings")
    return list(value)


def load_vocabulary(directory: Path) -> Vocabulary:
    """Purposes, scope kinds and departments of a policy directory, validated."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such policy directory")
    path = directory / VOCABULARY_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: missing; it declares the purposes and scope kinds the "
                          "department files use (see the repository's policies/)")
    raw, text = read_toml(path)
    lines = Lines(path, text)
    for key in raw:
        if key not in _VOCABULARY_KEYS:
            raise ConfigError(f"{lines.at(key)}: unknown table [{key}]; expected [purposes] "
                              "and [scopes.KIND]")
    purposes = raw.get("purposes", {})
    if not isinstance(purposes, dict) or not all(isinstance(v, str) for v in purposes.values()):
        raise ConfigError(f"{lines.at('purposes')}: [purposes] maps each purpose to a "
                          'description: school-reopening = "deciding who may return"')
    scopes: dict[str, ScopeKind] = {}
    tables = raw.get("scopes", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{lines.at('scopes')}: scope kinds are [scopes.KIND] tables")
    for kind, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{lines.at(kind)}: scopes.{kind} must be a table")
        for key in table:
            if key not in _SCOPE_KEYS:
                raise ConfigError(f"{lines.at(key)}: unknown key scopes.{kind}.{key}; expected "
                                  f"one of {sorted(_SCOPE_KEYS)}")
        carrier = table.get("field")
        if carrier is not None and not isinstance(carrier, str):
            raise ConfigError(f"{lines.at('field')}: scopes.{kind}.field names one unified field")
        subject = table.get("subject", False)
        if not isinstance(subject, bool):
            raise ConfigError(f"{lines.at('subject')}: scopes.{kind}.subject is true or false")
        scopes[kind] = ScopeKind(kind, str(table.get("description", "")),
                                 str(table.get("example", "ID")), carrier, subject)
    departments = {}
    for file in department_files(directory):
        dept = _department(file, purposes, scopes)
        departments[dept.name] = dept
    if not departments:
        raise ConfigError(f"{directory}: no department file (policies/<department>.toml)")
    return Vocabulary(dict(purposes), scopes, departments, directory)


def _department(path: Path, purposes: Mapping[str, str], scopes: Mapping[str, ScopeKind]) -> Department:
    raw, text = read_toml(path)
    lines = Lines(path, text)
    name = raw.get("department")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{lines.at('department')}: department = \"{path.stem}\" names the "
                          "department this file is for")
    if path.stem != name:
        raise ConfigError(f"{lines.at('department')}: the file for department {name!r} must be "
                          f"named {name}.toml")
    stated = strings(raw.get("purposes", []), lines.at("purposes"), "purposes")
    for p in stated:
        if p not in purposes:
            raise ConfigError(f"{lines.at(p)}: purpose {p!r} is unknown; use one of "
                              f"{', '.join(purposes)} (or declare it in {VOCABULARY_FILE})")
    scope = raw.get("scope")
    if scope is not None and scope not in scopes:
        raise ConfigError(f"{lines.at('scope')}: scope {scope!r} is unknown; use one of "
                          f"{', '.join(scopes)} (or declare it in {VOCABULARY_FILE})")
    return Department(name, str(raw.get("description", "")), tuple(stated), scope, path)


@functools.cache
def default_vocabulary() -> Vocabulary:
    """The vocabulary of the repository's own policies/ (tokens, the demo, docs)."""
    return load_vocabulary(POLICY_DIR)


class _DefaultView(Mapping[str, Any]):
    """A read-only view of the default vocabulary, loaded on first use."""

    def __init__(self, pick: Any) -> None:
        self._pick = pick

    def _data(self) -> Mapping[str, Any]:
        return self._pick(default_vocabulary())  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


#: department -> description, of the repository's policies/.
DEPARTMENTS: Mapping[str, str] = _DefaultView(
    lambda v: {n: d.description for n, d in v.departments.items()})
#: department -> the purposes its tokens allow by default.
DEFAULT_PURPOSES: Mapping[str, tuple[str, ...]] = _DefaultView(
    lambda v: {n: d.purposes for n, d in v.departments.items()})
#: purpose -> description.
PURPOSES: Mapping[str, str] = _DefaultView(lambda v: v.purposes)
