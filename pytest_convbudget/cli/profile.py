"""``python -m pytest_convbudget profile SPEC --input SHAPE``: one model's per-layer table, now.

SPEC is a factory (``models.py:resnet``) or a saved program: ``model.pt`` (TorchScript) or
``model.pt2`` (``torch.export``; its example inputs are used unless ``--input`` is given)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.kinds import KINDS, parse_count
from ..render.outputs import HTML_REPORT
from ..words.errors import CliError, CountError, ProfileError
from ..engine.input_spec import INPUT_DTYPES, InputSpec
from .loading import is_model_file, load_model_file, load_object

if TYPE_CHECKING:
    from ..engine.results import ConvCost


def parse_shape(text: str, option: str = "--input") -> tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; every size a positive integer."""
    parts = text.strip().lower().split("x")
    if not text.strip() or not all(part.isdigit() and int(part) > 0 for part in parts):
        raise CliError(f"bad {option} shape {text!r}: expected positive sizes joined by x, e.g. 1x3x224x224")
    return tuple(int(part) for part in parts)


def parse_input(text: str, option: str = "--input") -> InputSpec:
    """``SHAPE[:DTYPE][=FILL]``: ``1x3x224x224``, ``1x128:int64``, ``1x128:int64=1`` (an all-ones mask)."""
    body, _, fill_text = text.partition("=")
    shape_text, _, dtype = body.partition(":")
    dtype = dtype.strip() or "float32"
    if dtype not in INPUT_DTYPES:
        raise CliError(f"bad {option} dtype {dtype!r} in {text!r}: expected one of {', '.join(INPUT_DTYPES)}")
    fill = None
    if fill_text:
        try:
            fill = float(fill_text)
        except ValueError:
            raise CliError(f"bad {option} fill {fill_text!r} in {text!r}: expected a number, e.g. =1") from None
    return InputSpec(parse_shape(shape_text, option), dtype, fill)


def parse_kwarg(text: str) -> tuple[str, InputSpec]:
    """``NAME=SPEC``: a keyword input such as ``attention_mask=1x128:int64=1``."""
    name, sep, spec = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise CliError(f"bad --kwarg {text!r}: expected NAME=SHAPE[:DTYPE][=FILL], e.g. attention_mask=1x128:int64=1")
    return name.strip(), parse_input(spec, "--kwarg")


def add_profile_command(commands: Any) -> None:
    prof = commands.add_parser("profile", help="profile one model and print its per-layer table")
    prof.add_argument("spec", help="path/to/models.py:factory, package.module:factory, model.pt (TorchScript) "
                                   "or model.pt2 (torch.export)")
    prof.add_argument("--input", action="append", default=[], metavar="SHAPE[:DTYPE][=FILL]",
                      help="a positional input: 1x3x224x224, or 1x128:int64 for token ids; repeat for several "
                           "(a .pt2 file's example inputs by default)")
    prof.add_argument("--kwarg", action="append", default=[], metavar="NAME=SHAPE[:DTYPE][=FILL]",
                      help="a keyword input, such as attention_mask=1x128:int64=1 (all ones); repeat for several")
    prof.add_argument("--vocab", type=int, default=None, metavar="N",
                      help="integer inputs are drawn below N (default: the model's smallest nn.Embedding)")
    prof.add_argument("--device", default="auto", help="auto (default), meta, cpu, cuda or cuda:N")
    prof.add_argument("--batch-size", type=int, default=None, help="divide totals by this instead of the input's batch")
    prof.add_argument("--count", action="append", default=None, metavar="KIND",
                      help=f"an op kind to count ({', '.join(KINDS)}) or 'all'; repeat for several; default: conv")
    prof.add_argument("--json", action="store_true", help="print the result as JSON (exact integers)")
    prof.add_argument("--html", type=Path, default=None, metavar="PATH",
                      help="also write the profile as one self-contained HTML page to PATH")
    prof.set_defaults(run=run_profile)


def run_profile(args: argparse.Namespace) -> int:
    specs = [parse_input(text) for text in args.input]
    keyword_specs = dict(parse_kwarg(text) for text in args.kwarg)
    if args.vocab is not None and args.vocab <= 0:
        raise CliError(f"bad --vocab {args.vocab}: expected a positive number of token ids")
    count = None
    if args.count is not None:
        try:
            count = parse_count(args.count)
        except CountError as error:
            raise CliError(f"--count: {error}") from None
    model, examples = _load_model(args.spec)
    if not specs and examples is None:
        raise CliError(f"{args.spec}: give its inputs with --input SHAPE[:DTYPE] (repeat for several)")
    from ..engine.forms import runnable_module
    from ..engine.inputs import random_inputs

    model = runnable_module(model)  # an exported program's module: its embeddings give the vocabulary
    if specs:
        inputs = random_inputs(specs, args.device, model, args.vocab)
        keywords = dict(zip(keyword_specs, random_inputs(list(keyword_specs.values()), args.device, model, args.vocab)))
    else:  # the example inputs an exported program was saved with
        inputs, keywords = list(examples[0]), examples[1]
        keywords.update(zip(keyword_specs, random_inputs(list(keyword_specs.values()), args.device, model, args.vocab)))
    from ..engine.profiler import profile

    try:
        cost = profile(model, *inputs, kwargs=keywords, device=args.device, batch_size=args.batch_size,
                       count=count)
    except ProfileError as error:
        raise CliError(str(error)) from error
    except Exception as error:
        raise CliError(f"the forward of {args.spec} raised {type(error).__name__}: {error}") from error
    if args.html is not None:  # before printing: a bad path is the one line a mistake gets
        write_profile_page(args.html, args.spec, cost)
    print(json.dumps(cost.to_dict(), indent=2, sort_keys=True) if args.json else cost.table())
    return 0


def _load_model(spec: str) -> tuple[Any, tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """The model a spec names, and the inputs it came with (an exported program's)."""
    if is_model_file(spec):
        return load_model_file(spec)
    factory = load_object(spec)
    from ..engine.forms import is_model

    if is_model(factory):
        return factory, None
    if not callable(factory):
        raise CliError(f"{spec} is neither a torch.nn.Module nor a factory that returns one")
    try:
        model = factory()
    except Exception as error:
        raise CliError(f"factory {spec} raised {type(error).__name__}: {error}") from error
    if not is_model(model):
        raise CliError(f"factory {spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model, None


def write_profile_page(path: Path, spec: str, cost: ConvCost) -> None:
    """The profile as the HTML report draws a run: one measurement, no limits, no baseline,
    judged by the same ``build_report``, drawn and written by the same two steps as the gate's files."""
    from ..budgets.measurement import Measurement
    from ..ci.runfile import RunEntry, RunFile
    from ..ci.verdict import GatePolicy, build_report
    from ..render.outputs import OUTPUTS, NotWritten, draw, write

    measurement = Measurement(test_id=spec, name=cost.model, index=0, cost=cost, per="sample")
    report = build_report(RunFile((RunEntry(measurement, "passed"),)), None, GatePolicy())
    try:
        write(HTML_REPORT, path, draw(OUTPUTS["html"], report, path, HTML_REPORT))
    except NotWritten as failure:
        raise CliError(str(failure)) from None
