"""The README and the documentation site cannot drift from what the code does.

* Every output they show is printed again here by the command shown, on this machine
  (the convention is in ``docs_support/shown_outputs.py`` and docs/development.md).
* The site builds with ``mkdocs build --strict`` (skipped when mkdocs is not installed).
* The README stays a two-minute read, and every relative link points at a file that exists.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from docs_support.shown_outputs import REPO_ROOT, collect, compare, documents, run_chains

README = REPO_ROOT / "README.md"
README_MAX_BYTES = 12_000
# The shown outputs today; the test fails if the documents ever hold fewer, so it cannot pass vacuously.
MIN_SHOWN_BLOCKS = 14
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
        assert any(step.command.startswith("python ") for step in block.steps), f"{block.where} runs no python"


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
    text = re.sub(r"`|\*\*?|_(?=\w)|(?<=\w)_", "", heading).strip().lower()
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


def test_the_site_builds_strict(tmp_path):
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name.split(".")[0]) is None
               or importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"the docs build needs {', '.join(missing)}: pip install mkdocs==1.6.1 mkdocs-material==9.8.1 "
                    "mkdocstrings==1.0.8 mkdocstrings-python==2.0.11")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    assert (tmp_path / "site" / "reference" / "index.html").exists()
