"""The project's one vocabulary: every enumerated term of MODEL.md and its Japanese label.

Every layer (core, sources, store, API schemas, CLI options, reports, pages) takes its codes and
labels from here; nothing re-declares them. String enums compare equal to their codes, so a value
read from a file or a database row can be used where a member is expected.

Also here, because every layer applies them: ``admissible_offers`` (clinics never admit),
``CodeSet`` (area membership by 2-/5-digit municipality codes) and the 経過措置 deadline of the
義務 kinds (``DEADLINE``, ``days_left``).

Status wording comes in four forms, all from here: ``Status.label_ja`` (lists, badges),
``Status.heading_ja`` (status tables: the seed table's number and the label), ``Status.short_ja``
(narrow table headings) and ``SEED_CATEGORIES`` (the MHLW table's own four categories). Only a
facility without a filing is told 「届出なし」 (``NO_FILING_JA``); one that filed
「協力医療機関なし」 has its own wording (``UNNAMED_PARTNERS_JA``).
"""

from __future__ import annotations

import datetime as dt
import enum
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .wareki import today as today_jp


class Capability(enum.IntFlag):
    """One requirement of a 協力医療機関 (①②③ of the 2024 改定), as a bit of a mask."""

    CONSULT = 1  # ① 相談対応
    CARE = 2  # ② 診療
    ADMIT = 4  # ③ 入院受入 (hospitals only)

    @property
    def code(self) -> str:
        return CAPABILITY_CODES[self]

    @property
    def label_ja(self) -> str:
        return CAPABILITY_LABELS_JA[self]

    @property
    def mark(self) -> str:
        """The requirement's number (①②③), the first character of its label."""
        return self.label_ja[0]


ALL_MASK = 0b111
CAPABILITIES: tuple[Capability, ...] = (Capability.CONSULT, Capability.CARE, Capability.ADMIT)
CAPABILITY_CODES = {
    Capability.CONSULT: "consult",
    Capability.CARE: "care",
    Capability.ADMIT: "admit",
}
CAPABILITY_LABELS_JA = {
    Capability.CONSULT: "①相談対応",
    Capability.CARE: "②診療",
    Capability.ADMIT: "③入院受入",
}


class _Labelled(enum.StrEnum):
    """A string enum whose members carry a Japanese label from ``LABELS_JA``."""

    @property
    def label_ja(self) -> str:
        return LABELS_JA[type(self)][self]

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class Duty(_Labelled):
    """Whether covering the requirements is a legal duty or an effort obligation."""

    MANDATORY = "mandatory"  # 義務
    EFFORT = "effort"  # 努力義務


# The end of the 経過措置 for the 義務 kinds (2024 介護報酬改定): every view counts down to it.
DEADLINE = dt.date(2027, 3, 31)
DEADLINE_JA = f"{DEADLINE.year}年{DEADLINE.month}月{DEADLINE.day}日"


def days_left(today: dt.date | None = None) -> int:
    """Days from ``today`` (default: the current date) to ``DEADLINE``; negative once past."""
    return (DEADLINE - (today or today_jp())).days


class FacilityKind(_Labelled):
    """Facility kinds of MODEL.md (地域密着型 variants share the code)."""

    TOKUYO = "tokuyo"
    ROKEN = "roken"
    IRYOIN = "iryoin"
    YOGO = "yogo"
    KEIHI = "keihi"
    TOKUTEI = "tokutei"
    GH = "gh"


class InstitutionKind(_Labelled):
    """A hospital (may admit) or a clinic (never admits)."""

    HOSPITAL = "hospital"
    CLINIC = "clinic"


class Status(_Labelled):
    """A facility's compliance status, in the categories of the 令和7年12月25日 table; the
    members are in the order every status table shows them (①②③, no partner, ④)."""

    ALL = "all"
    PARTIAL = "partial"
    NONE = "none"
    NO_PARTNER = "no_partner"
    UNKNOWN = "unknown"

    @property
    def mark(self) -> str:
        """The seed table's number (①②③④); "" for ``no_partner``, which has no column there."""
        return STATUS_MARKS[self]

    @property
    def short_ja(self) -> str:
        """The narrowest heading: the number, or なし for ``no_partner``."""
        return self.mark or "なし"

    @property
    def heading_ja(self) -> str:
        """The label with its number, as status tables head their columns (①全ての要件を満たす)."""
        return f"{self.mark}{self.label_ja}"


STATUS_MARKS = {
    Status.ALL: "①",
    Status.PARTIAL: "②",
    Status.NONE: "③",
    Status.NO_PARTNER: "",
    Status.UNKNOWN: "④",
}


