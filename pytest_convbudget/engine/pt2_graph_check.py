"""A ``.pt2`` program's JSON, checked before torch's deserializer turns it into Python.

The graph is JSON, but parts of it become code: torch resolves every node's target by
walking attributes from ``torch`` (``torch.os.system`` resolves and would be called by
the forward), parses shape expressions with ``sympy.sympify`` (Python's ``eval``),
``exec``-s the guards it builds from ``guards_code`` and from string inputs, writes
names into the Python source FX generates for the module, and imports the module a
``defaultdict`` tree spec names. So every string of the deserialized schema is checked
here by what it becomes, and anything outside these shapes is refused in one line:

- an op target: ``torch.ops.NS.OP.OVERLOAD`` registered in torch's own namespaces, a
  higher-order op, or one of the symbolic-size operators torch's serializer writes;
- a shape expression: sympy's classes called on integers and size symbols, powers only of a
  small integer exponent;
- a guard: comparisons of input sizes (``L['x'].size()[0] == 2``) and integers;
- a tree spec: torch's own container types, identifier keys;
- every other name (tensors, nodes, parameters, modules): letters, digits, ``_`` and ``.``.

Node metadata other than ``nn_module_stack`` (stack traces, source functions, custom
JSON) is dropped: profiling reads nothing else, and torch resolves source functions by name.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import keyword
import re
from enum import Enum
from typing import Any, Callable

import torch
from torch._export.serde import schema
from torch._export.serde.serialize import _SYM_OPS

from ..words.errors import SpecError

NAME = re.compile(r"[A-Za-z0-9_.]{0,300}")
# Words FX's generated source cannot take as a name: Python's keywords and the module's own ``self``.
CODE_WORDS = frozenset({*keyword.kwlist, "self"})
# The dtypes a program's tensors may hold: torch's plain ones (ComplexHalf is experimental: torch warns at it).
PLAIN_DTYPES = frozenset(int(kind) for kind in schema.ScalarType
                         if kind not in (schema.ScalarType.UNKNOWN, schema.ScalarType.COMPLEXHALF))
SYMBOL = re.compile(r"[a-z]{1,4}[0-9]{1,9}")
OP_TARGET = re.compile(r"torch\.ops\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")
HOP_TARGET = re.compile(r"torch\.ops\.higher_order\.([A-Za-z_][A-Za-z0-9_]*)")
OP_NAMESPACES = frozenset({"aten", "prims", "quantized", "quantized_decomposed", "_quantized", "higher_order"})
# Registered ops that touch files or run what they are given: never in a profiled graph.
REFUSED_OPS = frozenset({"from_file", "save", "_print", "load_tensor"})
REFUSED_HOPS = frozenset({"call_torchbind", "executorch_call_delegate", "triton_kernel_wrapper_mutation",
                          "triton_kernel_wrapper_functional", "run_const_graph", "hints_wrapper"})
SYM_OP_TARGETS = {f"{fn.__module__}.{fn.__name__}": fn for fn in _SYM_OPS}
DEVICE_TYPES = frozenset({"cpu", "cuda", "meta", "mps", "xpu", "hpu", "mtia", "privateuseone"})
TREESPEC_TYPES = frozenset({None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict",
                            "collections.namedtuple", "collections.deque", "torch.Size",
                            "torch.fx.immutable_collections.immutable_list",
                            "torch.fx.immutable_collections.immutable_dict"})
# What a shape expression may name: sympy's classes as ``srepr`` writes them, and torch's size functions.
EXPRESSION_FUNCTIONS = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Mod", "Max", "Min", "Abs", "floor", "ceiling", "sqrt",
    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "Equality", "Unequality", "Eq", "Ne", "Lt",
    "Le", "Gt", "Ge", "And", "Or", "Not", "Piecewise", "ExprCondPair", "Tuple", "true", "false", "True", "False",
    "oo", "zoo", "nan", "NegativeOne", "One", "Zero", "Half", "Infinity", "NegativeInfinity", "BooleanTrue",
    "BooleanFalse", "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt",
    "CeilDiv", "LShift", "RShift", "IntTrueDiv", "FloatTrueDiv", "TruncToFloat", "TruncToInt", "RoundToInt",
    "RoundDecimal", "ToFloat", "Identity", "IsNonOverlappingAndDenseIndicator", "Pow", "PowByNatural", "FloatPow",
})
POWERS = frozenset({"Pow", "PowByNatural", "FloatPow"})
SYMBOL_ASSUMPTIONS = frozenset({"integer", "positive", "nonnegative", "negative", "nonpositive", "real", "finite",
                                "precision", "zero", "even", "odd", "commutative"})
EXPRESSION_NODES = (ast.Expression, ast.Call, ast.Name, ast.Load, ast.Constant, ast.keyword, ast.Tuple, ast.UnaryOp,
                    ast.USub, ast.UAdd, ast.Not, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
                    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.BoolOp, ast.And, ast.Or)
# A guard torch writes: comparisons of input sizes and integers, nothing that names a builtin.
GUARD_CALLS = frozenset({"size", "stride", "storage_offset"})
GUARD_FUNCTIONS = frozenset({"max", "min", "abs", "Max", "Min", "FloorDiv", "Mod", "PythonMod", "CleanDiv",
                             "CeilToInt", "FloorToInt", "TruncToInt", "IntTrueDiv", "ToFloat", "Eq", "Ne"})
GUARD_NODES = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.Constant, ast.Name, ast.Load,
               ast.Subscript, ast.Call, ast.Attribute, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd, ast.Add, ast.Sub,
               ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
MAX_TEXT = 2000
MAX_MESSAGE = 100_000  # a string argument (an assertion's message) is printed, never evaluated


class Refusal(Exception):
    """A string of the program that is not the shape its field takes; says which and why."""


def check_program(program: schema.ExportedProgram, where: str) -> None:
    """Refuse (one SpecError naming ``where`` and the field) a program whose strings would run as code;
    drop node metadata that profiling never reads."""
    try:
        _walk(program, "ExportedProgram", "")
    except Refusal as refusal:
        raise SpecError(f"{where}: {refusal}: refused, nothing run") from None


def _walk(value: Any, owner: str, field: str) -> None:
    """Every string by the (class, field) that holds it; dataclasses and unions field by field."""
    if isinstance(value, Enum) or value is None or isinstance(value, (bool, int, float)):
        return
    if isinstance(value, str):
        _check_string(value, owner, field)
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, owner, field)
        return
    if isinstance(value, dict):
        if (owner, field) in (("Node", "metadata"), ("GraphModule", "metadata")):
            _keep_module_stack(value)
            return
        for key, item in value.items():
            if isinstance(key, str):
                _check_string(key, owner, f"{field} key")
            _walk(item, owner, field)
        return
    if dataclasses.is_dataclass(value):
        name = type(value).__name__
        if name in ("CustomObjArgument", "InputToCustomObjSpec"):
            raise Refusal("it holds a custom object (torchbind), whose class's code torch would run")
        if name == "ExportedProgram":
            _check_version(value)
        if name == "TensorMeta" and not (isinstance(value.dtype, int) and int(value.dtype) in PLAIN_DTYPES):
            raise Refusal(f"a tensor's dtype {str(value.dtype)[:40]!r} is not one this reader knows")
        if name == "Graph":  # a string input's value goes into the source of the guards torch exec-s
            for item in value.inputs if isinstance(value.inputs, list) else []:
                if isinstance(item, schema.Argument) and str(item.type) == "as_string":
                    _check_string(item.value, "Graph", "inputs")
        if isinstance(value, schema._Union):  # one field set: the tag names it
            tag = str(value.type)
            if tag == "as_scalar_type" and not (isinstance(value.value, int) and int(value.value) in PLAIN_DTYPES):
                raise Refusal(f"a dtype argument {str(value.value)[:40]!r} is not one this reader knows")
            if tag in ("as_custom_obj",):
                raise Refusal("it holds a custom object (torchbind), whose class's code torch would run")
            _walk(value.value, name, tag)
            return
        for item in dataclasses.fields(value):
            _walk(getattr(value, item.name), name, item.name)
        return
    raise Refusal(f"{owner}.{field} holds a {type(value).__name__}")


def _check_string(text: str, owner: str, field: str) -> None:
    check = STRING_CHECKS.get((owner, field), _check_name)
    problem = check(text) if len(text) <= (MAX_MESSAGE if check is _check_text else MAX_TEXT) else "is too long"
    if problem:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise Refusal(f"{owner}.{field} {shown!r} {problem}")


def _check_argument_name(text: str) -> str | None:
    """An op's argument name (the schema's: ``self``, ``from``): FX passes it as a keyword, never a variable."""
    return None if NAME.fullmatch(text) else "is no name (letters, digits, _ and . only)"


def _check_name(text: str) -> str | None:
    """A name FX may write into source: plain characters, no word Python reserves as the whole name or
    a part, and no part that begins with ``__`` (``__class__.forward`` walks Python's attributes)."""
    if not NAME.fullmatch(text):
        return "is no name (letters, digits, _ and . only)"
    parts = text.split(".")
    if text in CODE_WORDS or any(keyword.iskeyword(part) or part.startswith("__") for part in parts):
        return "is a word Python reserves (a keyword, self, or a name beginning with __)"
    return None


def _check_identifier(text: str) -> str | None:
    return None if text.isidentifier() and text.isascii() and not keyword.iskeyword(text) else "is no identifier"


def _check_text(text: str) -> str | None:
    """A string passed to an op: FX writes it into its source with repr, whatever it holds."""
    return None


def _check_input_text(text: str) -> str | None:
    """A string input's or constant input's value: torch writes it between quotes into its guards' source."""
    return None if not re.search(r"['\"\\\x00-\x1f\x7f]", text) else "holds a quote, backslash or control character"


def _check_device(text: str) -> str | None:
    return None if text in DEVICE_TYPES else "is no device type"


def _check_version(program: schema.ExportedProgram) -> None:
    major = getattr(program.schema_version, "major", None)
    if major != schema.SCHEMA_VERSION[0]:
        raise Refusal(f"it was written in schema version {major} by torch {str(program.torch_version)[:20]!r}; "
                      f"this reader knows version {schema.SCHEMA_VERSION[0]} (torch {torch.__version__.split('+')[0]})")


def _check_torch_version(text: str) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_.+<=-]{0,40}", text) else "is no torch version"


