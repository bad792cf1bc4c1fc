"""Grading scenarios end to end through ``cnngrad check --format json``: a problem with a
grading block, an answers file, the score, points, verdicts and exit code worked out by hand.

The problems are small enough to follow on paper:

- ``CONV``: input [[1, 2, 0], [0, 1, 3], [2, 0, 1]], kernel [[1, 0], [0, -1]], bias 0, delta
  [[1, 0.5], [0, -1]]: kernel gradient [[1, -1], [0.5, 1.5]], bias gradient 0.5, input delta
  [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]].
- ``ADD``: input [[1, 2]] read by a (1×1 kernel 2) and b (1×1 kernel 3), s = a + b, relu r,
  delta [[1, -1]]: every delta [[1, -1]], a.delta_in [[2, -2]], a's kernel gradient
  1·1 − 1·2 = −1, s.output [[5, 10]].
- ``CONCAT``: p (kernel 1) feeds a (kernel 2) and b (kernel 3), m = concat(a, b), h a 1×1
  conv with kernel [1, −1] over m's two channels, delta [[1, 2]]: m.delta_in.b [[−1, −2]],
  b.delta_in [[−3, −6]], a.delta_in [[2, 4]], p.delta_out = a.delta_in + b.delta_in
  [[−1, −2]], p's kernel gradient Σ δ·x = −1·1 − 2·2 = −5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()

CONV = {"input": [[1, 2, 0], [0, 1, 3], [2, 0, 1]], "kernel": [[1, 0], [0, -1]], "bias": 0,
        "delta": [[1, 0.5], [0, -1]]}

ADD = {"input": [[1, 2]],
       "layers": [{"type": "conv2d", "name": "a", "kernel": [[2]], "input": "input"},
                  {"type": "conv2d", "name": "b", "kernel": [[3]], "input": "input"},
                  {"type": "add", "name": "s", "inputs": ["a", "b"]},
                  {"type": "relu", "name": "r"}],
       "delta": [[1, -1]]}

CONCAT = {"input": [[1, 2]],
          "layers": [{"type": "conv2d", "name": "p", "kernel": [[1]]},
                     {"type": "conv2d", "name": "a", "kernel": [[2]], "input": "p"},
                     {"type": "conv2d", "name": "b", "kernel": [[3]], "input": "p"},
                     {"type": "concat", "name": "m", "inputs": ["a", "b"]},
                     {"type": "conv2d", "name": "h", "kernel": [[[1]], [[-1]]]}],
          "delta": [[1, 2]]}


def grade(tmp_path: Path, problem: dict, grading: dict | None, answers: dict | str,
          *options: str):
    """(exit code, the one file's JSON entry, stderr) of ``check --format json``."""
    doc = dict(problem, grading=grading) if grading is not None else problem
    (tmp_path / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    text = answers if isinstance(answers, str) else json.dumps(answers)
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                 "--format", "json", *options])
    entry = json.loads(result.stdout)["files"][0] if result.exit_code != 2 else None
    return result.exit_code, entry, result.stderr


def wrong_cells(entry: dict) -> dict[str, list]:
    return {t["path"]: [w["index"] for w in t["wrong"]] for t in entry["tensors"]}


def carried_cells(entry: dict) -> dict[str, list]:
    return {t["path"]: [c["index"] for c in t["carried"]] for t in entry["tensors"]
            if t["carried"]}


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("answers, options, wrong", [
    # on the atol bound is right (1.01 − 1 is 0.010000000000000009 in floats); past it is not
    ('{"conv2d_1.grads.kernel": [[1.01, -0.99], [0.5101, 1.5]]}', ["--atol", "0.01"],
     [[1, 0]]),
    # rtol against a true 0 allows nothing; -2.2 is on the bound of 0.1·|-2|
    ('{"conv2d_1.delta_in[0,2]": 1e-9, "conv2d_1.delta_in[1,1]": -2.2}', ["--rtol", "0.1"],
     [[0, 2]]),
    # atol + rtol·|true|: 0.1 + 0.1·1 = 0.2 allowed at a true 1 (1.2 on the bound), 0.3 at -2
    ('{"conv2d_1.delta_in[0,0]": 1.2, "conv2d_1.delta_in[1,1]": -2.31}',
     ["--rtol", "0.1", "--atol", "0.1"], [[1, 1]]),
    # the exponent counts as decimals: 1e-3 claims 3 (judged at 4: 0.001 off a true 0 is
    # wrong), 4e-5 claims 5 (allowed 0.000005); -0, -0.0 and -5e-1 are right
    ('{"conv2d_1.delta_in[0,2]": "1e-3", "conv2d_1.delta_in[2,0]": "4e-5", '
     '"conv2d_1.delta_in[1,0]": "-0", "conv2d_1.delta_in[2,1]": -0.0, '
     '"conv2d_1.delta_in[1,2]": "-5e-1", "conv2d_1.delta_in[0,0]": 1.0E0}', [],
     [[0, 2], [2, 0]]),
])
def test_tolerance_scenarios(tmp_path, answers, options, wrong):
    code, entry, _ = grade(tmp_path, CONV, None, answers, *options)
    assert code == 1
    tensor = next(iter(wrong_cells(entry).values()))
    assert tensor == wrong
    assert entry["right"] == entry["total"] - len(wrong)


@pytest.mark.parametrize("kernel, code, score", [
    # min_decimals 2: 0.50 and 1.50 carry the two decimals; a fraction is exact
    ([[1, -1], ["0.50", "3/2"]], 0, 1.0),
    # 0.53 is 0.03 off at 2 decimals: wrong
    ([[1, -1], [0.53, 1.5]], 1, 0.75),
    # 1.4 is right to the 1 decimal written, 2 are required: a rounding, wrong
    ([[1, -1], [0.5, 1.4]], 1, 0.75),
])
def test_the_block_min_decimals(tmp_path, kernel, code, score):
    got, entry, _ = grade(tmp_path, CONV, {"min_decimals": 2},
                          {"conv2d_1.grads.kernel": kernel})
    assert (got, entry["score"]) == (code, score)


def test_an_option_wins_over_the_block_key_of_its_name(tmp_path):
    answers = {"conv2d_1.grads.bias": 0.6}  # 0.1 off the true 0.5
    assert grade(tmp_path, CONV, {"atol": 0.1}, answers)[0] == 0
    assert grade(tmp_path, CONV, {"atol": 0.1}, answers, "--atol", "0.01")[0] == 1
    assert grade(tmp_path, CONV, {"atol": 0.1}, answers, "--min-decimals", "1")[0] == 1
    assert grade(tmp_path, CONV, {"min_decimals": 3}, answers, "--atol", "0.1")[0] == 0


# --------------------------------------------------------------------------- points


def test_points_on_a_tensor_a_cell_and_a_missing_path(tmp_path):
    grading = {"points": {"conv2d_1.grads.kernel": 4, "conv2d_1.grads.kernel[1,1]": 2,
                          "conv2d_1.delta_in[1,0]": 3, "conv2d_1.grads.bias": 1}}
    # kernel: 3 of 4 cells right (3 of 4 points), [1,1] wrong (0 of 2), delta_in[1,0] right
    # (3), the bias not answered (0 of 1): 6/10; delta_in[0,0] is wrong but earns nothing
    code, entry, _ = grade(tmp_path, CONV, grading, {
        "conv2d_1.grads.kernel": [[1, -1], [0.5, 1.6]], "conv2d_1.delta_in[1,0]": 0,
        "conv2d_1.delta_in[0,0]": 7})
    assert code == 1
    assert (entry["points"], entry["max_points"], entry["score"]) == (6, 10, 0.6)
    assert [(p["path"], p["points"], p["status"]) for p in entry["paths"]] == [
        ("conv2d_1.grads.kernel", 3, "wrong"), ("conv2d_1.grads.kernel[1,1]", 0, "wrong"),
        ("conv2d_1.delta_in[1,0]", 3, "right"), ("conv2d_1.grads.bias", 0, "missing")]
    assert entry["missing"] == ["conv2d_1.grads.bias"]


