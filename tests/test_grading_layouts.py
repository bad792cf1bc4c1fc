"""Grading channels-last and batched problems, a problem that gives the delta, and exact
results, end to end through ``cnngrad check``; every expected value worked out by hand.

``NHWC``: a batch of 2 maps 2×2×2 (channels last), a 1×1 conv with HWIO kernel
[[[[1], [0.5]]]] (y = x_c0 + 0.5·x_c1), relu, flatten, dense [[0.5, -1, 0.25, 1]] and
½Σ(y − t)² against [[1], [0]]:

- conv2d_1.output n0 [[2, -0.5], [2, 1.5]], n1 [[-0.5, 3], [0.5, 0]] (as H×W of the one
  channel); dense_1.output [[3], [-2.875]], loss 6.1328125, dense_1.delta_out [[2], [-2.875]]
- relu_1.delta_in n0 [[1, 0], [0.5, 2]], n1 [[0, 2.875], [-0.71875, 0]]
- conv2d_1.grads.kernel: c0 Σ δ·x_c0 = 4 + 5.75 = 9.75, c1 4 + 5.03125 = 9.03125
- conv2d_1.delta_in = δ·[1, 0.5] per cell: n0 h0 [[1, 0.5], [0, 0]], h1 [[0.5, 0.25], [2, 1]];
  n1 h0 [[0, 0], [2.875, 1.4375]], h1 [[-0.71875, -0.359375], [0, 0]]

``RESIDUAL`` (nhwc, one map 1×2×2): a 1×1 conv ``a`` with HWIO kernel [[1, -2], [-1, 1]]
(f0 = x0 − x1, f1 = −2·x0 + x1), relu ``r``, ``s`` = r + input, flatten, dense [[1, 0.5, -1,
2]], ½(y − 1)²: a.output [[2, -3], [1.5, -3.5]], s.output [[3, -1], [3.5, 0.5]],
dense_1.output 0, delta −1, dense_1.delta_in [-1, -0.5, 1, -2], r.delta_in
[[-1, 0], [1, 0]], a.grads.kernel [[[[1, 0], [1.5, 0]]]], a.delta_in [[-1, 1], [1, -1]].
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.render import GRID_RULE

runner = CliRunner()

NHWC = {"layout": "nhwc",
        "input": [[[[1, 2], [0, -1]], [[2, 0], [1, 1]]], [[[-1, 1], [2, 2]], [[0, 1], [1, -2]]]],
        "layers": [{"type": "conv2d", "kernel": [[[[1], [0.5]]]]}, {"type": "relu"},
                   {"type": "flatten"},
                   {"type": "dense", "weights": [[0.5, -1, 0.25, 1]], "bias": [0]}],
        "loss": {"type": "mse", "target": [[1], [0]]}}

RESIDUAL = {"layout": "nhwc", "input": [[[[1, -1], [2, 0.5]]]],
            "layers": [{"type": "conv2d", "name": "a", "kernel": [[[[1, -2], [-1, 1]]]]},
                       {"type": "relu", "name": "r"},
                       {"type": "add", "name": "s", "inputs": ["r", "input"]},
                       {"type": "flatten"}, {"type": "dense", "weights": [[1, 0.5, -1, 2]]}],
            "loss": {"type": "mse", "target": [[1]]}}

#: one conv, delta given: kernel gradient [[3.5, 3.5], [1.5, 3]], bias gradient 2.5
DELTA = {"input": [[1, -1, 2], [0, 3, 1], [2, 1, -2]], "kernel": [[1, 2], [-1, 0]],
         "bias": 0.5, "delta": [[1, -1], [2, 0.5]]}

#: max pool 2 over a 4×4 with ties, the first maximum of each window taking the delta:
#: delta_in 1 at [0,1], 2 at [0,2], 3 at [2,0], 4 at [2,2], 0 elsewhere
TIES = {"input": [[1, 3, 2, 2], [3, 0, 2, 1], [0, 0, 5, 1], [0, -1, 1, 5]],
        "layers": [{"type": "maxpool2d", "size": 2}], "delta": [[1, 2], [3, 4]]}


def check(tmp_path: Path, problem: dict, answers: dict | str, *options: str):
    """(exit code, stdout, stderr) of ``cnngrad check p.json a.json OPTIONS``."""
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    text = answers if isinstance(answers, str) else json.dumps(answers)
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                 *options])
    return result.exit_code, result.stdout, result.stderr


def graded(tmp_path: Path, problem: dict, answers: dict | str, *options: str):
    code, out, err = check(tmp_path, problem, answers, "--format", "json", *options)
    assert code in (0, 1), err
    return code, json.loads(out)["files"][0]


def unruled(line: str) -> str:
    return line.replace(f" {GRID_RULE} ", "   ")


def rows_after(text: str, heading: str, first: int, stop: int) -> list[str]:
    """Lines ``first``..``stop`` (exclusive) after ``heading`` in ``text``, right-stripped,
    the rule between grids side by side read as the spaces it stands in (its own test is
    test_readable_tables' test_grids_side_by_side_have_a_rule_between_them)."""
    lines = [unruled(line).rstrip() for line in text.splitlines()]
    start = lines.index(heading)
    return lines[start + first:start + stop]


def backward_rows_after(tmp_path: Path, problem: dict, heading: str, count: int) -> list[str]:
    """The ``count`` rows after ``heading`` in ``cnngrad backward``'s tables, each with its
    box and runs of spaces squeezed (the grids as backward draws them)."""
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    result = runner.invoke(app, ["backward", str(tmp_path / "p.json")])
    rows = [" ".join(unruled(line).strip("│ ").split()) for line in result.stdout.splitlines()]
    start = rows.index(heading)
    return rows[start + 1:start + 1 + count]


def cells(entry: dict, what: str) -> dict[str, list]:
    return {t["path"]: [c["index"] for c in t[what]] for t in entry["tensors"]}


# --------------------------------------------------------------------------- carried forward


def test_a_batched_channels_last_slip_is_carried_into_the_kernel_and_input_deltas(tmp_path):
    # relu_1.delta_in n0 [1,1] written -2 (true 2): Σ δ·x_c0 of sample 0 becomes
    # 1 + 1 − 2 = 0 and Σ δ·x_c1 2 − 2 = 0, so the kernel gradient is [5.75, 5.03125];
    # the input delta at n0 [1,1] is −2·[1, 0.5]
    problem = dict(NHWC, grading={"carry_forward": True})
    code, entry = graded(tmp_path, problem, {
        "relu_1.delta_in": [[[[1], [0]], [[0.5], [-2]]], [[[0], [2.875]], [[-0.71875], [0]]]],
        "conv2d_1.grads.kernel": [[[[5.75], [5.03125]]]],
        "conv2d_1.delta_in": [[[[1, 0.5], [0, 0]], [[0.5, 0.25], [-2, -1]]],
                              [[[0, 0], [2.875, 1.4375]], [[-0.71875, -0.359375], [0, 0]]]]})
    assert code == 1
    assert cells(entry, "wrong") == {"relu_1.delta_in": [[0, 1, 1, 0]],
                                     "conv2d_1.grads.kernel": [], "conv2d_1.delta_in": []}
    assert cells(entry, "carried") == {"relu_1.delta_in": [],
                                       "conv2d_1.grads.kernel": [[0, 0, 0, 0], [0, 0, 1, 0]],
                                       "conv2d_1.delta_in": [[0, 1, 1, 0], [0, 1, 1, 1]]}
    # without points: (right + carried) / answered = (7 + 2 + 16) / 26
    assert (entry["right"], entry["total"], entry["points"]) == (21, 26, 25)


def test_the_loss_and_its_delta_are_carried_from_a_batched_output(tmp_path):
    # dense_1.output [[3], [-3]]: ½(2² + 3²) = 6.5, delta [[2], [-3]]
    problem = dict(NHWC, grading={"carry_forward": True,
                                  "points": {"loss": 2, "dense_1.delta_out": 2,
                                             "dense_1.output": 2}})
    code, entry = graded(tmp_path, problem, {"dense_1.output": [[3], [-3]], "loss": 6.5,
                                             "dense_1.delta_out": [[2], [-3]]})
    assert code == 1
    assert cells(entry, "carried") == {"dense_1.output": [], "loss": [[]],
                                       "dense_1.delta_out": [[1, 0]]}
    assert (entry["points"], entry["max_points"]) == (5, 6)


def test_a_channels_last_residual_carries_a_slip_through_the_add(tmp_path):
    # dense_1.delta_in[0,2] written −1 (true 1): s's delta at w1 c0 is −1, so r.delta_in
    # [[-1, 0], [-1, 0]], a.grads.kernel c0f0 = 1·(−1) + 2·(−1) = −3, c1f0 = 1 − 0.5 = 0.5,
    # a.delta_in w1 = −1·[1, −1]
    problem = dict(RESIDUAL, grading={"carry_forward": True, "points": {
        "dense_1.delta_in": 4, "s.delta_in.r": 4, "r.delta_in": 4, "a.grads.kernel": 4,
        "a.delta_in": 4}})
    code, entry = graded(tmp_path, problem, {
        "dense_1.delta_in": [[-1, -0.5, -1, -2]], "s.delta_in": {"r": [[[[-1, -0.5], [-1, -2]]]]},
        "r.delta_in": [[[[-1, 0], [-1, 0]]]], "a.grads.kernel": [[[[-3, 0], [0.5, 0]]]],
        "a.delta_in": [[[[-1, 1], [-1, 1]]]]})
    assert code == 1
    assert cells(entry, "carried") == {
        "dense_1.delta_in": [], "s.delta_in.r": [[0, 0, 1, 0]], "r.delta_in": [[0, 0, 1, 0]],
        "a.grads.kernel": [[0, 0, 0, 0], [0, 0, 1, 0]],
        "a.delta_in": [[0, 0, 1, 0], [0, 0, 1, 1]]}
    assert [(p["path"], p["points"]) for p in entry["paths"]] == [
        ("dense_1.delta_in", 3), ("s.delta_in.r", 4), ("r.delta_in", 4),
        ("a.grads.kernel", 4), ("a.delta_in", 4)]
    assert (entry["points"], entry["max_points"], entry["score"]) == (19, 20, 0.95)


# --------------------------------------------------------------------------- the loss of a delta


def test_a_null_loss_answers_nothing_when_the_problem_gives_the_delta(tmp_path):
    # the result of such a problem has "loss": null; an answers file may say the same
    code, entry = graded(tmp_path, DELTA, {"loss": None, "conv2d_1.grads.bias": 2.5})
    assert code == 0
    assert [t["path"] for t in entry["tensors"]] == ["conv2d_1.grads.bias"]
    assert (entry["right"], entry["total"], entry["score"]) == (1, 1, 1.0)
    code, entry = graded(tmp_path, dict(DELTA, grading={"points": {"conv2d_1.grads.bias": 1,
                                                                   "conv2d_1.grads.kernel": 4}}),
                         {"loss": None, "conv2d_1.grads.bias": 2.5})
    assert code == 1
    assert (entry["points"], entry["max_points"], entry["missing"]) == (
        1, 5, ["conv2d_1.grads.kernel"])


def test_a_loss_given_for_a_problem_that_gives_the_delta_is_an_error(tmp_path):
    code, _, err = check(tmp_path, DELTA, {"loss": 0.5, "conv2d_1.grads.bias": 2.5})
    assert code == 2
    assert err.splitlines()[0] == (f"error: {tmp_path / 'a.json'}: loss: the problem gives the "
                                   "delta at the last layer, so it has no loss to check")
    code, _, err = check(tmp_path, DELTA, {"loss": None})
    assert code == 2
    assert err.splitlines()[0] == (f"error: {tmp_path / 'a.json'}: top level: no answers in "
                                   "the file")


# --------------------------------------------------------------------------- exact results


def test_exact_true_and_implied_zeros_are_strings_like_every_exact_value(tmp_path):
    # the tie at [0,1]/[1,0] routed to the second maximum: [0,1] true 1, [1,0] true 0
    code, entry = graded(tmp_path, TIES, {"maxpool2d_1.delta_in": [
        [0, 0, 2, 0], [1, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]}, "--exact")
    assert code == 1
    assert [(w["index"], w["given"], w["true"]) for w in entry["tensors"][0]["wrong"]] == [
        ([0, 1], "0", "1"), ([1, 0], "1", "0")]
    # a.output [[3, 3], [2, 0]]: the first maximum [0,0] takes the delta 3, [0,1] none
    problem = {"input": [[1, 3], [2, 0]],
               "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                          {"type": "maxpool2d", "name": "m", "size": 2},
                          {"type": "flatten", "name": "f"}],
               "loss": {"type": "mse", "target": [0]}, "grading": {"carry_forward": True}}
    code, entry = graded(tmp_path, problem, {"a.output": [[3, 3], [2, 0]],
                                             "m.delta_in": [[3, 0], [0, 0]]}, "--exact")
    assert code == 1
    assert [(c["index"], c["true"], c["implied"]) for c in entry["tensors"][1]["carried"]] == [
        ([0, 0], "0", "3"), ([0, 1], "3", "0")]


# --------------------------------------------------------------------------- the report's grids


def test_channels_last_tensors_are_drawn_one_grid_per_channel(tmp_path):
    # as backward draws them: [n, c] grids of the map's rows and columns, [c, f] for HWIO
    # (as its element paths [m, n, c, f] index them)
    code, out, _ = check(tmp_path, NHWC, {
        "conv2d_1.delta_in[1,0]": [[0, 0], [2.875, 1.4375]],
        "conv2d_1.grads.kernel": [[[[9.75], [9.0315]]]]})
    assert code == 1
    assert rows_after(out, "conv2d_1.delta_in  (2×2×2×2)", 6, 12) == [
        "",  # between the rows of grids
        "[n=1, c=0]          [n=1, c=1]",
        "      0         1         0          1",
        "─────────────────   ──────────────────",
        "0   0 ✓   2.875 ✓   0   0 ✓   1.4375 ✓",
        # an unanswered cell's · under the values written, not under the marks
        "1   ·         ·     1   ·          ·"]
    assert rows_after(out, "conv2d_1.grads.kernel  (1×1×2×1)", 1, 5) == [
        "[c=0, f=0]   [c=1, f=0]",
        "         0                       0",
        "──────────   ─────────────────────",
        "0   9.75 ✓   0   9.0315 ✗ 9.031250"]


def test_a_channels_last_transposed_conv_kernel_is_drawn_per_input_and_output_channel(
        tmp_path):
    # input 1×1×2 [[[1, 2]]], delta H×W×F [[[1, 0], [0, 1]], [[2, 1], [1, -1]]]: the
    # gradient of the k1×k2×F×C_in kernel is dW[m][n][f][c] = x_c·δ[m][n][f], so the grid
    # [f, c] (as its element paths [m, n, f, c] index it) is x_c times the delta's channel f
    problem = {"layout": "nhwc", "input": [[[1, 2]]],
               "layers": [{"type": "conv_transpose2d",
                           "kernel": [[[[1, 1], [1, 1]], [[1, 1], [1, 1]]],
                                      [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]]}],
               "delta": [[[1, 0], [0, 1]], [[2, 1], [1, -1]]]}
    code, out, _ = check(tmp_path, problem, {"conv_transpose2d_1.grads.kernel": [
        [[[1, 2], [0, 0]], [[0, 0], [1, 2]]], [[[2, 4], [1, 2]], [[1, 2], [-1, -2.5]]]]})
    assert code == 1
    assert rows_after(out, "conv_transpose2d_1.grads.kernel  (2×2×2×2)", 1, 12) == [
        "[f=0, c=0]      [f=1, c=0]",
        "      0     1         0      1",
        "─────────────   ──────────────",
        "0   1 ✓   0 ✓   0   0 ✓    1 ✓",
        "1   2 ✓   1 ✓   1   1 ✓   -1 ✓",
        "",
        "[f=0, c=1]      [f=1, c=1]",
        "      0     1         0           1",
        "─────────────   ───────────────────",
        "0   2 ✓   0 ✓   0   0 ✓      2 ✓",
        "1   4 ✓   2 ✓   1   2 ✓   -2.5 ✗ -2"]
    # backward draws the same grids (whole numbers: no decimals)
    assert backward_rows_after(tmp_path, problem, "dE/dw (kernel gradient) (2×2×2×2)", 5) == [
        "[f=0, c=0] [f=1, c=0]", "0 1 0 1", "─────────── ───────────",
        "0 1 0 0 0 1", "1 2 1 1 1 -1"]


def test_a_batched_1d_map_is_drawn_a_grid_per_sample_and_a_kernel_a_grid_per_filter(tmp_path):
    # N×C×L delta_in of a conv1d with kernel [1, −1]: sample 0 [[1, 1, -2]], sample 1
    # [[0, 1, -1]], one C×L grid each, named [n=0] and [n=1] (they were named as channels)
    problem = {"input": [[[1, 2, 0]], [[0, 1, 3]]],
               "layers": [{"type": "conv1d", "kernel": [1, -1]}],
               "delta": [[[1, 2]], [[0, 1]]]}
    code, out, _ = check(tmp_path, problem, {"conv1d_1.delta_in": [[[1, 1, -2]], [[0, 1, -1]]]})
    assert code == 0
    assert rows_after(out, "conv1d_1.delta_in  (2×1×3)", 1, 5) == [
        "[n=0]                  [n=1]",
        "      0     1      2         0     1      2",
        "────────────────────   ────────────────────",
        "0   1 ✓   1 ✓   -2 ✓   0   0 ✓   1 ✓   -1 ✓"]
    # nhwc: a k×C×F kernel's gradient dW[m][c][f] = Σ_i x[i+m][c]·δ[i][f] with x
    # [[1, 2], [0, 1], [2, -1]] and δ [[1, 0], [2, 1]] is [[[1, 0], [4, 1]], [[4, 2], [-1, -1]]],
    # drawn a C×k grid per filter
    problem = {"layout": "nhwc", "input": [[1, 2], [0, 1], [2, -1]],
               "layers": [{"type": "conv1d", "kernel": [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]}],
               "delta": [[1, 0], [2, 1]]}
    code, out, _ = check(tmp_path, problem, {
        "conv1d_1.grads.kernel": [[[1, 0], [4, 1]], [[4, 2], [-1, -1.5]]]})
    assert code == 1
    assert rows_after(out, "conv1d_1.grads.kernel  (2×2×2)", 1, 6) == [
        "[f=0]            [f=1]",
        "      0      1         0           1",
        "──────────────   ───────────────────",
        "0   1 ✓    4 ✓   0   0 ✓      2 ✓",
        "1   4 ✓   -1 ✓   1   1 ✓   -1.5 ✗ -1"]
    # backward names them the same
    assert backward_rows_after(tmp_path, problem, "dE/dw (kernel gradient) (2×2×2)", 4) == [
        "[f=0] [f=1]", "0 1 0 1", "─────────── ───────────", "0 1 4 0 0 2"]


@pytest.mark.parametrize("path", ["conv2d_1.grads.kernel", "conv2d_1.delta_in"])
@pytest.mark.parametrize("slip, change", [
    # rows and columns are the first two axes of both an HWIO kernel and an H×W×C map
    ("transpose", lambda t: t.swapaxes(0, 1)),
    ("rot180", lambda t: t[::-1, ::-1]),
])
def test_a_channels_last_grid_transposed_or_rotated_is_named(tmp_path, path, slip, change):
    # an HWIO kernel's and an H×W×C map's rows and columns are not their last two axes: the
    # transpose of each grid was "no common slip matches" (the last two, I and O, swapped)
    import numpy as np

    problem = {"layout": "nhwc",
               "input": np.arange(1, 19, dtype=float).reshape(3, 3, 2).tolist(),
               "layers": [{"type": "conv2d", "kernel": (np.arange(16, dtype=float).reshape(
                   2, 2, 2, 2) - 7).tolist(), "padding": 1}],
               "delta": (np.arange(32, dtype=float).reshape(4, 4, 2) % 5 - 2).tolist()}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    result = json.loads(runner.invoke(app, ["backward", str(tmp_path / "p.json"),
                                            "--format", "json"]).stdout)
    layer = result["layers"][0]
    truth = np.array(layer["grads"]["kernel"] if "grads" in path else layer["delta_in"])
    code, entry = graded(tmp_path, problem, {path: change(truth).tolist()})
    assert code == 1
    tensor = next(t for t in entry["tensors"] if t["path"] == path)
    assert slip in [d["slip"] for d in tensor["diagnoses"]], tensor["diagnoses"]