def _check_target(text: str) -> str | None:
    """The ops torch registered itself, resolved without calling anything."""
    if text in SYM_OP_TARGETS:
        return None
    hop = HOP_TARGET.fullmatch(text)
    if hop:
        if hop[1] in REFUSED_HOPS:
            return "is a higher-order op that runs code the archive names"
        found = getattr(torch.ops.higher_order, hop[1], None)
        return None if isinstance(found, torch._ops.HigherOrderOperator) else "is no higher-order op torch knows"
    match = OP_TARGET.fullmatch(text)
    if not match:
        return "is no operator of torch (torch.ops.NAMESPACE.OP.OVERLOAD)"
    namespace, op, overload = match.groups()
    if namespace not in OP_NAMESPACES:
        return f"is an op of the namespace {namespace!r}: profile reads {', '.join(sorted(OP_NAMESPACES))} ops"
    if op in REFUSED_OPS:
        return "is an op that reads or writes files"
    try:
        packet = getattr(getattr(torch.ops, namespace), op)
        found = getattr(packet, overload)
    except (AttributeError, RuntimeError):
        return "is no op torch registered"
    if not isinstance(found, torch._ops.OpOverload):
        return "is no op torch registered"
    if any(argument.name in ("filename", "file", "path") for argument in found._schema.arguments):
        return "is an op that reads or writes files"
    return None