def test_the_grade_sheet_names_a_tensors_own_points_beside_a_full_marks_cell(tmp_path):
    # [1,1] right (2 of 2); the whole kernel has [1,1] only of its 4 cells (1 of 4 points):
    # the sheet names the kernel's own 1/4, as the head lists it, not the tensor's 3/6
    grading = {"points": {"conv2d_1.grads.kernel": 4, "conv2d_1.grads.kernel[1,1]": 2}}
    answers = {"conv2d_1.grads.kernel[1,1]": 1.5}
    code, entry, _ = grade(tmp_path, CONV, grading, answers)
    assert (code, entry["points"], entry["max_points"]) == (1, 3, 6)
    (tmp_path / "b.json").write_text(json.dumps(answers))
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                 str(tmp_path / "b.json")], env={"COLUMNS": "120"})
    sheet = " ".join(result.stdout.split())
    assert "conv2d_1.grads.kernel 1/4: 3 required cells not answered" in sheet
    assert "3/6:" not in sheet


def test_a_tensor_outside_the_points_says_it_earns_none(tmp_path):
    # all 3 required points earned; the wrong output is not in points: 100 %, still wrong
    grading = {"points": {"conv2d_1.grads.bias": 3}}
    answers = {"conv2d_1.grads.bias": 0.5, "conv2d_1.output": [[0, 0], [0, 0]]}
    code, entry, _ = grade(tmp_path, CONV, grading, answers)
    assert (code, entry["score"]) == (1, 1.0)
    assert [(t["path"], t["points"], t["max_points"]) for t in entry["tensors"]] == [
        ("conv2d_1.grads.bias", 3, 3), ("conv2d_1.output", 0, 0)]
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    assert "conv2d_1.output  (2×2)  · no points (not in the grading block)" in result.stdout
    (tmp_path / "b.json").write_text(json.dumps(answers))
    sheet = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                str(tmp_path / "b.json")]).stdout
    assert "conv2d_1.output (no points):" in " ".join(sheet.split())


def test_points_on_one_part_are_shared_by_its_cells(tmp_path):
    # delta_in[0] is row 0, [1, 0.5, 0]: its point is a third a cell
    grading = {"points": {"conv2d_1.delta_in[0]": 1, "conv2d_1.grads.bias": 2}}
    code, entry, _ = grade(tmp_path, CONV, grading, {
        "conv2d_1.delta_in[0]": [1, 0.5, 1], "conv2d_1.grads.bias": 0.5})
    assert code == 1
    assert entry["paths"][0] == {"path": "conv2d_1.delta_in[0]", "points": 2 / 3,
                                 "max_points": 1, "status": "wrong", "missing_cells": 0}
    assert entry["score"] == pytest.approx(8 / 9, abs=1e-15)

    code, entry, _ = grade(tmp_path, CONV, grading, {
        "conv2d_1.delta_in[0,0]": 1, "conv2d_1.grads.bias": 0.5})
    assert code == 1
    assert entry["paths"][0]["missing_cells"] == 2
    assert entry["missing"] == ["conv2d_1.delta_in[0]"]
    assert entry["score"] == pytest.approx(7 / 9, abs=1e-15)


#: the hint of an index that fits counted from 1
FROM_ONE = ("; hint: counting from 1? the grading block's paths count from 0 (--one-based is "
            "for answers files)")


@pytest.mark.parametrize("key, words", [
    ("conv2d_1.grads.bias[0]", "'conv2d_1.grads.bias' is a single number: no index"),
    ("conv2d_1.grads.kernel[0,0,0]", "index [0, 0, 0] is outside 'conv2d_1.grads.kernel' of "
                                     "shape 2×2 (2 indices at most, each from 0)"),
    ("conv2d_1.grads.kernel[2]", "index [2] is outside 'conv2d_1.grads.kernel' of shape 2×2 "
                                 "(indices 0 to 1 along an axis of 2)" + FROM_ONE),
    ("conv2d_1.grads.kernel[1,2]", "index [1, 2] is outside 'conv2d_1.grads.kernel' of shape "
                                   "2×2: its second index is 2 (indices 0 to 1 along an axis "
                                   "of 2)" + FROM_ONE),
    ("conv2d_1.grads.kernel[0,3]", "index [0, 3] is outside 'conv2d_1.grads.kernel' of shape "
                                   "2×2: its second index is 3 (indices 0 to 1 along an axis "
                                   "of 2)"),  # no reading from 1 fits it either: no hint
])
def test_a_points_index_that_fits_no_part_is_an_error(tmp_path, key, words):
    code, _, err = grade(tmp_path, CONV, {"points": {key: 1}}, {"conv2d_1.grads.bias": 0.5})
    assert code == 2
    assert err.splitlines()[0] == f"error: {tmp_path / 'p.json'}: grading.points.{key}: {words}"


# --------------------------------------------------------------------------- carried forward


def test_carried_forward_through_an_add_input_delta(tmp_path):
    grading = {"carry_forward": True, "min_decimals": 0,
               "points": {"a.grads.kernel": 2, "a.delta_in": 2, "s.delta_in.a": 1,
                          "s.output": 1}}
    # s.delta_in.a doubled: a.delta_in 2·[[2, -2]], a's kernel gradient 2·1 − 2·2 = −2
    code, entry, _ = grade(tmp_path, ADD, grading, {
        "s.delta_in.a": [[2, -2]], "a.grads.kernel": [[-2]], "a.delta_in": [[4, -4]],
        "s.output": [[5, 10]]})
    assert code == 1
    assert carried_cells(entry) == {"a.grads.kernel": [[0, 0]],
                                    "a.delta_in": [[0, 0], [0, 1]]}
    assert (entry["points"], entry["max_points"]) == (5, 6)


def test_carried_forward_through_an_unanswered_add(tmp_path):
    # r.delta_in doubled stands in for s.delta_out, then s.delta_in.a, then a.delta_in
    grading = {"carry_forward": True, "min_decimals": 0}
    code, entry, _ = grade(tmp_path, ADD, grading, {
        "r.delta_in": [[2, -2]], "s.delta_in.a": [[2, -2]], "a.delta_in": [[4, -4]]})
    assert code == 1
    assert carried_cells(entry) == {"s.delta_in.a": [[0, 0], [0, 1]],
                                    "a.delta_in": [[0, 0], [0, 1]]}
    # without points a carried cell counts as earned, not as right
    assert (entry["right"], entry["total"], entry["points"], entry["score"]) == (0, 6, 4, 4 / 6)


def test_an_output_read_twice_sums_the_students_deltas(tmp_path):
    grading = {"carry_forward": True, "min_decimals": 0,
               "points": {"p.delta_out": 2, "p.grads.kernel": 1, "m.delta_in.b": 2}}
    # m.delta_in.b with its sign flipped: b.delta_in 3·[[1, 2]], p.delta_out
    # [[2, 4]] + [[3, 6]] = [[5, 10]], p's kernel gradient 5·1 + 10·2 = 25
    code, entry, _ = grade(tmp_path, CONCAT, grading, {
        "m.delta_in.b": [[1, 2]], "p.delta_out": [[5, 10]], "p.grads.kernel": [[25]]})
    assert code == 1
    assert carried_cells(entry) == {"p.delta_out": [[0, 0], [0, 1]],
                                    "p.grads.kernel": [[0, 0]]}
    assert (entry["points"], entry["max_points"]) == (3, 5)
    # a partly wrong b.delta_in [[3, 7]]: p.delta_out [[5, 11]] from it
    code, entry, _ = grade(tmp_path, CONCAT, grading, {
        "m.delta_in.b": [[1, 2]], "b.delta_in": [[3, 7]], "p.delta_out": [[5, 11]]})
    assert carried_cells(entry) == {"b.delta_in": [[0, 0]],
                                    "p.delta_out": [[0, 0], [0, 1]]}
    assert wrong_cells(entry)["b.delta_in"] == [[0, 1]]



def test_an_add_reading_one_output_twice_carries_the_sum_of_both_entries(tmp_path):
    # s = c + c sends 2·δ back to c, and its delta_in.c is that sum (as backward reports it):
    # from the student's s.delta_out [[3, 3]], s.delta_in.c is [[6, 6]], not [[3, 3]]
    twice = {"input": [[1, -1]],
             "layers": [{"type": "conv2d", "name": "c", "kernel": [[2]]},
                        {"type": "add", "name": "s", "inputs": ["c", "c"]},
                        {"type": "conv2d", "name": "t", "kernel": [[1]]}],
             "delta": [[1, 2]]}
    grading = {"carry_forward": True, "min_decimals": 0}
    code, entry, _ = grade(tmp_path, twice, grading, {"s.delta_out": [[3, 3]],
                                                      "s.delta_in.c": [[6, 6]]})
    assert code == 1
    assert carried_cells(entry) == {"s.delta_in.c": [[0, 0], [0, 1]]}
    code, entry, _ = grade(tmp_path, twice, grading, {"s.delta_out": [[3, 3]],
                                                      "s.delta_in.c": [[3, 3]]})
    assert carried_cells(entry) == {}
    assert wrong_cells(entry)["s.delta_in.c"] == [[0, 0], [0, 1]]

