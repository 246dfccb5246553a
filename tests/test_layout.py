"""The house's layout: folders are floors, and imports only run downward.

Every module's imports are read from its source (top level, inside functions
and under ``TYPE_CHECKING`` alike) and each must name a module on its own
floor or one below. The one import that climbs is listed by name in
:data:`CLIMBS`; any other fails here with the module, the line and both
floors. The engine is the only folder that imports torch, and the floor of
shared words imports nothing of ours.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pytest_convbudget"
# Bottom to top. A module's floor is that of the longest prefix of its dotted path listed here.
FLOORS = {
    "words": 0,  # figures, names, errors, quantities: import nothing of ours
    "engine": 1,  # formulas, kinds, watchers, profiler, results: the only floor that imports torch
    "budgets": 2,  # marker, pyproject table, limits, measurement
    "ci": 3,  # run files, comparison, verdict, selection
    "render": 4,  # phrasebook, terminal, markdown, comparison JSON, the table of outputs, html/
    "gate": 5,  # writes the run file, baseline and rendered outputs at session end
    "session": 6,  # a pytest session's work
    "meter": 6,  # the conv_cost fixture's callable, loaded when a test measures
    "cli": 6,  # python -m pytest_convbudget: profile, diff
    "plugin": 7,  # pytest hooks and options
    "__init__": 8,  # the public API, lazily
    "__main__": 8,
}
# (importer, imported): the imports allowed to climb, each lazy and documented where it is.
CLIMBS = {
    # ConvCost.table(): a result prints itself with the terminal's layer table, imported on call.
    ("engine.results", "render.terminal"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def floor(name: str) -> int:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in FLOORS:
            return FLOORS[".".join(parts[:end])]
    raise AssertionError(f"{name} sits on no floor: add its folder to FLOORS")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module of ours) for every import in the file, resolved to a dotted name under the package."""
    name = module_name(path)
    if path == PACKAGE / "__init__.py":
        package = []
    else:
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                if node.module is None:  # from . import phrases
                    found += [(node.lineno, f"{target}.{alias.name}".strip(".")) for alias in node.names]
                    continue
                found.append((node.lineno, target))
            elif node.module and node.module.startswith("pytest_convbudget"):
                found.append((node.lineno, node.module.removeprefix("pytest_convbudget").strip(".")))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.removeprefix("pytest_convbudget").strip("."))
                      for alias in node.names if alias.name.startswith("pytest_convbudget")]
    return [(line, target or "__init__") for line, target in found]


TORCH = {"torch", "torchvision"}


def torch_imports(path: Path) -> list[int]:
    """Lines that import torch (or torchvision), as a statement or by ``import_module("torch...")``."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] in TORCH for alias in node.names):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in TORCH:
            lines.append(node.lineno)
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
                and node.args and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).split(".")[0] in TORCH):
            lines.append(node.lineno)
    return lines


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_on_a_floor() -> None:
    assert len(MODULES) > 30
    for path in MODULES:
        floor(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda path: module_name(path))
def test_imports_run_downward(path: Path) -> None:
    importer = module_name(path)
    climbing = [
        f"{importer} (floor {floor(importer)}) line {line} imports {target} (floor {floor(target)})"
        for line, target in imports_of(path)
        if floor(target) > floor(importer) and (importer, target) not in CLIMBS
    ]
    assert not climbing, "\n".join(climbing)


def test_the_listed_climb_is_real_and_lazy() -> None:
    """An exception that no longer exists must leave the list; one that does must stay inside a function."""
    for importer, target in CLIMBS:
        path = PACKAGE / (importer.replace(".", "/") + ".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside_functions = {
            inner.lineno
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            for inner in ast.walk(node) if isinstance(inner, (ast.Import, ast.ImportFrom))
        }
        lines = [line for line, imported in imports_of(path) if imported == target]
        assert lines, f"{importer} no longer imports {target}: remove it from CLIMBS"
        assert set(lines) <= inside_functions, f"{importer} imports {target} outside a function: it would run at import"


def test_shared_words_import_nothing_of_ours() -> None:
    """The bottom floor: the vocabulary imports nothing of ours, and the other words only the vocabulary
    (a quantity's unit names the figure it limits)."""
    for path in sorted((PACKAGE / "words").glob("*.py")):
        allowed = [] if path.name == "vocabulary.py" else ["words.vocabulary"]
        assert set(target for _, target in imports_of(path)) <= set(allowed), module_name(path)
    assert [target for _, target in imports_of(PACKAGE / "words" / "vocabulary.py")] == []


def test_only_the_engine_imports_torch() -> None:
    outside = [
        f"{module_name(path)} line {line}"
        for path in MODULES
        if not module_name(path).startswith("engine")
        for line in torch_imports(path)
    ]
    assert not outside, outside
    assert any(torch_imports(path) for path in (PACKAGE / "engine").glob("*.py"))


def test_the_reading_of_imports_sees_every_form() -> None:
    """The checker itself: relative, package-relative, absolute and function-level imports are all read."""
    plugin = dict((target, line) for line, target in imports_of(PACKAGE / "plugin.py"))
    assert "session" in plugin and "words.errors" in plugin
    profile_cli = {target for _, target in imports_of(PACKAGE / "cli" / "profile.py")}
    assert {"engine.profiler", "engine.inputs", "render.outputs", "cli.loading"} <= profile_cli
    terminal = {target for _, target in imports_of(PACKAGE / "render" / "terminal.py")}
    assert "render.phrases" in terminal  # from . import phrases
    assert floor("render.html.view") == 4 and floor("cli.diff") == 6


def test_the_torch_free_modules_load_without_torch() -> None:
    """The plugin loads these at start-up or when a pyproject names kinds; torch must not come with them."""
    import subprocess
    import sys

    probe = (
        "import sys, pytest_convbudget.plugin, pytest_convbudget.engine.kinds, pytest_convbudget.engine.formulas, "
        "pytest_convbudget.engine.results, pytest_convbudget.engine.input_spec, pytest_convbudget.render.outputs, "
        "pytest_convbudget.cli; pytest_convbudget.cli.build_parser(); "
        "print(sorted(name for name in ('torch', 'torchvision') if name in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_output_renderer_lives_in_the_renderers_floor() -> None:
    """The table names its renderers as strings: each must resolve, under render/."""
    from pytest_convbudget.render.outputs import OUTPUTS, Output

    for output in OUTPUTS.values():
        assert isinstance(output, Output)
        module, _, function = output.renderer.partition(":")
        assert module.startswith("."), output.renderer
        target = "render" + module
        assert floor(target) == FLOORS["render"] and (PACKAGE / (target.replace(".", "/") + ".py")).is_file(), target
        source = (PACKAGE / (target.replace(".", "/") + ".py")).read_text(encoding="utf-8")
        assert f"def {function}(" in source, output.renderer
