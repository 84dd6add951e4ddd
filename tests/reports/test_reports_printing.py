"""PDF printing overlaps the other reports (issue 24 item 7): the browsers start with the call,
pages are never laid out for the screen, the index links exactly the PDFs written, and a browser
that cannot start fails the run without leaving a thread behind."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading

import pytest
from reports_case import TODAY, pdf_tools_or_skip, run, write

from matcher.reports import ReportError, write_reports, writer
from matcher.reports.pdf import ChromiumPrinter


def test_a_printed_page_is_never_laid_out_for_the_screen(tmp_path) -> None:
    pdf_tools_or_skip()
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body><p id='x'>?</p><script>"
        "x.textContent = 'screen:' + getComputedStyle(document.body).display;"
        "</script></body></html>",
        "utf-8",
    )
    with ChromiumPrinter() as printer:
        pdf = printer.print_pdf(page, tmp_path / "page.pdf")
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "screen:none" in text  # the body is hidden on screen, and printed all the same


def test_browsers_start_before_the_letters_are_written(tmp_path, monkeypatch) -> None:
    pdf_tools_or_skip()
    started = threading.Event()

    class Spy(ChromiumPrinter):
        def start(self) -> None:
            started.set()
            super().start()

    monkeypatch.setattr(writer, "ChromiumPrinter", Spy)
    at_first_letter: list[bool] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "institutions" and done == 1:
            at_first_letter.append(started.wait(60))  # a browser was started before it

    inst, result = run()
    files = write_reports(inst, result, tmp_path, progress=progress, today=TODAY, pdf="bundle")
    assert at_first_letter == [True] and len(files.pdfs) == 3


@pytest.mark.parametrize(("mode", "n_pdfs"), [("each", 9), ("bundle", 3)])
def test_index_links_exactly_the_pdfs_written(tmp_path, mode: str, n_pdfs: int) -> None:
    pdf_tools_or_skip()
    _, _, files, stages = write(tmp_path, pdf=mode)
    index = (tmp_path / "index.html").read_text("utf-8")
    linked = {tmp_path / href for href in re.findall(r'href="([^"#]+\.pdf)"', index)}
    assert len(files.pdfs) == n_pdfs and linked == set(files.pdfs)
    assert all(p.is_file() and p.read_bytes().startswith(b"%PDF") for p in files.pdfs)
    # one batch of letters per bundle and the overview: the total is known from the first tick
    assert [(d, t) for s, d, t in stages if s == "pdf"] == [(1, 3), (2, 3), (3, 3)]


def test_seconds_name_each_stage_once_in_order(tmp_path) -> None:
    pdf_tools_or_skip()
    _, _, files, _ = write(tmp_path, pdf="bundle")
    stages = ["baseline", "letters", "workbook", "csv", "overview", "index", "pdf"]
    assert list(files.seconds) == stages and all(s >= 0 for s in files.seconds.values())


def test_the_browsers_cpu_is_counted_for_the_benchmark(tmp_path) -> None:
    """``cpu_seconds`` counts the browser's whole process group (the renderer does the
    printing): it grows with the pages printed, and is unknown once the browser is closed; the
    report gives the two browsers' sum (``bench_reports.py`` prints it beside Python's)."""
    pdf_tools_or_skip()
    page = tmp_path / "page.html"
    rows = "".join(f"<tr><td>{k}</td><td>{'協力医療機関' * 8}</td></tr>" for k in range(3000))
    page.write_text(f"<!DOCTYPE html><html><body><table>{rows}</table></body></html>", "utf-8")
    with ChromiumPrinter() as printer:
        started = printer.cpu_seconds()
        assert started is not None and started > 0  # starting a browser costs CPU
        printer.pdf_bytes(page)
        printed = printer.cpu_seconds()
        assert printed is not None and printed > started
    assert printer.cpu_seconds() is None
    _, _, files, _ = write(tmp_path / "run", pdf="bundle")
    assert files.browser_cpu is not None and files.browser_cpu > 0


def test_a_browser_that_cannot_start_fails_the_run_cleanly(tmp_path, monkeypatch) -> None:
    exe = shutil.which("true")
    assert exe is not None
    monkeypatch.setenv("KYORYOKU_CHROMIUM", exe)  # exits at once: no DevTools pipe
    threads = threading.active_count()
    with pytest.raises(ReportError, match="Chromium が終了しました"):
        write(tmp_path, pdf="bundle")
    assert threading.active_count() == threads and not (tmp_path / "index.html").exists()
