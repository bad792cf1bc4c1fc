"""Exactness at kinks (contract v1.1): a ReLU input of exactly 0 and a tie between maxima are
decided on the numbers as written, in float mode too; a kink within rounding noise that
cannot be decided exactly is a warning on stderr naming the layer and the cell."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad import kinks
from cnngrad.cli import app
from cnngrad.network import forward
from cnngrad.problem import load_problem

runner = CliRunner()

#: 0.1 + 0.2 − 0.3 is 5.6e-17 in floats, 0 in the numbers as written
RELU_AT_ZERO = {"input": [[0.1, 0.2]],
                "layers": [{"type": "conv2d", "kernel": [[1, 1]], "bias": -0.3},
                           {"type": "relu"}],
                "delta": [[1]]}

#: 0.3 and 0.1 + 0.2 (0.30000000000000004 in floats): a tie as written, in one 2×1 window
TIE = [[0.3, 0], [0.1, 0.2]]


def tie_problem(ties: str, between=()) -> dict:
    return {"input": TIE,
            "layers": [{"type": "conv2d", "kernel": [[1, 1]]}, *between,
                       {"type": "maxpool2d", "size": [2, 1], "ties": ties}],
            "delta": [[1]]}


def backward(tmp_path: Path, problem: dict, *options: str, stdin: bool = False):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    args = ["backward", "-" if stdin else str(path), "--format", "json", *options]
    result = runner.invoke(app, args, input=path.read_text() if stdin else None)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def layer(doc: dict, name: str) -> dict:
    return next(item for item in doc["layers"] if item["name"] == name)


def as_floats(value):
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    if isinstance(value, dict):
        return {key: as_floats(v) for key, v in value.items()}
    return float(Fraction(value)) if isinstance(value, str) else value


# --------------------------------------------------------------------------- ReLU at 0


@pytest.mark.parametrize("stdin", [False, True])
def test_relu_input_zero_as_written_is_zero_in_float_mode(tmp_path, stdin):
    doc, stderr = backward(tmp_path, RELU_AT_ZERO, stdin=stdin)
    assert layer(doc, "conv2d_1")["output"] == [[0.0]]
    assert layer(doc, "relu_1")["output"] == [[0.0]]
    assert layer(doc, "relu_1")["delta_in"] == [[0.0]]  # derivative 0 at 0, not 1
    assert layer(doc, "conv2d_1")["grads"] == {"kernel": [[0.0, 0.0]], "bias": 0.0}
    assert stderr == ""


def test_float_mode_agrees_with_exact_mode_at_the_kink(tmp_path):
    floats, _ = backward(tmp_path, RELU_AT_ZERO)
    exact, _ = backward(tmp_path, RELU_AT_ZERO, "--exact")
    for mine, theirs in zip(floats["layers"], exact["layers"]):
        for key in ("output", "delta_out", "delta_in", "grads"):
            assert mine[key] == as_floats(theirs[key]), (mine["name"], key)


@pytest.mark.parametrize("stored, numbers, pool", [
    # 0.2 + 0.3 − 0.5 stored in float32 sums to 1.49e-08, 0.7 + 0.1 − 0.8 in float16 to
    # 3.7e-04: float mode passed δ through the ReLU where --exact, which reads the decimals,
    # said 0
    ("float32", [[0.2, 0.3, -0.5]], False), ("float16", [[0.7, 0.1, -0.8]], False),
    # 0.1 + 0.2 against 0.3 + 0 in float16: a tie in the decimals, δ to the first
    ("float16", [[0.1, 0.2, 0.3, 0.0]], True), ("float32", [[0.1, 0.2, 0.3, 0.0]], True),
])
def test_a_kink_in_the_decimals_of_a_narrow_npy_is_decided_as_exact_mode_does(tmp_path, stored,
                                                                             numbers, pool):
    np.save(tmp_path / "x.npy", np.array(numbers, dtype=stored))
    layers = ([{"type": "conv2d", "kernel": [[1, 1]], "stride": 2},
               {"type": "maxpool2d", "size": [1, 2]}] if pool else
              [{"type": "conv2d", "kernel": [[1, 1, 1]]}, {"type": "relu"}])
    problem = {"input": {"npy": "x.npy"}, "layers": layers, "delta": [[1]]}
    floats, stderr = backward(tmp_path, problem)
    exact, _ = backward(tmp_path, problem, "--exact")
    # where δ goes is decided alike; the values differ by the stored numbers' rounding only
    # (a kernel gradient of 0.0999755859375 for 0.1 in float16)
    for mine, theirs in zip(floats["layers"], exact["layers"]):
        assert mine["delta_in"] == as_floats(theirs["delta_in"]), mine["name"]
        np.testing.assert_allclose(mine["output"], as_floats(theirs["output"]), atol=1e-3)
    assert stderr == ""
    assert layer(floats, "conv2d_1")["delta_in"] == ([[1.0, 1.0, 0.0, 0.0]] if pool else
                                                     [[0.0, 0.0, 0.0]])


def test_float32_data_away_from_a_kink_says_nothing(tmp_path):
    # the band a float32 .npy widens is its numbers' own rounding (4 of their ulps), not the
    # 256 ulps of a float64 pass's: -0.00035 beside terms of about 10 is a value, not noise
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.standard_normal((1, 3, 32, 32)).astype(np.float32))
    np.save(tmp_path / "w.npy", rng.standard_normal((8, 3, 3, 3)).astype(np.float32))
    problem = {"input": {"npy": "x.npy"},
               "layers": [{"type": "conv2d", "kernel": {"npy": "w.npy"}, "padding": 1},
                          {"type": "relu"}], "delta": np.ones((1, 8, 32, 32)).tolist()}
    _, stderr = backward(tmp_path, problem)
    assert stderr == ""


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_leaky_relu_at_zero_takes_the_slope(tmp_path, dtype):
    problem = json.loads(json.dumps(RELU_AT_ZERO))
    problem["layers"][1] = {"type": "leaky_relu", "slope": 0.5}
    doc, stderr = backward(tmp_path, problem, "--dtype", dtype)
    assert layer(doc, "leaky_relu_1")["delta_in"] == [[0.5]]
    assert layer(doc, "conv2d_1")["output"] == [[0.0]]
    assert stderr == ""


def test_a_float_on_the_right_side_keeps_its_bits(tmp_path):
    # as written the input is 1e-20 > 0; the floats say 5.6e-17 > 0: the same side
    problem = {"input": [[0.1, 0.2, "1e-20"]],
               "layers": [{"type": "conv2d", "kernel": [[1, 1, 1]], "bias": -0.3},
                          {"type": "relu"}],
               "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "conv2d_1")["output"] == [[0.1 + 0.2 + 1e-20 - 0.3]]
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]
    assert stderr == ""


# --------------------------------------------------------------------------- max-pool ties


@pytest.mark.parametrize("ties, expected", [("first", [[1.0], [0.0]]),
                                            ("split", [[0.5], [0.5]]),
                                            ("all", [[1.0], [1.0]])])
def test_a_tie_as_written_is_a_tie(tmp_path, ties, expected):
    # floats alone would send the whole delta to the second cell, 0.30000000000000004
    doc, stderr = backward(tmp_path, tie_problem(ties))
    assert layer(doc, "conv2d_1")["output"] == [[0.3], [0.3]]
    assert layer(doc, "maxpool2d_1")["delta_in"] == expected
    exact, _ = backward(tmp_path, tie_problem(ties), "--exact")
    assert as_floats(layer(exact, "maxpool2d_1")["delta_in"]) == expected
    assert stderr == ""


#: 2600 copies of 0.31 averaged left to right drift to 0.3099999999999814, 335 ulps of 0.31
#: below the 0.31 of the row beside them: more than 256 ulps of a sum of a few terms
LONG_ROWS = 2600


@pytest.mark.parametrize("ties, expected", [("split", [0.5, 0.5]), ("all", [1.0, 1.0]),
                                            ("first", [1.0, 0.0])])
def test_a_tie_after_a_long_average_is_a_tie(tmp_path, ties, expected):
    """The rounding of a long window's sum grows with its length: the tie was broken
    silently, the whole delta sent to the second row (the contract: decided exactly, or a
    warning)."""
    n = LONG_ROWS
    rows = [[0.31] * n, [806] + [0] * (n - 1)]  # both average to 31/100 exactly
    problem = {"input": rows, "layers": [
        {"type": "avgpool2d", "size": [1, n]},
        {"type": "maxpool2d", "size": [2, 1], "ties": ties}], "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[expected[0]], [expected[1]]]
    assert stderr == ""


@pytest.mark.parametrize("layer_type", ["avgpool2d", "avgpool1d", "global_avgpool"])
def test_a_relu_after_a_long_average_is_decided_as_written(tmp_path, layer_type):
    # 10,000 copies of 0.1 average to 0.1 + 1.6e-14 in a pool's window, which the bias of
    # −0.1 left a positive relu input: a delta of 1e-4 for every input cell instead of 0
    # (global_avgpool's mean sums pairwise and lands on 0.1: a guard, not a repair)
    n = 10_000
    pool = ({"type": "avgpool2d", "size": [1, n]} if layer_type == "avgpool2d" else
            {"type": "avgpool1d", "size": n} if layer_type == "avgpool1d" else
            {"type": "global_avgpool"})
    problem = {"input": [[0.1] * n], "layers": [
        pool, {"type": "conv2d" if layer_type == "avgpool2d" else "conv1d",
               "kernel": [[1]] if layer_type == "avgpool2d" else [1], "bias": -0.1},
        {"type": "relu"}], "delta": [[1]]}
    if layer_type == "global_avgpool":
        problem = {"input": [[[0.1] * n]], "layers": [
            pool, {"type": "dense", "weights": [[1]], "bias": -0.1}, {"type": "relu"}],
            "delta": [1]}
    doc, stderr = backward(tmp_path, problem)
    first = doc["layers"][0]["delta_in"]
    assert not np.any(np.asarray(first, dtype=float)), first
    assert stderr == ""


@pytest.mark.parametrize("layer_doc, input_shape, output_shape, terms", [
    ({"type": "conv2d", "kernel": np.ones((4, 3, 2, 5)).tolist(), "bias": [0] * 4},
     (1, 3, 6, 6), (1, 4, 5, 2), 3 * 2 * 5 + 1),
    ({"type": "conv2d", "kernel": np.ones((4, 1, 3, 3)).tolist(), "groups": 2},
     (1, 2, 6, 6), (1, 4, 4, 4), 9),
    ({"type": "conv1d", "kernel": np.ones((2, 3, 4)).tolist()}, (1, 3, 9), (1, 2, 6), 12),
    ({"type": "conv_transpose2d", "kernel": np.ones((4, 2, 3, 3)).tolist(), "groups": 2,
      "bias": [0] * 4}, (1, 4, 5, 5), (1, 4, 7, 7), 2 * 9 + 1),
    ({"type": "dense", "weights": np.ones((3, 5)).tolist(), "bias": 0}, (5,), (3,), 6),
    # a window's cells within the padded input: 3 rows, the 6 + 2 columns of a wide one
    ({"type": "avgpool2d", "size": [3, 8], "padding": [1, 1]}, (1, 1, 6, 6), (1, 1, 2, 1),
     3 * 8),
    ({"type": "avgpool1d", "size": 4}, (1, 2, 9), (1, 2, 2), 4),
    ({"type": "global_avgpool"}, (1, 2, 5, 7), (1, 2), 35),
    ({"type": "maxpool2d", "size": 2}, (1, 1, 4, 4), (1, 1, 2, 2), 1),
    ({"type": "relu"}, (1, 1, 4, 4), (1, 1, 4, 4), 1),
])
def test_a_layer_says_how_many_terms_a_cell_adds_up(layer_doc, input_shape, output_shape,
                                                     terms):
    from cnngrad.families import family_of
    from cnngrad.problem import build_problem

    problem = build_problem({"input": np.zeros(input_shape).tolist(), "layers": [layer_doc],
                             "delta": np.zeros(output_shape).tolist()},
                            file="p.json", base_dir=Path("."))
    spec = problem.layers[0]
    rule = family_of(spec).summed_terms
    assert (1 if rule is None else rule(spec)) == terms


@pytest.mark.parametrize("terms, factor", [(513, 1.0), (577, 576 / 512), (2600, 2599 / 512)])
def test_a_long_sum_widens_the_band_to_its_worst_case(terms, factor):
    # (n − 1)/2 ulps of the terms' size, the most any order of summation drifts: twice that
    # warned of 246 cells of a float32 conv of 4,608 terms where 8 were near
    from cnngrad.problem import build_problem

    problem = build_problem({"input": [[1.0] * terms], "layers": [
        {"type": "avgpool2d", "size": [1, terms]}], "delta": [[1]]},
        file="p.json", base_dir=Path("."))
    spec = problem.layers[0]
    size = np.full(spec.out_shape, 2.0)
    assert np.array_equal(kinks._long_sums(spec, size), size * factor)
    per_map = np.broadcast_to(np.full(spec.out_shape[:2] + (1, 1), 2.0), spec.out_shape)
    scaled = kinks._long_sums(spec, per_map)
    assert np.array_equal(scaled, size * factor) and 0 in scaled.strides  # stays compact


def test_near_tie_after_a_sigmoid_is_a_warning(tmp_path):
    doc, stderr = backward(tmp_path, tie_problem("first", [{"type": "sigmoid"}]))
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: maxpool2d_1: window output[0,0]")
    assert "input[0,0]" in lines[0] and "input[1,0]" in lines[0]
    assert "sigmoid_1 (sigmoid) before it is not rational" in lines[0]
    assert doc["layers"][-1]["name"] == "maxpool2d_1"  # stdout is the clean JSON result


@pytest.mark.parametrize("between", [[], [{"type": "relu"}]])
def test_copies_of_one_value_tie_without_a_warning(tmp_path, between):
    # tanh(0.1 + 0.2) and tanh(0.3 + 0), upsampled: the windows over two copies of one cell
    # tie bit for bit however tanh rounded, and were warned of (4 of the 6 windows); the two
    # over copies of both cells are the near ties that cannot be decided exactly
    problem = {"input": [[0.1, 0.2, 0.3, 0.0]],
               "layers": [{"type": "conv2d", "kernel": [[1, 1]], "stride": 2},
                          {"type": "tanh"}, {"type": "upsample", "scale": 2}, *between,
                          {"type": "maxpool2d", "size": [1, 2], "stride": 1}],
               "delta": [[1, 2, 3], [4, 5, 6]]}
    doc, stderr = backward(tmp_path, problem)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("warning: maxpool2d_1: window output[0,1]: maxima input[0,1] "
                               "= 0.29131261245159096 and input[0,2] = 0.2913126124515909 are "
                               "within rounding noise of a tie; decided as not tied (1 more "
                               "window within rounding noise of a tie, also decided as "
                               "not tied)"), stderr
    # the copies' windows are ties all the same: "first" sends each window's delta to its
    # first cell
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[1, 2, 3, 0], [4, 5, 6, 0]]


def test_relu_near_zero_after_a_tanh_is_a_warning(tmp_path):
    problem = {"input": [[0.5, 0.5]],
               "layers": [{"type": "tanh"}, {"type": "conv2d", "kernel": [[1, -1]]},
                          {"type": "relu"}],
               "delta": [[1]]}
    _, stderr = backward(tmp_path, problem)
    assert stderr.startswith("warning: relu_1: input[0,0] is 0, within rounding noise of "
                             "the kink at 0; decided as not positive; not decided exactly: "
                             "tanh_1 (tanh) before it is not rational")


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck"])
def test_every_command_that_runs_a_problem_says_its_kink_warning(tmp_path, command):
    # gradcheck said nothing: its table names the kink, not that it was left undecided
    problem = {"input": [[0.5, 0.5]],
               "layers": [{"type": "tanh"}, {"type": "conv2d", "kernel": [[1, -1]]},
                          {"type": "relu"}],
               "loss": {"type": "mse", "target": [[1]]}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    result = runner.invoke(app, [command, str(path), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: relu_1: input[0,0] is 0, within rounding noise of the kink "
                        "at 0; decided as not positive; not decided exactly: tanh_1 (tanh) "
                        "before it is not rational"], result.stderr


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_relu_reading_a_batch_norm_output_of_zero_is_a_warning(tmp_path, mode):
    # x = μ gives y = 0 out of terms of size 2/√(σ² + ε): a kink, whatever the floats say
    # (PyTorch computes x·s − μ·s and may get 1.8e-15), so it is never decided silently
    stats = {"running_mean": [2], "running_var": [3]} if mode == "eval" else {}
    problem = {"input": [[[[1, 2]]], [[[3, 2]]]],
               "layers": [{"type": "batchnorm2d", "mode": mode, **stats}, {"type": "relu"}],
               "delta": [[[[1, 1]]], [[[1, 1]]]]}
    _, stderr = backward(tmp_path, problem)
    assert stderr.startswith("warning: relu_1: input[0,0,0,1] is 0, within rounding noise of "
                             "the kink at 0; decided as not positive (1 more input within rounding noise "
                             "of 0, also decided as not positive); "
                             "not decided exactly: batchnorm2d_1 (batchnorm2d) before it is "
                             "not rational")


def test_too_large_for_exact_arithmetic_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    doc, stderr = backward(tmp_path, RELU_AT_ZERO)
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]  # what the floats say, and said so
    assert stderr.startswith("warning: relu_1: input[0,0] is 5.6e-17, within rounding "
                             "noise of the kink at 0; decided as positive; not decided "
                             "exactly: the problem is too large for exact arithmetic")


def test_a_problem_over_the_budget_is_a_warning(tmp_path):
    # 64 channels under a 10×10 kernel: 6400 multiply-adds per output cell
    image, kernel = np.zeros((64, 16, 16)), np.zeros((1, 64, 10, 10))
    image[0, 0, :2] = 0.1, 0.2
    kernel[0, 0, 0, :2] = 1
    np.save(tmp_path / "image.npy", image)
    np.save(tmp_path / "kernel.npy", kernel)
    problem = {"input": {"npy": "image.npy"},
               "layers": [{"type": "conv2d", "kernel": {"npy": "kernel.npy"}, "bias": [-0.3]},
                          {"type": "relu"}],
               "delta": np.ones((1, 7, 7)).tolist()}
    assert kinks.exact_work(load_problem_of(tmp_path, problem), 1) > kinks.EXACT_WORK_BUDGET
    _, stderr = backward(tmp_path, problem)
    assert stderr.startswith("warning: relu_1: input[0,0,0] is 5.6e-17, within rounding noise")
    assert "too large for exact arithmetic" in stderr


def load_problem_of(tmp_path: Path, problem: dict):
    path = tmp_path / "q.json"
    path.write_text(json.dumps(problem))
    return load_problem(str(path))


def test_many_near_kinks_in_a_layer_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    problem = {"input": [[0.1, 0.2] * 3], "layers": [
        {"type": "conv2d", "kernel": [[1, 1]], "bias": -0.3, "stride": 2}, {"type": "relu"}],
        "delta": [[1, 1, 1]]}
    _, stderr = backward(tmp_path, problem)
    (line,) = stderr.splitlines()
    assert "relu_1: input[0,0]" in line and "decided as positive (2 more inputs within " \
        "rounding noise of 0, also decided as positive)" in line


def test_near_kinks_decided_both_ways_are_not_counted_as_decided_alike(tmp_path, monkeypatch):
    # 0.1 + 0.2 − 0.3 is 5.6e-17 in floats (positive), 0.7 + 0.1 − 0.8 is −1.1e-16 (not):
    # the count is of inputs near 0, not of inputs "like" the first, decided as it was
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    problem = {"input": [[0.1, 0.2, 0.3, 0.7, 0.1, 0.8]], "layers": [
        {"type": "conv2d", "kernel": [[1, 1, -1]], "stride": 3}, {"type": "relu"}],
        "delta": [[1, 1]]}
    _, stderr = backward(tmp_path, problem)
    (line,) = stderr.splitlines()
    assert "input[0,0] is 5.6e-17" in line and "decided as positive" in line
    assert "(1 more input within rounding noise of 0, decided as not positive)" in line


@pytest.mark.parametrize("problem, told", [
    ({"input": [[0.1, 0.2, 0.3, 0.7, 0.1, 0.8, 0.1, 0.2, 0.3]],
      "layers": [{"type": "conv2d", "kernel": [[1, 1, -1]], "stride": 3}, {"type": "relu"}],
      "delta": [[1, 1, 1]]},
     "decided as positive (2 more inputs within rounding noise of 0, 1 decided as positive, "
     "1 as not positive)"),
    ({"input": [[0.1, 0.2, 0.3, 0.0], [0.3, 0.0, 0.3, 0.0], [0.1, 0.2, 0.3, 0.0]],
      "layers": [{"type": "conv2d", "kernel": [[1, 1]], "stride": [1, 2]},
                 {"type": "maxpool2d", "size": [1, 2]}],
      "delta": [[1], [1], [1]]},
     "decided as not tied (2 more windows within rounding noise of a tie, 1 decided as not "
     "tied, 1 as a tie)"),
])
def test_the_warning_says_how_the_floats_decided_the_other_near_kinks(problem, told, tmp_path,
                                                                       monkeypatch):
    # "(5 more windows within rounding noise of a tie)" after "decided as a tie" read as five
    # more ties, where the floats had decided some of them the other way
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    _, stderr = backward(tmp_path, problem)
    (line,) = stderr.splitlines()
    assert told in line, line


def test_a_tie_in_a_one_dimensional_pool(tmp_path):
    problem = {"input": [0.3, 0, 0.1, 0.2],
               "layers": [{"type": "conv1d", "kernel": [1, 1], "stride": 2},
                          {"type": "maxpool1d", "size": 2}],
               "delta": [1]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "conv1d_1")["output"] == [0.3, 0.3]
    assert layer(doc, "conv1d_1")["delta_out"] == [1.0, 0.0]  # 'first': the first maximum
    assert stderr == ""


def test_ties_between_numbers_as_given_are_float_ties(tmp_path, monkeypatch):
    # rounding a written number keeps order and equality: nothing to decide, nothing to say
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    problem = {"input": [[1, 1], [0.1, 0.1]],
               "layers": [{"type": "relu"}, {"type": "maxpool2d", "size": [1, 2],
                                             "ties": "split"}],
               "delta": [[1], [1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "relu_1")["delta_in"] == [[0.5, 0.5], [0.5, 0.5]]
    assert stderr == ""


def test_a_kink_in_a_residual_branch(tmp_path):
    problem = {"input": [[0.1, 0.2]],
               "layers": [{"type": "conv2d", "kernel": [[1, 1]], "bias": -0.3},
                          {"type": "relu"},
                          {"type": "add", "inputs": ["relu_1", "conv2d_1"]}],
               "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "conv2d_1")["output"] == [[0.0]]
    assert layer(doc, "relu_1")["delta_in"] == [[0.0]]
    assert layer(doc, "conv2d_1")["delta_out"] == [[1.0]]  # the add's 1 + the relu's 0
    assert stderr == ""


# --------------------------------------------------------------------------- the module


def test_exact_values_keep_sign_and_order_when_floats_cannot():
    tiny = Fraction(1, 10**400)
    assert kinks._round_keeping_order([tiny], np.float64)[0] == np.nextafter(0.0, 1.0)
    assert kinks._round_keeping_order([-tiny], np.float64)[0] < 0
    third = Fraction(1, 3)
    a, b, c = kinks._round_keeping_order([third, third - Fraction(1, 10**30), third],
                                         np.float64)
    assert a == c == 1 / 3 and b == np.nextafter(1 / 3, 0)
    # equal exact values are one float, the second too, below one a float cannot tell apart
    a, b, c = kinks._round_keeping_order([third + Fraction(1, 10**30), third, third],
                                         np.float64)
    assert a == 1 / 3 and b == c == np.nextafter(1 / 3, 0)

    smallest = np.nextafter(0.0, 1.0)
    # below the smallest float: from 0 outward, in order, each sign on its own side
    assert kinks._round_keeping_order([tiny, 2 * tiny, 0, -tiny, -3 * tiny, tiny],
                                      np.float64) == [smallest, 2 * smallest, 0.0, -smallest,
                                                      -2 * smallest, smallest]
    # a value a float holds keeps its float unless one below it has taken it
    assert kinks._round_keeping_order([tiny, 2 * tiny, Fraction(smallest)], np.float64) == [
        smallest, 2 * smallest, 3 * smallest]
    assert kinks._round_keeping_order([tiny, Fraction(1, 2)], np.float64) == [smallest, 0.5]
    tiny32 = np.nextafter(np.float32(0), np.float32(1))
    assert kinks._round_keeping_order([tiny, 2 * tiny], np.float32) == [tiny32, 2 * tiny32]
    # at the largest floats the other way: never infinite, the order kept
    largest = Fraction(float(np.finfo(np.float64).max))
    a, b = kinks._round_keeping_order([-largest, -largest - 1], np.float64)
    assert b == -np.finfo(np.float64).max and a == np.nextafter(b, 0)
    assert kinks._round_keeping_order([tiny, 2 * tiny, largest, largest + 10**280],
                                      np.float64)[2:] == [np.nextafter(float(largest), 0),
                                                          float(largest)]
    # past the largest float (a sum of terms each a float): the largest floats, in order
    assert kinks._round_keeping_order([2 * largest, 3 * largest, -2 * largest], np.float64) == [
        np.nextafter(float(largest), 0), float(largest), -float(largest)]


#: conv cells 1 and 2 are −1/10 as written, −0.10000000000000003 and −0.09999999999999998
#: in floats; upsampled ×4 they are a row of 8 equal copies that stride-1 windows overlap
#: in a chain, settled together (one window a round, the copies far from the wrongly
#: decided window kept their float and broke its neighbours' ties)
UPSAMPLED_TIES = {"input": [[[0.3, 0, 0.3, 0]], [[0.4, 0.4, 0.7, 0.7]]],
                  "layers": [{"type": "conv2d", "kernel": [[[1]], [[-1]]], "bias": 0.3},
                             {"type": "upsample", "scale": [1, 4]},
                             {"type": "maxpool2d", "size": [1, 2], "stride": 1}],
                  "delta": [[[1] * 15]]}


@pytest.mark.parametrize("ties, delta_in, bias", [
    ("all", [1, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 1], 28),
    ("first", [1] * 15 + [0], 15),
    ("split", [0.5, 1, 1, 1.5, 0.5, 1, 1, 1, 1, 1, 1, 1.5, 0.5, 1, 1, 0.5], 15),
])
def test_ties_among_upsampled_copies_are_settled_along_the_chain(tmp_path, ties, delta_in,
                                                                 bias):
    problem = json.loads(json.dumps(UPSAMPLED_TIES))
    problem["layers"][2]["ties"] = ties
    floats, stderr = backward(tmp_path, problem)
    exact, _ = backward(tmp_path, problem, "--exact")
    assert layer(floats, "maxpool2d_1")["delta_in"] == [[delta_in]]
    assert layer(floats, "conv2d_1")["grads"]["bias"] == bias
    copies = layer(floats, "upsample_1")["output"][0][0]
    assert copies[4:12] == [-0.1] * 8  # one value, as its copies
    for mine, theirs in zip(floats["layers"], exact["layers"]):
        for key in ("delta_in", "grads"):
            assert json.dumps(mine[key]) == json.dumps(as_floats(theirs[key])), key
    assert stderr == ""


def test_no_near_kink_leaves_the_forward_pass_alone():
    sample = Path(__file__).resolve().parent.parent / "samples" / "stackexchange.json"
    problem = load_problem(str(sample))
    layers = forward(problem)
    settled, warnings = kinks.settle_kinks(problem, layers)
    assert settled is layers and warnings == []


def test_magnitude_of_a_conv_is_the_size_of_its_terms(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(RELU_AT_ZERO))
    problem = load_problem(str(path))
    conv, relu = forward(problem)
    size = kinks.magnitude(conv.spec, conv.inputs, [np.abs(problem.x)], conv.output)
    assert size[0, 0, 0, 0] == pytest.approx(0.6)  # 0.1 + 0.2 + |−0.3|
    cut = kinks.magnitude(relu.spec, [np.array([[[[-1.0]]]])], [size], relu.output)
    assert cut[0, 0, 0, 0] == 0  # a cut input is an exact 0


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("bias", ["none", "filter", "untied"])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("seed", range(3))
def test_a_convs_magnitude_bound_is_above_its_magnitude(groups, bias, padding_mode, seed):
    # the kink search first runs on the bounds and stops when they show nothing: a bound
    # below the magnitude anywhere could hide a near kink
    from cnngrad.families import family_of
    from cnngrad.problem import build_problem

    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-3, 4, (2, 4, 1, 1))  # maps of very different sizes
    doc = {"input": (rng.standard_normal((2, 4, 6, 7)) * scale).tolist(),
           "layers": [{"type": "conv2d",
                       "kernel": rng.standard_normal((4, 4 // groups, 3, 2)).tolist(),
                       "stride": [1, 2], "padding": 1, "dilation": [2, 1], "groups": groups,
                       "padding_mode": padding_mode}],
           "delta": np.zeros((2, 4, 4, 4)).tolist()}
    if bias == "filter":
        doc["layers"][0]["bias"] = rng.standard_normal(4).tolist()
    elif bias == "untied":
        doc["layers"][0]["bias"] = (rng.standard_normal((4, 4, 4)) * 100).tolist()
    problem = build_problem(doc, file="p.json", base_dir=Path("."))
    (conv,) = forward(problem)
    size = [np.abs(problem.x) * rng.random(problem.x.shape)]
    exact = kinks.magnitude(conv.spec, conv.inputs, size, conv.output)
    bound = family_of(conv.spec).magnitude_bound(conv.spec, conv.inputs, size, conv.output)
    assert bound.shape == exact.shape and (bound >= exact).all()
    # each output map's bound is a constant: its largest magnitude at most a few times over
    assert (bound.max(axis=(2, 3)) <= 40 * exact.max(axis=(2, 3))).all()
    assert np.array_equal(kinks.magnitude_bound(conv.spec, conv.inputs, size, conv.output),
                          bound)


def test_a_convs_magnitude_bound_of_an_infinite_input_is_the_magnitude(tmp_path):
    from cnngrad.families import family_of

    path = tmp_path / "p.json"
    path.write_text(json.dumps(RELU_AT_ZERO))
    problem = load_problem(str(path))
    conv, _ = forward(problem)
    size = [np.full(problem.x.shape, np.inf)]
    family = family_of(conv.spec)
    assert family.magnitude_bound(conv.spec, conv.inputs, size, conv.output) is None
    fallback = kinks.magnitude_bound(conv.spec, conv.inputs, size, conv.output)
    assert np.array_equal(fallback, kinks.magnitude(conv.spec, conv.inputs, size, conv.output))


def assert_float_mode_decides_as_exact_mode(doc: dict) -> None:
    """Float mode takes the side of every kink exact mode takes: its deltas are exact
    mode's, rounded, with no warning."""
    from cnngrad.network import run
    from cnngrad.problem import build_problem
    from cnngrad.tensorio import load_json_document

    text = json.dumps(doc).encode()

    def solve(exact):
        problem = build_problem(load_json_document(text, "p.json"), file="p.json",
                                base_dir=Path("."), exact=exact)
        return run(problem)

    floats, exacts = solve(False), solve(True)
    assert floats.warnings == []
    for mine, theirs in zip(floats.layers, exacts.layers):
        expected = np.asarray(theirs.delta_in, dtype=np.float64)
        assert np.allclose(mine.delta_in, expected, rtol=1e-12, atol=1e-12), mine.name


