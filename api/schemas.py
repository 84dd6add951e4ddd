"""Request bodies and response models of the JSON API.

Each response model names the fields of the use case's view it documents
(``matcher.usecases.views``: same names, same nesting; ``tests/api/test_api_views.py`` checks
that they agree), so ``/docs`` shows every answer. Routes return the views and FastAPI validates
them into these models by attribute. Run parameters default to ``matcher.params.MatchParams``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from matcher.usecases.runs import DEFAULTS, RunRequest, run_request
from matcher.vocab import (
    CAPABILITIES,
    Capability,
    FacilityKind,
    InstitutionKind,
    Mode,
    ProposalStatus,
    Status,
)

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


def _km(c: Capability) -> float:
    return DEFAULTS.max_km[c]


class MaxKmIn(BaseModel):
    """The range per requirement (km); defaults: ``matcher.params.DEFAULT_MAX_KM``."""

    consult: float = Field(_km(Capability.CONSULT), ge=0, le=500)
    care: float = Field(_km(Capability.CARE), ge=0, le=500)
    admit: float = Field(_km(Capability.ADMIT), ge=0, le=500)


class RunIn(BaseModel):
    """A run's parameters; what is not given is ``MatchParams``' default."""

    area_code: str = Field(min_length=1, max_length=40)
    mode: Mode = Mode.OPTIMAL
    max_km: MaxKmIn = Field(default_factory=MaxKmIn)
    max_new_partners: int = Field(DEFAULTS.max_new_partners, ge=1, le=10)
    road_factor: float = Field(DEFAULTS.road_factor, gt=0, le=5)
    include_unknown: bool = DEFAULTS.include_unknown
    time_limit: float | None = Field(DEFAULTS.time_limit, gt=0, le=3600)
    note: str = Field("", max_length=2000)
    # 第二種協定指定医療機関 preference: the share of their km the solvers do not see (0 = off)
    prefer_infection_agreement: float = Field(DEFAULTS.prefer_infection_agreement, ge=0, lt=1)
    # A run that withdraws proposals of another area's run needs this (the preview says which).
    replace_other_areas: bool = False

    def request(self) -> RunRequest:
        """The use case's ``RunRequest`` (``InputError`` for what ``MatchParams`` refuses)."""
        return run_request(
            self.area_code,
            self.mode.value,
            max_km={c.code: getattr(self.max_km, c.code) for c in CAPABILITIES},
            max_new_partners=self.max_new_partners,
            road_factor=self.road_factor,
            time_limit=self.time_limit,
            include_unknown=self.include_unknown,
            prefer_infection_agreement=self.prefer_infection_agreement,
            note=self.note,
            replace_other_areas=self.replace_other_areas,
        )


class _Out(BaseModel):
    """A response: validated from the use case's view by attribute."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(_Out):
    detail: str | list[object] = Field(description="日本語の説明 (入力の誤りは項目ごとの一覧)")


_CAPS = "要件の組み合わせ (consult・care・admit を + でつなぐ、例 consult+care)"
_TIME = "日時 (UTC、ISO 8601)"


# --- session -----------------------------------------------------------------------------------


class UserOut(_Out):
    username: str
    display_name: str
    role: str = Field(description="prefecture (都道府県)・coordinator・viewer (閲覧のみ)")
    role_ja: str
    scope: list[str] = Field(description="担当地域 (都道府県2桁・市区町村5桁のコード)")


class LoginOut(_Out):
    token: str = Field(description="Authorization: Bearer に使うトークン")
    csrf_token: str = Field(description="Cookie で送るときの X-CSRF-Token")
    expires_in: int = Field(description="ログインの有効期間 (秒)")
    idle_timeout: int = Field(description="操作がないまま無効になるまでの秒数")
    user: UserOut


class MeOut(_Out):
    user: UserOut
    csrf_token: str


class OkOut(_Out):
    ok: bool


class SessionsEndedOut(OkOut):
    sessions_ended: int = Field(description="無効にしたセッションの数")


# --- facilities --------------------------------------------------------------------------------


class FacilityOut(_Out):
    """A facility and its state."""

    facility_id: str
    name: str
    kind: str = Field(description="施設種別のコード (tokuyo・gh …)")
    kind_ja: str
    duty: str = Field(description="mandatory (義務) または effort (努力義務)")
    lat: float
    lon: float
    municipality_code: str
    address: str
    status: str = Field(description="all・partial・none・no_partner・unknown (①〜④と届出なし)")
    status_ja: str
    required: str = Field(description=f"必要な要件: {_CAPS}")
    covered: str = Field(description="満たしている要件 (届出と合意した提案)")
    covered_agreed: str = Field(description="そのうち合意した提案による要件")
    missing: str = Field(description="不足している要件")
    pending: str = Field(description="打診中の提案が満たす見込みの要件 (まだ満たしていない扱い)")
    filing_year: int | None = Field(description="最新の届出の年度 (届出がなければ null)")
    unknown: bool = Field(description="届出がなく状況が分からない")
    has_infection_partner: bool = Field(description="第二種協定指定医療機関が協力医療機関にいる")


class FacilityListOut(_Out):
    total: int = Field(description="条件に合う施設の数 (limit・offset の前)")
    items: list[FacilityOut]


class PartnerOut(_Out):
    """A partner named in the facility's latest filing."""

    partner_name: str
    institution_id: str | None
    covers: str
    infection_agreement: bool