class ProposalStatus(_Labelled):
    """Where a proposed partnership stands: proposed → contacted → agreed | declined | withdrawn."""

    PROPOSED = "proposed"
    CONTACTED = "contacted"
    AGREED = "agreed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


# proposed → contacted → agreed | declined | withdrawn; a call that ends at once may skip
# contacted. The last three are final: a withdrawn or declined pair comes back only as a new
# proposal of a later run.
PROPOSAL_TRANSITIONS: dict[ProposalStatus, frozenset[ProposalStatus]] = {
    ProposalStatus.PROPOSED: frozenset(
        {
            ProposalStatus.CONTACTED,
            ProposalStatus.AGREED,
            ProposalStatus.DECLINED,
            ProposalStatus.WITHDRAWN,
        }
    ),
    ProposalStatus.CONTACTED: frozenset(
        {ProposalStatus.AGREED, ProposalStatus.DECLINED, ProposalStatus.WITHDRAWN}
    ),
    ProposalStatus.AGREED: frozenset(),
    ProposalStatus.DECLINED: frozenset(),
    ProposalStatus.WITHDRAWN: frozenset(),
}


class Mode(_Labelled):
    """How a run chooses its proposal: the exact optimum or one of the two baselines."""

    OPTIMAL = "optimal"
    GREEDY = "greedy"
    STABLE = "stable"


class RoundStrategy(_Labelled):
    """How a run sends its round of requests (``matcher.store.round_strategy``): as planned,
    holding back those that complete no 義務 facility, with conditional backup requests, or
    both; ``hold``: a 義務 facility's 受入可 stays 打診中 until the next re-plan
    (``matcher.store.holds``)."""

    NONE = "none"
    RESERVE = "reserve"
    BACKUPS = "backups"
    RESERVE_BACKUPS = "reserve+backups"
    HOLD = "hold"
    RESERVE_HOLD = "reserve+hold"


class RunStage(_Labelled):
    """The stages a run reports while it works (``Progress`` callbacks, the web's job)."""

    WAIT = "wait"
    LOAD = "load"
    SOLVE = "solve"
    COMMIT = "commit"
    DONE = "done"


class Source(_Labelled):
    """The registry and filing formats the importers read."""

    KAIGO = "kaigo"
    NAVII = "navii"
    KOUSEIKYOKU = "kouseikyoku"
    FILINGS = "filings"
    DECLARATIONS = "declarations"


class Reason(_Labelled):
    """Why a missing capability of a facility stays uncovered."""

    NO_CANDIDATE = "no_candidate"
    OFFERS_UNKNOWN = "offers_unknown"
    CAPACITY = "capacity"
    PARTNER_LIMIT = "partner_limit"
    UNKNOWN_EXCLUDED = "unknown_excluded"


class GeocodePrecision(_Labelled):
    """How a point was found: the registry's own coordinates or the municipality's point."""

    EXACT = "exact"
    MUNICIPALITY = "municipality"


class AreaKind(enum.StrEnum):
    """What an area is (``areas.kind``, its check constraint ``ck_areas_kind``): a prefecture, a
    municipality, a 在宅医療連携拠点's area, a 地域医療構想区域 or a 郡市医師会's area (the last
    three: sets of municipalities). Its labels are kept apart from ``LABELS_JA`` because
    都道府県・市区町村 are also column names everywhere."""

    PREFECTURE = "prefecture"
    MUNICIPALITY = "municipality"
    RENKEI = "renkei"
    KOUSOU = "kousou"
    ISHIKAI = "ishikai"

    @property
    def label_ja(self) -> str:
        return AREA_KIND_LABELS_JA[self]

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


AREA_KIND_LABELS_JA: dict[str, str] = {
    AreaKind.PREFECTURE: "都道府県",
    AreaKind.MUNICIPALITY: "市区町村",
    AreaKind.RENKEI: "在宅医療連携拠点の圏域",
    AreaKind.KOUSOU: "構想区域",
    AreaKind.ISHIKAI: "郡市医師会",
}


def area_kind_ja(kind: str) -> str:
    """The label of an area kind (the code itself when it is none)."""
    return AREA_KIND_LABELS_JA.get(kind, kind)


class Level(enum.IntEnum):
    """The objective levels of MODEL.md in lexicographic order (1 is the most important)."""

    MANDATORY_FULL = 1
    EFFORT_FULL = 2
    PAIRS_COVERED = 3
    PARTNERSHIPS = 4
    DISTANCE = 5

    @property
    def key(self) -> str:
        """The level's name in ``summary.json`` and the Objective fields."""
        return self.name.lower() if self is not Level.DISTANCE else "distance_km"

    @property
    def label_ja(self) -> str:
        return LEVEL_LABELS_JA[self]


