"""Regressions found auditing the teaching outputs (explain, --show-steps, gradcheck) on
random problems of every layer type."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()


def test_a_fortran_order_npy_is_read_in_its_own_order(tmp_path, monkeypatch):
    # np.save of a transposed array writes fortran_order: True; its 1.0 was compared with
    # another cell's 0 and called "too small (float64 rounds it to 0)"
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.asfortranarray([[1.0, 1.0], [0.0, 2.0]]))
    (tmp_path / "p.json").write_text(json.dumps(
        {"input": {"npy": "x.npy"}, "kernel": [[1]], "delta": [[1, 1], [1, 1]]}))
    result = runner.invoke(app, ["forward", "p.json", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output"] == [[1.0, 1.0], [0.0, 2.0]]
