"""Which measuring tests a run ran: what tells "removed" from "not run here".

A shard of a suite (pytest-split, ``-k``, a CI matrix, node ids) runs part of
the tests that measure. A baseline measurement missing from its run file is
*removed* only when the run could have measured it: its test ran, or the run
collected the whole suite and the test is gone. Otherwise it was *not run
here*, and it is neither reported as removed nor gated. Shards' coverages join
(:func:`join_coverages`) so a merged run says what one whole run would.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Mapping, Sequence


@dataclass(frozen=True)
class Coverage:
    """The measuring tests (those using ``conv_cost`` or a budget marker) a run knew of, and which ran."""

    collected_whole_suite: bool  # False when paths, node ids or --lf kept part of the suite from collection
    measuring: tuple[str, ...] = ()  # every measuring test collected, deselected ones included, in suite order
    ran: tuple[str, ...] = ()  # those that ran, in suite order

    @cached_property
    def _ran(self) -> frozenset[str]:
        return frozenset(self.ran)

    @cached_property
    def _measuring(self) -> frozenset[str]:
        return frozenset(self.measuring)

    @property
    def not_run(self) -> tuple[str, ...]:
        """Deselected, skipped before running, or left when the run stopped."""
        return tuple(test_id for test_id in self.measuring if test_id not in self._ran)

    def could_measure(self, test_id: str) -> bool:
        """Whether a baseline measurement of ``test_id`` missing from this run was removed (else: not run here)."""
        if test_id in self._ran:
            return True
        if test_id in self._measuring:
            return False
        return self.collected_whole_suite  # collected whole and not there: the test is gone

    @property
    def whole(self) -> bool:
        """The whole suite was collected and every measuring test ran: a run fit to be a baseline."""
        return self.collected_whole_suite and not self.not_run

    def to_dict(self) -> dict[str, Any]:
        return {"collected_whole_suite": self.collected_whole_suite, "measuring": list(self.measuring),
                "ran": list(self.ran)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        return cls(bool(data["collected_whole_suite"]), tuple(data["measuring"]), tuple(data["ran"]))


def coverage_of(measuring: Sequence[str], ran: Iterable[str], collected_whole_suite: bool) -> Coverage:
    """``measuring`` in suite order, and which of them ran."""
    done = set(ran)
    return Coverage(collected_whole_suite, tuple(measuring), tuple(t for t in measuring if t in done))


def join_coverages(coverages: Sequence[Coverage | None]) -> Coverage | None:
    """Shards joined: a test ran if any shard ran it; the suite was collected whole if any shard collected it
    whole; the order is the first shard's, then what later ones add. A shard without a coverage (a file of
    0.2) ran everything it holds, so the join is unknown: None."""
    known = [coverage for coverage in coverages if coverage is not None]
    if len(known) < len(coverages):
        return None
    measuring: dict[str, None] = {}
    for coverage in known:
        measuring.update(dict.fromkeys(coverage.measuring))
    ran = {test_id for coverage in known for test_id in coverage.ran}
    return coverage_of(list(measuring), ran, any(coverage.collected_whole_suite for coverage in known))