@pytest.mark.parametrize("seed", range(12))
def test_float_mode_decides_every_kink_as_exact_mode_does(seed):
    # decimals and ±1 kernels make many ReLU inputs of 0 and many ties as written; float
    # mode must take the same side of each, so its deltas are exact mode's, rounded
    rng = np.random.default_rng(seed)
    pick = lambda shape, values: rng.choice(values, size=shape).tolist()  # noqa: E731
    doc = {"input": pick((2, 4, 5), [0.1, 0.2, 0.3, 0.7]),
           "layers": [{"type": "conv2d", "kernel": pick((2, 2, 2, 2), [1, 1, -1, 0, 0, 0]),
                       "bias": pick((2,), [-0.3, -0.6, 0.1])},
                      {"type": "relu"},
                      {"type": "maxpool2d", "size": 2, "stride": 1,
                       "ties": ["first", "split", "all"][seed % 3]},
                      {"type": "conv2d", "kernel": pick((1, 2, 1, 2), [1, -1]),
                       "bias": 0.1},
                      {"type": "leaky_relu", "slope": 0.5}],
           "delta": pick((1, 2, 2), [1, -2, 0.5])}
    assert_float_mode_decides_as_exact_mode(doc)


@pytest.mark.parametrize("image, layers, delta", [
    ([[1, 3, 3, 0], [0, 2, 2, 0]],
     [{"type": "upsample", "scale": 2}, {"type": "maxpool2d", "size": 3, "stride": 2}],
     [[1, 1, 1]]),
    ([1, 3, 3, 0, 2, 2, 0, 1],
     [{"type": "maxpool1d", "size": 3, "stride": 1}, {"type": "maxpool1d", "size": 2}],
     [1, 1, 1]),
    ([1, 3, 3, 0, 2, 2, 0, 1],
     [{"type": "concat", "inputs": ["input", "input"]}, {"type": "maxpool1d", "size": 2}],
     [[1] * 4] * 2),
])
def test_ties_of_numbers_as_given_copied_along_are_float_ties(tmp_path, monkeypatch, image,
                                                              layers, delta):
    # an upsample, a concat and a 1-D max pool copy values unrounded: ties among the
    # numbers as given are exact, not "within rounding noise" (in a problem too large for
    # the exact pass they were said to be)
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 5)
    _, stderr = backward(tmp_path, {"input": image, "layers": layers, "delta": delta})
    assert stderr == ""


