"""``profile model.pt`` (TorchScript) and ``profile model.pt2`` (torch.export): saved programs
profiled from the command line, as a user runs it, in a fresh interpreter.

A ``.pt2`` brings the inputs it was exported with; ``--input`` replaces them. A ``.pt``
needs ``--input``, and ``--trust-code``: loading it runs its code. What is no saved program
(a pickled model, a missing file), a ``.pt`` without trust and inputs an exported program
refuses are one line each, with exit status 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from pt2_models import Encoder, Pairs
from torch import nn

from pytest_convbudget import profile


class Tagger(nn.Module):
    """Token ids (and an optional mask) in, a linear over their embeddings out."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        states = self.embed(ids)
        if attention_mask is not None:
            states = states * attention_mask.unsqueeze(-1)
        return self.head(states)


def cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10)).eval()


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", *args],
                          cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("saved")
    torch.manual_seed(0)
    x = torch.randn(2, 3, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        torch.jit.save(torch.jit.trace(cnn(), x), folder / "cnn.pt")
        torch.jit.save(torch.jit.script(Tagger().eval()), folder / "tagger.pt")
    torch.export.save(torch.export.export(cnn(), (x,)), folder / "cnn.pt2")
    torch.save(cnn(), folder / "pickled.pt")
    return folder


def test_a_pt2_file_profiles_on_the_inputs_it_was_exported_with(saved: Path) -> None:
    done = run(saved, "cnn.pt2", "--count", "all", "--json")
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)
    expected = profile(cnn(), torch.randn(2, 3, 16, 16), count="all")
    assert (cost["device"], cost["input_shapes"]) == ("meta", [[2, 3, 16, 16]])
    assert (cost["params"], cost["flops"], cost["macs"]) == (expected.params, expected.flops, expected.macs)
    assert [layer["name"] for layer in cost["layers"]] == ["0", "3"]


def test_a_pt_file_profiles_on_the_given_inputs_with_its_layer_names(saved: Path) -> None:
    done = run(saved, "cnn.pt", "--input", "2x3x16x16", "--trust-code")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "RecursiveScriptModule on 2x3x16x16 (meta; params, FLOPs and MACs per sample)"
    assert lines[2].split()[:3] == ["0", "Conv2d", "yes"]
    expected = profile(cnn(), torch.randn(2, 3, 16, 16))
    assert f"total conv FLOPs: {expected.flops:,}" in done.stdout
    assert "not in the totals (count = conv): 1 linear op(s) (Linear; 62,720 (62.7 k) FLOPs for the batch)" in done.stdout


def test_a_scripted_language_model_takes_token_ids_and_a_mask(saved: Path) -> None:
    done = run(saved, "tagger.pt", "--input", "1x12:int64", "--kwarg", "attention_mask=1x12:int64=1",
               "--count", "linear", "--json", "--trust-code")
    assert done.returncode == 0, done.stderr
    cost = json.loads(done.stdout)
    assert cost["device"] == "meta"
    assert (cost["params"], cost["macs"]) == (16 * 4 + 4, 12 * 16 * 4)
    assert [layer["name"] for layer in cost["layers"]] == ["head"]


@pytest.mark.parametrize(("args", "message"), [
    (["cnn.pt", "--trust-code"], "cnn.pt: give its inputs with --input SHAPE[:DTYPE] (repeat for several)"),
    (["cnn.pt", "--input", "2x3x16x16"],
     "cnn.pt is a TorchScript program: loading and profiling it runs the code it holds (its __setstate__ and "
     "forward); pass --trust-code if you trust its origin, or profile a .pt2 (torch.export.save), which is read "
     "as data"),
    (["missing.pt2"], "model file not found: missing.pt2"),
    (["cnn.pt2", "--max-file-size", "1KiB"],
     "cnn.pt2: larger than the 1 KiB limit for model files; raise it with --max-file-size"),
    (["pickled.pt", "--input", "1x3x16x16", "--trust-code"],
     "pickled.pt is not a TorchScript file (torch.jit.save): a pickled model or a state dict holds no forward "
     "without its code; pass path/to/models.py:factory instead"),
    (["cnn.pt2", "--input", "1x3x16x16"],
     "the exported program refuses these inputs (Guard failed: input.size()[0] == 2): pass inputs like those it was "
     "exported with (a .pt2 file's example inputs: no --input), or export it with dynamic shapes"),
])
def test_what_cannot_be_profiled_is_one_line(saved: Path, args: list[str], message: str) -> None:
    done = run(saved, *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"python -m pytest_convbudget: error: {message}"]


# -- what torch's exporter writes for ordinary models profiles through the reader of data ----------


