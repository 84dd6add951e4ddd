"""The candidate graph: which institution could cover what for which facility, and how far.

Pairs come from a k-d tree over unit vectors (``cKDTree.sparse_distance_matrix``), so the work
grows with the number of in-range pairs, never with facilities × institutions.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .geo import chord_to_km, km_to_chord, unit_vectors
from .model import Instance
from .params import MatchParams
from .vocab import admissible_offers

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
            # clinics never admit, whatever an Instance built by hand says (``vocab``)
            offers=np.array([admissible_offers(i.kind, i.offers) for i in insts], dtype=np.uint8),
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
        # Pairs are sorted by facility: the CSR rows of the facilities are ready, no conversion.
        # Weak connectivity of facility → institution edges is the undirected one. National
        # graph: 0.48 s against 1.2 s through a COO matrix and ``directed=False``.
        # Float64 entries: scipy's own dtype, so it does not convert them (which also sorted
        # every row's indices): 0.11 s instead of 0.33 s of CPU.
        indptr = np.r_[self.fac_start(), np.full(self.n_inst, len(self.fac))]
        graph = csr_matrix((np.ones(len(self.fac)), self.n_fac + self.inst, indptr), shape=(n, n))
        count, labels = connected_components(graph, directed=True, connection="weak")
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


# Facilities per chunk of the pair search: while one thread runs the (GIL-holding) k-d tree
# search of a chunk, the other runs the numpy work of the previous one, and small chunks reuse
# memory instead of faulting in fresh pages. National instance (6.6 M pairs), first call in a
# fresh process, median of 5 on an idle machine: one piece 2.3 s; chunks of 4,096 1.28 s,
# 1,024 0.83 s, 512 0.79 s (0.58–1.18 s).
_CHUNK = 512


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
    fvec = unit_vectors(problem.fac_lat[demand], problem.fac_lon[demand])
    ivec = unit_vectors(problem.inst_lat[supply], problem.inst_lon[supply])
    need = problem.missing[demand]
    offers = problem.offers[supply]
    limits = _covers_by_km(params)
    if travel is not None and len(travel.fac):
        itree = cKDTree(ivec)

        def chunk(start: int) -> tuple[np.ndarray, ...]:
            """Every pair of demand[start : start + _CHUNK] within reach (matrix applied later)."""
            pairs = cKDTree(fvec[start : start + _CHUNK]).sparse_distance_matrix(
                itree, chord, output_type="ndarray"
            )
            km = chord_to_km(pairs["v"]) * params.road_factor
            return demand[pairs["i"] + start], supply[pairs["j"]], km

    else:
        searches = _searches(offers, ivec, params)

        def chunk(start: int) -> tuple[np.ndarray, ...]:
            """Pairs of demand[start : start + _CHUNK], sorted by (facility, km, institution)."""
            fv, nd = fvec[start : start + _CHUNK], need[start : start + _CHUNK]
            found = []
            for tree, members, reach in searches:
                for r in np.unique(reach[nd]):
                    if r <= 0:
                        continue
                    sub = np.flatnonzero(reach[nd] == r)
                    pairs = cKDTree(fv[sub]).sparse_distance_matrix(
                        tree, km_to_chord(r) * (1 + 1e-9), output_type="ndarray"
                    )
                    found.append((sub[pairs["i"]], members[pairs["j"]], pairs["v"]))
            if not found:  # nothing these facilities miss is offered by anyone
                return empty, empty, np.zeros(0), np.zeros(0, np.uint8)
            li, lj, chords = (np.concatenate([f[k] for f in found]) for k in range(3))
            km = chord_to_km(chords) * params.road_factor
            covers = nd[li] & offers[lj] & limits(km)
            if not covers.all():
                keep = np.flatnonzero(covers)
                li, lj, km, covers = li[keep], lj[keep], km[keep], covers[keep]
            order = _order_by_fac_km_inst(li, km, lj)
            # Sorted by facility: the facility column is a run per facility (no gather).
            runs = np.bincount(li, minlength=len(nd))
            fac = np.repeat(demand[start : start + len(nd)], runs)
            return fac, supply[lj[order]], km[order], covers[order]

    starts = range(0, len(demand), _CHUNK)
    if len(starts) > 1:
        with ThreadPoolExecutor(2) as pool:
            parts = list(pool.map(chunk, starts))
    else:
        parts = [chunk(0)]
    if travel is None or not len(travel.fac):
        fac, inst, km, covers = (np.concatenate([p[k] for p in parts]) for k in range(4))
        return Candidates(fac, inst, km, covers, problem.n_fac, problem.n_inst)
    fac, inst, km = (np.concatenate([p[k] for p in parts]) for k in range(3))
    fac, inst, km = _apply_travel(problem, fac, inst, km, travel)
    covers = problem.offers[inst] & problem.missing[fac] & limits(km)
    keep = covers > 0
    fac, inst, km, covers = fac[keep], inst[keep], km[keep], covers[keep]
    order = _order_by_fac_km_inst(fac, km, inst)
    return Candidates(
        fac[order], inst[order], km[order], covers[order], problem.n_fac, problem.n_inst
    )


def _searches(
    offers: np.ndarray, ivec: np.ndarray, params: MatchParams
) -> list[tuple[cKDTree, np.ndarray, np.ndarray]]:
    """One k-d tree per set of offered capabilities: (tree, its institutions as positions in
    ``offers``, the search radius in great-circle km by the facility's missing mask).

    A facility searches each tree only as far as the capabilities it misses and those
    institutions offer reach (0: not at all). National instance: 8.3 M pairs found and 1.7 M
    dropped with one tree at the largest range, 6.8 M found with these (institutions offering
    only ③ are not searched by facilities that need no ③).
    """
    out = []
    for value in np.unique(offers):
        members = np.flatnonzero(offers == value)
        reach = np.zeros(8)
        for mask in range(1, 8):
            kms = [km for c, km in params.max_km.items() if int(c) & mask & int(value)]
            reach[mask] = max(kms, default=0.0) / params.road_factor
        out.append((cKDTree(ivec[members]), members, reach))
    return out


def _covers_by_km(params: MatchParams) -> Callable[[np.ndarray], np.ndarray]:
    """km → mask of the capabilities whose range (``params.max_km``) the distance meets."""
    limits = sorted({km + 1e-9 for km in params.max_km.values()})
    masks = np.array([params.reach(lim) for lim in limits] + [0], np.uint8)
    edges = np.array(limits)

    def allowed(km: np.ndarray) -> np.ndarray:
        # How many limits km exceeds: a comparison per limit beats ``searchsorted`` (3 limits).
        above = np.zeros(len(km), np.intp)
        for edge in edges:
            above += km > edge
        return np.asarray(masks[above], np.uint8)

    return allowed


def _order_by_fac_km_inst(fac: np.ndarray, km: np.ndarray, inst: np.ndarray) -> np.ndarray:
    """The permutation sorting pairs by (facility, km, institution), exactly.

    One integer sort of packed keys (facility, km quantised, position): quantising km is
    monotone, so it can only merge distances, never invert them; the runs of equal (facility,
    quantised km) — coincident institutions, km closer than the quantum — are then re-sorted
    exactly by (km, institution), so data with institutions at one address costs no global
    ``np.lexsort``. National instance, same run: lexsort 9–16 s, float argsort 0.5 s, this
    0.15 s. Falls back to a float argsort when the bits do not suffice.
    """
    n = len(fac)
    if n == 0:
        return np.zeros(0, np.int64)
    fac = np.asarray(fac, np.int64)
    low = int(fac.min())
    fbits = int(fac.max() - low).bit_length()
    ibits = max(1, (n - 1).bit_length())
    qbits = min(63 - fbits - ibits, 52)  # quanta exact in a double
    kmax = float(km.max())
    group: np.ndarray
    if fbits <= 16 and kmax > 0:
        # A chunk's facilities: two stable 16-bit sorts (numpy sorts those by radix, in linear
        # time), km quantised to 65,536 steps, then facility. National candidates: 0.12 s
        # against 0.27 s for the packed 64-bit sort below.
        q = (np.asarray(km, float) * (65535 / kmax)).astype(np.uint16)  # km ≤ kmax: no overflow
        order = np.argsort(q, kind="stable")
        f16 = (fac - low).astype(np.uint16)
        order = order[np.argsort(f16[order], kind="stable")]
        group = (f16[order].astype(np.int64) << 16) | q[order]
    elif qbits >= 20 and kmax > 0:
        top = (1 << qbits) - 1
        q = np.minimum(np.asarray(km, float) * (top / kmax), top).astype(np.uint64)
        key = ((fac - low).astype(np.uint64) << np.uint64(qbits + ibits)) | (q << np.uint64(ibits))
        key |= np.arange(n, dtype=np.uint64)
        key.sort()
        order = (key & np.uint64((1 << ibits) - 1)).astype(np.int64)
        group = key >> np.uint64(ibits)
    else:
        scale = 2.0 ** np.ceil(np.log2(kmax + 2.0))
        fkey = fac * scale + km
        order = np.argsort(fkey)
        group = fkey[order]
    tie = group[1:] == group[:-1]
    if not tie.any():
        return order
    at = np.flatnonzero(tie)
    run_pos = np.unique(np.concatenate((at, at + 1)))  # sorted positions inside some run
    prev, cur = run_pos[:-1], run_pos[1:]
    run_id = np.cumsum(np.r_[True, ~((cur == prev + 1) & tie[prev])])
    members = order[run_pos]
    fixed = np.lexsort((inst[members], km[members], run_id))
    order[run_pos] = members[fixed]
    return order
