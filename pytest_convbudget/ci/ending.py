"""How the session that wrote a run file ended: what keeps an incomplete run from looking green.

A run that was interrupted (Ctrl-C, a cancelled CI job's SIGTERM), lost a test to a crashed
xdist worker, failed to collect a file, or stopped at ``-x``/``--maxfail`` measured less than
its suite: a report of it reading "no change" would be a lie, and a baseline saved from it
would silently drop measurements. The run file keeps one :class:`Ending` per session that
made it (a merged run, one per shard), and every output leads with the incomplete ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..words.vocabulary import COMPLETE


@dataclass(frozen=True)
class Ending:
    """How one pytest session ended, and how far it got through its measuring tests."""

    state: str = COMPLETE  # one of words.vocabulary.ENDINGS
    measuring: int = 0  # measuring tests the session set out to run (collected, not deselected)
    ran: int = 0  # of those, the ones that ran
    lost: tuple[str, ...] = ()  # tests whose xdist worker crashed under them: their measurements never arrived
    detail: str = ""  # the signal, pytest's reason to stop, the files that failed to collect
    source: str = ""  # the shard's run file it came from, in a merged run

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    def from_shard(self, source: str) -> Ending:
        """The same ending, named by the shard file that carried it (a shard's own name is kept)."""
        return self if self.source else Ending(self.state, self.measuring, self.ran, self.lost, self.detail, source)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "measuring": self.measuring, "ran": self.ran, "lost": list(self.lost),
                "detail": self.detail, "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Ending:
        return cls(data["state"], data["measuring"], data["ran"], tuple(data.get("lost", ())),
                   data.get("detail", ""), data.get("source", ""))


def incomplete(endings: Iterable[Ending]) -> tuple[Ending, ...]:
    """The endings that were not complete, in order."""
    return tuple(ending for ending in endings if not ending.complete)


def join_endings(shards: Sequence[tuple[str, Sequence[Ending]]], ran: int | None) -> tuple[Ending, ...]:
    """Shards' endings, as one whole run's: complete shards are one complete ending, as one run that
    ran them all would have written (``ran``: the measuring tests any shard ran, when the shards
    recorded them); an incomplete shard keeps its own, named by its file."""
    endings = [(label, ending) for label, found in shards for ending in found]
    if not endings:
        return ()
    if all(ending.complete for _, ending in endings):
        ran_total = sum(ending.ran for _, ending in endings) if ran is None else ran
        not_ran = sum(ending.measuring - ending.ran for _, ending in endings)  # skipped before their call
        return (Ending(COMPLETE, ran_total + not_ran, ran_total),)
    return tuple(ending.from_shard(label) for label, ending in endings)
