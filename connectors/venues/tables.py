"""The crowded-places registration system (场所码): every registered venue
and every scan of its code at the door.

It was built as a mini-programme's back end: pinyin-initial column names,
the venue kind in Chinese, times as epoch *milliseconds*, the code colour
shown at the scan as a number (0 green, 1 yellow, 2 red) and the direction
as 进 / 出.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, SmallInteger, String, Table

metadata = MetaData()

#: 场所信息: one row per registered venue.
csm_csxx = Table(
    "csm_csxx",
    metadata,
    Column("csid", String(16), primary_key=True),  # 场所ID: V + district + serial
    Column("csmc", String(64), nullable=False),  # 场所名称 name
    Column("cslx", String(8), nullable=False),  # 场所类型: 超市 农贸市场 商场 车站 医院 校门 写字楼
    Column("qxdm", String(6), nullable=False),  # 区县代码 GB/T 2260
    Column("csm", String(24), nullable=False, unique=True),  # 场所码编号 the code on the poster
    Column("xxdz", String(96)),  # 详细地址 address
)

#: 扫码记录: one row per scan of a venue's code.
csm_smjl = Table(
    "csm_smjl",
    metadata,
    Column("jlbh", Integer, primary_key=True),  # 记录编号
    Column("csid", String(16), nullable=False),
    Column("sfzh", String(18), nullable=False),  # 身份证号
    Column("xm", String(32)),  # 姓名 (the health-code platform's copy)
    Column("sjh", String(11)),  # 手机号
    Column("smsj", BigInteger, nullable=False),  # 扫码时间, epoch milliseconds (UTC)
    Column("mzt", SmallInteger, nullable=False),  # 码状态 shown at the scan: 0 绿 1 黄 2 红
    Column("crfx", String(1), nullable=False),  # 出入方向: 进 / 出
    Index("ix_smjl_sfzh_smsj", "sfzh", "smsj"),
    Index("ix_smjl_csid_jlbh", "csid", "jlbh"),
)
