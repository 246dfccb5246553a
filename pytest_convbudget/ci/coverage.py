"""Which measuring tests a run ran: what tells "removed" from "not run here".

A shard of a suite (pytest-split, ``-k``, a CI matrix, file lists, node ids) runs part of
the tests that measure. A baseline measurement missing from its run file is
*removed* only when the run could have measured it: its test ran; or the run
collected the test's file whole (a path, a folder, the whole suite: not a node id)
and the test was not in it; or the test's file is gone from the checkout.
Otherwise it was *not run here*, and it is neither reported as removed nor gated.
Shards' coverages join (:func:`join_coverages`) so a merged run says what one
whole run would.
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
    files: tuple[str, ...] | None = None  # test files collected whole (every test of them); None in older files
    gone: tuple[str, ...] = ()  # test files of the baseline that are not in the checkout any more

    @cached_property
    def _files(self) -> frozenset[str]:
        return frozenset(self.files or ()) | frozenset(self.gone)

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
        # its file collected whole (or gone) without it, or the whole suite collected without it: the test is gone
        return file_of(test_id) in self._files or self.collected_whole_suite

    @property
    def whole(self) -> bool:
        """The whole suite was collected and every measuring test ran: a run fit to be a baseline."""
        return self.collected_whole_suite and not self.not_run

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"collected_whole_suite": self.collected_whole_suite, "measuring": list(self.measuring),
                                "ran": list(self.ran)}
        if self.files is not None:
            data["files"] = list(self.files)
        if self.gone:
            data["gone"] = list(self.gone)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        files = tuple(data["files"]) if "files" in data else None
        return cls(bool(data["collected_whole_suite"]), tuple(data["measuring"]), tuple(data["ran"]), files,
                   tuple(data.get("gone", ())))


def file_of(test_id: str) -> str:
    """The file part of a pytest node id (``tests/test_a.py::TestX::test_y[1]`` -> ``tests/test_a.py``)."""
    return test_id.split("::", 1)[0]


def coverage_of(measuring: Sequence[str], ran: Iterable[str], collected_whole_suite: bool,
                files: Iterable[str] | None = None, gone: Iterable[str] = ()) -> Coverage:
    """``measuring`` in suite order, and which of them ran; the files collected whole, sorted."""
    done = set(ran)
    return Coverage(collected_whole_suite, tuple(measuring), tuple(t for t in measuring if t in done),
                    None if files is None else tuple(sorted(set(files))), tuple(sorted(set(gone))))


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
    # a shard that did not record its files collected none whole, as far as anyone can tell
    files = {file for coverage in known for file in coverage.files or ()}
    recorded = any(coverage.files is not None for coverage in known)
    gone = {file for coverage in known for file in coverage.gone}
    return coverage_of(list(measuring), ran, any(coverage.collected_whole_suite for coverage in known),
                       files if recorded else None, gone)