def test_two_pools_reading_one_tensor_are_settled_together(tmp_path):
    # every conv output is 3/10 as written, the first two 0.30000000000000004 in floats; the
    # two pools' windows zigzag over them, and a cell set for one broke a tie of the other's,
    # one window a round, past the rounds there are
    problem = {"input": [0.1, 0.2] * 5 + [0.3, 0],
               "layers": [{"type": "conv1d", "kernel": [1, 1], "stride": 2},
                          {"type": "maxpool1d", "size": 2, "ties": "split"},
                          {"type": "maxpool1d", "size": 2, "padding": 1, "ties": "split",
                           "input": "conv1d_1"},
                          {"type": "flatten", "input": "maxpool1d_1"},
                          {"type": "flatten", "input": "maxpool1d_2"},
                          {"type": "concat", "inputs": ["flatten_1", "flatten_2"]}],
               "delta": [1] * 7}
    floats, stderr = backward(tmp_path, problem)
    exact, _ = backward(tmp_path, problem, "--exact")
    for mine, theirs in zip(floats["layers"], exact["layers"]):
        for key in ("delta_in", "grads"):
            assert json.dumps(mine[key]) == json.dumps(as_floats(theirs[key])), key
    assert layer(floats, "maxpool1d_2")["delta_in"] == [1, 0.5, 0.5, 0.5, 0.5, 1]
    assert stderr == ""


