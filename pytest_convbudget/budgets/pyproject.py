"""``[tool.convbudget]`` in ``pyproject.toml``: read once, validated, typed.

Every error names the file and the key, and is raised as :class:`ConfigError`
so the plugin can stop the session with a one-line usage error.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..words.errors import ConfigError, CountError
from ..words.quantity import parse_byte_size, parse_limit, parse_percent
from ..words.vocabulary import BUDGET_FIGURES, DEFAULT_COUNT, DEFAULT_MAX_FILE_SIZE, DEVICES, is_known_device

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

PER_CHOICES = ("sample", "batch", "token")
TABLE = "[tool.convbudget]"
PATTERN_TABLE = "[tool.convbudget.budgets]"
TOP_LEVEL_KEYS = (
    "device", "per", "count", *BUDGET_FIGURES, "max_increase", "require_baseline", "max_file_size", "fold", "depth", "budgets",
)
PATTERN_KEYS = (*BUDGET_FIGURES, "max_increase", "count")
RENAMED_KEYS = {"include_linear": 'replaced by count: count = ["conv", "linear"] counts conv and linear layers'}


@dataclass(frozen=True)
class Limit:
    """One limit on one figure, and where it came from (for messages)."""

    figure: str
    value: int
    source: str


@dataclass(frozen=True)
class PatternBudget:
    """Limits for the tests whose id matches ``pattern`` (fnmatch)."""

    pattern: str
    limits: tuple[Limit, ...] = ()
    max_increase: float | None = None
    count: tuple[str, ...] | None = None

    @property
    def specificity(self) -> tuple[int, int]:
        """More literal characters first, then fewer wildcards: the most specific wins."""
        wildcards = sum(self.pattern.count(char) for char in "*?[")
        return (len(self.pattern) - wildcards, -wildcards)

    def matches(self, test_id: str) -> bool:
        """fnmatch over the test id; an exact id matches too, though ``[160]`` in a
        parametrized id would read as a character class to fnmatch."""
        return test_id == self.pattern or fnmatchcase(test_id, self.pattern)


def matching_patterns(test_id: str, patterns: Sequence[PatternBudget]) -> list[PatternBudget]:
    """Patterns that match ``test_id``, most specific first."""
    hits = [pattern for pattern in patterns if pattern.matches(test_id)]
    return sorted(hits, key=lambda pattern: pattern.specificity, reverse=True)


@dataclass(frozen=True)
class Settings:
    """The whole table, with defaults for what it does not say."""

    path: Path | None = None
    device: str = "auto"
    per: str = "sample"
    count: tuple[str, ...] = DEFAULT_COUNT
    defaults: tuple[Limit, ...] = ()
    max_increase: float | None = None
    require_baseline: bool = False
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # run and baseline files bigger than this are refused unread
    fold: bool = True  # reports show repeated blocks (layers.0 ... layers.11) as one row
    depth: int | None = None  # where reports' blocks stop; None: the top level, through a block of nearly all the cost
    patterns: tuple[PatternBudget, ...] = field(default=())

    @property
    def label(self) -> str:
        return self.path.name if self.path else "pyproject.toml"

    def count_for(self, test_id: str) -> tuple[str, ...]:
        """The kinds a test's measurements count: the most specific matching pattern
        that says, else the table's ``count``."""
        for pattern in matching_patterns(test_id, self.patterns):
            if pattern.count is not None:
                return pattern.count
        return self.count


def find_pyproject(inipath: Path | None, rootpath: Path) -> Path | None:
    """pytest's own config file when it is a pyproject.toml, else the rootdir's one."""
    if inipath is not None and inipath.name == "pyproject.toml":
        return inipath
    candidate = rootpath / "pyproject.toml"
    return candidate if candidate.is_file() else None


def load_settings(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    table = document.get("tool", {}).get("convbudget")
    if table is None:
        return Settings(path=path)
    return parse_settings(table, path)


def parse_settings(table: Any, path: Path) -> Settings:
    where = _Where(path)
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: {TABLE} must be a table")
    _reject_unknown(table, TOP_LEVEL_KEYS, where, TABLE)
    device = table.get("device", "auto")
    if not is_known_device(device):
        raise ConfigError(f"{where.key(TABLE, 'device')} = {device!r}: expected one of {', '.join(DEVICES)} or cuda:N")
    per = table.get("per", "sample")
    if per not in PER_CHOICES:
        raise ConfigError(f"{where.key(TABLE, 'per')} = {per!r}: expected 'sample', 'batch' or 'token'")
    return Settings(
        path=path,
        device=device,
        per=per,
        count=_count(table, where, TABLE) or DEFAULT_COUNT,
        defaults=_limits(table, where, TABLE, source=f"{path.name} {TABLE}"),
        max_increase=_percent(table, "max_increase", where, TABLE),
        require_baseline=_boolean(table, "require_baseline", where),
        max_file_size=_byte_size(table, "max_file_size", where),
        fold=_boolean(table, "fold", where, default=True),
        depth=_depth(table, where),
        patterns=_patterns(table.get("budgets", {}), where),
    )


@dataclass(frozen=True)
class _Where:
    path: Path

    def key(self, table: str, key: str) -> str:
        return f"{self.path}: {table} {key}"


def _reject_unknown(table: Mapping[str, Any], allowed: tuple[str, ...], where: _Where, name: str) -> None:
    for key in table:
        if key in RENAMED_KEYS:
            raise ConfigError(f"{where.key(name, key)}: {RENAMED_KEYS[key]}")
        if key not in allowed:
            raise ConfigError(f"{where.key(name, repr(key))}: unknown key (expected one of {', '.join(allowed)})")


def _boolean(table: Mapping[str, Any], key: str, where: _Where, default: bool = False) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where.key(TABLE, key)} = {value!r}: expected true or false")
    return value


