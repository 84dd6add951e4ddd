"""Request bodies and response models of the JSON API.

NOTE (security engineer, issue 13): this file was emptied by mistake by a script of mine while
its author was rewriting it; this is a reconstruction from how the routes use it. Request models
are as before (plus ``ProposeIn.override_reason``); the response models accept every field the
routes return (``extra="allow"``) and should be tightened again by the file's author.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from matcher.vocab import FacilityKind, InstitutionKind, Mode, ProposalStatus, Status

MAX_ID = 2**31 - 1
# Ids in paths: bounded so that no number reaches the database driver out of its range.
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` text is a day (pydantic would also take ``0`` as 1970-01-01)."""
    if value is None or (isinstance(value, str) and _DAY.fullmatch(value)):
        return value
    raise ValueError(f"日付は YYYY-MM-DD の形で指定してください (例: 2026-04-01、値: {value!r})")


# A day in a query (e.g. a report's date): ISO text only, a Japanese 422 otherwise.
ReportDay = Annotated[dt.date | None, BeforeValidator(_iso_day)]

__all__ = [
    "FacilityKind",
    "InstitutionKind",
    "Mode",
    "ProposalStatus",
    "Status",
]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class StatusChangeIn(BaseModel):
    status: ProposalStatus
    version: int = Field(ge=1, le=MAX_ID, description="提案を読んだときの版 (古ければ 409)")
    note: str = Field("", max_length=2000)


class ProposeIn(BaseModel):
    institution_id: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=2000)
    override_reason: str = Field(
        "",
        max_length=500,
        description="距離の上限 (最新の計算の条件) や受入枠を超えて提案する理由。超えるときは必須 "
        "(履歴と監査記録に残ります)",
    )


class MaxKmIn(BaseModel):
    consult: float = Field(30.0, ge=0, le=500)
    care: float = Field(16.0, ge=0, le=500)
    admit: float = Field(30.0, ge=0, le=500)


class RunIn(BaseModel):
    area_code: str = Field(min_length=1, max_length=40)
    mode: Mode = Mode.OPTIMAL
    max_km: MaxKmIn = Field(default_factory=MaxKmIn)
    max_new_partners: int = Field(2, ge=1, le=10)
    road_factor: float = Field(1.0, gt=0, le=5)
    include_unknown: bool = True
    time_limit: float | None = Field(None, gt=0, le=3600)
    note: str = Field("", max_length=2000)
    # 第二種協定指定医療機関 preference: the share of their km the solvers do not see (0 = off)
    prefer_infection_agreement: float = Field(0.0, ge=0, lt=1)
    # A run that withdraws proposals of another area's run needs this (the preview says which).
    replace_other_areas: bool = False


class _Out(BaseModel):
    """A response object (fields as the route returns them)."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(_Out):
    detail: str | list[object] = Field(description="日本語の説明 (入力の誤りは項目ごとの一覧)")


class AreaOut(_Out):
    pass


class AreaDetailOut(_Out):
    pass


class FacilityListOut(_Out):
    total: int
    items: list[dict[str, object]]


class FacilityDetailOut(_Out):
    pass


class InstitutionOut(_Out):
    pass


class InstitutionDetailOut(_Out):
    pass


class ProposalOut(_Out):
    pass


class ProposalDetailOut(_Out):
    pass


class JobStartedOut(_Out):
    pass


class JobOut(_Out):
    pass


class RunOut(_Out):
    pass


class RunDetailOut(_Out):
    pass


class MapOut(_Out):
    pass


class StatusTableOut(_Out):
    pass


class AuditOut(_Out):
    pass


class ImportOut(_Out):
    pass
