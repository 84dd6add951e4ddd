"""The Japanese font of every figure and printed page: found once, registered by file.

Reports (matplotlib charts, HTML printed by Chromium), the gap figures and the notebooks all
call :func:`japanese_font`. It looks for font *files* — never for a family name in
matplotlib's font cache, which may predate the font's installation — registers the file with
matplotlib and returns its path and family name.

TrueType CJK fonts come first: Chromium embeds them as subset CID TrueType fonts (``pdffonts``
lists them by name, ~45 KB per one-page letter), while a CFF font such as Noto Sans CJK is drawn
as Type 3 glyph outlines (3–4 × larger, ~2 × slower to print, unnamed in ``pdffonts``).
Debian: ``apt-get install fonts-ipaexfont-gothic`` (preferred) or ``fonts-noto-cjk``.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# Known locations, TrueType first (see the module docstring for why).
KNOWN_FONT_FILES = (
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/takao-gothic/TakaoGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc",
    "C:/Windows/Fonts/meiryo.ttc",
)
# Families named in the pages' CSS after the one found, so a browser without it still finds one.
CSS_FALLBACK_FAMILIES = (
    "IPAexGothic",
    "Noto Sans CJK JP",
    "Noto Sans JP",
    "IPAGothic",
    "Hiragino Sans",
    "Yu Gothic",
    "Meiryo",
)
_JA_SAMPLE = "介護老人福祉施設①②③御中"


@dataclass(frozen=True)
class JapaneseFont:
    """A font file with Japanese glyphs, registered with matplotlib under ``family``."""

    path: str
    family: str

    @property
    def truetype(self) -> bool:
        """Whether the outlines are TrueType (embedded by name in Chromium's PDFs)."""
        with open(self.path, "rb") as fh:
            head = fh.read(12)
        if head[:4] == b"ttcf":  # a collection: look at its first font
            with open(self.path, "rb") as fh:
                fh.seek(12)
                offset = int.from_bytes(fh.read(4), "big")
                fh.seek(offset)
                head = fh.read(4)
        return head[:4] in (b"\x00\x01\x00\x00", b"true")


def _covers_japanese(path: str) -> str | None:
    """The family name of ``path`` when it has every glyph of the sample, else ``None``."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return None
    charmap = font.get_charmap()
    if all(ord(ch) in charmap for ch in _JA_SAMPLE):
        return str(font.family_name)
    return None


def _fc_match() -> str | None:
    exe = shutil.which("fc-match")
    if not exe:
        return None
    try:
        found = subprocess.run(
            [exe, "-f", "%{file}", "sans-serif:lang=ja"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return found or None


@lru_cache(maxsize=1)
def japanese_font() -> JapaneseFont | None:
    """The Japanese font file (registered with matplotlib), or ``None`` when none is installed."""
    from matplotlib import font_manager

    candidates = [p for p in KNOWN_FONT_FILES if Path(p).is_file()]
    fc = _fc_match()
    if fc:
        candidates.append(fc)
    candidates += [
        p
        for p in font_manager.findSystemFonts()
        if any(k in Path(p).name.lower() for k in ("cjk", "ipa", "gothic", "jp", "meiryo"))
    ]
    for path in candidates:
        family = _covers_japanese(path)
        if family:
            font_manager.fontManager.addfont(path)
            return JapaneseFont(path, family)
    return None


def use_japanese_font() -> JapaneseFont | None:
    """Make the Japanese font matplotlib's default family (for pyplot figures and notebooks)."""
    import matplotlib

    font = japanese_font()
    if font is not None:
        matplotlib.rcParams["font.family"] = [font.family, "sans-serif"]
        matplotlib.rcParams["axes.unicode_minus"] = False  # ASCII "-": in every font
    return font


def css_font_family() -> str:
    """A CSS ``font-family`` value naming the found font first."""
    font = japanese_font()
    names = ([font.family] if font else []) + [
        f for f in CSS_FALLBACK_FAMILIES if not font or f != font.family
    ]
    return ", ".join(f'"{n}"' for n in names) + ", sans-serif"


def missing_font_note() -> str:
    """The Japanese sentence shown when no Japanese font is installed."""
    return (
        "日本語フォントが見つからないため、図の文字を英字にしました "
        "(Debian: apt-get install fonts-ipaexfont-gothic または fonts-noto-cjk)"
    )