LEVEL_LABELS_JA = {
    Level.MANDATORY_FULL: "義務施設の充足数",
    Level.EFFORT_FULL: "努力義務施設の充足数",
    Level.PAIRS_COVERED: "充足した要件数",
    Level.PARTNERSHIPS: "新規連携数",
    Level.DISTANCE: "総距離 (km)",
}

# A backup request (``RoundStrategy.BACKUPS``): taken up only when the request it backs is declined.
BACKUP_LABEL_JA = "条件付き依頼"

# A facility without any filing, and only such a facility (``has_partner`` unknown and nothing
# covered: ``Status.UNKNOWN``), is said to have 「届出なし」.
NO_FILING_JA = "届出なし"

LABELS_JA: dict[type[_Labelled], dict[str, str]] = {
    Duty: {Duty.MANDATORY: "義務", Duty.EFFORT: "努力義務"},
    FacilityKind: {
        FacilityKind.TOKUYO: "介護老人福祉施設",
        FacilityKind.ROKEN: "介護老人保健施設",
        FacilityKind.IRYOIN: "介護医療院",
        FacilityKind.YOGO: "養護老人ホーム",
        FacilityKind.KEIHI: "軽費老人ホーム",
        FacilityKind.TOKUTEI: "特定施設入居者生活介護",
        FacilityKind.GH: "認知症対応型共同生活介護",
    },
    InstitutionKind: {InstitutionKind.HOSPITAL: "病院", InstitutionKind.CLINIC: "診療所"},
    Status: {
        Status.ALL: "全ての要件を満たす",
        Status.PARTIAL: "要件の一部を満たす",
        Status.NONE: "協力医療機関はあるが要件を満たさない",
        Status.NO_PARTNER: "協力医療機関なし",
        Status.UNKNOWN: f"{NO_FILING_JA}(不明)",
    },
    ProposalStatus: {
        ProposalStatus.PROPOSED: "提案中",
        ProposalStatus.CONTACTED: "打診中",
        ProposalStatus.AGREED: "合意",
        ProposalStatus.DECLINED: "辞退",
        ProposalStatus.WITHDRAWN: "取り下げ",
    },
    Mode: {Mode.OPTIMAL: "最適化", Mode.GREEDY: "近い順 (比較用)", Mode.STABLE: "安定マッチング"},
    RoundStrategy: {
        RoundStrategy.NONE: "計画どおりに依頼する",
        RoundStrategy.RESERVE: "受入枠を残す (義務施設を満たさない依頼は次の回に)",
        RoundStrategy.BACKUPS: "条件付き依頼を添える (代わりの少ない組み合わせに予備の依頼)",
        RoundStrategy.RESERVE_BACKUPS: "受入枠を残し、条件付き依頼を添える (初回向け)",
        RoundStrategy.HOLD: "受入可を次の再計画まで保留する (義務施設の組み合わせを見直せるように)",
        RoundStrategy.RESERVE_HOLD: "受入枠を残し、受入可を次の再計画まで保留する (初回向け)",
    },
    RunStage: {
        RunStage.WAIT: "同じ地域の計算の終了を待っています",
        RunStage.LOAD: "データを読み込んでいます",
        RunStage.SOLVE: "最適な組み合わせを計算しています",
        RunStage.COMMIT: "結果を保存しています",
        RunStage.DONE: "完了しました",
    },
    Source: {
        Source.KAIGO: "介護サービス情報公表",
        Source.NAVII: "医療情報ネット (ナビイ)",
        Source.KOUSEIKYOKU: "厚生局 届出受理名簿",
        Source.FILINGS: "協力医療機関の届出",
        Source.DECLARATIONS: "医療機関の申し出",
    },
    Reason: {
        Reason.NO_CANDIDATE: "範囲内に提供できる医療機関なし",
        Reason.OFFERS_UNKNOWN: "範囲内に医療機関はあるが、どこも提供内容が不明"
        " (名簿・申し出が必要)",
        Reason.CAPACITY: "候補はあるが受入枠が他の施設に割り当て済み",
        Reason.PARTNER_LIMIT: "新たな協力医療機関の上限数に達した",
        Reason.UNKNOWN_EXCLUDED: "届出がないため今回の対象から除外",
    },
    GeocodePrecision: {
        GeocodePrecision.EXACT: "所在地の座標",
        GeocodePrecision.MUNICIPALITY: "市区町村の代表点 (概略位置)",
    },
}


