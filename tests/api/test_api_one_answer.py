"""The web and the CLI give one answer (issue 21): the same simple-format files uploaded through
``POST /api/imports/*`` and imported by ``kyoryoku db import-csv`` leave the same facilities,
institutions, filings (with their named partners) and declarations in the store; a run started
through ``POST /api/runs`` plans to the same five objective values as ``kyoryoku run`` and as
``kyoryoku match`` on the files; the report rebuilt from the stored run says the same."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from sqlalchemy import select
from store_fixtures import fresh_store
from strategies import simple_files
from typer.testing import CliRunner

from api.main import create_app
from api.users import add_user
from matcher.cli import app as cli
from matcher.match import match
from matcher.model import Instance
from matcher.params import MatchParams
from matcher.sources.simple_csv import (
    load_facilities,
    load_institutions,
    write_facilities,
    write_institutions,
)
from matcher.store.models import (
    DeclarationRow,
    FacilityRow,
    FilingPartnerRow,
    FilingRow,
    InstitutionRow,
    ProposalRow,
    RunRow,
)
from matcher.store.report_input import run_input

PASSWORD = "correct horse battery staple 39"
YEAR = 2025
MAX_KM = {"consult": 15.0, "care": 12.0, "admit": 20.0}
PARAMS = MatchParams(max_km={1: 15.0, 2: 12.0, 4: 20.0})  # type: ignore[dict-item]
runner = CliRunner()


def _content(store) -> dict[str, list[tuple]]:
    """What an import wrote, without times, row ids and the source's file name."""
    with store.read() as s:
        partners = {
            f.id: sorted(
                (p.position, p.partner_name, p.institution_id, p.filed_institution_id, p.covers)
                for p in s.scalars(
                    select(FilingPartnerRow).where(FilingPartnerRow.filing_id == f.id)
                )
            )
            for f in s.scalars(select(FilingRow))
        }
        return {
            "facilities": sorted(
                (
                    r.facility_id,
                    r.name,
                    r.kind,
                    r.lat,
                    r.lon,
                    r.municipality_code,
                    r.address,
                    r.geocode,
                    sorted(r.extra.items()),
                )
                for r in s.scalars(select(FacilityRow))
            ),
            "institutions": sorted(
                (
                    r.institution_id,
                    r.name,
                    r.kind,
                    r.lat,
                    r.lon,
                    r.offers,
                    r.municipality_code,
                    r.address,
                    r.geocode,
                    sorted(r.extra.items()),
                )
                for r in s.scalars(select(InstitutionRow))
            ),
            "filings": sorted(
                (r.facility_id, r.filing_year, r.has_partner, r.covered, partners[r.id])
                for r in s.scalars(select(FilingRow))
            ),
            "declarations": sorted(
                (r.institution_id, r.willing, r.capacity, r.offers, r.infection_agreement)
                for r in s.scalars(select(DeclarationRow))
            ),
        }