class InstitutionOut(_Out):
    """An institution with its offers and capacity now."""

    institution_id: str
    name: str
    kind: str = Field(description="hospital・clinic …")
    kind_ja: str
    lat: float
    lon: float
    municipality_code: str
    address: str
    offers: str = Field(description=f"提供できる要件: {_CAPS}")
    declared_capacity: int | None = Field(description="申告された受入可能数 (申告なしは null)")
    used_capacity: int = Field(description="合意・打診中・提案中で使っている数")
    remaining_capacity: int | None = Field(description="残り (申告なしは null)")
    infection_agreement: bool = Field(description="第二種協定指定医療機関")


class ProposalOut(_Out):
    """A proposal (``version``: send it with the next status change)."""

    id: int
    facility_id: str
    facility_name: str
    institution_id: str
    institution_name: str
    covers: str = Field(description=f"この提案が満たす要件: {_CAPS}")
    distance_km: float
    status: str = Field(description="proposed・contacted・agreed・declined・withdrawn")
    status_ja: str
    version: int
    run_id: int | None = Field(description="提案した計算 (手入力なら null)")
    updated_at: str = Field(description=_TIME)
    updated_by: str


class HistoryOut(_Out):
    at: str = Field(description=_TIME)
    actor: str
    from_status: str | None
    to_status: str
    note: str
    version: int
    run_id: int | None


class ProposalDetailOut(ProposalOut):
    history: list[HistoryOut] = Field(description="状態の変更 (古い順)")


class InstitutionDetailOut(InstitutionOut):
    proposals: list[ProposalOut]


class CandidateOut(InstitutionOut):
    """An institution that would add a missing requirement, nearest first."""

    rank: int
    distance_km: float
    covers: str = Field(description="不足している要件のうち満たせるもの")
    proposal: ProposalOut | None = Field(description="この組み合わせの提案 (あれば)")
    declined: bool


class FacilityDetailOut(FacilityOut):
    partners: list[PartnerOut] = Field(description="最新の届出の協力医療機関")
    proposals: list[ProposalOut]
    candidates: list[CandidateOut] = Field(description="候補 (近い順)")
    alternatives: list[CandidateOut] = Field(description="まだ提案していない候補 (近い5件)")


# --- areas, status table, map ------------------------------------------------------------------


class AreaOut(_Out):
    code: str
    name: str
    kind: str = Field(description="prefecture・municipality・renkei (連携拠点の地域)")
    municipalities: list[str] = Field(description="構成する市区町村・都道府県のコード")


class AreaDetailOut(AreaOut):
    status_counts: dict[str, int] = Field(description="状況ごとの施設数")


class StatusColumnOut(_Out):
    key: str
    label: str


class StatusRowOut(_Out):
    """One (area, kind) row of the seed table: a count and a share (%) per status."""

    area_code: str
    area_name: str
    kind: str = Field(description="施設種別 (total は計)")
    kind_ja: str
    all: int
    partial: int
    none: int
    no_partner: int
    unknown: int
    total: int
    share_all: float
    share_partial: float
    share_none: float
    share_no_partner: float
    share_unknown: float
    infection_partner: int = Field(description="第二種協定指定医療機関を協力医療機関に含む施設")
    share_infection_partner: float


