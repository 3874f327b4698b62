"""What a cached document keeps (documents.Document.plans): its price by the
variables the price reads, and the fields whose arguments are checked. A
document asked again must be priced and checked exactly as a fresh one, for
every value of its variables (hypothesis draws them, good and bad)."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import HubError
from hub.execution.arguments import check_document
from hub.execution.price import price
from schema import SCHEMA

DOCUMENT = parse("""
query Q($n: Int, $m: Int, $h: Int, $d: Int, $id: String!, $day: Date, $after: String) {
  closeContacts(idNumber: $id, hops: $h, first: $m, days: $d) { totalCount edges { node { hop } } }
  school(id: "S1") { students(first: $n, after: $after) { totalCount edges { node { name
    clinicVisits(days: $d) { time } } } }
    reopening(date: $day) { total excluded(first: $m) { totalCount } } }
  a: checkpoints(first: $n) { edges { node { passes(first: $m) { totalCount } } } }
}
""")
SCHEMA_ = SCHEMA._schema

ints = st.one_of(st.none(), st.integers(min_value=-5, max_value=600), st.sampled_from([1, 2, 50, 500, 501]))
variables = st.fixed_dictionaries({
    "n": ints, "m": ints, "h": ints, "d": ints,
    "id": st.sampled_from(["410105200001011234", "x" * 200, "ok"]),
    "day": st.sampled_from([None, "2026-12-01", "1800-01-01", "2100-01-01"]),
    "after": st.sampled_from([None, "not-a-cursor", "AAAA"]),
})


def _outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except HubError as exc:
        return ("refused", exc.code, exc.message, exc.extensions)


@settings(max_examples=150, deadline=None)
@given(st.lists(variables, min_size=1, max_size=8))
def test_a_cached_document_is_priced_and_checked_as_a_fresh_one(asked: list[dict[str, Any]]) -> None:
    plans: dict[Any, Any] = {}
    for values in asked:
        cached = price(SCHEMA_, DOCUMENT, "Q", values, list_size=20, plans=plans)
        fresh = price(SCHEMA_, DOCUMENT, "Q", values, list_size=20)
        assert cached == fresh
        assert _outcome(lambda v=values: check_document(SCHEMA_, DOCUMENT, "Q", v, plans)) == \
            _outcome(lambda v=values: check_document(SCHEMA_, DOCUMENT, "Q", v))
    assert any(k[0] == "price" for k in plans) and any(k[0] == "arguments" for k in plans)


def test_the_price_reads_only_the_variables_it_prices_by() -> None:
    plans: dict[Any, Any] = {}
    price(SCHEMA_, DOCUMENT, "Q", {"n": 5, "m": 1, "h": 1, "id": "a"}, list_size=20, plans=plans)
    ((names, prices),) = [v for k, v in plans.items() if k[0] == "price"]
    # The page sizes and the hops are priced; the ID number, the dates and the cursor are not,
    # so a look-up asked again with another ID number is not priced again.
    assert set(names) == {"n", "m", "h"}
    price(SCHEMA_, DOCUMENT, "Q", {"n": 5, "m": 1, "h": 1, "id": "b"}, list_size=20, plans=plans)
    assert len(prices) == 1
    price(SCHEMA_, DOCUMENT, "Q", {"n": 6, "m": 1, "h": 1, "id": "b"}, list_size=20, plans=plans)
    assert len(prices) == 2


@pytest.mark.parametrize("first", [0, 501])
def test_a_bad_page_size_is_refused_from_the_cache_too(first: int) -> None:
    plans: dict[Any, Any] = {}
    good = {"n": 5, "m": 1, "h": 1, "id": "410105200001011234"}
    check_document(SCHEMA_, DOCUMENT, "Q", good, plans)
    with pytest.raises(HubError) as err:
        check_document(SCHEMA_, DOCUMENT, "Q", {**good, "n": first}, plans)
    assert err.value.code == "BAD_INPUT" and err.value.extensions.get("argument") == "first"
