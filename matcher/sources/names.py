"""Normalising institution names and addresses: the core's ``matcher.names`` (sites and
corporations use the same keys), re-exported for the importers."""

from __future__ import annotations

from ..names import (
    CORPORATE_PREFIXES,
    KYUJITAI,
    nfkc,
    normalize_address,
    normalize_name,
)

__all__ = ["CORPORATE_PREFIXES", "KYUJITAI", "nfkc", "normalize_address", "normalize_name"]
