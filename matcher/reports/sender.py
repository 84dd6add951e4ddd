"""Who sends the letters and how recipients answer: the sender block, the 文書番号, the 宛名 and
the reply request, and the checks a letter must pass before it is printed.

Until the settings module provides them, callers pass a ``Sender``; every field left blank is
printed as a visible placeholder (``【未設定: 担当者】``) so that an unfinished letter is never
mistaken for a finished one. ``Sender.check`` is what the command line runs first: a reply
deadline before the letter's date or already past, or a field left blank, is an error there
(unless blank fields are explicitly allowed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from functools import lru_cache
from typing import Literal, TypedDict, get_args

from markupsafe import Markup, escape

from .._errors import MatcherError
from ..wareki import today as today_jp
from ..wareki import wareki

PLACEHOLDER = "【未設定: {}】"
FIELD_LABELS_JA = {
    "organisation": "発信者(自治体・担当課)",
    "person": "担当者",
    "phone": "電話",
    "email": "メール",
    "address": "所在地",
    "reply_by": "回答期限",
    "reply_method": "回答方法",
    "document_number": "文書番号",
}
# How the recipient is addressed: to the head by title (「○○病院 院長 様」) or to the
# organisation (「○○病院 御中」).
Addressee = Literal["head", "onchu"]
ADDRESSEES: tuple[Addressee, ...] = get_args(Addressee)
Recipient = Literal["institution", "facility"]
HEAD_TITLE_JA: dict[Recipient, str] = {"institution": "院長", "facility": "施設長"}
SEQUENCE = "{n}"  # in a 文書番号, replaced by the letter's number in the sequence
# How a reply method may end (「メールで」「メールにて」「専用フォームより」「担当課まで」); a
# method ending otherwise (「メール又はFAX」) is followed by 「で」.
METHOD_ENDINGS = ("で", "にて", "より", "から", "まで", "へ")
# What a method may name as the thing sent (「同封の回答票をメールで」): the sentence then fills in
# that form instead of naming a form twice.
FORM_NOUNS = ("回答票", "調査票", "回答書", "用紙", "様式")
# Where the reply request stands: in a letter with a 回答票 enclosed, on the 回答票 itself, or in
# a letter without one.
FormMention = Literal["enclosed", "this", "none"]


class Printed(TypedDict):
    """A sender field as a letter prints it: the text (or its placeholder) and whether it is
    set."""

    value: str
    set: bool


class SenderError(MatcherError, ValueError):
    """The sender's settings cannot go on a letter (each problem one Japanese sentence)."""

    def __init__(self, problems: list[str], missing: list[str] | None = None) -> None:
        self.problems = problems
        self.missing = missing or []
        super().__init__(" / ".join(problems))


@dataclass(frozen=True)
class Sender:
    """The sender block, 文書番号, 宛名 and reply request printed on every letter (blank = not
    set)."""

    organisation: str = ""  # e.g. 高知県 子ども・福祉政策部 長寿社会課長
    person: str = ""
    phone: str = ""
    email: str = ""
    address: str = ""
    reply_by: date | None = None
    reply_method: str = ""  # e.g. メール又はFAX, 同封の回答票をメールで (``ReplyMethod``)
    # 「高長第{n}号」: {n} counts the letters up from ``number_start``; without {n} (「事務連絡」,
    # 「高長第120号」) every letter carries the same text.
    document_number: str = ""
    number_start: int = 1
    addressee: Addressee = "head"

    def __post_init__(self) -> None:
        if self.addressee not in ADDRESSEES:
            raise SenderError(
                [f"宛名の形式「{self.addressee}」は使えません(使えるのは {', '.join(ADDRESSEES)})"]
            )
        if self.number_start < 0:
            raise SenderError([f"文書番号の開始番号 {self.number_start} は 0 以上にしてください"])

    def missing(self) -> list[str]:
        """Japanese names of the fields not set (shown as placeholders on the letters)."""
        return [label for name, label in FIELD_LABELS_JA.items() if not getattr(self, name)]

    def problems(self, letter_date: date, today: date | None = None) -> list[str]:
        """What is wrong with the reply deadline, one Japanese sentence each: before the letter's
        date, or already past on ``today`` (default: the current date)."""
        today = today or today_jp()
        out = []
        if self.reply_by is not None and self.reply_by < letter_date:
            out.append(
                f"回答期限 {wareki(self.reply_by)} が文書の日付 {wareki(letter_date)} より前です"
            )
        elif self.reply_by is not None and self.reply_by < today:
            out.append(
                f"回答期限 {wareki(self.reply_by)} は既に過ぎています(今日は {wareki(today)})"
            )
        braces = self.document_number.replace(SEQUENCE, "")
        if "{" in braces or "}" in braces:
            out.append(
                f"文書番号「{self.document_number}」: 連番の位置は {SEQUENCE} で示してください"
                "(例: 高長第{n}号)"
            )
        return out

    def check(
        self, letter_date: date, today: date | None = None, allow_missing: bool = False
    ) -> None:
        """Raise ``SenderError`` listing every problem: the deadline's (``problems``) and, unless
        ``allow_missing``, the fields not set."""
        problems = self.problems(letter_date, today)
        missing = [] if allow_missing else self.missing()
        if missing:
            problems.append(f"差出人・回答の項目が未設定です: {'、'.join(missing)}")
        if problems:
            raise SenderError(problems, missing)

    def context(self) -> dict[str, Printed]:
        """Each field as printed: ``{"value": text, "set": bool}`` (dates in 令和, the reply
        deadline with its day of the week)."""
        out: dict[str, Printed] = {}
        for f in fields(self):
            if f.name not in FIELD_LABELS_JA:
                continue
            value = getattr(self, f.name)
            if isinstance(value, date):
                text = wareki(value, weekday=f.name == "reply_by")
            else:
                text = str(value or "")
            out[f.name] = {
                "value": text or PLACEHOLDER.format(FIELD_LABELS_JA[f.name]),
                "set": bool(text),
            }
        return out

    def number_of(self, k: int) -> Printed:
        """The 文書番号 of the ``k``-th letter (0-based) as printed, like ``context``'s fields."""
        if not self.document_number:
            return {"value": PLACEHOLDER.format(FIELD_LABELS_JA["document_number"]), "set": False}
        return {
            "value": self.document_number.replace(SEQUENCE, str(self.number_start + k)),
            "set": True,
        }

    def recipient(self, name: str, who: Recipient) -> tuple[str, str]:
        """The 宛名 after the name: (「院長」, 「様」) or ("", 「御中」); the kind never joins the
        name."""
        if self.addressee == "onchu":
            return "", "御中"
        return HEAD_TITLE_JA[who], "様"