def _values(o) -> tuple:
    return (
        o.mandatory_full,
        o.effort_full,
        o.pairs_covered,
        o.partnerships,
        round(o.distance_km, 6),
    )


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example is a whole store
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=simple_files())
def test_web_and_cli_import_and_plan_alike(tmp_path_factory, data):
    facilities, institutions = data
    folder = tmp_path_factory.mktemp("one")
    f_csv, i_csv = folder / "facilities.csv", folder / "institutions.csv"
    write_facilities(facilities, f_csv)
    write_institutions(institutions, i_csv)
    files = Instance.of(load_facilities(f_csv).items, load_institutions(i_csv).items)
    expected = _values(match(files, PARAMS, "optimal").objective)
    km = "consult=15,care=12,admit=20"
    with fresh_store("sqlite", folder) as by_cli, fresh_store("sqlite", folder) as by_web:
        url = str(by_cli.engine.url)
        r = runner.invoke(
            cli,
            ["db", "import-csv", str(f_csv), str(i_csv), "--db", url, "--filing-year", str(YEAR)],
        )
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["run", "--area", "39", "--db", url, "--max-km", km])
        assert r.exit_code == 0, r.output
        with by_web.write() as s:
            add_user(s, "pref", PASSWORD, "prefecture", ["39"], "県", actor="test")
        app = create_app(str(by_web.engine.url), secret_key="k", tiles_url="")
        with TestClient(app) as client:
            token = client.post(
                "/api/session", json={"username": "pref", "password": PASSWORD}
            ).json()["csrf_token"]
            h = {"X-CSRF-Token": token}
            for kind, path in (("institutions", i_csv), ("facilities", f_csv)):
                r = client.post(
                    f"/api/imports/{kind}",
                    files={"file": (path.name, path.read_bytes())},
                    data={"filing_year": str(YEAR)},
                    headers=h,
                )
                assert r.status_code == 200, r.text
                assert r.json()["rejected"] == 0, r.text
            assert _content(by_web) == _content(by_cli)
            r = client.post("/api/runs", json={"area_code": "39", "max_km": MAX_KM}, headers=h)
            assert r.status_code in (201, 202), r.text
            _check_runs(by_cli, by_web, expected)
            # the same decisions through each path (agreed, declined, contacted: in pair
            # order), then a second run on each
            decisions = dict(zip(_live_pairs(by_cli), DECISIONS, strict=False))
            assert _live_pairs(by_web) == _live_pairs(by_cli)
            for (fid, iid), status in decisions.items():
                pid, version = _proposal(by_cli, fid, iid)
                r = runner.invoke(
                    cli,
                    [
                        "proposals",
                        "set-status",
                        str(pid),
                        status,
                        "--version",
                        str(version),
                        "--db",
                        url,
                    ],
                )
                assert r.exit_code == 0, r.output
                pid, version = _proposal(by_web, fid, iid)
                r = client.post(
                    f"/api/proposals/{pid}/status",
                    json={"status": status, "version": version},
                    headers=h,
                )
                assert r.status_code == 200, r.text
            r = runner.invoke(cli, ["run", "--area", "39", "--db", url, "--max-km", km])
            assert r.exit_code == 0, r.output
            r = client.post("/api/runs", json={"area_code": "39", "max_km": MAX_KM}, headers=h)
            assert r.status_code in (201, 202), r.text
        assert _live_pairs(by_web) == _live_pairs(by_cli)
        _check_runs(by_cli, by_web, None)


DECISIONS = ("agreed", "declined", "contacted")


def _live_pairs(store) -> list[tuple[str, str]]:
    with store.read() as s:
        return sorted(
            (p.facility_id, p.institution_id)
            for p in s.scalars(select(ProposalRow).where(ProposalRow.status != "withdrawn"))
        )


def _proposal(store, fid: str, iid: str) -> tuple[int, int]:
    with store.read() as s:
        p = s.scalars(
            select(ProposalRow).where(
                ProposalRow.facility_id == fid,
                ProposalRow.institution_id == iid,
                ProposalRow.status == "proposed",
            )
        ).one()
        return p.id, p.version


def _check_runs(by_cli, by_web, expected: tuple | None) -> None:
    """Both stores' latest runs have the same five values (``expected`` when given), and the
    report rebuilt from each stored run says the same."""
    values = []
    for store in (by_cli, by_web):
        with store.read() as s:
            run = s.scalars(select(RunRow).order_by(RunRow.id.desc())).first()
            assert run is not None
            stored = (
                run.mandatory_full,
                run.effort_full,
                run.pairs_covered,
                run.partnerships,
                round(run.distance_km, 6),
            )
            if expected is not None:
                assert stored == expected
            report = run_input(s, run.id)
            assert report.exact
            assert _values(report.result.objective) == stored
            values.append(stored)
    assert values[0] == values[1]
