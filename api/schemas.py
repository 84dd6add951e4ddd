"""Request bodies of the JSON API (responses are plain dicts documented by their routes)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field

MAX_ID = 2**31 - 1
# Ids in paths: bounded so that no number reaches the database driver out of its range.
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]

ProposalStatusIn = Literal["proposed", "contacted", "agreed", "declined", "withdrawn"]
StatusFilter = Literal["all", "partial", "none", "no_partner", "unknown"]
FacilityKind = Literal["tokuyo", "roken", "iryoin", "yogo", "keihi", "tokutei", "gh"]
InstitutionKindIn = Literal["hospital", "clinic"]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class StatusChangeIn(BaseModel):
    status: ProposalStatusIn
    version: int = Field(ge=1, le=MAX_ID, description="提案を読んだときの版 (古ければ 409)")
    note: str = Field("", max_length=2000)


class ProposeIn(BaseModel):
    institution_id: str = Field(min_length=1, max_length=40)
    note: str = Field("", max_length=2000)


class MaxKmIn(BaseModel):
    consult: float = Field(30.0, ge=0, le=500)
    care: float = Field(16.0, ge=0, le=500)
    admit: float = Field(30.0, ge=0, le=500)


class RunIn(BaseModel):
    area_code: str = Field(min_length=1, max_length=40)
    mode: Literal["optimal", "greedy", "stable"] = "optimal"
    max_km: MaxKmIn = Field(default_factory=MaxKmIn)
    max_new_partners: int = Field(2, ge=1, le=10)
    road_factor: float = Field(1.0, gt=0, le=5)
    include_unknown: bool = True
    time_limit: float | None = Field(None, gt=0, le=3600)
    note: str = Field("", max_length=2000)
