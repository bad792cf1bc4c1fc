"""Every v1.1 feature against an independent PyTorch reference (tests/torch_oracle.py).

Each problem in tests/v11_problems/ is run through the real command (``backward --format json``)
and compared, tensor by tensor, with the result PyTorch autograd computes from the same file.
Skipped cleanly where torch is not installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

torch = pytest.importorskip("torch")
import torch_oracle  # noqa: E402  (tests/ is on sys.path; needs torch)

PROBLEMS = sorted((Path(__file__).parent / "v11_problems").glob("*.json"))


@pytest.mark.parametrize("problem", PROBLEMS, ids=[p.stem for p in PROBLEMS])
def test_matches_pytorch(problem):
    result = CliRunner().invoke(app, ["backward", str(problem), "--format", "json"])
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    differences = torch_oracle.compare(ours, torch_oracle.reference(problem), rtol=1e-7,
                                       atol=1e-10)
    assert not differences, "\n".join(differences)
