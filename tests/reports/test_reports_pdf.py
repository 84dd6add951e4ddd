"""PDFs render (pdftoppm → PNG), one page per letter and one for its 回答票, with the Japanese text
intact."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from reports_case import pdf_tools_or_skip, write


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    pdf_tools_or_skip()
    out = tmp_path_factory.mktemp("reports")
    return out, *write(out, pdf="each")


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def _text(pdf: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout


def _png(pdf: Path, tmp: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp / pdf.stem)], check=True)
    return sorted(tmp.glob(f"{pdf.stem}*.png"))


def test_bundles_render_a_letter_and_its_reply_form_each(written, tmp_path) -> None:
    out, _, _, files, _ = written
    assert files.pdf_backend and all(n.startswith("差出人") for n in files.notes)
    assert _pages(out / "institutions.pdf") == 2 * 2  # each letter and its 回答票
    assert _pages(out / "facilities.pdf") == 4 * 2
    for name in ("overview", "institutions", "facilities"):
        pngs = _png(out / f"{name}.pdf", tmp_path)
        assert pngs and all(p.stat().st_size > 2000 for p in pngs), name


def test_every_single_document_renders(written, tmp_path) -> None:
    _, _, _, files, _ = written
    letters = [*files.institution_pages.values(), *files.facility_pages.values()]
    singles = [p for p in files.pdfs if p.parent.name in ("institutions", "facilities")]
    assert len(singles) == len(letters) == 6  # one PDF per letter
    assert files.institution_pages["H1"].with_suffix(".pdf").name == "高知中央病院_H1.pdf"
    for page in [*files.institution_pages.values(), *files.facility_pages.values()]:
        pdf = page.with_suffix(".pdf")
        assert pdf in files.pdfs
        assert _pages(pdf) == 2, pdf.name  # the letter and its 回答票
        assert _png(pdf, tmp_path)[0].stat().st_size > 2000


def test_japanese_text_survives_in_pdf(written) -> None:
    out, _, _, files, _ = written
    h1 = _text(files.institution_pages["H1"].with_suffix(".pdf"))
    assert "協力医療機関となっていただくことについて(依頼)" in h1 and "高知中央病院" in h1
    assert "特養さくら" in h1 and "老健みどり" in h1 and "グループホームあおば" not in h1
    f4 = _text(files.facility_pages["F4"].with_suffix(".pdf"))
    assert "特養やまびこ" in f4 and "四万十遠方病院" in f4
    overview = _text(out / "overview.pdf")
    assert re.search(r"あと\s+364\s+日", overview) and "特養やまびこ" in overview
    index = (out / "index.html").read_text("utf-8")
    assert "institutions/高知中央病院_H1.pdf" in index and "Chromium" not in index


def test_printer_reports_a_missing_file(tmp_path) -> None:
    from matcher.reports.pdf import ChromiumPrinter, ReportError

    pdf_tools_or_skip()
    page = tmp_path / "ok.html"
    page.write_text("<html><body><p>テスト</p></body></html>", "utf-8")
    with ChromiumPrinter() as printer:
        assert printer.print_pdf(page, tmp_path / "ok.pdf").read_bytes().startswith(b"%PDF")
        with pytest.raises(ReportError, match="を開けません"):
            printer.print_pdf(tmp_path / "missing.html", tmp_path / "missing.pdf")


def test_no_browser_means_html_only_and_a_clear_note(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KYORYOKU_CHROMIUM", str(tmp_path / "no-such-browser"))
    _, _, files, _ = write(tmp_path, pdf="bundle")
    assert files.pdfs == [] and files.pdf_backend is None
    assert any("Chromium が見つかりません" in n for n in files.notes)
    assert (tmp_path / "institutions.html").is_file()
