"""The words every part of the package shares, in a module that imports nothing of ours.

Budget figures and their labels, device names, the default op kinds, the cost
model's version, and how a measurement stands against its baseline. The
engine, the pyproject reader, the CI gate and the renderers all read them
from here, so none of them has to import another just for a name, and the
plugin can load them without the engine. (The error classes are in
``errors``; the sentences a person reads are in ``render/phrases``.)
"""

from __future__ import annotations

FIGURES = ("params", "flops", "macs")  # the cost model's figures: of every counted layer, and their sums
# The whole model's size and memory, measured whatever is counted: each names its ConvCost field.
SIZE_FIELDS = {"model_params": "model_params", "weights": "weight_bytes", "activations": "activation_bytes"}
SIZE_FIGURES = tuple(SIZE_FIELDS)
BUDGET_FIGURES = FIGURES + SIZE_FIGURES  # every figure a limit may name
BYTE_FIGURES = frozenset({"weights", "activations"})  # sizes in bytes; the others are counts
FIGURE_LABELS = {
    "params": "params", "flops": "FLOPs", "macs": "MACs",
    "model_params": "model params", "weights": "weights", "activations": "activations",
}
DEVICES = ("auto", "meta", "cpu", "cuda")
DEVICE_CHOICES = ("auto", "meta", "cpu", "cuda", "cuda:N")
NO_FORMULA_KIND = "no_formula"  # an uncounted call's kind when no formula counts its work (an FFT, a solver)
ROOT_NAME = "(root)"  # the name of the profiled model itself, when a counted call belongs to it
DEFAULT_COUNT: tuple[str, ...] = ("conv",)  # what a profile counts unless told otherwise: conv modules
# Bumped whenever a formula changes what it counts; stored in every run file so that
# a baseline counted under another version is refused, never silently compared.
COST_MODEL_VERSION = 1
# --conv-run-file (also spelt --conv-json) keeps the dest 0.2 gave it, for conftests that read it.
RUN_FILE_OPTION = "conv_json"
# Run and baseline files bigger than this are refused unread (max_file_size raises it).
DEFAULT_MAX_FILE_SIZE = 64 * 2**20
ENFORCEMENT = ("fail", "warn", "off")  # --conv-budget and diff --budget: what an overrun does
# How a measurement of a run stands against the baseline (the verdict decides, the renderers word it).
NEW, CHANGED, UNCHANGED, NOT_COMPARED = "new", "changed", "unchanged", "not compared"


def is_known_device(device: object) -> bool:
    """auto, meta, cpu, cuda or cuda:N; checked without importing torch."""
    if not isinstance(device, str):
        return False
    return device in DEVICES or (device.startswith("cuda:") and device[5:].isdigit())


# How the session that wrote a run file ended (``ci/ending.py``); every state but the first is incomplete.
COMPLETE, INTERRUPTED, WORKER_CRASHED, COLLECTION_ERRORS, STOPPED, COLLECT_ONLY, INTERNAL_ERROR = (
    "complete", "interrupted", "worker crashed", "collection errors", "stopped", "collect only", "internal error",
)
ENDINGS = (COMPLETE, INTERRUPTED, WORKER_CRASHED, COLLECTION_ERRORS, STOPPED, COLLECT_ONLY, INTERNAL_ERROR)
