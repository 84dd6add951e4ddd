"""A kill -9 in the middle of an import loses nothing committed and leaves no half import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import select
from store_fixtures import fac

from matcher.store.db import open_store
from matcher.store.imports import import_facilities
from matcher.store.models import FacilityRow, FilingRow, InstitutionRow

CHILD = textwrap.dedent("""
    import sys, time
    from matcher.store.db import open_store
    from matcher.store.imports import import_simple
    from store_fixtures import fac, inst

    store = open_store(sys.argv[1], upgrade=True)
    with store.write() as s:
        facs = [fac(f"A{n:04d}", dlat=n * 1e-4, covered=1, has_partner=True) for n in range(300)]
        import_simple(s, facs, [inst(f"HA{n:03d}", capacity=2) for n in range(50)], 2025)
    print("A committed", flush=True)

    def stall(stage):
        if stage == "facilities":
            print("B half-way", flush=True)
            time.sleep(600)

    with store.write() as s:
        facs = [fac(f"B{n:04d}", dlat=-n * 1e-4, covered=1, has_partner=True) for n in range(300)]
        insts = [inst(f"HB{n:03d}") for n in range(50)]
        import_simple(s, facs, insts, 2025, progress=stall)
    print("B committed", flush=True)
""")


def test_kill_9_during_an_import_loses_nothing_committed(db_url, tmp_path):
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [
                os.path.dirname(os.path.dirname(__file__)),
                os.getcwd(),
                os.environ.get("PYTHONPATH", ""),
            ]
        ),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line.strip())
            if line.startswith("B half-way"):
                break
        assert lines == ["A committed", "B half-way"], proc.stderr.read()  # type: ignore[union-attr]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    store = open_store(db_url)
    try:
        with store.read() as s:
            facs = s.scalars(select(FacilityRow.facility_id)).all()
            insts = s.scalars(select(InstitutionRow.institution_id)).all()
            filings = s.scalars(select(FilingRow.facility_id)).all()
        assert sorted(facs) == [f"A{n:04d}" for n in range(300)]
        assert len(insts) == 50 and all(i.startswith("HA") for i in insts)
        assert len(filings) == 300
        if store.dialect == "sqlite":
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        with store.write() as s:  # the store takes new writes (no lock left behind)
            assert import_facilities(s, [fac("C0001")]).inserted == 1
    finally:
        store.dispose()
