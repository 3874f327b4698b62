"""Enterprise return to work (复工复产): checking the online commitment and
deciding at once, with the employees who must stay home and why. The rules
about people are the same as for school reopening (hub/workflows/rules.py).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hub.errors import BadInput
from hub.ids import credit_code_problem

from . import facts
from .rules import Reason, RuleSettings, evaluate, may_return_from, undecided

MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
MAX_MEASURES = 50

#: (decision, reasons it was rejected, who stays home and why, employees on the register)
Decision = tuple[str, list[str], list[dict[str, Any]], int]
#: The decision when nothing known rejects it but some employees' facts are unknown.
UNDECIDED = "UNDECIDED"


def clean_commitment(data: Any) -> dict[str, Any]:
    """The commitment as stored, or BadInput naming the field that is wrong."""
    problem = credit_code_problem(data.creditCode)
    if problem is not None:
        raise BadInput(f"creditCode: {problem}", argument="creditCode")
    if not data.contactName.strip():
        raise BadInput("contactName: name the person the bureau may call", argument="contactName")
    if not MOBILE.match(data.contactPhone):
        raise BadInput("contactPhone: an 11-digit mobile number such as 13812345678",
                       argument="contactPhone")
    if data.headcount < 1:
        raise BadInput("headcount: at least 1 employee returns", argument="headcount")
    measures = [m.strip() for m in data.measures if m.strip()]
    if len(measures) > MAX_MEASURES:
        raise BadInput(f"measures: at most {MAX_MEASURES}", argument="measures")
    return {"creditCode": data.creditCode, "contactName": data.contactName.strip(),
            "contactPhone": data.contactPhone, "plannedDate": data.plannedDate.isoformat(),
            "headcount": data.headcount, "measures": measures, "accepted": data.accepted}


async def decide(loaders: Any, clean: dict[str, Any], planned: dt.date, today: dt.date,
                 settings: RuleSettings) -> Decision:
    """The decision on a commitment: APPROVED, REJECTED with every reason, or UNDECIDED
    when only employees whose facts are unknown (a source did not answer) stand in the way:
    they stay home, listed with the source, and the commitment is not approved."""
    staff = await loaders.records("Employment", "creditCode").load(clean["creditCode"])
    ids = sorted({r["idNumber"] for r in staff})
    known = await facts.gather(loaders, ids, planned, settings, declarations=True)
    home = []
    for idn in ids:
        reasons: list[Reason] = evaluate(known[idn], planned, settings)
        if reasons:
            until = may_return_from(reasons)
            home.append({"idNumber": idn, "reasons": [
                {"rule": r.rule, "detail": r.detail, "until": r.until.isoformat() if r.until else None,
                 "source": r.source} for r in reasons],
                "mayReturnFrom": until.isoformat() if until else None,
                "undecided": undecided(reasons)})
    why = []
    if not clean["accepted"]:
        why.append("the commitment was not accepted: accept its terms to be approved")
    if not clean["measures"]:
        why.append("no epidemic-prevention measures listed")
    if planned < today:
        why.append(f"the planned date {planned} is in the past")
    if clean["headcount"] > len(ids):
        why.append(f"headcount {clean['headcount']} exceeds the {len(ids)} employees on the register")
    share = settings.max_excluded_share
    # Only those known to stay home reject it; the undecided make it UNDECIDED below.
    held = [h for h in home if h["undecided"]]
    definite = len(home) - len(held)
    if ids and definite > share * len(ids):
        why.append(f"{definite} of {len(ids)} employees must stay home, more than "
                   f"{share:.0%} (rules.max_excluded_share)")
    if why:
        return "REJECTED", why, home, len(ids)
    if held:
        # Fail safe: not approved on facts the hub could not check; submitting again re-decides.
        sources = sorted({r["source"] for h in held for r in h["reasons"] if r["source"]})
        return UNDECIDED, [f"{len(held)} of {len(ids)} employees could not be checked: the "
                           f"{', '.join(sources)} source did not answer; submit the commitment "
                           "again later for a decision"], home, len(ids)
    return "APPROVED", why, home, len(ids)
