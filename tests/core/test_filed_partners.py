"""Issue 15: an existing (filed) partner is never proposed as a new one — one rule
(``model.filed_partner_pairs``) applied by the core ``match``, hence by every caller."""

from __future__ import annotations

import dataclasses

from conftest import fac, inst

from matcher.match import match
from matcher.model import Instance, filed_partner_pairs


def _instance(partner_ids: str = "") -> Instance:
    # F (group home) has H as a filed partner for ① only; H also offers ②, C is further away.
    f = fac("F", "gh", 0, 0, covered=1, has_partner=True)
    if partner_ids:
        f = dataclasses.replace(f, extra={"partner_ids": partner_ids})
    return Instance.of([f], [inst("H", "hospital", 1, 0, 7), inst("C", "clinic", 5, 0, 3)])


def test_filed_partner_is_never_proposed_by_any_mode() -> None:
    plain = _instance()
    assert [(p.facility_id, p.institution_id) for p in match(plain).proposals] == [("F", "H")]
    filed = _instance("H+X")
    assert filed_partner_pairs(filed.facilities) == {("F", "H"), ("F", "X")}
    for mode in ("optimal", "greedy", "stable"):
        got = [(p.facility_id, p.institution_id) for p in match(filed, mode=mode).proposals]
        assert got == [("F", "C")], mode
