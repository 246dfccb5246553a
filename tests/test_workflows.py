"""The GitHub Actions workflows in ``examples/github``: users copy them as they are, so they must work as they are.

Nothing here runs GitHub; the tests read the YAML and check what can break
silently: triggers that never fire, a token that can write where untrusted
code runs, artifact names or paths that do not line up between jobs, and
``--conv-*`` options or subcommands that the plugin does not have (pytest
would stop with a usage error in the user's CI, not in ours).

The shape they check: the PR job runs the pull request's code with a
read-only token, gates, and uploads data only (its run file and the pull
request's number); the comment job, the one with a write token, never runs
that code: it renders the comment and the HTML page itself with a pinned
release of the tool and the default branch's ``pyproject.toml``, keeps the
page as an artifact and links the comment to it. ``convbudget-pr-sharded.yml``
is the PR workflow again, under the same name, with the suite split over a
matrix of shards and a merge job that uploads what the one PR job would have.
``test_trusted_comment.py`` runs the comment and merge jobs' shell steps for
real. The workflows are also checked against GitHub's workflow schema (and by
actionlint, where it is installed).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from pytest_convbudget import plugin
from pytest_convbudget.budgets.pyproject import tomllib
from pytest_convbudget.cli import build_parser
from pytest_convbudget.render.markdown import COMMENT_MARKER
from pytest_convbudget.render.outputs import file_outputs

yaml = pytest.importorskip("yaml")

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO_ROOT / "examples" / "github"
BASELINE = "convbudget-baseline.yml"
PR = "convbudget-pr.yml"
SHARDED = "convbudget-pr-sharded.yml"  # the PR workflow split over shards: install it instead of PR
COMMENT = "convbudget-comment.yml"
GATES = (PR, SHARDED)  # the two PR workflows: the comment workflow follows whichever is installed
RUN_ARTIFACT = "convbudget-run"  # what a PR workflow hands the comment workflow
PAGE_ARTIFACT = "convbudget-report"  # the HTML page the comment workflow keeps and links to
RUN_URL = "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"  # the comment job's own run
PIN = "CONVBUDGET_VERSION"  # the workflow-level env value that pins the release every job installs


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def project_version() -> str:
    """The ``version`` of this repository's ``pyproject.toml``: the release the examples pin."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` table; YAML 1.1 reads the bare key ``on`` as the boolean True."""
    value = workflow.get(True, workflow.get("on"))
    assert isinstance(value, dict), value
    return value


def only_job(workflow: dict[Any, Any]) -> dict[str, Any]:
    (job,) = workflow["jobs"].values()
    return job