def test_windows_that_share_no_cell_are_rounded_each_on_its_own(tmp_path):
    # 700 windows, each two cells −0.1 + k·10⁻²¹ (one float, distinct as written) and one
    # at −0.10000000000001: rounded all in one order, the lowest of the 1400 close values
    # were stepped hundreds of ulps down, past the third cell of their window
    first, second = [], []
    for k in range(700):
        first += [-0.1, -0.1, "-0.10000000000001"]
        second += [f"{2 * k + 2}e-21", f"{2 * k + 1}e-21", 0]
    problem = {"input": [[first], [second]],
               "layers": [{"type": "conv2d", "kernel": [[[1]], [[1]]]},
                          {"type": "maxpool2d", "size": [1, 3], "stride": [1, 3]}],
               "delta": [[[1] * 700]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[[1, 0, 0] * 700]]
    assert stderr == ""


def test_relu_inputs_are_rounded_each_on_its_own(tmp_path):
    # exact k·10⁻⁴⁰⁰, each the smallest positive float: rounded in one order, the lower
    # ones were stepped through 0 to below it, and their ReLU cut them
    problem = {"input": [[[0.1] * 4], [[-0.1] * 4], [[1e-200, 2e-200, 3e-200, 4e-200]]],
               "layers": [{"type": "conv2d", "kernel": [[[1]], [[1]], [[1e-200]]]},
                          {"type": "relu"}],
               "delta": [[[1, 1, 1, 1]]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "relu_1")["delta_in"] == [[[1, 1, 1, 1]]]
    assert stderr == ""


@pytest.mark.parametrize("seed", range(12))
def test_float_mode_decides_ties_among_upsampled_copies_as_exact_mode_does(seed):
    # copies of a value near another (0.1 + 0.2 against 0.3), windows overlapping over them
    # in long chains: every window decided as exact mode decides it
    rng = np.random.default_rng(100 + seed)
    pick = lambda shape, values: rng.choice(values, size=shape).tolist()  # noqa: E731
    scale = [int(rng.integers(1, 4)), int(rng.integers(3, 7))]
    size = [int(rng.integers(1, 3)), int(rng.integers(2, 4))]
    doc = {"input": pick((2, 3, 4), [0.1, 0.2, 0.3, 0.7, 0]),
           "layers": [{"type": "conv2d", "kernel": pick((2, 2, 1, 2), [1, -1, 0]),
                       "bias": pick((2,), [0.3, -0.1, 0])},
                      {"type": "upsample", "scale": scale},
                      {"type": "maxpool2d", "size": size, "stride": 1,
                       "ties": ["first", "split", "all"][seed % 3]}]}
    h, w = 3 * scale[0] - size[0] + 1, 3 * scale[1] - size[1] + 1
    doc["delta"] = pick((2, h, w), [1, -2, 0.5])
    assert_float_mode_decides_as_exact_mode(doc)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 1, 1), (3, 1, 2, 1)])
