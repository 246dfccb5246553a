"""Runs that end badly, for real: signals sent to real pytest sessions, a worker killed, a file
that fails to collect, two runs merging into one baseline at once.

An interrupted, crashed or stopped run measured less than its suite. Its run file says how it
ended, every output leads with it ("incomplete: interrupted after 3 of 10 measuring tests"),
no baseline is saved from it, and ``merge`` refuses it unless told. Each case here is a real
``python -m pytest`` process: a ``pytester`` session in the same process cannot be sent a
signal, and cannot lose an xdist worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin_helpers import conv_budget_section

from pytest_convbudget.ci.runfile import RunFile, load_run_file, write_atomically
from pytest_convbudget.words.vocabulary import COLLECTION_ERRORS, INTERRUPTED, STOPPED, WORKER_CRASHED

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")

# Ten measuring tests and one that measures nothing; test_model[BLOCK_AT] says it is running, then
# waits for a signal; test_model[CRASH_AT] kills its own process (an xdist worker) after measuring.
SUITE = '''
import os
import time

import pytest
import torch


@pytest.mark.parametrize("n", range(10))
def test_model(conv_cost, n):
    conv_cost(torch.nn.Conv2d(3, 4 + n, 3), torch.randn(1, 3, 8, 8), device="meta")
    if n == int(os.environ.get("BLOCK_AT", "-1")):
        open("ready", "w").close()
        time.sleep(120)
    if n == int(os.environ.get("CRASH_AT", "-1")):
        os.kill(os.getpid(), 9)


def test_measures_nothing():
    pass
'''
OUTPUTS = ("--conv-run-file=run.json", "--conv-markdown=comment.md", "--conv-comparison-json=comparison.json",
           "--conv-html=page.html", "--conv-baseline=base.json", "--conv-save-baseline=base.json")


@pytest.fixture(scope="module")
def saved_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite and a baseline of it, made once for the module."""
    where = tmp_path_factory.mktemp("suite")
    (where / "test_models.py").write_text(SUITE, encoding="utf-8")
    (where / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    done = _pytest(where, "--conv-save-baseline=base.json")
    assert done.returncode == 0, done.stdout
    return where


@pytest.fixture
def suite(saved_suite: Path, tmp_path: Path) -> Path:
    for name in ("test_models.py", "pyproject.toml", "base.json"):
        (tmp_path / name).write_bytes((saved_suite / name).read_bytes())
    return tmp_path


def _environment(**extra: str) -> dict[str, str]:
    keep = {key: value for key, value in os.environ.items() if key not in ("CI", "BUILD_NUMBER", "PYTEST_XDIST_WORKER")}
    return {**keep, **extra}


def _pytest(where: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=where,
                          capture_output=True, text=True, env=_environment(**extra), timeout=300, check=False)


def _interrupt(where: Path, number: signal.Signals, *args: str, group: bool = False) -> tuple[int, list[str]]:
    """A session started, its fourth measuring test under way, then sent ``number``: (exit status, output lines).
    ``group``: to the whole process group, as a terminal's Ctrl-C reaches pytest and its xdist workers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *OUTPUTS, *args], cwd=where,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_environment(BLOCK_AT="3"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not (where / "ready").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the blocking test never started"
        time.sleep(0.05)
    time.sleep(0.5)  # the test is in its sleep
    (os.killpg if group else os.kill)(process.pid, number)
    output, _ = process.communicate(timeout=120)
    return process.returncode, output.splitlines()


@pytest.mark.parametrize(
    ("number", "args", "group", "ran", "how"),
    [
        (signal.SIGINT, (), False, 3, "interrupted after 3 of 10 measuring tests"),
        (signal.SIGTERM, (), False, 3, "interrupted by SIGTERM after 3 of 10 measuring tests"),
        (signal.SIGINT, ("-n", "2"), True, None, "interrupted after * of 10 measuring tests"),
        (signal.SIGTERM, ("-n", "2"), False, None, "interrupted by SIGTERM after * of 10 measuring tests"),
    ],
    ids=["ctrl-c", "sigterm", "ctrl-c-xdist", "sigterm-xdist"],
)
def test_an_interrupted_run_says_so_everywhere_and_saves_no_baseline(
    suite: Path, number: signal.Signals, args: tuple[str, ...], group: bool, ran: int | None, how: str
) -> None:
    baseline = (suite / "base.json").read_bytes()
    status, lines = _interrupt(suite, number, *args, group=group)
    assert status == pytest.ExitCode.INTERRUPTED, "\n".join(lines)
    ending = _one_ending(load_run_file(suite / "run.json"))
    assert ending.state == INTERRUPTED and ending.measuring == 10
    assert ending.detail == ("SIGTERM" if number == signal.SIGTERM else "")
    assert ending.ran == len(load_run_file(suite / "run.json").entries)
    if ran is not None:
        assert ending.ran == ran
    how = how.replace("*", str(ending.ran))
    # the terminal: the section leads with it, the baseline is refused in one line, the last line counts it
    section = conv_budget_section(lines)
    assert section[0] == f"conv budget: incomplete: {how}"
    assert f"baseline not saved to base.json: {how}; the old file is left as it was" in section
    assert lines[-1].startswith("=") and "1 conv budget incomplete run" in lines[-1]
    assert (suite / "base.json").read_bytes() == baseline
    # the comment, the comparison JSON and the page lead with it: never a clean verdict
    comment = (suite / "comment.md").read_text(encoding="utf-8").splitlines()
    assert comment[1].startswith(f"⚠️ **conv budget**: incomplete: {how}; no change in ")
    assert "✅" not in "\n".join(comment)
    comparison = json.loads((suite / "comparison.json").read_text(encoding="utf-8"))
    assert comparison["status"] == "incomplete" and comparison["headline"].startswith(f"incomplete: {how}; ")
    assert comparison["incomplete"][0]["state"] == INTERRUPTED
    assert f"incomplete: {how}" in (suite / "page.html").read_text(encoding="utf-8")
    assert not list(suite.rglob("*.tmp")), "a temporary file outlived the run"


def _one_ending(run: RunFile):  # type: ignore[no-untyped-def]
    assert len(run.endings) == 1, run.endings
    return run.endings[0]


def test_a_crashed_worker_names_the_test_it_lost_and_saves_no_baseline(suite: Path) -> None:
    """Killed with its measurement made but never reported, the test is lost: the baseline must not drop it."""
    baseline = (suite / "base.json").read_bytes()
    done = _pytest(suite, "-n", "2", *OUTPUTS, CRASH_AT="4")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout
    ending = _one_ending(load_run_file(suite / "run.json"))
    assert (ending.state, ending.lost, ending.measuring, ending.ran) == (
        WORKER_CRASHED, ("test_models.py::test_model[4]",), 10, 9)
    how = "a worker crashed: 1 measuring test(s) lost (test_models.py::test_model[4]); 9 of 10 ran"
    section = conv_budget_section(done.stdout.splitlines())
    assert section[0] == f"conv budget: incomplete: {how}"
    assert f"baseline not saved to base.json: {how}; the old file is left as it was" in section
    assert (suite / "base.json").read_bytes() == baseline
    assert (suite / "comment.md").read_text(encoding="utf-8").splitlines()[1].startswith(
        f"⚠️ **conv budget**: incomplete: {how}; ")


@pytest.mark.parametrize("args", [("--continue-on-collection-errors",), ()], ids=["continued", "stopped"])
def test_a_file_that_fails_to_collect_makes_the_run_incomplete(suite: Path, args: tuple[str, ...]) -> None:
    (suite / "test_broken.py").write_text("def test_x(:\n", encoding="utf-8")
    baseline = (suite / "base.json").read_bytes()
    done = _pytest(suite, *args, *OUTPUTS)
    assert done.returncode != 0
    ending = _one_ending(load_run_file(suite / "run.json"))
    assert (ending.state, ending.detail) == (COLLECTION_ERRORS, "test_broken.py")
    assert (suite / "base.json").read_bytes() == baseline
    assert "incomplete: collection errors (test_broken.py): their tests never ran" in \
        (suite / "comment.md").read_text(encoding="utf-8")


def test_a_maxfail_stop_under_xdist_is_stopped_not_interrupted(suite: Path) -> None:
    """xdist's controller stops a ``--maxfail`` run by raising an interruption; it is still a stop."""
    (suite / "test_fails.py").write_text("def test_fails(conv_cost):\n    assert False\n", encoding="utf-8")
    done = _pytest(suite, "-n", "2", "--maxfail=1", "--conv-run-file=run.json")
    ending = _one_ending(load_run_file(suite / "run.json"))
    assert ending.state == STOPPED, done.stdout
    assert ending.detail.startswith("stopping after 1 failure")


# -- merge: an incomplete shard is refused unless asked for, then named --------------------------


def _merge(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", "merge", *args], cwd=where,
                          capture_output=True, text=True, env=_environment(), timeout=120, check=False)


def test_merge_refuses_an_incomplete_shard_unless_allowed_and_the_verdict_names_it(suite: Path) -> None:
    _interrupt(suite, signal.SIGINT, "-k", "not test_model[9]")
    (suite / "run.json").rename(suite / "shard-1.json")
    done = _pytest(suite, "-k", "test_model[9]", "--conv-run-file=shard-2.json")
    assert done.returncode == 0, done.stdout
    refused = _merge(suite, "shard-1.json", "shard-2.json", "-o", "merged.json")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "convbudget merge: error: shard-1.json: interrupted after 3 of 9 measuring tests: an incomplete shard "
        "measured less than its part of the suite (--allow-incomplete merges it anyway, and the verdict names it); "
        "merged.json not written"]
    assert not (suite / "merged.json").exists()
    allowed = _merge(suite, "shard-1.json", "shard-2.json", "-o", "merged.json", "--allow-incomplete")
    assert allowed.returncode == 0, allowed.stderr
    shown = subprocess.run([sys.executable, "-m", "pytest_convbudget", "diff", "base.json", "merged.json"],
                           cwd=suite, capture_output=True, text=True, env=_environment(), timeout=120, check=False)
    assert shown.returncode == 1  # an incomplete run never passes
    assert shown.stdout.splitlines()[-1].startswith(
        "conv budget: incomplete: shard-1.json: interrupted after 3 of 9 measuring tests; ")


