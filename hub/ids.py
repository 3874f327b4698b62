"""Identifiers every source shares: resident ID numbers (GB 11643) and unified
social credit codes (GB 32100), with the checksums that make a typo visible.

>>> id_number_check_digit("41010520100307123")
'X'
>>> is_valid_id_number("41010520100307123X")
True
"""

from __future__ import annotations

import datetime as _dt
import re

__all__ = [
    "OTHER_PROVINCE_REGIONS",
    "ZHENGZHOU_DISTRICTS",
    "birth_date_of",
    "credit_code_check_char",
    "credit_code_problem",
    "id_number_check_digit",
    "id_number_problem",
    "is_valid_credit_code",
    "is_valid_id_number",
    "make_credit_code",
    "make_id_number",
]

#: Zhengzhou's county-level divisions (GB/T 2260 codes), as ID numbers carry them.
ZHENGZHOU_DISTRICTS: dict[str, str] = {
    "410102": "中原区",
    "410103": "二七区",
    "410104": "管城回族区",
    "410105": "金水区",
    "410106": "上街区",
    "410108": "惠济区",
    "410122": "中牟县",
    "410181": "巩义市",
    "410182": "荥阳市",
    "410183": "新密市",
    "410184": "新郑市",
    "410185": "登封市",
}

#: Region codes of visitors: other Henan cities and other provinces.
OTHER_PROVINCE_REGIONS: dict[str, str] = {
    "410302": "洛阳市老城区",
    "410702": "新乡市红旗区",
    "411002": "许昌市魏都区",
    "420106": "武汉市武昌区",
    "440106": "广州市天河区",
    "110105": "北京市朝阳区",
    "310115": "上海市浦东新区",
    "330106": "杭州市西湖区",
    "370102": "济南市历下区",
    "320102": "南京市玄武区",
}

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")


def id_number_check_digit(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID number, or None if it is."""
    if not isinstance(value, str) or not _ID_SHAPE.match(value):
        return (
            "a resident ID number has 18 characters: 17 digits and a final digit or 'X'"
        )
    if birth_date_of(value) is None:
        return "characters 7-14 of a resident ID number must be a birth date (YYYYMMDD)"
    expected = id_number_check_digit(value[:17])
    if value[17] != expected:
        return (
            f"the check digit of resident ID number {value[:6]}...{value[14:]} is wrong "
            f"(GB 11643 gives '{expected}', not '{value[17]}'): check the number for a typo"
        )
    return None


def is_valid_id_number(value: str) -> bool:
    return id_number_problem(value) is None


def birth_date_of(value: str) -> _dt.date | None:
    try:
        return _dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def make_id_number(region: str, birth: _dt.date, sequence: int, female: bool) -> str:
    """Build a valid ID number; ``sequence`` 0..499 picks the order code."""
    order = sequence % 500 * 2 + (0 if female else 1)
    first17 = f"{region}{birth:%Y%m%d}{order:03d}"
    return first17 + id_number_check_digit(first17)


# GB 32100: 18 characters from this 31-character alphabet (no I, O, S, V, Z).
_CC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_CC_SHAPE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
# GB 11714 organisation code embedded in characters 9-17.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def credit_code_check_char(first17: str) -> str:
    total = sum(_CC_ALPHABET.index(c) * w for c, w in zip(first17, _CC_WEIGHTS))
    return _CC_ALPHABET[(31 - total % 31) % 31]


def _org_check_char(body8: str) -> str:
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body8, _ORG_WEIGHTS))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def credit_code_problem(value: str) -> str | None:
    """Why ``value`` is not a valid unified social credit code, or None if it is."""
    if not isinstance(value, str) or not _CC_SHAPE.match(value):
        return (
            "a unified social credit code has 18 characters from 0-9 and A-Y "
            "without I, O, S, V and Z"
        )
    expected = credit_code_check_char(value[:17])
    if value[17] != expected:
        return (
            f"the check character of credit code {value} is wrong "
            f"(GB 32100 gives '{expected}', not '{value[17]}'): check it for a typo"
        )
    return None


def is_valid_credit_code(value: str) -> bool:
    return credit_code_problem(value) is None


def make_credit_code(region: str, serial: int) -> str:
    """An enterprise's code: authority 9 (market regulation), kind 1 (enterprise)."""
    body8 = f"MA{serial:06d}"[-8:] if serial < 10**6 else f"{serial:08d}"
    org = body8 + _org_check_char(body8)
    first17 = f"91{region}{org}"
    return first17 + credit_code_check_char(first17)