def test_relu_near_kinks_read_a_broadcast_bound_as_the_full_one(shape):
    # a conv's bound is one number per map, handed on as a broadcast view; relu scales only
    # its varying part, and must find the cells it finds in the full array
    from cnngrad.families.activations import Relu
    from cnngrad.kinks import varying_part as _varying_part

    rng = np.random.default_rng(4)
    per_map = rng.random(shape[:2] + (1, 1)) + 0.5
    view = np.broadcast_to(per_map, shape)
    assert _varying_part(view).shape == shape[:2] + (1, 1)
    assert np.array_equal(np.broadcast_to(_varying_part(view), shape), view)
    full = np.ascontiguousarray(view)
    assert _varying_part(full) is not full and np.array_equal(_varying_part(full), full)
    x = rng.standard_normal(shape) * 1e-15 * (rng.random(shape) < 0.5)
    tolerance = 1e-15
    found_view = Relu().near_kinks(None, [x], [view], tolerance)
    found_full = Relu().near_kinks(None, [x], [full], tolerance)
    assert found_full is not None and found_view is not None  # the zeros, at least
    assert np.array_equal(found_view.cells, found_full.cells)


@pytest.mark.parametrize("one_dimensional", [False, True])
@pytest.mark.parametrize("size, stride, padding, ceil_mode",
                         [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 0, True), (3, 1, 1, False)])
