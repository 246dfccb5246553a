"""``profile --input SHAPE[:DTYPE][=FILL]`` and ``--kwarg NAME=SPEC``: token ids and masks from the command line.

A language model takes integer ids that its embedding accepts and, as it is
really called, an attention mask by keyword. The ids are drawn below the
model's smallest embedding (or ``--vocab``), a mask is a constant fill, and
every bad spec is one line with exit status 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pytest_convbudget.cli import main
from pytest_convbudget.engine.input_spec import InputSpec
from pytest_convbudget.engine.inputs import random_inputs

MODELS = '''
import torch
from torch import nn


class Tagger(nn.Module):
    """Token ids in, a linear head over the masked mean of their embeddings out."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, ids, attention_mask=None):
        assert ids.dtype == torch.int64
        states = self.embed(ids)
        if attention_mask is not None:
            assert attention_mask.dtype == torch.int64
            states = states * attention_mask.unsqueeze(-1)
        return self.head(states.mean(dim=1))
'''


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest_convbudget", "profile", "models.py:Tagger", *args],
                          cwd=tmp_path, capture_output=True, text=True, check=False)


def test_token_ids_and_a_mask_profile_a_language_model_on_meta(tmp_path: Path) -> None:
    done = run(tmp_path, "--input", "2x128:int64", "--kwarg", "attention_mask=2x128:int64=1", "--count", "linear",
               "--json")
    assert done.returncode == 0, done.stderr
    import json

    cost = json.loads(done.stdout)
    assert cost["device"] == "meta"
    assert cost["input_shapes"] == [[2, 128], [2, 128]]
    assert (cost["params"], cost["macs"]) == (16 * 4 + 4, 16 * 4)


@pytest.mark.parametrize(("args", "message"), [
    (["--input", "2x128:int65"], "bad --input dtype 'int65' in '2x128:int65': expected one of float32, float16, "
                                 "bfloat16, float64, int64, int32, bool"),
    (["--input", "2x128:int64=one"], "bad --input fill 'one' in '2x128:int64=one': expected a number, e.g. =1"),
    (["--input", "2x128:int64", "--kwarg", "2x128"], "bad --kwarg '2x128': expected NAME=SHAPE[:DTYPE][=FILL], "
                                                     "e.g. attention_mask=1x128:int64=1"),
    (["--input", "2x128:int64", "--kwarg", "mask=2xA"], "bad --kwarg shape '2xA': expected positive sizes joined by "
                                                        "x, e.g. 1x3x224x224"),
    (["--input", "2x128:int64", "--vocab", "0"], "bad --vocab 0: expected a positive number of token ids"),
])
def test_a_bad_input_spec_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = run(tmp_path, *args)
    assert done.returncode == 2
    assert done.stderr == f"python -m pytest_convbudget: error: {message}\n"


def test_ids_are_drawn_below_the_smallest_embedding_or_the_given_vocabulary() -> None:
    model = torch.nn.Sequential(torch.nn.Embedding(7, 2), torch.nn.Embedding(100, 2))
    (ids,) = random_inputs([InputSpec((4, 1000), "int64")], "cpu", model)
    assert ids.dtype == torch.int64 and int(ids.min()) >= 0 and int(ids.max()) == 6
    (ids,) = random_inputs([InputSpec((4, 1000), "int32")], "cpu", model, vocab=3)
    assert ids.dtype == torch.int32 and set(ids.unique().tolist()) == {0, 1, 2}
    (mask,) = random_inputs([InputSpec((2, 5), "bool", 1.0)], "cpu")
    assert mask.dtype == torch.bool and bool(mask.all())
    (image,) = random_inputs([(1, 3, 4, 4)], "meta")
    assert image.device.type == "meta" and image.dtype == torch.float32


def test_main_reads_the_same_specs_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models.py").write_text(MODELS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["profile", "models.py:Tagger", "--input", "1x8:int64", "--count", "linear"]) == 0
    assert "total linear MACs: 64" in capsys.readouterr().out
