"""Same corporation: which facility–institution pairs belong to one corporation (group), and the
objective level that prefers them.

Where the corporations come from (plain data the importers and the store put in ``extra``):

- a facility: ``extra["corporate_number"]`` (法人番号) and ``extra["corporate_name"]``
  (法人の名称, 介護サービス情報公表);
- an institution: the same keys when declarations or filings carry them, else its registered
  name when that starts with a corporate form (``医療法人社団○○会 △△病院``).

A pair is of the same corporation when both 法人番号 are known and equal, or when the
corporation's own name (NFKC, 新字体, no spaces, the corporate form — 医療法人, 社会医療法人,
社会福祉法人 … — removed: ``社会福祉法人○○会`` and ``医療法人○○会`` both give ``○○会``) is
the same: a 社会福祉法人 and a 医療法人 of one name are one group for the coordinators.

The level (``MatchParams.prefer_same_corporation``): the solvers see every pair NOT of the same
corporation at ``km + BIG`` where BIG exceeds the km of any proposal, so the last level (least
km) becomes "fewest partnerships across corporations, then least km"; levels 1–4 are unchanged
and every reported km is the real one (the view/back mechanism of ``matcher.infection``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .candidates import Candidates
from .model import Facility, Institution, normalize_text
from .names import CORPORATE_PREFIXES_LONGEST, spelling
from .sites import CORPORATE_NAME_KEY, CORPORATE_NUMBER_KEY


def _number(extra: dict[str, str]) -> str:
    return re.sub(r"\D", "", normalize_text(extra.get(CORPORATE_NUMBER_KEY, "")))


def corporation_key(name: object, whole: bool = True) -> str:
    """The corporation's own name of a 法人の名称 or a registered name ("" when none).

    ``whole``: the text is a corporation's name (法人の名称), so the remainder after the form is
    the key; otherwise (an institution's registered name) only a name starting with a corporate
    form gives a key, cut at the first space or after the first 会.
    """
    tokens = spelling(name).split()
    if not tokens:
        return ""
    form = next((p for p in CORPORATE_PREFIXES_LONGEST if tokens[0].startswith(p)), "")
    if not form and not whole:
        return ""
    rest = tokens[0][len(form) :]
    if not rest and len(tokens) > 1:  # "医療法人社団 ○○会 △△病院"
        rest = tokens[1]
    elif whole:
        rest = "".join([rest, *tokens[1:]])
    elif len(tokens) == 1 and "会" in rest:  # "医療法人○○会△△病院"
        rest = rest[: rest.index("会") + 1]
    return re.sub(r"[()（）「」・･.,、]", "", rest)


def facility_corporation(facility: Facility) -> tuple[str, str]:
    """(法人番号, name key) of a facility's corporation; blanks when unknown."""
    return _number(facility.extra), corporation_key(facility.extra.get(CORPORATE_NAME_KEY, ""))


def institution_corporation(institution: Institution) -> tuple[str, str]:
    """(法人番号, name key) of an institution's corporation: declared, else from its name."""
    declared = institution.extra.get(CORPORATE_NAME_KEY, "")
    key = corporation_key(declared) if declared else corporation_key(institution.name, False)
    return _number(institution.extra), key


def same_corporation(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """The rule of the module docstring on two (法人番号, name key)."""
    return bool(a[0] and a[0] == b[0]) or bool(a[1] and a[1] == b[1])


def same_corporation_pairs(
    facilities: Sequence[Facility], institutions: Sequence[Institution], cand: Candidates
) -> np.ndarray:
    """Bool per pair of ``cand`` (facility positions into ``facilities``): same corporation."""
    fc = [facility_corporation(f) for f in facilities]
    ic = [institution_corporation(i) for i in institutions]
    out = np.zeros(len(cand), bool)
    if not any(n or k for n, k in fc) or not any(n or k for n, k in ic):
        return out
    for p, (f, i) in enumerate(zip(cand.fac.tolist(), cand.inst.tolist(), strict=True)):
        out[p] = same_corporation(fc[f], ic[i])
    return out


def big_km(cand: Candidates, max_partners: int) -> float:
    """A constant larger than the km of any proposal on ``cand``: per facility the sum of its
    ``max_partners`` longest candidate km, summed, plus one."""
    if len(cand) == 0:
        return 1.0
    start = cand.fac_start()
    total = 0.0
    for k in range(max_partners):
        last = start[1:] - 1 - k
        ok = last >= start[:-1]
        total += float(cand.km[last[ok]].sum())
    return total + 1.0


def corporation_penalty(same: np.ndarray, cand: Candidates, max_partners: int) -> np.ndarray:
    """Extra km per pair the solvers see: BIG for a pair across corporations, 0 otherwise
    (all zeros when no pair is of the same corporation: nothing to prefer)."""
    if not same.any():
        return np.zeros(len(cand))
    return np.where(same, 0.0, big_km(cand, max_partners))