@pytest.mark.parametrize("answers", [
    {"r.delta_in": [[0.5, 0.25]], "a.delta_out": [[0.5, 0.25]]},
    {"r.delta_in[0,0]": 0.5, "r.delta_in[0,1]": 0.25, "a": {"delta_out": [[0.5, 0.25]]}},
])
@pytest.mark.parametrize("reader, carried, wrong, points", [
    # relu passes the delta [[0.125, 0.25]] of its positive inputs: cell [0,1] is right
    ("relu", {"a.delta_out": [[0, 0]]}, {"r.delta_in": [[0, 0]], "a.delta_out": []}, 3),
    # sigmoid's true delta_in is [[0.024576, 0.026249]]: both cells wrong, both carried
    ("sigmoid", {"a.delta_out": [[0, 0], [0, 1]]},
     {"r.delta_in": [[0, 0], [0, 1]], "a.delta_out": []}, 2),
])
def test_a_delta_out_is_carried_forward_from_the_readers_own_delta_in(tmp_path, answers,
                                                                      reader, carried, wrong,
                                                                      points):
    # a.delta_out is r.delta_in: the student's own r.delta_in is one step upstream of it
    problem = {"input": [[1, 2]], "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                                              {"type": reader, "name": "r"}],
               "delta": [[0.125, 0.25]]}
    grading = {"carry_forward": True, "min_decimals": 0,
               "points": {"r.delta_in": 2, "a.delta_out": 2}}
    code, entry, _ = grade(tmp_path, problem, grading, answers)
    assert code == 1
    assert carried_cells(entry) == carried
    assert wrong_cells(entry) == wrong
    assert (entry["points"], entry["max_points"]) == (points, 4)
    assert next(t for t in entry["tensors"] if t["path"] == "a.delta_out")[
        "carried_from"] == ["r.delta_in"]


#: a.output [[1, 2], [3, 0.5]] pooled to 3, ½(3 − 1)²: the pool's delta 2 goes to [1,0]
POOL_LOSS = {"input": [[1, 2], [3, 0.5]],
             "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                        {"type": "maxpool2d", "name": "m", "size": 2},
                        {"type": "flatten", "name": "f"}],
             "loss": {"type": "mse", "target": [1]}}
#: d.output 0.5·1 − 1·2 = −1.5, ½(−1.5)²: delta −1.5, weights' gradient [[-1.5, -3]]
DENSE_LOSS = {"input": [[1, 2]],
              "layers": [{"type": "flatten", "name": "f"},
                         {"type": "dense", "name": "d", "weights": [[0.5, -1]], "bias": [0]}],
              "loss": {"type": "mse", "target": [0]}}


@pytest.mark.parametrize("problem, answers, carried, implied, points", [
    # a.output's 4 moves the maximum to [0,1]: the true delta 2 routed there (one step
    # upstream: the student's input, the delta not answered so true) ...
    (POOL_LOSS, {"a.output": [[1, 4], [3, 0.5]], "m.delta_in": [[0, 2], [0, 0]]},
     {"m.delta_in": [[0, 1], [1, 0]]}, [2, 0], 3.5),
    # ... or the delta 3 of the maximum 4 the student's forward pass implies
    (POOL_LOSS, {"a.output": [[1, 4], [3, 0.5]], "m.delta_in": [[0, 3], [0, 0]]},
     {"m.delta_in": [[0, 1], [1, 0]]}, [3, 0], 3.5),
    # f.output [1, 3]: −1.5·[1, 3] with the true delta ...
    (DENSE_LOSS, {"f.output": [1, 3], "d.grads.weights": [[-1.5, -4.5]]},
     {"d.grads.weights": [[0, 1]]}, [-4.5], 3),
    # ... or −2.5·[1, 3] with the delta of the output 0.5 − 3 it implies
    (DENSE_LOSS, {"f.output": [1, 3], "d.grads.weights": [[-2.5, -7.5]]},
     {"d.grads.weights": [[0, 0], [0, 1]]}, [-2.5, -7.5], 3),
])
def test_a_wrong_input_carries_forward_with_the_true_or_the_implied_delta(
        tmp_path, problem, answers, carried, implied, points):
    grading = {"carry_forward": True, "min_decimals": 0, "points": dict.fromkeys(answers, 2)}
    code, entry, _ = grade(tmp_path, problem, grading, answers)
    assert code == 1
    assert carried_cells(entry) == carried
    tensor = entry["tensors"][1]
    assert [cell["implied"] for cell in tensor["carried"]] == implied
    assert tensor["carried_from"] == [next(iter(answers))]
    assert (entry["points"], entry["max_points"]) == (points, 4)


#: a relu between the conv the student answered and the pool whose delta they routed
RELU_BETWEEN = {"input": [[1, 2], [3, 0.5]],
                "layers": [{"type": "conv2d", "name": "c", "kernel": [[1]]},
                           {"type": "relu", "name": "r"}, {"type": "maxpool2d", "name": "mp",
                                                            "size": 2}],
                "loss": {"type": "mse", "target": [[0]]}}
#: conv → relu → flatten → dense, mse: the dense gradient δ·x, x the student's relu output
FLATTEN_BETWEEN = {"input": [[1, 2], [3, 0.5]],
                   "layers": [{"type": "conv2d", "kernel": [[1]]}, {"type": "relu"},
                              {"type": "flatten"},
                              {"type": "dense", "weights": [[0.5, -1, 0.25, 1]], "bias": [0]}],
                   "loss": {"type": "mse", "target": [0]}}


@pytest.mark.parametrize("problem, upstream, answer, extra", [
    # c.output's 4 moves the maximum to [0,1] through a relu not answered: the true delta 3
    (RELU_BETWEEN, {"c.output": [[1, 4], [3, 0.5]]}, {"mp.delta_in": [[0, 3], [0, 0]]},
     {"mp.delta_out": [[3]]}),
    # the true delta −0.25 times the student's relu output, through a flatten not answered
    (FLATTEN_BETWEEN, {"relu_1.output": [[1, 4], [3, 0.5]]},
     {"dense_1.grads.weights": [["-0.250", "-1.000", "-0.750", "-0.125"]]},
     {"dense_1.delta_out": [-0.25]}),
])
def test_a_wrong_output_carries_through_an_unanswered_layer_with_the_true_delta(
        tmp_path, problem, upstream, answer, extra):
    # the student's own forward values past a layer they did not answer, and the true delta
    # they did not answer either: carried forward, as when they also write the true delta
    grading = {"carry_forward": True, "min_decimals": 0,
               "points": dict.fromkeys([*upstream, *answer], 4)}
    path = next(iter(answer))
    results = [grade(tmp_path, problem, grading, {**upstream, **answer, **more})
               for more in ({}, extra)]
    for code, entry, _ in results:
        assert code == 1
        assert path in carried_cells(entry), entry
        assert (entry["points"], entry["max_points"]) == (7, 8)


def test_a_wrong_input_is_named_as_a_source_only_where_it_counts(tmp_path):
    # input [[1, -2]] → relu r → flatten f → dense d (weights [[0.5, -1]]), delta [1]: the
    # student's r.output [[1, 0.5]] is wrong, but a flatten's delta_in and a dense layer's
    # do not depend on their input's values: r.delta_in [[0.7, 0]] is carried from
    # d.delta_in alone, and d.delta_in's own wrong 0.7 is not held to r.output at all
    problem = {"input": [[1, -2]],
               "layers": [{"type": "relu", "name": "r"}, {"type": "flatten", "name": "f"},
                          {"type": "dense", "name": "d", "weights": [[0.5, -1]], "bias": [0]}],
               "delta": [1]}
    grading = {"carry_forward": True, "min_decimals": 0}
    answers = {"r.output": [[1, 0.5]], "d.delta_in": [0.7, -1], "r.delta_in": [[0.7, 0]]}
    code, entry, _ = grade(tmp_path, problem, grading, answers)
    assert code == 1
    assert carried_cells(entry) == {"r.delta_in": [[0, 0]]}
    tensors = {t["path"]: t for t in entry["tensors"]}
    assert tensors["r.delta_in"]["carried_from"] == ["d.delta_in"]
    assert not any("r.output" in note for note in tensors["d.delta_in"]["notes"])


