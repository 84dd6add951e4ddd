"""Writing a run's whole report folder: workbook, CSV, overview, letters, PDFs.

Layout of ``out_dir``::

    index.html                 table of contents, letters grouped by municipality with counts
    report.xlsx                the coordinator's workbook (print titles, fitted to the page width)
    overview.html / .pdf       the area overview for the 調整会議
    chart_status.png           the status-by-kind chart (also inside the overview)
    institutions.html / .pdf   every institution's request, each on its own pages
    facilities.html / .pdf     every facility's notice
    institutions/<name>_<id>.html / .pdf   one request per institution, named for the recipient
    facilities/<name>_<id>.html / .pdf     one notice per facility with missing capabilities
    csv/                       the run's files (proposals.csv …) and the report tables, UTF-8 BOM

Letters are ordered by the recipient's municipality, so the printed bundles come out in the
index's order. PDFs: the letters are printed in batches by one or two reused browsers, each batch
is cut into one PDF per letter and the batches are joined into the bundles (``pdfpages``).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

from .. import fonts
from ..model import Facility, Instance, Institution
from ..progress import Progress as FilingYears
from ..result import MatchResult
from ..sources.result_files import write_result
from ..sources.textfile import write_csv
from ..vocab import Duty
from .chart import status_chart_png
from .pages import (
    FACILITY_TITLE,
    INSTITUTION_TITLE,
    IndexGroup,
    facility_context,
    index_html,
    institution_context,
    overview_html,
    page_rule,
    render_letter,
    wrap_letters,
)
from .pdf import ChromiumPrinter, pdf_backend
from .pdfpages import PdfFile, page_ranges, write_pages
from .sender import Sender
from .tables import NO_MUNICIPALITY, ReportData, status_text
from .workbook import write_workbook

Progress = Callable[[str, int, int], None]
PdfMode = Literal["bundle", "each", "none"]
PDF_MODES: tuple[PdfMode, ...] = ("bundle", "each", "none")
STAGES_JA = {
    "baseline": "比較用の計算(近い順)",
    "workbook": "Excel ブック",
    "csv": "CSV",
    "overview": "地域の概要",
    "institutions": "医療機関への依頼",
    "facilities": "施設へのお知らせ",
    "pdf": "PDF",
}
MAX_PDF_WORKERS = 2  # each Chromium uses a few hundred MB; more rarely pays off on 2 cores
# Letters per printed batch: measured on 東京都 (875 letters, 2 cores) 16–48 are within 10 % of
# each other; smaller batches make smaller per-letter PDFs (each carries its batch's font subset).
BATCH = 24
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\s]+')
_UNSAFE_ID = re.compile(r"[^0-9A-Za-z_.\-]")


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
    seconds: dict[str, float] = field(default_factory=dict)


def safe_name(item_id: str, taken: set[str], name: str = "") -> str:
    """A unique file stem: the recipient's name (when given) and the id, file-system safe."""
    ident = _UNSAFE_ID.sub("_", item_id) or "_"
    label = _UNSAFE.sub("_", unicodedata.normalize("NFKC", name)).strip("._")[:40]
    stem = f"{label}_{ident}" if label else ident
    out, n = stem, 2
    while out.lower() in taken:
        out, n = f"{stem}_{n}", n + 1
    taken.add(out.lower())
    return out


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
        "comparison": data.comparison_table(),
    }
    if data.has_filing_years:  # the store's 年度 history (``matcher.progress``)
        tables["progress_by_year"] = data.progress_table()
        tables["good_practices"] = data.good_practice_table()
    for name, df in tables.items():
        paths[name] = write_csv(df, out / f"{name}.csv")
    return paths


def greedy_baseline(instance: Instance, result: MatchResult) -> MatchResult:
    """The greedy baseline ("近い順に依頼した場合") on the same input and parameters."""
    from ..match import match

    return match(instance, result.params, "greedy")  # filed partners are left out by the core


@dataclass
class _Letter:
    item_id: str
    title: str
    municipality: str
    context: dict[str, object]
    stem: str = ""
    html: str = ""  # the rendered <section>
    rule: str = ""  # its @page rule (running head, page numbers)


