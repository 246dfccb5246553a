"""Benchmarks of pytest-convbudget: speed and memory against a bare forward and other counters.

Usage::

    python benchmarks/run.py [--quick] [--json PATH]

Prints a table of ratios (each the ratio of two medians measured in this
process with the sides alternated, after a warm-up) and writes the same rows
with facts about the machine to JSON (``benchmarks/results/latest.json`` by
default). ``--quick`` runs tiny models with few repeats, to show the script
works in well under a minute; only the full run's figures mean anything.

Other counters (thop, ptflops, fvcore) are optional: install them with
``pip install thop ptflops fvcore psutil`` to get their rows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for folder in (REPO / "examples", REPO, HERE):  # the models, this checkout's package, our siblings
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import torch  # noqa: E402
from models import mobilenet_v2, resnet50, resnet_style, vit_b_16, vit_tiny  # noqa: E402

import counters  # noqa: E402
import speed  # noqa: E402
import startup  # noqa: E402
from speed import Workload  # noqa: E402
from timing import Plan, Row  # noqa: E402

DEFAULT_JSON = HERE / "results" / "latest.json"
MEMORY_LIMIT_MB = 100.0
SCHEMA = 1


@dataclass(frozen=True)
class Settings:
    """Everything that differs between the full run and ``--quick``."""

    quick: bool
    small: tuple[Workload, ...]  # batch-1 workloads, for the overhead rows
    large: tuple[Workload, ...]  # the founding note's batch, for every row
    cheap: Plan  # rows whose sides take milliseconds
    costly: Plan  # rows with a real forward at the large batch
    memory_size: int
    startup_tests: int
    startup_runs: int
    scale_layers: tuple[int, ...]
    hybrids: tuple[Workload, ...]  # the all-kinds rows: a transformer and a CNN


def full_settings() -> Settings:
    models = (("resnet50", resnet50), ("mobilenet_v2", mobilenet_v2))
    return Settings(
        quick=False,
        small=tuple(Workload(name, factory, (1, 3, 224, 224)) for name, factory in models),
        large=tuple(Workload(name, factory, (32, 3, 224, 224)) for name, factory in models),
        cheap=Plan(min_pairs=7, max_pairs=41, budget_s=15.0),
        costly=Plan(min_pairs=5, max_pairs=9, budget_s=30.0),
        memory_size=256,
        startup_tests=200,
        startup_runs=9,
        scale_layers=(10, 100, 1000, 10000),
        hybrids=(Workload("vit_b_16", vit_b_16, (32, 3, 224, 224)), Workload("resnet50", resnet50, (32, 3, 224, 224))),
    )


def quick_settings() -> Settings:
    return Settings(
        quick=True,
        small=(Workload("resnet_style", resnet_style, (1, 3, 224, 224)),),
        large=(Workload("resnet_style", resnet_style, (4, 3, 224, 224)),),
        cheap=Plan(min_pairs=3, max_pairs=5, budget_s=0.5),
        costly=Plan(min_pairs=3, max_pairs=3, budget_s=0.5),
        memory_size=64,
        startup_tests=50,
        startup_runs=3,
        scale_layers=(10, 100),
        hybrids=(Workload("vit_tiny", vit_tiny, (4, 3, 32, 32)), Workload("resnet_style", resnet_style, (4, 3, 224, 224))),
    )


def machine_info() -> dict[str, Any]:
    """What a reader needs to judge the figures; threads are left at torch's default."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load_average(),
        # Without .pyc files every pytest start compiles the plugin from source.
        "python_dont_write_bytecode": bool(os.environ.get("PYTHONDONTWRITEBYTECODE")),
        "tool_versions": tool_versions(),
    }


