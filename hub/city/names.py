"""Chinese personal names, mobile numbers and licence plates for the synthetic city.

Everything takes an explicit ``random.Random`` so that a city is reproducible
from its seed. Mobile numbers are unique by construction: the last eight digits
are a keyed permutation (a small Feistel network) of a running counter, so no
set of used numbers has to be kept in memory.

>>> from random import Random
>>> names = NameMaker()
>>> len(names.full_name(Random(1), "王", female=True, birth_year=1985)) in (2, 3)
True
>>> m = MobileMaker(seed=1)
>>> len(m.number(Random(1), 0)), m.number(Random(1), 0) != m.number(Random(1), 1)
(11, True)
"""

from __future__ import annotations

from random import Random

__all__ = ["MOBILE_PREFIXES", "MobileMaker", "NameMaker", "expand", "plate_number"]


def expand(weighted: list[tuple[str, float]], size: int = 2000) -> tuple[str, ...]:
    """A lookup table in which each value appears in proportion to its weight:
    ``table[int(rng.random() * len(table))]`` is a weighted choice in O(1)."""
    total = sum(w for _, w in weighted)
    table: list[str] = []
    for value, weight in weighted:
        table.extend([value] * max(1, round(weight / total * size)))
    return tuple(table)


# Surname frequencies (per cent), national ranking adjusted for Henan, where
# 郭, 孙, 马 and 高 are more common and 黄, 林, 梁 less so.
_SURNAMES: list[tuple[str, float]] = [
    ("王", 8.2), ("李", 7.6), ("张", 7.4), ("刘", 5.6), ("陈", 3.6), ("杨", 3.4),
    ("赵", 2.6), ("郭", 2.0), ("黄", 1.4), ("周", 1.7), ("吴", 1.5), ("孙", 1.9),
    ("马", 1.8), ("朱", 1.3), ("胡", 1.2), ("高", 1.4), ("徐", 1.3), ("何", 0.8),
    ("林", 0.5), ("罗", 0.6), ("郑", 0.8), ("梁", 0.5), ("谢", 0.6), ("宋", 1.0),
    ("唐", 0.6), ("许", 0.9), ("韩", 0.9), ("冯", 0.9), ("邓", 0.5), ("曹", 0.8),
    ("彭", 0.5), ("曾", 0.3), ("肖", 0.5), ("田", 0.7), ("董", 0.7), ("袁", 0.6),
    ("潘", 0.4), ("于", 0.5), ("蒋", 0.4), ("蔡", 0.4), ("余", 0.4), ("杜", 0.6),
    ("叶", 0.3), ("程", 0.6), ("苏", 0.5), ("魏", 0.7), ("吕", 0.6), ("丁", 0.5),
    ("任", 0.6), ("沈", 0.3), ("姚", 0.5), ("卢", 0.4), ("姜", 0.4), ("崔", 0.5),
    ("钟", 0.2), ("谭", 0.2), ("陆", 0.2), ("汪", 0.3), ("范", 0.5), ("金", 0.2),
    ("石", 0.4), ("贾", 0.6), ("夏", 0.3), ("付", 0.5), ("方", 0.3), ("白", 0.4),
    ("孟", 0.5), ("秦", 0.4), ("邱", 0.2), ("尹", 0.2), ("薛", 0.4), ("闫", 0.5),
    ("段", 0.3), ("雷", 0.3), ("侯", 0.4), ("史", 0.4), ("郝", 0.4), ("牛", 0.4),
    ("申", 0.2), ("司", 0.1), ("常", 0.3), ("岳", 0.2), ("耿", 0.2), ("欧阳", 0.05),
    ("司马", 0.02), ("上官", 0.02),
]

_MALE_OLD = "德福贵富荣华国建军民忠明文志永树林发山春长保全根金海兴"
_FEMALE_OLD = "秀英兰芳珍桂凤玉梅淑琴云荣华敏霞菊香翠爱"
_MALE_MID = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林阳建志文海峰亮东振雷成坤"
_FEMALE_MID = "芳娜敏静丽艳娟霞秀玲燕红梅琳洁婷雪倩颖慧晶萍莉琴云蕾薇丹青"
_MALE_NEW = "轩睿哲豪昊熙泽瑞铭锦宏毅彬康宇浩然博航晨辰奕涵子一佑诚皓俊逸"
_FEMALE_NEW = "涵欣怡悦彤萱瑶菲妍琪璐佳雯嘉婕诺汐雨桐馨梓紫诗思梦语若可心"
_OLD_FEMALE_NAMES = ("秀英", "桂英", "玉兰", "秀兰", "凤英", "淑珍", "玉珍", "桂兰", "秀珍",
                     "桂芝", "玉梅", "秀云", "凤兰", "金凤", "素芳", "玉芬")
