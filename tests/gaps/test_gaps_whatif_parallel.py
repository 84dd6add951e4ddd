"""What-if sweeps on every backend of ``matcher.parallel``: this process, a local process pool and
a Dask LocalCluster give the same tables; a missing Dask or an unreachable scheduler is a Japanese
error (exit code 2 on the command line)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import WHATIF_PARAMS, tight_instance
from typer.testing import CliRunner

from matcher.cli import app
from matcher.gaps.region import Region
from matcher.gaps.whatif import WhatIfStats, capacity_whatif, site_whatif
from matcher.match import travel_matrix
from matcher.parallel import (
    DaskExecutor,
    Executor,
    ParallelUnavailable,
    ProcessPool,
    Sequential,
    open_executor,
)
from matcher.reference import municipalities_of

distributed = pytest.importorskip("dask.distributed", reason="the extra [distributed]")
dask = pytest.importorskip("dask")

DATA = Path(__file__).resolve().parents[2] / "data" / "sample"
SITES = list(municipalities_of("鳥取県"))[:8]


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    """A two-process Dask cluster on this machine, shut down after the module."""
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def dask_executor(cluster) -> Iterator[DaskExecutor]:
    """A client of ``cluster`` reached by its address, as ``--dask ADDRESS`` does."""
    with DaskExecutor(cluster.scheduler_address) as ex:
        yield ex


@pytest.fixture(params=["pool", "dask"])
def parallel(request: pytest.FixtureRequest) -> Executor:
    """Each parallel backend in turn (the Dask cluster is started only when asked for)."""
    if request.param == "pool":
        return ProcessPool(2)
    return request.getfixturevalue("dask_executor")


def _closed_port() -> int:
    """A local TCP port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gaps(out: Path, *options: str):
    """``kyoryoku gaps`` on 高知市 of the bundled sample."""
    args = ["gaps", str(DATA / "facilities.csv"), str(DATA / "institutions.csv")]
    return CliRunner().invoke(app, [*args, "--out", str(out), "--area", "39201", *options])


@pytest.fixture(scope="module")
def capacity_region() -> Region:
    return Region.of(tight_instance(2), WHATIF_PARAMS)


@pytest.fixture(scope="module")
def site_region() -> Region:
    return Region.of(tight_instance(1, undeclared=1), WHATIF_PARAMS)


@pytest.fixture(scope="module")
def road_region() -> Region:
    """A region whose base optimum uses a travel matrix: each site also re-solves without it."""
    instance = tight_instance(4, undeclared=1)
    pair = (instance.facilities[0].facility_id, instance.institutions[0].institution_id, 3.0)
    return Region.of(instance, WHATIF_PARAMS, travel_matrix(instance, [pair]))


def test_executors_keep_job_order(parallel: Executor) -> None:
    jobs = list(range(7))
    assert parallel.map(divmod, 100, jobs[1:]) == Sequential().map(divmod, 100, jobs[1:])


def test_capacity_sweep_is_the_same_on_every_backend(
    capacity_region: Region, parallel: Executor
) -> None:
    one, two = WhatIfStats(), WhatIfStats()
    sequential = capacity_whatif(capacity_region, stats=one)
    elsewhere = capacity_whatif(capacity_region, stats=two, executor=parallel)
    assert one.resolved == two.resolved >= 2
    pd.testing.assert_frame_equal(sequential, elsewhere)


@pytest.mark.parametrize("region", ["site_region", "road_region"])
def test_site_sweep_is_the_same_on_every_backend(
    region: str, parallel: Executor, request: pytest.FixtureRequest
) -> None:
    r: Region = request.getfixturevalue(region)
    one, two = WhatIfStats(), WhatIfStats()
    sequential = site_whatif(r, sites=SITES, capacity=2, stats=one)
    elsewhere = site_whatif(r, sites=SITES, capacity=2, stats=two, executor=parallel)
    assert one.resolved == two.resolved >= 2
    assert (sequential.gain_full > 0).any()
    pd.testing.assert_frame_equal(sequential, elsewhere)


def test_site_sweep_with_workers_uses_a_pool(site_region: Region) -> None:
    pooled = site_whatif(site_region, sites=SITES, capacity=2, workers=2)
    pd.testing.assert_frame_equal(site_whatif(site_region, sites=SITES, capacity=2), pooled)


def test_missing_dask_is_a_japanese_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if not installed
    with pytest.raises(ParallelUnavailable, match="Dask がインストールされていません"):
        DaskExecutor("local")
    res = gaps(tmp_path, "--dask", "local")
    assert res.exit_code == 2
    assert "kyoryoku-match[distributed]" in res.output


def test_unreachable_scheduler_is_a_japanese_error(tmp_path: Path) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with pytest.raises(ParallelUnavailable, match="スケジューラー.*に接続できません"):
        DaskExecutor(address, timeout=1)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        res = gaps(tmp_path, "--dask", address)
    assert res.exit_code == 2
    assert f"Dask のスケジューラー「{address}」に接続できません" in res.output


def test_workers_and_dask_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ParallelUnavailable):
        open_executor(2, "local")
    res = gaps(tmp_path, "--workers", "2", "--dask", "local")
    assert res.exit_code == 2
    assert "同時に指定できません" in res.output


def test_gaps_command_on_a_dask_cluster_writes_the_same_tables(tmp_path: Path, cluster) -> None:
    pytest.importorskip("matplotlib", reason="the command writes a map")
    assert gaps(tmp_path / "here", "--workers", "1").exit_code == 0
    res = gaps(tmp_path / "dask", "--dask", cluster.scheduler_address)
    assert res.exit_code == 0, res.output
    for name in ("whatif_capacity", "whatif_sites"):
        here = (tmp_path / "here" / f"{name}.csv").read_bytes()
        assert (tmp_path / "dask" / f"{name}.csv").read_bytes() == here, name
