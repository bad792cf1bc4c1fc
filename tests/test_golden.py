"""Every sample through every command and format, byte for byte as recorded.

The records are in tests/golden/expected/ (one file per case, listed in
tests/golden/cases.json).  After a change of output made on purpose, write them again with
``python tests/golden/regen.py`` and read the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from cases import EXPECTED, manifest, run  # noqa: E402

CASES = manifest()


def test_every_case_has_a_record_and_every_record_a_case():
    assert sorted(p.stem for p in EXPECTED.glob("*.txt")) == sorted(CASES)
    assert len(CASES) > 250  # every sample in every format, every explain path


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_is_byte_identical(name):
    expected = (EXPECTED / f"{name}.txt").read_bytes()
    actual = run(CASES[name]).encode("utf-8")
    assert actual == expected, f"{name} changed; if on purpose: python tests/golden/regen.py"
