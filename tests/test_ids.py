from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from hub.ids import (
    ZHENGZHOU_DISTRICTS,
    credit_code_problem,
    id_number_problem,
    is_valid_credit_code,
    is_valid_id_number,
    make_credit_code,
    make_id_number,
)

dates = st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2020, 12, 31))


@given(st.sampled_from(sorted(ZHENGZHOU_DISTRICTS)), dates, st.integers(0, 499), st.booleans())
def test_made_id_numbers_are_valid_and_carry_sex(region: str, birth: dt.date, seq: int, female: bool) -> None:
    value = make_id_number(region, birth, seq, female)
    assert is_valid_id_number(value)
    assert value.startswith(region + birth.strftime("%Y%m%d"))
    assert (int(value[16]) % 2 == 0) == female


@given(st.sampled_from(sorted(ZHENGZHOU_DISTRICTS)), dates, st.integers(0, 499), st.integers(0, 16))
def test_any_single_digit_change_is_caught(region: str, birth: dt.date, seq: int, pos: int) -> None:
    value = make_id_number(region, birth, seq, False)
    digit = str((int(value[pos]) + 1) % 10)
    changed = value[:pos] + digit + value[pos + 1:]
    assert not is_valid_id_number(changed)


def test_known_real_credit_code_validates() -> None:
    # A published code (GB 32100 annex example format).
    assert is_valid_credit_code("91350100M000100Y43")


@given(st.sampled_from(sorted(ZHENGZHOU_DISTRICTS)), st.integers(0, 10**6 - 1))
def test_made_credit_codes_are_valid(region: str, serial: int) -> None:
    code = make_credit_code(region, serial)
    assert credit_code_problem(code) is None
    assert code[2:8] == region


def test_problems_are_explained() -> None:
    assert "18 characters" in (id_number_problem("123") or "")
    assert "birth date" in (id_number_problem("410105201302300000") or "")
    assert "I, O, S, V and Z" in (credit_code_problem("91410105MA000123IE") or "")


@given(st.sampled_from(sorted(ZHENGZHOU_DISTRICTS)), dates, st.booleans(), st.integers(1, 5))
def test_the_generator_makes_the_same_numbers_as_make_id_number(region: str, birth: dt.date, female: bool,
                                                                 repeat: int) -> None:
    from hub.city.model import IdMaker

    maker = IdMaker(dt.date(2021, 1, 1).toordinal())
    base = dt.date(1900, 1, 1).toordinal()
    slot = ((maker.regions[region] * maker.days) + birth.toordinal() - base) * 2 + female
    for n in range(repeat):  # the n-th person of that region, birthday and sex
        value, born = maker.make(region, birth.toordinal(), female)
        assert born == birth
        assert value == make_id_number(region, birth, ((slot * 2_654_435_761) >> 9) % 500 + n, female)
