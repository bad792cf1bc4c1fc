"""Edge cases the random problems of tests/random_problems.py do not draw, each with literal
expected values (worked with torch float64 autograd and written down, so no torch is needed)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from cnngrad.cli import app


def backward(doc: dict, tmp_path, *options) -> dict:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["backward", str(path), "--format", "json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=1e-12, atol=1e-12)


def test_conv_transpose_depthwise_three_d_kernel(tmp_path):
    """A C_in×k1×k2 kernel with groups = C_in is torch's C_in×1×k1×k2: one output channel per
    group (F = groups), its gradient C_in×k1×k2 again."""
    doc = {"input": [[[1, 2], [3, 4]], [[-1, 0.5], [2, -2]]],
           "layers": [{"type": "conv_transpose2d", "groups": 2, "stride": 2,
                       "kernel": [[[1, -1], [2, 0.5]], [[0.5, 1], [-2, 3]]]}],
           "delta": (np.arange(32).reshape(2, 4, 4) / 8).tolist()}
    layer = backward(doc, tmp_path)["layers"][0]
    close(layer["output"], [[[1, -1, 2, -2], [2, 0.5, 4, 1], [3, -3, 4, -4], [6, 1.5, 8, 2]],
                            [[-0.5, -1, 0.25, 0.5], [2, -3, -1, 1.5], [1, 2, -1, -2],
                             [-4, 6, 4, -6]]])
    close(layer["delta_in"], [[[1.1875, 1.8125], [3.6875, 4.3125]],
                              [[6.0, 6.625], [8.5, 9.125]]])
    close(layer["grads"]["kernel"], [[[8.5, 9.75], [13.5, 14.75]],
                                     [[-1.375, -1.4375], [-1.625, -1.6875]]])
