"""The picture per area in the workspace: the areas a user may see (構想区域, 郡市医師会, 拠点
areas …) with their facilities still short, and one page per area with the figures of its
調整会議資料, filterable, and its workbook to download (``matcher.usecases.areaviews``).

Scoped like every page: an area is visible only when it lies wholly within the user's scope;
another area answers 404.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from matcher.usecases import areaviews
from matcher.vocab import CAPABILITIES, Duty, ProposalStatus, Status

from ..deps import SessionDep, UowDep
from ..render import render

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/areas", response_class=HTMLResponse)
def area_list(request: Request, sess: SessionDep, uow: UowDep) -> HTMLResponse:
    """Every area the user may see, by kind, with its facilities and those still short."""
    groups = areaviews.area_summaries(uow, sess.user.actor)
    return render(request, "area_list.html", sess, groups=groups)


class AreaViewParams(BaseModel):
    """The area page's URL: filters of its lists, and whether to compute the what-if."""

    duty: str = Field("", title="義務/努力義務")
    missing: str = Field("", title="不足している要件")
    municipality: str = Field("", max_length=6, title="市区町村")
    q: str = Field("", max_length=200, title="検索")
    whatif: bool = Field(False, title="何があれば埋まるか")


def _labels() -> dict[str, Any]:
    return {
        "statuses": [(s.value, s.short_ja, s.heading_ja) for s in Status],
        "duties": [(d.value, d.label_ja) for d in Duty],
        "capabilities": [(c.code, c.label_ja) for c in CAPABILITIES],
        "proposal_ja": {s.value: s.label_ja for s in ProposalStatus},
    }


@router.get("/areas/{code}", response_class=HTMLResponse)
def area_page(
    code: str,
    request: Request,
    params: Annotated[AreaViewParams, Query()],
    sess: SessionDep,
    uow: UowDep,
) -> HTMLResponse:
    """One area's figures: the seed table, facilities still short (filterable), institutions
    able to help with declared vs needed capacity, proposals and answers, uncoverable
    facilities, the institutions to discuss, 広域 cases and, on request, the what-if."""
    shown = areaviews.AreaFilter(params.duty, params.missing, params.municipality, params.q)
    page = areaviews.area_page(uow, sess.user.actor, code, shown, params.whatif)
    view = page.view
    by_duty = view.short_by_duty()
    need = view.short_by_requirement()
    return render(
        request,
        "area_view.html",
        sess,
        view=view,
        query=params,
        short=page.short,
        helping=page.institutions,
        by_duty=[(d.label_ja, by_duty[d], [need[d][c] for c in CAPABILITIES]) for d in Duty],
        municipalities=page.municipalities,
        n_uncoverable=len({r.facility_id for r in view.uncoverable}),
        xlsx=f"/areas/{quote(view.area.code, safe='')}/meeting.xlsx",
        **_labels(),
    )


@router.get("/areas/{code}/meeting.xlsx")
def area_workbook(
    code: str,
    sess: SessionDep,
    uow: UowDep,
    whatif: Annotated[bool, Query(title="何があれば埋まるか")] = False,
) -> Response:
    """The area's 調整会議資料 as an Excel workbook (the figures of the page)."""
    name, data = areaviews.area_workbook(uow, sess.user.actor, code, whatif)
    return Response(
        data,
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
