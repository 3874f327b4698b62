"""Masks a policy may name: each keeps the value's type and shape, so an app
built for the real value still renders the masked one.

>>> MASKS["id_number"]("410105201003071234")
'410105********1234'
>>> MASKS["phone"]("13812345678")
'138****5678'
>>> MASKS["name"]("张三丰")
'张**'
>>> MASKS["id_numbers_in"]("410105201003071234"), MASKS["id_numbers_in"]("school-app")
('410105********1234', 'school-app')
"""

from __future__ import annotations

import re
from collections.abc import Callable

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def id_number(value: str) -> str:
    """Region code and the last four characters: 410105********1234."""
    return value[:6] + "*" * max(len(value) - 10, 0) + value[-4:] if len(value) > 10 else "*" * len(value)


def phone(value: str) -> str:
    """Carrier prefix and the last four digits: 138****5678."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:] if len(value) > 7 else "*" * len(value)


def name(value: str) -> str:
    """The surname only: 张*."""
    return value[:1] + "*" * (len(value) - 1)


def plate(value: str) -> str:
    """Province and city letters of a licence plate: 豫A*****."""
    return value[:2] + "*" * (len(value) - 2)


def id_numbers_in(value: str) -> str:
    """Every resident ID number within the text masked, the rest kept: a token's
    subject is a staff id (kept) or, for a citizen's own token, their ID number."""
    return _ID_NUMBER.sub(lambda m: id_number(m.group(0)), value)


MASKS: dict[str, Callable[[str], str]] = {
    "id_number": id_number,
    "phone": phone,
    "name": name,
    "plate": plate,
    "id_numbers_in": id_numbers_in,
}

#: A made-up value per mask, to show what the mask leaves (the console's access matrix).
EXAMPLES: dict[str, str] = {
    "id_number": "410105201003071234",
    "phone": "13812345678",
    "name": "张三丰",
    "plate": "豫A12345",
    "id_numbers_in": "citizen 410105201003071234",
}