def test_the_grade_sheet_counts_carried_cells_beside_the_right_ones(tmp_path):
    # the answers above: 3 cells right and 1 carried forward of 6, scored 4/6 without points
    problem = {"input": [[1, -2]],
               "layers": [{"type": "relu", "name": "r"}, {"type": "flatten", "name": "f"},
                          {"type": "dense", "name": "d", "weights": [[0.5, -1]], "bias": [0]}],
               "delta": [1], "grading": {"carry_forward": True, "min_decimals": 0}}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "ann.json").write_text(json.dumps(
        {"r.output": [[1, 0.5]], "d.delta_in": [0.7, -1], "r.delta_in": [[0.7, 0]]}))
    (tmp_path / "bo.json").write_text(json.dumps({"r.output": [[1, 0]]}))
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "ann.json"),
                                 str(tmp_path / "bo.json")])
    rows = {line.split()[0]: line.split()[1:3] for line in result.stdout.splitlines()
            if line.startswith(("ann ", "bo "))}
    assert rows == {"ann": ["66.7%", "3+1↻/6"], "bo": ["100.0%", "2/2"]}


@pytest.mark.parametrize("r_delta_in, a_delta_in, carried, score", [
    # r.delta_in 0.1 implies exactly 0.1: a.delta_in's 0.1, a rounding of the true 0.125, is
    # right only as the value itself, and it is that value: carried forward
    (0.1, "0.1", {"a.delta_in": [[0, 0]]}, 0.75),
    # r.delta_in 0.1004 implies 0.1004 (± half its last unit): 0.1 is not that value
    ("0.1004", "0.1", {}, 0.5),
    # 0.10 carries the 2 decimals required and is right for either
    (0.1, "0.10", {"a.delta_in": [[0, 0]]}, 0.75),
    ("0.1004", "0.10", {"a.delta_in": [[0, 0]]}, 0.75),
])
def test_a_short_answer_is_carried_forward_only_as_the_value_implied(
        tmp_path, r_delta_in, a_delta_in, carried, score):
    # true r.delta_in = a.delta_in = [[0.125, 0.25]]; min_decimals 2; r.delta_in has no
    # upstream answer (the delta is given), so its own wrong cell is never carried
    problem = {"input": [[1, 2]], "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                                              {"type": "relu", "name": "r"}],
               "delta": [[0.125, 0.25]]}
    grading = {"carry_forward": True, "min_decimals": 2,
               "points": {"r.delta_in": 1, "a.delta_in": 1}}
    _, entry, _ = grade(tmp_path, problem, grading,
                        f'{{"r.delta_in": [[{r_delta_in}, 0.25]], '
                        f'"a.delta_in": [[{a_delta_in}, 0.25]]}}')
    assert carried_cells(entry) == carried and entry["score"] == score
    # a carried cell is no longer a rounding; one not carried still is, when it is one
    rounded = [t["rounded"] for t in entry["tensors"]]
    assert rounded[1] == ([] if carried or a_delta_in == "0.10" else [[0, 0]])


# --------------------------------------------------------------------------- answers' forms


def test_an_object_of_tensors_answers_the_paths_under_its_key(tmp_path):
    # delta_in per input and grads per parameter nested as --format json nests them
    grading = {"points": {"s.delta_in.a": 1, "s.delta_in.b": 1, "a.grads.kernel": 2}}
    code, entry, _ = grade(tmp_path, ADD, grading, {
        "s.delta_in": {"a": [[1, -1]], "b": [[1, 1]]}, "a": {"grads": {"kernel": [[-1]]}}})
    assert code == 1
    assert wrong_cells(entry) == {"s.delta_in.a": [], "s.delta_in.b": [[0, 1]],
                                  "a.grads.kernel": []}
    assert (entry["points"], entry["max_points"]) == (3.5, 4)


@pytest.mark.parametrize("answers, words", [
    ('{"s.delta_in": {"a": [[1, -1]]}, "s.delta_in.a[0,0]": 1}',
     "s.delta_in.a[0,0]: this cell is also given by 's.delta_in.a'"),
    ('{"s.delta_in": {"c": [[1, -1]]}}', "s.delta_in.c: unknown path 's.delta_in.c'"),
    ('{"a.grads.kernel": {"cvs": "k.csv"}}',
     "a.grads.kernel.cvs: unknown key 'cvs' in a tensor file reference"),
])
def test_an_object_of_tensors_is_checked_like_the_paths_it_stands_for(tmp_path, answers, words):
    code, _, err = grade(tmp_path, ADD, None, answers)
    assert code == 2
    [line] = err.splitlines()
    assert line.partition("; hint: ")[0] == f"error: {tmp_path / 'a.json'}: {words}"


def test_a_json_number_is_shown_as_written(tmp_path):
    # 1e-3 and 4E-5 are the text of the file, not Python's 0.001 and 0.00004
    code, entry, _ = grade(tmp_path, CONV, None,
                           '{"conv2d_1.delta_in[0,2]": 1e-3, "conv2d_1.delta_in[2,0]": 4E-5, '
                           '"conv2d_1.delta_in[0,1]": 0.50}')
    assert code == 1
    assert [(w["index"], w["given"]) for w in entry["tensors"][0]["wrong"]] == [
        ([0, 2], "1e-3"), ([2, 0], "4E-5")]


def test_a_json_negative_zero_is_shown_as_written_and_is_zero(tmp_path):
    # -0 for the true 0 at [0,2] is right; for 0.5 at [0,1] it is wrong, shown as "-0"
    code, entry, _ = grade(tmp_path, CONV, None,
                           '{"conv2d_1.delta_in[0,2]": -0, "conv2d_1.delta_in[0,1]": -0}')
    assert code == 1
    assert (entry["right"], entry["total"]) == (1, 2)
    assert [(w["index"], w["given"]) for w in entry["tensors"][0]["wrong"]] == [
        ([0, 1], "-0")]


@pytest.mark.parametrize("kernel, carried, wrong", [
    # 0.5 · 0.12404 = 0.06202; the student's right 0.1240 gives exactly 0.062, which is
    # 0.0620 with its zero dropped: a decimals slip, not an error carried (their upstream
    # answer is right)
    (0.5, {}, {"b.delta_in": [], "a.delta_in": [[0, 0]]}),
    # 50 · 0.12404 = 6.202; their 0.1240 gives exactly 6.2, a value their rounding moved
    # past half a unit of the 4th decimal: carried
    (50, {"a.delta_in": [[0, 0]]}, {"b.delta_in": [], "a.delta_in": []}),
])
def test_a_short_value_is_carried_only_where_the_upstream_answers_change_it(
        tmp_path, kernel, carried, wrong):
    problem = {"input": [[1]], "layers": [{"type": "conv2d", "name": "a", "kernel": [[kernel]]},
                                          {"type": "conv2d", "name": "b",
                                           "kernel": [[0.12404]]}],
               "delta": [[1]]}
    code, entry, _ = grade(tmp_path, problem, {"min_decimals": 4, "carry_forward": True},
                           {"b.delta_in": [["0.1240"]],
                            "a.delta_in": [["0.062" if kernel == 0.5 else "6.2"]]})
    assert code == 1  # a carried cell is still not right: check exits 1
    assert carried_cells(entry) == carried
    assert wrong_cells(entry) == wrong


