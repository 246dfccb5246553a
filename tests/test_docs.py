"""The README and the documentation site cannot drift from what the code does.

* Every output they show is printed again here by the command shown, on this machine
  (the convention is in ``docs_support/shown_outputs.py`` and docs/development.md).
* The site builds with ``mkdocs build --strict`` (skipped when mkdocs is not installed).
* The README stays a two-minute read, and every relative link points at a file that exists.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from docs_support.shown_outputs import (
    REPO_ROOT,
    ConventionError,
    collect,
    compare,
    documents,
    matches,
    normalise,
    run_chains,
)

README = REPO_ROOT / "README.md"
README_MAX_BYTES = 12_000
# The shown outputs today; the test fails if the documents ever hold fewer, so it cannot pass vacuously.
MIN_SHOWN_BLOCKS = 17
MIN_SHOWN_IN_README = 3
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
README_COMMANDS = (
    "# 1. The main job: install, then run the plugin on the bundled example models, with its report\n"
    "python -m pip install torch==2.13.0 numpy -e . && python -m pytest examples --conv-report\n"
    "\n"
    "# 2. The tests: install with the test extras, then run the suite\n"
    'python -m pip install torch==2.13.0 -e ".[test]" && python -m pytest\n'
)


def test_the_documents_follow_the_shown_output_convention():
    blocks = collect()
    assert len(blocks) >= MIN_SHOWN_BLOCKS, f"only {len(blocks)} shown-output blocks: the documents lost some"
    assert sum(block.path == "README.md" for block in blocks) >= MIN_SHOWN_IN_README
    for block in blocks:
        assert any(line.strip() for step in block.steps for line in step.output), f"{block.where} shows no output"
        assert any(command.startswith("python ") for command in block.chain), f"{block.where} runs no python"


@pytest.mark.parametrize("text, error", [
    ("```console\n$ python -V\nPython 3\n```\n", "a ```console block is a shown output"),
    ("```text\n$ python -V\nPython 3\n```\n", "a `$ ` prompt outside a shown-output block"),
    ("<!-- shown-output -->\n```text\n$ python -V\n```\n", "must precede a ```console block"),
    ("<!-- shown-output -->\n\n```console\n$ python -V\n```\n", "on the line right before a ```console fence"),
    ("<!-- shown-output -->\n```console\nPython 3\n```\n", "starts with a `$ ` command"),
    ("<!-- shown-output: after=nowhere -->\n```console\n$ python -V\n```\n", "after=nowhere names no block"),
    ("<!-- shown-output: nme=a -->\n```console\n$ python -V\n```\n", "bad shown-output option 'nme=a'"),
    ("<!-- shown-output: name=a -->\n```console\n$ python -V\n```\n"
     "<!-- shown-output: name=a -->\n```console\n$ python -V\n```\n", "name=a is used twice"),
])
def test_the_convention_refuses_what_it_cannot_check(tmp_path, text, error):
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    with pytest.raises(ConventionError, match=re.escape(error)):
        collect([page])


def test_an_elision_stands_for_any_lines_and_only_the_seconds_are_masked():
    printed = normalise(["a", "b", "c", "==== 7 passed in 12.25s ====", ""])
    assert matches(normalise(["a", "...", "= 7 passed in 3.86s ="]), printed)
    assert matches(normalise(["...", "b", "...", "7 passed in 1s"]), printed)
    assert not matches(normalise(["a", "c", "...", "7 passed in 3.86s"]), printed)
    assert not matches(normalise(["a", "...", "7 passed, 1 warning in 3.86s"]), printed)


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("bash") is None,
                    reason="the shown commands are written for Linux: bash, GNU sed, head, cmp")
def test_every_shown_output_is_what_its_command_prints(tmp_path):
    blocks = collect()
    outputs = run_chains([block.chain for block in blocks], tmp_path)
    problems = [problem for block in blocks if (problem := compare(block, outputs)) is not None]
    assert not problems, "\n\n".join(problems)


def test_the_readme_opens_with_the_two_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    assert f"```bash\n{README_COMMANDS}```" in text
    head = text[:text.index("```bash")]
    assert head.count("\n## ") == 0, "the two commands come before the first section"
    assert "7 passed" in text and "torch==2.13.0" in text


def test_the_readme_is_a_two_minute_read():
    size = len(README.read_bytes())  # what `wc -c README.md` counts
    assert size <= README_MAX_BYTES, f"README.md is {size:,} bytes; at most {README_MAX_BYTES:,}"
    assert "../" not in README.read_text(encoding="utf-8"), "the README names a path outside the repository"


INLINE_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
FENCED = re.compile(r"^([ \t]*)(`{3,}|~{3,}).*?^\1\2[ \t]*$", re.MULTILINE | re.DOTALL)


def _prose(text: str) -> str:
    """The text less fenced blocks and code spans, where a link is no link."""
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", FENCED.sub("", text))


def _github_slug(heading: str) -> str:
    text = heading.strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _mkdocs_slug(heading: str) -> str:
    text = re.sub(r"`|\*\*?", "", heading)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(path: Path) -> tuple[set[str], set[str]]:
    headings = [m[1] for line in FENCED.sub("", path.read_text(encoding="utf-8")).splitlines()
                if (m := HEADING.match(line))]
    return {_github_slug(h) for h in headings}, {_mkdocs_slug(h) for h in headings}


def _links() -> list[tuple[str, str]]:
    found = []
    for path in [README, *documents()]:
        for target in INLINE_LINK.findall(_prose(path.read_text(encoding="utf-8"))):
            found.append((path.relative_to(REPO_ROOT).as_posix(), target))
    return sorted(set(found))


def test_every_relative_link_points_at_a_file_that_exists():
    links = _links()
    assert len(links) >= 20, "the documents link their pages to each other"
    broken = []
    for source, target in links:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        base = (REPO_ROOT / source).parent
        resolved = (base / file_part).resolve() if file_part else REPO_ROOT / source
        if not resolved.exists() or REPO_ROOT not in [resolved, *resolved.parents]:
            broken.append(f"{source}: {target} (no such file in the repository)")
        elif anchor and resolved.suffix == ".md":
            github, mkdocs = _anchors(resolved)
            if anchor not in github or anchor not in mkdocs:  # the same on GitHub and on the site
                broken.append(f"{source}: {target} (no heading #{anchor} in {resolved.name})")
    assert not broken, "\n".join(broken)


def test_the_architecture_page_names_every_module():
    """docs/architecture.md walks the package floor by floor: a module added or renamed shows up here."""
    page = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    package = REPO_ROOT / "pytest_convbudget"
    files = [path for path in package.rglob("*") if path.suffix in (".py", ".j2", ".css", ".js")
             and path.name not in ("__init__.py", "__main__.py") and "__pycache__" not in path.parts]
    assert len(files) >= 30
    unnamed = [path.relative_to(package).as_posix() for path in files if f"`{path.name}`" not in page]
    assert not unnamed, f"docs/architecture.md does not name {', '.join(sorted(unnamed))}"


def test_the_site_builds_strict(tmp_path):
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name.split(".")[0]) is None
               or importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs build needs {', '.join(missing)}: pip install mkdocs==1.6.1 mkdocs-material==9.8.1 "
                    "mkdocstrings==1.0.8 mkdocstrings-python==2.0.11")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner about MkDocs 2, not a warning of ours
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    reference = (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8")
    for name in ("profile", "ConvCost", "LayerCost", "ModuleCost", "IdleModule", "UncountedCall", "ProfileError",
                 "ModelChangedError", "parse_quantity", "format_quantity"):
        assert re.search(rf'id="pytest_convbudget\.[\w.]*\b{name}"', reference), f"the API reference lacks {name}"
