"""Independent jobs of a sweep, run in this process, in a local process pool or on Dask.

One operation: ``executor.map(fn, context, jobs)`` calls ``fn(context, job)`` for every job and
returns the results in job order. ``context`` (the large shared part: the problem, the candidate
graph) is sent once per worker, the jobs are small. ``fn`` must be a module-level function so
that worker processes can import it. Backends:

- ``Sequential``: in this process (also what a pool does with fewer than two jobs);
- ``ProcessPool(workers)``: a local pool of spawned processes, the context given to each
  worker by the pool's initializer;
- ``DaskExecutor(address)``: a ``dask.distributed`` cluster, for sweeps larger than one machine
  (optional extra ``kyoryoku-match[distributed]``; ``"local"`` starts a ``LocalCluster`` here).
  The context is scattered to every worker once (``broadcast=True``) and each task receives
  its future. The workers must have this package installed.

The results do not depend on the backend: every job runs the same deterministic function on
the same data. Dask is imported only when a Dask executor is asked for.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from types import TracebackType
from typing import Any, TypeVar

from ._errors import MatcherError

C = TypeVar("C")
J = TypeVar("J")
R = TypeVar("R")

LOCAL = "local"  # ``DaskExecutor`` address that starts a LocalCluster in this process


class ParallelUnavailable(MatcherError):
    """The asked-for parallel backend cannot run (extra not installed, scheduler unreachable)."""

    exit_code = 2


class Executor:
    """Runs ``fn(context, job)`` for each job; results in job order. A context manager."""

    def map(self, fn: Callable[[C, J], R], context: C, jobs: Sequence[J]) -> list[R]:
        """``[fn(context, job) for job in jobs]``, possibly elsewhere."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the backend's resources (nothing for the local ones)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Sequential(Executor):
    """Every job in this process, one after another."""

    def map(self, fn: Callable[[C, J], R], context: C, jobs: Sequence[J]) -> list[R]:
        return [fn(context, job) for job in jobs]


_context: Any = None  # the context of the current map, in each pool worker (``_set_context``)


def _set_context(context: object) -> None:
    global _context
    _context = context


def _call(fn: Callable[[Any, J], R], job: J) -> R:
    return fn(_context, job)


class ProcessPool(Executor):
    """A pool of ``workers`` spawned processes per map (spawn: safe with threads and HiGHS)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def map(self, fn: Callable[[C, J], R], context: C, jobs: Sequence[J]) -> list[R]:
        n = min(self.workers, len(jobs))
        if n < 2:  # starting processes would cost more than it saves
            return Sequential().map(fn, context, jobs)
        with ProcessPoolExecutor(
            n, mp_context=get_context("spawn"), initializer=_set_context, initargs=(context,)
        ) as pool:
            return list(pool.map(_call, [fn] * len(jobs), jobs))


class DaskExecutor(Executor):
    """Jobs as tasks on a Dask cluster: the scheduler at ``address`` or a new LocalCluster.

    ``n_workers`` only applies to ``"local"`` (default: one single-threaded worker process per
    core). Connecting waits at most ``timeout`` seconds (default: Dask's setting
    ``distributed.comm.timeouts.connect``, 30 s unless configured). Raises
    ``ParallelUnavailable`` (in Japanese) when Dask is not installed or the scheduler cannot be
    reached.
    """

    def __init__(
        self, address: str, n_workers: int | None = None, timeout: float | None = None
    ) -> None:
        try:  # untyped API: held as Any
            dd: Any = importlib.import_module("dask.distributed")
        except ImportError as exc:
            raise ParallelUnavailable(
                "Dask がインストールされていません。分散実行には "
                "pip install 'kyoryoku-match[distributed]' で追加してください"
            ) from exc
        self.address = address
        self._cluster: Any = None
        if address == LOCAL:
            self._cluster = dd.LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
        # Built in two steps so that a client that failed to connect can still be closed (left
        # to its __del__, it times out at interpreter exit with a traceback on stderr).
        self.client: Any = dd.Client.__new__(dd.Client)
        target = address if self._cluster is None else self._cluster
        wait = {} if timeout is None else {"timeout": timeout}
        try:
            self.client.__init__(target, set_as_default=False, **wait)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise ParallelUnavailable(
                f"Dask のスケジューラー「{address}」に接続できません ({exc})"
            ) from exc

    def map(self, fn: Callable[[C, J], R], context: C, jobs: Sequence[J]) -> list[R]:
        if not jobs:
            return []
        shared = self.client.scatter(context, broadcast=True)
        try:
            futures = self.client.map(fn, [shared] * len(jobs), list(jobs), pure=False)
            return list(self.client.gather(futures))
        finally:
            self.client.cancel([shared])

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def open_executor(workers: int | None = None, dask: str | None = None) -> Executor:
    """The executor of the options ``--workers N`` / ``--dask ADDRESS|local`` (exclusive):
    a process pool for more than one worker, Dask for an address, else this process."""
    if dask is not None and workers is not None:
        raise ParallelUnavailable("--workers と --dask は同時に指定できません")
    if dask is not None:
        return DaskExecutor(dask)
    return ProcessPool(workers) if workers is not None and workers > 1 else Sequential()
