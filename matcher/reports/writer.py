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
is cut into one PDF per letter and the batches are joined into the bundles (``pdfpages``). The
browsers start with the call and print each batch as soon as it is written, while this thread goes
on with the other letters, the workbook, the CSV files, the overview and the index.
"""

from __future__ import annotations

import itertools
import os
import queue
import re
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

from .. import fonts
from ..model import Facility, Instance, Institution
from ..progress import Progress as FilingYears
from ..result import MatchResult
from ..sources.result_files import write_result
from ..sources.textfile import write_csv
from ..vocab import Duty
from ..wareki import today as today_jp
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
# Letters per printed batch. 東京都 (875 letters with their 回答票, 2 cores, same runs, load
# 0.6–2.5): 48 took 11.8 s twice, 24 took 12.5–12.9 s; printing 328 two-page letters alone, the
# browser's CPU was 4.50 s in batches of 24, 3.73 s of 48, 3.70 s of 96 (a document's fixed cost
# is ~70 ms). Every letter's PDF carries its batch's font subset; the 878 PDFs stayed at 124 MB.
BATCH = 48
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
    browser_cpu: float | None = None  # CPU seconds of the printing browsers (``cpu_seconds``)


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

    Returns
    -------
    ReportFiles
        Its ``seconds`` are the wall-clock seconds of the stages run one after another on the
        calling thread (baseline, letters, workbook, csv, overview, index); with ``pdf`` they add
        up to the whole call. The printing overlaps them: the browsers start with the call, each
        batch of ``BATCH`` letters is printed on other threads as soon as it is written, and
        ``pdf`` is only the time still waited for the printing after the last stage.
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

    exe, backend_note = pdf_backend()
    # The browsers start first: their start-up (~0.5 s of CPU each) overlaps the letters.
    printing = _Printing(exe, report) if pdf != "none" and exe is not None else None
    try:
        report("baseline", 0, 1)
        if baseline is None and result.baseline is None:  # ``match`` computes it with the run
            baseline = greedy_baseline(instance, result)
        data = ReportData(
            instance, result, today or today_jp(), sender or Sender(), baseline, filing_years
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
        if pdf != "none" and exe is None:
            files.notes.append(backend_note)
        elif printing is not None:
            files.pdf_backend = exe
            # every letter batch and the overview, so that the progress total never changes
            printing.expect(sum(-(-len(items) // BATCH) for items in letters.values()) + 1)
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
                if printing is not None and (k % BATCH == 0 or k == len(items)):
                    batch = items[(k - 1) // BATCH * BATCH : k]  # printed while the rest is written
                    printing.add_batch(
                        stage, bundle_titles[stage], batch, out / stage, pdf == "each"
                    )
            files.files[stage] = _write(
                out / f"{stage}.html",
                wrap_letters(
                    bundle_titles[stage], [x.html for x in items], [x.rule for x in items]
                ),
            )
        lap("letters")

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
        if printing is not None:
            printing.add_single(files.files["overview"])
        if outside:
            files.notes.append(
                f"概要の地図には遠隔地(島しょ部など)の {outside} 地点を表示していません"
            )
        report("overview", 1, 1)
        lap("overview")

        # Made while the last PDFs print (it links the ones planned); written once they all are.
        planned = printing.planned(out) if printing is not None else []
        index = _index_page(data, letters, files, bundle_titles, unset, planned)
        lap("index")
        if printing is not None:
            files.pdfs = printing.finish(out)
            lap("pdf")
    finally:
        if printing is not None:
            files.browser_cpu = printing.close()
    files.files["index"] = _write(out / "index.html", index)
    lap("index")
    return files


def _index_page(
    data: ReportData,
    letters: dict[str, list[_Letter]],
    files: ReportFiles,
    titles: dict[str, str],
    unset: list[str],
    pdfs: Sequence[Path],
) -> str:
    """``index.html``: the letters grouped by municipality, linking the PDFs among ``pdfs``."""
    out = files.out_dir
    has_pdf = set(pdfs)

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
            "label": titles[stage],
            "html": f"{stage}.html",
            "pdf": pdf_of(files.files[stage]),
        }
        for stage in letters
    ]
    shown = [n for n in files.notes if not n.startswith("差出人")]
    return index_html(data, ordered, bundles, pdf_of(files.files["overview"]), shown, unset)


_Placed = TypeVar("_Placed", Facility, Institution)
_T = TypeVar("_T")


def _by_place(items: Sequence[_Placed]) -> list[_Placed]:
    """Letters in the index's order: by municipality code (blank last), then id."""
    return sorted(
        items,
        key=lambda x: (x.municipality_code == "", x.municipality_code[:5], _id_of(x)),
    )


def _id_of(x: Facility | Institution) -> str:
    return x.facility_id if isinstance(x, Facility) else x.institution_id


_Job = tuple[Callable[[ChromiumPrinter], Any], Future[Any]]
_FIRST, _LETTERS, _STOP = 0, 1, 2  # job priorities: the overview, letter batches, the end


@dataclass
class _Bundle:
    title: str
    batches: list[Future[tuple[PdfFile, list[Path]]]] = field(default_factory=list)
    letters: list[Path] = field(default_factory=list)  # the one-letter PDFs, in order


