"""Sites: registrations of one building planned as one facility, then expanded back.

Real registries list 従来型 and ユニット型 (or 地域密着型 beside 広域型) parts of one building as
separate 事業所. The rule that makes registrations one site:

- an explicit ``site_id`` (``Facility.extra["site_id"]``, a column of the simple format) wins:
  registrations with the same non-blank ``site_id`` are one site, whatever their corporation or
  location, and a registration carrying a ``site_id`` is never joined by detection (give it a
  ``site_id`` of its own to keep it alone);
- otherwise two registrations of the same corporation (``extra["corporate_number"]``, 法人番号,
  compared after NFKC as digits) are one site when they are within ``SAME_PLACE_KM`` (50 m, both
  with the registry's own coordinates, not a municipality's point) or have the same normalised
  address (``matcher.names.normalize_address``, with a number in it: a town alone is no
  building); the relation is closed transitively.

A site is planned as one planning facility (``SitePlan``): its missing is the union of what its
registrations in demand miss, it counts as 義務 when one of those is 義務, and a candidate pair
(site, institution) exists when the institution is a candidate of every such registration (covers:
what it covers for all of them; km: the longest of their distances). The solvers then see the site
once — one partner set, one unit of an institution's capacity, one partner limit — and the chosen
pairs are expanded to every registration of the site in demand, each with its own covers and km
(possibly empty covers: the building's partner serves a registration that needs nothing of it).
``MatchParams.count_site_registrations`` turns the merge off (each registration planned alone).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .candidates import Candidates, Problem
from .geo import haversine_km
from .model import Facility, Instance, normalize_text
from .names import normalize_address
from .vocab import GeocodePrecision

SITE_KEY = "site_id"
CORPORATE_NUMBER_KEY = "corporate_number"
CORPORATE_NAME_KEY = "corporate_name"
SAME_PLACE_KM = 0.05


def corporate_number(facility: Facility) -> str:
    """The facility's 法人番号 as digits ("" when unknown)."""
    return re.sub(r"\D", "", normalize_text(facility.extra.get(CORPORATE_NUMBER_KEY, "")))


def _find(parent: list[int], k: int) -> int:
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


def site_groups(facilities: Sequence[Facility]) -> list[list[int]]:
    """Positions of the registrations of every site of two or more (the rule of the module
    docstring), each sorted, the list sorted by first position."""
    parent = list(range(len(facilities)))

    def union(a: int, b: int) -> None:
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    explicit: dict[str, list[int]] = defaultdict(list)
    by_corp: dict[str, list[int]] = defaultdict(list)
    for k, f in enumerate(facilities):
        sid = normalize_text(f.extra.get(SITE_KEY, ""))
        if sid:
            explicit[sid].append(k)
        elif corp := corporate_number(f):
            by_corp[corp].append(k)
    for members in explicit.values():
        for k in members[1:]:
            union(members[0], k)
    for members in by_corp.values():
        if len(members) < 2:
            continue
        lat = np.array([facilities[k].lat for k in members])
        lon = np.array([facilities[k].lon for k in members])
        exact = [facilities[k].geocode == GeocodePrecision.EXACT for k in members]
        # An address names a building only with a number in it (not "高知市" alone).
        address = [normalize_address(facilities[k].address) for k in members]
        address = [a if re.search(r"\d", a) else "" for a in address]
        for a in range(len(members)):
            near = haversine_km(lat[a], lon[a], lat[a + 1 :], lon[a + 1 :]) <= SAME_PLACE_KM
            for b in range(a + 1, len(members)):
                same_place = exact[a] and exact[b] and bool(near[b - a - 1])
                if same_place or (address[a] and address[a] == address[b]):
                    union(members[a], members[b])
    groups: dict[int, list[int]] = defaultdict(list)
    for k in range(len(facilities)):
        groups[_find(parent, k)].append(k)
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def site_ids(facilities: Sequence[Facility]) -> dict[str, str]:
    """facility_id → site id (the explicit ``site_id``, else the first registration's id) for
    every registration of a site of two or more."""
    out: dict[str, str] = {}
    for group in site_groups(facilities):
        first = facilities[group[0]]
        sid = normalize_text(first.extra.get(SITE_KEY, "")) or first.facility_id
        out.update((facilities[k].facility_id, sid) for k in group)
    return out


def site_mates(facilities: Sequence[Facility], facility_id: str) -> list[Facility]:
    """The other registrations of the facility's site (empty when it is alone)."""
    for group in site_groups(facilities):
        ids = [facilities[k].facility_id for k in group]
        if facility_id in ids:
            return [facilities[k] for k in group if facilities[k].facility_id != facility_id]
    return []