def steps(workflow: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


def job_workflow(workflow: dict[Any, Any], name: str) -> dict[Any, Any]:
    """The workflow cut down to one of its jobs (its ``env:`` kept), for the helpers that read a whole workflow."""
    return {**workflow, "jobs": {name: workflow["jobs"][name]}}


def script_lines(script: str) -> list[str]:
    """The commands of one ``run:`` script, one per line, backslash continuations joined, comments left out."""
    lines = (line.strip() for line in script.replace("\\\n", " ").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def commands(workflow: dict[Any, Any]) -> list[str]:
    """Every shell command of every ``run:`` step, one per line."""
    return [line for step in steps(workflow) if "run" in step for line in script_lines(step["run"])]


def uses(workflow: dict[Any, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(workflow) if step.get("uses", "").split("@")[0] == action]


def expand(text: str, workflow: dict[Any, Any]) -> str:
    """``$NAME`` and ``${NAME}`` replaced by the workflow's own ``env:`` values (as the shell would)."""
    values = workflow.get("env", {})
    return re.sub(r"\$\{?([A-Z_][A-Z0-9_]*)\}?", lambda m: str(values.get(m.group(1), m.group(0))), text)


def module_arguments(workflow: dict[Any, Any], module: str) -> list[list[str]]:
    """The arguments after ``python -m MODULE`` in each command that runs it (up to a redirection or ``||``)."""
    found = []
    for line in commands(workflow):
        words = shlex.split(line)
        for index in range(len(words) - 1):
            if words[index] == "-m" and words[index + 1] == module:
                rest = words[index + 2:]
                ends = [rest.index(word) for word in (">", "||", "&&", "|", ";") if word in rest]
                found.append(rest[:min(ends)] if ends else rest)
    return found


def pytest_arguments(workflow: dict[Any, Any]) -> list[list[str]]:
    """The arguments after ``python -m pytest`` in each command that runs pytest."""
    return module_arguments(workflow, "pytest")


def pip_installs(workflow: dict[Any, Any]) -> list[list[str]]:
    """The words after ``pip install`` in each command that installs something."""
    found = []
    for line in commands(workflow):
        words = shlex.split(line)
        for index in range(len(words) - 1):
            if words[index] == "pip" and words[index + 1] == "install":
                found.append(words[index + 2:])
    return found


def diff_commands(workflow: dict[Any, Any]) -> list[tuple[list[str], str]]:
    """Each ``python -m pytest_convbudget diff`` of a workflow: its arguments, and the file its stdout goes to."""
    found = []
    for line in commands(workflow):
        if re.search(r"-m\s+pytest_convbudget\s+diff\b", line):
            words = shlex.split(line)
            start = words.index("pytest_convbudget") + 1
            redirect = words.index(">")
            found.append((words[start:redirect], words[redirect + 1]))
    return found


def diff_command(workflow: dict[Any, Any], format: str = "markdown") -> tuple[list[str], str]:
    """The one ``diff`` of a workflow that writes FORMAT (the comment by default; ``html``: the page)."""
    (found,) = [(arguments, output) for arguments, output in diff_commands(workflow)
                if option(arguments, "--format") == format]
    return found


def gh_runs(workflow: dict[Any, Any], subcommand: str) -> list[list[str]]:
    """The words of each ``gh run SUBCOMMAND``, also one inside ``$(...)``."""
    found = []
    for line in commands(workflow):
        match = re.search(rf"\bgh run {subcommand}\b[^)]*", line)
        if match:
            found.append(shlex.split(match.group(0)))
    return found


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def artifact_names(paths: list[str]) -> dict[str, str]:
    """Where each uploaded file lies inside the artifact: upload-artifact drops the least
    common ancestor folder of its paths (of a single file, its folder)."""
    parts = [PurePosixPath(path).parts for path in paths]
    common = parts[0][:-1] if len(parts) == 1 else tuple(os.path.commonprefix(parts))
    return {path: str(PurePosixPath(*split[len(common):])) for path, split in zip(paths, parts)}


def pr_number_file(workflow: dict[Any, Any]) -> str:
    """The file the PR job writes the pull request's number to."""
    (target,) = [shlex.split(line)[-1] for line in commands(workflow) if "$PR_NUMBER" in line and ">" in line]
    return target


class _OptionRecorder:
    """Stands in for pytest's parser and option group: records what the plugin registers."""

    def __init__(self) -> None:
        self.options: dict[str, dict[str, Any]] = {}

    def getgroup(self, name: str, description: str = "") -> _OptionRecorder:
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        for name in names:
            self.options[name] = attrs


@pytest.fixture(scope="module")
def plugin_options() -> argparse.ArgumentParser:
    """An argparse parser with exactly the plugin's own options, as registered by its pytest_addoption."""
    recorder = _OptionRecorder()
    plugin.pytest_addoption(recorder)  # type: ignore[arg-type]
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for name, attrs in recorder.options.items():
        parser.add_argument(name, **attrs)
    return parser


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[Any, Any]]:
    return {path.name: load(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def _pr_gate(workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser,
             name: str = PR) -> argparse.Namespace:
    """The ``--conv-*`` options of the one pytest run of a PR workflow (in the sharded one: each shard's)."""
    (pr_args,) = pytest_arguments(workflows[name])
    return plugin_options.parse_args([word for word in pr_args if word.startswith("--conv")])


def _run_uploads(workflows: dict[str, dict[Any, Any]], name: str) -> dict[str, Any]:
    """The upload step of PR workflow NAME that hands the comment workflow its artifact."""
    (upload,) = [step for step in uses(workflows[name], "actions/upload-artifact") if step["with"]["name"] == RUN_ARTIFACT]
    return upload


def _run_file(workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser, name: str) -> str:
    """The run file PR workflow NAME uploads for the comment: the gate's, or the sharded one's merged file."""
    if name == PR:
        return _pr_gate(workflows, plugin_options).conv_json
    (merge,) = module_arguments(workflows[name], "pytest_convbudget")
    return build_parser().parse_args(merge).output.as_posix()


def _shard_values(workflows: dict[str, dict[Any, Any]]) -> list[Any]:
    return workflows[SHARDED]["jobs"]["compare"]["strategy"]["matrix"]["shard"]


def _per_shard(text: str, shard: Any) -> str:
    """TEXT as one shard sees it: ``${{ matrix.shard }}`` and the step's ``$SHARD`` replaced by its value."""
    return re.sub(r"\$\{\{\s*matrix\.shard\s*\}\}|\$\{SHARD\}|\$SHARD(?![A-Za-z0-9_])", str(shard), text)


def test_the_workflows_are_there_and_parse(workflows: dict[str, dict[Any, Any]]) -> None:
    """The README points at these files; each is a mapping with a name, triggers and one job, but the
    sharded PR workflow, which has two: the shards, and the merge of their run files."""
    assert sorted(workflows) == sorted([BASELINE, PR, SHARDED, COMMENT])
    for name, workflow in workflows.items():
        assert isinstance(workflow["name"], str) and workflow["name"]
        triggers(workflow)
        if name == SHARDED:
            assert list(workflow["jobs"]) == ["compare", "merge"]
        else:
            only_job(workflow)


def test_triggers_fire_on_main_on_pull_requests_and_after_the_pr_workflow(workflows: dict[str, dict[Any, Any]]) -> None:
    """Baseline on pushes to main; the comparison on pull_request (never pull_request_target, which runs
    untrusted code with secrets); the comment after the PR workflow, named by its exact ``name:``."""
    assert "main" in triggers(workflows[BASELINE])["push"]["branches"]
    for name in GATES:
        assert "pull_request" in triggers(workflows[name])
    assert triggers(workflows[SHARDED]) == triggers(workflows[PR])
    assert all("pull_request_target" not in triggers(w) for w in workflows.values())
    run = triggers(workflows[COMMENT])["workflow_run"]
    assert run["workflows"] == [workflows[PR]["name"]]
    assert "completed" in run["types"]
    assert only_job(workflows[COMMENT])["if"] == "github.event.workflow_run.event == 'pull_request'"


def _write_scopes(workflow: dict[Any, Any]) -> list[str]:
    tables = [workflow.get("permissions", {})] + [job.get("permissions", {}) for job in workflow["jobs"].values()]
    found = []
    for table in tables:
        if isinstance(table, str):  # read-all / write-all
            found += [table] if "write" in table else []
        else:
            found += [scope for scope, level in table.items() if level == "write"]
    return found


def test_the_sharded_workflow_is_the_pr_workflow_under_the_same_name(workflows: dict[str, dict[Any, Any]]) -> None:
    """The comment workflow starts after the workflow *named* "conv budget PR": the sharded one must
    have that name (and the PR one's triggers and permissions) so a user can install either, and
    say in its header that it replaces convbudget-pr.yml rather than joining it."""
    sharded, pr = workflows[SHARDED], workflows[PR]
    assert sharded["name"] == pr["name"] == "conv budget PR"
    assert sharded["permissions"] == pr["permissions"]
    header = (WORKFLOWS / SHARDED).read_text(encoding="utf-8").split("\nname:", 1)[0]
    assert "Copy to .github/workflows/convbudget-pr.yml" in header and PR in header and "never both" in header


def test_jobs_that_run_repository_code_cannot_write(workflows: dict[str, dict[Any, Any]]) -> None:
    """The PR jobs run a fork's code: a read-only token, not even left in .git/config. The baseline job
    needs no write either."""
    for name in GATES:
        assert "permissions" in workflows[name]
        assert _write_scopes(workflows[name]) == [], name
        checkouts = uses(workflows[name], "actions/checkout")
        assert checkouts, name
        assert all(checkout["with"]["persist-credentials"] is False for checkout in checkouts), name
    assert _write_scopes(workflows[BASELINE]) == []


def test_the_comment_job_has_the_least_permissions_it_posts_with(workflows: dict[str, dict[Any, Any]]) -> None:
    """Write comments; read the runs and artifacts; read the default branch for its pyproject.toml. Nothing else."""
    comment = workflows[COMMENT]
    assert comment["permissions"] == {"pull-requests": "write", "actions": "read", "contents": "read"}
    assert "permissions" not in only_job(comment)
    assert _write_scopes(comment) == ["pull-requests"]


def test_the_comment_job_checks_out_only_the_default_branch(workflows: dict[str, dict[Any, Any]]) -> None:
    """Under workflow_run, a checkout with no ``ref`` is the default branch: trusted code and
    configuration. A ``ref`` or ``repository`` (the PR's head, the workflow_run's head_sha or head
    repository) would hand the write token's job the pull request's code. No credentials are kept."""
    (checkout,) = uses(workflows[COMMENT], "actions/checkout")
    options = checkout.get("with", {})
    assert set(options) == {"persist-credentials"}, sorted(options)
    assert options["persist-credentials"] is False
    text = (WORKFLOWS / COMMENT).read_text(encoding="utf-8")
    for head in ("head_sha", "head_branch", "head_repository", "head.sha", "head.ref", "refs/pull"):
        assert not re.search(rf"^\s*(ref|repository):.*{re.escape(head)}", text, re.MULTILINE), head


def test_the_comment_job_never_runs_pytest_or_the_repository(workflows: dict[str, dict[Any, Any]]) -> None:
    """The comment job installs no project and runs no test: the only program it runs on the pull
    request's data is the pinned release's ``diff``, which reads JSON."""
    comment = workflows[COMMENT]
    assert pytest_arguments(comment) == []
    for line in commands(comment):
        words = shlex.split(line)
        assert not {"pytest", "py.test", "tox", "nox", "make", "source", "."} & set(words[:1]), line
        assert not re.search(r"\bpytest\b|\bconftest\b", line.replace("pytest-convbudget", "")), line
    assert {arguments[0] for arguments in module_arguments(comment, "pytest_convbudget")} == {"diff"}
    for install in pip_installs(comment):
        assert not {"-e", "--editable", ".", "-r", "--requirement"} & set(install), install
    assert [step["uses"].split("@")[0] for step in steps(comment) if "uses" in step] == [
        "actions/checkout", "actions/setup-python", "actions/download-artifact", "actions/upload-artifact",
    ]


def test_every_workflow_installs_the_release_pinned_at_its_top(workflows: dict[str, dict[Any, Any]]) -> None:
    """One ``CONVBUDGET_VERSION`` per workflow, equal to this project's version, so the copied
    examples never drift from the release they were written for, and the run files the jobs
    exchange are written and read by the same release."""
    version = project_version()
    for name, workflow in workflows.items():
        assert workflow["env"][PIN] == version, name
        requirements = [word for install in pip_installs(workflow) for word in install
                        if word.startswith("pytest-convbudget")]
        assert requirements, f"{name} installs no pytest-convbudget"
        assert all(word == f"pytest-convbudget==${PIN}" for word in requirements), requirements
        assert {expand(word, workflow) for word in requirements} == {f"pytest-convbudget=={version}"}


def _html_extra() -> list[str]:
    """The requirements of this project's ``html`` extra: what the page needs besides the package."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"]["html"]


def test_the_comment_job_installs_the_pinned_release_alone(workflows: dict[str, dict[Any, Any]]) -> None:
    """``--no-deps``: diff needs neither torch nor pytest; on Python 3.11 its only other need for
    markdown, tomllib, is in the standard library. The page needs jinja2 (the ``html`` extra, as
    this project's pyproject.toml says it), installed on its own: nothing else comes with the pin."""
    comment = workflows[COMMENT]
    (install, page) = pip_installs(comment)
    assert "--no-deps" in install
    assert [expand(word, comment) for word in install if not word.startswith("-")] == [
        f"pytest-convbudget=={project_version()}"
    ]
    assert page == _html_extra()
    assert not [word for word in page if re.match(r"(torch|pytest)\b", word)], page
    (setup,) = uses(comment, "actions/setup-python")
    assert tuple(int(part) for part in str(setup["with"]["python-version"]).split(".")) >= (3, 11)


def test_the_comment_is_rendered_by_diff_with_the_trusted_config(workflows: dict[str, dict[Any, Any]]) -> None:
    """Markdown from the two run files, judged by the default branch's ``[tool.convbudget]``
    (the checkout's root, where ``--config`` points), with nothing overridden on the command line;
    ``--page-url`` is this run's own page (GitHub's variables, not the PR run's id: the page is
    this run's artifact), which lists the page's artifact. Needs diff's ``--page-url``."""
    arguments, output = diff_command(workflows[COMMENT])
    args = build_parser().parse_args(arguments)
    assert args.command == "diff" and args.format == "markdown"
    assert args.config == Path("pyproject.toml")
    assert args.max_increase is None and args.budget == "fail"
    assert args.page_url == RUN_URL
    assert f"body=@{output}" in "\n".join(commands(workflows[COMMENT]))


def test_the_page_is_rendered_from_the_same_files_and_kept_before_the_comment_is_posted(
    workflows: dict[str, dict[Any, Any]],
) -> None:
    """The HTML page: the same release's diff, on the same two (validated) files with the same
    trusted config, after the comment's render step (which refuses a bad run file first); uploaded
    as ``convbudget-report`` before the comment that links to it is posted."""
    comment = workflows[COMMENT]
    markdown, comment_file = diff_command(comment)
    html, page = diff_command(comment, "html")
    assert len(diff_commands(comment)) == 2
    args = build_parser().parse_args(html)
    assert args.command == "diff" and args.format == "html"
    assert html[1:3] == markdown[1:3]  # base and head
    assert args.config == Path("pyproject.toml")
    assert args.max_increase is None and args.budget == "fail"

    job_steps = only_job(comment)["steps"]
    index = {key: next(i for i, step in enumerate(job_steps) if found(step)) for key, found in {
        "comment": lambda step: "--format markdown" in step.get("run", ""),
        "page": lambda step: "--format html" in step.get("run", ""),
        "upload": lambda step: step.get("uses", "").startswith("actions/upload-artifact@"),
        "post": lambda step: "body=@" in step.get("run", ""),
    }.items()}
    assert index["comment"] < index["page"] < index["upload"] < index["post"], index
    upload = job_steps[index["upload"]]
    assert upload["with"]["name"] == PAGE_ARTIFACT and upload["with"]["path"] == page
    assert "if" not in upload and "continue-on-error" not in upload
    page_script = job_steps[index["page"]]["run"]
    assert script_lines(page_script)[0] == f'test -s {comment_file} || {{ echo "no comment: no page"; exit 0; }}'
    assert f"rm -f {page} {comment_file}" in page_script and 'exit "$status"' in page_script


def test_diff_exit_1_is_posted_and_exit_2_fails_the_job(workflows: dict[str, dict[Any, Any]]) -> None:
    """The render step keeps diff's exit status: 0 and 1 (regressions, over budget) go on to the
    post step; anything else removes the comment and fails the step, and so the job, before the
    post step. The post step is the last, and neither it nor any step between (the page, its
    upload) runs after a failure or lets one pass."""
    job_steps = only_job(workflows[COMMENT])["steps"]
    (render,) = [step for step in job_steps if "--format markdown" in step.get("run", "")]
    post = job_steps[-1]
    assert "body=@" in post["run"]
    for step in job_steps[job_steps.index(render):]:
        assert "continue-on-error" not in step, step.get("name")
        assert step is render or "if" not in step, step.get("name")
    lines = script_lines(render["run"])
    diff_line = next(line for line in lines if "-m pytest_convbudget diff" in line)
    assert diff_line.endswith("|| status=$?")
    assert 'case "$status" in' in lines and "0|1)" in lines and "*)" in lines
    assert 'exit "$status"' in lines
    assert f'[ "$(head -n 1 {diff_command(workflows[COMMENT])[1]})" = "{COMMENT_MARKER}" ]' in render["run"]


def test_no_workflow_overrides_max_increase(workflows: dict[str, dict[Any, Any]]) -> None:
    """``--conv-max-increase`` (or diff's ``--max-increase``) on a command line beats every
    ``max_increase`` of pyproject.toml, patterns included: the project's table decides."""
    for name, workflow in workflows.items():
        for line in commands(workflow):
            assert "--conv-max-increase" not in line and "--max-increase" not in line, (name, line)


def test_no_expression_is_pasted_into_a_script(workflows: dict[str, dict[Any, Any]]) -> None:
    """``${{ ... }}`` inside ``run:`` is pasted into the script before bash reads it; values go
    through ``env:`` so that none can become shell code."""
    for name, workflow in workflows.items():
        for step in steps(workflow):
            assert "${{" not in step.get("run", ""), (name, step.get("name"))


def test_the_baseline_comes_from_pushes_to_main_only(workflows: dict[str, dict[Any, Any]]) -> None:
    """A pull request can run an edited copy of the baseline workflow from a branch it calls
    ``main``: both consumers take the latest successful run of a *push* to main, and the baseline
    workflow is triggered by nothing a pull request controls."""
    for name in (PR, SHARDED, COMMENT):
        (listing,) = gh_runs(workflows[name], "list")
        assert option(listing, "--workflow") == BASELINE
        assert option(listing, "--branch") == "main"
        assert option(listing, "--event") == "push"
        assert option(listing, "--status") == "success"
    baseline_triggers = triggers(workflows[BASELINE])
    assert baseline_triggers["push"]["branches"] == ["main"]
    assert not {"pull_request", "pull_request_target", "workflow_run", "issue_comment"} & set(baseline_triggers)


def test_artifact_names_match_between_upload_and_download(workflows: dict[str, dict[Any, Any]]) -> None:
    """A misspelt artifact name makes the download fail (or, with gh, find nothing) only in the user's CI."""
    uploaded: dict[str, set[str]] = {}
    for name, workflow in workflows.items():
        for step in uses(workflow, "actions/upload-artifact"):
            uploaded.setdefault(step["with"]["name"], set()).add(name)
    downloads = [step["with"]["name"] for step in uses(workflows[COMMENT], "actions/download-artifact")]
    assert downloads == [RUN_ARTIFACT]
    assert uploaded[RUN_ARTIFACT] == set(GATES)
    assert uploaded[PAGE_ARTIFACT] == {COMMENT}
    (download,) = uses(workflows[COMMENT], "actions/download-artifact")
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"

    for name in (PR, SHARDED, COMMENT):
        (words,) = gh_runs(workflows[name], "download")
        assert uploaded[option(words, "--name")] == {BASELINE}

    # The sharded workflow's merge job takes every shard's artifact, and nothing else, by pattern.
    sharded = workflows[SHARDED]
    (shard_upload,) = uses(job_workflow(sharded, "compare"), "actions/upload-artifact")
    (shard_download,) = uses(job_workflow(sharded, "merge"), "actions/download-artifact")
    assert "name" not in shard_download["with"] and "run-id" not in shard_download["with"]  # this run's own
    names = [_per_shard(shard_upload["with"]["name"], shard) for shard in _shard_values(workflows)]
    assert len(set(names)) == len(names) == 2
    every = {name for workflow in workflows.values() for step in uses(workflow, "actions/upload-artifact")
             for name in [step["with"]["name"]]}
    matched = [name for name in every | set(names) if fnmatch.fnmatchcase(name, shard_download["with"]["pattern"])]
    assert sorted(matched) == sorted(names + [shard_upload["with"]["name"]])


def test_the_pr_job_uploads_data_only(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """The PR job's artifact is its run file and the pull request's number: no markdown, no HTML,
    nothing rendered by the pull request's code; and it never runs ``pytest_convbudget`` itself.
    The sharded one's likewise: each shard uploads its run file alone, and the merge job the
    merged run file and the number; ``merge`` is all it runs of ``pytest_convbudget``."""
    for name in GATES:
        compared = _pr_gate(workflows, plugin_options, name)
        for output in file_outputs():
            assert getattr(compared, output.dest) is None, (name, output.option)
        upload = _run_uploads(workflows, name)
        assert sorted(upload["with"]["path"].split()) == sorted(
            [_run_file(workflows, plugin_options, name), pr_number_file(workflows[name])])
        assert not any(".md" in line or "comment" in line or ".html" in line for line in commands(workflows[name]))
    assert module_arguments(workflows[PR], "pytest_convbudget") == []
    assert [words[0] for words in module_arguments(workflows[SHARDED], "pytest_convbudget")] == ["merge"]
    (shard_upload,) = uses(job_workflow(workflows[SHARDED], "compare"), "actions/upload-artifact")
    shard = _pr_gate(workflows, plugin_options, SHARDED)
    assert shard_upload["with"]["path"] == _per_shard(shard.conv_json, "${{ matrix.shard }}")


def test_files_line_up_between_the_jobs(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """The baseline both consumers read is the file main uploaded; the run file and number the
    comment job reads are the PR job's; the comment diff writes is the one posted."""
    (baseline_args,) = pytest_arguments(workflows[BASELINE])
    saved, _ = plugin_options.parse_known_args(baseline_args)
    (upload,) = uses(workflows[BASELINE], "actions/upload-artifact")
    assert upload["with"]["path"] == saved.conv_save_baseline
    baseline_name = artifact_names([saved.conv_save_baseline])[saved.conv_save_baseline]

    compared = _pr_gate(workflows, plugin_options)
    (words,) = gh_runs(workflows[PR], "download")
    assert compared.conv_baseline == f"{option(words, '--dir')}/{baseline_name}"

    arguments, _ = diff_command(workflows[COMMENT])
    (words,) = gh_runs(workflows[COMMENT], "download")
    assert arguments[1] == f"{option(words, '--dir')}/{baseline_name}"

    (pr_upload,) = uses(workflows[PR], "actions/upload-artifact")
    inside = artifact_names(pr_upload["with"]["path"].split())
    (download,) = uses(workflows[COMMENT], "actions/download-artifact")
    folder = download["with"]["path"]
    assert folder not in ("", ".", "./"), "the artifact must not land over the trusted checkout"
    assert option(words, "--dir") != folder
    assert arguments[2] == f"{folder}/{inside[compared.conv_json]}"
    script = "\n".join(commands(workflows[COMMENT]))
    assert f"cat {folder}/{inside[pr_number_file(workflows[PR])]}" in script
    assert f"test -s {arguments[1]}" in script and f"test -s {arguments[2]}" in script

    # The sharded workflow's artifact holds the same two files under the same names.
    sharded_inside = artifact_names(_run_uploads(workflows, SHARDED)["with"]["path"].split())
    assert sharded_inside[_run_file(workflows, plugin_options, SHARDED)] == inside[compared.conv_json]
    assert sharded_inside[pr_number_file(workflows[SHARDED])] == inside[pr_number_file(workflows[PR])]


def test_the_shards_run_files_reach_the_merge(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """Each shard writes ``--conv-run-file`` for its own number and uploads that file; the merge job
    downloads every shard's artifact into one folder (``merge-multiple``) and merges exactly the
    files they hold there, one per shard, into the run file it uploads."""
    sharded = workflows[SHARDED]
    shard = _pr_gate(workflows, plugin_options, SHARDED)
    (upload,) = uses(job_workflow(sharded, "compare"), "actions/upload-artifact")
    (download,) = uses(job_workflow(sharded, "merge"), "actions/download-artifact")
    assert download["with"]["merge-multiple"] is True
    folder = download["with"]["path"]
    assert folder not in ("", ".", "./")
    landed = []
    for value in _shard_values(workflows):
        path = _per_shard(upload["with"]["path"], value)
        assert path == _per_shard(shard.conv_json, value)
        landed.append(f"{folder}/{artifact_names([path])[path]}")
    assert len(set(landed)) == len(landed)
    (merge,) = module_arguments(sharded, "pytest_convbudget")
    args = build_parser().parse_args(merge)
    assert args.command == "merge"
    assert [path.as_posix() for path in args.shards] == landed
    assert args.output.as_posix() == _run_file(workflows, plugin_options, SHARDED)


def test_the_pull_request_number_is_checked_before_use(workflows: dict[str, dict[Any, Any]]) -> None:
    """The number comes from the pull request's code: digits only, and a pull request of this
    repository whose head is the commit the PR run tested; only then does it reach later steps."""
    (check,) = [step for step in steps(workflows[COMMENT]) if "pr-number.txt" in step.get("run", "")]
    assert check["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    lines = script_lines(check["run"])
    assert lines[1] == """case "$pr" in ''|*[!0-9]*) echo "bad pull request number"; exit 1;; esac"""
    assert 'pr_sha=$(gh api "repos/$GITHUB_REPOSITORY/pulls/$pr" --jq .head.sha)' in lines
    assert lines[-1] == 'echo "PR_NUMBER=$pr" >> "$GITHUB_ENV"'


def test_every_conv_option_in_the_workflows_is_a_real_plugin_option(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """A renamed option would turn the copied workflow into a usage error; each value must also parse."""
    registered = {name for action in plugin_options._actions for name in action.option_strings}
    used = {
        match for workflow in workflows.values() for line in commands(workflow)
        for match in re.findall(r"--conv-[a-z-]+", line)
    }
    assert used, "the workflows should exercise the plugin's options"
    assert used <= registered, sorted(used - registered)
    for arguments in (args for workflow in workflows.values() for args in pytest_arguments(workflow)):
        plugin_options.parse_args([word for word in arguments if word.startswith("--conv")])  # raises on a bad value


def test_the_pr_job_gates_and_requires_its_baseline(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """The point of the PR workflow (the required check): compare, fail over budget or past the
    ``max_increase`` of pyproject.toml, and fail if main's baseline went missing."""
    compared = _pr_gate(workflows, plugin_options)
    assert compared.conv_baseline and compared.conv_json
    assert compared.conv_require_baseline is True
    assert compared.conv_max_increase is None
    assert compared.conv_budget is None  # over budget fails (the default)


def test_the_sharded_gate_splits_the_suite_and_gates_each_shard(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """Two shards of one matrix, not cancelled by each other's failure (the merge needs both run
    files), each running its group of pytest-split's ``--splits 2`` and gated as the PR job is; the
    merge job runs after both, also when one failed (the comment still comes), and fails when a
    shard did not pass, so that it is the one check to require."""
    sharded = workflows[SHARDED]
    compare, merge = sharded["jobs"]["compare"], sharded["jobs"]["merge"]
    assert compare["strategy"]["fail-fast"] is False
    shards = _shard_values(workflows)
    assert shards == [1, 2]
    (gate_step,) = [step for step in compare["steps"] if "-m pytest" in step.get("run", "")]
    assert gate_step["env"]["SHARD"] == "${{ matrix.shard }}"
    (arguments,) = pytest_arguments(sharded)
    assert option(arguments, "--splits") == str(len(shards))
    assert option(arguments, "--group") == "$SHARD"
    assert any("pytest-split" in install for install in pip_installs(job_workflow(sharded, "compare")))

    shard, whole = _pr_gate(workflows, plugin_options, SHARDED), _pr_gate(workflows, plugin_options)
    assert shard.conv_require_baseline is True and shard.conv_baseline == whole.conv_baseline
    assert shard.conv_max_increase is None and shard.conv_budget is None
    assert len({_per_shard(shard.conv_json, value) for value in shards}) == len(shards)
    assert shard.conv_report == whole.conv_report
    assert [word for word in arguments if not word.startswith("--conv")] == [
        "tests", "--splits", str(len(shards)), "--group", "$SHARD"]

    assert merge["needs"] == "compare"
    assert merge["if"] == "always()"
    last = merge["steps"][-1]
    assert last["if"] == "always()" and last["env"]["SHARDS"] == "${{ needs.compare.result }}"
    assert script_lines(last["run"]) == ['[ "$SHARDS" = success ] || { echo "a shard did not pass: $SHARDS"; exit 1; }']
    for step in merge["steps"]:  # the number and the upload come also when the merge failed
        if step.get("uses", "").startswith("actions/upload-artifact@") or "$PR_NUMBER" in step.get("run", ""):
            assert step["if"] == "always()", step


def test_every_pytest_convbudget_subcommand_used_exists(workflows: dict[str, dict[Any, Any]]) -> None:
    """`python -m pytest_convbudget <cmd>` in a workflow must name a command the CLI has, and its
    arguments must parse (``merge`` is the sharded workflow's)."""
    (subparsers,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    available = set(subparsers.choices)
    assert {"profile", "diff"} <= available
    used = {
        match for workflow in workflows.values() for line in commands(workflow)
        for match in re.findall(r"-m\s+pytest_convbudget\s+(\S+)", line)
    }
    used |= {"diff" for workflow in workflows.values() for line in commands(workflow) if "convbudget-diff" in line}
    assert used >= {"diff", "merge"}, "the comment workflow renders with diff; the sharded one merges"
    assert used <= available, sorted(used - available)
    for workflow in workflows.values():
        for arguments in module_arguments(workflow, "pytest_convbudget"):
            build_parser().parse_args(arguments)  # exits (SystemExit) on an unknown option


def test_the_sticky_comment_is_found_by_the_exact_marker(workflows: dict[str, dict[Any, Any]]) -> None:
    """The jq filter must match the marker the markdown starts with, or every run posts a new comment;
    and only the bot's own comment, since anyone can post one that starts with the marker."""
    script = "\n".join(commands(workflows[COMMENT]))
    markers = re.findall(r'startswith\("([^"]*)"\)', script)
    assert markers == [COMMENT_MARKER]
    assert '.user.login == "github-actions[bot]"' in script


def _workflow_paths() -> list[str]:
    return [str(path) for path in sorted(WORKFLOWS.glob("*.yml"))]


def _required(variable: str) -> bool:
    return os.environ.get(variable, "") not in ("", "0")


def test_every_workflow_is_valid_against_githubs_workflow_schema() -> None:
    """GitHub's workflow schema (SchemaStore's, vendored by check-jsonschema, from the test extra):
    a misspelt key, permission scope or value type that YAML alone accepts. Skipped only where
    check-jsonschema is missing and CONVBUDGET_REQUIRE_WORKFLOW_SCHEMA is unset."""
    try:
        import check_jsonschema  # noqa: F401
    except ImportError:
        if _required("CONVBUDGET_REQUIRE_WORKFLOW_SCHEMA"):
            pytest.fail("check-jsonschema is not installed and CONVBUDGET_REQUIRE_WORKFLOW_SCHEMA is set")
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *_workflow_paths()],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_check_catches_a_misspelt_permission(tmp_path: Path) -> None:
    """The check above is not vacuous: GitHub ignores no unknown permission scope, and neither does it."""
    pytest.importorskip("check_jsonschema")
    text = (WORKFLOWS / COMMENT).read_text(encoding="utf-8")
    assert "  pull-requests: write\n" in text
    bad = tmp_path / "misspelt.yml"
    bad.write_text(text.replace("  pull-requests: write\n", "  pull-request: write\n"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(bad)],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr


def test_actionlint_finds_nothing() -> None:
    """actionlint, where it is installed (on PATH): expressions, job ``needs``, action inputs, and with
    shellcheck on PATH the ``run:`` scripts too. Skipped only where it is missing and
    CONVBUDGET_REQUIRE_ACTIONLINT is unset."""
    binary = shutil.which("actionlint")
    if binary is None:
        if _required("CONVBUDGET_REQUIRE_ACTIONLINT"):
            pytest.fail("actionlint is not on PATH and CONVBUDGET_REQUIRE_ACTIONLINT is set")
        pytest.skip("actionlint is not on PATH")
    done = subprocess.run([binary, "-no-color", "-oneline", *_workflow_paths()], check=False,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
