"""Shown outputs: the console blocks of README.md and docs/*.md that claim to be what a command prints.

The convention (written for readers in docs/development.md, "Shown outputs"):

* ``<!-- shown-output -->`` on the line right before a ```` ```console ```` fence marks the
  block as a shown output. Options go after a colon: ``name=NAME`` names the block,
  ``after=NAME`` runs it in the folder as block ``NAME`` (and what that block ran after) left it.
  Names are unique across all the documents.
* In the block, a line that starts with ``$ `` is a command; the lines after it, up to the next
  command, are what it prints (stdout and stderr together, as a terminal shows them).
* A line ``...`` in an output stands for any number of lines left out (none included).
* Every ```` ```console ```` block is marked, and a ``$ `` prompt appears in no other block: an
  illustrative fragment goes in a ```` ```text ```` block, without a prompt.

Each command runs with bash in a fresh temporary folder holding a copy of the repository's
``examples/`` and ``pyproject.toml``, so a command reads as if typed at the repository root;
``python`` is the interpreter running the tests. The environment is the tests' own, 80 columns
wide, less what would change an output or reach outside the run (``PYTEST_*``, ``CONVBUDGET_*``,
``$GITHUB_STEP_SUMMARY``, colour settings). Only what differs between machines is masked:
the seconds at the end of pytest's last line. Trailing spaces and trailing blank lines are ignored.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/*.md")
MARKER = re.compile(r"^<!-- shown-output(?::(?P<options>[^>]*))? -->\s*$")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
PROMPT = "$ "
ELISION = "..."
# pytest's last line, "=== 7 passed in 3.86s ===" or "7 passed in 3.86s" (-q): the seconds and the
# width of the "=" padding around them differ from run to run.
PYTEST_LAST_LINE = re.compile(r"^(?:=+ )?(?P<summary>.+?) in [0-9]+(?:\.[0-9]+)?s(?: \([0-9:]+\))?(?: =+)?$")
COMMAND_TIMEOUT_S = 300


class ConventionError(AssertionError):
    """A document breaks the shown-output convention."""


@dataclass(frozen=True)
class Step:
    command: str
    output: tuple[str, ...]


@dataclass
class Block:
    path: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    name: str | None
    after: str | None
    steps: tuple[Step, ...]
    chain: tuple[str, ...] = field(default=())  # every command run, the ones of `after` first

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Fence:
    path: str
    line: int
    info: str
    body: tuple[str, ...]
    marker: str | None  # the marker's options ("" for a bare marker), None when unmarked


def documents() -> list[Path]:
    found: list[Path] = []
    for pattern in DOCUMENTS:
        found.extend(sorted(REPO_ROOT.glob(pattern)))
    return found


def fences(path: Path) -> list[Fence]:
    """Every fenced block of a markdown file, with the shown-output marker right before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    relative = path.relative_to(REPO_ROOT).as_posix() if REPO_ROOT in path.parents else path.name
    found: list[Fence] = []
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = index + 1
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        if end == len(lines):
            raise ConventionError(f"{relative}:{index + 1}: a fence that never closes")
        body = tuple(line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[index + 1:end])
        marker = MARKER.match(lines[index - 1]) if index else None
        found.append(Fence(relative, index + 1, opening["info"].strip(), body,
                           None if marker is None else (marker["options"] or "").strip()))
        index = end + 1
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("<!-- shown-output") and not (
            MARKER.match(line) and any(f.line == number + 1 and f.marker is not None for f in found)
        ):
            raise ConventionError(f"{relative}:{number}: a shown-output marker must be `<!-- shown-output -->` "
                                  "(or with `: name=... after=...`) on the line right before a ```console fence")
    return found


