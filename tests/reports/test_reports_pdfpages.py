"""Cutting a batch print into one PDF per letter and joining batches, on real Chromium output."""

from __future__ import annotations

import subprocess

import pytest
from reports_case import pdf_tools_or_skip

from matcher.reports.pdf import ChromiumPrinter, ReportError
from matcher.reports.pdfpages import PdfFile, page_ranges, write_pages


def _doc(n: int, long: int) -> str:
    rows = "".join(f"<p>行 {k}</p>" for k in range(120))
    parts = [
        f'<section id="L{k}" style="break-after: page"><h1><a href="#L{k}">文書 {k}</a></h1>'
        + (rows if k == long else "<p>短い</p>")
        + "</section>"
        for k in range(n)
    ]
    return '<html><body style="font-family: sans-serif">' + "".join(parts) + "</body></html>"


def test_split_and_join_a_batch(tmp_path) -> None:
    pdf_tools_or_skip()
    html = tmp_path / "batch.html"
    html.write_text(_doc(4, long=1), "utf-8")
    with ChromiumPrinter() as printer:
        pdf = PdfFile.parse(printer.pdf_bytes(html))
    ranges = page_ranges(pdf, ["L0", "L1", "L2", "L3"])
    assert [len(r) for r in ranges][0] == 1 and len(ranges[1]) >= 2  # the long one spills
    assert sum(len(r) for r in ranges) == len(pdf.pages)
    for k, r in enumerate(ranges):
        out = write_pages([(pdf, r)], tmp_path / f"L{k}.pdf", title=f"文書 {k}")
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
        assert f"Pages:           {len(r)}" in info.stdout and f"文書 {k}" in info.stdout
        text = subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert f"文書 {k}" in text and all(f"文書 {j}" not in text for j in range(4) if j != k)
    joined = write_pages([(pdf, range(len(pdf.pages))), (pdf, ranges[0])], tmp_path / "all.pdf")
    info = subprocess.run(["pdfinfo", str(joined)], capture_output=True, text=True, check=True)
    assert f"Pages:           {len(pdf.pages) + 1}" in info.stdout
    with pytest.raises(ReportError, match="目印がありません"):
        page_ranges(pdf, ["L9"])


def test_not_a_chromium_pdf_is_refused() -> None:
    with pytest.raises(ReportError, match="startxref"):
        PdfFile.parse(b"%PDF-1.7\n%%EOF")