@pytest.mark.parametrize("b_kernel, b_delta_in, answer, carried", [
    # b.delta_in is 0.5 everywhere, written 0.50: those digits are the true value, so they
    # stand for themselves and imply a kernel gradient of 0.5·(1+2+3+4) = 5 exactly; 5.03 is
    # wrong.  (Each moved by half a unit, they would allow 5 ± 0.005·10 and carry it.)
    (0.5, "0.50", "5.03", False),
    # b.delta_in is 0.12345 everywhere, written 0.12 (right at 2 decimals): a student may
    # have kept more of its digits, the true ones, so 0.12 stands for 0.12, 0.123, 0.1235,
    # 0.12345 and the gradient Σ δ·x for 1.2, 1.23, 1.235 or 1.2345: 1.20 (as written) and
    # 1.24 (0.1235 kept) are carried forward; 1.22 (0.122, no digits of the true value) and
    # 1.26 are not, though both are within 1.2 ± 10·0.005
    (0.12345, "0.12", "1.20", True),
    (0.12345, "0.12", "1.24", True),
    (0.12345, "0.12", "1.22", False),
    (0.12345, "0.12", "1.26", False),
])
def test_only_digits_short_of_the_true_value_stand_for_a_range(tmp_path, b_kernel, b_delta_in,
                                                               answer, carried):
    problem = {"input": [[1, 2], [3, 4]],
               "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                          {"type": "conv2d", "name": "b", "kernel": [[b_kernel]]}],
               "delta": [[1, 1], [1, 1]]}
    code, entry, _ = grade(tmp_path, problem, {"min_decimals": 2, "carry_forward": True},
                           {"b.delta_in": [[b_delta_in] * 2] * 2,
                            "a.grads.kernel": [[answer]]})
    assert code == 1
    assert carried_cells(entry) == ({"a.grads.kernel": [[0, 0]]} if carried else {})
    assert wrong_cells(entry) == {"b.delta_in": [],
                                  "a.grads.kernel": [] if carried else [[0, 0]]}


@pytest.mark.parametrize("exact", [[], ["--exact"]])
@pytest.mark.parametrize("doc, upstream, path, answer, carried", [
    # four right delta_out cells written to 2 decimals (true 0.211 … 0.114): their bias sum
    # is 1.04 as written, 1.05 kept to 3 decimals or more; 1.02 is neither, though four half
    # units (±0.02) of 1.04 reach it
    ({"input": [[1, 1, 1], [1, 1, 1], [1, 1, 1]], "kernel": [[1, 1], [1, 1]], "bias": 0,
      "delta": [[0.211, 0.312], [0.413, 0.114]]},
     {"conv2d_1.delta_out": [[0.21, 0.31], [0.41, 0.11]]}, "conv2d_1.grads.bias", 1.04, True),
    ({"input": [[1, 1, 1], [1, 1, 1], [1, 1, 1]], "kernel": [[1, 1], [1, 1]], "bias": 0,
      "delta": [[0.211, 0.312], [0.413, 0.114]]},
     {"conv2d_1.delta_out": [[0.21, 0.31], [0.41, 0.11]]}, "conv2d_1.grads.bias", 1.02, False),
    # a right 0.33 (true 0.3312) times an input of 100: 33.00 as written, 33.10 from 0.331
    # kept; 33.40 is within 100·0.005 of 33.00 but from no digits of the true delta
    ({"input": [[100]], "kernel": [[1]], "delta": [[0.3312]]},
     {"conv2d_1.delta_out": [[0.33]]}, "conv2d_1.grads.kernel", [[33.00]], True),
    ({"input": [[100]], "kernel": [[1]], "delta": [[0.3312]]},
     {"conv2d_1.delta_out": [[0.33]]}, "conv2d_1.grads.kernel", [["33.10"]], True),
    ({"input": [[100]], "kernel": [[1]], "delta": [[0.3312]]},
     {"conv2d_1.delta_out": [[0.33]]}, "conv2d_1.grads.kernel", [["33.40"]], False),
])
def test_a_right_upstream_answer_stands_for_its_true_digits_kept(tmp_path, doc, upstream,
                                                                  path, answer, carried, exact):
    # a student who kept more digits of a right value than they wrote kept its true digits:
    # a downstream answer is carried forward from those (to any number of decimals), never
    # from any value that merely rounds to what they wrote
    points = {**dict.fromkeys(upstream, 4), path: 1}
    code, entry, _ = grade(tmp_path, doc, {"min_decimals": 2, "carry_forward": True,
                                           "points": points},
                           {**upstream, path: answer}, *exact)
    assert code == 1
    assert (path in carried_cells(entry)) == carried, entry
    assert (entry["points"], entry["max_points"]) == ((5, 5) if carried else (4, 5))


#: four 1×1 convs (1.5, 3.3, 1.37, 1.234), the delta 1 given: deltas 1.234, 1.69058, 5.578914
BACKWARD_CHAIN = {"input": [[1.0]], "layers": [
    {"type": "conv2d", "name": name, "kernel": [[weight]]}
    for name, weight in (("c1", 1.5), ("c2", 3.3), ("c3", 1.37), ("c4", 1.234))],
    "delta": [[1]]}


@pytest.mark.parametrize("doc, grading, answers, path, carried", [
    # 0.213 is right only within atol 0.01 (true 0.2204): its digits are not the true value's,
    # so it stands for its rounding range, and 21.312 (0.21312 kept) is carried forward ...
    ({"input": [[100]], "kernel": [[1]], "delta": [[0.2204]]}, {"atol": 0.01},
     {"conv2d_1.delta_out": [["0.213"]], "conv2d_1.grads.kernel": [["21.312"]]},
     "conv2d_1.grads.kernel", True),
    # ... and 62.04, from the true 0.2204 it never wrote (and a wrong 0.40), is not
    ({"input": [[100, 100]], "kernel": [[1]], "delta": [[0.2204, 0.30]]}, {"atol": 0.01},
     {"conv2d_1.delta_out": [["0.213", "0.40"]], "conv2d_1.grads.kernel": [["62.04"]]},
     "conv2d_1.grads.kernel", False),
    # c2.output 5.58 is right (true 5.578866), computed from the 1.69 written for c1 and
    # kept as 5.577: c3 = 5.577·7.7 = 42.9429 is carried forward from the student's own value
    ({"input": [[1.234]], "layers": [{"type": "conv2d", "name": "c1", "kernel": [[1.37]]},
                                     {"type": "conv2d", "name": "c2", "kernel": [[3.3]]},
                                     {"type": "conv2d", "name": "c3", "kernel": [[7.7]]}],
      "delta": [[1]]}, {"min_decimals": 2},
     {"c1.output": [["1.69"]], "c2.output": [["5.58"]], "c3.output": [["42.94"]]},
     "c3.output", True),
    # the same backward: c3's delta_in 1.69 (true 1.69058) computed from c4's written 1.23 and
    # kept as 1.6851 carries c2's 5.56 (1.6851·3.3), whichever name the delta is written under
    *((BACKWARD_CHAIN, {"min_decimals": 2},
       {"c4.delta_in": [["1.23"]], name: [["1.69"]], "c2.delta_in": [["5.56"]]},
       "c2.delta_in", True) for name in ("c3.delta_in", "c2.delta_out")),
    # a right 1234.5679 (true 1234.56785, half a unit off but for a float's last bits) is kept:
    # 2469.1359 is neither twice it nor twice the truth
    ({"input": [["1234.56785"]], "layers": [{"type": "conv2d", "name": "c1", "kernel": [[1]]},
                                            {"type": "conv2d", "name": "c2", "kernel": [[2]]}],
      "delta": [[1]]}, {"min_decimals": 4},
     {"c1.output": [["1234.5679"]], "c2.output": [["2469.1359"]]}, "c2.output", False),
])
def test_a_right_upstream_answer_kept_as_its_own_digits_or_within_a_tolerance(
        tmp_path, doc, grading, answers, path, carried):
    code, entry, _ = grade(tmp_path, doc, {**grading, "carry_forward": True}, answers)
    assert code == 1
    assert (path in carried_cells(entry)) == carried, entry


def test_no_values_implied_are_shown_when_every_wrong_cell_is_a_rounding(tmp_path):
    # the student's b.delta_in (0.124, short of the 4 decimals required) implies 0.062 for
    # a.delta_in, whose one wrong cell is the same decimals slip: "not carried forward …; the
    # values they imply:" over a grid of dots said nothing
    problem = {"input": [[1]], "layers": [{"type": "conv2d", "name": "a", "kernel": [[0.5]]},
                                          {"type": "conv2d", "name": "b",
                                           "kernel": [[0.12404]]}],
               "delta": [[1]], "grading": {"min_decimals": 4, "carry_forward": True}}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"b.delta_in": [["0.124"]],
                                                 "a.delta_in": [["0.062"]]}), encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    assert result.exit_code == 1
    assert "right to the 3 decimals written; 4 are required" in " ".join(result.stdout.split())
    assert "carried forward" not in result.stdout