# What a facility's partners are, by its status, when its filing names none of them: only a
# facility without a filing is told 「届出なし」; one that filed 「協力医療機関なし」
# (``has_partner`` false) is told that it filed so.
UNNAMED_PARTNERS_JA: dict[Status, str] = {
    Status.ALL: "あり(医療機関名は不明)",
    Status.PARTIAL: "あり(医療機関名は不明)",
    Status.NONE: "あり(医療機関名は不明)",
    Status.NO_PARTNER: "なし(協力医療機関を定めていない旨の届出あり)",
    Status.UNKNOWN: NO_FILING_JA,
}


@dataclass(frozen=True)
class SeedCategory:
    """A category (column ①–④) of the 令和7年12月25日 notice's status table (別紙1): the column
    it is read into (``data/reference/status_r7.csv``), the status it counts and the notice's
    own wording. ``no_partner`` has no category there (MODEL.md)."""

    share: str
    status: Status
    wording: str

    @property
    def label_ja(self) -> str:
        """The number and the notice's wording (①全ての要件を満たした協力医療機関を定めている)."""
        return f"{self.status.mark}{self.wording}"


SEED_CATEGORIES: tuple[SeedCategory, ...] = (
    SeedCategory("share_all", Status.ALL, "全ての要件を満たした協力医療機関を定めている"),
    SeedCategory("share_partial", Status.PARTIAL, "要件の一部を満たした協力医療機関を定めている"),
    SeedCategory(
        "share_none", Status.NONE, "いずれの要件も満たしていないが、協力医療機関は定めている"
    ),
    SeedCategory("share_not_tabulated", Status.UNKNOWN, "集計していない"),
)


def admissible_offers(kind: str, offers: int) -> int:
    """What an institution of ``kind`` can really offer: clinics never admit (「③は病院に限る」)."""
    if kind == InstitutionKind.CLINIC:
        return offers & ~Capability.ADMIT & ALL_MASK
    return offers & ALL_MASK


def code5_of(value: object) -> str:
    """The first five digits of a municipality code (``392014`` → ``39201``); "" if not a code."""
    text = unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if not text.isdigit():
        return ""
    if len(text) == 4:  # Excel dropped the leading zero of 01…09
        text = "0" + text
    return text[:5] if len(text) in (5, 6) else ""


@dataclass(frozen=True)
class CodeSet:
    """An area as municipality codes: 2-digit prefecture codes and 5-digit municipality codes.

    A municipality belongs to the set when its 5-digit code is listed or its first two digits
    name a listed prefecture. ``contains`` is the in-memory test; the store's SQL filter
    (``matcher.store.areas.member_filter``) reads ``prefectures`` and ``municipalities``.
    """

    prefectures: frozenset[str] = frozenset()
    municipalities: frozenset[str] = frozenset()

    @classmethod
    def of(cls, codes: Iterable[str]) -> CodeSet:
        """Split codes by length (2 → prefecture, 5 → municipality); ``ValueError`` otherwise."""
        two: set[str] = set()
        five: set[str] = set()
        for raw in codes:
            code = unicodedata.normalize("NFKC", str(raw)).strip()
            if code.isdigit() and len(code) <= 2:
                two.add(code.zfill(2))
            elif code5_of(code):
                five.add(code5_of(code))
            else:
                raise ValueError(f"市区町村コード「{raw}」が不正です (5桁または6桁、都道府県は2桁)")
        return cls(frozenset(two), frozenset(five))

    def contains(self, municipality_code: str) -> bool:
        """Whether the municipality (any 5- or 6-digit form) lies in the set."""
        code = code5_of(municipality_code)
        return bool(code) and (code in self.municipalities or code[:2] in self.prefectures)

    def covers(self, other: CodeSet) -> bool:
        """Whether every member of ``other`` lies in this set (an empty ``other`` never does):
        its prefectures must be listed here, its municipalities contained."""
        if not (other.prefectures or other.municipalities):
            return False
        return other.prefectures <= self.prefectures and all(
            self.contains(m) for m in other.municipalities
        )

    def overlaps(self, other: CodeSet) -> bool:
        """Whether some municipality may lie in both sets: a shared prefecture, or a member of
        one contained in the other (a prefecture and one of its municipalities overlap)."""
        return bool(
            self.prefectures & other.prefectures
            or any(self.contains(m) for m in other.municipalities)
            or any(other.contains(m) for m in self.municipalities)
        )

    def __contains__(self, municipality_code: object) -> bool:
        return isinstance(municipality_code, str) and self.contains(municipality_code)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code of the set, sorted (prefectures first)."""
        return tuple(sorted(self.prefectures)) + tuple(sorted(self.municipalities))