@dataclass(frozen=True)
class ReplyMethod:
    """A reply method as the sender wrote it, split for the reply request: the form it names
    (「同封の回答票」, "" when none) and how it is sent, ending in a particle (「メール又はFAXで」,
    "" when it says nothing more)."""

    form: str
    means: str

    @classmethod
    def parse(cls, text: str) -> ReplyMethod:
        """「同封の回答票をメール又はFAXで」 → (同封の回答票, メール又はFAXで); 「メール」 → ("",
        メールで); 「メールにて」 and 「フォームより」 keep their particle."""
        text = text.strip().rstrip("、。,. \u3000")
        head, sep, tail = text.rpartition("を")
        if sep and head.strip().endswith(FORM_NOUNS):
            form, means = head.strip(), tail.strip()
        elif text.endswith(FORM_NOUNS):
            form, means = text, ""
        else:
            form, means = "", text
        if means and not means.endswith(METHOD_ENDINGS):
            means += "で"
        return cls(form, means)


def printed(field: Printed) -> Markup:
    """A field of ``Sender.context`` as printed: its value, or its placeholder marked red."""
    return _printed(field["value"], field["set"])


@lru_cache(maxsize=256, typed=True)
def _printed(value: str, is_set: bool) -> Markup:
    # Cached: every letter prints the same sender fields (11 a letter; Markup.format is slow).
    if is_set:
        return escape(value)
    return Markup('<span class="ph">{}</span>').format(value)


def reply_sentence(fields: Mapping[str, Printed], where: FormMention = "enclosed") -> Markup:
    """The reply request of every letter and form, from ``Sender.context``'s fields: 「回答票に
    記入のうえ、<strong>令和9年1月15日(金)まで</strong>にメール又はFAXでご回答ください。」

    ``where``: ``enclosed`` — a letter with a 回答票 (the one the method names, else 「回答票」);
    ``this`` — the 回答票 itself (「この用紙に記入のうえ、…」); ``none`` — a letter without one.
    The method's own ending is kept (で, にて, より …; 「で」 when it has none) and a form it names
    is named once.
    """
    method, by = fields["reply_method"], fields["reply_by"]
    return _reply_sentence(
        method["value"], bool(method["set"]), by["value"], bool(by["set"]), where
    )


@lru_cache(maxsize=64, typed=True)
def _reply_sentence(
    method_text: str, method_set: bool, by_text: str, by_set: bool, where: FormMention
) -> Markup:
    # Cached: every letter and its form print the same sentence (two a letter).
    if method_set:
        method = ReplyMethod.parse(str(method_text))
        form, means = method.form, escape(method.means)
    else:
        form, means = "", _printed(method_text, False) + "で"
    by = Markup("<strong>{}まで</strong>に").format(_printed(by_text, by_set))
    if where == "this":
        return Markup("この用紙に記入のうえ、{}{}ご回答ください。").format(by, means)
    if where == "enclosed":
        return Markup("{}に記入のうえ、{}{}ご回答ください。").format(form or "回答票", by, means)
    if form:
        return Markup("{}{}を{}ご提出ください。").format(by, form, means)
    return Markup("{}{}ご回答ください。").format(by, means)
