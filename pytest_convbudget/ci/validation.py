"""Check a run file's JSON against the shipped schema before anything reads it.

Run files cross a trust boundary (a pull request's job writes them, a job
with a write token renders them), so nothing uses one until every field has
been checked. The rules live in one place, ``run.schema.json``, which ships
in the package for anyone to validate with; this module walks a document by
that schema (the subset of JSON Schema it uses) and stops at the first bad
field, naming its path, so the error reads
``measurements[3].limits[0].figure: 'NaN' is not a figure (params, flops, ...)``.

The schema describes both versions a reader reads (``$defs/run_2``, the
pooled layout, and ``$defs/run_1``); a document is checked against the one its
``schema_version`` names. Beyond the schema, it refuses what JSON Schema cannot
say: a count written as a fraction (``1.0``), a string that is not valid
Unicode, two measurements of one test under one name, and a place (of a cost,
of a layer call) past the end of its pool.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, Mapping

SCHEMA_FILE = "run.schema.json"
_SHOWN_CHARS = 120  # of a bad value, in a message
MAX_FIELD_NAME = 256
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class InvalidField(ValueError):
    """The first field of a document that breaks the schema: where, and why."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


@lru_cache(maxsize=1)
def run_schema() -> dict[str, Any]:
    """The shipped run-file schema (JSON Schema, draft 2020-12)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def check_run_document(document: Any) -> None:
    """Raise :class:`InvalidField` at the first field of ``document`` the run schema refuses.

    ``document["schema_version"]`` (1 or 2, checked by the reader before) picks its schema. A quick
    pass answers yes or no; only a no walks again to name the field, so a good baseline costs about
    what parsing it does.
    """
    version = document["schema_version"]
    definitions = run_schema()["$defs"]
    schema = definitions[f"run_{version}"]
    if not _quick_check(version)(document):
        _Walker(definitions).check(document, schema, "")
        raise AssertionError("the quick check refused a document the walk accepts")  # pragma: no cover
    if version > 1:
        _check_places(document)
    _check_unique_keys(document["measurements"])


@lru_cache(maxsize=2)
def _quick_check(version: int = 2) -> Callable[[Any], bool]:
    definitions = run_schema()["$defs"]
    return _Compiler(definitions).compile(definitions[f"run_{version}"])


def _check_places(document: Mapping[str, Any]) -> None:
    """Every place a version-2 file points to is in its pool: a cost's layer calls, a measurement's cost."""
    layers, costs = len(document["layers"]), len(document["costs"])
    for index, cost in enumerate(document["costs"]):
        for position, place in enumerate(cost["layers"]):
            if place >= layers:
                raise InvalidField(f"costs[{index}].layers[{position}]",
                                   f"{place} is past the end of layers ({layers:,} rows)")
    for index, measurement in enumerate(document["measurements"]):
        if measurement["cost"] >= costs:
            raise InvalidField(f"measurements[{index}].cost", f"{measurement['cost']} is past the end of costs "
                                                              f"({costs:,} costs)")


class _Compiler:
    """The schema as nested predicates: the same rules as :class:`_Walker`, without paths."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions
        self.compiled: dict[str, Callable[[Any], bool]] = {}

    def compile(self, schema: Mapping[str, Any]) -> Callable[[Any], bool]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in self.compiled:
                self.compiled[name] = self.compile(self.definitions[name])
            return self.compiled[name]
        if "anyOf" in schema:
            options = [self.compile(option) for option in schema["anyOf"]]
            return lambda value: any(option(value) for option in options)
        if isinstance(schema.get("type"), str) and "const" not in schema and "enum" not in schema:
            return self._typed(schema["type"], schema)
        tests: list[Callable[[Any], bool]] = []
        if "const" in schema:
            const = schema["const"]
            tests.append(lambda value: type(value) is type(const) and value == const)
        if "enum" in schema:
            choices = frozenset(schema["enum"])
            tests.append(lambda value: type(value) is str and value in choices)
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
            exact = frozenset(_PYTHON_TYPES[name] for name in names)
            tests.append(lambda value: type(value) in exact)
        tests.append(self._by_type(schema))
        if len(tests) == 1:
            return tests[0]
        first, *rest = tests
        return lambda value: first(value) and all(test(value) for test in rest)

    def _typed(self, name: str, schema: Mapping[str, Any]) -> Callable[[Any], bool]:
        """One check of the type and its limits, for a schema of one type: the common case, made
        quick because a run file of thousands of measurements holds some 100,000 such values."""
        if name == "string":
            shortest, longest = schema.get("minLength", 0), schema.get("maxLength", math.inf)
            return lambda value: type(value) is str and shortest <= len(value) <= longest and _is_unicode(value)
        if name == "integer":
            low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
            return lambda value: type(value) is int and low <= value <= high
        if name == "array":
            fewest, most = schema.get("minItems", 0), schema.get("maxItems", math.inf)
            item = self.compile(schema["items"]) if "items" in schema else None
            prefix = [self.compile(rule) for rule in schema.get("prefixItems", ())]
            if not prefix and item is not None:
                return lambda value: type(value) is list and fewest <= len(value) <= most and all(map(item, value))
        if name == "object":
            table = self._table(schema)
            return lambda value: type(value) is dict and table(value)
        exact = _PYTHON_TYPES[name]
        check = self._by_type(schema)
        return lambda value: type(value) is exact and check(value)

    def _by_type(self, schema: Mapping[str, Any]) -> Callable[[Any], bool]:
        shortest, longest = schema.get("minLength", 0), schema.get("maxLength", math.inf)
        low, high = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        fewest, most = schema.get("minItems", 0), schema.get("maxItems", math.inf)
        item = self.compile(schema["items"]) if "items" in schema else None
        prefix = [self.compile(rule) for rule in schema.get("prefixItems", ())]
        table = self._table(schema)

        def check(value: Any) -> bool:
            kind = type(value)
            if kind is str:
                return shortest <= len(value) <= longest and _is_unicode(value)
            if kind is int:
                return low <= value <= high
            if kind is list:
                if not fewest <= len(value) <= most:
                    return False
                if prefix and not all(rule(x) for rule, x in zip(prefix, value)):
                    return False
                return item is None or all(item(x) for x in value[len(prefix):])
            if kind is dict:
                return table(value)
            return True

        return check

    def _table(self, schema: Mapping[str, Any]) -> Callable[[dict[str, Any]], bool]:
        properties = {key: self.compile(rule) for key, rule in schema.get("properties", {}).items()}
        extra_rule = schema.get("additionalProperties", True)
        extra = self.compile(extra_rule) if isinstance(extra_rule, Mapping) else None
        closed = extra_rule is False
        required = tuple(schema.get("required", ()))
        most = schema.get("maxProperties", math.inf)

        def check(table: dict[str, Any]) -> bool:
            if len(table) > most:
                return False
            for key in required:
                if key not in table:
                    return False
            for key, value in table.items():
                rule = properties.get(key)  # a known field's name is the schema's own: short and plain
                if rule is None:
                    if len(key) > MAX_FIELD_NAME or not _is_unicode(key):
                        return False
                    rule = extra
                    if rule is None:
                        if closed:
                            return False
                        continue
                if not rule(value):
                    return False
            return True

        return check


