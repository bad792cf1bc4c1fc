"""Every sample through every command and format, byte for byte as recorded.

The records are in tests/golden/expected/ (one file per case, listed in
tests/golden/cases.json).  After a change of output made on purpose, write them again with
``python tests/golden/regen.py`` and read the diff.  Both run the cases in one process
with the CPU-dependent kernels of numpy, OpenBLAS and glibc pinned (cases.py), so the
records hold on every x86-64 machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from cases import EXPECTED, manifest, write_records  # noqa: E402

CASES = manifest()


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    """Every case's record, run in one process with numpy's, the BLAS's and the C math
    library's kernels pinned (cases.pinned_environment): the same bytes on every x86-64
    machine."""
    folder = tmp_path_factory.mktemp("golden")
    write_records(folder)
    return folder


def test_every_case_has_a_record_and_every_record_a_case():
    assert sorted(p.stem for p in EXPECTED.glob("*.txt")) == sorted(CASES)
    assert len(CASES) > 250  # every sample in every format, every explain path


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_is_byte_identical(name, records):
    expected = (EXPECTED / f"{name}.txt").read_bytes()
    actual = (records / f"{name}.txt").read_bytes()
    assert actual == expected, f"{name} changed; if on purpose: python tests/golden/regen.py"