class _Printing:
    """PDF jobs on up to two reused browsers, one worker thread each, started at once so that
    their start-up overlaps the letters being written. Letter batches print in the order given;
    the overview goes before the batches still waiting, so that it never prints last alone."""

    def __init__(self, exe: str, progress: Progress, workers: int | None = None) -> None:
        self.exe = exe
        self.progress = progress
        n = max(1, workers or min(os.cpu_count() or 1, MAX_PDF_WORKERS))
        self.queue: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self.order = itertools.count()  # first come, first served within a priority
        self.lock = threading.Lock()
        self.printers: list[ChromiumPrinter] = []
        self.tmp = tempfile.TemporaryDirectory(prefix="kyoryoku-pdf-")
        self.bundles: dict[str, _Bundle] = {}
        self.singles: list[tuple[Path, Future[Path]]] = []  # (HTML, its PDF)
        self.total = 0
        self.done = 0
        self.threads = [
            threading.Thread(target=self._work, name=f"kyoryoku-pdf-{k}", daemon=True)
            for k in range(n)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self) -> None:
        """Start a browser, then print jobs until told to stop; when the browser cannot start,
        every job this worker takes fails with that error."""
        failed: Exception | None = None
        try:
            printer = ChromiumPrinter(self.exe)
            with self.lock:
                self.printers.append(printer)
            printer.start()
        except Exception as exc:
            failed = exc
        while (job := self.queue.get()[2]) is not None:
            run, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if failed is not None:
                    raise failed
                future.set_result(run(printer))
            except BaseException as exc:
                future.set_exception(exc)

    def _submit(self, priority: int, run: Callable[[ChromiumPrinter], _T]) -> Future[_T]:
        future: Future[_T] = Future()
        self.queue.put((priority, next(self.order), (run, future)))
        return future

    def expect(self, jobs: int) -> None:
        """The number of jobs to come, for the progress total."""
        self.total = jobs

    def _tick(self) -> None:
        with self.lock:
            self.done += 1
            self.progress("pdf", self.done, max(self.total, self.done))

    def add_batch(
        self, stage: str, title: str, batch: list[_Letter], folder: Path, each: bool
    ) -> None:
        """Print ``batch`` as the next part of the ``stage`` bundle (and, with ``each``, cut it
        into one PDF per letter in ``folder``)."""
        bundle = self.bundles.setdefault(stage, _Bundle(title))
        html = Path(self.tmp.name) / f"{stage}-{len(bundle.batches):04d}.html"
        _write(html, wrap_letters(title, [x.html for x in batch], [x.rule for x in batch]))
        bundle.batches.append(
            self._submit(_LETTERS, lambda p: self._batch(p, html, batch, folder, each))
        )
        if each:
            bundle.letters += [folder / f"{x.stem}.pdf" for x in batch]

    def _batch(
        self, printer: ChromiumPrinter, html: Path, batch: list[_Letter], folder: Path, each: bool
    ) -> tuple[PdfFile, list[Path]]:
        pdf = PdfFile.parse(printer.pdf_bytes(html), html.name)
        written = []
        if each:
            names = [str(x.context["anchor"]) for x in batch]
            for letter, pages in zip(batch, page_ranges(pdf, names), strict=True):
                path = folder / f"{letter.stem}.pdf"
                written.append(write_pages([(pdf, pages)], path, letter.title))
        self._tick()
        return pdf, written

    def add_single(self, html: Path) -> None:
        """Print ``html`` to the PDF beside it, before the letter batches still waiting."""
        self.singles.append((html, self._submit(_FIRST, lambda p: self._single(p, html))))

    def _single(self, printer: ChromiumPrinter, html: Path) -> Path:
        path = printer.print_pdf(html, html.with_suffix(".pdf"))
        self._tick()
        return path

    def planned(self, out: Path) -> list[Path]:
        """Every PDF that ``finish`` returns, in its order."""
        paths = [html.with_suffix(".pdf") for html, _ in self.singles]
        for stage, bundle in self.bundles.items():
            paths += [out / f"{stage}.pdf", *bundle.letters]
        return paths

    def finish(self, out: Path) -> list[Path]:
        """Wait for every job and join the batches into the bundles (each as soon as its own
        batches are printed); every PDF written, in the order of ``planned``."""
        written: list[Path] = []
        for stage, bundle in self.bundles.items():
            parts = [f.result() for f in bundle.batches]
            path = out / f"{stage}.pdf"
            write_pages([(pdf, range(len(pdf.pages))) for pdf, _ in parts], path, bundle.title)
            written += [path, *(p for _, each in parts for p in each)]
        return [f.result() for _, f in self.singles] + written

    def close(self) -> float | None:
        """Cancel the jobs still waiting, stop the workers, then both browsers at once; the
        browsers' CPU seconds (``None`` where not known)."""
        while True:
            try:
                _, _, job = self.queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[1].cancel()
        for _ in self.threads:
            self.queue.put((_STOP, next(self.order), None))
        for thread in self.threads:
            thread.join()
        used = [p.cpu_seconds() for p in self.printers]
        with ThreadPoolExecutor(max_workers=max(1, len(self.printers))) as closing:
            list(closing.map(ChromiumPrinter.close, self.printers))  # both browsers at once
        self.tmp.cleanup()
        known = [u for u in used if u is not None]
        return sum(known) if known and len(known) == len(used) else None


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
