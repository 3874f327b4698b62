"""The hub encodes its answers with orjson (hub.http.answers.JSONAnswer): the bytes a
client reads are the ones Starlette's JSONResponse would have sent, for any JSON value
an answer can hold, and for the values orjson refuses too."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from hub.http.answers import JSONAnswer

#: What a GraphQL answer holds: strings (any text, Chinese names, control characters),
#: integers, finite floats, booleans, nulls, lists and objects.
_LEAVES = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_VALUES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=5)
                       | st.dictionaries(st.text(), inner, max_size=5), max_leaves=40)


@given(_VALUES)
def test_an_answer_is_encoded_as_starlette_would(value: object) -> None:
    ours, theirs = JSONAnswer(value).body, JSONResponse(value).body
    assert json.loads(ours) == json.loads(theirs)
    if not _has_float(value):  # floats: the same number, maybe another spelling (0.00001 for 1e-05)
        assert ours == theirs


def test_what_orjson_refuses_is_encoded_as_starlette_would() -> None:
    for value in ({"big": 2**64}, {1: "a key that is a number"}, [-(2**70)]):
        assert JSONAnswer(value).body == JSONResponse(value).body


def test_an_answer_is_compact_utf8() -> None:
    body = JSONAnswer({"data": {"person": {"name": "张伟", "ok": True}}}).body
    assert body == '{"data":{"person":{"name":"张伟","ok":true}}}'.encode()


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False