_OLD_MALE_NAMES = ("建国", "国强", "建华", "国庆", "德明", "志强", "振华", "保国", "卫东",
                   "建军", "文明", "国华", "长春", "福生", "金山", "树林")
_NEW_MALE_NAMES = ("子轩", "浩然", "宇轩", "梓豪", "俊熙", "皓轩", "浩宇", "一鸣", "宇航",
                   "子墨", "奕辰", "博文", "铭泽", "思远", "天佑", "锦程", "睿泽", "沐阳")
_NEW_FEMALE_NAMES = ("梓涵", "一诺", "欣怡", "紫涵", "诗涵", "雨桐", "可馨", "子涵", "思涵",
                     "梦瑶", "语嫣", "若汐", "雨萱", "佳怡", "欣妍", "梓萱", "心怡", "思彤")


class NameMaker:
    """Full names by sex and generation: grandparents are 秀英 and 建国, their
    grandchildren 梓涵 and 子轩."""

    def __init__(self) -> None:
        self.surnames = expand(_SURNAMES, 4000)

    def surname(self, rng: Random) -> str:
        return self.surnames[int(rng.random() * len(self.surnames))]

    def given_name(self, rng: Random, female: bool, birth_year: int) -> str:
        r = rng.random()
        pool: tuple[str, ...]
        if birth_year < 1965:
            if r < 0.45:
                pool = _OLD_FEMALE_NAMES if female else _OLD_MALE_NAMES
                return pool[int(rng.random() * len(pool))]
            chars = _FEMALE_OLD if female else _MALE_OLD
        elif birth_year < 2005:
            chars = _FEMALE_MID if female else _MALE_MID
        else:
            if r < 0.5:
                pool = _NEW_FEMALE_NAMES if female else _NEW_MALE_NAMES
                return pool[int(rng.random() * len(pool))]
            chars = _FEMALE_NEW if female else _MALE_NEW
        first = chars[int(rng.random() * len(chars))]
        r = rng.random()
        if r < 0.30 and birth_year < 2005:
            return first  # one-character given names: common before the 2000s
        if r < 0.34 and female:
            return first + first  # 婷婷, 静静
        second = chars[int(rng.random() * len(chars))]
        return first + second if second != first else first

    def full_name(self, rng: Random, surname: str, female: bool, birth_year: int) -> str:
        return surname + self.given_name(rng, female, birth_year)


#: Mobile prefixes of China Mobile, China Unicom and China Telecom, weighted
#: roughly by subscribers (China Mobile has about 60%).
MOBILE_PREFIXES: tuple[str, ...] = expand([
    ("134", 3), ("135", 5), ("136", 4), ("137", 5), ("138", 6), ("139", 6),
    ("150", 4), ("151", 4), ("152", 3), ("157", 2), ("158", 4), ("159", 4),
    ("178", 2), ("182", 3), ("183", 3), ("187", 3), ("188", 3), ("198", 1),
    ("130", 3), ("131", 3), ("132", 2), ("155", 3), ("156", 3), ("166", 1),
    ("175", 1), ("176", 2), ("185", 3), ("186", 4),
    ("133", 2), ("153", 2), ("173", 1), ("177", 2), ("180", 2), ("181", 2),
    ("189", 3), ("199", 1),
], 1000)


class MobileMaker:
    """Eleven-digit mobile numbers, unique by construction: a random prefix and
    a keyed permutation of the running counter ``n`` (0 <= n < 10**8)."""

    def __init__(self, seed: int) -> None:
        key = Random(f"mobile/{seed}")
        self._keys = [(key.randrange(1, 10_000) | 1, key.randrange(10_000)) for _ in range(4)]

    def suffix(self, n: int) -> int:
        left, right = divmod(n % 100_000_000, 10_000)
        for mul, add in self._keys:  # Feistel rounds: a bijection of 0..10**8-1
            left, right = right, (left + (right * mul + add) % 10_007) % 10_000
        return left * 10_000 + right

    def number(self, rng: Random, n: int) -> str:
        prefix = MOBILE_PREFIXES[int(rng.random() * len(MOBILE_PREFIXES))]
        return f"{prefix}{self.suffix(n):08d}"


_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def plate_number(rng: Random, prefix: str = "豫A") -> str:
    """A licence plate such as 豫A8K3M2 (five characters after the prefix, at
    most two letters); about one in eight is a green new-energy plate 豫AD12345."""
    if rng.random() < 0.12:
        return f"{prefix}{'DF'[int(rng.random() * 2)]}{rng.randrange(100_000):05d}"
    chars = [str(int(rng.random() * 10)) for _ in range(5)]
    for _ in range(int(rng.random() * 3)):
        chars[int(rng.random() * 5)] = _PLATE_LETTERS[int(rng.random() * len(_PLATE_LETTERS))]
    return prefix + "".join(chars)