class StatusTableOut(_Out):
    columns: list[StatusColumnOut]
    days_left: int = Field(description="経過措置の期限までの日数")
    rows: list[StatusRowOut]


class MapFacilityOut(_Out):
    facility_id: str
    name: str
    kind_ja: str
    lat: float
    lon: float
    status: str
    status_ja: str
    missing: str


class MapInstitutionOut(_Out):
    institution_id: str
    name: str
    kind: str
    lat: float
    lon: float
    offers: str
    declared_capacity: int | None
    remaining_capacity: int | None


class MapProposalOut(_Out):
    id: int
    facility_id: str
    institution_id: str
    status: str


class MapOut(_Out):
    facilities: list[MapFacilityOut]
    institutions: list[MapInstitutionOut] = Field(description="施設の近くの医療機関")
    proposals: list[MapProposalOut] = Field(description="提案中・打診中・合意の提案")


class OutlineOut(_Out):
    name: str
    rings: list[list[float]] = Field(description="輪郭の点 (経度・緯度)")


class TownOut(_Out):
    code: str
    name: str
    lat: float
    lon: float


class MapBackgroundOut(_Out):
    outlines: list[OutlineOut]
    municipalities: list[TownOut]


# --- runs and jobs -----------------------------------------------------------------------------


class RunOut(_Out):
    id: int
    area_code: str
    mode: str = Field(description="optimal・greedy・stable")
    params: dict[str, object] = Field(description="計算の条件 (距離の上限など)")
    mandatory_full: int = Field(description="全要件を満たす義務施設")
    effort_full: int = Field(description="全要件を満たす努力義務施設")
    pairs_covered: int = Field(description="満たす要件の数")
    partnerships: int = Field(description="新規連携の数")
    distance_km: float = Field(description="総距離")
    proven_optimal: bool
    message: str
    counts: dict[str, object]
    n_new: int
    n_kept: int
    n_dropped: int
    actor: str
    started_at: str = Field(description=_TIME)
    finished_at: str = Field(description=_TIME)
    seconds: dict[str, object] = Field(description="段階ごとの所要時間 (秒)")


class RunChangeOut(_Out):
    proposal_id: int
    facility_id: str
    institution_id: str
    change: str = Field(description="new・kept・dropped・released")
    status: str = Field(description="提案の今の状態")


class RunDetailOut(RunOut):
    changes: list[RunChangeOut]


class JobOut(_Out):
    job_id: int
    area_code: str
    mode: str
    state: str = Field(description="running・done・failed")
    stage: str
    done: int
    total: int
    run_id: int | None
    error: str | None
    seconds: float


class JobStartedOut(JobOut):
    poll: str | None = Field(None, description="計算中: 進捗を問い合わせる URL")
    run: RunOut | None = Field(None, description="待つ間に終わった計算")


# --- audit log ---------------------------------------------------------------------------------


class AuditOut(_Out):
    id: int
    at: str = Field(description=_TIME)
    actor: str
    action: str = Field(description="proposal.status・proposal.create・run.create・import.* …")
    target: str
    detail: dict[str, object]


# --- imports -----------------------------------------------------------------------------------


class IssueOut(_Out):
    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str
    severity: str = Field(description="error または warning")


class RejectOut(_Out):
    row: int | None
    issues: list[IssueOut]
    file: str | None = None
    category: str | None = Field(None, description="error・skipped・unmatched (公開データ等)")
    category_ja: str | None = None
    values: dict[str, str] | None = Field(None, description="除外した行の値 (公開データ等)")


class ImportCountsOut(_Out):
    read: int
    accepted: int
    rejected: int
    error: int
    skipped: int
    unmatched: int
    warnings: int


class ImportOut(_Out):
    kind: str
    file: str
    accepted: int
    rejected: int
    rejects: list[RejectOut]
    warnings: list[IssueOut]
    stats: dict[str, str] = Field(description="表ごとの件数 (追加・更新・変更なし)")
    counts: ImportCountsOut | None = Field(None, description="公開データ・届出・申出の行数")
