"""Cell text as read: NFKC, invisible characters removed, hyphen variants unified in ids, control
characters found (they break Excel files and the reports later).

Pure rules the core (``validate``) and every reader share; ``sources.cells`` adds what writers do.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width and other invisible format characters that survive NFKC.
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0]"
)
# C0/C1 control characters except tab, LF and CR (which cells may legitimately hold).
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Hyphen-like characters registries and hands mix in ids and codes (after NFKC).
HYPHENS = re.compile("[\u2010-\u2015\u2212\u30fc\uff70\ufe58\ufe63\u2043\u02d7]")


def clean_text(value: object) -> str:
    """NFKC text without invisible characters, stripped; ``None``/NaN → "" (controls are kept)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    return INVISIBLE.sub("", text).strip()


def clean_id(value: object) -> str:
    """An identifier as compared everywhere: ``clean_text`` plus hyphen variants → ``-``."""
    return HYPHENS.sub("-", clean_text(value))


def control_characters(text: str) -> str:
    """The control characters in ``text`` as ``U+0000`` notation ("" when there are none)."""
    found = sorted(set(CONTROL.findall(text)))
    return ", ".join(f"U+{ord(c):04X}" for c in found)
