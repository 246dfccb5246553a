"""The GitHub Actions workflows in ``examples/github``: users copy them as they are, so they must work as they are.

Nothing here runs GitHub; the tests read the YAML and check what can break
silently: triggers that never fire, a token that can write where untrusted
code runs, artifact names or paths that do not line up between jobs, and
``--conv-*`` options or subcommands that the plugin does not have (pytest
would stop with a usage error in the user's CI, not in ours).
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any, Iterator

import pytest

from pytest_convbudget import plugin
from pytest_convbudget.cli import build_parser
from pytest_convbudget.render.markdown import COMMENT_MARKER

yaml = pytest.importorskip("yaml")

WORKFLOWS = Path(__file__).resolve().parent.parent / "examples" / "github"
BASELINE = "convbudget-baseline.yml"
PR = "convbudget-pr.yml"
COMMENT = "convbudget-comment.yml"


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` table; YAML 1.1 reads the bare key ``on`` as the boolean True."""
    value = workflow.get(True, workflow.get("on"))
    assert isinstance(value, dict), value
    return value


def steps(workflow: dict[Any, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job["steps"]


def commands(workflow: dict[Any, Any]) -> list[str]:
    """Every shell command of every ``run:`` step, one per line, backslash continuations joined."""
    lines = []
    for step in steps(workflow):
        if "run" in step:
            lines += [line.strip() for line in step["run"].replace("\\\n", " ").splitlines() if line.strip()]
    return lines


def uses(workflow: dict[Any, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(workflow) if step.get("uses", "").split("@")[0] == action]


def pytest_arguments(workflow: dict[Any, Any]) -> list[list[str]]:
    """The arguments after ``python -m pytest`` in each command that runs pytest."""
    found = []
    for line in commands(workflow):
        words = shlex.split(line)
        for index in range(len(words) - 1):
            if words[index] == "-m" and words[index + 1] == "pytest":
                found.append(words[index + 2:])
    return found


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


def test_the_three_workflows_are_there_and_parse(workflows: dict[str, dict[Any, Any]]) -> None:
    """The README points at these three files; each is a mapping with a name, triggers and jobs."""
    assert sorted(workflows) == sorted([BASELINE, PR, COMMENT])
    for workflow in workflows.values():
        assert isinstance(workflow["name"], str) and workflow["name"]
        triggers(workflow)
        assert workflow["jobs"]


def test_triggers_fire_on_main_on_pull_requests_and_after_the_pr_workflow(workflows: dict[str, dict[Any, Any]]) -> None:
    """Baseline on pushes to main; the comparison on pull_request (never pull_request_target, which runs
    untrusted code with secrets); the comment after the PR workflow, named by its exact ``name:``."""
    assert "main" in triggers(workflows[BASELINE])["push"]["branches"]
    pr_triggers = triggers(workflows[PR])
    assert "pull_request" in pr_triggers
    assert all("pull_request_target" not in triggers(w) for w in workflows.values())
    run = triggers(workflows[COMMENT])["workflow_run"]
    assert run["workflows"] == [workflows[PR]["name"]]
    assert "completed" in run["types"]


def _write_scopes(workflow: dict[Any, Any]) -> list[str]:
    tables = [workflow.get("permissions", {})] + [job.get("permissions", {}) for job in workflow["jobs"].values()]
    found = []
    for table in tables:
        if isinstance(table, str):  # read-all / write-all
            found += [table] if "write" in table else []
        else:
            found += [scope for scope, level in table.items() if level == "write"]
    return found


def test_jobs_that_run_repository_code_cannot_write(workflows: dict[str, dict[Any, Any]]) -> None:
    """The PR job runs a fork's code: a read-only token. The baseline job needs no write either."""
    assert "permissions" in workflows[PR]
    assert _write_scopes(workflows[PR]) == []
    assert _write_scopes(workflows[BASELINE]) == []


def test_the_comment_workflow_writes_comments_and_never_checks_out_code(workflows: dict[str, dict[Any, Any]]) -> None:
    """The one job with a write token only reads an artifact: checking out the PR here would hand it the token."""
    comment = workflows[COMMENT]
    assert _write_scopes(comment) == ["pull-requests"]
    assert uses(comment, "actions/checkout") == []
    assert pytest_arguments(comment) == []  # and runs nothing from the repository


def test_artifact_names_match_between_upload_and_download(workflows: dict[str, dict[Any, Any]]) -> None:
    """A misspelt artifact name makes the download fail (or, with gh, find nothing) only in the user's CI."""
    uploaded = {
        step["with"]["name"]: name for name, workflow in workflows.items()
        for step in uses(workflow, "actions/upload-artifact")
    }
    downloads = [step["with"]["name"] for step in uses(workflows[COMMENT], "actions/download-artifact")]
    assert downloads == ["convbudget-comment"]
    assert uploaded["convbudget-comment"] == PR

    gh_downloads = [shlex.split(line) for line in commands(workflows[PR]) if line.startswith("gh run download")]
    assert len(gh_downloads) == 1
    words = gh_downloads[0]
    assert uploaded[words[words.index("--name") + 1]] == BASELINE
    listing = next(shlex.split(line.split("$(", 1)[1]) for line in commands(workflows[PR]) if "gh run list" in line)
    assert listing[listing.index("--workflow") + 1] == BASELINE


def test_files_line_up_between_the_jobs(workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser) -> None:
    """The baseline the PR job compares with is the file main uploaded, and the comment it writes is the one posted."""
    (baseline_args,) = pytest_arguments(workflows[BASELINE])
    (pr_args,) = pytest_arguments(workflows[PR])
    saved, _ = plugin_options.parse_known_args(baseline_args)
    compared, _ = plugin_options.parse_known_args(pr_args)

    (upload,) = uses(workflows[BASELINE], "actions/upload-artifact")
    assert upload["with"]["path"] == saved.conv_save_baseline
    words = next(shlex.split(line) for line in commands(workflows[PR]) if line.startswith("gh run download"))
    assert compared.conv_baseline == f"{words[words.index('--dir') + 1]}/{Path(saved.conv_save_baseline).name}"

    (pr_upload,) = uses(workflows[PR], "actions/upload-artifact")
    uploaded_paths = pr_upload["with"]["path"].split()
    assert compared.conv_json in uploaded_paths
    markdown_folder = str(Path(compared.conv_markdown).parent) + "/"
    assert markdown_folder in uploaded_paths
    comment_script = "\n".join(commands(workflows[COMMENT]))
    assert f"body=@{compared.conv_markdown}" in comment_script
    assert f"{markdown_folder}pr-number.txt" in comment_script
    assert any(f"> {markdown_folder}pr-number.txt" in line for line in commands(workflows[PR]))


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
        conv = [word for word in arguments if word.startswith("--conv")]
        namespace = plugin_options.parse_args(conv)  # raises on a bad choice or a missing value
        if namespace.conv_max_increase is not None:
            from pytest_convbudget.cli.diff import _percent

            assert _percent(namespace.conv_max_increase) >= 0


def test_the_pr_job_gates_and_requires_its_baseline(
    workflows: dict[str, dict[Any, Any]], plugin_options: argparse.ArgumentParser
) -> None:
    """The point of the PR workflow: compare, fail past the limit, and fail if main's baseline went missing."""
    (pr_args,) = pytest_arguments(workflows[PR])
    compared = plugin_options.parse_args([word for word in pr_args if word.startswith("--conv")])
    assert compared.conv_baseline and compared.conv_markdown and compared.conv_json
    assert compared.conv_require_baseline is True
    assert compared.conv_max_increase is not None


def test_every_pytest_convbudget_subcommand_used_exists(workflows: dict[str, dict[Any, Any]]) -> None:
    """`python -m pytest_convbudget <cmd>` in a workflow must name a command the CLI has."""
    (subparsers,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    available = set(subparsers.choices)
    assert {"profile", "diff"} <= available
    used = {
        match for workflow in workflows.values() for line in commands(workflow)
        for match in re.findall(r"-m\s+pytest_convbudget\s+(\S+)", line)
    }
    used |= {"diff" for workflow in workflows.values() for line in commands(workflow) if "convbudget-diff" in line}
    assert used <= available, sorted(used - available)


def test_the_sticky_comment_is_found_by_the_exact_marker(workflows: dict[str, dict[Any, Any]]) -> None:
    """The jq filter must match the marker the markdown starts with, or every run posts a new comment."""
    script = "\n".join(commands(workflows[COMMENT]))
    markers = re.findall(r'startswith\("([^"]*)"\)', script)
    assert markers == [COMMENT_MARKER]