@pytest.mark.parametrize("true_delta, short, carried", [
    # -0.021 is -0.0210, the truth at 4 decimals, with its zero dropped: the decimals slip of
    # a right answer, in delta_out and in the delta_in it implies exactly; not carried
    (-0.021017, "-0.021", False),
    (0.12404, "0.124", False),
    # 0.222 is not 0.2222 with a zero dropped: a value, implied exactly by the student's
    # 0.222 upstream, carried forward
    (0.22222, "0.222", True),
    # a whole 0, or a lone 0.0 / -0.0 (a float zero as a program writes it), claims an exact
    # zero: where the student's own delta_out implies exactly 0, it is carried forward,
    # though the truth (0.00002) is 0.0000 at 4 decimals
    (0.00002, "0", True), (0.00002, "0.0", True), (0.00002, "-0.0", True),
    # 0.00 is a number formatted to 2 decimals: the decimals slip of a right 0.0000
    (0.00002, "0.00", False),
])
def test_a_short_value_the_truth_with_zeros_dropped_is_never_carried(tmp_path, true_delta,
                                                                      short, carried):
    problem = {"input": [[1, 2], [3, 4]], "kernel": [[1]], "delta": [[0.11111, true_delta],
                                                                     [0.3, 0.4]]}
    grading = {"min_decimals": 4, "carry_forward": True}
    rows = [[1, short], [0.3, 0.4]]
    code, entry, _ = grade(tmp_path, problem, grading,
                           {"conv2d_1.delta_out": rows, "conv2d_1.delta_in": rows})
    assert code == 1
    assert carried_cells(entry) == {"conv2d_1.delta_in": [[0, 0], [0, 1]] if carried
                                    else [[0, 0]]}
    assert wrong_cells(entry) == {"conv2d_1.delta_out": [[0, 0], [0, 1]],
                                  "conv2d_1.delta_in": [] if carried else [[0, 1]]}


#: A 1×1 kernel of 1 (delta_in is delta_out) and a true delta of −0.00002: −0.0000 at 4
#: decimals.
TINY_NEGATIVE = {"input": [[1, 2], [3, 4]], "kernel": [[1]],
                 "delta": [[0.11111, -0.00002], [0.3, 0.4]]}


@pytest.mark.parametrize("as_csv", [False, True])
def test_a_zero_typed_as_text_beside_values_at_the_decimals_required_claims_zero(tmp_path,
                                                                                 as_csv):
    # "-0.0" in a JSON string or a CSV cell was typed so, by no JSON writer: a claim of an
    # exact zero, carried forward where the student's delta_out implies exactly 0
    rows = [["1", "-0.0"], ["0.3000", "0.4000"]]
    if as_csv:
        (tmp_path / "d.csv").write_text("1,-0.0\n0.3000,0.4000\n", encoding="utf-8")
        delta_in = {"csv": "d.csv"}
    else:
        delta_in = rows
    code, entry, _ = grade(tmp_path, TINY_NEGATIVE, {"min_decimals": 4, "carry_forward": True},
                           {"conv2d_1.delta_out": [[1, 0], [0.3, 0.4]],
                            "conv2d_1.delta_in": delta_in})
    assert code == 1
    assert carried_cells(entry) == {"conv2d_1.delta_in": [[0, 0], [0, 1]]}
    delta_out = next(t for t in entry["tensors"] if t["path"] == "conv2d_1.delta_out")
    # delta_in's true value is delta_out's own (a 1×1 kernel of 1): no "another path"
    assert delta_out["diagnoses"] == []


def test_a_writers_zero_beside_values_at_the_decimals_required_is_a_rounding(tmp_path):
    # json.dump of numbers rounded to 4 decimals writes -0.0000 as -0.0: the decimals slip of
    # a right answer, named as the other dropped zeros are, and not carried
    grading = {"min_decimals": 4, "carry_forward": True}
    rows = [[1, -0.0], [0.3, 0.4]]
    code, entry, _ = grade(tmp_path, TINY_NEGATIVE, grading, {
        "conv2d_1.delta_out": rows, "conv2d_1.delta_in": [[1, -0.0], ["0.3000", "0.4000"]]})
    assert code == 1
    assert carried_cells(entry) == {"conv2d_1.delta_in": [[0, 0]]}
    result = CliRunner().invoke(app, ["check", str(tmp_path / "p.json"),
                                      str(tmp_path / "a.json")])
    text = " ".join(result.stdout.split())
    assert ("right to the 1 decimal written; 4 are required (the grading block's "
            "min_decimals): each is its value at 4 decimals with its trailing zeros dropped, "
            "as JSON writers drop them (-0.0000 → -0.0)") in text


SKIP_AND_CONCAT = {"input": [[1, 0.2], [0.6, -0.4]], "layers": [
    {"type": "conv2d", "name": "c1", "kernel": [[0.5]], "bias": -0.25},
    {"type": "relu", "name": "r1"},
    {"type": "add", "name": "a1", "inputs": ["r1", "input"]},
    {"type": "concat", "name": "cat", "inputs": ["a1", "r1"]},
    {"type": "global_avgpool"}, {"type": "dense", "weights": [[1, -2]], "bias": 0.1}],
    "loss": {"type": "mse", "target": [1]}}


@pytest.mark.parametrize("factor, first", [
    # r1.delta_out twice the truth, the loss and cat's and a1's deltas right: one reader's
    # delta left out of the sum at r1, not MSE without its ½, which would double them all
    (1, "main_delta_forgotten"),
    # the loss and every delta doubled: MSE without its ½ throughout, first by its rank
    (2, "mse_without_half"),
])
def test_a_slip_the_other_right_answers_rule_out_comes_last(tmp_path, factor, first):
    answers = {"loss": round(0.1953125 * factor, 4),  # Σ(t − y)² is twice ½Σ
               "cat.delta_in.r1": [[0.3125 * factor] * 2] * 2,
               "a1.delta_in.r1": [[-0.1562 * factor] * 2] * 2,
               "r1.delta_out": [[0.3125] * 2] * 2}
    _, entry, _ = grade(tmp_path, SKIP_AND_CONCAT, {"min_decimals": 3}, answers)
    tensor = next(t for t in entry["tensors"] if t["path"] == "r1.delta_out")
    assert tensor["diagnoses"][0]["slip"] == first
    assert {d["slip"] for d in tensor["diagnoses"]} >= {"main_delta_forgotten",
                                                       "mse_without_half"}


@pytest.mark.parametrize("batched", [False, True])
def test_a_right_loss_leaves_mse_without_its_half_first(tmp_path, batched):
    # the loss right and its gradient twice the truth: the loss differentiated without its
    # ½ (a forward value rules out no slip), named before "twice the true answer" and, for
    # a batch, before "the sum instead of the mean over the batch"
    problem = {"input": [1, 2], "layers": [{"type": "dense", "weights": [[0.5, -0.25]],
                                            "bias": 0.1}], "loss": {"type": "mse",
                                                                    "target": [1]}}
    answers = {"loss": 0.4050, "dense_1.grads.weights": [[-1.8, -3.6]]}
    if batched:
        problem = {"input": [[[[1, 2]]], [[[0, 1]]]],
                   "layers": [{"type": "flatten"}] + problem["layers"],
                   "loss": {"type": "mse", "target": [[1], [0]]}}
        answers = {"loss": 0.4163, "dense_1.grads.weights": [[-1.8, -3.9]]}
    _, entry, _ = grade(tmp_path, problem, None, answers)
    tensor = next(t for t in entry["tensors"] if t["path"] == "dense_1.grads.weights")
    assert tensor["diagnoses"][0]["slip"] == "mse_without_half"
    assert "doubled" in {d["slip"] for d in tensor["diagnoses"]}


