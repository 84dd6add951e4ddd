"""One vocabulary: every status, requirement, kind, mode, duty and proposal-status text comes from
``matcher/vocab.py``, and only a facility without a filing is told 「届出なし」.

Three kinds of check, so that a second, re-worded copy fails here:

- a scan of ``matcher/`` and ``api/`` outside vocab.py — Python string literals by AST (docstrings
  and comments are prose, not labels), templates and scripts as text — for the vocabulary's
  wordings and the variants they had before they were unified;
- one definition each of the 経過措置 deadline, its countdown and the municipality-name lookup;
- rendered views: facility notices (filed 「協力医療機関なし」, no filing, unnamed partners), the
  request letter's status cell, and the status headings of the dashboard, its API, the progress
  table, the report tables and the national table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import page_login
from reports_case import TODAY, run

from matcher import vocab
from matcher.vocab import (
    CAPABILITIES,
    DEADLINE,
    DEADLINE_JA,
    LEVEL_LABELS_JA,
    NO_FILING_JA,
    SEED_CATEGORIES,
    UNNAMED_PARTNERS_JA,
    Duty,
    FacilityKind,
    InstitutionKind,
    Mode,
    Reason,
    Status,
)

FOLLOW_REDIRECTS = False  # page_login expects the login's redirect itself

ROOT = Path(__file__).resolve().parents[1]
HOME = "matcher/vocab.py"
PACKAGES = ("matcher", "api")
TEMPLATE_DIRS = ("matcher/reports/templates", "api/templates", "api/static")

# Wordings the labels had outside the vocabulary before they were unified: a copy coming back
# in any of these forms is a second definition.
VARIANTS = {
    "要件を満たさないが協力医療機関あり": "Status.NONE (dashboard, progress)",
    "集計していない(届出なし)": "Status.UNKNOWN (dashboard, progress)",
    "①全要件を満たす": "seed table ① (gaps.national)",
    "②一部を満たす": "seed table ② (gaps.national)",
    "要件なし(協力医療機関あり)": "seed table ③ (gaps.national)",
    "届出がないため": "the no-filing note of a notice",
    "認知症グループホーム": "FacilityKind.GH (the letters' duty note)",
}

# Names the readers match: registry and file formats and the synonyms a user may type. They are
# inputs, not labels, and only these (file, text) pairs may repeat a vocabulary text.
_KINDS = {k.label_ja for k in FacilityKind}
_INSTITUTION_KINDS = {k.label_ja for k in InstitutionKind}
_CAPABILITY_NAMES = {c.label_ja for c in CAPABILITIES}
INPUT_NAMES: dict[str, set[str]] = {
    "matcher/model.py": _KINDS | _INSTITUTION_KINDS | {"認知症グループホーム"},
    "matcher/sources/kaigo_registry.py": _KINDS,
    "matcher/sources/navii.py": _INSTITUTION_KINDS,
    "matcher/sources/filings.py": _CAPABILITY_NAMES,
    "matcher/sources/declarations.py": _CAPABILITY_NAMES,
    "matcher/sources/sample_region.py": _CAPABILITY_NAMES,
    # synthetic names (``介護医療院3``, ``病院12``), not labels
    "matcher/generate.py": {FacilityKind.IRYOIN.label_ja, InstitutionKind.HOSPITAL.label_ja},
    # the export's 打診中 column, which the import recognises and skips when reading it back
    "matcher/store/export.py": {vocab.ProposalStatus.CONTACTED.label_ja},
    "matcher/validate.py": {vocab.ProposalStatus.CONTACTED.label_ja},
}
# Copies in files another change owns at the moment; each should take the vocabulary's label
# (here: ``f"{Status.UNKNOWN.label_ja}の施設"``). Listed so that they are seen, not forgotten.
PENDING: dict[str, set[str]] = {
    "api/routes/workspace.py": {NO_FILING_JA},
}


def _allowed(path: str, text: str) -> bool:
    return text in INPUT_NAMES.get(path, set()) | PENDING.get(path, set())


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _python_files() -> list[Path]:
    return [
        p
        for pkg in PACKAGES
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if _rel(p) != HOME and ".venv" not in p.parts
    ]


def _template_files() -> list[Path]:
    return [
        p
        for d in TEMPLATE_DIRS
        for p in sorted((ROOT / d).rglob("*"))
        if p.suffix in (".html", ".js") and "vendor" not in p.parts
    ]


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal of a module (f-string parts included), except
    docstrings."""
    tree = ast.parse(path.read_text("utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.lineno, node.value


def _template_text_of(text: str) -> str:
    """A template without its Jinja comments."""
    return re.sub(r"\{#.*?#\}", "", text, flags=re.DOTALL)


def _template_text(path: Path) -> str:
    return _template_text_of(path.read_text("utf-8"))


def _text_nodes(text: str) -> Iterator[str]:
    """The literal texts of a template or script: between tags, outside Jinja expressions and
    statements, and inside quotes."""
    for piece in re.split(r"<[^>]*>|\{\{.*?\}\}|\{%.*?%\}|['\"]", text, flags=re.DOTALL):
        if piece.strip():
            yield piece.strip()


def _wordings() -> dict[str, str]:
    """Texts that are the vocabulary's alone (long and specific enough to search as substrings),
    with what each is."""
    out: dict[str, str] = {}
    for s in Status:
        out[s.label_ja] = f"Status.{s.name}.label_ja"
        out[s.heading_ja] = f"Status.{s.name}.heading_ja"
    for c in SEED_CATEGORIES:
        out[c.label_ja] = f"seed table {c.share}"
        out[c.wording] = f"seed table {c.share}"
    for s, text in UNNAMED_PARTNERS_JA.items():
        out[text] = f"UNNAMED_PARTNERS_JA[{s.name}]"
    out[NO_FILING_JA] = "NO_FILING_JA"
    out[DEADLINE_JA] = "DEADLINE_JA"
    out[DEADLINE.isoformat()] = "DEADLINE"
    return out


def _all_labels() -> dict[str, str]:
    """Every label of the vocabulary, with what it is."""
    out = {
        text: f"{enum.__name__}.{code}"
        for enum, m in vocab.LABELS_JA.items()
        for code, text in m.items()
    }
    out |= {c.label_ja: f"Capability.{c.name}" for c in CAPABILITIES}
    out |= {text: f"Level.{level.name}" for level, text in LEVEL_LABELS_JA.items()}
    out |= {s.heading_ja: f"Status.{s.name}.heading_ja" for s in Status}
    out |= {c.label_ja: f"seed table {c.share}" for c in SEED_CATEGORIES}
    return out


# -- the scan ---------------------------------------------------------------------------------


def test_no_string_rewords_a_status_the_seed_table_or_the_no_filing_wording() -> None:
    searched = _wordings() | VARIANTS
    found = []
    for path in _python_files():
        rel = _rel(path)
        for line, value in _strings(path):
            found += [
                f"{rel}:{line} {text!r} ({what})"
                for text, what in searched.items()
                if text in value and not _allowed(rel, text)
            ]
    for path in _template_files():
        rel = _rel(path)
        body = _template_text(path)
        found += [
            f"{rel} {text!r} ({what})"
            for text, what in searched.items()
            if text in body and not _allowed(rel, text)
        ]
    assert not found, "take these from matcher/vocab.py:\n" + "\n".join(found)


def test_no_python_string_is_a_copy_of_a_vocabulary_label() -> None:
    labels = _all_labels()
    found = [
        f"{_rel(path)}:{line} {value!r} ({labels[value]})"
        for path in _python_files()
        for line, value in _strings(path)
        if value in labels and not _allowed(_rel(path), value)
    ]
    assert not found, "take these from matcher/vocab.py:\n" + "\n".join(found)


def test_templates_take_their_labels_from_the_vocabulary() -> None:
    # Long labels are searched anywhere in a template; short words (義務, 合意, 病院 …) also occur
    # in sentences, so for them a literal text that *is* the label counts. Level labels are left
    # out: the run page words the objective's levels its own way (not unified yet).
    anywhere = (
        {c.label_ja for c in CAPABILITIES}
        | {k.label_ja for k in FacilityKind}
        | {r.label_ja for r in Reason}
        | set(_wordings())
        | set(VARIANTS)
    )
    exact = {t: what for t, what in _all_labels().items() if not what.startswith("Level.")}
    found = []
    for path in _template_files():
        rel, body = _rel(path), _template_text(path)
        found += [f"{rel} {t!r}" for t in sorted(anywhere) if t in body]
        found += [f"{rel} {t!r} ({exact[t]})" for t in _text_nodes(body) if t in exact]
    assert not found, "use the label filters and globals of api/labels.py:\n" + "\n".join(found)


def test_the_scan_sees_a_copy(tmp_path: Path) -> None:
    # The scan itself: literals are read, f-strings included; docstrings are prose.
    module = tmp_path / "copy.py"
    module.write_text(
        '"""Says 届出なし in prose."""\n'
        "LABEL = '③要件を満たさないが協力医療機関あり'\n"
        "KIND = f'{1}病院'\n"
        "def f():\n    '''届出なし'''\n    return '合意'\n",
        "utf-8",
    )
    assert [v for _, v in _strings(module)] == [
        "③要件を満たさないが協力医療機関あり",
        "病院",
        "合意",
    ]
    assert list(_text_nodes(_template_text_of("<td>{{ x }}</td><td> 合意 </td>{# 辞退 #}"))) == [
        "合意"
    ]


# -- one definition ---------------------------------------------------------------------------


def _module_level_definitions(name: str) -> list[str]:
    """Modules that define ``name`` at module level (def or assignment; imports do not count)."""
    out = []
    for path in [*_python_files(), ROOT / HOME]:
        for node in ast.parse(path.read_text("utf-8")).body:
            defined = (
                [node.name]
                if isinstance(node, ast.FunctionDef | ast.ClassDef)
                else [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
                + (
                    [node.target.id]
                    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    else []
                )
            )
            if name in defined:
                out.append(_rel(path))
    return out


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("DEADLINE", HOME),
        ("days_left", HOME),
        ("municipality_names", "matcher/progress.py"),
        ("STATUS_MARKS", HOME),
        ("SEED_CATEGORIES", HOME),
    ],
)
def test_one_definition(name: str, home: str) -> None:
    assert _module_level_definitions(name) == [home]


def test_the_deadline_is_written_nowhere_else() -> None:
    found = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and [
                a.value for a in node.args if isinstance(a, ast.Constant)
            ] == [DEADLINE.year, DEADLINE.month, DEADLINE.day]:
                found.append(f"{_rel(path)}:{node.lineno}")
    assert not found


def test_re_exports_are_the_same_objects() -> None:
    from matcher import reports
    from matcher.store import dashboard

    assert dashboard.days_left is vocab.days_left and reports.days_left is vocab.days_left


# -- rendered views ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def case():
    from matcher.reports.tables import ReportData

    inst, result = run()
    return ReportData(inst, result, TODAY)


def _notice(data, facility_id: str) -> str:
    from matcher.reports.pages import facility_context, render_letter

    return render_letter(facility_context(data, data.facility[facility_id]))


def _fact(html: str, heading: str) -> str:
    m = re.search(rf"<tr><th>{heading}</th><td>(.*?)</td></tr>", html, re.DOTALL)
    assert m, heading
    return m.group(1)


def test_notice_to_a_facility_that_filed_nashi_says_so_and_never_no_filing(case) -> None:
    # F1 filed 「協力医療機関なし」 (has_partner false).
    assert case.facility["F1"].has_partner is False
    html = _notice(case, "F1")
    assert Status.NO_PARTNER.heading_ja in _fact(html, "現在の状況")
    assert _fact(html, "現在の協力医療機関") == UNNAMED_PARTNERS_JA[Status.NO_PARTNER]
    assert NO_FILING_JA not in html


def test_notice_to_a_facility_without_a_filing_says_no_filing(case) -> None:
    # F3 has no filing (has_partner unknown, nothing covered).
    assert case.facility["F3"].has_partner is None
    html = _notice(case, "F3")
    status = _fact(html, "現在の状況")
    assert Status.UNKNOWN.heading_ja in status and status.count(NO_FILING_JA) == 1
    assert f"{Status.NO_PARTNER.label_ja}として扱っています" in status
    assert _fact(html, "現在の協力医療機関") == NO_FILING_JA


def test_notice_to_a_facility_whose_filing_names_no_partner(case) -> None:
    # F2 filed partners covering ① without naming them: it has partners, and it did file.
    html = _notice(case, "F2")
    assert _fact(html, "現在の協力医療機関") == UNNAMED_PARTNERS_JA[Status.PARTIAL]
    assert NO_FILING_JA not in html


def test_request_letter_states_a_status_once(case) -> None:
    # The row of F3 used to say 「④届出なし(不明)」 and again 「届出なし」 under it.
    from matcher.reports.pages import institution_context, render_letter

    html = render_letter(institution_context(case, case.institution["H1"]))
    row = next(r for r in re.findall(r"<tr>.*?</tr>", html, re.DOTALL) if "老健みどり" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
    assert f'<span class="status-unknown">{Status.UNKNOWN.heading_ja}</span>' in cells
    assert row.count(NO_FILING_JA) == 1


def test_regression_notices_told_88_facilities_that_filed_nashi_they_did_not_file() -> None:
    # The synthetic 高知県: 88 facilities filed 「協力医療機関なし」; their notices said 届出なし.
    from matcher.generate import generate
    from matcher.match import match
    from matcher.reports.tables import ReportData

    inst = generate("高知県", scale=1, seed=1)
    data = ReportData(inst, match(inst), TODAY)
    statuses = {f.facility_id: data.outcome[f.facility_id].status_before for f in inst.facilities}
    assert sum(s is Status.NO_PARTNER for s in statuses.values()) == 88
    wrong = [
        f.facility_id
        for f in data.demand_facilities
        if (NO_FILING_JA in _notice(data, f.facility_id))
        != (statuses[f.facility_id] is Status.UNKNOWN)
    ]
    assert not wrong


def test_report_tables_head_statuses_with_the_vocabulary(case) -> None:
    status = case.status_table()
    for when in ("現在", "提案後"):
        assert [c for c in status.columns if c.startswith(when) and "割合" not in c][
            : len(Status)
        ] == [f"{when} {s.heading_ja}" for s in Status]
    facilities = case.facility_table()
    assert set(facilities["現在の状況"]) <= {s.heading_ja for s in Status}
    assert list(facilities[NO_FILING_JA]) == [
        NO_FILING_JA if case.outcome[f].unknown else "" for f in facilities["施設ID"]
    ]
    institutions = case.institution_table()
    assert [f"うち{c.label_ja}" for c in CAPABILITIES] <= list(institutions.columns)


def test_progress_and_national_tables_head_with_the_vocabulary() -> None:
    from matcher.gaps import national
    from matcher.progress import progress_of
    from matcher.sources import seed_table

    p = progress_of([("F1", "39201", "tokuyo")], {"F1": {2025: Status.ALL}})
    assert [s.heading_ja for s in Status] == list(p.frame_ja().columns[5 : 5 + len(Status)])
    assert national.SHARE_LABELS_JA == {c.share: c.label_ja for c in SEED_CATEGORIES}
    assert national.SHARES == seed_table.SHARES == tuple(c.share for c in SEED_CATEGORIES)


def test_dashboard_and_its_api_head_statuses_with_the_vocabulary(client) -> None:
    from matcher.store.dashboard import INFECTION_COLUMN

    page_login(client, "coord_a")
    html = client.get("/").text
    table = re.search(r'<table id="status-table">(.*?)</table>', html, re.DOTALL)
    assert table
    head = re.search(r"<tr>(.*?)</tr>", table.group(1), re.DOTALL)
    assert head
    headings = re.findall(r"<th>(.*?)</th>", head.group(1))
    assert headings == ["施設種別", *[s.heading_ja for s in Status], "計", INFECTION_COLUMN[1]]
    assert f"{FacilityKind.TOKUYO.label_ja}({Duty.MANDATORY.label_ja})" in html
    assert DEADLINE_JA in html
    body = client.get("/api/status-table").json()
    assert [(c["key"], c["label"]) for c in body["columns"]] == [
        (s.value, s.heading_ja) for s in Status
    ]


def test_run_form_and_map_take_labels_from_the_vocabulary(client) -> None:
    page_login(client, "coord_a")
    form = client.get("/runs/new", params={"area": "area-a"}).text
    for c in CAPABILITIES:
        assert f">{c.label_ja}</label>" in form
    assert f"{Status.UNKNOWN.label_ja}の施設も対象にする" in form
    assert Mode.OPTIMAL.label_ja in form
    legend = client.get("/map").text
    for s in ("proposed", "contacted", "agreed"):
        assert f"</svg> {vocab.ProposalStatus(s).label_ja}" in legend
