"""The vocabulary is the one definition: its terms, their wordings and the rules that read them.

Elsewhere only static ``Literal`` types mirror its codes (for the type checker) and code views are
read from it; that nothing else re-declares a label is checked by tests/test_vocabulary_single.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import get_args

import pandas as pd

from matcher import vocab
from matcher.model import status_of
from matcher.params import MODES, Mode
from matcher.sources.importing import SOURCES, Source
from matcher.store.proposal_commands import TRANSITIONS, ProposalStatus
from matcher.vocab import (
    CAPABILITIES,
    DEADLINE,
    DEADLINE_JA,
    NO_FILING_JA,
    PROPOSAL_TRANSITIONS,
    SEED_CATEGORIES,
    UNNAMED_PARTNERS_JA,
    Status,
    days_left,
)

DATA = Path(__file__).resolve().parents[2] / "data"


def test_literal_types_mirror_the_vocabulary_codes() -> None:
    # A Literal cannot be computed from an enum for mypy: it mirrors the codes, in their order.
    assert get_args(Mode) == vocab.Mode.codes()
    assert get_args(Source) == vocab.Source.codes()
    assert get_args(ProposalStatus) == vocab.ProposalStatus.codes()
    # The code tuples are read from the vocabulary, not written again.
    assert MODES == vocab.Mode.codes() and SOURCES == vocab.Source.codes()


def test_proposal_transitions() -> None:
    assert set(PROPOSAL_TRANSITIONS) == set(vocab.ProposalStatus)
    # Decided proposals are final: a pair comes back only as a new proposal of a later run.
    for final in ("agreed", "declined", "withdrawn"):
        assert PROPOSAL_TRANSITIONS[vocab.ProposalStatus(final)] == frozenset()
    assert vocab.ProposalStatus.PROPOSED not in PROPOSAL_TRANSITIONS[vocab.ProposalStatus.CONTACTED]
    # The proposal commands' table is the same rule keyed by plain codes.
    assert TRANSITIONS == {
        k.value: frozenset(v.value for v in allowed) for k, allowed in PROPOSAL_TRANSITIONS.items()
    }


def test_every_labelled_code_has_a_japanese_label() -> None:
    for enum_type, labels in vocab.LABELS_JA.items():
        assert set(labels) == set(enum_type), enum_type.__name__
        assert all(label.strip() for label in labels.values())
    assert len(set(vocab.LABELS_JA[Status].values())) == len(Status)


def test_status_wordings() -> None:
    # ①②③ and ④ are the seed table's numbers; no_partner has none and is なし in narrow tables.
    assert [s.mark for s in Status] == ["①", "②", "③", "", "④"]
    assert [s.short_ja for s in Status] == ["①", "②", "③", "なし", "④"]
    for s in Status:
        assert s.heading_ja == s.mark + s.label_ja
    assert Status.UNKNOWN.label_ja.startswith(NO_FILING_JA)
    assert [c.mark for c in CAPABILITIES] == ["①", "②", "③"]


def test_no_filing_is_said_only_of_a_facility_without_a_filing() -> None:
    assert set(UNNAMED_PARTNERS_JA) == set(Status)
    for s, text in UNNAMED_PARTNERS_JA.items():
        assert (NO_FILING_JA in text) == (s is Status.UNKNOWN), s
        assert (NO_FILING_JA in s.label_ja) == (s is Status.UNKNOWN), s
    # has_partner false (filed 「協力医療機関なし」) is no_partner, never unknown.
    assert status_of(7, 0, False) is Status.NO_PARTNER
    assert status_of(7, 0, None) is Status.UNKNOWN


def test_seed_categories_are_the_reference_table_s_columns() -> None:
    stored = pd.read_csv(DATA / "reference" / "status_r7.csv", encoding="utf-8-sig", nrows=1)
    shares = [c for c in stored.columns if c.startswith("share_")]
    assert shares == [c.share for c in SEED_CATEGORIES]
    assert [c.status for c in SEED_CATEGORIES] == [
        Status.ALL,
        Status.PARTIAL,
        Status.NONE,
        Status.UNKNOWN,
    ]
    assert [c.label_ja[0] for c in SEED_CATEGORIES] == ["①", "②", "③", "④"]


def test_deadline_and_countdown() -> None:
    assert DEADLINE == dt.date(2027, 3, 31) and DEADLINE_JA == "2027年3月31日"
    assert days_left(dt.date(2027, 3, 31)) == 0
    assert days_left(dt.date(2026, 4, 1)) == 364
    assert days_left(dt.date(2027, 4, 1)) == -1
