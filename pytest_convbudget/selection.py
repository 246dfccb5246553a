"""Did this run collect the whole suite? A baseline may only be replaced by a run that did.

A run narrows the suite in two ways: by naming less than the configured
test paths on the command line (files, folders or node ids below them), or
by deselecting collected tests (``-k``, ``-m``, ``--deselect``, ``--lf``,
``--sw``, or any plugin calling ``pytest_deselected``). Either makes a
baseline that silently lacks the tests left out.
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any, Sequence

import pytest

DESELECT_SOURCES = "-k, -m, --deselect, --lf, --sw or a plugin"


def configured_roots(config: pytest.Config) -> list[Path]:
    """What a bare ``pytest`` in the rootdir runs: ``testpaths`` (globs allowed), else the rootdir."""
    roots: list[Path] = []
    for pattern in config.getini("testpaths") or []:
        found = glob.glob(str(config.rootpath / pattern), recursive=True) if glob.has_magic(pattern) else [
            str(config.rootpath / pattern)
        ]
        roots += [Path(path).resolve() for path in found]
    return roots or [config.rootpath.resolve()]


def narrowing_args(config: pytest.Config) -> list[str]:
    """The command-line arguments that select less than the configured suite ([] when it is all there)."""
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS or config.getoption("pyargs", False):
        return []
    ids = [arg for arg in config.args if "::" in arg]
    paths = [(config.invocation_params.dir / arg).resolve() for arg in config.args if "::" not in arg]
    roots = configured_roots(config)
    uncovered = [root for root in roots if not any(path == root or path in root.parents for path in paths)]
    if not ids and not uncovered:
        return []
    return ids + [arg for arg in config.args if "::" not in arg]


def last_failed_only(config: pytest.Config) -> bool:
    """``--lf`` with failures on record runs only those (and skips whole files without deselecting them)."""
    if not config.getoption("lf", False):
        return False
    plugin: Any = config.pluginmanager.get_plugin("lfplugin")
    return bool(getattr(plugin, "lastfailed", None))


def narrowed_reason(config: pytest.Config, deselected: Sequence[str], last_failed: bool) -> str | None:
    """Why this run covered only part of the suite, in a few words; None when it covered it all."""
    args = narrowing_args(config)
    if args:
        shown = ", ".join(args[:3]) + (f" and {len(args) - 3} more" if len(args) > 3 else "")
        return f"the command line ran only part of the suite ({shown})"
    if last_failed:
        return "--lf ran only the tests that failed last time"
    if deselected:
        return f"{len(deselected)} collected test(s) were deselected ({DESELECT_SOURCES})"
    return None
