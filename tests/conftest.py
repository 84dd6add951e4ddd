"""Shared test helpers: tiny instance builders and an independent brute-force oracle."""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from matcher.candidates import Candidates, Problem, build_candidates  # noqa: E402
from matcher.model import Capability, Facility, Instance, Institution  # noqa: E402
from matcher.objective import Objective, evaluate  # noqa: E402
from matcher.params import MatchParams  # noqa: E402

BASE_LAT, BASE_LON = 33.56, 133.53  # 高知市


def at_km(north_km: float, east_km: float) -> tuple[float, float]:
    """A point offset from the base point by kilometres (small distances)."""
    lat = BASE_LAT + north_km / 111.195
    lon = BASE_LON + east_km / (111.195 * np.cos(np.radians(BASE_LAT)))
    return float(lat), float(lon)


def fac(
    fid: str,
    kind: str,
    north: float,
    east: float,
    covered: int = 0,
    has_partner: bool | None = False,
) -> Facility:
    lat, lon = at_km(north, east)
    return Facility(fid, f"施設{fid}", kind, lat, lon, covered=covered, has_partner=has_partner)


def inst(
    iid: str, kind: str, north: float, east: float, offers: int, capacity: int | None = None
) -> Institution:
    lat, lon = at_km(north, east)
    return Institution(iid, f"医療機関{iid}", kind, lat, lon, offers, capacity)


def chikamori() -> Institution:
    """近森病院 (id H1) as the registries list it: 医療機関コード 3910100011, offering all three."""
    return Institution(
        "H1",
        "近森病院",
        "hospital",
        33.56,
        133.53,
        Capability.CONSULT | Capability.CARE | Capability.ADMIT,
        None,
        "392014",
        "高知県高知市大川筋1-1-16",
        extra={"medical_code": "3910100011"},
    )


def brute_force(problem: Problem, cand: Candidates, max_partners: int) -> Objective:
    """Best objective over every feasible proposal (tiny instances only)."""
    start = cand.fac_start()
    per_fac = []
    for f in np.flatnonzero(problem.missing):
        pairs = list(range(start[f], start[f + 1]))
        options = [()]
        for k in range(1, max_partners + 1):
            options += list(itertools.combinations(pairs, k))
        per_fac.append(options)
    best: Objective | None = None
    limited = problem.capacity >= 0
    for combo in itertools.product(*per_fac):
        chosen = np.array([p for opt in combo for p in opt], np.int64)
        used = np.bincount(cand.inst[chosen], minlength=problem.n_inst)
        if (used[limited] > problem.capacity[limited]).any():
            continue
        obj = evaluate(problem, cand, chosen)
        if best is None or obj.key() > best.key():
            best = obj
    assert best is not None
    return best


@pytest.fixture
def kochi_small() -> Instance:
    from matcher.generate import generate

    return generate("高知県", n_facilities=120, n_institutions=60, seed=3, capacity_factor=0.4)


# What-if regions (tests/gaps): scarce declared capacity, so that one more unit or site can help.
WHATIF_PARAMS = MatchParams(max_km={1: 20.0, 2: 12.0, 4: 20.0})


def tight_instance(seed: int, undeclared: int | None = 0) -> Instance:
    """40 facilities × 14 institutions of 鳥取県, capacities scaled down (``scale_capacity``)."""
    from matcher.gaps.region import scale_capacity
    from matcher.generate import generate

    inst = generate("鳥取県", seed=seed, n_facilities=40, n_institutions=14, capacity_factor=0.4)
    return scale_capacity(inst, 1.0, undeclared)


def problem_and_candidates(instance: Instance, params: MatchParams | None = None):
    params = params or MatchParams()
    problem = Problem.from_instance(instance, params)
    return problem, build_candidates(problem, params)


# Store fixtures (one store per database) for every test folder; defined once in store_fixtures.
from store_fixtures import db_url, store  # noqa: E402, F401

# --- the web tests (tests/api): the two-area app of api_support on a fresh store copy ----------
# (here and not in a tests/api/conftest.py: a second conftest module would shadow the
# ``from conftest import ...`` of the helpers above)


@pytest.fixture()
def app_environment() -> None:
    """Set up the environment before ``app`` is created (a module overrides this to change it)."""


@pytest.fixture()
def app(tmp_path, app_environment):
    from api_support import make_app

    app = make_app(tmp_path)
    yield app
    app.state.jobs.join_all()
    app.state.store.dispose()


@pytest.fixture()
def client(app, request):
    """A TestClient on ``app``; a module with ``FOLLOW_REDIRECTS = False`` sees the redirects."""
    from fastapi.testclient import TestClient

    follow = getattr(request.module, "FOLLOW_REDIRECTS", True)
    with TestClient(app, follow_redirects=follow) as c:
        yield c