def _check_expression(text: str) -> str | None:
    """What ``sympy.sympify`` may be given: it evaluates the string as Python. Torch writes
    ``srepr``: calls of sympy's classes on integers and symbol names, nothing else; a power's
    exponent is a small integer and its base holds no power (a tower of powers never ends)."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return "is no shape expression"
    if _depth(tree.body) > 32:
        return "nests too deep"
    for node in ast.walk(tree):
        if not isinstance(node, EXPRESSION_NODES):
            return f"is no shape expression: it holds a {type(node).__name__}"
        if isinstance(node, ast.Name) and node.id not in EXPRESSION_FUNCTIONS and not SYMBOL.fullmatch(node.id):
            return f"is no shape expression: it names {node.id[:30]!r}"
        if isinstance(node, ast.Constant) and not _size_constant(node.value):
            return "is no shape expression: it holds a constant that is no number or symbol name"
        if isinstance(node, ast.keyword) and node.arg not in SYMBOL_ASSUMPTIONS:
            return f"is no shape expression: it passes {str(node.arg)[:30]!r}"
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                return "is no shape expression: it calls what it computes"
            if node.func.id in POWERS and not _small_power(node):
                return "is no shape expression torch writes: a power of a power, or past the 64th"
    return None


def _size_constant(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return abs(value) < 2**64
    if isinstance(value, float):
        return True
    return isinstance(value, str) and bool(SYMBOL.fullmatch(value) or re.fullmatch(r"[-+]?[0-9.]{1,40}(e[-+]?[0-9]{1,3})?", value))


def _small_power(node: ast.Call) -> bool:
    if len(node.args) != 2 or node.keywords:
        return False
    base, exponent = node.args
    if any(isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in POWERS
           for inner in ast.walk(base)):
        return False
    if isinstance(exponent, ast.Call) and isinstance(exponent.func, ast.Name) and exponent.func.id == "Integer":
        exponent = exponent.args[0] if len(exponent.args) == 1 else exponent
    if isinstance(exponent, ast.UnaryOp) and isinstance(exponent.op, ast.USub):
        exponent = exponent.operand
    return isinstance(exponent, ast.Constant) and isinstance(exponent.value, int) and abs(exponent.value) <= 64


def _depth(node: ast.AST) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _check_guard(text: str) -> str | None:
    """What torch writes into the source of the guards function it exec-s."""
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return "is no guard (not a Python expression)"
    for node in ast.walk(tree):
        if not isinstance(node, GUARD_NODES):
            return f"is no guard: it holds a {type(node).__name__}"
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str) and not re.fullmatch(r"[A-Za-z0-9_]{0,100}", node.value):
                return "is no guard: it holds a string that is no name"
            if not isinstance(node.value, (int, float, str)) or (isinstance(node.value, int) and abs(node.value) > 2**63):
                return "is no guard: it holds a constant that is no size"
        elif isinstance(node, ast.Name) and node.id not in ("L", *GUARD_FUNCTIONS):
            return f"is no guard: it names {node.id[:30]!r}"
        elif isinstance(node, ast.Attribute) and node.attr not in GUARD_CALLS:
            return f"is no guard: it reads .{node.attr[:30]}"
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr not in GUARD_CALLS:
                return f"is no guard: it calls .{node.func.attr[:30]}()"
            if node.keywords:
                return "is no guard: it passes keywords"
            if isinstance(node.func, ast.Attribute) and node.args:
                return f"is no guard: .{node.func.attr}() takes nothing"
            if not isinstance(node.func, (ast.Attribute, ast.Name)):
                return "is no guard: it calls what it computes"
    return None


def _check_treespec(text: str) -> str | None:
    """Parsed by torch's pytree: only its own container types (a defaultdict's spec names a module it imports)."""
    try:
        version, tree = json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return "is no tree spec"
    problem = None
    stack = [tree]
    while stack and problem is None:
        node = stack.pop()
        if not isinstance(node, dict) or set(node) != {"type", "context", "children_spec"}:
            return "is no tree spec"
        if node["type"] not in TREESPEC_TYPES:
            return f"is a tree spec of the type {str(node['type'])[:40]!r}: only torch's own containers are read"
        context = node["context"]
        if context is not None:
            try:
                decoded = json.loads(context) if isinstance(context, str) else None
            except (ValueError, RecursionError):
                return "is no tree spec"
            if not isinstance(context, str) or not _plain_keys(decoded):
                return "is a tree spec whose keys are no names"
        if not isinstance(node["children_spec"], list):
            return "is no tree spec"
        stack.extend(node["children_spec"])
    return problem


def _plain_keys(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int)):
        return True
    if isinstance(value, str):
        return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,100}|[A-Za-z0-9_.]{0,100}", value))
    if isinstance(value, list):
        return all(_plain_keys(item) for item in value)
    return False


def _keep_module_stack(metadata: dict[str, Any]) -> None:
    """Profiling reads a node's ``nn_module_stack`` (which module ran it); the rest is dropped unread."""
    stack = metadata.get("nn_module_stack")
    metadata.clear()
    if isinstance(stack, str) and not re.search(r"[\x00-\x1f\x7f]", stack) and len(stack) <= 20_000:
        metadata["nn_module_stack"] = stack


STRING_CHECKS: dict[tuple[str, str], Callable[[str], str | None]] = {
    ("Node", "target"): _check_target,
    ("Argument", "as_operator"): _check_target,
    ("SymExpr", "expr_str"): _check_expression,
    ("ExportedProgram", "range_constraints key"): _check_expression,  # a symbol's expression, as str() writes it
    ("ExportedProgram", "guards_code"): _check_guard,
    ("ExportedProgram", "torch_version"): _check_torch_version,
    ("ModuleCallSignature", "in_spec"): _check_treespec,
    ("ModuleCallSignature", "out_spec"): _check_treespec,
    ("ModuleCallSignature", "forward_arg_names"): _check_identifier,
    ("NamedArgument", "name"): _check_argument_name,
    ("NamedTupleDef", "field_names"): _check_identifier,
    ("Argument", "as_string"): _check_text,
    ("Argument", "as_strings"): _check_text,
    ("ConstantValue", "as_string"): _check_input_text,
    ("Graph", "inputs"): _check_input_text,
    ("Device", "type"): _check_device,
}
