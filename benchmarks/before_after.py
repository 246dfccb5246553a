"""Before/after a change to the package: profile speed in one process, plugin start-up in fresh ones.

Usage::

    python benchmarks/before_after.py [--before REF] [--after worktree|REF] [--quick] [--all-plugins] [--json PATH]

"Before" is the ``pytest_convbudget/`` folder of a git commit (``a79537d``,
the last commit before the package was split into sub-folders, by default);
"after" is a snapshot of the working tree's ``pytest_convbudget/`` taken when
the script starts (or another commit's, with ``--after REF``: ``--after``
equal to ``--before`` checks the harness, every ratio should then be about 1).

* ``profile`` rows: both versions live in this process. The before tree is
  copied to a temporary folder as a package named ``convbudget_before``, with
  the few places that name the package absolutely rewritten (see
  :func:`rename_package`); the after tree keeps its real name and is put in
  front of ``sys.path``, ahead of the editable install. The two sides are
  alternated after a warm-up (``timing.alternate``) and every pair of
  results must agree (``to_dict()``, totals at least).
* ``pytest`` rows: ``pytest -q`` over a generated suite of trivial tests
  (``startup.write_suite``), each run a fresh interpreter whose ``PYTHONPATH``
  holds one copy of the package under its real name, so the installed
  ``pytest11`` entry point (``pytest_convbudget.plugin``) loads that copy.
  The suite's conftest records which file the plugin came from, and whether
  torch was imported; a run that loaded the wrong copy or torch is an error.
  The other installed pytest plugins are disabled there (``--all-plugins``
  keeps them): hypothesis's alone costs seconds a run on this machine.
* ``import`` rows: ``import pytest_convbudget.plugin`` timed inside a fresh
  interpreter that has already imported pytest (what a pytest run has done
  before it loads plugins), so interpreter start-up is not in the figure.

Both start-up kinds get a wall-time row and a CPU-time row: the CPU time is
the steadier reading while other jobs share the machine.

The start-up and import rows are taken twice: from source only (no
``__pycache__`` in either copy, ``PYTHONDONTWRITEBYTECODE=1``, so every start
compiles the package, as in this sandbox) and with both copies compiled
(``compileall``, as after ``pip install``).

Every figure is after / before, a ratio of medians; the bracket is a 95%
bootstrap interval of that ratio (pairs resampled), a reading of the noise.
A row is flagged SLOWER when after is more than 3% slower than before even
at the low end of that interval.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGE = "pytest_convbudget"
BEFORE_NAME = "convbudget_before"  # the before tree's name inside this process
DEFAULT_BEFORE = "a79537d"
DEFAULT_JSON = HERE / "results" / "before_after.json"
SLOWER_LIMIT = 1.03
SCHEMA = 1

# This process imports the after copy that the source-only phase then starts
# from: it must not leave a __pycache__ there.
sys.dont_write_bytecode = True

# The models and our sibling modules; appended, so that the copies put in
# front later win over this checkout's package (and run.py adds nothing).
for _folder in (REPO / "examples", REPO, HERE):
    if str(_folder) not in sys.path:
        sys.path.append(str(_folder))

import startup  # noqa: E402  (no package import)
from timing import Pair, Plan, Row, alternate, at_most, ms  # noqa: E402


# --------------------------------------------------------------------------
# The two trees


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


def extract(ref: str, site: Path) -> Path:
    """``git archive REF pytest_convbudget`` unpacked into ``site``; returns the package folder."""
    data = git("archive", "--format=tar", ref, PACKAGE)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(site, filter="data")
    return site / PACKAGE


def snapshot_worktree(site: Path) -> Path:
    """The working tree's package as it is now, without bytecode: a mid-run
    edit by someone else then cannot mix two states into one measurement."""
    target = site / PACKAGE
    shutil.copytree(REPO / PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def place(ref: str, site: Path) -> Path:
    site.mkdir(parents=True, exist_ok=True)
    return snapshot_worktree(site) if ref == "worktree" else extract(ref, site)


# Places where a tree names its own package absolutely. Relative imports need
# nothing; docstrings, the CLI's program name and the run file's
# "pytest_convbudget" version key are text, not lookups, and stay.
_IMPORT = re.compile(rf"^(\s*(?:from|import)\s+){PACKAGE}(?=[\s.])", re.MULTILINE)
_LOOKUP_LINE = re.compile(r"_PACKAGE\s*=|resources\.files\(|import_module\(|find_spec\(")
_QUOTED = re.compile(rf"""(["']){PACKAGE}(?=["'.])""")


def rename_package(source: Path, target: Path, name: str) -> list[str]:
    """Copy the package at ``source`` to ``target`` (a folder called ``name``)
    and rewrite its absolute self-references; returns what was rewritten."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    rewritten: list[str] = []
    for path in sorted(target.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        changed = False
        for number, line in enumerate(lines):
            new = _IMPORT.sub(rf"\g<1>{name}", line)
            if _LOOKUP_LINE.search(new):
                new = _QUOTED.sub(rf"\g<1>{name}", new)
            if new != line:
                rewritten.append(f"{path.relative_to(target)}:{number + 1}: {line.strip()} -> {new.strip()}")
                lines[number] = new
                changed = True
        if changed:
            path.write_text("".join(lines), encoding="utf-8")
    return rewritten


def pyc_count(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.pyc"))


def compile_tree(site: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(site)], check=True)


# --------------------------------------------------------------------------
# Noise and rows


def ratio_interval(after: tuple[float, ...], before: tuple[float, ...], rounds: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of median(after) / median(before), resampling the
    alternated pairs together (a slow spell hit both members of a pair)."""
    rng = random.Random(0)
    count = min(len(after), len(before))
    ratios = []
    for _ in range(rounds):
        picks = [rng.randrange(count) for _ in range(count)]
        ratios.append(statistics.median(after[i] for i in picks) / statistics.median(before[i] for i in picks))
    ratios.sort()
    return ratios[int(0.025 * rounds)], ratios[int(0.975 * rounds) - 1]


def verdict(ratio: float, low: float) -> str:
    """SLOWER: more than 3% slower even at the interval's low end; 'within noise':
    more than 3% slower at the median only; 'ok' otherwise."""
    if ratio <= SLOWER_LIMIT:
        return "ok"
    return "SLOWER" if low > SLOWER_LIMIT else "within noise"


def compare_row(name: str, group: str, pair: Pair, unit_note: str = "", note: str = "") -> Row:
    """A row whose figure is after / before (side A is after, B before)."""
    row = at_most(name, group, pair, ("after", "before"), SLOWER_LIMIT, note=note)
    low, high = ratio_interval(pair.a_samples, pair.b_samples)
    flag = verdict(row.figure, low)
    row.passed = flag != "SLOWER"
    row.extra.update(
        ratio_ci95=[round(low, 4), round(high, 4)],
        flag=flag,
        after_samples_ms=[ms(value) for value in pair.a_samples],
        before_samples_ms=[ms(value) for value in pair.b_samples],
        load_average_after=load_average(),  # other jobs on the machine skew a row, torch's threads most
    )
    if unit_note:
        row.extra["measures"] = unit_note
    return row


def pair_of(after: list[float], before: list[float]) -> Pair:
    """A :class:`timing.Pair` from figures the children reported themselves."""
    return Pair(statistics.median(after), statistics.median(before), tuple(after), tuple(before))


# --------------------------------------------------------------------------
# profile(), both versions in this process


@dataclass(frozen=True)
class Case:
    label: str
    model: str
    shape: tuple[int, ...]
    device: str
    count: str | None = None  # None: the default count

    def kwargs(self) -> dict[str, Any]:
        options: dict[str, Any] = {"device": self.device}
        if self.count is not None:
            options["count"] = self.count
        return options


def load_before(root: Path) -> Any:
    """Import the renamed before tree and run it once on a small model so that
    all its lazy imports happen; no module named pytest_convbudget may appear."""
    import torch
    from models import resnet_style

    if PACKAGE in sys.modules:
        raise RuntimeError(f"{PACKAGE} was imported before the before tree was loaded")
    sys.path.insert(0, str(root))
    module = __import__(BEFORE_NAME)
    model, data = resnet_style().eval(), torch.rand(1, 3, 32, 32)
    for options in ({"device": "meta"}, {"device": "meta", "count": "all"}, {"device": "cpu"}):
        module.profile(model, data, **options).to_dict()
    leaked = sorted(name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + "."))
    if leaked:
        raise RuntimeError(f"the before tree imported {leaked}: a self-reference was not rewritten")
    return module


def load_after(site: Path) -> Any:
    sys.path.insert(0, str(site))
    module = __import__(PACKAGE)
    _ = module.profile  # the lazy import of the engine
    return module


def both_packages(before_ref: str, prefix: str) -> tuple[Any, Any]:
    """The package of ``before_ref`` (renamed) and the working tree's, both imported in this
    process: what a script that times one against the other needs first."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    rename_package(place(before_ref, scratch / "before-src"), scratch / "before" / BEFORE_NAME, BEFORE_NAME)
    place("worktree", scratch / "after")
    return load_before(scratch / "before"), load_after(scratch / "after")


def loaded_from(prefix: str, root: Path) -> list[str]:
    """Modules called ``prefix*`` that were NOT loaded from under ``root``."""
    stray = []
    for name, module in list(sys.modules.items()):
        if name == prefix or name.startswith(prefix + "."):
            where = getattr(module, "__file__", None)
            if where is None or not Path(where).resolve().is_relative_to(root.resolve()):
                stray.append(f"{name} ({where})")
    return stray


def same_results(after: Any, before: Any) -> tuple[bool, bool, list[str]]:
    """(whole to_dict() identical, totals identical, keys that differ)."""
    a, b = after.to_dict(), before.to_dict()
    differ = sorted(key for key in set(a) | set(b) if a.get(key) != b.get(key))
    totals = ("params", "flops", "macs", "total_flops", "total_macs", "model_params", "batch_size")
    return not differ, all(a.get(key) == b.get(key) for key in totals), differ


def profile_row(case: Case, before: Any, after: Any, plan: Plan) -> Row:
    import models
    from speed import Workload

    work = Workload(case.model, getattr(models, case.model), case.shape)
    before_model, after_model, data = work.build(), work.build(), work.real_input()
    options = case.kwargs()
    pair = alternate(
        lambda: after.profile(after_model, data, **options), lambda: before.profile(before_model, data, **options), plan,
    )
    identical, totals, differ = same_results(pair.a_result, pair.b_result)
    note = "to_dict() identical" if identical else (
        f"totals identical, to_dict() differs in {differ}" if totals else f"TOTALS DIFFER ({differ})"
    )
    row = compare_row(f"profile/{case.label}", "profile", pair, note=note)
    row.extra.update(to_dict_identical=identical, totals_identical=totals, differing_keys=differ,
                     total_macs=pair.b_result.total_macs)
    return row


def profile_cases(quick: bool) -> list[Case]:
    if quick:
        return [
            Case("resnet_style/4x3x224x224 meta", "resnet_style", (4, 3, 224, 224), "meta"),
            Case('vit_tiny/4x3x32x32 meta count="all"', "vit_tiny", (4, 3, 32, 32), "meta", "all"),
            Case("resnet_style/1x3x224x224 cpu", "resnet_style", (1, 3, 224, 224), "cpu"),
        ]
    return [
        Case("resnet50/32x3x224x224 meta", "resnet50", (32, 3, 224, 224), "meta"),
        Case('vit_b_16/32x3x224x224 meta count="all"', "vit_b_16", (32, 3, 224, 224), "meta", "all"),
        Case("resnet50/1x3x224x224 cpu", "resnet50", (1, 3, 224, 224), "cpu"),
    ]


# --------------------------------------------------------------------------
# Start-up, fresh interpreters


IMPORT_CHILD = f"""
import json, os, sys, time
import pytest
already = set(sys.modules)
start, cpu_start = time.perf_counter(), time.process_time()
import {PACKAGE}.plugin as plugin
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
new = sorted(set(sys.modules) - already)
print(json.dumps({{
    "seconds": seconds,
    "cpu_seconds": cpu,
    "torch_imported": "torch" in sys.modules,
    "plugin_file": plugin.__file__,
    "pyc_present": bool(plugin.__cached__) and os.path.exists(plugin.__cached__),
    "own_modules": [name for name in new if name.split(".")[0] == "{PACKAGE}"],
    "other_modules": [name for name in new if name.split(".")[0] != "{PACKAGE}"],
}}))
"""


def child_env(site: Path, pytest_options: str = "") -> dict[str, str]:
    """PYTHONPATH at one copy; no bytecode written, so a source-only phase stays one.
    ``pytest_options`` goes to ``PYTEST_ADDOPTS`` (startup.clean_environment
    drops the caller's own pytest variables first)."""
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")]))
    env = {"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    if pytest_options:
        env["PYTEST_ADDOPTS"] = pytest_options
    return env


def other_plugins() -> list[str]:
    """Installed pytest11 plugins besides ours (hypothesis, xdist, ...)."""
    from importlib.metadata import entry_points

    return sorted({point.name for point in entry_points(group="pytest11")} - {startup.PLUGIN})


@dataclass
class Side:
    """One copy of the package as the children see it, and what they reported."""

    name: str
    site: Path
    problems: list[str] = field(default_factory=list)
    figures: list[float] = field(default_factory=list)  # wall seconds, one per child
    cpu: list[float] = field(default_factory=list)  # CPU seconds, one per child
    facts: dict[str, Any] = field(default_factory=dict)

    def expect(self, what: str, where: str | None, torch_imported: bool, loaded: bool = True) -> None:
        if not loaded:
            self.problems.append(f"{what}: plugin not loaded")
        if where is None or not Path(where).resolve().is_relative_to(self.site.resolve()):
            self.problems.append(f"{what}: plugin loaded from {where}, not {self.site}")
        if torch_imported:
            self.problems.append(f"{what}: torch imported")


def import_once(side: Side, cwd: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHILD], cwd=cwd, env={**os.environ, **child_env(side.site)},
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing the {side.name} plugin failed:\n{done.stderr[-2000:]}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    side.expect("import", seen["plugin_file"], seen["torch_imported"])
    side.figures.append(seen["seconds"])
    side.cpu.append(seen["cpu_seconds"])
    side.facts.update(own_modules=seen["own_modules"], other_modules=seen["other_modules"], pyc_present=seen["pyc_present"])
    return seen["seconds"]


def import_breakdown(side: Side, cwd: Path) -> dict[str, Any]:
    """One ``-X importtime`` run: the plugin import's own modules, costliest first (self time)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import pytest; import {PACKAGE}.plugin"],
        cwd=cwd, env={**os.environ, **child_env(side.site)}, capture_output=True, text=True, check=False,
    )
    entries = []
    after_pytest = False
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or not parts[0].split(":")[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        if after_pytest:
            entries.append((int(parts[0].split(":")[1]), name.strip()))
        elif name == " pytest":
            after_pytest = True
    own = sorted((entry for entry in entries if entry[1].startswith(PACKAGE)), reverse=True)
    return {
        "self_us_total": sum(self_us for self_us, _ in entries),
        "modules": len(entries),
        "costliest_own_us": [[name, self_us] for self_us, name in own[:6]],
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pytest_once(side: Side, suite: Path, options: str) -> float:
    cpu_start = children_cpu()
    run = startup.run_pytest(suite, True, extra_env=child_env(side.site, options))
    side.cpu.append(children_cpu() - cpu_start)
    side.figures.append(run.seconds)
    side.expect("pytest", run.plugin_file, run.torch_imported, run.plugin_loaded)
    side.facts.setdefault("package_files", set()).add(run.package_file)
    return run.seconds


def measured_rows(after: Side, before: Side, name: str, what: str, extra: dict[str, Any]) -> list[Row]:
    """A wall-time row and a CPU-time row from what the sides collected; the
    first figure of each side is alternate()'s warm-up and is left out. CPU
    time is the steadier reading while other jobs share the machine."""
    warm = 1
    rows = []
    for kind, after_values, before_values in (
        ("wall", after.figures, before.figures), ("cpu", after.cpu, before.cpu)
    ):
        row = compare_row(
            f"{name} {kind}", "startup", pair_of(after_values[warm:], before_values[warm:]),
            unit_note=f"{kind} time of {what}",
        )
        row.extra.update(extra)
        rows.append(row)
    return rows


def startup_rows(after: Side, before: Side, phase: str, settings: Settings, scratch: Path) -> list[Row]:
    suite = scratch / f"suite-{phase}"
    suite.mkdir()
    startup.write_suite(suite, settings.startup_tests)
    pyc = {side.name: pyc_count(side.site) for side in (after, before)}
    if (phase == "compiled") != all(pyc.values()):
        raise RuntimeError(f"{phase} phase, but the copies hold {pyc} .pyc files")
    options = settings.pytest_options

    for side in (after, before):
        side.figures.clear()
        side.cpu.clear()
    alternate(lambda: pytest_once(after, suite, options), lambda: pytest_once(before, suite, options), settings.pytest)
    rows = measured_rows(
        after, before, f"pytest {settings.startup_tests} tests, {phase},", "the child 'pytest -q' (plugin loaded)",
        {"pyc_files": pyc, "pytest_addopts": options},
    )

    for side in (after, before):
        side.figures.clear()
        side.cpu.clear()
    alternate(lambda: import_once(after, scratch), lambda: import_once(before, scratch), settings.imports)
    # alternate() timed whole interpreters; the figures are what the children measured.
    import_rows = measured_rows(
        after, before, f"import plugin, {phase},", "'import pytest_convbudget.plugin' after 'import pytest', in the child", {},
    )
    row = import_rows[0]
    row.extra.update(
        pyc_files=pyc,
        pyc_used={side.name: side.facts.get("pyc_present") for side in (after, before)},
        own_modules={side.name: side.facts.get("own_modules") for side in (after, before)},
        other_modules={side.name: side.facts.get("other_modules") for side in (after, before)},
        importtime={side.name: import_breakdown(side, scratch) for side in (after, before)},
    )
    rows.extend(import_rows)
    row.note = (
        f"modules imported: after {len(after.facts.get('own_modules', []))} own + {len(after.facts.get('other_modules', []))} other, "
        f"before {len(before.facts.get('own_modules', []))} own + {len(before.facts.get('other_modules', []))} other"
    )
    return rows


# --------------------------------------------------------------------------
# Output


@dataclass(frozen=True)
class Settings:
    quick: bool
    profile: Plan
    pytest: Plan
    imports: Plan
    startup_tests: int
    pytest_options: str  # PYTEST_ADDOPTS of the pytest children


def settings_for(quick: bool, all_plugins: bool) -> Settings:
    options = "" if all_plugins else " ".join(f"-p no:{name}" for name in other_plugins())
    if quick:
        return Settings(True, Plan(3, 3, 1.0), Plan(3, 3, 1.0), Plan(3, 5, 1.0), 50, options)
    return Settings(False, Plan(9, 41, 20.0), Plan(9, 21, 25.0), Plan(15, 41, 8.0), 200, options)


HEADER = f"{'row':<48} {'before':>11} {'after':>11} {'after/before':>13} {'95% interval':>16} {'pairs':>5} {'load':>5}  flag"


def format_row(row: Row) -> str:
    low, high = row.extra["ratio_ci95"]
    return (
        f"{row.name:<48} {row.b:>8,.2f} ms {row.a:>8,.2f} ms {row.figure:>12.3f}x "
        f"{f'[{low:.3f}, {high:.3f}]':>16} {row.samples:>5} {row.extra['load_average_after'][0]:>5.2f}  {row.extra['flag']}"
    )


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=DEFAULT_BEFORE, help=f"git ref of the before tree (default {DEFAULT_BEFORE})")
    parser.add_argument("--after", default="worktree", help="'worktree' (default: the working tree now) or a git ref")
    parser.add_argument("--quick", action="store_true", help="small models, few repeats: shows the script works")
    parser.add_argument(
        "--all-plugins", action="store_true",
        help="keep the other installed pytest plugins (hypothesis, xdist, ...) on in the pytest rows; "
        "by default they are disabled, so that the figure is about this plugin",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the rows (default {DEFAULT_JSON})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_for(args.quick, args.all_plugins)
    started = time.perf_counter()
    load_at_start = load_average()
    after_state = {
        "head": git("rev-parse", "HEAD").decode().strip(),
        "status": git("status", "--porcelain", PACKAGE).decode().splitlines() if args.after == "worktree" else [],
    }
    rows: list[Row] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="convbudget-before-after-") as name:
        scratch = Path(name)
        before_tree = place(args.before, scratch / "before-site")
        after_tree = place(args.after, scratch / "after-site")
        rewritten = rename_package(before_tree, scratch / "in-process" / BEFORE_NAME, BEFORE_NAME)
        print(f"before: {args.before}; after: {args.after}"
              + (f" (HEAD {after_state['head'][:7]}, {len(after_state['status'])} uncommitted paths in {PACKAGE}/)"
                 if args.after == "worktree" else ""), flush=True)
        print(f"renamed the before tree to {BEFORE_NAME}; rewritten: {rewritten or 'nothing'}", flush=True)

        print("profile speed, both versions in this process", flush=True)
        before = load_before(scratch / "in-process")
        after = load_after(scratch / "after-site")
        import run  # after the check above: it imports the package through speed.py

        info = run.machine_info()
        for case in profile_cases(settings.quick):
            try:
                row = profile_row(case, before, after, settings.profile)
            except Exception as error:  # reported; the other rows still run
                errors.append(f"profile/{case.label}: {type(error).__name__}: {error}")
                print(f"  ERROR {errors[-1]}", flush=True)
                continue
            rows.append(row)
            print(f"  {format_row(row)}  ({row.note})", flush=True)
        stray = loaded_from(PACKAGE, after_tree) + loaded_from(BEFORE_NAME, scratch / "in-process")
        if stray:
            errors.append(f"modules loaded from the wrong copy: {stray}")

        sides = (Side("after", scratch / "after-site"), Side("before", scratch / "before-site"))
        for phase in ("source only", "compiled"):
            if phase == "compiled":
                for side in sides:
                    compile_tree(side.site)
            print(f"start-up, {phase}: pytest over {settings.startup_tests} trivial tests, and the plugin import", flush=True)
            try:
                for row in startup_rows(*sides, phase, settings, scratch):
                    rows.append(row)
                    print(f"  {format_row(row)}", flush=True)
            except Exception as error:
                errors.append(f"start-up ({phase}): {type(error).__name__}: {error}")
                print(f"  ERROR {errors[-1]}", flush=True)
        for side in sides:
            errors.extend(f"{side.name}: {problem}" for problem in sorted(set(side.problems)))
        package_files = {side.name: sorted(map(str, side.facts.get("package_files", set()))) for side in sides}

    elapsed = time.perf_counter() - started
    print()
    print(f"machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}, {info['torch_threads']} torch threads, "
          f"python {info['python']}; load average at start {load_at_start}, at end {load_average()}")
    print(f"pytest children: PYTEST_ADDOPTS={settings.pytest_options!r}")
    print(f"before = {args.before}, after = {args.after}; figure = median(after) / median(before); "
          f"SLOWER = more than {SLOWER_LIMIT - 1:.0%} slower at the low end of the 95% interval; load = 1-minute load average when the row ended")
    print(HEADER)
    for row in rows:
        print(format_row(row))
    print("notes:")
    for row in rows:
        if row.note:
            print(f"  {row.name}: {row.note}")
    for row in rows:
        for side, names in row.extra.get("own_modules", {}).items():
            if names:
                print(f"  {row.name}: the {side} plugin import loads {', '.join(sorted(names))}")
    print("  torch imported at plugin load: "
          + ("never, in either copy" if not any("torch" in error for error in errors) else "YES, see errors"))
    print(f"  pytest_convbudget loaded by the pytest children from: {package_files}")
    for error in errors:
        print(f"ERROR {error}")
    report = {
        "schema": SCHEMA,
        "quick": settings.quick,
        "before": args.before,
        "after": args.after,
        "after_state": after_state,
        "before_rewrites": rewritten,
        "machine": info,
        "pytest_addopts": settings.pytest_options,
        "load_average_at_start": load_at_start,
        "load_average_at_end": load_average(),
        "elapsed_s": round(elapsed, 2),
        "rows": [row.to_dict() for row in rows],
        "errors": errors,
        "package_files": package_files,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json} ({elapsed:.1f} s)")
    counts_differ = any(not row.extra.get("totals_identical", True) for row in rows)
    return 1 if errors or counts_differ else 0


if __name__ == "__main__":
    sys.exit(main())