class Trimmed(nn.Module):
    """How many positions run depends on an integer input's value: meta reads it from the example."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
        kept = length.item()
        torch._check(kept >= 1)
        torch._check(kept <= x.shape[1])
        return self.head(x[:, :kept])


class Sliced(nn.Module):
    """What meta cannot run: how many outputs are kept depends on the weights' values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = (self.conv.weight > 0).sum().item()
        torch._check(kept >= 0)
        return self.conv(x).flatten(1)[:, :kept]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exported")
    torch.manual_seed(0)
    torch.export.save(torch.export.export(Encoder().eval(), (torch.randn(2, 6, 16),)), folder / "encoder.pt2")
    torch.export.save(torch.export.export(Tagger().eval(), (torch.randint(0, 50, (1, 12)),),
                                          {"attention_mask": torch.ones(1, 12)}), folder / "tagger.pt2")
    pairs = torch.export.Dim("pairs", min=2, max=32)  # a derived dim: its range is keyed by an expression
    torch.export.save(torch.export.export(Pairs().eval(), (torch.randn(4, 3, 16, 16),),
                                          dynamic_shapes=({0: 2 * pairs},)), folder / "dynamic.pt2")
    torch.export.save(torch.export.export(Sliced().eval(), (torch.randn(1, 3, 8, 8),)), folder / "sliced.pt2")
    torch.export.save(torch.export.export(Trimmed().eval(), (torch.randn(1, 10, 8), torch.tensor(3))),
                      folder / "trimmed.pt2")
    return folder


def profiled(cwd: Path, *args: str) -> dict:
    done = run(cwd, *args, "--json", "--count", "all")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_transformer_with_a_buffer_and_a_constant_profiles_like_its_eager_self(exported: Path, device: str) -> None:
    """On meta no weight is read; on cpu every weight is read from the archive and the forward runs for real."""
    cost = profiled(exported, "encoder.pt2", "--device", device)
    torch.manual_seed(0)
    expected = profile(Encoder().eval(), torch.randn(2, 6, 16), count="all", device=device)
    assert cost["device"] == device
    assert (cost["params"], cost["flops"], cost["macs"], cost["model_params"], cost["weight_bytes"]) == (
        expected.params, expected.flops, expected.macs, expected.model_params, expected.weight_bytes)


def test_keyword_example_inputs_are_passed_as_keywords(exported: Path) -> None:
    cost = profiled(exported, "tagger.pt2")
    expected = profile(Tagger().eval(), torch.randint(0, 50, (1, 12)), kwargs={"attention_mask": torch.ones(1, 12)},
                       count="all")
    assert cost["input_shapes"] == [[1, 12], [1, 12]] == [list(shape) for shape in expected.input_shapes]
    assert (cost["params"], cost["macs"]) == (expected.params, expected.macs) == (16 * 4 + 4, 12 * 16 * 4)


def test_a_program_exported_with_dynamic_shapes_takes_other_batches(exported: Path) -> None:
    """Its shape expressions and range guards are read (and checked) before torch rebuilds it."""
    cost = profiled(exported, "dynamic.pt2", "--input", "6x3x16x16")
    expected = profile(Pairs().eval(), torch.randn(6, 3, 16, 16), count="all")
    assert (cost["input_shapes"], cost["params"], cost["flops"]) == ([[6, 3, 16, 16]], expected.params, expected.flops)
    for refused in ("5x3x16x16", "66x3x16x16"):  # odd; past the range
        done = run(exported, "dynamic.pt2", "--input", refused)
        assert done.returncode == 2 and "the exported program refuses these inputs" in done.stderr, done.stderr


def test_auto_reads_the_weights_when_the_forward_cannot_run_on_meta(exported: Path) -> None:
    on_meta = run(exported, "sliced.pt2", "--device", "meta")
    assert on_meta.returncode == 2 and "it cannot be known on meta" in on_meta.stderr
    cost = profiled(exported, "sliced.pt2")
    assert cost["device"] == "cpu" and cost["params"] == 4 * 3 * 3 * 3 + 4


def test_on_meta_the_example_inputs_values_answer_data_dependent_shapes(exported: Path) -> None:
    """The weights stay unread on meta; the example inputs are read, as plain tensors."""
    cost = profiled(exported, "trimmed.pt2", "--device", "meta")
    assert (cost["device"], cost["macs"]) == ("meta", 3 * 8 * 4)


CUSTOM_LIBRARY = '''
import torch


@torch.library.custom_op("convbudget_test_lib::double", mutates_args=())
def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@double.register_fake
def _(x):
    return torch.empty_like(x)
'''
CUSTOM_PROGRAM = '''
import torch

import convbudget_test_lib


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.ops.convbudget_test_lib.double(self.conv(x))


torch.jit.save(torch.jit.trace(Net().eval(), torch.randn(1, 3, 8, 8)), "custom.pt")
'''


def test_a_program_calling_a_custom_op_names_it_and_imports_its_library_when_asked(tmp_path: Path) -> None:
    (tmp_path / "convbudget_test_lib.py").write_text(CUSTOM_LIBRARY, encoding="utf-8")
    (tmp_path / "make.py").write_text(CUSTOM_PROGRAM, encoding="utf-8")
    subprocess.run([sys.executable, "make.py"], cwd=tmp_path, check=True, capture_output=True, timeout=120)
    refused = run(tmp_path, "custom.pt", "--trust-code", "--input", "1x3x8x8")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "python -m pytest_convbudget: error: custom.pt calls the custom op convbudget_test_lib::double, which no "
        "imported library defines: import the package that registers it first (profile --import MODULE)"]
    done = run(tmp_path, "custom.pt", "--trust-code", "--input", "1x3x8x8", "--import", "convbudget_test_lib")
    assert done.returncode == 0, done.stderr
    assert "conv   Conv2d" in done.stdout and "112" in done.stdout