def test_max_pool_near_ties_from_the_forward_output_are_those_computed_again(
        one_dimensional, size, stride, padding, ceil_mode):
    # the kink search reads each window's maximum from the layer's output instead of pooling
    # the input again: the windows and cells it finds must be the same
    from cnngrad.families import family_of
    from cnngrad.layers.pool import maxpool2d_forward
    from cnngrad.problem import build_problem

    rng = np.random.default_rng(size * 10 + stride + padding)
    x = np.round(rng.standard_normal((2, 3, 1 if one_dimensional else 7, 9)), 1)  # exact ties
    x = x + rng.random(x.shape) * 1e-16 * (rng.random(x.shape) < 0.3)  # and near ones
    out_shape = maxpool2d_forward(x, (1 if one_dimensional else size, size),
                                  (1 if one_dimensional else stride, stride),
                                  (0 if one_dimensional else padding, padding), ceil_mode).shape
    if one_dimensional:
        x, out_shape = x[:, :, 0], out_shape[:2] + out_shape[3:]
    pool = {"type": "maxpool1d" if one_dimensional else "maxpool2d", "size": size,
            "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    problem = build_problem({"input": x.tolist(), "layers": [pool],
                             "delta": np.zeros(out_shape).tolist()},
                            file="p.json", base_dir=Path("."))
    spec = problem.layers[0]
    family = family_of(spec)
    output = family.forward(spec, [problem.x])
    magnitudes = [np.abs(problem.x) + 1.0]
    given = family.near_kinks(spec, [problem.x], magnitudes, 1e-12, output)
    again = family.near_kinks(spec, [problem.x], magnitudes, 1e-12)
    assert given is not None and again is not None  # the ties made above
    assert np.array_equal(given.windows, again.windows)
    assert np.array_equal(given.cells, again.cells)
    assert np.array_equal(given.groups, again.groups)


# --------------------------------------------------------------------------- noise through
# a non-rational layer: its output's own size hides the noise its input carried in


@pytest.mark.parametrize("squashing", ["tanh", "sigmoid"])
def test_a_kink_right_after_a_squashing_layer_is_a_warning(tmp_path, squashing):
    # tanh(0.1 + 0.2 − 0.3) is 5.6e-17 in floats, tanh(0) = 0 as written; sigmoid − 1/2 too
    problem = {"input": [[0.1, 0.2]],
               "layers": [{"type": "conv2d", "kernel": [[1, 1]], "bias": -0.3},
                          {"type": squashing}],
               "delta": [[1]]}
    if squashing == "sigmoid":  # σ(5.6e-17) rounds to 1/2: the kink is in the next conv
        problem["layers"].append({"type": "conv2d", "kernel": [[1]], "bias": -0.5})
    problem["layers"].append({"type": "relu"})
    doc, stderr = backward(tmp_path, problem)
    (line,) = stderr.splitlines()
    assert line.startswith("warning: relu_1: input[0,0] is ")
    assert f"{squashing}_1 ({squashing}) before it is not rational" in line
    assert layer(doc, "relu_1")["output"] in ([[0.0]], [[5.551115123125783e-17]])


@pytest.mark.parametrize("command", ["backward", "forward", "explain", "check"])
def test_a_kink_warning_counts_its_cells_as_the_report_does(tmp_path, command):
    # --one-based counted the report's cells from 1 and the warning's from 0: relu_1's
    # input[0,0] was o[1,1] in explain's body
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[0.1, 0.2, -0.3]],
                                   "layers": [{"type": "conv2d", "kernel": [[1, 1, 1]]},
                                              {"type": "tanh"}, {"type": "relu"}],
                                   "delta": [[1]]}))
    answers = tmp_path / "a.json"
    answers.write_text('{"relu_1.delta_in": [[1]]}')
    for option, cell in (([], "[0,0]"), (["--one-based"], "[1,1]")):
        extra = {"explain": [f"relu_1.delta_in{cell}"], "check": [str(answers)]}.get(command,
                                                                                    [])
        result = runner.invoke(app, [command, str(problem), *extra, *option])
        assert result.exit_code == 0, result.output  # the answer 1 is right
        (line,) = [line for line in result.stderr.splitlines() if line.startswith("warning")]
        assert line.startswith(f"warning: relu_1: input{cell} is 5.6e-17, within rounding noise")


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_kink_right_after_a_batch_norm_is_a_warning(tmp_path, mode):
    # the middle of 0.1, 0.2, 0.3 normalised is 0 as written, −3.4e-16 in floats (train);
    # 0.2 − running mean 0.1 + 0.1 (a conv's sum) likewise in eval
    bn = {"type": "batchnorm2d", "mode": mode}
    if mode == "eval":
        bn.update(running_mean=[0.3], running_var=[1])
        layers = [{"type": "conv2d", "kernel": [[1]], "bias": 0.1}, bn, {"type": "relu"}]
        image = [[0.1, 0.2, 0.4]]  # conv: 0.2, 0.30000000000000004, 0.5
    else:
        layers = [bn, {"type": "relu"}]
        image = [[0.1, 0.2, 0.3]]
    doc, stderr = backward(tmp_path, {"input": image, "layers": layers, "delta": [[1, 1, 1]]})
    (line,) = stderr.splitlines()
    assert line.startswith("warning: relu_1: input[0,1] is ")
    assert "within rounding noise of the kink at 0" in line
    assert "batchnorm2d_1 (batchnorm2d) before it is not rational" in line
    assert layer(doc, "relu_1")["delta_in"][0][2] == 1.0  # the clear cells as ever


def test_a_batch_norm_far_from_the_kink_says_nothing(tmp_path):
    problem = {"input": [[0.1, 0.2, 0.35]],
               "layers": [{"type": "batchnorm2d"}, {"type": "relu"},
                          {"type": "maxpool2d", "size": [1, 3]}],
               "delta": [[1]]}
    _, stderr = backward(tmp_path, problem)
    assert stderr == ""


