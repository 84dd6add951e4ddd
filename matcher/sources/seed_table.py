"""The 令和7年12月25日 notice's 別紙1 table (status shares per prefecture × kind) from its text.

The notice is a PDF; its text extraction (one line per prefecture, tab-separated cells, a
header line of groups ``A.介護老人福祉施設 …`` and a line of ①②③④) is parsed into a tidy
table, and ``check_status_table`` lists what is wrong with it, computed from the data: missing
or repeated prefectures, repeated group labels, facility kinds the table lacks, cells above
100 %, groups whose ①–④ do not add up to 100 % (beyond rounding), rows of the wrong length.

Run ``python -m matcher.sources.seed_table NOTICE.txt OUT_DIR`` to rebuild
``status_r7.csv`` and ``status_r7_defects.csv``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from .._errors import InputError, RowIssue
from ..model import FACILITY_KINDS, normalize_text, parse_facility_kind
from ..reference import prefectures
from ..vocab import SEED_CATEGORIES
from .textfile import write_csv

# The table's four categories in its order (① ② ③ ④) and their numbers: the vocabulary's.
SHARES = tuple(c.share for c in SEED_CATEGORIES)
SHARE_LABELS_JA = {c.share: c.status.mark for c in SEED_CATEGORIES}
_GROUP = re.compile(r"([A-Z])\s*[.．]\s*([^\t]+)")
_PREF = re.compile(r"^(北海道|.{2,3}[都府県])$")

DefectKind = Literal[
    "missing_prefecture",
    "duplicate_prefecture",
    "unknown_prefecture",
    "duplicate_group_label",
    "missing_kind",
    "cell_over_100",
    "group_sum",
    "row_length",
]


@dataclass(frozen=True)
class Group:
    """One column group of the table: its letter, label as printed, and kind code ("" unknown)."""

    letter: str
    label: str
    kind: str


@dataclass(frozen=True)
class StatusTable:
    """The parsed table: groups in order, tidy shares, and rows that could not be read fully."""

    groups: tuple[Group, ...]
    shares: pd.DataFrame  # prefecture, group, kind_label, kind, share_all … share_not_tabulated
    prefectures: tuple[str, ...]  # in table order, repeats kept
    bad_rows: tuple[tuple[int, str, int], ...]  # (line number, prefecture, cells found)


@dataclass(frozen=True)
class TableDefect:
    """One thing wrong with the table, in Japanese, with where it is."""

    kind: DefectKind
    message: str
    prefecture: str = ""
    group: str = ""
    value: float | None = None


def _percent(cell: str) -> float | None:
    text = normalize_text(cell).rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        return None


def parse_status_table(text: str, name: str = "別紙1") -> StatusTable:
    """Parse the table out of the notice's text; ``InputError`` if its header is not there."""
    lines = text.splitlines()
    head = next((i for i, line in enumerate(lines) if len(_GROUP.findall(line)) >= 2), None)
    if head is None:
        raise InputError(
            RowIssue(name, None, None, None, "表の見出し(A.介護老人福祉施設 …)が見つかりません")
        )
    groups = []
    for letter, label in _GROUP.findall(lines[head]):
        label = normalize_text(label)
        try:
            kind = parse_facility_kind(label)
        except ValueError:
            kind = ""
        groups.append(Group(letter, label, kind))
    records: list[dict[str, object]] = []
    seen: list[str] = []
    bad: list[tuple[int, str, int]] = []
    width = 4 * len(groups)
    started = False
    for number, line in enumerate(lines[head + 1 :], start=head + 2):
        cells = [c.strip() for c in line.split("\t")]
        first = normalize_text(cells[0]) if cells else ""
        if not _PREF.match(first) or not any(c.endswith("%") for c in cells[1:]):
            if started and first:
                break  # the notes under the table
            continue
        started = True
        seen.append(first)
        values = [_percent(c) for c in cells[1:] if c != ""]
        if len(values) != width or any(v is None for v in values):
            bad.append((number, first, len(values)))
            continue
        for g_index, g in enumerate(groups):
            part = values[4 * g_index : 4 * g_index + 4]
            records.append(
                {
                    "prefecture": first,
                    "group": g.letter,
                    "kind_label": g.label,
                    "kind": g.kind,
                    **dict(zip(SHARES, part, strict=True)),  # 4 values each (len(values) == width)
                }
            )
    frame = pd.DataFrame(records, columns=["prefecture", "group", "kind_label", "kind", *SHARES])
    return StatusTable(tuple(groups), frame, tuple(seen), tuple(bad))