def _options(text: str, where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or key not in ("name", "after") or not value or key in options:
            raise ConventionError(f"{where}: bad shown-output option {item!r} (expected name=NAME and/or after=NAME)")
        options[key] = value
    return options


def _steps(body: tuple[str, ...], where: str) -> tuple[Step, ...]:
    if not body or not body[0].startswith(PROMPT):
        raise ConventionError(f"{where}: a shown-output block starts with a `$ ` command")
    steps: list[Step] = []
    for line in body:
        if line.startswith(PROMPT):
            steps.append(Step(line[len(PROMPT):].strip(), ()))
        else:
            steps[-1] = Step(steps[-1].command, steps[-1].output + (line,))
    return tuple(steps)


def collect(paths: list[Path] | None = None) -> list[Block]:
    """Every shown-output block, after checking the convention across all the documents."""
    blocks: list[Block] = []
    for path in documents() if paths is None else paths:
        for fence in fences(path):
            where = f"{fence.path}:{fence.line}"
            if fence.marker is None:
                if fence.info == "console":
                    raise ConventionError(f"{where}: a ```console block is a shown output: mark it "
                                          "`<!-- shown-output -->`, or make an illustrative fragment a ```text block")
                if any(line.startswith(PROMPT) for line in fence.body):
                    raise ConventionError(f"{where}: a `$ ` prompt outside a shown-output block: only a command "
                                          "whose output the tests check is written with a prompt")
                continue
            if fence.info != "console":
                raise ConventionError(f"{where}: a shown-output marker must precede a ```console block")
            options = _options(fence.marker, where)
            blocks.append(Block(fence.path, fence.line, options.get("name"), options.get("after"),
                                _steps(fence.body, where)))
    by_name: dict[str, Block] = {}
    for block in blocks:
        if block.name is not None:
            if block.name in by_name:
                raise ConventionError(f"{block.where}: name={block.name} is used twice")
            by_name[block.name] = block
    for block in blocks:
        block.chain = _chain(block, by_name, ())
    return blocks


def _chain(block: Block, by_name: dict[str, Block], seen: tuple[str, ...]) -> tuple[str, ...]:
    own = tuple(step.command for step in block.steps)
    if block.after is None:
        return own
    if block.after not in by_name:
        raise ConventionError(f"{block.where}: after={block.after} names no block")
    if block.after in seen:
        raise ConventionError(f"{block.where}: after={block.after} runs in a circle")
    return _chain(by_name[block.after], by_name, seen + (block.after,)) + own


def environment() -> dict[str, str]:
    """The tests' environment, less what would change a shown output or reach outside the run."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST_", "CONVBUDGET_"))
           and key not in ("GITHUB_STEP_SUMMARY", "FORCE_COLOR", "PY_COLORS", "NO_COLOR", "COLUMNS", "LINES", "CI", "BUILD_NUMBER")}
    env.update(COLUMNS="80", PYTHONIOENCODING="utf-8")
    return env


def prepare(folder: Path) -> None:
    """A folder that reads like the repository root: a copy of examples/ and pyproject.toml."""
    shutil.copytree(REPO_ROOT / "examples", folder / "examples",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    shutil.copyfile(REPO_ROOT / "pyproject.toml", folder / "pyproject.toml")


def run_command(command: str, folder: Path) -> str:
    python = f'python() {{ {shlex.quote(sys.executable)} "$@"; }}\n'
    done = subprocess.run(["bash", "-c", python + command], cwd=folder, env=environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=COMMAND_TIMEOUT_S)
    return done.stdout.decode("utf-8", errors="replace")


def run_chains(chains: list[tuple[str, ...]], scratch: Path, workers: int | None = None) -> dict[tuple[str, ...], str]:
    """Each chain's commands run in order in one folder; the output of every prefix, by prefix.

    Chains that begin alike run their common commands once: the folder is copied where they part.
    Independent commands run side by side.
    """
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for chain in chains:
        for end in range(1, len(chain) + 1):
            prefix, parent = chain[:end], chain[:end - 1]
            if prefix not in children.setdefault(parent, []):
                children[parent].append(prefix)
    outputs: dict[tuple[str, ...], str] = {}
    counter = iter(range(1_000_000))

    def fresh() -> Path:
        folder = scratch / f"run{next(counter)}"
        folder.mkdir()
        prepare(folder)
        return folder

    def run(prefix: tuple[str, ...], folder: Path) -> tuple[tuple[str, ...], Path]:
        outputs[prefix] = run_command(prefix[-1], folder)
        return prefix, folder

    workers = workers or max(2, min(4, os.cpu_count() or 2))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        pending = {pool.submit(run, prefix, fresh()) for prefix in children.get((), [])}
        while pending:
            done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                prefix, folder = future.result()
                following = children.get(prefix, [])
                for position, child in enumerate(following):
                    if position == len(following) - 1:
                        target = folder
                    else:
                        target = scratch / f"run{next(counter)}"
                        shutil.copytree(folder, target)
                    pending.add(pool.submit(run, child, target))
    return outputs


def normalise(lines: list[str] | tuple[str, ...]) -> list[str]:
    """Lines as compared: trailing spaces and trailing blank lines dropped, pytest's seconds masked."""
    result = [line.rstrip() for line in lines]
    while result and not result[-1]:
        result.pop()
    return [PYTEST_LAST_LINE.sub(r"\g<summary> in SECONDS", line) for line in result]


def matches(shown: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``shown`` with each ``...`` line standing for any run of lines."""
    pattern = "".join(r"(?:[^\n]*\n)*?" if line == ELISION else re.escape(line) + r"\n" for line in shown)
    return re.fullmatch(pattern, "".join(line + "\n" for line in actual)) is not None


def compare(block: Block, outputs: dict[tuple[str, ...], str]) -> str | None:
    """None when the block shows what its commands print; otherwise a readable difference."""
    problems: list[str] = []
    offset = len(block.chain) - len(block.steps)
    for number, step in enumerate(block.steps):
        prefix = block.chain[:offset + number + 1]
        shown, actual = normalise(step.output), normalise(outputs[prefix].splitlines())
        if not matches(shown, actual):
            diff = "\n".join(difflib.unified_diff(shown, actual, "shown", "printed", lineterm=""))
            problems.append(f"{block.where}: `$ {step.command}` printed something else:\n{diff}")
    return "\n\n".join(problems) or None


def main() -> None:
    """Print what every shown-output block's commands print now: ``python tests/docs_support/shown_outputs.py``."""
    blocks = collect()
    with tempfile.TemporaryDirectory() as scratch:
        outputs = run_chains([block.chain for block in blocks], Path(scratch))
    for block in blocks:
        print(f"===== {block.where}")
        offset = len(block.chain) - len(block.steps)
        for number, step in enumerate(block.steps):
            print(PROMPT + step.command)
            print(outputs[block.chain[:offset + number + 1]], end="")
        problem = compare(block, outputs)
        print(f"----- {'matches' if problem is None else 'DIFFERS'}")


if __name__ == "__main__":
    main()