def test_a_kink_after_a_softmax_of_large_inputs_is_a_warning(tmp_path):
    # p = softmax(10⁴, 10⁴ + 0.1 + 0.2 − 0.3): equal as written, 1.8e-12 apart in floats,
    # so p differs by 9e-13: noise of 10⁴·ε carried in, far above p's own size's
    problem = {"input": [[10000, 0.1, 0.2]],
               "layers": [{"type": "conv2d", "kernel": [[1]], "bias": [0]},
                          {"type": "flatten"},
                          {"type": "dense", "weights": [[1, 0, 0], [1, 1, 1]],
                           "bias": [0, -0.3]},
                          {"type": "softmax"},
                          {"type": "dense", "weights": [[1, -1]]}, {"type": "relu"}],
               "delta": [1]}
    _, stderr = backward(tmp_path, problem)
    (line,) = stderr.splitlines()
    assert line.startswith("warning: relu_1: input[0] is ")
    assert "softmax_1 (softmax) before it is not rational" in line


def test_just_over_the_exact_budget_says_by_how_much(tmp_path, monkeypatch):
    # RELU_AT_ZERO's exact pass is 8 operations: a limit of 7 refuses it, 8 decides it
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 8)
    doc, stderr = backward(tmp_path, RELU_AT_ZERO)
    assert layer(doc, "relu_1")["delta_in"] == [[0.0]] and stderr == ""
    monkeypatch.setattr(kinks, "EXACT_WORK_BUDGET", 7)
    doc, stderr = backward(tmp_path, RELU_AT_ZERO)
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]
    assert stderr.rstrip().endswith("the problem is too large for exact arithmetic (about 8 "
                                    "operations; the limit is 7)")


@pytest.mark.parametrize("problem, path, floats, value", [
    (RELU_AT_ZERO, "conv2d_1.output[0,0]", "5.55112e-17", "0"),
    # 1e16 + 1 − 1e16 is 0 in floats, 1 as written: the second conv's −0.5 is 0.5
    ({"input": [[1e16, 1, -1e16]], "layers": [
        {"type": "conv2d", "kernel": [[1, 1, 1]]},
        {"type": "conv2d", "kernel": [[1]], "bias": -0.5}, {"type": "relu"}],
      "delta": [[1]]}, "conv2d_2.output[0,0]", "-0.5", "0.5"),
])
def test_explain_of_a_cell_decided_as_written_totals_what_backward_shows(tmp_path, problem,
                                                                        path, floats, value):
    # the terms' float sum is not the value the run kept: explain said 5.55e-17 (and -0.5)
    # where backward showed 0 (and 0.5)
    (tmp_path / "p.json").write_text(json.dumps(problem))
    result = runner.invoke(app, ["explain", str(tmp_path / "p.json"), path, "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    shown, _ = backward(tmp_path, problem)
    name, index = path.split("[")[0].split(".")[0], (0, 0)
    assert doc["total"] == layer(shown, name)["output"][index[0]][index[1]] == float(value)
    assert any(note.startswith(f"The floats give {floats}; {path} is {value}, its value on "
                               f"the numbers as written") and
               note.endswith(f"backward shows {value} too.") for note in doc["notes"])
    # not beside the note that backward's digits may differ: they do not, the value is exact
    assert not any("cancel" in note for note in doc["notes"])


# --------------------------------------------------------------------------- past the floats
def backward_text(tmp_path: Path, text: str, *options: str):
    """``backward`` of a problem written as JSON text (a decimal past 17 digits, which a
    Python float would round before the file holds it)."""
    path = tmp_path / "p.json"
    path.write_text(text)
    result = runner.invoke(app, ["backward", str(path), "--format", "json", *options])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("input_text, options", [
    # one float64 as written, 9.000000000000002 the larger
    ("[[9.000000000000001, 9.000000000000002]]", ()),
    ('[["9.000000000000001", "9.000000000000002"]]', ()),
    ("[[9.0000000000000012, 9.0000000000000013]]", ()),
    ('[["100000008/100000009", "100000009/100000010"]]', ()),
    ("[[9007199254740992, 9007199254740993]]", ()),  # one float past 2⁵³
    ("[[1.0000001e-320, 1.0000002e-320]]", ()),  # short, but subnormal: one float
    # two float64s that float32 rounds to one
    ("[[16777216, 16777217]]", ("--dtype", "float32")),
    ("[[0.10000000149011611, 0.10000000149011612]]", ("--dtype", "float32")),
])
def test_a_tie_the_floats_make_between_numbers_as_given_is_decided_as_written(
        tmp_path, input_text, options):
    # the floats tie and "first" took the delta; the numbers as written do not tie
    text = (f'{{"input": {input_text}, "layers": [{{"type": "maxpool2d", "size": [1, 2]}}],'
            f' "delta": [[1]]}}')
    doc, stderr = backward_text(tmp_path, text, *options)
    exact, _ = backward_text(tmp_path, text, "--exact")
    assert layer(exact, "maxpool2d_1")["delta_in"] == [["0", "1"]]
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[0.0, 1.0]]
    assert stderr == ""


@pytest.mark.parametrize("quoted", [False, True])
def test_a_tie_between_numbers_of_thousands_of_digits_is_never_decided_silently(tmp_path,
                                                                                quoted):
    # past 4,300 digits a string's Fraction() failed, which read as "held exactly": the tie
    # was taken by the floats with no word (a JSON number of the same digits warned)
    low, high = "0." + "3" * 4301, "0." + "3" * 4300 + "4"
    pair = f'"{low}", "{high}"' if quoted else f"{low}, {high}"
    text = (f'{{"input": [[{pair}]], "layers": [{{"type": "maxpool2d", "size": [1, 2]}}],'
            f' "delta": [[1]]}}')
    doc, stderr = backward_text(tmp_path, text)
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[1.0, 0.0]]  # the floats' tie
    assert stderr.startswith("warning: maxpool2d_1: window output[0,0]: maxima input[0,0] = "
                             "0.3333333333333333 and input[0,1] = 0.3333333333333333 are "
                             "within rounding noise of a tie; decided as a tie; not decided "
                             "exactly: ")


@pytest.mark.parametrize("numbers", ["9.000000000000001,9.000000000000002",
                                     "1.0000001e-320,1.0000002e-320"])
def test_a_tie_between_long_numbers_of_a_csv_input_is_decided_as_written(tmp_path, numbers):
    (tmp_path / "x.csv").write_text(f"0,{numbers}\n")
    text = ('{"input": {"csv": "x.csv"}, "layers": [{"type": "relu"},'
            ' {"type": "maxpool2d", "size": [1, 3]}], "delta": [[1]]}')
    doc, stderr = backward_text(tmp_path, text)
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[0.0, 0.0, 1.0]]
    assert stderr == ""


@pytest.mark.parametrize("input_text, expected", [
    ("[[1, 2, 2]]", True),
    ("[[9.000000000000001, 2]]", False),
    ("[[1.50000000000000000000, 2]]", True),  # long, but the float holds it exactly
    ('[["1/4", "0.5"]]', True),
    ('[["1/3", "0.5"]]', False),
    ("[[9007199254740992, 1]]", True),
    ("[[9007199254740993, 1]]", False),
])
def test_an_input_is_written_exactly_when_its_floats_hold_every_number_apart(
        tmp_path, input_text, expected):
    delta = [[1] * (input_text.count(",") + 1)]
    path = tmp_path / "p.json"
    path.write_text(f'{{"input": {input_text}, "layers": [{{"type": "relu"}}],'
                    f' "delta": {json.dumps(delta)}}}')
    assert kinks._input_written_exactly(load_problem(str(path))) is expected


