"""The examples project's every output, byte for byte as version 0.2 wrote it.

Run files, baselines, PR comments, HTML pages, terminal sections, ``diff`` in
every format and ``profile`` in every form: :mod:`examples_outputs` produces
them again and each is compared with ``tests/data/examples_outputs/``. A
change to the package's layout or wording that changes what a user gets fails
here, naming the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from examples_outputs import produce

EXPECTED = Path(__file__).resolve().parent / "data" / "examples_outputs"


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("outputs")
    produce(out, tmp_path_factory.mktemp("work"))
    return out / "files"


def test_the_same_files_are_written(produced: Path) -> None:
    assert sorted(path.name for path in produced.iterdir()) == sorted(path.name for path in EXPECTED.iterdir())


@pytest.mark.parametrize("name", sorted(path.name for path in EXPECTED.iterdir()))
def test_each_output_is_byte_identical(produced: Path, name: str) -> None:
    expected = (EXPECTED / name).read_bytes()
    actual = (produced / name).read_bytes()
    if actual != expected:
        lines = zip(expected.decode("utf-8").splitlines(), actual.decode("utf-8").splitlines())
        first = next(((number, old, new) for number, (old, new) in enumerate(lines, 1) if old != new), None)
        pytest.fail(f"{name} differs from version 0.2's; first differing line: {first}", pytrace=False)
