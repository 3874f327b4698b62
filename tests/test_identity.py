from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.access.tokens import DEPARTMENTS, VerifiedTokens, bearer_token, issue_token, verify_token
from hub.errors import BadInput, Unauthenticated

KEY = "x" * 40


@given(st.sampled_from(sorted(DEPARTMENTS)), st.dictionaries(
    st.sampled_from(["school", "community", "enterprise"]),
    st.lists(st.text("ABCS0123456789", min_size=1, max_size=12), min_size=1, max_size=3)))
def test_round_trip(department: str, scopes: dict[str, list[str]]) -> None:
    # A citizen's token names the citizen by ID number (its scope is its subject).
    subject = "110101199003074477" if department == "citizen" else None
    ident = verify_token(issue_token(KEY, department, scopes=scopes, subject=subject), KEY)
    assert ident.department == department
    assert ident.scopes == {k: tuple(v) for k, v in scopes.items()}


def test_a_citizen_token_needs_an_id_number_as_subject() -> None:
    with pytest.raises(BadInput, match="must be an ID number"):
        issue_token(KEY, "citizen")
    with pytest.raises(BadInput, match="must be an ID number"):
        issue_token(KEY, "citizen", subject="110101199003074470")  # wrong check digit


def test_unknown_department_is_refused() -> None:
    with pytest.raises(BadInput, match="department 'police' is unknown"):
        issue_token(KEY, "police")


def test_tampered_token_is_refused() -> None:
    token = issue_token(KEY, "school")
    head, body, sig = token.split(".")
    with pytest.raises(Unauthenticated):
        verify_token(f"{head}.{body}x.{sig}", KEY)


def test_expired() -> None:
    token = issue_token(KEY, "school", ttl=1, now=time.time() - 10)
    with pytest.raises(Unauthenticated) as err:
        verify_token(token, KEY)
    assert err.value.extensions["reason"] == "expired"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Token abc"])
def test_bearer_header_problems(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)


def test_a_verified_token_is_kept_only_until_it_expires() -> None:
    now = [time.time()]
    tokens = VerifiedTokens(clock=lambda: now[0])
    token = issue_token(KEY, "school", ttl=600)
    first = tokens.verify(token, KEY)
    assert tokens.verify(token, KEY) is first, "the same token again is not decoded again"
    assert first == verify_token(token, KEY)
    now[0] = float(first.expires_at or 0)  # at its expiry it is verified anew, never taken as kept
    assert tokens.verify(token, KEY) is not first


def test_a_kept_token_proves_nothing_under_another_key_and_failures_are_not_kept() -> None:
    tokens = VerifiedTokens()
    token = issue_token(KEY, "school")
    tokens.verify(token, KEY)
    with pytest.raises(Unauthenticated) as err:
        tokens.verify(token, "y" * 40)
    assert err.value.extensions["reason"] == "bad_signature"
    head, body, sig = token.split(".")
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            tokens.verify(f"{head}.{body}x.{sig}", KEY)
    expired = issue_token(KEY, "school", ttl=1, now=time.time() - 10)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            tokens.verify(expired, KEY)
