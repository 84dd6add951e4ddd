"""Shared helpers of the reply tests: a planned region with issued links, filled Excel forms.

(A module, not a conftest: a second conftest would shadow ``from conftest import ...``.)
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from store_fixtures import seed_small_region

from matcher.store.areas import save_area
from matcher.store.db import Store
from matcher.store.planning import run_plan
from matcher.store.replies import IssuedLink, issue_links
from matcher.wareki import today as today_jp

KEY = b"\x01" * 32  # the reply-form key of the store tests (the web derives its own)
DEADLINE = today_jp() + dt.timedelta(days=14)


@dataclass(frozen=True)
class Region:
    """A planned area and the links issued for its run's letters."""

    run_id: int
    links: tuple[IssuedLink, ...]

    def link(self, kind: str, recipient_id: str | None = None) -> IssuedLink:
        return next(
            x
            for x in self.links
            if x.kind == kind and (recipient_id is None or x.recipient_id == recipient_id)
        )


def planned_region(store: Store, area: str = "area-k") -> Region:
    """The small region of ``store_fixtures`` planned as one area, with every letter's link."""
    seed_small_region(store)
    with store.write() as s:
        save_area(s, area, "高知市", "renkei", ["39201"])
    report = run_plan(store, area, actor="テスト")
    assert report.run_id is not None
    with store.write() as s:
        links = issue_links(s, report.run_id, DEADLINE, "coord")
    return Region(report.run_id, tuple(links))


def filled(workbook: bytes, cells: dict[str, object]) -> bytes:
    """``workbook`` with ``cells`` (``{"G8": "受入可"}``) written, as a recipient would."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(workbook))
    ws = wb["回答票"]
    for ref, value in cells.items():
        ws[ref] = value
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
