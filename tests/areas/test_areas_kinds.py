"""構想区域 and 郡市医師会 as area kinds of their own (revision ``0010_area_kinds``).

On SQLite and PostgreSQL: the upgrade from the previous head with data present moves the
reference areas stored as ``renkei`` to their kind and loses nothing (memberships, runs); the
widened check constraint admits the new kinds and still refuses an unknown one; the downgrade
moves them back. ``save_area``, ``kyoryoku db area`` and ``kyoryoku areas import`` store them;
the dashboard and the area list show their labels.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import PASSWORD, login
from areas_support import SAMPLE
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from api.main import create_app
from api.users import add_user
from matcher._errors import InputError
from matcher.cli import app as cli
from matcher.store.areas import get_area, save_area
from matcher.store.db import Store, open_store
from matcher.store.migrate import current_revision, downgrade
from matcher.store.migrate import upgrade as upgrade_to
from matcher.vocab import AREA_KIND_LABELS_JA, AreaKind

PREVIOUS = "0009_intake"
REVISION = "0010_area_kinds"
# (code, kind stored before 0010, kind after)
ROWS = [
    ("39", "prefecture", "prefecture"),
    ("39201", "municipality", "municipality"),
    ("kochi-chuo", "renkei", "renkei"),
    ("kousou-3901", "renkei", "kousou"),
    ("kousou-39-中央", "renkei", "kousou"),
    ("ishikai-39-01", "renkei", "ishikai"),
    ("Kousou-x", "renkei", "renkei"),  # not a key the tables make (case differs): left alone
    ("my-kousou-3901", "renkei", "renkei"),
]


def _kinds(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT code, kind FROM areas")).all())


def _members(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM area_municipalities")).scalar_one())


def _insert_area(engine: Engine, code: str, kind: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, name, kind, created_at) "
                "VALUES (:code, :code, :kind, '2026-01-01 00:00:00')"
            ),
            {"code": code, "kind": kind},
        )


def test_upgrade_from_the_previous_head_moves_reference_areas_and_keeps_everything(
    db_url: str,
) -> None:
    store = open_store(db_url)
    try:
        upgrade_to(store.engine, PREVIOUS)
        for code, before, _ in ROWS:
            _insert_area(store.engine, code, before)
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO area_municipalities (area_id, code) SELECT id, '39201' FROM areas"
                )
            )
            # a run of a reference area: runs.area_id is ON DELETE RESTRICT
            conn.execute(
                text(
                    "INSERT INTO runs (area_id, mode, params, input_hash, mandatory_full, "
                    "effort_full, pairs_covered, partnerships, distance_km, proven_optimal, "
                    "message, seconds, counts, n_new, n_kept, n_dropped, actor, started_at, "
                    "finished_at) SELECT id, 'optimal', '{}', '', 0, 0, 0, 0, 0.0, true, '', "
                    "'{}', '{}', 0, 0, 0, 't', '2026-01-01 00:00:00', '2026-01-01 00:00:00' "
                    "FROM areas WHERE code = 'kousou-3901'"
                )
            )
        with pytest.raises(IntegrityError):
            _insert_area(store.engine, "kousou-3902", "kousou")  # the old constraint

        upgrade_to(store.engine, REVISION)
        assert _kinds(store.engine) == {code: after for code, _, after in ROWS}
        assert _members(store.engine) == len(ROWS)
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 1
        _insert_area(store.engine, "ishikai-39-02", "ishikai")
        with pytest.raises(IntegrityError, match="ck_areas_kind|CHECK"):
            _insert_area(store.engine, "x-1", "county")

        store.upgrade()  # and on to the head
        assert _kinds(store.engine)["kousou-3901"] == "kousou"

        downgrade(store.engine, PREVIOUS)
        assert current_revision(store.engine) == PREVIOUS
        kinds = _kinds(store.engine)
        assert kinds["kousou-3901"] == kinds["ishikai-39-02"] == "renkei"
        assert _members(store.engine) == len(ROWS)
        with pytest.raises(IntegrityError):
            _insert_area(store.engine, "kousou-3903", "kousou")
    finally:
        store.dispose()


def test_save_area_stores_every_kind_and_refuses_an_unknown_one(store: Store) -> None:
    with store.write() as s:
        for kind in AreaKind:
            save_area(s, f"a-{kind.value}", kind.label_ja, kind.value, ["39201"])
        with pytest.raises(InputError, match="不明な地域の種類「county」.*kousou \\(構想区域\\)"):
            save_area(s, "a-x", "x", "county", ["39201"])
    with store.read() as s:
        assert {k.value: get_area(s, f"a-{k.value}").kind for k in AreaKind} == {
            k.value: k.value for k in AreaKind
        }


def test_the_command_line_stores_the_new_kinds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    open_store(url, upgrade=True).dispose()
    runner = CliRunner()
    r = runner.invoke(
        cli,
        ["db", "area", "aki", "--name", "安芸", "--kind", "kousou", "--municipalities", "39202"],
        env={"KYORYOKU_DATABASE_URL": url},
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["areas", "import", str(SAMPLE), "--kind", "ishikai", "--db", url])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        ["db", "area", "x", "--name", "x", "--kind", "county", "--municipalities", "39202"],
        env={"KYORYOKU_DATABASE_URL": url},
    )
    assert r.exit_code == 2 and "不明な地域の種類" in r.output
    store = open_store(url)
    kinds = _kinds(store.engine)
    store.dispose()
    assert kinds["aki"] == "kousou"
    assert {k for c, k in kinds.items() if c.startswith("ishikai-")} == {"ishikai"}


@pytest.fixture()
def web(tmp_path: Path) -> TestClient:
    url = f"sqlite:///{tmp_path / 'web.db'}"
    store = open_store(url, upgrade=True)
    with store.write() as s:
        save_area(s, "kousou-3901", "安芸(構想区域)", "kousou", ["39202", "39203"])
        save_area(s, "ishikai-39-01", "安芸郡市医師会", "ishikai", ["39202"])
        save_area(s, "kochi-chuo", "高知市 在宅医療連携拠点", "renkei", ["39201"])
        add_user(s, "pref", PASSWORD, "prefecture", ["39"], "pref", actor="test")
    store.dispose()
    client = TestClient(create_app(url, secret_key="test-secret", tiles_url=""))
    login(client, "pref")
    return client


def test_the_dashboard_and_the_area_list_show_each_kind(web: TestClient) -> None:
    page = web.get("/").text
    for code, kind in (("kousou", "kousou"), ("ishikai", "ishikai"), ("renkei", "renkei")):
        cell = f'<td data-area-kind="{kind}">{AREA_KIND_LABELS_JA[kind]}</td>'
        assert cell in page, code
    areas = web.get("/areas").text
    assert [k for k in ("kousou", "ishikai", "renkei") if f'data-kind="{k}"' in areas] == [
        "kousou",
        "ishikai",
        "renkei",
    ]
    assert f"<h2>{AREA_KIND_LABELS_JA['ishikai']}</h2>" in areas
    view = web.get("/areas/ishikai-39-01").text
    assert f"&gt; {AREA_KIND_LABELS_JA['ishikai']}</p>" in view
    assert web.get("/api/areas/kousou-3901").json()["kind"] == "kousou"
