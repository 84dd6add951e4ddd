"""Domain vocabulary of MODEL.md: capabilities, facility kinds, statuses, facilities, institutions.

Capabilities are handled as bit masks inside the core (consult=1, care=2, admit=4) so that a
set of capabilities is one small integer in numpy arrays; ``Capability`` names them at the edges.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from .vocab import (
    ALL_MASK,
    CAPABILITIES,
    CAPABILITY_CODES,
    CAPABILITY_LABELS_JA,
    Capability,
    Duty,
    FacilityKind,
    GeocodePrecision,
    InstitutionKind,
    Status,
    admissible_offers,
)

__all__ = [
    "ALL_MASK",
    "CAPABILITIES",
    "CAPABILITY_CODES",
    "CAPABILITY_LABELS_JA",
    "Capability",
    "Duty",
    "FacilityKind",
    "GeocodePrecision",
    "InstitutionKind",
    "Status",
    "admissible_offers",
    "FACILITY_KINDS",
    "KindInfo",
    "Facility",
    "Institution",
    "Instance",
    "normalize_text",
    "parse_capabilities",
    "format_capabilities",
    "format_capabilities_ja",
    "parse_facility_kind",
    "parse_institution_kind",
    "status_of",
    "INSTITUTION_KIND_JA",
    "STATUS_LABELS_JA",
]

_CAP_TOKENS = {
    "consult": 1,
    "care": 2,
    "admit": 4,
    "1": 1,
    "2": 2,
    "3": 4,
    "①": 1,
    "②": 2,
    "③": 4,
    "相談": 1,
    "相談対応": 1,
    "診療": 2,
    "往診": 2,
    "入院": 4,
    "入院受入": 4,
    "入院受け入れ": 4,
}


def normalize_text(value: object) -> str:
    """NFKC-normalise and strip a cell; ``None``/NaN become the empty string."""
    if value is None:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_capabilities(value: object) -> int:
    """Parse ``consult+care``, ``1+2``, ``①②``, ``1,3`` … into a mask; blank is 0.

    Raises ``ValueError`` naming the unknown token.
    """
    raw = str(value).strip() if value is not None else ""
    if raw == "" or raw.lower() == "nan":
        return 0
    # ①②③ are turned into digits by NFKC, which is what we want.
    text = normalize_text(raw).lower()
    mask = 0
    for token in re.split(r"[+,、・/\s;|]+", text):
        if not token:
            continue
        if token in _CAP_TOKENS:
            mask |= _CAP_TOKENS[token]
        elif token.isdigit() and set(token) <= {"1", "2", "3"}:
            for ch in token:  # "123" or "12" written without separators
                mask |= _CAP_TOKENS[ch]
        else:
            raise ValueError(f"不明な要件「{token}」(consult/care/admit または ①②③ で指定)")
    return mask


@functools.lru_cache(maxsize=64)
def format_capabilities(mask: int) -> str:
    """The canonical text of a mask: codes joined by ``+`` in ①②③ order."""
    # cached: every page and list formats the same few masks thousands of times, and each
    # ``mask & c`` goes through the enum machinery
    return "+".join(CAPABILITY_CODES[c] for c in CAPABILITIES if mask & c)


def format_capabilities_ja(mask: int) -> str:
    """Japanese labels of a mask, e.g. ``①相談対応・②診療``; ``なし`` for none."""
    parts = [CAPABILITY_LABELS_JA[c] for c in CAPABILITIES if mask & c]
    return "・".join(parts) if parts else "なし"


@dataclass(frozen=True)
class KindInfo:
    code: str
    label_ja: str
    required: int
    duty: Duty


_DUTY_OF = {
    FacilityKind.TOKUYO: Duty.MANDATORY,
    FacilityKind.ROKEN: Duty.MANDATORY,
    FacilityKind.IRYOIN: Duty.MANDATORY,
    FacilityKind.YOGO: Duty.MANDATORY,
    FacilityKind.KEIHI: Duty.EFFORT,
    FacilityKind.TOKUTEI: Duty.EFFORT,
    FacilityKind.GH: Duty.EFFORT,
}
# 義務 kinds need ①②③, 努力義務 kinds ①② (MODEL.md, facility kinds).
_REQUIRED_OF = {Duty.MANDATORY: ALL_MASK, Duty.EFFORT: Capability.CONSULT | Capability.CARE}

FACILITY_KINDS: dict[str, KindInfo] = {
    kind.value: KindInfo(kind.value, kind.label_ja, int(_REQUIRED_OF[duty]), duty)
    for kind, duty in _DUTY_OF.items()
}

# Japanese names and common variants (after NFKC). 地域密着型 variants map to the same code.
_KIND_ALIASES: dict[str, str] = {
    "介護老人福祉施設": "tokuyo",
    "特別養護老人ホーム": "tokuyo",
    "特養": "tokuyo",
    "地域密着型介護老人福祉施設": "tokuyo",
    "地域密着型介護老人福祉施設入所者生活介護": "tokuyo",
    "地域密着型特別養護老人ホーム": "tokuyo",
    "介護老人保健施設": "roken",
    "老健": "roken",
    "老人保健施設": "roken",
    "介護医療院": "iryoin",
    "医療院": "iryoin",
    "養護老人ホーム": "yogo",
    "養護": "yogo",
    "軽費老人ホーム": "keihi",
    "軽費": "keihi",
    "ケアハウス": "keihi",
    "特定施設入居者生活介護": "tokutei",
    "特定施設": "tokutei",
    "地域密着型特定施設入居者生活介護": "tokutei",
    "地域密着型特定施設": "tokutei",
    "介護付有料老人ホーム": "tokutei",
    "有料老人ホーム": "tokutei",
    "認知症対応型共同生活介護": "gh",
    "グループホーム": "gh",
    "認知症グループホーム": "gh",
    "gh": "gh",
}


def parse_facility_kind(value: object) -> str:
    """Map a kind given as code or Japanese name to its code; ``ValueError`` if unknown."""
    text = normalize_text(value)
    low = text.lower()
    if low in FACILITY_KINDS:
        return low
    if text in _KIND_ALIASES:
        return _KIND_ALIASES[text]
    compact = re.sub(r"[\s()（）]", "", text)
    if compact in _KIND_ALIASES:
        return _KIND_ALIASES[compact]
    codes = ", ".join(FACILITY_KINDS)
    raise ValueError(f"不明な施設種別「{text}」(使えるのは {codes} または日本語名)")


_INST_KINDS = {
    "hospital": InstitutionKind.HOSPITAL,
    "病院": InstitutionKind.HOSPITAL,
    "1": InstitutionKind.HOSPITAL,
    "clinic": InstitutionKind.CLINIC,
    "診療所": InstitutionKind.CLINIC,
    "2": InstitutionKind.CLINIC,
    "クリニック": InstitutionKind.CLINIC,
}
INSTITUTION_KIND_JA = {k.value: k.label_ja for k in InstitutionKind}


def parse_institution_kind(value: object) -> InstitutionKind:
    """Map ``hospital``/``病院``/``clinic``/``診療所`` to the code; ``ValueError`` if unknown."""
    text = normalize_text(value).lower()
    if text in _INST_KINDS:
        return _INST_KINDS[text]
    raise ValueError(f"不明な医療機関種別「{text}」(hospital/病院 または clinic/診療所)")


STATUS_LABELS_JA = {s: s.label_ja for s in Status}


def status_of(required: int, covered: int, has_partner: bool | None) -> Status:
    """Classify a facility from what its partners cover (MODEL.md, compliance status)."""
    if has_partner is None and covered == 0:
        return Status.UNKNOWN
    if covered & required == required:
        return Status.ALL
    if covered & required:
        return Status.PARTIAL
    return Status.NONE if has_partner else Status.NO_PARTNER


# ``Facility.extra`` key of the filed partners' registry ids (``sources.filings``, ``store.state``).
PARTNER_IDS_KEY = "partner_ids"
# ``Facility.extra`` key of the filing year (年度) a row's ``covered``/``partner_ids`` were filed
# in (written by ``kyoryoku export``; without it an import takes the current 年度).
FILING_YEAR_KEY = "filing_year"
# The extra keys that describe the facility's filing, not the registry: the store keeps them in
# its filings (``store.imports``), never in the facility's registry extra.
FILING_KEYS = (PARTNER_IDS_KEY, FILING_YEAR_KEY)


@dataclass(frozen=True)
class Facility:
    """An elderly-care facility that must (or should) name a 協力医療機関."""

    facility_id: str
    name: str
    kind: str
    lat: float
    lon: float
    covered: int = 0
    has_partner: bool | None = None
    municipality_code: str = ""
    address: str = ""
    geocode: GeocodePrecision = GeocodePrecision.EXACT
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def info(self) -> KindInfo:
        return FACILITY_KINDS[self.kind]

    @property
    def required(self) -> int:
        return self.info.required

    @property
    def missing(self) -> int:
        return self.required & ~self.covered

    @property
    def status(self) -> Status:
        return status_of(self.required, self.covered, self.has_partner)

    @property
    def partner_ids(self) -> tuple[str, ...]:
        """Registry ids of the partners its filing names (``extra["partner_ids"]``, joined by
        ``+``): existing partnerships, never proposed as new ones (``filed_partner_pairs``)."""
        return tuple(i for i in self.extra.get(PARTNER_IDS_KEY, "").split("+") if i)


def filed_partner_pairs(facilities: Iterable[Facility]) -> frozenset[tuple[str, str]]:
    """(facility_id, institution_id) of every filed partnership: the one rule that an existing
    partner is never proposed as a new one (``match.candidate_graph`` leaves these pairs out, so
    the CLI, the reports and the store's planner all apply it)."""
    return frozenset((f.facility_id, i) for f in facilities for i in f.partner_ids)


@dataclass(frozen=True)
class Institution:
    """A hospital or clinic that offers some of ①②③ to facilities."""

    institution_id: str
    name: str
    kind: InstitutionKind
    lat: float
    lon: float
    offers: int
    capacity: int | None = None  # None: not declared, treated as unlimited
    municipality_code: str = ""
    address: str = ""
    geocode: GeocodePrecision = GeocodePrecision.EXACT
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Instance:
    """A matching problem: facilities and institutions, each sorted by id for determinism."""

    facilities: tuple[Facility, ...]
    institutions: tuple[Institution, ...]

    @classmethod
    def of(cls, facilities: Iterable[Facility], institutions: Iterable[Institution]) -> Instance:
        return cls(
            tuple(sorted(facilities, key=lambda f: f.facility_id)),
            tuple(sorted(institutions, key=lambda i: i.institution_id)),
        )
