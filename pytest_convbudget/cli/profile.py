"""``python -m pytest_convbudget profile SPEC --input SHAPE``: one model's per-layer table, now.

SPEC is a factory (``models.py:resnet``) or a saved program: ``model.pt`` (TorchScript) or
``model.pt2`` (``torch.export``; its example inputs are used unless ``--input`` is given).

A ``.pt2`` is data: it is read by the engine's own archive reader, and nothing it carries
runs. A TorchScript file and a factory are code: a ``.pt`` is refused unless
``--trust-code`` says its origin is trusted. ``--timeout`` runs the profile in a child
process and ends it, whatever it is stuck in (a Python loop, a TorchScript loop in C++). The
child never outlives the parent: a parent ended by SIGTERM or SIGHUP ends the child's process
group first, and the child ends itself when its parent dies (SIGKILL included). The child
starts without the working folder on ``sys.path`` (``-P``), so a ``zipfile.py`` lying in an
untrusted checkout cannot stand in for the standard library's."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.kinds import KINDS, parse_count
from ..render.outputs import HTML_REPORT
from ..words.errors import CliError, ConfigError, CountError, ProfileError
from ..words.quantity import parse_byte_size
from ..engine.input_spec import INPUT_DTYPES, InputSpec
from .loading import TRUSTED_SUFFIXES, import_module, is_model_file, load_model_file, load_object

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
    prof.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                      help="import MODULE first (repeat for several): your package that registers the custom ops "
                           "a saved program calls (torch.library); it runs that package's code")
    prof.add_argument("--trust-code", action="store_true",
                      help="profile a TorchScript file (.pt, .pth): loading and running it runs the code it holds, "
                           "so pass this only for files whose origin you trust (a .pt2 is read as data: no flag)")
    prof.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                      help="end the profile (loading and the forward) after SECONDS with one line and exit 2; "
                           "it then runs in a child process (0: no limit, the default)")
    prof.add_argument("--max-file-size", type=_byte_size, default=None, metavar="SIZE",
                      help="refuse model files (.pt2, .pt) bigger than SIZE, on disk or unpacked, unread "
                           "(default: max_file_size in [tool.convbudget], else 64MiB)")
    prof.set_defaults(run=run_profile)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 10**7:
        raise argparse.ArgumentTypeError(f"bad --timeout {text!r}: expected seconds, such as 60 (0: no limit)")
    return seconds


def _byte_size(text: str) -> int:
    try:
        return parse_byte_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# Set in the --timeout child's environment to the parent's pid: the child profiles, with no timeout of its own.
CHILD_OF = "CONVBUDGET_PROFILE_CHILD_OF"
# The child's first lines: the working folder off sys.path (``-P`` does it from Python 3.11), and this
# package found where the parent found it when it is not installed (appended: the standard library wins).
CHILD_START = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False):\n"
    "    del sys.path[0]\n"
    "root = sys.argv.pop(1)\n"
    "import importlib.util, runpy\n"
    "if importlib.util.find_spec('pytest_convbudget') is None:\n"
    "    sys.path.append(root)\n"
    "runpy.run_module('pytest_convbudget', run_name='__main__', alter_sys=True)\n"
)
PR_SET_PDEATHSIG = 1  # linux/prctl.h
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def run_profile(args: argparse.Namespace) -> int:
    parent = os.environ.pop(CHILD_OF, "")
    if parent.isdigit():
        end_with_parent(int(parent))
    elif args.timeout:
        return run_in_child(args)
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
    for module in args.imports:  # the user's own package, named: its custom ops registered before loading
        import_module(module)
    read_weights = args.device not in ("auto", "meta")  # a .pt2's weights stay unread on meta
    model, examples = _load_model(args, read_weights)
    try:
        cost = _profile(args, model, examples, specs, keyword_specs, count)
    except ProfileError as error:
        if read_weights or args.device != "auto" or not _is_pt2(args.spec):
            raise CliError(str(error)) from error
        # auto left meta: the forward runs on the .pt2's real weights, read now
        model, examples = _load_model(args, True)
        try:
            cost = _profile(args, model, examples, specs, keyword_specs, count)
        except ProfileError as second:
            raise CliError(str(second)) from second
    if args.html is not None:  # before printing: a bad path is the one line a mistake gets
        write_profile_page(args.html, args.spec, cost)
    try:
        print(json.dumps(cost.to_dict(), indent=2, sort_keys=True) if args.json else cost.table(), flush=True)
    except BrokenPipeError:  # `profile ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet too
    return 0


def _profile(args: argparse.Namespace, model: Any, examples: Any, specs: list[InputSpec],
             keyword_specs: dict[str, InputSpec], count: Any) -> ConvCost:
    if not specs and examples is None:
        raise CliError(f"{args.spec}: give its inputs with --input SHAPE[:DTYPE] (repeat for several)")
    from ..engine.forms import runnable_module
    from ..engine.inputs import random_inputs

    try:
        model = runnable_module(model)  # an exported program's module: its embeddings give the vocabulary
    except ProfileError:
        raise
    except Exception as error:  # torch rebuilds an exported program's module from its graph here
        raise CliError(f"{args.spec}: torch cannot build a module from this program "
                       f"({type(error).__name__}: {_first_line(error)})") from None
    if specs:
        inputs = random_inputs(specs, args.device, model, args.vocab)
        keywords = dict(zip(keyword_specs, random_inputs(list(keyword_specs.values()), args.device, model, args.vocab)))
    else:  # the example inputs an exported program was saved with
        inputs, keywords = list(examples[0]), dict(examples[1])
        keywords.update(zip(keyword_specs, random_inputs(list(keyword_specs.values()), args.device, model, args.vocab)))
    from ..engine.profiler import profile

    try:
        return profile(model, *inputs, kwargs=keywords, device=args.device, batch_size=args.batch_size, count=count)
    except ProfileError:
        raise
    except Exception as error:
        raise CliError(f"the forward of {args.spec} raised {type(error).__name__}: {error}") from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else "no message"


def _is_pt2(spec: str) -> bool:
    return is_model_file(spec) and spec.endswith(".pt2")


def _load_model(args: argparse.Namespace, read_weights: bool) -> tuple[Any, tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """The model a spec names, and the inputs it came with (an exported program's)."""
    spec = args.spec
    if is_model_file(spec):
        if spec.endswith(TRUSTED_SUFFIXES) and not args.trust_code:
            raise CliError(f"{spec} is a TorchScript program: loading and profiling it runs the code it holds "
                           "(its __setstate__ and forward); pass --trust-code if you trust its origin, or profile a "
                           ".pt2 (torch.export.save), which is read as data")
        limit, hint = _file_size_limit(args)
        return load_model_file(spec, read_weights, limit, hint)
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


def _file_size_limit(args: argparse.Namespace) -> tuple[int, str]:
    """--max-file-size, else max_file_size of the [tool.convbudget] the plugin would read from here."""
    if args.max_file_size is not None:
        return args.max_file_size, "--max-file-size"
    from ..budgets.pyproject import find_pyproject_from, load_settings

    try:
        return load_settings(find_pyproject_from(Path.cwd())).max_file_size, \
            "--max-file-size or max_file_size in [tool.convbudget]"
    except ConfigError as error:
        raise CliError(str(error)) from None


def run_in_child(args: argparse.Namespace) -> int:
    """The same profile in a child process, ended after ``--timeout`` seconds: a forward stuck in
    C++ (a TorchScript loop) never returns to Python, where a signal handler would run."""
    package_root = str(Path(__file__).resolve().parents[2])
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # older: CHILD_START drops the folder itself
    command = [sys.executable, *safe_path, "-c", CHILD_START, package_root, *args.argv]
    posix = os.name == "posix"
    previous = _catch_ending_signals()
    try:
        child = subprocess.Popen(command, start_new_session=posix,  # its own group: its children end with it
                                 env={**os.environ, CHILD_OF: str(os.getpid())})
        try:
            code = child.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            _end(child, posix)
            raise CliError(f"{args.spec}: the profile did not finish within {args.timeout:g} s (loading and running "
                           "its forward): ended; raise --timeout if it is only slow") from None
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: the child goes with the parent
            _end(child, posix)
            raise
    except _Ended as ended:
        _restore(previous)
        signal.signal(ended.signum, signal.SIG_DFL)
        os.kill(os.getpid(), ended.signum)  # end as the signal meant, now the child is gone
        raise
    finally:
        _restore(previous)
    if code < 0:
        raise CliError(f"{args.spec}: the profile's process was ended by signal {-code} "
                       f"({signal.Signals(-code).name if -code in signal.valid_signals() else 'unknown'})")
    return code


class _Ended(BaseException):
    """SIGTERM or SIGHUP reached the parent of a --timeout child."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_ended(signum: int, frame: object) -> None:
    raise _Ended(signum)


def _catch_ending_signals() -> dict[int, Any]:
    """SIGTERM and SIGHUP raise in the parent, so its child is ended before it goes (an ignored
    signal, as under nohup, stays ignored). Only the main thread can set handlers."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in ENDING_SIGNALS:
        handler = signal.getsignal(signum)
        if handler != signal.SIG_IGN:
            previous[signum] = handler
            signal.signal(signum, _raise_ended)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    previous.clear()


def end_with_parent(parent: int) -> None:
    """In the --timeout child: end when the parent ends, however it ends. Linux kills the child when
    its parent dies (``PR_SET_PDEATHSIG``); elsewhere a thread watches the parent's pid."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
        if armed:
            if os.getppid() != parent:  # the parent died before the request was made
                os._exit(2)
            return
    threading.Thread(target=_watch_parent, args=(parent,), name="convbudget-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.2)
    if os.name == "posix":
        os.killpg(0, signal.SIGKILL)  # the child leads its own group: it and its children
    os._exit(2)


def _end(child: subprocess.Popen[bytes], posix: bool) -> None:
    if posix:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    else:
        child.kill()
    child.wait()


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
