"""Request bodies and response models of the JSON API.

Each response model is made from the use case's view it documents (``matcher.usecases.views``:
its fields, types, defaults and docstring; a nested view becomes the nested view's model) with a
Japanese description per field added here, so ``/docs`` shows every answer and no field is
written twice. Routes return the views and FastAPI validates them into these models by
attribute. Run parameters default to ``matcher.params.MatchParams``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
import re
import types
import typing
from types import GenericAlias
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import PydanticUndefined

from matcher.usecases import views
from matcher.usecases.runs import DEFAULTS, RunRequest, run_request
from matcher.vocab import (
    CAPABILITIES,
    NO_FILING_JA,
    Capability,
    FacilityKind,
    InstitutionKind,
    Mode,
    ProposalStatus,
    RoundStrategy,
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
    # How the run's requests go out: none, reserve, backups (条件付き依頼), reserve+backups
    round_strategy: RoundStrategy = RoundStrategy(DEFAULTS.round_strategy)
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
            round_strategy=self.round_strategy.value,
            note=self.note,
            replace_other_areas=self.replace_other_areas,
        )


class _Out(BaseModel):
    """A response: validated from the use case's view by attribute."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(_Out):
    detail: str | list[object] = Field(description="日本語の説明 (入力の誤りは項目ごとの一覧)")


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


# --- responses derived from the views ----------------------------------------------------------

# view → its response model (a nested view's field points at the nested view's model)
_MODELS: dict[type, type[_Out]] = {}
# view → the descriptions of its fields, its bases' included (a detail view keeps them)
_DESCRIPTIONS: dict[type, dict[str, str]] = {}


def _annotation(hint: object) -> Any:
    """A view field's type as the model's: a view → its model, ``tuple[X, ...]`` → ``list[X]``,
    ``Any`` → ``object``."""
    if hint is Any:
        return object
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _MODELS[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        return hint
    if origin is tuple:
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"a view's tuple is tuple[X, ...], not {hint}")
        return GenericAlias(list, (_annotation(args[0]),))
    if origin is types.UnionType:
        return functools.reduce(operator.or_, map(_annotation, args))
    return origin[tuple(map(_annotation, args))]


def _out(view: type, model_name: str | None = None, /, **descriptions: str) -> type[_Out]:
    """The response model of ``view``: its fields, types and defaults, ``descriptions`` (Japanese,
    for ``/docs``) added to the bases' ones; named ``…Out`` after the view unless
    ``model_name``. A nested view's model must be made first."""
    fields = {f.name: f for f in dataclasses.fields(view)}
    unknown = sorted(set(descriptions) - set(fields))
    if unknown:
        raise TypeError(f"{view.__name__} has no field {', '.join(unknown)}")
    described = {
        name: text
        for base in view.__mro__[:0:-1]
        for name, text in _DESCRIPTIONS.get(base, {}).items()
    }
    described |= descriptions
    hints = typing.get_type_hints(view)
    definitions: dict[str, Any] = {}
    for name, f in fields.items():
        if f.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{view.__name__}.{name}: a default factory has no model default")
        default = PydanticUndefined if f.default is dataclasses.MISSING else f.default
        definitions[name] = (
            _annotation(hints[name]),
            Field(default, description=described.get(name)),
        )
    doc = view.__doc__
    if doc is not None and doc.startswith(f"{view.__name__}("):
        doc = None  # the signature dataclass writes for a view without a docstring
    model = create_model(
        model_name or view.__name__.removesuffix("View") + "Out",
        __base__=_Out,
        __module__=__name__,
        __doc__=doc,
        **definitions,
    )
    _MODELS[view] = model
    _DESCRIPTIONS[view] = described
    return model


def many(model: type[_Out]) -> Any:
    """``list[model]``, a list answer's ``response_model`` (the type checker cannot subscript a
    model made at import)."""
    return GenericAlias(list, (model,))


_CAPS = "要件の組み合わせ (consult・care・admit を + でつなぐ、例 consult+care)"
_TIME = "日時 (UTC、ISO 8601)"

