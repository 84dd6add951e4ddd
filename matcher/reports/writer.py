"""Writing a run's whole report folder: workbook, CSV, overview, requests, notices, PDFs.

Layout of ``out_dir``::

    index.html                 table of contents
    report.xlsx                the coordinator's workbook
    overview.html / .pdf       the area overview for the 調整会議
    chart_status.png           the status-by-kind chart (also inside the overview)
    institutions.html / .pdf   every institution's request, one page each (print in one go)
    facilities.html / .pdf     every facility's notice, one page each
    institutions/<id>.html     one request per institution (and <id>.pdf with pdf="each")
    facilities/<id>.html       one notice per facility with missing capabilities (likewise)
    csv/                       the run's files (proposals.csv …) and the report tables, UTF-8 BOM
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from ..model import Instance
from ..result import MatchResult
from ..sources.result_files import write_result
from ..sources.textfile import write_csv
from .chart import japanese_font, status_chart_png
from .pages import facility_context, index_html, institution_context, overview_html, render_document
from .pdf import ChromiumPrinter, pdf_backend
from .tables import ReportData, status_text
from .workbook import write_workbook

Progress = Callable[[str, int, int], None]
PdfMode = Literal["bundle", "each", "none"]
PDF_MODES: tuple[PdfMode, ...] = ("bundle", "each", "none")
STAGES_JA = {
    "workbook": "Excel ブック",
    "csv": "CSV",
    "overview": "地域の概要",
    "institutions": "医療機関への依頼",
    "facilities": "施設へのお知らせ",
    "pdf": "PDF",
}
MAX_PDF_WORKERS = 2  # each Chromium uses a few hundred MB; more rarely pays off
_UNSAFE = re.compile(r"[^0-9A-Za-z_.\-]")


@dataclass
class ReportFiles:
    """What ``write_reports`` wrote, and what it could not (``notes``, in Japanese)."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    institution_pages: dict[str, Path] = field(default_factory=dict)
    facility_pages: dict[str, Path] = field(default_factory=dict)
    pdfs: list[Path] = field(default_factory=list)
    pdf_backend: str | None = None
    notes: list[str] = field(default_factory=list)


def safe_name(item_id: str, taken: set[str]) -> str:
    """A file-name-safe, unique stem for an id (ids may hold any character)."""
    stem = _UNSAFE.sub("_", item_id) or "_"
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    taken.add(name)
    return name


def write_csv_tables(data: ReportData, out: Path) -> dict[str, Path]:
    """The run's own files (via ``write_result``) plus every report table, into ``out``."""
    paths = write_result(data.instance, data.result, out)
    tables = {
        "overview": data.overview_table(),
        "status_by_kind": data.status_table(),
        "facility_report": data.facility_table(),
        "institution_requests": data.institution_table(),
        "uncovered": data.uncovered_table(),
        "uncovered_by_reason": data.reason_table(),
        "isolated": data.isolated_table(),
    }
    for name, df in tables.items():
        paths[name] = write_csv(df, out / f"{name}.csv")
    return paths


