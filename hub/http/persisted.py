"""Persisted queries: a peer sends a document's SHA-256 instead of its text.

The wire form is Apollo's automatic-persisted-query (APQ) convention::

    {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}},
     "variables": {"idNumber": "420102199001011234"}}

with or without ``"query"``. The hub's documents live in
``schema/persisted/*.graphql``; a file's key is the SHA-256 of its text, less
the surrounding whitespace (an editor's final newline is not part of the
document a client sends).

>>> doc = "{ __typename }"
>>> pq = PersistedQueries({document_hash(doc): doc})
>>> pq.resolve({"extensions": {"persistedQuery": {"version": 1,
...                                               "sha256Hash": document_hash(doc)}}})
'{ __typename }'

Registering documents that clients send (``allow_register``) is off by
default: a public-facing endpoint then holds only the operator's documents, and
no client can fill its memory or plant a document under a hash. When it is on,
registered documents are kept in a bounded, least-recently-used registry; the
operator's documents are never evicted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.errors import (
    BadInput,
    ConfigError,
    PersistedQueryHashMismatch,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
)

#: Registered (not pre-registered) documents kept at most.
REGISTRY_SIZE = 10_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def document_hash(text: str) -> str:
    """The key of a document: SHA-256 of its UTF-8 text, lower-case hex.

    >>> document_hash("{ __typename }")[:12]
    '7f56e67dd21a'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class PersistedQueries:
    """Documents by hash, and the rules that turn a request into query text."""

    def __init__(
        self,
        documents: Mapping[str, str] | None = None,
        allow_register: bool = False,
        *,
        registry_size: int = REGISTRY_SIZE,
    ) -> None:
        self._documents: dict[str, str] = {}
        for key, text in (documents or {}).items():
            if key.lower() != document_hash(text):
                raise ConfigError(
                    f"persisted query {key[:12]}...: the key is not the SHA-256 of its document "
                    f"(expected {document_hash(text)})"
                )
            self._documents[key.lower()] = text
        self.allow_register = allow_register
        self.registry_size = registry_size
        self._registered: OrderedDict[str, str] = OrderedDict()
        #: The operator's documents' names (hash -> file stem), for metrics.
        self.names: dict[str, str] = {}

    @classmethod
    def from_directory(cls, path: Path, allow_register: bool = False) -> PersistedQueries:
        """Every ``*.graphql`` file under ``path`` (not recursive)."""
        if not path.is_dir():
            raise ConfigError(
                f"persisted queries: {path} is not a directory; create it or point the "
                "setting at the folder holding the *.graphql documents"
            )
        docs: dict[str, str] = {}
        for file in sorted(path.glob("*.graphql")):
            text = file.read_text(encoding="utf-8").strip()
            if not text:
                raise ConfigError(f"persisted queries: {file} is empty")
            docs[document_hash(text)] = text
        persisted = cls(docs, allow_register)
        persisted.names = {document_hash(file.read_text(encoding="utf-8").strip()): file.stem
                           for file in sorted(path.glob("*.graphql"))}
        return persisted

    def label(self, query: str | None) -> str:
        """What metrics call an operation: the operator's persisted document's name
        (its file's stem), else ``doc:`` and the first 16 hex digits of the
        document's SHA-256; never text a client chose. ``none`` before a document.

        >>> p = PersistedQueries({document_hash("{ a }"): "{ a }"})
        >>> p.names = {document_hash("{ a }"): "a-query"}
        >>> p.label("{ a }"), p.label("{ b }"), p.label(None)
        ('a-query', 'doc:057b04649e8755c6', 'none')
        """
        if query is None:
            return "none"
        key = document_hash(query)
        return self.names.get(key) or f"doc:{key[:16]}"

    def __len__(self) -> int:
        return len(self._documents) + len(self._registered)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key.lower()) is not None

    def resolve(self, params: Mapping[str, Any]) -> str:
        """The query text for a request's parameters (a POST body, or GET's query string).

        Raises ``PersistedQueryNotFound`` for an unknown hash sent alone,
        ``PersistedQueryHashMismatch`` when ``query`` does not hash to it,
        ``PersistedQueryNotSupported`` for a version other than 1, and
        ``BadInput`` when there is neither a query nor a persisted query.
        """
        query = params.get("query")
        if query is not None and not isinstance(query, str):
            raise BadInput('"query" must be a string holding a GraphQL document')
        persisted = _persisted_extension(params.get("extensions"))
        if persisted is None:
            if not query or not query.strip():
                raise BadInput(
                    'the request needs a "query" string or a persistedQuery extension '
                    '({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "..."}}})'
                )
            return query
        key = _hash_of(persisted)
        if query:
            actual = document_hash(query)
            if actual != key:
                raise PersistedQueryHashMismatch(
                    f"provided sha256Hash does not match query (its SHA-256 is {actual}); "
                    "hash the exact text you send"
                )
            if self.allow_register and key not in self._documents:
                self._register(key, query)
            return query
        text = self._lookup(key)
        if text is None:
            raise PersistedQueryNotFound(
                "PersistedQueryNotFound: no document has this sha256Hash here; "
                'resend the request with "query" holding the document'
            )
        return text

    def _lookup(self, key: str) -> str | None:
        text = self._documents.get(key)
        if text is None:
            text = self._registered.get(key)
            if text is not None:
                self._registered.move_to_end(key)
        return text

    def _register(self, key: str, text: str) -> None:
        self._registered[key] = text
        self._registered.move_to_end(key)
        while len(self._registered) > self.registry_size:
            self._registered.popitem(last=False)


def _persisted_extension(raw: Any) -> Mapping[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):  # GET sends extensions as a JSON string
        try:
            raw = json.loads(raw)
        except ValueError:
            raise BadInput('"extensions" must be a JSON object') from None
    if not isinstance(raw, Mapping):
        raise BadInput('"extensions" must be a JSON object')
    persisted = raw.get("persistedQuery")
    if persisted is None:
        return None
    if not isinstance(persisted, Mapping):
        raise BadInput('"extensions.persistedQuery" must be an object with version and sha256Hash')
    return persisted


def _hash_of(persisted: Mapping[str, Any]) -> str:
    version = persisted.get("version")
    if version != 1 or isinstance(version, bool):
        raise PersistedQueryNotSupported(
            f"PersistedQueryNotSupported: persistedQuery version {version!r} is not supported; "
            "send version 1"
        )
    key = persisted.get("sha256Hash")
    if not isinstance(key, str) or not _HEX64.match(key.lower()):
        raise BadInput("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return key.lower()
