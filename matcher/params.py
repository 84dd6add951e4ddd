"""Run parameters of a matching: range per capability, partner limit, distance options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

from . import vocab
from .model import CAPABILITIES, CAPABILITY_CODES, Capability, normalize_text

Mode = Literal["optimal", "greedy", "stable"]
RoundStrategy = Literal["none", "reserve", "backups", "reserve+backups", "hold", "reserve+hold"]
# The codes of ``vocab.Mode``; ``Mode`` above is their static type for the solvers' callers.
MODES: tuple[Mode, ...] = cast(tuple[Mode, ...], vocab.Mode.codes())
ROUND_STRATEGIES = cast(tuple[RoundStrategy, ...], vocab.RoundStrategy.codes())

DEFAULT_MAX_KM = {Capability.CONSULT: 30.0, Capability.CARE: 16.0, Capability.ADMIT: 30.0}


@dataclass(frozen=True)
class MatchParams:
    """Everything a run depends on besides its data (recorded in ``summary.json``)."""

    max_km: dict[Capability, float] = field(default_factory=lambda: dict(DEFAULT_MAX_KM))
    max_new_partners: int = 2
    road_factor: float = 1.0
    time_limit: float | None = None
    include_unknown: bool = True
    alternatives: int = 5
    # Share of the distance to a 第二種協定指定医療機関 the solvers do not see (0 = off; see
    # ``matcher.infection``): a preference, never a change of range, coverage or reported km.
    prefer_infection_agreement: float = 0.0
    # Registrations of one building (``matcher.sites``) planned as one facility unless True.
    count_site_registrations: bool = False
    # Among otherwise equal proposals, fewest partnerships across corporations before least km
    # (``matcher.corporation``).
    prefer_same_corporation: bool = False
    # How the store sends the run's round of requests (``matcher.store.round_strategy``); the
    # solvers do not read it.
    round_strategy: RoundStrategy = "none"

    def __post_init__(self) -> None:
        if self.max_new_partners < 1:
            raise ValueError(
                f"max_new_partners は 1 以上で指定してください (値: {self.max_new_partners})"
            )
        if self.road_factor <= 0:
            raise ValueError(f"road_factor は正の数で指定してください (値: {self.road_factor})")
        for cap in CAPABILITIES:
            km = self.max_km.get(cap)
            if km is None or not km >= 0:
                raise ValueError(f"{cap.code} の最大距離が不正です (値: {km})")
        if self.time_limit is not None and self.time_limit <= 0:
            raise ValueError(f"time_limit は正の秒数で指定してください (値: {self.time_limit})")
        if not 0.0 <= self.prefer_infection_agreement < 1.0:
            raise ValueError(
                "prefer_infection_agreement は 0 以上 1 未満で指定してください "
                f"(値: {self.prefer_infection_agreement})"
            )
        if self.round_strategy not in ROUND_STRATEGIES:
            raise ValueError(
                f"round_strategy「{self.round_strategy}」は不明です "
                f"(使えるのは {', '.join(ROUND_STRATEGIES)})"
            )

    def uses(self, measure: str) -> bool:
        """Whether ``round_strategy`` includes ``measure`` (``reserve``, ``backups``, ``hold``):
        the one reading of a strategy (``store.round_strategy``, ``store.holds``)."""
        return measure in self.round_strategy.split("+")

    @property
    def max_range_km(self) -> float:
        return max(self.max_km.values())

    def reach(self, km: float) -> int:
        """The capabilities (mask) whose range a pair ``km`` apart meets: the candidate rule
        ``candidates._covers_by_km`` applies to whole arrays, with the same tolerance."""
        return sum(int(c) for c, limit in self.max_km.items() if limit + 1e-9 >= km)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "max_km": {CAPABILITY_CODES[c]: self.max_km[c] for c in CAPABILITIES},
            "max_new_partners": self.max_new_partners,
            "road_factor": self.road_factor,
            "time_limit": self.time_limit,
            "include_unknown": self.include_unknown,
        }
        if self.prefer_infection_agreement:  # only when set: default runs record what they did
            out["prefer_infection_agreement"] = self.prefer_infection_agreement
        if self.count_site_registrations:
            out["count_site_registrations"] = True
        if self.prefer_same_corporation:
            out["prefer_same_corporation"] = True
        if self.round_strategy != "none":
            out["round_strategy"] = self.round_strategy
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> MatchParams:
        """The parameters ``to_dict`` wrote (keys it does not know, like a store's extras, are
        ignored)."""
        by_code = {CAPABILITY_CODES[c]: c for c in CAPABILITIES}
        max_km = dict(DEFAULT_MAX_KM)
        given = data.get("max_km") or {}
        if not isinstance(given, dict):
            raise ValueError(f"max_km が不正です (値: {given!r})")
        for code, km in given.items():
            if code not in by_code:
                raise ValueError(
                    f"max_km の要件「{code}」が不明です (使えるのは {', '.join(by_code)})"
                )
            max_km[by_code[code]] = float(km)
        limit = data.get("time_limit")
        d = cls()  # what is not written keeps its default (declared once, on the fields)
        return cls(
            max_km=max_km,
            max_new_partners=int(data.get("max_new_partners", d.max_new_partners)),  # type: ignore[call-overload]
            road_factor=float(data.get("road_factor", d.road_factor)),  # type: ignore[arg-type]
            time_limit=None if limit is None else float(limit),  # type: ignore[arg-type]
            include_unknown=bool(data.get("include_unknown", d.include_unknown)),
            prefer_infection_agreement=float(
                data.get("prefer_infection_agreement", d.prefer_infection_agreement)  # type: ignore[arg-type]
            ),
            count_site_registrations=bool(
                data.get("count_site_registrations", d.count_site_registrations)
            ),
            prefer_same_corporation=bool(
                data.get("prefer_same_corporation", d.prefer_same_corporation)
            ),
            round_strategy=cast(RoundStrategy, str(data.get("round_strategy", d.round_strategy))),
        )


def format_max_km(max_km: dict[Capability, float]) -> str:
    """The text ``parse_max_km`` reads back, e.g. ``consult=30,care=16,admit=30``."""
    return ",".join(f"{CAPABILITY_CODES[c]}={max_km[c]:g}" for c in CAPABILITIES)


def parse_max_km(text: str) -> dict[Capability, float]:
    """Parse ``consult=30,care=16,admit=30`` (missing keys keep their defaults)."""
    result = dict(DEFAULT_MAX_KM)
    by_code = {CAPABILITY_CODES[c]: c for c in CAPABILITIES}
    for part in normalize_text(text).split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in by_code:
            raise ValueError(
                f"--max-km の指定「{part}」が不正です (例: consult=30,care=16,admit=30)"
            )
        try:
            km = float(value)
        except ValueError:
            raise ValueError(f"--max-km の「{key}」の距離「{value}」が数値ではありません") from None
        if km < 0:
            raise ValueError(f"--max-km の「{key}」の距離は 0 以上にしてください (値: {km})")
        result[by_code[key]] = km
    return result
