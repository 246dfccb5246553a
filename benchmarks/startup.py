"""Measurement 6: what the installed plugin costs a test run that never uses it.

Every pytest run in an environment with pytest-convbudget installed loads
the plugin, including suites that have nothing to do with torch. We time
``pytest -q`` over a generated suite of trivial tests with the plugin
against ``-p no:convbudget``, alternated, each run in a fresh interpreter
because import cost is exactly what is being measured. A conftest in the
suite records whether torch was imported, and whether the plugin was loaded
at all, so a fast run cannot pass by accident.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from timing import Row, ms

PLUGIN = "convbudget"
RELATIVE_LIMIT = 0.02
ABSOLUTE_LIMIT_S = 0.020
PROBE_ENV = "CONVBUDGET_BENCH_PROBE"
TESTS_PER_FILE = 25

CONFTEST = f'''"""Records, after the run, whether torch was imported, the plugin loaded, and from where."""
import json
import os
import sys


def pytest_unconfigure(config):
    path = os.environ.get("{PROBE_ENV}")
    if path:
        plugin = config.pluginmanager.get_plugin("{PLUGIN}")
        package = sys.modules.get("pytest_convbudget")
        with open(path, "w") as handle:
            json.dump(
                {{
                    "torch_imported": "torch" in sys.modules,
                    "plugin_loaded": config.pluginmanager.has_plugin("{PLUGIN}"),
                    "plugin_file": getattr(plugin, "__file__", None),
                    "package_file": getattr(package, "__file__", None),
                }},
                handle,
            )
'''


@dataclass(frozen=True)
class Run:
    """One pytest run: its wall time and what the conftest saw."""

    seconds: float
    torch_imported: bool
    plugin_loaded: bool
    plugin_file: str | None = None  # where the loaded plugin module came from
    package_file: str | None = None  # and the pytest_convbudget package


def write_suite(folder: Path, tests: int) -> None:
    """``tests`` trivial tests over a few files, an empty ini so that this
    folder is the rootdir (the repo's own pytest settings must not apply),
    and the probing conftest."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "conftest.py").write_text(CONFTEST)
    for first in range(0, tests, TESTS_PER_FILE):
        body = "".join(
            f"def test_{number}():\n    assert {number} + 1 == {number + 1}\n\n\n"
            for number in range(first, min(first + TESTS_PER_FILE, tests))
        )
        (folder / f"test_trivial_{first // TESTS_PER_FILE}.py").write_text(body)


def clean_environment(probe: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus pytest's own variables.

    When this script runs inside a test (possibly an xdist worker), the
    child pytest would otherwise inherit ``PYTEST_ADDOPTS``, ``PYTEST_XDIST_*``
    or ``PYTEST_PLUGINS`` and measure something else. ``extra`` is added on
    top (``before_after.py`` points ``PYTHONPATH`` at one copy of the package).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.update(extra or {})
    env[PROBE_ENV] = str(probe)
    return env


def run_pytest(folder: Path, with_plugin: bool, extra_env: Mapping[str, str] | None = None) -> Run:
    """One ``python -m pytest -q -p no:cacheprovider`` over the suite, timed from outside."""
    probe = folder / "probe.json"
    if probe.exists():
        probe.unlink()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not with_plugin:
        command += ["-p", f"no:{PLUGIN}"]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, env=clean_environment(probe, extra_env), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"the generated suite failed (exit {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    seen = json.loads(probe.read_text())
    return Run(seconds, seen["torch_imported"], seen["plugin_loaded"], seen.get("plugin_file"), seen.get("package_file"))


def startup_row(tests: int, runs: int) -> Row:
    """Plugin loaded against ``-p no:convbudget``: medians of ``runs`` each, alternated."""
    with tempfile.TemporaryDirectory(prefix="convbudget-startup-") as name:
        folder = Path(name)
        write_suite(folder, tests)
        run_pytest(folder, True)  # warm the page cache and .pyc files for both sides
        run_pytest(folder, False)
        loaded: list[Run] = []
        disabled: list[Run] = []
        for _ in range(runs):
            loaded.append(run_pytest(folder, True))
            disabled.append(run_pytest(folder, False))
    a = statistics.median(run.seconds for run in loaded)
    b = statistics.median(run.seconds for run in disabled)
    torch_imported = any(run.torch_imported for run in loaded)
    plugin_loaded = all(run.plugin_loaded for run in loaded) and not any(run.plugin_loaded for run in disabled)
    within = a - b <= max(RELATIVE_LIMIT * b, ABSOLUTE_LIMIT_S)
    ratio = a / b
    notes = [f"{(a - b) * 1000:+.1f} ms", "torch imported!" if torch_imported else "torch never imported"]
    if not plugin_loaded:
        notes.append("PLUGIN NOT LOADED as expected")
    return Row(
        name=f"startup/{tests}_tests",
        group="startup",
        a_label="pytest (plugin)",
        a=ms(a),
        b_label="-p no:convbudget",
        b=ms(b),
        unit="ms",
        figure=round(ratio, 4),
        figure_text=f"{ratio:.3f}x",
        target="<= 1.02x or +20 ms, no torch",
        passed=within and not torch_imported and plugin_loaded,
        samples=runs,
        note=", ".join(notes),
        extra={
            "difference_ms": ms(a - b),
            "torch_imported": torch_imported,
            "plugin_loaded": plugin_loaded,
            "plugin_runs_ms": [ms(run.seconds) for run in loaded],
            "disabled_runs_ms": [ms(run.seconds) for run in disabled],
        },
    )