def write_reports(
    instance: Instance,
    result: MatchResult,
    out_dir: str | Path,
    progress: Progress | None = None,
    today: date | None = None,
    pdf: PdfMode = "bundle",
    notes: Sequence[str] = (),
) -> ReportFiles:
    """Write every report of a run into ``out_dir`` and return what was written.

    Parameters
    ----------
    instance, result
        The matching input and its result (from ``matcher.match.match`` or the store).
    out_dir
        Folder to write into (created; existing files are overwritten).
    progress
        Called as ``progress(stage, done, total)``; stages are the keys of ``STAGES_JA``.
    today
        The date printed on the documents and counted down to 2027-03-31 (default: today).
    pdf
        ``bundle``: one PDF each for the overview, all requests and all notices (fast);
        ``each``: also one PDF per institution and facility (slower, ~0.1–0.4 s per page);
        ``none``: HTML only. Without a Chromium-based browser no PDF is written and ``notes``
        says so.
    notes
        Notes on the input (Japanese), e.g. that a stored run could not be rebuilt exactly; they
        open ``ReportFiles.notes`` and are shown in ``index.html``.
    """
    if pdf not in PDF_MODES:
        raise ValueError(f"不明な PDF の指定「{pdf}」(使えるのは {', '.join(PDF_MODES)})")
    report = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = ReportData(instance, result, today or date.today())
    files = ReportFiles(out, notes=list(notes))

    report("workbook", 0, 1)
    files.files["workbook"] = write_workbook(data, out / "report.xlsx")
    report("workbook", 1, 1)

    report("csv", 0, 1)
    files.files.update({f"csv_{k}": v for k, v in write_csv_tables(data, out / "csv").items()})
    report("csv", 1, 1)

    report("overview", 0, 1)
    if japanese_font() is None:
        files.notes.append(
            "日本語フォントが見つからないため、グラフの文字を英字にしました (Debian: apt-get install fonts-noto-cjk)"
        )
    chart = status_chart_png(data)
    (out / "chart_status.png").write_bytes(chart)
    files.files["chart"] = out / "chart_status.png"
    html, outside = overview_html(data, chart)
    files.files["overview"] = _write(out / "overview.html", html)
    if outside:
        files.notes.append(f"概要の地図には遠隔地(島しょ部など)の {outside} 地点を表示していません")
    report("overview", 1, 1)

    insts = data.requested_institutions
    files.institution_pages.update(
        _page_batch(
            out,
            "institutions",
            [
                (i.institution_id, f"依頼 {i.name}", lambda i=i: institution_context(data, i))
                for i in insts
            ],
            "医療機関への依頼",
            files,
            report,
        )
    )
    facs = data.demand_facilities
    files.facility_pages.update(
        _page_batch(
            out,
            "facilities",
            [
                (f.facility_id, f"お知らせ {f.name}", lambda f=f: facility_context(data, f))
                for f in facs
            ],
            "施設へのお知らせ",
            files,
            report,
        )
    )

    exe, backend_note = pdf_backend()
    if pdf == "none":
        backend_note = "PDF は作成していません (pdf=none)"
    elif exe is None:
        files.notes.append(backend_note)
    else:
        files.pdf_backend = exe
        jobs = [files.files["overview"], files.files["institutions"], files.files["facilities"]]
        if pdf == "each":
            jobs += [*files.institution_pages.values(), *files.facility_pages.values()]
        files.pdfs = print_pdfs(exe, jobs, report)

    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    has_pdf = set(files.pdfs)

    def pdf_of(path: Path) -> str | None:
        return rel(path.with_suffix(".pdf")) if path.with_suffix(".pdf") in has_pdf else None

    index = index_html(
        data,
        [
            {
                "name": i.name,
                "html": rel(files.institution_pages[i.institution_id]),
                "pdf": pdf_of(files.institution_pages[i.institution_id]),
                "n": len(data.proposals_of_institution[i.institution_id]),
            }
            for i in insts
        ],
        [
            {
                "name": f.name,
                "html": rel(files.facility_pages[f.facility_id]),
                "pdf": pdf_of(files.facility_pages[f.facility_id]),
                "status": status_text(data.outcome[f.facility_id].status_after),
            }
            for f in facs
        ],
        [
            {
                "label": "医療機関への依頼",
                "html": "institutions.html",
                "pdf": pdf_of(files.files["institutions"]),
            },
            {
                "label": "施設へのお知らせ",
                "html": "facilities.html",
                "pdf": pdf_of(files.files["facilities"]),
            },
        ],
        pdf_of(files.files["overview"]),
        backend_note,
        list(notes),
    )
    files.files["index"] = _write(out / "index.html", index)
    return files


def print_pdfs(
    exe: str, jobs: list[Path], progress: Progress, workers: int | None = None
) -> list[Path]:
    """Print HTML files to PDFs next to them, with one browser per worker (at most 2 per CPU pair).

    Jobs are dealt largest first to the least loaded worker, so a 500-page bundle and many small
    pages finish together.
    """
    n = max(1, min(workers or min(os.cpu_count() or 1, MAX_PDF_WORKERS), len(jobs)))
    lanes: list[list[Path]] = [[] for _ in range(n)]
    load = [0] * n
    for job in sorted(jobs, key=lambda p: p.stat().st_size, reverse=True):
        k = load.index(min(load))
        lanes[k].append(job)
        load[k] += job.stat().st_size
    done = [0]
    lock = threading.Lock()

    def run(lane: list[Path]) -> None:
        with ChromiumPrinter(exe) as printer:
            for html_path in lane:
                printer.print_pdf(html_path, html_path.with_suffix(".pdf"))
                with lock:
                    done[0] += 1
                    progress("pdf", done[0], len(jobs))

    progress("pdf", 0, len(jobs))
    with ThreadPoolExecutor(max_workers=n) as pool:
        for future in [pool.submit(run, lane) for lane in lanes if lane]:
            future.result()
    return [job.with_suffix(".pdf") for job in jobs]


def _page_batch(
    out: Path,
    stage: str,
    pages: list[tuple[str, str, Callable[[], dict]]],
    bundle_title: str,
    files: ReportFiles,
    report: Callable[[str, int, int], None],
) -> dict[str, Path]:
    """One printable page per item under ``out/stage/`` plus the bundle ``out/stage.html``."""
    taken: set[str] = set()
    written: dict[str, Path] = {}
    contexts = []
    for k, (item_id, title, make_context) in enumerate(pages, start=1):
        ctx = make_context()
        contexts.append(ctx)
        path = out / stage / f"{safe_name(item_id, taken)}.html"
        written[item_id] = _write(path, render_document(title, [ctx]))
        report(stage, k, len(pages))
    files.files[stage] = _write(out / f"{stage}.html", render_document(bundle_title, contexts))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