def write_reports(
    instance: Instance,
    result: MatchResult,
    out_dir: str | Path,
    progress: Progress | None = None,
    today: date | None = None,
    pdf: PdfMode = "each",
    notes: Sequence[str] = (),
    sender: Sender | None = None,
    baseline: MatchResult | None = None,
    filing_years: FilingYears | None = None,
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
        The date printed on the documents and counted down to ``vocab.DEADLINE`` (default: today).
    pdf
        ``each``: the bundles and one PDF per letter; ``bundle``: the bundles only; ``none``:
        HTML only. Without a Chromium-based browser no PDF is written and ``notes`` says so.
    notes
        Notes on the input (Japanese), e.g. that a stored run could not be rebuilt exactly; they
        open ``ReportFiles.notes`` and are shown in ``index.html``.
    sender
        The sender block and reply request of the letters (blank fields print as placeholders).
    baseline
        The greedy baseline of the comparison block; when not given, the one ``match`` computed
        with the run (``MatchResult.baseline``), else computed here.
    filing_years
        The store's progress over 年度 (``store.progress.progress_by_year``): with two or more
        years, the workbook gets 年度別推移 and 好事例の候補 sheets and the overview a block.
    """
    import time

    if pdf not in PDF_MODES:
        raise ValueError(f"不明な PDF の指定「{pdf}」(使えるのは {', '.join(PDF_MODES)})")
    report = progress or (lambda stage, done, total: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out, notes=list(notes))
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        files.seconds[stage] = files.seconds.get(stage, 0.0) + now - clock
        clock = now

    report("baseline", 0, 1)
    if baseline is None and result.baseline is None:  # ``match`` computes it with the run
        baseline = greedy_baseline(instance, result)
    data = ReportData(
        instance, result, today or date.today(), sender or Sender(), baseline, filing_years
    )
    report("baseline", 1, 1)
    lap("baseline")
    unset = data.sender.missing()
    if unset:
        files.notes.append(
            "差出人・回答方法の未設定の項目は、文書に【未設定】と表示しています: "
            + "、".join(unset)
        )

    # One 文書番号 sequence over the run: the requests first, then the notices (index order).
    n_requests = len(data.requested_institutions)
    letters = {
        "institutions": [
            _Letter(
                i.institution_id,
                f"{INSTITUTION_TITLE} {i.name}",
                i.municipality_code,
                institution_context(data, i, f"i{k}", seq=k),
            )
            for k, i in enumerate(_by_place(data.requested_institutions))
        ],
        "facilities": [
            _Letter(
                f.facility_id,
                f"{FACILITY_TITLE} {f.name}",
                f.municipality_code,
                facility_context(data, f, f"f{k}", seq=n_requests + k),
            )
            for k, f in enumerate(_by_place(data.demand_facilities))
        ],
    }
    bundle_titles = {"institutions": "医療機関への依頼", "facilities": "施設へのお知らせ"}
    for stage, items in letters.items():
        taken: set[str] = set()
        pages = files.institution_pages if stage == "institutions" else files.facility_pages
        for k, letter in enumerate(items, start=1):
            letter.stem = safe_name(letter.item_id, taken, str(letter.context["name"]))
            letter.html = render_letter(letter.context)
            letter.rule = page_rule(letter.context)
            path = out / stage / f"{letter.stem}.html"
            pages[letter.item_id] = _write(
                path, wrap_letters(letter.title, [letter.html], [letter.rule])
            )
            report(stage, k, len(items))
        files.files[stage] = _write(
            out / f"{stage}.html",
            wrap_letters(bundle_titles[stage], [x.html for x in items], [x.rule for x in items]),
        )
    lap("letters")

    exe, backend_note = pdf_backend()
    printing: _Printing | None = None
    if pdf != "none" and exe is None:
        files.notes.append(backend_note)
    elif pdf != "none" and exe is not None:
        files.pdf_backend = exe
        printing = _Printing(exe, report)
        for stage, items in letters.items():
            printing.add_letters(stage, items, bundle_titles[stage], out, each=pdf == "each")

    try:
        report("workbook", 0, 1)
        files.files["workbook"] = write_workbook(data, out / "report.xlsx")
        report("workbook", 1, 1)
        lap("workbook")

        report("csv", 0, 1)
        csv = write_csv_tables(data, out / "csv")
        files.files.update({f"csv_{k}": v for k, v in csv.items()})
        report("csv", 1, 1)
        lap("csv")

        report("overview", 0, 1)
        if fonts.japanese_font() is None:
            files.notes.append(fonts.missing_font_note())
        chart = status_chart_png(data)
        (out / "chart_status.png").write_bytes(chart)
        files.files["chart"] = out / "chart_status.png"
        html, outside = overview_html(data, chart)
        files.files["overview"] = _write(out / "overview.html", html)
        if outside:
            files.notes.append(
                f"概要の地図には遠隔地(島しょ部など)の {outside} 地点を表示していません"
            )
        report("overview", 1, 1)
        lap("overview")
        if printing is not None:
            printing.add_single(files.files["overview"])
            files.pdfs = printing.finish(out)
            lap("pdf")
    finally:
        if printing is not None:
            printing.close()

    has_pdf = set(files.pdfs)

    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    def pdf_of(path: Path) -> str | None:
        return rel(path.with_suffix(".pdf")) if path.with_suffix(".pdf") in has_pdf else None

    groups: dict[str, IndexGroup] = {}

    def group(code: str) -> IndexGroup:
        key = code[:5]
        if key not in groups:
            groups[key] = {
                "name": data.municipality_name(key) if key else NO_MUNICIPALITY,
                "institutions": [],
                "facilities": [],
                "mandatory": 0,
            }
        return groups[key]

    for letter in letters["institutions"]:
        inst: Institution = data.institution[letter.item_id]
        page = files.institution_pages[letter.item_id]
        group(letter.municipality)["institutions"].append(
            {
                "name": inst.name,
                "html": rel(page),
                "pdf": pdf_of(page),
                "n": letter.context["n_new"],
                "unlimited": inst.capacity is None,
            }
        )
    for letter in letters["facilities"]:
        f: Facility = data.facility[letter.item_id]
        page = files.facility_pages[letter.item_id]
        g = group(letter.municipality)
        g["facilities"].append(
            {
                "name": f.name,
                "html": rel(page),
                "pdf": pdf_of(page),
                "duty": f.info.duty.label_ja,
                "status": status_text(data.outcome[f.facility_id].status_before),
            }
        )
        g["mandatory"] = int(g["mandatory"]) + (f.info.duty is Duty.MANDATORY)
    ordered = [groups[k] for k in sorted(groups, key=lambda c: (c == "", c))]
    bundles = [
        {
            "label": bundle_titles[stage],
            "html": f"{stage}.html",
            "pdf": pdf_of(files.files[stage]),
        }
        for stage in letters
    ]
    shown = [n for n in files.notes if not n.startswith("差出人")]
    index = index_html(data, ordered, bundles, pdf_of(files.files["overview"]), shown, unset)
    files.files["index"] = _write(out / "index.html", index)
    lap("index")
    return files


_Placed = TypeVar("_Placed", Facility, Institution)


def _by_place(items: Sequence[_Placed]) -> list[_Placed]:
    """Letters in the index's order: by municipality code (blank last), then id."""
    return sorted(
        items,
        key=lambda x: (x.municipality_code == "", x.municipality_code[:5], _id_of(x)),
    )


def _id_of(x: Facility | Institution) -> str:
    return x.facility_id if isinstance(x, Facility) else x.institution_id


class _Printing:
    """PDF jobs on up to two reused browsers, started as soon as the letters are written."""

    def __init__(self, exe: str, progress: Progress, workers: int | None = None) -> None:
        self.exe = exe
        self.progress = progress
        self.n = max(1, workers or min(os.cpu_count() or 1, MAX_PDF_WORKERS))
        self.pool = ThreadPoolExecutor(max_workers=self.n)
        self.local = threading.local()
        self.printers: list[ChromiumPrinter] = []
        self.lock = threading.Lock()
        self.tmp = tempfile.TemporaryDirectory(prefix="kyoryoku-pdf-")
        self.jobs: list[tuple[str, list[Future[tuple[PdfFile, list[Path]]]]]] = []
        self.bundles: list[tuple[str, str, list[Future[tuple[PdfFile, list[Path]]]]]] = []
        self.singles: list[Future[Path]] = []
        self.total = 0
        self.done = 0

    def _printer(self) -> ChromiumPrinter:
        printer = getattr(self.local, "printer", None)
        if printer is None:
            printer = ChromiumPrinter(self.exe)
            printer.start()
            with self.lock:
                self.printers.append(printer)
            self.local.printer = printer
        return printer

    def _tick(self) -> None:
        with self.lock:
            self.done += 1
            self.progress("pdf", self.done, self.total)

    def add_letters(
        self, stage: str, items: list[_Letter], title: str, out: Path, each: bool
    ) -> None:
        futures = []
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            html = Path(self.tmp.name) / f"{stage}-{start // BATCH:04d}.html"
            _write(html, wrap_letters(title, [x.html for x in batch], [x.rule for x in batch]))
            self.total += 1
            futures.append(self.pool.submit(self._batch, html, batch, out / stage, each))
        self.bundles.append((stage, title, futures))

    def _batch(
        self, html: Path, batch: list[_Letter], folder: Path, each: bool
    ) -> tuple[PdfFile, list[Path]]:
        pdf = PdfFile.parse(self._printer().pdf_bytes(html), html.name)
        written = []
        if each:
            names = [str(x.context["anchor"]) for x in batch]
            for letter, pages in zip(batch, page_ranges(pdf, names), strict=True):
                path = folder / f"{letter.stem}.pdf"
                written.append(write_pages([(pdf, pages)], path, letter.title))
        self._tick()
        return pdf, written

    def add_single(self, html: Path) -> None:
        self.total += 1
        self.singles.append(self.pool.submit(self._single, html))

    def _single(self, html: Path) -> Path:
        path = self._printer().print_pdf(html, html.with_suffix(".pdf"))
        self._tick()
        return path

    def finish(self, out: Path) -> list[Path]:
        """Wait for every job, join the batches into the bundles; every PDF written."""
        written: list[Path] = [f.result() for f in self.singles]
        for stage, title, futures in self.bundles:
            parts = [f.result() for f in futures]
            if not parts:
                continue
            bundle = out / f"{stage}.pdf"
            pdfs = [(pdf, range(len(pdf.pages))) for pdf, _ in parts]
            write_pages(pdfs, bundle, title)
            written.append(bundle)
            for _, each in parts:
                written.extend(each)
        return written

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        with ThreadPoolExecutor(max_workers=max(1, len(self.printers))) as closing:
            list(closing.map(ChromiumPrinter.close, self.printers))  # both browsers at once
        self.tmp.cleanup()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
