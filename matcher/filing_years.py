"""A deterministic earlier 年度 for an instance: what its facilities had filed a year before.

The bundled sample has one filing year. To show progress over years (the seed table's ①②③④
moving from one 年度 to the next) ``earlier_year`` derives the previous year's filings from the
current ones by a fixed rule, so the same instance and ``seed`` always give the same history:

- every municipality gets a rate ``p = 0.1 + 0.6·u(municipality)`` and every facility a draw
  ``v = u(facility)``, with ``u`` the first 8 bytes of SHA-256(``seed:key``) scaled to [0, 1);
- a facility with ``v ≥ p`` filed the same a year before;
- otherwise it improved since: with ``v < p/3`` it had not filed (④), else it had one requirement
  less — ③ 入院 if it covers it now, else ② 診療, else (covering only ①) no partner at all;
- a facility that has not filed now had not filed before either.

So municipalities differ in how much they improved (what ``store.progress`` ranks as 好事例
candidates) and no facility got worse. Only ``covered``/``has_partner`` change.
"""

from __future__ import annotations

import dataclasses
import hashlib

from .model import Capability, Facility, Instance


def _unit(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _earlier(f: Facility, seed: int) -> Facility:
    if f.covered == 0 and f.has_partner is None:
        return f
    p = 0.1 + 0.6 * _unit(seed, "m:" + f.municipality_code[:5])
    v = _unit(seed, "f:" + f.facility_id)
    if v >= p:
        return f
    if v < p / 3:
        return dataclasses.replace(f, covered=0, has_partner=None)
    for cap in (Capability.ADMIT, Capability.CARE):
        if f.covered & cap:
            return dataclasses.replace(f, covered=f.covered & ~cap, has_partner=True)
    return dataclasses.replace(f, covered=0, has_partner=False)


def earlier_year(instance: Instance, seed: int = 1) -> Instance:
    """The same facilities and institutions with the filings of a year before (module rule)."""
    return Instance(tuple(_earlier(f, seed) for f in instance.facilities), instance.institutions)