def test_a_short_copy_of_right_answers_is_no_error_to_carry(tmp_path):
    # relu_1's output is read by a and b, both delta_ins right as 0.1240: their sum 0.248 is
    # the truth 0.24802 at 4 decimals with its zero dropped, a decimals slip, whatever
    # relu_1.delta_out says
    problem = {"input": [[1]], "layers": [
        {"type": "relu"}, {"type": "conv2d", "name": "a", "kernel": [[1]]},
        {"type": "conv2d", "name": "b", "input": "relu_1", "kernel": [[1]]},
        {"type": "add", "inputs": ["a", "b"]}], "delta": [[0.12401]]}
    grading = {"min_decimals": 4, "carry_forward": True}
    code, entry, _ = grade(tmp_path, problem, grading, {
        "a.delta_in": [["0.1240"]], "b.delta_in": [["0.1240"]], "relu_1.delta_out": [["0.3"]],
        "relu_1.delta_in": [["0.248"]]})
    assert code == 1
    assert carried_cells(entry) == {}
    assert wrong_cells(entry)["relu_1.delta_in"] == [[0, 0]]


@pytest.mark.parametrize("right, short", [("a.delta_out", "relu_1.delta_in"),
                                          ("relu_1.delta_in", "a.delta_out")])
def test_a_second_short_copy_of_a_right_delta_carries_nothing(tmp_path, right, short):
    # a.delta_out and relu_1.delta_in are one delta: right as 0.1240 in one, written 0.124
    # in the other, the 0.124 in a.delta_in (0.1240 with its zero dropped) is the decimals
    # slip either way, so the extra answer earns nothing
    problem = {"input": [[1]], "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                                          {"type": "relu"}], "delta": [[0.12404]]}
    grading = {"min_decimals": 4, "carry_forward": True, "points": {right: 1, "a.delta_in": 1}}
    answers = {right: [["0.1240"]], "a.delta_in": [["0.124"]]}
    scores = []
    for extra in ({}, {short: [["0.124"]]}):
        code, entry, _ = grade(tmp_path, problem, grading, {**answers, **extra})
        assert code == 1 and carried_cells(entry) == {}
        scores.append((entry["points"], entry["max_points"]))
    assert scores == [(1, 2), (1, 2)]


@pytest.mark.parametrize("options", [(), ("--exact",)])
def test_an_updated_parameter_is_carried_forward_from_the_students_gradient(tmp_path, options):
    # grads.kernel[0,1] written -2 (true -1) and grads.bias 0.4 (true 0.5): the SGD step
    # p - 0.1·g from them gives kernel[0,1] 0.2 and bias -0.04, carried; kernel[1,0] -0.5
    # is wrong (the step from the student's right 0.5 gives -0.05)
    answers = {"conv2d_1.grads.kernel": [[1, -2], [0.5, 1.5]], "conv2d_1.grads.bias": 0.4,
               "conv2d_1.updated.kernel": [["0.9000", "0.2000"], ["-0.5000", "-1.1500"]],
               "conv2d_1.updated.bias": "-0.0400"}
    code, entry, _ = grade(tmp_path, CONV, {"carry_forward": True}, answers,
                           "--lr", "0.1", *options)
    assert code == 1
    assert carried_cells(entry) == {"conv2d_1.updated.kernel": [[0, 1]],
                                    "conv2d_1.updated.bias": [[]]}
    assert wrong_cells(entry) == {"conv2d_1.grads.kernel": [[0, 1]],
                                  "conv2d_1.grads.bias": [[]],
                                  "conv2d_1.updated.kernel": [[1, 0]],
                                  "conv2d_1.updated.bias": []}


def test_every_report_follows_the_grading_blocks_order_not_the_files(tmp_path):
    grading = {"points": {"conv2d_1.grads.kernel": 2, "conv2d_1.grads.bias": 1,
                          "conv2d_1.delta_in": 2}}
    answers = {"conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]],
               "conv2d_1.output": [[0, 0], [0, 0]], "conv2d_1.grads.kernel": [[1, -1], [0.5, 1.5]]}
    _, entry, _ = grade(tmp_path, CONV, grading, answers)
    # the required paths in the block's order, the bias (not answered) in its place, then
    # what the file answers besides
    assert [t["path"] for t in entry["tensors"]] == [
        "conv2d_1.grads.kernel", "conv2d_1.grads.bias", "conv2d_1.delta_in", "conv2d_1.output"]


def test_zeros_carried_from_zeros_are_said_so_however_far_down(tmp_path):
    # c.delta_in answered with zeros where it is [[2, -4]]: b.delta_in is carried from them
    # ("zeros from its zeros"), and so is a's kernel gradient one step further, which said
    # nothing of them
    problem = {"input": [[1, 2]],
               "layers": [{"type": "conv2d", "name": "a", "kernel": [[1]]},
                          {"type": "conv2d", "name": "b", "kernel": [[3]]},
                          {"type": "conv2d", "name": "c", "kernel": [[2]]}],
               "delta": [[1, -2]],
               "grading": {"carry_forward": True, "min_decimals": 0}}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({
        "c.delta_in": [[0, 0]], "b.delta_in": [[0, 0]], "a.grads.kernel": [[0]]}),
        encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    said = " ".join(result.stdout.split())
    assert "carried forward from your c.delta_in, zeros from its zeros" in said
    assert "carried forward from your b.delta_in, zeros from its zeros" in said


@pytest.mark.parametrize("delta_out", [True, False])
def test_parameters_left_unchanged_by_zero_gradients_are_said_so(tmp_path, delta_out):
    # gradients answered as zeros (carried from a zero delta_out, or written so) leave the
    # kernel and the bias as they were: updated parameters written so are carried forward
    # from them, with the note a grader looks for (it said nothing, or spoke of zeros for
    # the bias of 0 alone)
    answers = {"conv2d_1.grads.kernel": [["0.00", "0.00"], ["0.00", "0.00"]],
               "conv2d_1.grads.bias": "0.00",
               "conv2d_1.updated.kernel": [["1.00", "0.00"], ["0.00", "-1.00"]],
               "conv2d_1.updated.bias": "0.00"}
    if delta_out:
        answers["conv2d_1.delta_out"] = [["0.00", "0.00"], ["0.00", "0.00"]]
    problem = dict(CONV, grading={"carry_forward": True, "min_decimals": 2})
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(answers), encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                 "--lr", "0.1"])
    said = " ".join(result.stdout.split())
    for key in ("kernel", "bias"):
        assert (f"carried forward from your conv2d_1.grads.{key}, the parameter unchanged by "
                "its zeros") in said


@pytest.mark.parametrize("answers, status", [
    ({"conv2d_1.grads.kernel[0,0]": 1}, "missing"),  # one cell of four, right
    ({"conv2d_1.grads.kernel[0,0]": 7}, "wrong"),  # one cell of four, wrong
    ({"conv2d_1.grads.kernel": [[1, -1], [0.5, 1.5]]}, "right"),
    ({"conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]]}, "missing"),  # none
])
def test_a_required_path_answered_in_part_and_right_is_missing_not_wrong(tmp_path, answers,
                                                                         status):
    # the JSON gradebook said "wrong" where the CSV listed the path as missing
    code, entry, _ = grade(tmp_path, CONV, {"points": {"conv2d_1.grads.kernel": 4}}, answers)
    assert next(p for p in entry["paths"] if p["path"] == "conv2d_1.grads.kernel")[
        "status"] == status


def test_two_tensors_each_missing_a_cell_say_so_of_each_in_the_grade_sheet(tmp_path):
    # the grade sheet groups tensors with the same note: "1 required cell not answered" read
    # as one cell in all where each of the two lacked one
    grading = {"points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 9}}
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=grading)), encoding="utf-8")
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "ana.json").write_text(json.dumps({
        "conv2d_1.grads.kernel": [[1, -1], [0.5, None]],
        "conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, -0.5], [0, 0, None]]}), encoding="utf-8")
    (folder / "bo.json").write_text(json.dumps({
        "conv2d_1.grads.kernel": [[1, -1], [0.5, 1.5]],
        "conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]]}), encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(folder)],
                           env={"COLUMNS": "200"})
    said = " ".join(result.stdout.split())
    assert result.exit_code == 1, result.output
    assert ("conv2d_1.grads.kernel 3/4, conv2d_1.delta_in 8/9: 1 required cell not answered "
            "in each") in said


def test_an_adds_delta_in_answered_whole_is_told_it_is_one_tensor_per_input(tmp_path):
    # as the grading block says of it; the answers file was given the closest spellings
    code, _, stderr = grade(tmp_path, ADD, None, {"s.delta_in": [[1, -1]]})
    assert code == 2
    assert stderr == (f"error: {tmp_path / 'a.json'}: s.delta_in: unknown path 's.delta_in'; "
                      "hint: s.delta_in is one tensor per input, each answered on its own: "
                      "s.delta_in.a, s.delta_in.b\n")


@pytest.mark.parametrize("one_based", [False, True])
def test_the_grade_sheet_names_the_graded_parts_of_a_tensor_short_of_their_points(
        tmp_path, one_based):
    # points on a row and on one cell of the input delta: the notes said
    # "conv2d_1.delta_in 2.67/6", the sum of both, where the head lists them apart
    grading = {"points": {"conv2d_1.delta_in[1]": 3, "conv2d_1.delta_in[1,1]": 2}}
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=grading)), encoding="utf-8")
    folder = tmp_path / "class"
    folder.mkdir()
    right = [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]]
    for name, row in (("ana", [0, -2, 7]), ("bo", [0, -2, -0.5])):
        (folder / f"{name}.json").write_text(json.dumps({
            "conv2d_1.delta_in": [right[0], row, right[2]]}), encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(folder),
                                 *(["--one-based"] if one_based else [])],
                           env={"COLUMNS": "200"})
    said = " ".join(result.stdout.split())
    assert result.exit_code == 1, result.output
    row, cell = ("[2]", "[2,2]") if one_based else ("[1]", "[1,1]")
    assert f"ana 80.0% 4/5 wrong conv2d_1.delta_in{row} 2/3: " in said
    assert f"conv2d_1.delta_in{cell} 2/2" not in said  # the points it has are not short


