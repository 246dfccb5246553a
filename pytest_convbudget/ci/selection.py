"""Did this run collect the whole suite? A baseline may only be replaced by a run that did.

A run narrows the suite in two ways: by naming less than the configured
test paths on the command line (node ids, files, or folders below them), or
by deselecting collected tests (``-k``, ``-m``, ``--deselect``, ``--lf``,
``--sw``, or any plugin calling ``pytest_deselected``). Either makes a
baseline that silently lacks the tests left out.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import pytest


@dataclass(frozen=True)
class Narrowing:
    """How a run covered only part of the suite: the command-line arguments that narrowed it,
    ``--lf`` with failures on record, or how many collected tests were deselected."""

    args: tuple[str, ...] = ()
    last_failed: bool = False
    deselected: int = 0


def configured_roots(config: pytest.Config) -> list[Path]:
    """The ``testpaths`` entries (globs expanded), relative to the rootdir as pytest reads them."""
    roots: list[Path] = []
    for pattern in config.getini("testpaths") or []:
        found = glob.glob(str(config.rootpath / pattern), recursive=True) if glob.has_magic(pattern) else [
            str(config.rootpath / pattern)
        ]
        roots += [Path(path).resolve() for path in found]
    return roots


def narrowing_args(config: pytest.Config) -> list[str]:
    """The command-line arguments that select less than the configured suite ([] when it is all there).

    Node ids always do. With ``testpaths`` set, the paths given must cover
    every entry. Without it pytest has no notion of "the suite", so a folder
    counts as one (``pytest tests``) and only a file narrows the run.
    """
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS or config.getoption("pyargs", False):
        return []
    base = config.invocation_params.dir
    ids = [arg for arg in config.args if "::" in arg]
    paths = {arg: (base / arg).resolve() for arg in config.args if "::" not in arg}
    roots = configured_roots(config)
    if roots:
        narrowed = any(not any(p == root or p in root.parents for p in paths.values()) for root in roots)
    else:
        narrowed = any(not path.is_dir() for path in paths.values())
    return ids + (list(paths) if narrowed else [])


def whole_files(config: pytest.Config, test_ids: Iterable[str], failed_collectors: Iterable[str] = ()) -> list[str]:
    """The test files this run collected whole: every file a collected (or deselected) test came from,
    except those the command line named by node id (``tests/test_a.py::test_x`` collects only that
    test) and those that failed to collect. A baseline test of such a file that the run did not
    collect is gone from it."""
    partial = set(failed_collectors)
    for arg in config.args:
        if "::" in arg:
            path = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
            try:
                partial.add(path.relative_to(config.rootpath).as_posix())
            except ValueError:  # outside the rootdir: its node ids are not written relative to it
                partial.add(arg.split("::", 1)[0])
    return sorted({test_id.split("::", 1)[0] for test_id in test_ids} - partial)


def last_failed_only(config: pytest.Config) -> bool:
    """``--lf`` with failures on record runs only those (and skips whole files without deselecting them)."""
    if not config.getoption("lf", False):
        return False
    plugin: Any = config.pluginmanager.get_plugin("lfplugin")
    return bool(getattr(plugin, "lastfailed", None))


def narrowing(config: pytest.Config, deselected: Sequence[str], last_failed: bool) -> Narrowing | None:
    """Why this run covered only part of the suite; None when it covered it all."""
    args = narrowing_args(config)
    if args:
        return Narrowing(args=tuple(args))
    if last_failed:
        return Narrowing(last_failed=True)
    if deselected:
        return Narrowing(deselected=len(deselected))
    return None