def parse_depth(value: Any) -> int:
    """A depth of module paths: a whole number of parts, 1 or more. Raises ValueError."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{value!r}: expected a whole number of module path parts, 1 or more (1: top-level blocks)")
    return value


def _depth(table: Mapping[str, Any], where: _Where) -> int | None:
    if "depth" not in table:
        return None
    if isinstance(table["depth"], str):  # a TOML string is not a number here, though "2" is on a command line
        raise ConfigError(f"{where.key(TABLE, 'depth')} = {table['depth']!r}: expected a whole number, 1 or more")
    try:
        return parse_depth(table["depth"])
    except ValueError as error:
        raise ConfigError(f"{where.key(TABLE, 'depth')} = {error}") from None


def _byte_size(table: Mapping[str, Any], key: str, where: _Where) -> int:
    if key not in table:
        return DEFAULT_MAX_FILE_SIZE
    try:
        return parse_byte_size(table[key], where=f"at {TABLE} {key} in {where.path}")
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _count(table: Mapping[str, Any], where: _Where, name: str) -> tuple[str, ...] | None:
    if "count" not in table:
        return None
    # The registry loads only when a table names kinds.
    from ..engine.kinds import parse_count

    try:
        return parse_count(table["count"], f"{where.path}: {name}")
    except CountError as error:
        raise ConfigError(str(error)) from None


def _limits(table: Mapping[str, Any], where: _Where, name: str, source: str) -> tuple[Limit, ...]:
    limits = []
    for figure in BUDGET_FIGURES:
        if figure in table:
            try:
                # figure= refuses another figure's unit: flops = "3 GMACs" is an error, not 3 GFLOPs.
                value = parse_limit(table[figure], f"at {name} {figure} in {where.path}", figure)
            except ValueError as error:
                raise ConfigError(str(error)) from None
            limits.append(Limit(figure, value, f"{source} {figure}"))
    return tuple(limits)


def _percent(table: Mapping[str, Any], key: str, where: _Where, name: str) -> float | None:
    if key not in table:
        return None
    try:
        return parse_percent(table[key])
    except ValueError:
        raise ConfigError(
            f"{where.key(name, key)} = {table[key]!r}: expected a non-negative percentage such as 5 or '5%'"
        ) from None


def _patterns(budgets: Any, where: _Where) -> tuple[PatternBudget, ...]:
    if not isinstance(budgets, Mapping):
        raise ConfigError(f"{where.path}: {PATTERN_TABLE} must be a table of pattern = {{ flops = ..., params = ... }}")
    patterns = []
    for pattern, entry in budgets.items():
        name = f"{PATTERN_TABLE} {pattern!r}"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where.path}: {name}: expected an inline table such as {{ flops = \"3.7G\" }}")
        _reject_unknown(entry, PATTERN_KEYS, where, name)
        patterns.append(
            PatternBudget(
                pattern=pattern,
                limits=_limits(entry, where, name, source=f"{where.path.name} {name}"),
                max_increase=_percent(entry, "max_increase", where, name),
                count=_count(entry, where, name),
            )
        )
    return tuple(patterns)


# pytest's own configuration files, in the order pytest looks for them in each folder.
_PYTEST_CONFIG_NAMES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg")


def _holds_pytest_config(path: Path) -> bool:
    """Whether pytest would take ``path`` as its configuration file (its rules, read without pytest)."""
    if path.name in ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini"):
        return True
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if path.name == "pyproject.toml":
        try:
            tool = tomllib.loads(text).get("tool", {})
        except tomllib.TOMLDecodeError:
            return False
        return isinstance(tool, Mapping) and "pytest" in tool
    section = "[pytest]" if path.name == "tox.ini" else "[tool:pytest]"
    return any(line.strip() == section for line in text.splitlines())


def find_pyproject_from(start: Path) -> Path | None:
    """The pyproject.toml the plugin would read in a pytest run started in ``start`` with no arguments.

    pytest takes the first of its config files found walking up from there
    (rootdir: its folder), or else the nearest pyproject.toml; the plugin then
    reads :func:`find_pyproject` of that. ``diff`` uses this so that it judges
    with the same ``[tool.convbudget]`` as the plugin.
    """
    nearest: Path | None = None
    for folder in (start, *start.parents):
        for name in _PYTEST_CONFIG_NAMES:
            candidate = folder / name
            if not candidate.is_file():
                continue
            if name == "pyproject.toml" and nearest is None:
                nearest = candidate
            if _holds_pytest_config(candidate):
                return find_pyproject(candidate, folder)
    return nearest
