"""The candidate graph: which institution could cover what for which facility, and how far.

Pairs come from a k-d tree over unit vectors (``cKDTree.sparse_distance_matrix``), so the work
grows with the number of in-range pairs, never with facilities × institutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .geo import chord_to_km, km_to_chord, unit_vectors
from .model import CAPABILITIES, Instance
from .params import MatchParams

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class TravelMatrix:
    """User-supplied travel distances (km) by (facility index, institution index)."""

    fac: np.ndarray
    inst: np.ndarray
    km: np.ndarray


@dataclass(frozen=True)
class Problem:
    """The instance as arrays by position (facilities and institutions sorted by id)."""

    fac_lat: np.ndarray
    fac_lon: np.ndarray
    missing: np.ndarray  # uint8 mask per facility (0: not in demand)
    required: np.ndarray  # uint8 mask per facility
    mandatory: np.ndarray  # bool per facility (義務)
    inst_lat: np.ndarray
    inst_lon: np.ndarray
    offers: np.ndarray  # uint8 mask per institution
    capacity: np.ndarray  # int64 per institution; -1 = unlimited

    @property
    def n_fac(self) -> int:
        return len(self.missing)

    @property
    def n_inst(self) -> int:
        return len(self.offers)

    @classmethod
    def from_instance(cls, instance: Instance, params: MatchParams) -> Problem:
        facs, insts = instance.facilities, instance.institutions
        missing = np.array([f.missing for f in facs], dtype=np.uint8)
        if not params.include_unknown:
            unknown = np.array([f.covered == 0 and f.has_partner is None for f in facs], bool)
            missing[unknown] = 0
        return cls(
            fac_lat=np.array([f.lat for f in facs], float),
            fac_lon=np.array([f.lon for f in facs], float),
            missing=missing,
            required=np.array([f.required for f in facs], dtype=np.uint8),
            mandatory=np.array([f.info.duty.value == "mandatory" for f in facs], bool),
            inst_lat=np.array([i.lat for i in insts], float),
            inst_lon=np.array([i.lon for i in insts], float),
            offers=np.array([i.offers for i in insts], dtype=np.uint8),
            capacity=np.array([-1 if i.capacity is None else i.capacity for i in insts], np.int64),
        )


@dataclass(frozen=True)
class Candidates:
    """In-range (facility, institution) pairs with some ``covers``, sorted by (fac, km, inst)."""

    fac: np.ndarray  # int64 facility position
    inst: np.ndarray  # int64 institution position
    km: np.ndarray  # float64 distance used by the run (road factor / travel matrix applied)
    covers: np.ndarray  # uint8: missing ∩ offers ∩ capabilities whose range the pair meets
    n_fac: int
    n_inst: int

    def __len__(self) -> int:
        return len(self.fac)

    def without(self, drop: np.ndarray) -> Candidates:
        """The same graph minus the pairs where ``drop`` (bool per pair) is set."""
        keep = ~np.asarray(drop, bool)
        return Candidates(
            self.fac[keep],
            self.inst[keep],
            self.km[keep],
            self.covers[keep],
            self.n_fac,
            self.n_inst,
        )

    def fac_start(self) -> np.ndarray:
        """CSR-style offsets: the pairs of facility f are ``start[f]:start[f+1]``."""
        return np.searchsorted(self.fac, np.arange(self.n_fac + 1))

    def components(self) -> tuple[int, np.ndarray, np.ndarray]:
        """Connected components of the bipartite graph: (count, label per facility, per inst)."""
        n = self.n_fac + self.n_inst
        graph = coo_matrix(
            (np.ones(len(self.fac), np.int8), (self.fac, self.n_fac + self.inst)), shape=(n, n)
        )
        count, labels = connected_components(graph, directed=False)
        return count, labels[: self.n_fac], labels[self.n_fac :]

    def to_networkx(self, instance: Instance) -> nx.Graph:
        """The candidate graph as a networkx bipartite graph keyed by ids (analysts, GraphML)."""
        import networkx as nx

        from .model import format_capabilities

        g = nx.Graph()
        for f in instance.facilities:
            g.add_node(("f", f.facility_id), bipartite=0, kind=f.kind, name=f.name)
        for i in instance.institutions:
            g.add_node(("i", i.institution_id), bipartite=1, kind=i.kind, name=i.name)
        for f, i, km, cov in zip(self.fac, self.inst, self.km, self.covers, strict=True):
            g.add_edge(
                ("f", instance.facilities[f].facility_id),
                ("i", instance.institutions[i].institution_id),
                km=float(km),
                covers=format_capabilities(int(cov)),
            )
        return g


def _apply_travel(
    problem: Problem, fac: np.ndarray, inst: np.ndarray, km: np.ndarray, travel: TravelMatrix
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Matrix distances replace the computed ones; matrix pairs the tree did not find are added.

    Roads are not shorter than the arc, but a user's matrix may measure something else: a pair
    it lists counts with the matrix's distance wherever the arc would have put it.
    """
    key = fac * problem.n_inst + inst
    useful = (problem.missing[travel.fac] > 0) & (problem.offers[travel.inst] > 0)
    tkey, tkm = travel.fac[useful] * problem.n_inst + travel.inst[useful], travel.km[useful]
    order = np.argsort(tkey, kind="stable")
    tkey, tkm = tkey[order], tkm[order]
    if len(tkey) == 0:
        return fac, inst, km
    pos = np.minimum(np.searchsorted(tkey, key), len(tkey) - 1)
    hit = tkey[pos] == key
    km = km.copy()
    km[hit] = tkm[pos[hit]]
    extra = ~np.isin(tkey, key)
    return (
        np.concatenate((fac, tkey[extra] // problem.n_inst)),
        np.concatenate((inst, tkey[extra] % problem.n_inst)),
        np.concatenate((km, tkm[extra])),
    )


def build_candidates(
    problem: Problem, params: MatchParams, travel: TravelMatrix | None = None
) -> Candidates:
    """All pairs where the institution would cover at least one missing capability in range."""
    demand = np.flatnonzero(problem.missing)
    supply = np.flatnonzero(problem.offers)
    empty = np.zeros(0, np.int64)
    if len(demand) == 0 or len(supply) == 0:
        return Candidates(
            empty, empty, np.zeros(0), np.zeros(0, np.uint8), problem.n_fac, problem.n_inst
        )
    # Road distance ≥ great-circle, so great-circle range / road factor bounds every pair we need;
    # a travel matrix only lengthens pairs (roads are never shorter than the arc).
    reach_km = params.max_range_km / params.road_factor
    chord = km_to_chord(reach_km) * (1 + 1e-9)
    ftree = cKDTree(unit_vectors(problem.fac_lat[demand], problem.fac_lon[demand]))
    itree = cKDTree(unit_vectors(problem.inst_lat[supply], problem.inst_lon[supply]))
    pairs = ftree.sparse_distance_matrix(itree, chord, output_type="ndarray")
    fac = demand[pairs["i"].astype(np.int64)]
    inst = supply[pairs["j"].astype(np.int64)]
    km = chord_to_km(pairs["v"]) * params.road_factor
    # Coincident points come back with v == 0 but are in the result; nothing else to patch.
    if travel is not None and len(travel.fac):
        fac, inst, km = _apply_travel(problem, fac, inst, km, travel)
    covers = np.zeros(len(fac), np.uint8)
    offer_need = problem.offers[inst] & problem.missing[fac]
    for cap in CAPABILITIES:
        ok = (offer_need & int(cap)).astype(bool) & (km <= params.max_km[cap] + 1e-9)
        covers[ok] |= int(cap)
    keep = covers > 0
    fac, inst, km, covers = fac[keep], inst[keep], km[keep], covers[keep]
    order = _order_by_fac_km_inst(fac, km, inst)
    return Candidates(
        fac[order], inst[order], km[order], covers[order], problem.n_fac, problem.n_inst
    )


def _order_by_fac_km_inst(fac: np.ndarray, km: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """The permutation sorting pairs by (facility, km, institution), exactly.

    One float sort on facility·scale + km, checked pair by pair; only if two pairs of a facility
    tie on that key (km closer than its rounding) does it fall back to ``np.lexsort``.
    Measured on the national instance: lexsort of 6.6 M pairs 9–16 s, this 0.8 s.
    """
    if len(fac) == 0:
        return np.zeros(0, np.int64)
    scale = 2.0 ** np.ceil(np.log2(float(km.max()) + 2.0))
    order = np.argsort(fac * scale + km)
    f, k, i = fac[order], km[order], inst[order]
    ok = (f[:-1] < f[1:]) | (
        (f[:-1] == f[1:]) & ((k[:-1] < k[1:]) | ((k[:-1] == k[1:]) & (i[:-1] < i[1:])))
    )
    if bool(ok.all()):
        return order
    return np.lexsort((inst, km, fac))