def check_status_table(table: StatusTable, tolerance: float = 1.0) -> list[TableDefect]:
    """Everything wrong with the table, computed from it (nothing about this notice hard-coded).

    ``tolerance`` is how far (percentage points) ①+②+③+④ may be from 100: four shares each
    rounded to a whole percent add up to 99–101.
    """
    out: list[TableDefect] = []
    known = prefectures()
    for p in known:
        if p not in table.prefectures:
            out.append(TableDefect("missing_prefecture", f"{p}の行がありません", p))
    for p in sorted(set(table.prefectures), key=table.prefectures.index):
        if table.prefectures.count(p) > 1:
            out.append(
                TableDefect(
                    "duplicate_prefecture", f"{p}の行が{table.prefectures.count(p)}回あります", p
                )
            )
        if p not in known:
            out.append(TableDefect("unknown_prefecture", f"「{p}」は都道府県名ではありません", p))
    labels = [g.label for g in table.groups]
    for g in table.groups:
        first = labels.index(g.label)
        if first != table.groups.index(g):
            out.append(
                TableDefect(
                    "duplicate_group_label",
                    f"{g.letter}列の見出し「{g.label}」が{table.groups[first].letter}列と同じです",
                    group=g.letter,
                )
            )
    present = {g.kind for g in table.groups if g.kind}
    for code, info in FACILITY_KINDS.items():
        if code not in present:
            out.append(
                TableDefect(
                    "missing_kind", f"施設種別「{info.label_ja}」の列がありません", group=code
                )
            )
    for number, pref, count in table.bad_rows:
        out.append(
            TableDefect(
                "row_length",
                f"{number}行目 {pref}: 数値が{count}個あります({4 * len(table.groups)}個のはず)",
                pref,
            )
        )
    for rec in table.shares.itertuples(index=False):
        for share in SHARES:
            value = getattr(rec, share)
            if value > 100:
                out.append(
                    TableDefect(
                        "cell_over_100",
                        f"{rec.prefecture} {rec.group}.{rec.kind_label} "
                        f"{SHARE_LABELS_JA[share]} が {value:g}% (100%超)",
                        rec.prefecture,
                        rec.group,
                        value,
                    )
                )
        total = sum(getattr(rec, s) for s in SHARES)
        if abs(total - 100) > tolerance:
            out.append(
                TableDefect(
                    "group_sum",
                    f"{rec.prefecture} {rec.group}.{rec.kind_label} の①〜④の合計が "
                    f"{total:g}% (100%になりません)",
                    rec.prefecture,
                    rec.group,
                    total,
                )
            )
    return out


def defects_frame(defects: list[TableDefect]) -> pd.DataFrame:
    """Defects as a table: 種類, 都道府県, 列, 値, 内容."""
    return pd.DataFrame(
        [
            {
                "種類": d.kind,
                "都道府県": d.prefecture,
                "列": d.group,
                "値": "" if d.value is None else f"{d.value:g}",
                "内容": d.message,
            }
            for d in defects
        ],
        columns=["種類", "都道府県", "列", "値", "内容"],
    )


def build_status_files(notice: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``status_r7.csv`` (tidy shares) and ``status_r7_defects.csv`` from the notice text."""
    table = parse_status_table(Path(notice).read_text("utf-8"), Path(notice).name)
    out_dir = Path(out_dir)
    shares = write_csv(table.shares, out_dir / "status_r7.csv")
    defects = write_csv(defects_frame(check_status_table(table)), out_dir / "status_r7_defects.csv")
    return shares, defects


if __name__ == "__main__":  # pragma: no cover - data build step
    build_status_files(sys.argv[1], sys.argv[2])