# facilities and institutions
FacilityOut = _out(
    views.FacilityView,
    kind="施設種別のコード (tokuyo・gh …)",
    duty="mandatory (義務) または effort (努力義務)",
    status=f"{'・'.join(s.value for s in Status)} (①〜④と{NO_FILING_JA})",
    required=f"必要な要件: {_CAPS}",
    covered="満たしている要件 (届出と合意した提案)",
    covered_agreed="そのうち合意した提案による要件",
    missing="不足している要件",
    pending="打診中の提案が満たす見込みの要件 (まだ満たしていない扱い)",
    filing_year="最新の届出の年度 (届出がなければ null)",
    unknown="届出がなく状況が分からない",
    has_infection_partner="第二種協定指定医療機関が協力医療機関にいる",
)
FacilityListOut = _out(views.FacilityListView, total="条件に合う施設の数 (limit・offset の前)")
PartnerOut = _out(views.PartnerView)
InstitutionOut = _out(
    views.InstitutionView,
    kind="hospital・clinic …",
    offers=f"提供できる要件: {_CAPS}",
    declared_capacity="申告された受入可能数 (申告なしは null)",
    used_capacity="合意・打診中・提案中で使っている数",
    remaining_capacity="残り (申告なしは null)",
    infection_agreement="第二種協定指定医療機関",
)

# proposals
ProposalOut = _out(
    views.ProposalView,
    covers=f"この提案が満たす要件: {_CAPS}",
    status="proposed・contacted・agreed・declined・withdrawn",
    run_id="提案した計算 (手入力なら null)",
    updated_at=_TIME,
    backup_for="条件付き依頼なら、予備として添えた先の提案 (第一候補) の ID。"
    "第一候補が不可・取り下げのときだけ合意になります (通常の依頼は null)",
    held="受入可(保留中): 医療機関は受入可と回答済み。次の再計画までは打診中 (充足に数えません)",
)
HistoryOut = _out(views.HistoryView, at=_TIME)
ProposalDetailOut = _out(views.ProposalDetailView, history="状態の変更 (古い順)")
InstitutionDetailOut = _out(views.InstitutionDetailView)
CandidateOut = _out(
    views.CandidateView,
    covers="不足している要件のうち満たせるもの",
    proposal="この組み合わせの提案 (あれば)",
)
FacilityDetailOut = _out(
    views.FacilityDetailView,
    partners="最新の届出の協力医療機関",
    candidates="候補 (近い順)",
    alternatives="まだ提案していない候補 (近い5件)",
)

# areas, status table, map
AreaOut = _out(
    views.AreaView,
    kind="prefecture・municipality・renkei (連携拠点の地域)・kousou (構想区域)"
    "・ishikai (郡市医師会)",
    municipalities="構成する市区町村・都道府県のコード",
)
AreaDetailOut = _out(views.AreaDetailView, status_counts="状況ごとの施設数")
StatusColumnOut = _out(views.StatusColumnView)
StatusRowOut = _out(
    views.StatusRowView,
    kind="施設種別 (total は計)",
    infection_partner="第二種協定指定医療機関を協力医療機関に含む施設",
)
StatusTableOut = _out(views.StatusTableView, days_left="経過措置の期限までの日数")
MapFacilityOut = _out(views.MapFacilityView)
MapInstitutionOut = _out(views.MapInstitutionView)
MapProposalOut = _out(views.MapProposalView)
MapOut = _out(
    views.MapView,
    institutions="施設の近くの医療機関",
    proposals="提案中・打診中・合意の提案",
)
OutlineOut = _out(views.OutlineView, rings="輪郭の点 (経度・緯度)")
TownOut = _out(views.TownView)
MapBackgroundOut = _out(views.MapBackgroundView)

# runs and jobs
RunOut = _out(
    views.RunView,
    mode="optimal・greedy・stable",
    params="計算の条件 (距離の上限など)",
    mandatory_full="全要件を満たす義務施設",
    effort_full="全要件を満たす努力義務施設",
    pairs_covered="満たす要件の数",
    partnerships="新規連携の数",
    distance_km="総距離",
    started_at=_TIME,
    finished_at=_TIME,
    seconds="段階ごとの所要時間 (秒)",
)
RunChangeOut = _out(
    views.RunChangeView, change="new・kept・dropped・released", status="提案の今の状態"
)
RunDetailOut = _out(views.RunDetailView)
JobOut = _out(views.JobView, state="running・done・failed")
JobStartedOut = _out(
    views.JobStartedView, poll="計算中: 進捗を問い合わせる URL", run="待つ間に終わった計算"
)

# audit log
AuditOut = _out(
    views.AuditLogEntryView,
    "AuditOut",
    at=_TIME,
    action="proposal.status・proposal.create・run.create・import.* …",
)

# imports
IssueOut = _out(views.IssueView, severity="error または warning")
RejectOut = _out(
    views.RejectView,
    category="error・skipped・unmatched (公開データ等)",
    values="除外した行の値 (公開データ等)",
)
ImportCountsOut = _out(views.ImportCountsView)
ImportOut = _out(
    views.ImportResultView,
    "ImportOut",
    stats="表ごとの件数 (追加・更新・変更なし)",
    counts="公開データ・届出・申出の行数",
)
