"""Every file and every terminal text the examples project produces, in one folder.

The pull-request flow on ``examples/`` as a user runs it: a baseline on main
(run file, baseline, comment, page and the ``--conv-report=layers`` text), a
branch that grows two models, adds one and drops one (compared with that
baseline: run file, comment, page, text), ``diff`` of the two in every format,
and ``profile`` of one model in every form. ``tests/data/examples_outputs/``
holds what version 0.2 produced; ``test_examples_outputs.py`` produces them
again and compares byte for byte, so a change of layout can never change an
output. Run ``python tests/examples_outputs.py OUT`` to write them by hand.

Only what differs between machines is masked: the seconds pytest took and
the versions a run file records, and pytest's header lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = REPO_ROOT / "examples"

# The branch: UNet3D wider (over its budget), the ViT's head wider (counted with every kind),
# ResNet-18 gone, a new model measured.
BRANCH_EDITS = (
    ("conv_cost(unet3d(), ", "conv_cost(unet3d(base=10), "),
    ("conv_cost(vit_tiny(), ", "conv_cost(vit_tiny(num_classes=40), "),
    ("def test_resnet18_fits(conv_cost):", "def _not_collected_resnet18(conv_cost):"),
)
NEW_TEST = '''

def test_new_student(conv_cost):
    conv_cost(resnet_style(num_classes=20), torch.randn(1, 3, 64, 64), name="new student")
'''
TIMING = re.compile(r"^=+ (.*) in [0-9.]+s( \([0-9:]+\))? =+$", re.MULTILINE)
VERSIONED = ("python", "torch", "pytest_convbudget")
MACHINE_LINES = re.compile(r"^(platform|rootdir|plugins|cachedir): .*$", re.MULTILINE)


# pytest prints whole messages in its short summary when $CI is set: a CI run must print what a laptop does.
CI_VARIABLES = ("CI", "BUILD_NUMBER")


def _run(args: list[str], cwd: Path) -> str:
    env = {key: value for key, value in os.environ.items() if key not in CI_VARIABLES}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=600)
    text = f"exit status {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    return MACHINE_LINES.sub(r"\1: MASKED", TIMING.sub(r"== \1 in SECONDS ==", text))


def _pytest(cwd: Path, *args: str) -> str:
    return _run([sys.executable, "-m", "pytest", "-p", "no:randomly", *args], cwd)


def _cli(cwd: Path, *args: str) -> str:
    return _run([sys.executable, "-m", "pytest_convbudget", *args], cwd)


def _mask_versions(path: Path) -> None:
    """A run file's environment names the machine's versions: masked, the rest kept byte for byte."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    for key in VERSIONED:
        value = data.get("environment", {}).get(key)
        if value is not None:
            for colon in (": ", ":"):  # version 2's compact layout, or version 1's indented one
                text = text.replace(f'"{key}"{colon}{json.dumps(value)}', f'"{key}"{colon}"VERSION"')
    path.write_text(text, encoding="utf-8")


def produce(out: Path, work: Path) -> None:
    """Write every output into ``out``; ``work`` is an empty scratch folder."""
    main = work / "main"
    branch = work / "branch"
    shutil.copytree(EXAMPLES_DIR, main, ignore=shutil.ignore_patterns("__pycache__", "github"))
    shutil.copytree(main, branch)
    tests = branch / "test_examples.py"
    text = tests.read_text(encoding="utf-8")
    for old, new in BRANCH_EDITS:
        assert old in text, old
        text = text.replace(old, new)
    tests.write_text(text + NEW_TEST, encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    files = out / "files"
    files.mkdir(exist_ok=True)

    main_text = _pytest(
        main, "--conv-report=layers", "--conv-json=../out/main-run.json", "--conv-save-baseline=../out/baseline.json",
        "--conv-markdown=../out/main-comment.md", "--conv-html=../out/main-page.html",
    )
    branch_text = _pytest(
        branch, "--conv-report", "--conv-baseline=../out/baseline.json", "--conv-max-increase=5",
        "--conv-json=../out/branch-run.json", "--conv-markdown=../out/branch-comment.md",
        "--conv-html=../out/branch-page.html",
    )
    texts = {"main-pytest.txt": main_text, "branch-pytest.txt": branch_text}
    scratch = work / "out"
    for fmt in ("text", "markdown", "json", "html"):
        texts[f"diff-{fmt}.txt"] = _cli(scratch, "diff", "baseline.json", "branch-run.json", "--format", fmt)
    texts["diff-bad-file.txt"] = _cli(scratch, "diff", "missing.json", "branch-run.json")
    texts["profile-table.txt"] = _cli(main, "profile", "models.py:resnet18", "--input", "1x3x224x224")
    texts["profile-json.txt"] = _cli(main, "profile", "models.py:vit_tiny", "--input", "1x3x32x32", "--count", "all",
                                     "--json")
    texts["profile-all.txt"] = _cli(main, "profile", "models.py:vit_tiny", "--input", "1x3x32x32", "--count", "all",
                                    "--html", "../out/profile-page.html")
    texts["profile-bad-spec.txt"] = _cli(main, "profile", "models.py", "--input", "1x3x8x8")
    for name, content in texts.items():
        (files / name).write_text(content, encoding="utf-8")
    for produced in sorted(scratch.iterdir()):
        shutil.copyfile(produced, files / produced.name)
        if produced.suffix == ".json":
            _mask_versions(files / produced.name)


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch_dir:
        produce(target, Path(scratch_dir))
    print(f"wrote {len(list((target / 'files').iterdir()))} files to {target / 'files'}")
