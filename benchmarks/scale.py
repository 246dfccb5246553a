"""Thousands of measurements: how fast ``diff`` and ``merge`` read them, how big the run files and
the page are, how long the page takes to be usable in headless Chromium, and what the plugin
holds and costs per measurement in a real pytest session.

    python benchmarks/scale.py                     # 5,000 measurements: ~10 minutes on 2 cores
    python benchmarks/scale.py --measurements 500  # the same at 500
    python benchmarks/scale.py --quick             # 200 measurements, one repeat: shows the script works

Everything it reads it writes itself, into ``--out`` (default ``benchmarks/results/scale/``):

* ``costs.json``: real profiles (on meta) of the example models at a few input sizes, counted with
  ``count="conv"`` and ``count="all"``: 20 to 200 counted layers each, with memory figures;
* ``base.json`` and ``head.json``: a baseline of N measurements of those shapes (test ids spread over
  test files, limits from markers and patterns, a third budgeting activations) and a head run with
  a few percent changed (one model widened in every test that measures it, and single tests
  measured with another input size), added, removed and over budget; ``shard-*.json``: the head run
  as four shards of a CI matrix, each with its coverage;
* ``suite/``: a pytest project of N tests, each measuring once (see :func:`write_suite`).

Each command is timed in a fresh interpreter, with its peak RSS read from ``wait4``; the plugin's
rows run the generated suite with and without the plugin, alternated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO_ROOT))  # after PYTHONPATH: another tree of the package may be measured

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "scale"
FORMATS = ("text", "markdown", "json", "html")
SHARDS = 4
# The model shapes: (model, input shape, count): the example models at a few input sizes, and a
# 40-block ViT (202 counted calls with count="all").
DEEP_VIT = "VisionTransformer(image=64, patch=8, layers=40, hidden=192, heads=3, mlp=768)"
SHAPES = (
    ("resnet18()", (1, 3, 160, 160), "conv"), ("resnet18()", (1, 3, 224, 224), "conv"),
    ("resnet18()", (8, 3, 224, 224), "conv"), ("resnet50()", (1, 3, 224, 224), "conv"),
    ("resnet50()", (1, 3, 256, 256), "conv"), ("resnet50()", (1, 3, 224, 224), "all"),
    ("mobilenet_v2()", (1, 3, 160, 160), "conv"), ("mobilenet_v2()", (1, 3, 224, 224), "conv"),
    ("mobilenet_v2()", (1, 3, 224, 224), "all"), ("unet3d()", (1, 1, 32, 32, 32), "conv"),
    ("unet3d(base=16)", (1, 1, 64, 64, 64), "all"), ("vit_tiny()", (4, 3, 32, 32), "all"),
    ("vit_b_16()", (1, 3, 224, 224), "all"), (DEEP_VIT, (1, 3, 64, 64), "all"),
    (DEEP_VIT, (2, 3, 64, 64), "all"),
)
QUICK_SHAPES = SHAPES[:2] + SHAPES[11:13]  # 20 to 62 layers
TARGETS = {"seconds": 2.0, "peak_mib": 200, "run_file_mib": 15, "page_mib": 5, "page_s": 2.0,
           "plugin_kib": 20, "plugin_ratio": 1.1}


# -- the measurements -------------------------------------------------------------------------


def profile_shapes(shapes: tuple[tuple[str, tuple[int, ...], str], ...]) -> list[dict[str, Any]]:
    """Each shape profiled on meta: its cost as the run file stores it."""
    import torch

    sys.path.insert(0, str(REPO_ROOT / "examples"))
    import models

    from pytest_convbudget import profile

    costs = []
    for model, shape, count in shapes:
        cost = profile(eval(model, vars(models)), torch.randn(*shape, device="meta"), device="meta", count=count)
        costs.append(cost.to_dict())
    return costs


def widened(cost: Any, factor_num: int = 5, factor_den: int = 4) -> Any:
    """The same model with its second half of layers 25% costlier: what a pull request that
    widens a model does to every test measuring it."""
    half = len(cost.layers) // 2
    layers = tuple(
        layer if index < half else dataclasses.replace(
            layer, **{f: getattr(layer, f) * factor_num // factor_den
                      for f in ("params", "flops", "macs", "total_flops", "total_macs")})
        for index, layer in enumerate(cost.layers)
    )
    sums = {f: sum(getattr(layer, f) for layer in layers) for f in ("params", "flops", "macs", "total_flops",
                                                                     "total_macs")}
    return dataclasses.replace(cost, layers=layers, **sums,
                               model_params=cost.model_params + sums["params"] - cost.params)


def make_runs(costs: list[dict[str, Any]], count: int, seed: int = 25) -> tuple[Any, Any]:
    """A baseline of ``count`` measurements and its head run (see the module's docstring)."""
    from pytest_convbudget.budgets.measurement import Measurement
    from pytest_convbudget.budgets.pyproject import Limit
    from pytest_convbudget.ci.coverage import coverage_of
    from pytest_convbudget.ci.runfile import RunEntry, RunFile
    from pytest_convbudget.engine.results import ConvCost

    rng = random.Random(seed)
    shapes = [ConvCost.from_dict(cost) for cost in costs]
    environment = {"device": "auto", "python": platform.python_version(), "torch": "2", "pytest_convbudget": "0"}

    def entry(test_id: str, shape: int, cost: Any = None, tight: bool = False) -> Any:
        cost = cost or shapes[shape]
        limits = [Limit("flops", cost.flops * 13 // 10, "pattern tests/test_models_*"),
                  Limit("params", cost.params * 12 // 10 + 1, "marker")]
        if shape % 3 == 0:
            limits.append(Limit("activations", (cost.activation_bytes or 0) * 3 // 2, "marker"))
        if tight:
            limits[0] = Limit("flops", cost.flops * 9 // 10, "marker")
        return RunEntry(Measurement(test_id, cost.model, 0, cost, "sample", tuple(limits)), "passed")

    plan = []
    for index in range(count):
        shape = rng.randrange(len(shapes))
        plan.append((f"tests/test_models_{index % 40:02d}.py::test_{index // 40:04d}[{shape}]", shape))
    base = [entry(test_id, shape) for test_id, shape in plan]

    grown = rng.randrange(len(shapes))  # one model widened: every test of it changes
    changed = {grown: widened(shapes[grown])}
    head = []
    for test_id, shape in plan:
        roll = rng.random()
        if roll < 0.02:
            continue  # removed
        if roll < 0.03:  # measured with another input size: a new cost, its layers unchanged in name
            other = next(s for s in range(len(shapes)) if s != shape and shapes[s].model == shapes[shape].model
                         ) if sum(c.model == shapes[shape].model for c in shapes) > 1 else shape
            head.append(entry(test_id, other))
            continue
        head.append(entry(test_id, shape, changed.get(shape), tight=roll > 0.99))
    for index in range(count // 50):  # added
        shape = rng.randrange(len(shapes))
        head.append(entry(f"tests/test_new_models.py::test_new_{index:04d}[{shape}]", shape))

    def run(entries: list[Any]) -> Any:
        ids = [e.measurement.test_id for e in entries]
        return RunFile(tuple(entries), environment, coverage_of(ids, ids, True))

    return run(base), run(head)


def shards_of(run: Any, count: int) -> list[Any]:
    """The run as ``count`` shards of a CI matrix: each ran every count-th test and knows the rest."""
    from pytest_convbudget.ci.coverage import coverage_of
    from pytest_convbudget.ci.runfile import RunFile

    ids = [entry.measurement.test_id for entry in run.entries]
    return [RunFile(run.entries[index::count], run.environment, coverage_of(ids, ids[index::count], True))
            for index in range(count)]


# -- timing a command -------------------------------------------------------------------------


TIME = "/usr/bin/time"  # GNU time: reads the peak of a child it forked itself (see timed)


def timed(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One command in a fresh process: wall seconds, CPU seconds, peak RSS (MiB), exit status and output.

    The peak is read by GNU time where it exists: a child forked from this script starts with this
    script's resident set counted in its peak (Linux keeps the high-water mark across exec), and
    this script holds both runs in memory; time's own child starts small. Without it, the peak
    from ``wait4`` is an upper bound."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".time") as usage_file:
        wrapped = [TIME, "-f", "%M %U %S", "-o", usage_file.name, *args] if os.path.exists(TIME) else args
        start = time.perf_counter()
        process = subprocess.Popen(wrapped, cwd=cwd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        output, problem = out.read(), err.read().decode("utf-8", "replace")
        peak_kib, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        if wrapped is not args:
            fields = usage_file.read().split()[-3:]  # after any "Command exited with non-zero status" line
            peak_kib, cpu_s = int(fields[0]), float(fields[1]) + float(fields[2])
    return {"seconds": seconds, "cpu_s": cpu_s, "peak_mib": peak_kib / 1024,
            "rc": process.returncode, "output_bytes": len(output), "stderr": problem[-2000:], "output": output}


def best_of(repeats: int, args: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The median time of ``repeats`` runs, and the largest peak."""
    runs = [timed(args, cwd, env) for _ in range(repeats)]
    first = runs[0]
    return {**first, "seconds": statistics.median(r["seconds"] for r in runs),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "peak_mib": max(r["peak_mib"] for r in runs), "samples": [round(r["seconds"], 3) for r in runs]}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest_convbudget", *args]


# -- the page in a browser --------------------------------------------------------------------

PAGE_READY = """
var done = arguments[arguments.length - 1];
function ready() {
  var t = performance.getEntriesByType("navigation")[0];
  var marks = performance.getEntriesByName("cb-ready");
  done({load: t ? t.loadEventEnd : null, ready: marks.length ? marks[0].startTime : null,
        rows: document.querySelectorAll("#cb-summary tbody tr").length});
}
if (document.readyState === "complete") ready(); else window.addEventListener("load", ready);
"""


def page_in_browser(page: Path, repeats: int) -> dict[str, Any] | None:
    """Milliseconds from navigation to the load event in headless Chromium (the page is usable then:
    its script has drawn what is shown on load), median of ``repeats`` fresh loads; None without one."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        return None
    import shutil

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver_path:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_script_timeout(300)
        driver.set_page_load_timeout(300)
        loads = []
        for _ in range(repeats):
            driver.get("about:blank")
            driver.get(page.resolve().as_uri())
            loads.append(driver.execute_async_script(PAGE_READY))
        return {"seconds": statistics.median(load["load"] for load in loads) / 1000,
                "samples": [round(load["load"] / 1000, 3) for load in loads], "summary_rows": loads[0]["rows"]}
    finally:
        driver.quit()


# -- the plugin in a pytest session -----------------------------------------------------------

CONFTEST = '''
"""The scale suite: every test measures once; a cheap stand-in for profile() returns a real
profile's cost (a fresh copy each call, as a profile makes), so the session's own work is timed."""
import json
import os
import sys
import types
from pathlib import Path

from pytest_convbudget.engine.results import ConvCost

COSTS = json.loads((Path(__file__).parent / "costs.json").read_text())
PLUGIN = os.environ.get("SCALE_PLUGIN", "1") == "1"
TINY = os.environ.get("SCALE_SUITE") == "tiny"  # a real meta profile of a tiny model instead


def profile(model, *inputs, **options):
    if TINY:
        from pytest_convbudget import profile as real

        return real(model, *inputs, device="meta")
    return ConvCost.from_dict(COSTS[model])


if not TINY:
    stand_in = types.ModuleType("pytest_convbudget.engine.profiler")
    stand_in.profile = profile
    sys.modules["pytest_convbudget.engine.profiler"] = stand_in

if not PLUGIN:
    import pytest

    @pytest.fixture
    def conv_cost():
        """Without the plugin: the same work for the test, nothing kept."""
        return lambda model, *inputs, **options: profile(model, *inputs)

HELD = os.environ.get("SCALE_HELD")
if HELD:
    import tracemalloc

    def pytest_sessionfinish(session):  # before the plugin's gate (it runs after conftests' hooks)
        import gc

        gc.collect()
        Path(HELD).write_text(str(tracemalloc.get_traced_memory()[0]))
'''

TEST_FILE = '''
import pytest

SHAPES = {shapes!r}


@pytest.mark.parametrize("index", range({count}))
def test_model(conv_cost, index):
    cost = conv_cost(SHAPES[index % len(SHAPES)], None)
    assert cost.flops > 0
'''
TINY_TEST_FILE = '''
import pytest
import torch
from torch import nn

X = torch.randn(1, 3, 16, 16)


def tiny():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3))


@pytest.mark.parametrize("index", range({count}))
def test_model(conv_cost, index):
    cost = conv_cost(tiny(), X)
    assert cost.flops > 0
'''
SUITES = ("stand-in", "tiny")  # the plugin's rows: a stand-in returning real costs, a tiny model profiled on meta


def write_suite(folder: Path, costs: list[dict[str, Any]], tests: int, files: int = 25, tiny: bool = False) -> None:
    """``tests`` tests in ``files`` files, each measuring one of the profiled shapes once (``tiny``:
    a two-conv model, profiled on meta; ``SCALE_SUITE=tiny`` must be set when it runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    named = {f"shape{index}": cost for index, cost in enumerate(costs)}
    (folder / "costs.json").write_text(json.dumps(named))
    (folder / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (folder / "pyproject.toml").write_text('[tool.pytest.ini_options]\n\n[tool.convbudget]\ndevice = "meta"\nflops = "1T"\nparams = "1G"\nmax_file_size = "1GiB"\n\n'
                                           '[tool.convbudget.budgets]\n"test_m_00.py::*" = { activations = "10GiB" }\n')
    per_file = tests // files
    names = list(named)
    for index in range(files):
        count = per_file + (1 if index < tests - per_file * files else 0)
        shapes = names[index % len(names):] + names[:index % len(names)]
        text = TINY_TEST_FILE.format(count=count) if tiny else TEST_FILE.format(shapes=shapes, count=count)
        (folder / f"test_m_{index:02d}.py").write_text(text)


PYTEST = ("-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist", "-p", "no:hypothesispytest",
          "-o", "addopts=")


def plugin_rows(costs: list[dict[str, Any]], tests: int, repeats: int, work: Path, suite_kind: str = "stand-in"
                ) -> dict[str, Any]:
    """The suite with the plugin (writing the run file, compared with a baseline, the comment written)
    against the same suite without it (``-p no:convbudget``), alternated; and what the plugin holds
    per measurement (Python's traced memory at the session's end, with against without)."""
    suite = work / "suite"
    write_suite(suite, costs, tests, tiny=suite_kind == "tiny")
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    base_env["SCALE_SUITE"] = suite_kind
    with_plugin = [sys.executable, "-m", "pytest", *PYTEST, "--conv-max-file-size=1GiB",
                   "--conv-baseline", str(work / "suite-base.json"),
                   "--conv-run-file", str(work / "suite-run.json"), "--conv-markdown", str(work / "suite.md")]
    without = [sys.executable, "-m", "pytest", *PYTEST, "-p", "no:convbudget"]
    saved = timed([sys.executable, "-m", "pytest", *PYTEST, "--conv-max-file-size=1GiB", "--conv-save-baseline",
                   str(work / "suite-base.json")], suite, base_env)
    if saved["rc"] != 0:
        raise SystemExit(f"the suite failed: {saved['output'][-3000:]!r} {saved['stderr']}")
    plugin_env, bare_env = {**base_env, "SCALE_PLUGIN": "1"}, {**base_env, "SCALE_PLUGIN": "0"}
    a, b = [], []
    for _ in range(repeats):
        a.append(timed(with_plugin, suite, plugin_env))
        b.append(timed(without, suite, bare_env))
    for run in a + b:
        if run["rc"] != 0:
            raise SystemExit(f"the suite failed: {run['output'][-3000:]!r} {run['stderr']}")
    held = {}
    for label, args, env in (("with", with_plugin, plugin_env), ("without", without, bare_env)):
        out = work / f"held-{label}.txt"
        timed(args, suite, {**env, "PYTHONTRACEMALLOC": "1", "SCALE_HELD": str(out)})
        held[label] = int(out.read_text())
    with_s = statistics.median(r["seconds"] for r in a)
    without_s = statistics.median(r["seconds"] for r in b)
    with_cpu, without_cpu = (statistics.median(r["cpu_s"] for r in runs) for runs in (a, b))
    return {
        "tests": tests, "with_s": with_s, "without_s": without_s, "ratio": with_s / without_s,
        "with_cpu_s": with_cpu, "without_cpu_s": without_cpu, "cpu_ratio": with_cpu / without_cpu,
        "with_samples": [round(r["seconds"], 2) for r in a], "without_samples": [round(r["seconds"], 2) for r in b],
        "with_peak_mib": max(r["peak_mib"] for r in a), "without_peak_mib": max(r["peak_mib"] for r in b),
        "held_kib_per_measurement": (held["with"] - held["without"]) / tests / 1024,
    }


# -- the whole run ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measurements", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="200 measurements, one repeat, four shapes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--json", type=Path, default=None, help="where to write the figures (default: OUT/scale.json)")
    parser.add_argument("--skip", action="append", default=[], choices=("cli", "browser", "plugin"))
    args = parser.parse_args(argv)
    count = 200 if args.quick else args.measurements
    repeats = 1 if args.quick else args.repeats
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    costs_file = out / ("costs-quick.json" if args.quick else "costs.json")
    if not costs_file.exists():
        costs_file.write_text(json.dumps(profile_shapes(QUICK_SHAPES if args.quick else SHAPES)))
    costs = json.loads(costs_file.read_text())

    base, head = make_runs(costs, count)
    (out / "base.json").write_text(base.to_json())
    (out / "head.json").write_text(head.to_json())
    shard_files = []
    for index, shard in enumerate(shards_of(head, SHARDS)):
        shard_files.append(out / f"shard-{index}.json")
        shard_files[-1].write_text(shard.to_json())
    (out / "pyproject.toml").write_text('[tool.convbudget]\nmax_file_size = "1GiB"\n')

    layers = [len(cost["layers"]) for cost in costs]
    figures: dict[str, Any] = {
        "measurements": count, "shapes": len(costs), "layers_per_shape": [min(layers), max(layers)],
        "base_entries": len(base.entries), "head_entries": len(head.entries),
        "run_file_mib": (out / "head.json").stat().st_size / 2**20,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": {},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if "cli" not in args.skip:
        for format in FORMATS:
            row = best_of(repeats, cli("diff", "base.json", "head.json", "--format", format), out, env)
            if row["rc"] not in (0, 1):
                raise SystemExit(f"diff --format {format} failed: {row['stderr']}")
            if format == "html":
                (out / "page.html").write_bytes(row["output"])
                figures["page_mib"] = len(row["output"]) / 2**20
            figures["rows"][f"diff {format}"] = _row(row)
            _save(figures, args.json or out / "scale.json")
        row = best_of(repeats, cli("merge", *(path.name for path in shard_files), "-o", "merged.json"), out, env)
        if row["rc"] != 0:
            raise SystemExit(f"merge failed: {row['stderr']}")
        figures["rows"]["merge"] = _row(row)
        _save(figures, args.json or out / "scale.json")
    if "browser" not in args.skip and (out / "page.html").exists():
        figures["page_load"] = page_in_browser(out / "page.html", repeats)
        _save(figures, args.json or out / "scale.json")
    if "plugin" not in args.skip:
        for kind in SUITES:
            with tempfile.TemporaryDirectory() as work:
                figures["plugin" if kind == "stand-in" else f"plugin_{kind}"] = plugin_rows(
                    costs, count, repeats, Path(work), kind)
            _save(figures, args.json or out / "scale.json")
    print_figures(figures)
    _save(figures, args.json or out / "scale.json")
    return 0


def _save(figures: dict[str, Any], path: Path) -> None:
    """Written after each row too, so a long run that fails late keeps what it measured."""
    path.write_text(json.dumps(figures, indent=2) + "\n")


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("seconds", "cpu_s", "peak_mib", "output_bytes", "samples")}


def print_figures(figures: dict[str, Any]) -> None:
    print(f"{figures['measurements']:,} measurements of {figures['shapes']} shapes "
          f"({figures['layers_per_shape'][0]}-{figures['layers_per_shape'][1]} layers); "
          f"head run: {figures['head_entries']:,} entries")
    print(f"{'row':<22}{'seconds':>10}{'cpu s':>8}{'peak MiB':>10}   target")
    for name, row in figures["rows"].items():
        print(f"{name:<22}{row['seconds']:>10.2f}{row['cpu_s']:>8.2f}{row['peak_mib']:>10.0f}   "
              f"< {TARGETS['seconds']:.0f} s, < {TARGETS['peak_mib']} MiB")
    print(f"{'run file':<22}{figures['run_file_mib']:>9.2f} MiB   < {TARGETS['run_file_mib']} MiB")
    if "page_mib" in figures:
        print(f"{'page':<22}{figures['page_mib']:>9.2f} MiB   < {TARGETS['page_mib']} MiB")
    load = figures.get("page_load")
    if load:
        print(f"{'page load (Chromium)':<22}{load['seconds']:>10.2f}   < {TARGETS['page_s']:.0f} s "
              f"(summary rows on load: {load['summary_rows']})")
    for key, label in (("plugin", "stand-in"), ("plugin_tiny", "tiny model")):
        if key in figures:
            _print_plugin(figures[key], label)


def _print_plugin(plugin: dict[str, Any], label: str) -> None:
    print(f"{plugin['tests']:,} tests, {label}:")
    if plugin:
        print(f"{'pytest, plugin':<22}{plugin['with_s']:>10.2f}{plugin['with_cpu_s']:>8.2f}"
              f"{plugin['with_peak_mib']:>10.0f}")
        print(f"{'pytest, no plugin':<22}{plugin['without_s']:>10.2f}{plugin['without_cpu_s']:>8.2f}"
              f"{plugin['without_peak_mib']:>10.0f}")
        print(f"{'plugin / no plugin':<22}{plugin['ratio']:>10.3f}{plugin['cpu_ratio']:>8.3f}"
              f"   < {TARGETS['plugin_ratio']} (wall, cpu)")
        print(f"{'held per measurement':<22}{plugin['held_kib_per_measurement']:>8.1f} KiB   "
              f"< {TARGETS['plugin_kib']} KiB")


if __name__ == "__main__":
    sys.exit(main())
