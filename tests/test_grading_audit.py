"""Grading scenarios held against the contract (v1.1, "Grading"), end to end through
``cnngrad check``: error carried forward at every step of a network with a loss (conv2d,
relu, maxpool2d, flatten, dense, cross-entropy; batchnorm1d, log_softmax, nll), points on
tensors, cells and parts, the tolerance rule of the block against the command line, one-based
CSV answers, and the table, CSV, JSON and Gradescope reports agreeing.

Every expected value below was worked out independently of cnngrad (by hand or with
PyTorch's autograd in float64) and is written out literally.

``NET``: conv2d (kernel [[0.5, -0.25], [1, 0.75]], bias 0.1) → relu → maxpool2d (2, stride 1)
→ flatten → dense (2×4) with cross-entropy against class 1.  True values:

- conv2d_1.output [[2.6625, -0.525, 1.2875], [2.1625, 1.6625, -1.275], [0.0375, 0.85, -1.9]]
- maxpool2d_1.output [[2.6625, 1.6625], [2.1625, 1.6625]] (maxima at [0,0], [1,1], [1,0],
  [1,1] of relu_1.output)
- dense_1.output [0.56625, -0.125625], loss 1.097764, dense_1.delta_out ±0.666384
- relu_1.delta_in [[0.39983, 0, 0], [0.033319, -0.466469, 0], [0, 0, 0]]
- conv2d_1.grads.kernel [[-0.099958, -0.141607], [-0.333192, 0.949597]]
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()

NET = {"input": [[0.5, -1, 2, 0.25], [1.5, 0.75, -0.5, 1], [0, 2, -1.25, 0.5],
                 [1, -0.75, 0.25, -2]],
       "layers": [{"type": "conv2d", "kernel": [[0.5, -0.25], [1, 0.75]], "bias": 0.1},
                  {"type": "relu"}, {"type": "maxpool2d", "size": 2, "stride": 1},
                  {"type": "flatten"},
                  {"type": "dense", "weights": [[0.2, -0.5, 0.3, 0.1], [-0.4, 0.6, 0.25, -0.3]],
                   "bias": [0.05, -0.1]}],
       "loss": {"type": "cross_entropy", "target": 1}}

#: flatten → dense → batchnorm1d (train) → log_softmax, nll over a batch of 3:
#: dense_1.output [[-0.8, 0.8], [1.35, -0.25], [0.3, -0.1]], loss 2.005744,
#: bn.delta_out [[-0.30161, 0.30161], [0.309281, -0.309281], [0.21507, -0.21507]],
#: bn.delta_in [[-0.113554, -0.00059], [-0.118948, -0.003667], [0.232502, 0.004257]]
BATCH = {"input": [[[[1.0, 2.0, -1.0]]], [[[0.5, -0.5, 2.0]]], [[[0.0, 1.0, 1.0]]]],
         "layers": [{"type": "flatten"},
                    {"type": "dense", "name": "d", "weights": [[0.2, -0.3, 0.5], [0.4, 0.1, -0.2]],
                     "bias": [0.1, 0.0]},
                    {"type": "batchnorm1d", "name": "bn", "gamma": [1.5, 0.5],
                     "beta": [0.1, -0.2]},
                    {"type": "log_softmax", "name": "ls"}],
         "loss": {"type": "nll", "target": [0, 1, 1]}}

#: conv2d over two channels (one C_in×2×2 filter), delta given: kernel gradient
#: [[[1, -1], [0.5, 1.5]], [[1, -0.5], [1, -0.5]]], delta_in channel 1
#: [[0.5, 0.75, 0.25], [-1, -1, -0.5], [0, 1, 0]]
TWO_CHANNELS = {"input": [[[1, 2, 0], [0, 1, 3], [2, 0, 1]], [[0.5, 1, -1], [2, 0, 1], [1, 1, 1]]],
                "kernel": [[[1, 0], [0, -1]], [[0.5, 0.5], [-1, 0]]], "bias": 0,
                "delta": [[[1, 0.5], [0, -1]]]}


def check(tmp_path: Path, problem: dict, answers: dict | str, *options: str,
          name: str = "a.json"):
    """(exit code, stdout, stderr) of ``cnngrad check p.json <answers> OPTIONS``."""
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    text = answers if isinstance(answers, str) else json.dumps(answers)
    (tmp_path / name).write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / name),
                                 *options])
    return result.exit_code, result.stdout, result.stderr


def graded(tmp_path: Path, problem: dict, grading: dict, answers: dict | str, *options: str,
           name: str = "a.json") -> tuple[int, dict]:
    code, out, err = check(tmp_path, dict(problem, grading=grading), answers, "--format",
                           "json", *options, name=name)
    assert code in (0, 1), err
    return code, json.loads(out)["files"][0]


def tensor(entry: dict, path: str) -> dict:
    return next(t for t in entry["tensors"] if t["path"] == path)


# --------------------------------------------------------------------------- carried forward


@pytest.mark.parametrize("upstream, target, answer, carried, source", [
    # loss: the student's dense output [0.6, -0.1] gives log(1 + e^0.7) = 1.103186
    ({"dense_1.output": [0.6, -0.1]}, "loss", 1.103186, [[]], "dense_1.output"),
    # the last layer's delta_out: softmax([0.6, -0.1]) − onehot(1)
    ({"dense_1.output": [0.6, -0.1]}, "dense_1.delta_out", [0.668188, -0.668188],
     [[0], [1]], "dense_1.output"),
    # dense: the bias gradient is the student's own delta_out
    ({"dense_1.delta_out": [0.7123, -0.7123]}, "dense_1.grads.bias", [0.7123, -0.7123],
     [[0], [1]], "dense_1.delta_out"),
    # dense: the student's input [2.5, 1.5, 2, 1.5] with the true delta ±0.666384 ...
    ({"flatten_1.output": [2.5, 1.5, 2, 1.5]}, "dense_1.grads.weights",
     [[1.66596, 0.999576, 1.332768, 0.999576], [-1.66596, -0.999576, -1.332768, -0.999576]],
     [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]], "flatten_1.output"),
    # ... or with the delta ±0.668188 of the output that input gives
    ({"flatten_1.output": [2.5, 1.5, 2, 1.5]}, "dense_1.grads.weights",
     [[1.670469, 1.002282, 1.336376, 1.002282], [-1.670469, -1.002282, -1.336376, -1.002282]],
     [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]], "flatten_1.output"),
    # flatten: the student's dense delta_in, reshaped
    ({"dense_1.delta_in": [0.4123, -0.7123, 0.0312, 0.2712]}, "flatten_1.delta_in",
     [[0.4123, -0.7123], [0.0312, 0.2712]], [[0, 0], [0, 1], [1, 0], [1, 1]],
     "dense_1.delta_in"),
    # maxpool: the student's delta (flatten's delta_in) routed to the maxima, [1,1] twice
    ({"flatten_1.delta_in": [[0.4123, -0.7123], [0.0312, 0.2712]]}, "maxpool2d_1.delta_in",
     [[0.4123, 0, 0], [0.0312, -0.4411, 0], [0, 0, 0]], [[0, 0], [1, 0], [1, 1]],
     "flatten_1.delta_in"),
    # a layer's delta_out is the student's delta_in of the layer that reads it
    ({"flatten_1.delta_in": [[0.4123, -0.7123], [0.0312, 0.2712]]}, "maxpool2d_1.delta_out",
     [[0.4123, -0.7123], [0.0312, 0.2712]], [[0, 0], [0, 1], [1, 0], [1, 1]],
     "flatten_1.delta_in"),
    # maxpool: a wrong relu output moves the maximum of two windows from [1,1] to [0,2]
    ({"relu_1.output": [[2.6625, 0, 1.2875], [2.1625, 1.0, 0], [0.0375, 0.85, 0]]},
     "maxpool2d_1.output", [[2.6625, 1.2875], [2.1625, 1.0]], [[0, 1], [1, 1]],
     "relu_1.output"),
    # relu: the student's conv output −1.6625 at [1,1] stops the delta there
    ({"conv2d_1.output": [[2.6625, -0.525, 1.2875], [2.1625, -1.6625, -1.275],
                          [0.0375, 0.85, -1.9]]},
     "relu_1.delta_in", [[0.39983, 0, 0], [0.033319, 0, 0], [0, 0, 0]], [[1, 1]],
     "conv2d_1.output"),
    # conv: the kernel gradient and the input delta from the student's relu_1.delta_in
    ({"relu_1.delta_in": [[0.4123, 0, 0], [0.0312, -0.4712, 0], [0, 0, 0.1123]]},
     "conv2d_1.grads.kernel", [[-0.240825, -0.09715], [-0.295875, 0.736025]],
     [[0, 0], [0, 1], [1, 0], [1, 1]], "relu_1.delta_in"),
    ({"conv2d_1.delta_out": [[0.4123, 0, 0], [0.0312, -0.4712, 0], [0, 0, 0.1123]]},
     "conv2d_1.delta_in", [[0.20615, -0.103075, 0, 0], [0.4279, 0.065825, 0.1178, 0],
                           [0.0312, -0.4478, -0.29725, -0.028075], [0, 0, 0.1123, 0.084225]],
     [[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [2, 0], [2, 1], [2, 2], [2, 3], [3, 2], [3, 3]],
     "conv2d_1.delta_out"),
])
def test_each_step_of_a_network_is_carried_forward(tmp_path, upstream, target, answer,
                                                   carried, source):
    grading = {"carry_forward": True, "points": {target: 6}}
    code, entry = graded(tmp_path, NET, grading, dict(upstream, **{target: answer}))
    assert code == 1  # the upstream answer is wrong, and a carried cell stays wrong
    checked = tensor(entry, target)
    assert [cell["index"] for cell in checked["carried"]] == carried
    assert checked["wrong"] == []
    assert checked["carried_from"] == [source]
    assert (entry["points"], entry["max_points"], entry["score"]) == (6, 6, 1.0)
    assert tensor(entry, source)["wrong"] != []


#: flatten_1's delta_out written one way, dense_1's delta_in (the same tensor) another; the
#: truth is [0.39983, -0.733022, 0.033319, 0.266554]
TWO_DELTAS = {"flatten_1.delta_out": [0.5, -0.5, 0.25, 0.125],
              "dense_1.delta_in": [1.5, -1.5, 0.75, 0.375]}


@pytest.mark.parametrize("delta_in, source", [
    ([[0.5, -0.5], [0.25, 0.125]], "flatten_1.delta_out"),
    ([[1.5, -1.5], [0.75, 0.375]], "dense_1.delta_in"),   # "or delta_in of the layer that reads it"
])
def test_a_delta_in_is_carried_from_either_way_the_delta_out_was_written(tmp_path, delta_in,
                                                                         source):
    answers = dict(TWO_DELTAS, **{"flatten_1.delta_in": delta_in})
    code, entry = graded(tmp_path, NET, {"carry_forward": True}, answers)
    assert code == 1
    checked = tensor(entry, "flatten_1.delta_in")
    assert checked["wrong"] == [] and len(checked["carried"]) == 4
    assert checked["carried_from"] == [source]  # only the one it was recomputed from
    # neither: plainly wrong
    answers["flatten_1.delta_in"] = [[1.0, -1.0], [0.5, 0.25]]
    _, entry = graded(tmp_path, NET, {"carry_forward": True}, answers)
    assert len(tensor(entry, "flatten_1.delta_in")["wrong"]) == 4


#: c's output is read by r and by the add: its delta_out is the sum of what both send back,
#: [[4, -2], [12, 16]] (r sends [[2, 0], [6, 8]], the add [[2, -2], [6, 8]])
TWO_READERS = {"input": [[1, -2], [3, 4]],
               "layers": [{"type": "conv2d", "name": "c", "kernel": [[1]]},
                          {"type": "relu", "name": "r"},
                          {"type": "add", "name": "a", "inputs": ["r", "c"]}],
               "loss": {"type": "mse", "target": [[0, 0], [0, 0]]}}


@pytest.mark.parametrize("delta_out", [
    [[4, -2], [12, 16]],  # written right: the sum of the readers' answers differs from it
    [[4, -3], [12, 16]],  # written wrong another way
    None,                 # not written
])
@pytest.mark.parametrize("add_delta_in", [[[2, -2], [6, 8]], None])
def test_a_delta_in_is_carried_from_the_sum_of_what_several_readers_send_back(
        tmp_path, delta_out, add_delta_in):
    # the student forgot the ReLU's mask ([0, 1] is -2, not 0), so their sum is
    # [[4, -4], [12, 16]]: the kernel's gradient 1·4 + 2·4 + 3·12 + 4·16 = 112 (true 108)
    answers = {"r.delta_in": [[2, -2], [6, 8]], "c.grads.kernel": [[112]],
               "c.delta_in": [[4, -4], [12, 16]]}
    if delta_out is not None:
        answers["c.delta_out"] = delta_out
    if add_delta_in is not None:
        answers["a.delta_in.c"] = add_delta_in
    grading = {"min_decimals": 0, "carry_forward": True,
               "points": {"r.delta_in": 4, "c.grads.kernel": 1, "c.delta_in": 4}}
    code, entry = graded(tmp_path, TWO_READERS, grading, answers)
    assert code == 1
    assert [c["index"] for c in tensor(entry, "c.grads.kernel")["carried"]] == [[0, 0]]
    assert [c["index"] for c in tensor(entry, "c.delta_in")["carried"]] == [[0, 1]]
    assert tensor(entry, "c.delta_in")["carried_from"] == ["r.delta_in"]
    assert (entry["points"], entry["max_points"]) == (8, 9)


def test_a_carried_cell_shows_the_true_value_beside_it(tmp_path):
    answers = {"relu_1.delta_in": [[0.4123, 0, 0], [0.0312, -0.4712, 0], [0, 0, 0.1123]],
               "conv2d_1.grads.kernel": [[-0.240825, -0.09715], [-0.295875, 0.736025]]}
    problem = dict(NET, grading={"carry_forward": True})
    code, out, _ = check(tmp_path, problem, answers)
    assert code == 1
    assert "-0.240825 ↻ -0.099958" in out and "0.736025 ↻  0.949597" in out
    assert "carried forward from your relu_1.delta_in" in out
    _, entry = graded(tmp_path, NET, {"carry_forward": True}, answers)
    assert [(c["given"], round(c["true"], 6), round(c["implied"], 6))
            for c in tensor(entry, "conv2d_1.grads.kernel")["carried"]][:2] == [
        ("-0.240825", -0.099958, -0.240825), ("-0.09715", -0.141607, -0.09715)]
    # --no-carry-forward wins over the block: the same cells are plainly wrong
    code, entry = graded(tmp_path, NET, {"carry_forward": True}, answers,
                         "--no-carry-forward")
    assert len(tensor(entry, "conv2d_1.grads.kernel")["wrong"]) == 4


@pytest.mark.parametrize("answers, target, carried, source", [
    # batch norm's backward pass from the student's bn.delta_out (-0.1234 at [0,0]):
    # [[-0.065152, -0.000589], [-0.068244, -0.00366], [0.133396, 0.00425]]; -0.0006 and
    # -0.0037 are right anyway, 0.0042 only for the student's 0.00425
    ({"bn.delta_out": [[-0.1234, 0.3016], [0.3093, -0.3093], [0.2151, -0.2151]],
      "bn.delta_in": [[-0.0652, -0.0006], [-0.0682, -0.0037], [0.1334, 0.0042]]},
     "bn.delta_in", [[0, 0], [1, 0], [2, 0], [2, 1]], "bn.delta_out"),
    # gamma's gradient from the same: [0.5322, 0.8056] (the true [0.752124, 0.805549]: its
    # 0.8056 is 0.000051 off, right only from the student's rounded deltas)
    ({"bn.delta_out": [[-0.1234, 0.3016], [0.3093, -0.3093], [0.2151, -0.2151]],
      "bn.grads.gamma": [0.5322, 0.8056]}, "bn.grads.gamma", [[0], [1]], "bn.delta_out"),
    # nll of the student's log_softmax output: −(−0.5 − 2.6289 − 1.0362)/3
    ({"ls.output": [[-0.5, -0.1], [-0.0749, -2.6289], [-0.4382, -1.0362]], "loss": 1.388367},
     "loss", [[]], "ls.output"),
])
def test_batch_norm_and_log_softmax_are_carried_forward(tmp_path, answers, target, carried,
                                                        source):
    code, entry = graded(tmp_path, BATCH, {"carry_forward": True, "min_decimals": 4}, answers)
    assert code == 1
    checked = tensor(entry, target)
    assert [cell["index"] for cell in checked["carried"]] == carried
    assert (checked["wrong"], checked["carried_from"]) == ([], [source])


# --------------------------------------------------------------------------- points


@pytest.mark.parametrize("answers, points, paths, missing", [
    # [0,1] wrong: 0 of its own 2 points and 3 of the tensor's 4; delta_in row 1 2 of 3
    ({"conv2d_1.grads.kernel": [[1, -2], [0.5, 1.5]], "conv2d_1.delta_in[1]": [0, -2, -0.4]},
     5, [0, 3, 2], []),
    # only the cell [0,1] of the kernel: its 2 points and 1 of the tensor's 4
    ({"conv2d_1.grads.kernel[0,1]": -1,
      "conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]]},
     6, [2, 1, 3], ["conv2d_1.grads.kernel"]),
    # nothing answered: every required path missing, 0 of 9
    ({}, 0, [0, 0, 0], ["conv2d_1.grads.kernel[0,1]", "conv2d_1.grads.kernel",
                        "conv2d_1.delta_in[1]"]),
])
def test_points_on_a_cell_a_tensor_and_a_part(tmp_path, answers, points, paths, missing):
    problem = {"input": [[1, 2, 0], [0, 1, 3], [2, 0, 1]], "kernel": [[1, 0], [0, -1]],
               "bias": 0, "delta": [[1, 0.5], [0, -1]]}
    grading = {"points": {"conv2d_1.grads.kernel[0,1]": 2, "conv2d_1.grads.kernel": 4,
                          "conv2d_1.delta_in[1]": 3}}
    code, entry = graded(tmp_path, problem, grading, answers)
    assert code == 1
    assert (entry["points"], entry["max_points"]) == (points, 9)
    assert entry["score"] == points / 9
    assert [p["points"] for p in entry["paths"]] == paths
    assert entry["missing"] == missing


def test_one_based_csv_blocks_answer_parts_with_points(tmp_path):
    grading = {"points": {"conv2d_1.grads.kernel": 8, "conv2d_1.delta_in[1]": 9}}
    blocks = ("# conv2d_1.grads.kernel[1]\n1.0000,-1.0000\n0.5000,1.5000\n\n"
              "# conv2d_1.grads.kernel[2]\n1.0000,-0.5000\n1.0000,-0.4000\n\n"
              "# conv2d_1.delta_in[2]\n0.5000,0.7500,0.2500\n-1.0000,-1.0000,-0.5000\n"
              "0.0000,1.0000,0.0000\n")
    code, entry = graded(tmp_path, TWO_CHANNELS, grading, blocks, "--one-based",
                         name="a.csv")
    assert code == 1
    assert (entry["points"], entry["max_points"], entry["missing"]) == (16, 17, [])
    assert [(w["index"], w["given"]) for w in tensor(entry, "conv2d_1.grads.kernel")["wrong"]
            ] == [([2, 2, 2], "-0.4000")]
    # the same file read from 0: kernel[2] is outside the 2×2×2 gradient (counted from 1?)
    code, _, err = check(tmp_path, dict(TWO_CHANNELS, grading=grading), blocks, name="a.csv")
    assert code == 2
    assert err.splitlines()[0].endswith(
        "a.csv: line 5: conv2d_1.grads.kernel[2]: index [2] is outside "
        "'conv2d_1.grads.kernel' of shape 2×2×2 (indices 0 to 1 along an axis of 2); hint: "
        "counting from 1? give --one-based (indices then count from 1)")


# --------------------------------------------------------------------------- the rule


#: dense_1.grads.weights [[0.123456, 0.246912, 0.370368], [1/3, 2/3, 1]]
DENSE = {"input": [[1, 2, 3]],
         "layers": [{"type": "flatten"},
                    {"type": "dense", "weights": [[1, 1, 1], [0.5, 0.5, 0.5]], "bias": [0, 0]}],
         "delta": ["0.123456", "1/3"]}


@pytest.mark.parametrize("block, options, answers, wrong, note", [
    # the block's 2 decimals: 0.12 and 0.25 are right
    ({"min_decimals": 2}, [], [0.12, 0.25], [], None),
    # --min-decimals 4 wins: both are roundings, named with the decimals required
    ({"min_decimals": 2}, ["--min-decimals", "4"], [0.12, 0.25], [[0, 0], [0, 1]],
     "right to the 2 decimals written; 4 are required (--min-decimals)"),
    ({"min_decimals": 2}, [], [0.1, 0.2], [[0, 0], [0, 1]],
     "right to the 1 decimal written; 2 are required (the grading block's min_decimals)"),
    # the block's atol 0.01: 0.13 is in, 0.26 is 0.013 off
    ({"atol": 0.01}, [], [0.13, 0.26], [[0, 1]], None),
    # --min-decimals 2 wins over the block's atol: 0.13 is 0.0065 off at 2 decimals
    ({"atol": 0.01}, ["--min-decimals", "2"], [0.13, 0.25], [[0, 0]], None),
    # --atol 0.1 wins over the block's min_decimals
    ({"min_decimals": 4}, ["--atol", "0.1"], [0.2, 0.3], [], None),
])
def test_the_block_rule_and_the_option_that_wins(tmp_path, block, options, answers, wrong,
                                                 note):
    code, entry = graded(tmp_path, DENSE, block, {
        "dense_1.grads.weights[0,0]": answers[0], "dense_1.grads.weights[0,1]": answers[1]},
        *options)
    checked = tensor(entry, "dense_1.grads.weights")
    assert code == (1 if wrong else 0)
    assert [w["index"] for w in checked["wrong"]] == wrong
    assert (note in checked["notes"]) if note else not any(
        "decimals written" in n or "decimal written" in n for n in checked["notes"])


# --------------------------------------------------------------------------- the reports


def test_table_csv_json_and_gradescope_agree(tmp_path):
    grading = {"carry_forward": True,
               "points": {"relu_1.delta_in": 3, "conv2d_1.grads.kernel": 4, "loss": 1}}
    answers = {"relu_1.delta_in": [[0.4123, 0, 0], [0.0312, -0.4712, 0], [0, 0, 0.1123]],
               "conv2d_1.grads.kernel": [[-0.240825, -0.09715], [-0.295875, 0.5]]}
    problem = dict(NET, grading=grading)
    # relu_1.delta_in: 5 of 9 cells right (3·5/9 points); the kernel: 3 cells carried
    expected = 3 * 5 / 9 + 3
    _, entry = graded(tmp_path, NET, grading, answers)
    assert entry["points"] == pytest.approx(expected, abs=1e-12)
    assert (entry["max_points"], entry["missing"]) == (8, ["loss"])
    code, out, _ = check(tmp_path, problem, answers, "--format", "csv")
    (row,) = csv.DictReader(io.StringIO(out))
    assert code == 1
    assert (row["points"], row["max_points"], row["percent"], row["missing"],
            row["carried_forward"]) == ("4.6667", "8", "58.33", "loss", "conv2d_1.grads.kernel")
    code, out, _ = check(tmp_path, problem, answers, "--format", "gradescope")
    results = json.loads(out)
    assert code == 1
    assert results["score"] == pytest.approx(expected, abs=1e-12)
    assert [(t["name"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("relu_1.delta_in", 3, "failed"), ("conv2d_1.grads.kernel", 4, "failed"),
        ("loss", 1, "failed")]
    code, out, _ = check(tmp_path, problem, answers)
    assert code == 1
    assert "4.67/8 points (58.3%)" in out and "missing: loss" in out


# --------------------------------------------------------------------------- absurd answers


@pytest.mark.parametrize("huge", ["1e300", "1e200"])
def test_an_answer_whose_step_overflows_carries_nothing_forward(tmp_path, huge):
    # the dense output [0.5663, 1e300] makes a squared error infinite: its allowance was
    # infinite too, so any loss was "carried forward" (2/2), and the class's JSON gradebook
    # failed on the inf ("the result overflows to infinity", no file written)
    problem = dict(NET, loss={"type": "mse", "target": [1, 0]})
    grading = {"points": {"loss": 2, "dense_1.output": 2}, "carry_forward": True}
    answers = {"dense_1.output": ["0.5663", huge], "loss": "7"}
    code, entry = graded(tmp_path, problem, grading, answers)
    assert code == 1
    loss = tensor(entry, "loss")
    assert loss["carried"] == [] and loss["points"] == 0
    assert (entry["points"], entry["max_points"]) == (1, 4)
    code, out, err = check(tmp_path, dict(problem, grading=grading), answers)
    assert code == 1 and "↻" not in out and err == ""


def test_implied_values_of_another_scale_than_the_truth_are_shown_in_scientific(tmp_path):
    # a delta_out of 1e300 implies a dense delta_in near 1e300, printed as 300 digits
    grading = {"points": {"dense_1.delta_in": 4}, "carry_forward": True}
    answers = {"dense_1.delta_out": ["1e300", "-1e300"],
               "dense_1.delta_in": ["0.1234", "0.5", "0.25", "0.3"]}
    code, out, _ = check(tmp_path, dict(NET, grading=grading), answers)
    assert code == 1
    implied = out[out.index("the values they imply"):]
    assert "e+30" in implied and max(len(line) for line in implied.splitlines()) <= 80