# -- no lost update: two runs merging into one baseline at once ---------------------------------


def test_concurrent_merges_into_one_baseline_keep_both_updates(suite: Path) -> None:
    """Both runs read the baseline at their start, then measure for a while; each one's update must survive."""
    (suite / "test_models.py").write_text(SUITE.replace("4 + n", "40 + n"), encoding="utf-8")  # every model grew
    slow = ("import time\nimport pytest\n\n@pytest.fixture(autouse=True)\ndef _slow():\n    yield\n"
            "    time.sleep(0.4)\n")
    (suite / "conftest.py").write_text(slow, encoding="utf-8")
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-k", selection,
                              "--conv-merge-baseline=base.json"], cwd=suite, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, env=_environment())
            for selection in ("test_model and (0 or 1 or 2 or 3 or 4)", "test_model and (5 or 6 or 7 or 8 or 9)")]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    merged = load_run_file(suite / "base.json")
    widths = {entry.measurement.test_id: entry.measurement.cost.layers[0].output_shape[1] for entry in merged.entries}
    assert widths == {f"test_models.py::test_model[{n}]": 40 + n for n in range(10)}


# -- a signal it can catch during a write leaves no temporary file ------------------------------


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "base.json"
    target.write_text("old\n", encoding="utf-8")

    def interrupted(descriptor: int) -> None:
        raise KeyboardInterrupt("SIGTERM")  # what the plugin's SIGTERM handler raises, mid-write

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, "new\n" * 1000)
    assert target.read_text(encoding="utf-8") == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["base.json"]