def test_a_relu_input_that_underflowed_to_zero_is_positive_as_written(tmp_path):
    # 1e-200 · 1e-200 is 0.0 in floats, 1e-400 as written: the relu passes the delta
    problem = {"input": [[1e-200]], "layers": [{"type": "conv2d", "kernel": [[1e-200]]},
                                               {"type": "relu"}], "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]
    assert layer(doc, "conv2d_1")["output"] == [[5e-324]]  # the smallest positive float
    assert stderr == ""


@pytest.mark.parametrize("ties", ["first", "split", "all"])
@pytest.mark.parametrize("relu", [[{"type": "relu"}], []])
def test_values_no_float_rounds_apart_are_decided_as_written(tmp_path, ties, relu):
    # 1e-400 and 2e-400: both round to 0 (or, kept positive, to the one smallest float);
    # the smallest floats in their order keep the second the maximum, as written
    problem = {"input": [[1e-200, 2e-200]],
               "layers": [{"type": "conv2d", "kernel": [[1e-200]]}, *relu,
                          {"type": "maxpool2d", "size": [1, 2], "ties": ties}],
               "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "maxpool2d_1")["delta_in"] == [[0.0, 1.0]]
    assert layer(doc, "maxpool2d_1")["output"] == [[1e-323]]
    assert layer(doc, "conv2d_1")["grads"]["kernel"] == [[2e-200]]
    assert stderr == ""


@pytest.mark.parametrize("problem, dtype, delta_in", [
    # 1e-400 and 2e-400 set to the smallest floats in order: the second window's other cell,
    # 5e-324 (4.94e-324 as a float holds it), beats 2e-400 still, and takes its delta
    ({"input": [[1e-200, 2e-200, 5e-124]], "layers": [
        {"type": "conv2d", "kernel": [[1e-200]]},
        {"type": "maxpool2d", "size": [1, 2], "stride": [1, 1]}], "delta": [[1, 10]]},
     None, [[0.0, 1.0, 10.0]]),
    ({"input": [1e-200, 2e-200, 5e-124], "layers": [
        {"type": "conv1d", "kernel": [1e-200]},
        {"type": "maxpool1d", "size": 2, "stride": 1}], "delta": [1, 10]},
     None, [0.0, 1.0, 10.0]),
    ({"input": [[1e-25, 2e-25, 1.4e-20]], "layers": [
        {"type": "conv2d", "kernel": [[1e-25]]},
        {"type": "maxpool2d", "size": [1, 2], "stride": [1, 1]}], "delta": [[1, 10]]},
     "float32", [[0.0, 1.0, 10.0]]),
    # a tie the floats make at minus the largest float: set apart toward 0, not to -inf
    ({"input": [[-1e-300, -1.7976931348623157e308, -2e-300]], "layers": [
        {"type": "conv2d", "kernel": [[1, 1]]}, {"type": "maxpool2d", "size": [1, 2]}],
      "delta": [[1]]}, None, [[1.0, 0.0]]),
    ({"input": [[-1, -3.4028234663852886e38, -2]], "layers": [
        {"type": "conv2d", "kernel": [[1, 1]]}, {"type": "maxpool2d", "size": [1, 2]}],
      "delta": [[1]]}, "float32", [[1.0, 0.0]]),
])
def test_values_set_apart_stay_in_order_with_their_neighbours(tmp_path, problem, dtype,
                                                              delta_in):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem))
    args = ["backward", str(path), "--format", "json"] + (["--dtype", dtype] if dtype else [])
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    pool = doc["layers"][-1]
    assert pool["delta_in"] == delta_in
    exact = json.loads(runner.invoke(app, args[:4] + ["--exact"]).stdout)
    assert [float(Fraction(v)) for v in np.ravel(exact["layers"][-1]["delta_in"])] == \
        list(np.ravel(delta_in))
    assert result.stderr == ""


def test_a_written_zero_adds_no_noise_through_a_large_weight(tmp_path):
    # 1e-200·1e175 = 1e-25 is far from 0: a written 0 times 1e300 adds nothing to it
    problem = {"input": [[0, 1e-200]],
               "layers": [{"type": "conv2d", "kernel": [[1e300, 1e175]]}, {"type": "relu"}],
               "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]
    assert stderr == ""


#: 1.6798e-161·1e-162 and 4.94e-162·1e-162 are subnormal, each off by up to a subnormal step
#: (5e-324); times 1e300 and −3.2e300 that is 1e-24, as large as their sum, which is
#: +9.88e-25 as written and −9.88e-25 in floats
SUBNORMAL_TIMES_HUGE = [{"type": "conv2d", "kernel": [[1e-162]]},
                        {"type": "conv2d", "kernel": [[1e300, -3.2e300]]}, {"type": "relu"}]


def test_a_subnormal_rounding_carried_through_a_large_weight_is_decided_as_written(tmp_path):
    problem = {"input": [[1.6798e-161, 4.9406564584124654e-162]],
               "layers": SUBNORMAL_TIMES_HUGE, "delta": [[1]]}
    doc, stderr = backward(tmp_path, problem)
    assert layer(doc, "relu_1")["delta_in"] == [[1.0]]
    assert layer(doc, "conv2d_1")["delta_in"] == [[1e138, -3.2e138]]
    assert stderr == ""
    # roundings add up: four subnormal terms a cell, or one rounded again in four layers
    four_terms = {"input": [[1.7242891039859504e-161, 2.2183547498271970e-161,
                             2.7124203956684435e-161, 3.2064860415096901e-161],
                            [1.9762625833649862e-160, 0, 0, 0]],
                  "layers": [{"type": "conv2d", "kernel": [[1e-162] * 4]},
                             {"type": "conv2d", "kernel": [[1e300], [-4.915e299]]},
                             {"type": "relu"}], "delta": [[1]]}
    rounded_again = {"input": [[2.4703282292062327e-161]], "layers": [
        {"type": "conv2d", "kernel": [[1e-162]]},
        *({"type": "conv2d", "kernel": [[w]]} for w in (0.7, 1.16, 1.16, 1.39)),
        {"type": "conv2d", "kernel": [[1e300]], "bias": -3.0861039825065953e-23},
        {"type": "relu"}], "delta": [[1]]}
    for added_up in (four_terms, rounded_again):
        doc, stderr = backward(tmp_path, added_up)
        assert layer(doc, "relu_1")["delta_in"] == [[1.0]] and stderr == ""
    # after a tanh the exact values are out of reach: said, not decided silently
    problem["layers"] = [{"type": "tanh"}, *SUBNORMAL_TIMES_HUGE]
    _, stderr = backward(tmp_path, problem)
    assert stderr.startswith("warning: relu_1: input[0,0] is -9.9e-25, within rounding noise")


@pytest.mark.parametrize("values, layers, dtype, searched", [
    ([0.001, 0.5], 10, None, False),
    ([1e-200, 1.0], 1, None, True),
    ([1e-30, 1.0], 9, None, False),  # 1e-300, above the margin's 1e-301
    ([1e-30, 1.0], 10, None, True),
    ([1e-6, 1.0], 5, "float32", True),  # 1e-36 against float32's 1.2e-38 and the margin
    ([1e-5, 1.0], 5, "float32", False),  # 1e-30
    ([0.0, 2.0, 3.0], 50, None, False),  # zeros are no chain of small terms
])
def test_the_search_at_the_bottom_of_the_floats_runs_only_where_values_can_get_there(
        tmp_path, values, layers, dtype, searched):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"input": [values], "layers": [{"type": "relu"}] * layers,
                                "delta": [[1] * len(values)]}))
    floor = kinks._underflow_floor(load_problem(str(path)), dtype)
    assert (floor > 0) is searched