@dataclass(frozen=True)
class Sites:
    """Planning units: ``unit[k]`` is the unit of facility position ``k``; units are numbered
    by their first registration, so an instance without sites has ``unit == arange``."""

    unit: np.ndarray  # int64 per facility position
    n_units: int

    @classmethod
    def of(cls, instance: Instance) -> Sites:
        n = len(instance.facilities)
        first = np.arange(n, dtype=np.int64)
        for group in site_groups(instance.facilities):
            first[group] = group[0]
        # Renumber the first positions 0..n_units-1 in order.
        heads, unit = np.unique(first, return_inverse=True)
        return cls(unit.astype(np.int64), len(heads))

    @property
    def merges(self) -> bool:
        return self.n_units < len(self.unit)

    def heads(self) -> np.ndarray:
        """The first registration's position of every unit."""
        first = np.full(self.n_units, len(self.unit), np.int64)
        np.minimum.at(first, self.unit, np.arange(len(self.unit), dtype=np.int64))
        return first

    def spread(self, instance: Instance, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """(facility_id, institution_id) pairs extended to every registration of the facility's
        site: a pair excluded for one registration is excluded for the building."""
        ids = [f.facility_id for f in instance.facilities]
        pos = {fid: k for k, fid in enumerate(ids)}
        members: dict[int, list[str]] = defaultdict(list)
        for k, u in enumerate(self.unit):
            members[int(u)].append(ids[k])
        out: set[tuple[str, str]] = set()
        for fid, iid in pairs:
            if fid in pos:
                out.update((m, iid) for m in members[int(self.unit[pos[fid]])])
            else:
                out.add((fid, iid))
        return out


@dataclass(frozen=True)
class SitePlan:
    """The problem the solvers see with sites merged, and the way back to registrations.

    ``graph`` is the per-registration graph (covers: the registration's own missing, possibly
    empty for pairs only a site mate needs); ``merged`` has one row per unit.
    """

    sites: Sites
    problem: Problem
    merged: Candidates
    graph: Candidates
    demand: np.ndarray  # bool per facility position: in the run's demand

    @classmethod
    def build(cls, sites: Sites, problem: Problem, union_graph: Candidates) -> SitePlan:
        """``union_graph``: the candidate graph of ``union_problem(problem, sites)``."""
        demand = problem.missing > 0
        n_inst = problem.n_inst
        unit = sites.unit
        g = union_graph
        keep = demand[g.fac]
        fac, inst, km, cov = g.fac[keep], g.inst[keep], g.km[keep], g.covers[keep]
        key = unit[fac] * n_inst + inst
        order = np.argsort(key, kind="stable")
        key, km, cov = key[order], km[order], cov[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
        ukey = key[starts]
        count = np.diff(np.r_[starts, len(key)])
        need = np.bincount(unit[demand], minlength=sites.n_units)
        if len(key):
            ucov = np.bitwise_and.reduceat(cov, starts)
            ukm = np.maximum.reduceat(km, starts)
        else:
            ucov, ukm = np.zeros(0, np.uint8), np.zeros(0)
        ufac = ukey // max(n_inst, 1)
        ok = (count == need[ufac]) & (ucov > 0)
        ufac, uinst, ukm, ucov = ufac[ok], ukey[ok] % max(n_inst, 1), ukm[ok], ucov[ok]
        o = np.lexsort((uinst, ukm, ufac))
        merged = Candidates(
            ufac[o].astype(np.int64),
            uinst[o].astype(np.int64),
            ukm[o].astype(float),
            ucov[o].astype(np.uint8),
            sites.n_units,
            n_inst,
        )
        graph = Candidates(
            g.fac,
            g.inst,
            g.km,
            (g.covers & problem.missing[g.fac]).astype(np.uint8),
            g.n_fac,
            g.n_inst,
        )
        return cls(sites, merged_problem(problem, sites), merged, graph, demand)

    def expand(self, chosen: np.ndarray) -> np.ndarray:
        """Positions in ``graph`` of the chosen merged pairs, for every registration in demand
        of each chosen site (sorted)."""
        n_inst = max(self.merged.n_inst, 1)
        picked = self.merged.fac[chosen] * n_inst + self.merged.inst[chosen]
        g = self.graph
        key = self.sites.unit[g.fac] * n_inst + g.inst
        hit = np.isin(key, picked) & self.demand[g.fac]
        return np.flatnonzero(hit).astype(np.int64)

    def used(self, chosen: np.ndarray) -> np.ndarray:
        """New partnerships per institution, a site counted once."""
        return np.bincount(self.merged.inst[chosen], minlength=self.problem.n_inst)


def union_problem(problem: Problem, sites: Sites) -> Problem:
    """``problem`` where every registration in demand misses what its site misses (the graph of
    this problem has every pair a site could use, at each registration's own distance)."""
    umiss = np.zeros(sites.n_units, np.uint8)
    np.bitwise_or.at(umiss, sites.unit, problem.missing)
    missing = np.where(problem.missing > 0, umiss[sites.unit], 0).astype(np.uint8)
    return replace(problem, missing=missing)


def merged_problem(problem: Problem, sites: Sites) -> Problem:
    """One row per unit: missing = union over its registrations in demand, 義務 if one of them
    is, the first registration's location."""
    unit, n = sites.unit, sites.n_units
    demand = problem.missing > 0
    missing = np.zeros(n, np.uint8)
    np.bitwise_or.at(missing, unit, problem.missing)
    required = np.zeros(n, np.uint8)
    np.bitwise_or.at(required, unit[demand], problem.required[demand])
    first = sites.heads()
    required = np.where(missing > 0, required, problem.required[first]).astype(np.uint8)
    mandatory = np.zeros(n, bool)
    np.logical_or.at(mandatory, unit[demand], problem.mandatory[demand])
    mandatory = np.where(missing > 0, mandatory, problem.mandatory[first])
    return replace(
        problem,
        fac_lat=problem.fac_lat[first],
        fac_lon=problem.fac_lon[first],
        missing=missing,
        required=required,
        mandatory=mandatory,
    )
