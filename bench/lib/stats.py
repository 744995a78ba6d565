"""The one percentile every bench reports: the value at rank ⌊q·n⌋ of the sorted sample."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float, empty: float = float("nan")) -> float:
    """`empty` when there is no value at all."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else empty
