"""The vocabulary is the one definition: static ``Literal`` types kept for callers agree with it."""

from __future__ import annotations

from typing import get_args

from matcher import vocab
from matcher.params import MODES, Mode
from matcher.sources.importing import SOURCES, Source
from matcher.store.workflow import TRANSITIONS, ProposalStatus


def test_literal_types_list_the_vocabulary_codes() -> None:
    assert get_args(Mode) == vocab.Mode.codes() == MODES
    assert get_args(Source) == vocab.Source.codes() == SOURCES
    assert get_args(ProposalStatus) == vocab.ProposalStatus.codes()


def test_proposal_transitions_are_the_vocabulary_s() -> None:
    assert set(TRANSITIONS) == set(vocab.ProposalStatus.codes())
    # Decided proposals are final: a pair comes back only as a new proposal of a later run.
    for final in ("agreed", "declined", "withdrawn"):
        assert TRANSITIONS[final] == frozenset()
    assert "proposed" not in TRANSITIONS["contacted"]


def test_every_labelled_code_has_a_japanese_label() -> None:
    for enum_type, labels in vocab.LABELS_JA.items():
        assert set(labels) == set(enum_type), enum_type.__name__
        assert all(label.strip() for label in labels.values())
