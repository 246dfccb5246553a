"""Budgets per token: FLOPs and MACs over the tokens a forward ran.

``embedder()`` is an embedding of width 8 and a linear 8 -> 4 with a bias: under
``count="all"`` the linear is 2*8*4 = 64 FLOPs and 32 MACs per token (see the cost
model). On token ids of shape (2, 8) that is 16 tokens, 1,024 FLOPs for the batch,
512 per sample and 64 per token.
"""

from __future__ import annotations

import pytest

from plugin_helpers import assert_no_traceback, literal, usage_error_lines, write_pyproject, write_tests
from plugin_helpers import preloaded  # noqa: F401  (a fixture, requested by name)

pytestmark = pytest.mark.usefixtures("preloaded")

EMBEDDER = """
from torch import nn


def embedder():
    return nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 4))


def ids(batch=2, sequence=8):
    return torch.zeros(batch, sequence, dtype=torch.long)
"""


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester, '[tool.convbudget]\ncount = "all"\nper = "token"\n')


def test_a_limit_per_token_compares_the_batch_over_its_tokens(pytester: pytest.Pytester) -> None:
    write_tests(pytester, EMBEDDER + """

@pytest.mark.budget(flops=64, macs="32 MACs")
def test_fits(conv_cost):
    conv_cost(embedder(), ids())


@pytest.mark.budget(flops=63)
def test_over(conv_cost):
    conv_cost(embedder(), ids(batch=3, sequence=5))


@pytest.mark.budget(flops=64)
def test_longer_sequences_cost_the_same_per_token(conv_cost):
    cost = conv_cost(embedder(), ids(batch=1, sequence=100))
    assert (cost.tokens, cost.total_flops) == (100, 6_400)
""")
    result = pytester.runpytest("--conv-report")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        literal("  FLOPs per token 64 (64) > limit 63 (63) by 1.6% [limit from @pytest.mark.budget]"),
        "FLOPs and MACs are per token where per=token; budgets compare the same figures",
    ])
    assert_no_traceback(result.outlines)


def test_tokens_are_given_where_no_input_tells_them_and_a_marker_sets_per(pytester: pytest.Pytester) -> None:
    write_pyproject(pytester, '[tool.convbudget]\ncount = "all"\n')
    write_tests(pytester, EMBEDDER + """

@pytest.mark.budget(flops=64, per="token")
def test_features_with_tokens(conv_cost):
    conv_cost(nn.Linear(8, 4), torch.randn(2, 8, 8), tokens=16)  # 1,024 FLOPs over 16 tokens


@pytest.mark.budget(flops=512)
def test_per_sample_here(conv_cost):
    conv_cost(embedder(), ids())  # the table's per: 512 per sample
""")
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_per_token_without_tokens_is_one_line_naming_the_setting(pytester: pytest.Pytester) -> None:
    write_tests(pytester, EMBEDDER + """

def test_images(conv_cost):
    conv_cost(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8))
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([literal(
        "test_models.py::test_images: conv_cost: [tool.convbudget] per = 'token' in pyproject.toml needs the "
        "number of tokens, and this call has no integer input of shape (batch, sequence); pass "
        "conv_cost(..., tokens=N)")])
    assert_no_traceback(result.outlines)


def test_a_bad_per_is_refused_where_it_is_written(pytester: pytest.Pytester) -> None:
    write_tests(pytester, EMBEDDER + """

@pytest.mark.budget(per="word")
def test_marked(conv_cost):
    conv_cost(embedder(), ids())
""")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_models.py::test_marked: @pytest.mark.budget(per='word'): per must be one of "
                                 "'sample', 'batch', 'token', got 'word'"])
    write_pyproject(pytester, '[tool.convbudget]\nper = "word"\n')
    table = pytester.runpytest()
    assert table.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = usage_error_lines(table)
    assert line.endswith("per = 'word': expected 'sample', 'batch' or 'token'")


def test_the_token_count_is_read_from_the_first_integer_input_of_two_dimensions() -> None:
    import torch
    from torch import nn

    from pytest_convbudget import profile

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(10, 4)

        def forward(self, mask: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
            return self.embed(ids) * mask[..., None]

    mask, ids = torch.ones(3, 7), torch.zeros(3, 7, dtype=torch.long)
    assert profile(TwoInputs(), mask, ids).tokens == 21  # the float mask is not token ids
    assert profile(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8)).tokens is None
    assert profile(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), tokens=64).tokens == 64


def test_tokens_must_be_a_positive_whole_number() -> None:
    import torch
    from torch import nn

    from pytest_convbudget import profile
    from pytest_convbudget.engine.profiler import ProfileUsageError

    for bad in (0, -3, 2.5, True, "16"):
        with pytest.raises(ProfileUsageError, match=r"^tokens must be a positive int, got "):
            profile(nn.Linear(2, 2), torch.randn(1, 2), tokens=bad)


def test_every_output_says_per_token_beside_the_per_sample_layers(pytester: pytest.Pytester) -> None:
    """The failure line, the comment and the page's header say what the budgeted figure is of,
    and the costliest layers beside it say theirs: never a per-token limit read as per sample."""
    write_tests(pytester, EMBEDDER + """

@pytest.mark.budget(flops=63)
def test_over(conv_cost):
    conv_cost(embedder(), ids(batch=3, sequence=5))
""")
    result = pytester.runpytest("--conv-markdown=comment.md", "--conv-html=page.html")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        literal("  FLOPs per token 64 (64) > limit 63 (63) by 1.6% [limit from @pytest.mark.budget]"),
        literal("  costliest layers by FLOPs per sample: 1 320"),
    ])
    comment = (pytester.path / "comment.md").read_text(encoding="utf-8")
    assert "FLOPs per token 64 > 63 (+1.6%)" in comment and "costliest by FLOPs per sample: `1` 320" in comment
    assert "FLOPs and MACs are per token where per=token; budgets compare the same figures" in \
        (pytester.path / "page.html").read_text(encoding="utf-8")