def _is_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_unique_keys(measurements: list[Mapping[str, Any]]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for index, measurement in enumerate(measurements):
        key = (measurement["test_id"], measurement["name"])
        if key in seen:
            raise InvalidField(
                f"measurements[{index}]",
                f"measures {show(key[1])} of {show(key[0])} a second time (first at measurements[{seen[key]}])",
            )
        seen[key] = index


class _Walker:
    """Follows the schema down the document; descends only where the schema does."""

    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions

    def check(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        if "$ref" in schema:
            schema = self.definitions[schema["$ref"].rsplit("/", 1)[-1]]
        if "anyOf" in schema:
            self._any_of(value, schema, path)
            return
        if "const" in schema and (type(value) is not type(schema["const"]) or value != schema["const"]):
            raise InvalidField(path, f"{show(value)}, expected {show(schema['const'])}")
        if "enum" in schema and not _is_member(value, schema["enum"]):
            raise InvalidField(path, f"{show(value)} is not a {schema['title']} ({', '.join(schema['enum'])})")
        if "type" in schema:
            _check_type(value, schema["type"], path)
        if isinstance(value, str):
            _check_text(value, schema, path)
        elif isinstance(value, int) and not isinstance(value, bool):
            _check_range(value, schema, path)
        elif isinstance(value, list):
            self._check_array(value, schema, path)
        elif isinstance(value, dict):
            self._check_object(value, schema, path)

    def _any_of(self, value: Any, schema: Mapping[str, Any], path: str) -> None:
        first: InvalidField | None = None
        for option in schema["anyOf"]:
            try:
                self.check(value, option, path)
                return
            except InvalidField as error:
                first = first or error
        assert first is not None
        raise first

    def _check_array(self, items: list[Any], schema: Mapping[str, Any], path: str) -> None:
        if len(items) > schema.get("maxItems", len(items)):
            raise InvalidField(path, f"{len(items):,} items, at most {schema['maxItems']:,}")
        if len(items) < schema.get("minItems", 0):
            raise InvalidField(path, f"{len(items)} items, at least {schema['minItems']}")
        prefix = schema.get("prefixItems", ())
        for index, item in enumerate(items):
            if index < len(prefix):  # a row's values: the path names the value's field
                rule = prefix[index]
                self.check(item, rule, f"{path}[{index}] ({rule['title']})" if "title" in rule else f"{path}[{index}]")
            elif "items" in schema:
                self.check(item, schema["items"], f"{path}[{index}]")

    def _check_object(self, table: dict[str, Any], schema: Mapping[str, Any], path: str) -> None:
        if len(table) > schema.get("maxProperties", len(table)):
            raise InvalidField(path, f"{len(table):,} fields, at most {schema['maxProperties']}")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key in table:
            if len(key) > MAX_FIELD_NAME:
                raise InvalidField(path, f"a field name of {len(key):,} characters, at most {MAX_FIELD_NAME}")
            _check_text(key, {}, path)
            if key not in properties and extra is False:
                raise InvalidField(path, f"unknown field {show(key)}")
        for key in schema.get("required", ()):
            if key not in table:
                raise InvalidField(path, f"missing field {show(key)}")
        for key, value in table.items():
            rule = properties.get(key, extra)
            if isinstance(rule, Mapping):
                self.check(value, rule, _join(path, key))


def _is_member(value: Any, choices: list[Any]) -> bool:
    return isinstance(value, str) and value in choices


_TYPE_TESTS = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
}
_PYTHON_TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool, "null": type(None)}
_TYPE_WORDS = {
    "object": "a table", "array": "a list", "string": "a string", "integer": "a whole number",
    "boolean": "true or false", "null": "null",
}