def load_average() -> list[float] | None:
    """The 1/5/15-minute load, so a reader can tell a busy machine's figures apart."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def tool_versions() -> dict[str, str | None]:
    """Installed versions of the optional counters (``None`` when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for package in ("thop", "ultralytics-thop", "ptflops", "fvcore", "psutil"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def memory_row(size: int) -> Row:
    """5. Peak memory a meta profile adds, measured by a child process.

    The child starts clean, so gigabytes this process freed after the
    ResNet rows cannot mask (or inflate) the reading.
    """
    done = subprocess.run(
        [sys.executable, str(HERE / "memory_probe.py"), str(size)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe failed:\n{done.stderr[-3000:]}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    added = seen["added_mb"]
    note = (
        f"a real forward would hold about {seen['conv_outputs_mb'] / 1024:.2f} GiB of conv outputs "
        f"(sum of layer output sizes x 4 bytes); input {seen['input_mb']:.0f} MB is in 'before'; "
        f"a second profile adds {seen['warm_added_mb']:.1f} MB (the first pays torch's lazy "
        f"imports: {seen['modules_imported_by_first_profile']} modules)"
    )
    return Row(
        name=f"memory/unet3d/1x1x{size}x{size}x{size}",
        group="memory",
        a_label="peak during profile",
        a=round(seen["peak_after_mb"], 2),
        b_label="RSS before",
        b=round(seen["rss_before_mb"], 2),
        unit="MB",
        figure=round(added, 2),
        figure_text=f"+{added:.1f} MB",
        target=f"< {MEMORY_LIMIT_MB:g} MB added",
        passed=added < MEMORY_LIMIT_MB,
        samples=1,
        note=note,
        extra=seen,
    )


class Collector:
    """Gathers rows, skipped counters and failures while the run goes on.

    One failing measurement must not cost the whole run (a tool crashing on
    some model is itself a finding), so each step is guarded and reported.
    """

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.skipped: list[dict[str, str]] = []
        self.errors: list[dict[str, str]] = []
        self.count_mismatch = False

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(progress_line(row), flush=True)

    def attempt(self, name: str, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as error:  # reported, and the run goes on
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            self.errors.append({"name": name, "error": message})
            print(f"  {name}: ERROR {message}", flush=True)


def run_speed(settings: Settings, out: Collector) -> None:
    print("1. real-device overhead", flush=True)
    for work in settings.small:
        out.attempt(f"overhead/{work.label}", lambda work=work: out.add(speed.overhead_row(work, settings.cheap)))
    for work in settings.large:
        out.attempt(f"overhead/{work.label}", lambda work=work: out.add(speed.overhead_row(work, settings.costly)))
    print("2. meta against real", flush=True)
    for work in settings.large:
        out.attempt(f"meta_vs_real/{work.label}", lambda work=work: add_meta_vs_real(work, settings, out))
    print("3. the floor (bare forward on meta)", flush=True)
    for work in settings.large:
        out.attempt(f"floor/{work.label}", lambda work=work: out.add(speed.floor_row(work, settings.cheap)))


def add_meta_vs_real(work: Workload, settings: Settings, out: Collector) -> None:
    row, equal = speed.meta_vs_real_row(work, settings.costly)
    out.count_mismatch |= not equal
    out.add(row)


def run_counters(settings: Settings, out: Collector) -> list[counters.CountCheck]:
    print("4. other counters", flush=True)
    checks: list[counters.CountCheck] = []
    for counter in counters.COUNTERS:
        reason = counters.why_unavailable(counter)
        if reason is not None:
            print(f"  {counter.label}: {reason}", flush=True)
            out.skipped.append({"name": f"vs_{counter.name}", "tool": counter.label, "reason": reason})
            continue
        for work in settings.large:
            plan = settings.cheap if counter.on_meta else settings.costly

            def step(counter: counters.Counter = counter, work: Workload = work, plan: Plan = plan) -> None:
                row, check = counters.counter_row(counter, work, plan)
                checks.append(check)
                out.add(row)

            out.attempt(f"vs_{counter.name}/{work.label}", step)
    return checks


def run_kinds(settings: Settings, out: Collector) -> None:
    print('8. count="all" against the default and against FlopCounterMode, on meta', flush=True)
    for work in settings.hybrids:
        out.attempt(f"all_kinds/{work.label}", lambda work=work: out.add(speed.all_kinds_row(work, settings.cheap)))
        out.attempt(
            f"all_kinds_vs_flopcounter_meta/{work.label}",
            lambda work=work: out.add(speed.all_kinds_vs_flop_counter_row(work, settings.cheap)),
        )


def run_rest(settings: Settings, out: Collector) -> None:
    print(f"5. memory (fresh process, unet3d on {settings.memory_size}^3)", flush=True)
    out.attempt("memory", lambda: out.add(memory_row(settings.memory_size)))
    print(f"6. plugin start-up ({settings.startup_tests} trivial tests, {settings.startup_runs} runs a side)", flush=True)
    out.attempt("startup", lambda: out.add(startup.startup_row(settings.startup_tests, settings.startup_runs)))
    print("7. scale (stacks of Conv2d(8, 8, 3) on meta)", flush=True)
    sizes = settings.scale_layers
    for smaller, layers in zip(sizes, sizes[1:]):
        out.attempt(
            f"scale/{layers}_vs_{smaller}",
            lambda layers=layers, smaller=smaller: out.add(speed.scale_row(layers, smaller, settings.cheap)),
        )


TABLE_HEADER = (
    f"{'measurement':<44} {'A':<26} {'median':>12}  {'B':<26} {'median':>12}  "
    f"{'figure':>18}  {'target':<29} result"
)


def format_row(row: Row) -> str:
    """One table line: measurement, both medians, the figure, target, verdict."""
    verdict = "PASS" if row.passed else "MISS"
    return (
        f"{row.name:<44} {row.a_label:<26} {row.a:>9,.2f} {row.unit:<2}  {row.b_label:<26} {row.b:>9,.2f} {row.unit:<2}  "
        f"{row.figure_text:>18}  {row.target:<29} {verdict}"
    )


def progress_line(row: Row) -> str:
    """A short line while the run goes on; the full table comes at the end."""
    return f"  {row.name}: {row.figure_text} ({'PASS' if row.passed else 'MISS'}, target {row.target})"


def format_checks(checks: list[counters.CountCheck]) -> list[str]:
    """The conv-count comparison, one line per tool and model, with disagreements spelled out."""
    lines = []
    for check in checks:
        verdict = "agree" if check.conv_agrees else (
            f"DISAGREE by {check.their_conv_macs - check.our_conv_macs:+,}"
        )
        lines.append(
            f"  {check.tool:<24} {check.workload:<30} conv MACs theirs {check.their_conv_macs:>16,} ours {check.our_conv_macs:>16,}: {verdict}; "
            f"total {check.their_total:,.0f} vs ours on the same terms {check.our_total_same_terms:,} "
            f"(diff {check.total_difference:+,.0f}: {check.total_meaning})"
        )
    return lines


def print_table(info: dict[str, Any], out: Collector, checks: list[counters.CountCheck]) -> None:
    print()
    print(
        f"machine: {info['platform']}, {info['cpu_count']} CPUs, torch {info['torch']}, "
        f"{info['torch_threads']} torch threads (default), python {info['python']}, "
        f"load average at start {info['load_average_at_start']}, now {load_average()}"
    )
    print(TABLE_HEADER)
    for row in out.rows:
        print(format_row(row))
    for skipped in out.skipped:
        print(f"{skipped['name']:<44} {skipped['tool']}: {skipped['reason']}")
    for error in out.errors:
        print(f"{error['name']:<44} ERROR {error['error']}")
    if checks:
        print("conv counts of the other tools, converted to whole-batch MACs without bias:")
        for line in format_checks(checks):
            print(line)
    noted = [row for row in out.rows if row.note]
    if noted:
        print("notes:")
        for row in noted:
            print(f"  {row.name}: {row.note}")
    missed = [row.name for row in out.rows if not row.passed]
    print(f"{len(out.rows) - len(missed)} of {len(out.rows)} targets met" + (f"; missed: {', '.join(missed)}" if missed else ""))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models and few repeats (under a minute)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write the rows (default {DEFAULT_JSON})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = quick_settings() if args.quick else full_settings()
    info = machine_info()
    print(f"pytest-convbudget benchmarks ({'quick' if settings.quick else 'full'}); torch threads: {info['torch_threads']}", flush=True)
    started = time.perf_counter()
    out = Collector()
    run_speed(settings, out)
    checks = run_counters(settings, out)
    run_rest(settings, out)
    run_kinds(settings, out)
    elapsed = time.perf_counter() - started
    print_table(info, out, checks)
    report = {
        "schema": SCHEMA,
        "quick": settings.quick,
        "machine": info,
        "elapsed_s": round(elapsed, 2),
        "load_average_at_end": load_average(),
        "rows": [row.to_dict() for row in out.rows],
        "skipped": out.skipped,
        "errors": out.errors,
        "count_checks": [check.to_dict() for check in checks],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json} ({elapsed:.1f} s)")
    if out.count_mismatch:
        print("error: a meta profile and a real-device profile disagreed on the counts", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