@pytest.mark.parametrize("exact", [False, True])
def test_a_whole_number_exercises_true_values_are_shown_whole(tmp_path, exact):
    # a kernel gradient of whole numbers ([[1, -1], [0.5, 1.5]] with the delta doubled:
    # [[2, -2], [1, 3]]) was shown "3 ✗ 2.000000"; a tensor with a fraction keeps the decimals
    problem = dict(CONV, delta=[[2, 1], [0, -2]])
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({
        "conv2d_1.grads.kernel": [[2, -2], [1, 4]], "conv2d_1.grads.bias": 2}),
        encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json"),
                                 *(["--exact"] if exact else [])])
    assert result.exit_code == 1, result.output
    assert "4 ✗ 3" in result.stdout and "3.000000" not in result.stdout
    assert "conv2d_1.grads.bias (a number): 2 ✗ 1" in " ".join(result.stdout.split())
    (tmp_path / "p.json").write_text(json.dumps(CONV), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"conv2d_1.grads.kernel": [[2, -1], [0.5, 1.5]]}),
                                     encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(tmp_path / "a.json")])
    assert "2 ✗ 1.000000" in result.stdout  # beside 0.5 and 1.5: six decimals


@pytest.mark.parametrize("points, legend", [
    (None, "↻ carried forward: right from the student's own upstream answers, full points"),
    # points are said in words: a ↻ in the legend stood for nothing in the table
    ({"conv2d_1.grads.kernel": 4}, "\ncarried forward: right from the student's own upstream"),
])
def test_the_grade_sheets_carried_forward_legend_shows_the_mark_where_the_table_does(
        tmp_path, points, legend):
    grading = {"carry_forward": True, **({"points": points} if points else {})}
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=grading)), encoding="utf-8")
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ana", "bo"):
        (folder / f"{name}.json").write_text(json.dumps({
            "conv2d_1.grads.kernel": [[1, -1], [0.5, 1.5]]}), encoding="utf-8")
    result = runner.invoke(app, ["check", str(tmp_path / "p.json"), str(folder)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert legend in result.stdout
    assert ("↻" in result.stdout) == (points is None)


def test_cells_given_by_index_put_a_one_based_shift_before_whole_tensor_slips(tmp_path):
    # one cell under an index the student wrote, [1,1] holding the value of [0,0]: the
    # kernel's rotation moves it there too, but an index counted from 1 is the likelier slip
    code, entry, _ = grade(tmp_path, CONV, None, {"conv2d_1.grads.kernel[1,1]": 1})
    assert code == 1
    slips = [d["slip"] for t in entry["tensors"] for d in t["diagnoses"]]
    assert slips[0].startswith("one_based_shift_") and len(slips) > 1
    # a whole tensor rotated keeps the rotation first
    code, entry, _ = grade(tmp_path, CONV, None,
                           {"conv2d_1.grads.kernel": [[1.5, 0.5], [-1, 1]]})
    slips = [d["slip"] for t in entry["tensors"] for d in t["diagnoses"]]
    assert slips and not slips[0].startswith("one_based_shift_")


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck", "explain", "check"])
@pytest.mark.parametrize("block, where, words", [
    (5, "grading", "expected an object"),
    ({"min_decimal": 2}, "grading.min_decimal", "did you mean 'min_decimals'?"),
    ({"points": {"loss": -1}}, "grading.points.loss", "points must be > 0"),
    ({"carry_forward": "yes"}, "grading.carry_forward", "expected true or false"),
    # the points' paths, held against the network once it has run
    ({"points": {"conv2d_1.kernel": 1}}, "grading.points.conv2d_1.kernel",
     "did you mean conv2d_1.grads.kernel?"),
    ({"points": {"conv2d_1.grads.kernel[5,5]": 1}}, "grading.points.conv2d_1.grads.kernel[5,5]",
     "is outside 'conv2d_1.grads.kernel' of shape 2×2"),
    ({"points": {"loss": 1}}, "grading.points.loss", "so it has no loss to grade"),
])
def test_check_refuses_a_malformed_grading_block_which_the_others_ignore_with_a_warning(
        tmp_path, command, block, where, words):
    # "ignored by every other command" (the contract): they compute as without the block,
    # and warn of what check will refuse, for the TA's first backward run to find
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=block)), encoding="utf-8")
    (tmp_path / "q.json").write_text(json.dumps(CONV), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps({"conv2d_1.grads.bias": 0.5}),
                                     encoding="utf-8")
    extra = {"explain": ["conv2d_1.output[0,0]"], "check": [str(tmp_path / "a.json")]}
    result = runner.invoke(app, [command, str(tmp_path / "p.json"), *extra.get(command, [])])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and words in lines[0]
    if command == "check":
        assert result.exit_code == 2, result.output
        assert lines[0].startswith(f"error: {tmp_path / 'p.json'}: {where}: ")
        return
    assert result.exit_code == 0, result.output
    assert lines[0].startswith(f"warning: {tmp_path / 'p.json'}: {where}: ")
    assert "only cnngrad check reads the grading block, and it refuses this one" in lines[0]
    without = runner.invoke(app, [command, str(tmp_path / "q.json"), *extra.get(command, [])])
    assert result.stdout.replace("p.json", "q.json") == without.stdout


def test_a_grading_block_with_points_on_no_such_path_is_checks_to_refuse(tmp_path):
    # the paths need the network: check refuses them, the other commands warn once it ran
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading={"points": {"nope": 1}})),
                                     encoding="utf-8")
    warned = runner.invoke(app, ["backward", str(tmp_path / "p.json")])
    assert warned.exit_code == 0 and warned.stderr.startswith("warning: ")
    code, _, stderr = grade(tmp_path, CONV, {"points": {"nope": 1}},
                            {"conv2d_1.grads.bias": 0.5})
    assert code == 2 and "grading.points.nope" in stderr and "warning" not in stderr


def test_an_updated_parameter_in_the_points_is_left_to_check_and_its_lr(tmp_path):
    # backward without --lr has no updated kernel, but check --lr grades one: no warning
    block = {"points": {"conv2d_1.updated.kernel": 1}}
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=block)), encoding="utf-8")
    for args in ([], ["--lr", "0.1"]):
        result = runner.invoke(app, ["backward", str(tmp_path / "p.json"), *args])
        assert result.exit_code == 0 and result.stderr == "", result.stderr
    block = {"points": {"conv2d_1.updated.kernal": 1}}
    (tmp_path / "p.json").write_text(json.dumps(dict(CONV, grading=block)), encoding="utf-8")
    result = runner.invoke(app, ["backward", str(tmp_path / "p.json"), "--lr", "0.1"])
    assert "did you mean conv2d_1.updated.kernel?" in result.stderr