def _check_type(value: Any, expected: str | list[str], path: str) -> None:
    names = [expected] if isinstance(expected, str) else expected
    if not any(_TYPE_TESTS[name](value) for name in names):
        wanted = " or ".join(_TYPE_WORDS[name] for name in names)
        raise InvalidField(path, f"expected {wanted}, got {describe(value)}")


def _check_text(text: str, schema: Mapping[str, Any], path: str) -> None:
    if len(text) > schema.get("maxLength", len(text)):
        raise InvalidField(path, f"a string of {len(text):,} characters, at most {schema['maxLength']:,}")
    if len(text) < schema.get("minLength", 0):
        raise InvalidField(path, "an empty string")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField(path, "not valid Unicode (a lone surrogate escape)") from None


def _check_range(number: int, schema: Mapping[str, Any], path: str) -> None:
    if number < schema.get("minimum", number):
        raise InvalidField(path, f"{number} is negative" if schema["minimum"] == 0 else f"{number} is too small")
    if number > schema.get("maximum", number):
        raise InvalidField(path, f"{show(number)} is larger than any real count (at most {schema['maximum']:.0e})")


def _join(path: str, key: str) -> str:
    if _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{show(key)}]"


def show(value: Any) -> str:
    """A bad value as a message shows it: short, one line, quotes and escapes visible."""
    if isinstance(value, (dict, list)):
        return describe(value)
    text = json.dumps(value) if isinstance(value, bool) or value is None else repr(value)
    if len(text) > _SHOWN_CHARS:
        return text[: _SHOWN_CHARS - 4] + "…" + text[-3:]
    return text


def describe(value: Any) -> str:
    """What a value is, for 'expected X, got Y'."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"the number {value!r}" if math.isfinite(value) else json.dumps(value)
    if isinstance(value, (int, str)):
        return f"{'a string' if isinstance(value, str) else 'the number'} {show(value)}"
    if isinstance(value, list):
        return f"a list of {len(value):,} item(s)"
    if isinstance(value, dict):
        return f"a table of {len(value):,} field(s)"
    return type(value).__name__
