"""Tests that look: pages and figures rendered to PNG, no fallback font anywhere, legends inside
the figure, one PDF per letter (matplotlib warnings are errors in this suite)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from reports_case import TODAY, pdf_tools_or_skip, run, write

from matcher import fonts

FALLBACK = ("DejaVu", "Liberation", "Helvetica", "Arial", "Times", "Courier")


def _font_or_skip() -> fonts.JapaneseFont:
    font = fonts.japanese_font()
    if font is None:
        pytest.skip("日本語フォントがありません (apt-get install fonts-ipaexfont-gothic)")
    return font


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    pdf_tools_or_skip()
    out = tmp_path_factory.mktemp("look")
    return out, *write(out, pdf="each")


def _fonts_of(pdf: Path) -> list[tuple[str, str]]:
    text = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    rows = text.stdout.splitlines()[2:]
    return [(r.split()[0], " ".join(r.split()[1:3])) for r in rows if r.strip()]


def test_pdffonts_lists_the_japanese_font_and_no_fallback(written) -> None:
    font = _font_or_skip()
    out, _, _, files, _ = written
    letters = [p for p in files.pdfs if p.parent.name in ("institutions", "facilities")]
    for pdf in [out / "overview.pdf", out / "institutions.pdf", out / "facilities.pdf", *letters]:
        used = _fonts_of(pdf)
        assert used, pdf.name
        assert not [n for n, _ in used if n.split("+")[-1].startswith(FALLBACK)], (pdf.name, used)
        if font.truetype:  # embedded by name (CID TrueType); a CFF font becomes Type 3
            family = font.family.replace(" ", "")
            assert all(family in n.replace(" ", "") for n, _ in used), (pdf.name, used)


def test_letters_render_to_png_with_ink(written, tmp_path) -> None:
    _, _, _, files, _ = written
    letters = [p for p in files.pdfs if p.parent.name in ("institutions", "facilities")]
    assert len(letters) == len(files.institution_pages) + len(files.facility_pages)
    for pdf in letters:
        stem = tmp_path / pdf.stem
        subprocess.run(["pdftoppm", "-r", "30", "-png", str(pdf), str(stem)], check=True)
        pngs = sorted(tmp_path.glob(f"{pdf.stem}*.png"))
        assert len(pngs) == 2, pdf.name  # the letter and its 回答票
        assert all(p.stat().st_size > 3000 for p in pngs), pdf.name


def test_per_letter_pdfs_hold_their_own_recipient(written) -> None:
    _, _, _, files, _ = written
    for item_id, page in files.facility_pages.items():
        text = subprocess.run(
            ["pdftotext", str(page.with_suffix(".pdf")), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        name = page.stem.rsplit("_", 1)[0]
        assert name in text and "協力医療機関の候補について(お知らせ)" in text, item_id
        others = [p.stem.rsplit("_", 1)[0] for p in files.facility_pages.values() if p != page]
        assert not any(f"{o} 施設長" in text for o in others)


def test_chart_legend_inside_the_figure_in_the_japanese_font() -> None:
    from matplotlib.colors import to_hex

    from matcher.reports.chart import status_figure
    from matcher.reports.tables import STATUS_COLORS, STATUS_ORDER, STATUS_SHORT_JA, ReportData

    inst, result = run()
    fig = status_figure(ReportData(inst, result, TODAY))
    fig.canvas.draw()  # a missing glyph would warn, and warnings are errors here
    # The bars carry no text: the chart is read through its one legend, which must name every
    # status in its colour and sit inside the figure — with or without a Japanese font.
    assert len(fig.legends) == 1
    (legend,) = fig.legends
    colors = [to_hex(h.get_facecolor()) for h in legend.legend_handles]
    assert colors == [STATUS_COLORS[s] for s in STATUS_ORDER]
    labels = [t.get_text() for t in legend.get_texts()]
    assert len(labels) == len(STATUS_ORDER) and all(labels)
    box, ext = fig.bbox, legend.get_window_extent()
    assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1
    font = _font_or_skip()
    assert labels == [STATUS_SHORT_JA[s] for s in STATUS_ORDER]
    families = {t.get_fontproperties().get_file() for t in legend.get_texts()}
    assert families == {font.path}


def test_font_helper_registers_the_file() -> None:
    font = _font_or_skip()
    from matplotlib import font_manager

    assert Path(font.path).is_file()
    assert any(f.fname == font.path for f in font_manager.fontManager.ttflist)
    assert fonts.css_font_family().startswith(f'"{font.family}"')
