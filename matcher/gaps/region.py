"""The analysed region: instance, run parameters, solver arrays and each party's municipality."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.spatial import cKDTree

from ..candidates import Candidates, Problem, TravelMatrix, build_candidates
from ..geo import unit_vectors
from ..model import Instance
from ..params import MatchParams
from ..reference import municipalities
from ..result import Proposal

AreaLevel = Literal["municipality", "prefecture"]
AREA_LEVELS: tuple[AreaLevel, ...] = ("municipality", "prefecture")


@dataclass(frozen=True)
class Region:
    """Everything an analysis needs, built once: ``Region.of(instance, params)``."""

    instance: Instance
    params: MatchParams
    problem: Problem
    cand: Candidates
    travel: TravelMatrix | None = None

    @classmethod
    def of(
        cls,
        instance: Instance,
        params: MatchParams | None = None,
        travel: TravelMatrix | None = None,
    ) -> Region:
        params = params or MatchParams()
        problem = Problem.from_instance(instance, params)
        return cls(instance, params, problem, build_candidates(problem, params, travel), travel)

    @cached_property
    def fac_municipality(self) -> np.ndarray:
        """5-digit municipality code per facility (blank codes: the nearest municipality office)."""
        return _codes(
            [f.municipality_code for f in self.instance.facilities],
            self.problem.fac_lat,
            self.problem.fac_lon,
        )

    @cached_property
    def inst_municipality(self) -> np.ndarray:
        """5-digit municipality code per institution (blank codes: the nearest municipality
        office)."""
        return _codes(
            [i.municipality_code for i in self.instance.institutions],
            self.problem.inst_lat,
            self.problem.inst_lon,
        )

    @cached_property
    def fac_code_inferred(self) -> np.ndarray:
        """Whether a facility's municipality was inferred from its coordinates."""
        return np.array([not f.municipality_code.strip() for f in self.instance.facilities], bool)

    def fac_area(self, level: AreaLevel) -> np.ndarray:
        return area_codes(self.fac_municipality, level)

    def inst_area(self, level: AreaLevel) -> np.ndarray:
        return area_codes(self.inst_municipality, level)

    @property
    def facility_ids(self) -> list[str]:
        return [f.facility_id for f in self.instance.facilities]

    @property
    def institution_ids(self) -> list[str]:
        return [i.institution_id for i in self.instance.institutions]


def area_codes(municipality: np.ndarray, level: AreaLevel) -> np.ndarray:
    """Municipality (5 digits) or prefecture (2 digits) code of each 5-digit code."""
    if level == "municipality":
        return municipality
    if level == "prefecture":
        return np.array([c[:2] for c in municipality], dtype=object)
    raise ValueError(f"不明な集計単位「{level}」(使えるのは {', '.join(AREA_LEVELS)})")


def area_names() -> dict[str, str]:
    """Name of every 5-digit municipality code and 2-digit prefecture code (reference table)."""
    names: dict[str, str] = {}
    for m in municipalities():
        names[m.code5] = f"{m.prefecture}{m.name}"
        names.setdefault(m.prefecture_code, m.prefecture)
    return names


def _codes(raw: list[str], lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    codes = np.array([c.strip()[:5] for c in raw], dtype=object)
    blank = np.flatnonzero([len(c) < 5 for c in codes])
    if len(blank):
        munis = municipalities()
        tree = cKDTree(unit_vectors([m.lat for m in munis], [m.lon for m in munis]))
        _, near = tree.query(unit_vectors(lat[blank], lon[blank]))
        codes[blank] = [munis[k].code5 for k in np.atleast_1d(near)]
    return codes


def restrict_area(instance: Instance, prefix: str) -> Instance:
    """Facilities and institutions whose municipality code starts with ``prefix``."""
    prefix = prefix.strip()
    return Instance.of(
        (f for f in instance.facilities if f.municipality_code.startswith(prefix)),
        (i for i in instance.institutions if i.municipality_code.startswith(prefix)),
    )


def scale_capacity(instance: Instance, factor: float, undeclared: int | None = None) -> Instance:
    """The same instance with declared capacities × ``factor`` (rounded); with ``undeclared``,
    institutions that declared none get that capacity (e.g. 0: count declared capacity only)."""
    if factor < 0:
        raise ValueError(f"受入枠の倍率は 0 以上で指定してください (値: {factor})")
    if undeclared is not None and undeclared < 0:
        raise ValueError(f"未申告の受入枠は 0 以上で指定してください (値: {undeclared})")
    insts = [
        replace(i, capacity=undeclared)
        if i.capacity is None
        else replace(i, capacity=int(round(i.capacity * factor)))
        for i in instance.institutions
    ]
    return Instance(instance.facilities, tuple(insts))


def subproblem(
    problem: Problem,
    cand: Candidates,
    facs: np.ndarray,
    insts: np.ndarray,
    capacity: np.ndarray | None = None,
) -> tuple[Problem, Candidates]:
    """The problem restricted to facility / institution positions (sorted), pairs re-indexed.

    Positions are renumbered in order, so the candidates stay sorted by (facility, km,
    institution) and the solver's tie-breaks are those of the whole problem.
    """
    facs, insts = np.sort(facs), np.sort(insts)
    fmap = np.full(problem.n_fac, -1, np.int64)
    fmap[facs] = np.arange(len(facs))
    imap = np.full(problem.n_inst, -1, np.int64)
    imap[insts] = np.arange(len(insts))
    keep = (fmap[cand.fac] >= 0) & (imap[cand.inst] >= 0)
    sub = Problem(
        fac_lat=problem.fac_lat[facs],
        fac_lon=problem.fac_lon[facs],
        missing=problem.missing[facs],
        required=problem.required[facs],
        mandatory=problem.mandatory[facs],
        inst_lat=problem.inst_lat[insts],
        inst_lon=problem.inst_lon[insts],
        offers=problem.offers[insts],
        capacity=(problem.capacity if capacity is None else capacity)[insts],
    )
    sc = Candidates(
        fmap[cand.fac[keep]],
        imap[cand.inst[keep]],
        cand.km[keep],
        cand.covers[keep],
        len(facs),
        len(insts),
    )
    return sub, sc


def chosen_of(region: Region, proposals: Iterable[Proposal]) -> np.ndarray:
    """Positions into ``region.cand`` of a run's proposals (``MatchResult.proposals``)."""
    fpos = {fid: k for k, fid in enumerate(region.facility_ids)}
    ipos = {iid: k for k, iid in enumerate(region.institution_ids)}
    c = region.cand
    key = c.fac * max(c.n_inst, 1) + c.inst
    order = np.argsort(key)
    want = np.array(
        [fpos[pr.facility_id] * max(c.n_inst, 1) + ipos[pr.institution_id] for pr in proposals],
        np.int64,
    )
    pos = np.minimum(np.searchsorted(key[order], want), max(len(key) - 1, 0))
    if len(want) and (len(key) == 0 or not np.all(key[order][pos] == want)):
        raise ValueError("提案にない候補ペアが含まれています (別の条件で計算された結果です)")
    return np.sort(order[pos]) if len(want) else np.zeros(0, np.int64)
