"""Who sends the letters and how recipients answer: the sender block and the reply request.

Until the settings module provides them, callers pass a ``Sender``; every field left blank is
printed as a visible placeholder (``【未設定: 担当課】``) so that an unfinished letter is never
mistaken for a finished one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date

PLACEHOLDER = "【未設定: {}】"
FIELD_LABELS_JA = {
    "organisation": "発信者(自治体・担当課)",
    "person": "担当者",
    "phone": "電話",
    "email": "メール",
    "address": "所在地",
    "reply_by": "回答期限",
    "reply_method": "回答方法",
}


@dataclass(frozen=True)
class Sender:
    """The sender block and the reply request printed on every letter (blank = not set)."""

    organisation: str = ""  # e.g. 高知県 子ども・福祉政策部 長寿社会課
    person: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    reply_by: date | None = None
    reply_method: str = ""  # e.g. 同封の回答票を FAX またはメールで

    def missing(self) -> list[str]:
        """Japanese names of the fields not set (shown as placeholders on the letters)."""
        return [FIELD_LABELS_JA[f.name] for f in fields(self) if not getattr(self, f.name)]

    def context(self) -> dict[str, object]:
        """Each field as printed: ``{"value": text, "set": bool}``."""
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, date):
                text = f"{value.year}年{value.month}月{value.day}日"
            else:
                text = str(value or "")
            out[f.name] = {
                "value": text or PLACEHOLDER.format(FIELD_LABELS_JA[f.name]),
                "set": bool(text),
            }
        return out
