"""Grading a class: the problem's grading block, rounding named, points and missing answers,
error carried forward, one-based answers, the gradebook and Gradescope's results.json."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnngrad.render.numbers import half_up_text
from cnngrad.teach.check import check_file, read_answers
from cnngrad.cli import app
from cnngrad.errors import ProblemError
from cnngrad.teach.grading import Grading, parse_grading, resolve_tolerance, student_names
from cnngrad.network import run
from cnngrad.problem import load_problem

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXAM = SAMPLES / "exam.json"
WORKED = SAMPLES / "stackexchange.json"  # kernel gradient 0.044606 0.094061 / 0.011262 0.068288
RIGHT_KERNEL = "[[0.0446, 0.0941], [0.0113, 0.0683]]"

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problem_file(folder: Path, doc: dict, name: str = "problem.json") -> Path:
    return write(folder, name, json.dumps(doc))


def with_grading(grading: dict, base: Path = WORKED) -> dict:
    doc = json.loads(base.read_text())
    doc["grading"] = grading
    return doc


# A one-cell problem whose kernel gradient is exactly 0.125: the rounding rule's boundary.
EIGHTH = {"input": [[1]], "kernel": [[1]], "delta": [[0.125]]}

# conv (1×1 kernel 2) → max pool 2: y = [[2, 4], [6, 8]], the pool's maximum is the last cell.
# True: maxpool2d_1.delta_in = conv2d_1.delta_out = [[0, 0], [0, 1]], kernel gradient
# Σ δ·x = 4, conv2d_1.delta_in = 2·δ = [[0, 0], [0, 2]].
POOL_CONV = {"input": [[1, 2], [3, 4]],
             "layers": [{"type": "conv2d", "kernel": [[2]]}, {"type": "maxpool2d", "size": 2}],
             "delta": [[1]]}

# flatten → dense (weights [1, 1]) → sigmoid, MSE ½Σ against 1: dense output 3, σ(3) = 0.952574.
DENSE_SIGMOID = {"input": [[1, 2]],
                 "layers": [{"type": "flatten"}, {"type": "dense", "weights": [[1, 1]]},
                            {"type": "sigmoid"}],
                 "loss": {"type": "mse", "target": [1]}}


# --------------------------------------------------------------------------- the block


def test_a_grading_block_is_read():
    grading = parse_grading({"min_decimals": 2, "points": {"loss": 1, "conv2d_1.delta_in": "2.5"},
                             "carry_forward": True}, file="p.json")
    assert grading.min_decimals == 2 and grading.carry_forward is True
    assert {k: float(v) for k, v in grading.points.items()} == {"loss": 1.0,
                                                                "conv2d_1.delta_in": 2.5}
    assert parse_grading(None) == Grading()


def test_the_loader_keeps_the_block_and_other_commands_ignore_it(tmp_path):
    graded = problem_file(tmp_path, with_grading({"min_decimals": 2, "carry_forward": True}))
    assert load_problem(str(graded)).grading == {"min_decimals": 2, "carry_forward": True}
    plain = invoke("backward", WORKED, "--format", "json")
    with_block = invoke("backward", graded, "--format", "json")
    assert with_block.exit_code == 0
    assert json.loads(with_block.stdout)["layers"] == json.loads(plain.stdout)["layers"]


@pytest.mark.parametrize("grading, words", [
    ({"min_decimal": 2}, "grading.min_decimal: unknown key 'min_decimal' in the grading block"),
    ({"min_decimals": -1}, "grading.min_decimals: expected an integer from 0 to 17, got -1"),
    ({"min_decimals": 18}, "grading.min_decimals: expected an integer from 0 to 17, got 18"),
    ({"min_decimals": 2.5}, "grading.min_decimals: expected an integer from 0 to 17, got 2.5"),
    ({"min_decimals": True}, "grading.min_decimals: expected an integer from 0 to 17, got true"),
    ({"min_decimals": "2"}, "grading.min_decimals: expected an integer from 0 to 17, got '2'; "
                            "hint: drop the quotes: write 2, a number, not a string"),
    ({"atol": -0.1}, "grading.atol: must be ≥ 0, got -0.1"),
    ({"rtol": "abc"}, "grading.rtol: 'abc' is not a number"),
    ({"min_decimals": 2, "atol": 0.01}, "grading.min_decimals: min_decimals belongs to the "
                                        "decimals rule, which atol/rtol replace"),
    ({"points": {}}, "grading.points: expected an object"),
    ({"points": {"loss": 0}}, "grading.points.loss: points must be > 0, got 0"),
    ({"points": {"loss": -1}}, "grading.points.loss: points must be > 0, got -1"),
    ({"points": {"conv2d_1.grads.kernel[0,0]": 1, "conv2d_1.grads.kernel[0][0]": 2}},
     "grading.points.conv2d_1.grads.kernel[0][0]: the same tensor or cell as "
     "'conv2d_1.grads.kernel[0,0]'"),
    ({"points": {"loss": [1]}}, "grading.points.loss: expected a number, got a list"),
    ({"points": {"conv2d_1.kernel": 1}}, "grading.points.conv2d_1.kernel: no such path; known: "
                                         "conv2d_1.grads.kernel, conv2d_1.delta_in, "
                                         "conv2d_1.delta_out, conv2d_1.output; hint: did you "
                                         "mean conv2d_1.grads.kernel?"),
    # the worked example's conv has no bias: said so, as check says it of an answers key
    ({"points": {"conv2d_1.grads.bias[0]": 1}}, "grading.points.conv2d_1.grads.bias[0]: "
                                                "conv2d_1 has no bias (the problem gives it none)"),
    ({"points": {"loss": 1}}, "grading.points.loss: the problem gives the delta at the last "
                              "layer, so it has no loss to grade"),
    ({"points": {"conv2d_1.grads.kernel[2,0]": 1}}, "grading.points.conv2d_1.grads.kernel[2,0]: "
                                                    "index [2, 0] is outside"),
    ({"carry_forward": "yes"}, "grading.carry_forward: expected true or false, got 'yes'"),
    ([1], "grading: expected an object"),
])
def test_a_bad_grading_block_is_one_line_naming_the_place(tmp_path, grading, words):
    problem = problem_file(tmp_path, with_grading(grading))
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 2, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("error: ") and words in first, first
    assert "Traceback" not in result.output


def test_a_huge_min_decimals_is_shown_as_json_writes_it(tmp_path):
    doc = json.dumps(with_grading({"min_decimals": 2})).replace('"min_decimals": 2',
                                                                '"min_decimals": 1e400')
    problem = write(tmp_path, "p.json", doc)
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    assert "expected an integer from 0 to 17, got 1e+400" in result.output, result.output


def test_a_points_path_near_no_known_one_lists_them_without_a_guess(tmp_path):
    problem = problem_file(tmp_path, with_grading({"points": {"relu_1.output": 1}}))
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {problem}: grading.points.relu_1.output: no such path; known: conv2d_1.output, "
        "conv2d_1.delta_out, conv2d_1.delta_in, conv2d_1.grads.kernel"]


def test_an_unknown_key_names_the_closest_one(tmp_path):
    problem = problem_file(tmp_path, with_grading({"carry_foward": True}))
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    assert "hint: did you mean 'carry_forward'?" in result.output


def test_a_points_path_that_names_nothing_lists_the_closest_first(tmp_path):
    problem = problem_file(tmp_path, with_grading({"points": {"conv2d_1.kernel": 1}}))
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert "known: conv2d_1.grads.kernel, " in result.output


def test_a_points_path_of_an_add_s_delta_in_names_its_inputs(tmp_path):
    # an add's delta_in is one tensor per input (a1.delta_in.r1, a1.delta_in.input): points
    # go to each, and the error says which
    doc = {"input": [[0.5, -0.2], [0.1, 0.4]],
           "layers": [{"type": "relu", "name": "r1"},
                      {"type": "add", "name": "a1", "inputs": ["r1", "input"]}],
           "delta": [[1, 2], [3, 4]], "grading": {"points": {"a1.delta_in": 4}}}
    problem = problem_file(tmp_path, doc)
    answers = write(tmp_path, "a.json", '{"a1.delta_in.r1": [[1, 2], [3, 4]]}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    assert result.output.splitlines()[0].endswith(
        "; hint: a1.delta_in is one tensor per input, each with its own points: "
        "a1.delta_in.r1, a1.delta_in.input")
    # a layer's name, or its grads, are no such path either, but not one tensor per input
    for path in ("r1", "a1"):
        doc["grading"] = {"points": {path: 4}}
        problem = problem_file(tmp_path, doc)
        result = invoke("check", problem, answers)
        assert result.exit_code == 2 and "one tensor per input" not in result.output


@pytest.mark.parametrize("block, atol, rtol, min_decimals, expected", [
    ({}, None, None, None, (None, None, 4)),
    ({"min_decimals": 2}, None, None, None, (None, None, 2)),
    ({"min_decimals": 2}, None, None, 5, (None, None, 5)),          # the option wins
    ({"min_decimals": 2}, "0.01", None, None, ("1/100", None, 0)),  # --atol replaces the rule
    ({"atol": "0.01", "rtol": "0.1"}, None, None, None, ("1/100", "1/10", 0)),
    ({"atol": "0.01", "rtol": "0.1"}, "0.02", None, None, ("1/50", "1/10", 0)),
    ({"atol": "0.01"}, None, None, 3, (None, None, 3)),             # --min-decimals wins
])
def test_each_option_wins_over_the_block(block, atol, rtol, min_decimals, expected):
    from fractions import Fraction

    grading = parse_grading(block)
    tolerance = resolve_tolerance(grading, atol=atol and Fraction(atol),
                                  rtol=rtol and Fraction(rtol), min_decimals=min_decimals)
    shown = (None if tolerance.atol is None else str(tolerance.atol),
             None if tolerance.rtol is None else str(tolerance.rtol), tolerance.min_decimals)
    assert shown == expected


def test_the_block_min_decimals_grades_and_the_option_overrides_it(tmp_path):
    problem = problem_file(tmp_path, with_grading({"min_decimals": 2}))
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel": [[0.04, 0.09], [0.01, 0.07]]}')
    assert invoke("check", problem, answers).exit_code == 0
    strict = invoke("check", problem, answers, "--min-decimals", "4")
    assert strict.exit_code == 1
    assert "right to the 2 decimals written; 4 are required (--min-decimals)" in strict.output


def test_the_schema_knows_the_grading_block():
    jsonschema = pytest.importorskip("jsonschema")
    from cnngrad.schema import problem_schema

    validator = jsonschema.Draft202012Validator(problem_schema())
    assert validator.is_valid(json.loads(EXAM.read_text()))
    assert not validator.is_valid(with_grading({"min_decimal": 2}))
    assert not validator.is_valid(with_grading({"points": {"loss": -1}}))


# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize("written, verdict, note", [
    ("0.1250", "right", None),
    ("0.13", "rounded", "right to the 2 decimals written; 4 are required (--min-decimals)"),
    ("0.12", "rounded", "right to the 2 decimals written; 4 are required (--min-decimals)"),
    ("0.1", "rounded", "right to the 1 decimal written; 4 are required (--min-decimals)"),
    ("0.14", "wrong", None),     # 0.015 off: more than half a unit of the 2nd decimal
    ("0.2", "wrong", None),      # 0.075 off: more than half a unit of the 1st decimal
    ("0", "wrong", None),        # an integer claims an exact value: never a rounding
    ("0.1251", "wrong", None),   # 4 decimals written: the ordinary rule
])
def test_the_rounding_rule_and_its_boundary(tmp_path, written, verdict, note):
    from cnngrad.render.grades import rounding_note

    problem = problem_file(tmp_path, EIGHTH)
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": [["{written}"]]}}')
    trace = run(load_problem(str(problem)))
    from cnngrad.teach.check import Tolerance

    tolerance = Tolerance(min_decimals=4)
    (check,) = check_file(trace, str(answers), tolerance).tensors
    got = "right" if check.right.all() else "rounded" if check.rounded.all() else "wrong"
    assert got == verdict
    assert rounding_note(check, tolerance) == note
    if verdict == "rounded":  # a rounding is explained by the rule, not by a slip
        assert not check.diagnosed


def test_a_rounded_answer_is_named_in_the_report_and_the_sheet(tmp_path):
    problem = problem_file(tmp_path, EIGHTH)
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel": [[0.13]]}')
    other = write(tmp_path, "b.json", '{"conv2d_1.grads.kernel": [[0.1250]]}')
    report = invoke("check", problem, answers)
    assert report.exit_code == 1
    assert "right to the 2 decimals written; 4 are required (--min-decimals)" in report.output
    assert "no common slip matches" not in report.output
    sheet = invoke("check", problem, answers, other, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(sheet.stdout)))
    assert rows[0]["diagnoses"] == ("conv2d_1.grads.kernel: right to the 2 decimals written; "
                                    "4 are required (--min-decimals)")
    assert rows[1]["status"] == "right"


# --------------------------------------------------------------------------- points


def test_points_are_shared_by_cells_and_missing_answers_score_zero(tmp_path):
    problem = problem_file(tmp_path, with_grading(
        {"points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 5}}))
    one_wrong = write(tmp_path, "ana.json",
                      '{"conv2d_1.grads.kernel": [[0.0446, 0.0941], [0.0113, 0.0600]]}')
    trace = run(load_problem(str(problem)))
    grading = parse_grading(load_problem(str(problem)).grading)
    result = check_file(trace, str(one_wrong), resolve_tolerance(grading), grading=grading)
    assert [(p.key, float(p.earned), float(p.possible), p.status) for p in result.path_scores] \
        == [("conv2d_1.grads.kernel", 3.0, 4.0, "wrong"), ("conv2d_1.delta_in", 0.0, 5.0,
                                                            "missing")]
    assert result.missing_paths == ["conv2d_1.delta_in"]
    assert (float(result.earned), float(result.possible)) == (3.0, 9.0)
    assert result.status == "wrong"

    out = invoke("check", problem, one_wrong)
    assert out.exit_code == 1
    assert "conv2d_1.grads.kernel  (2×2)  · 3/4 points" in out.output
    assert "conv2d_1.delta_in  (5×5)  · 0/5 points  not answered" in out.output
    assert "total: 3/4 cells right · 3/9 points (33.3%)" in out.output
    assert "missing: conv2d_1.delta_in" in out.output


def test_every_file_is_scored_on_the_same_total(tmp_path):
    problem = problem_file(tmp_path, with_grading(
        {"points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in[1,1]": 1}}))
    full = write(tmp_path, "full.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}, '
                                        '"conv2d_1.delta_in[1,1]": -0.0047}')
    part = write(tmp_path, "part.json", '{"conv2d_1.grads.kernel[0,0]": 0.0446}')
    result = invoke("check", problem, full, part, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["student"], r["points"], r["max_points"], r["percent"]) for r in rows] == [
        ("full", "5", "5", "100.00"), ("part", "1", "5", "20.00")]
    assert rows[1]["conv2d_1.grads.kernel"] == "1" and rows[1]["conv2d_1.delta_in[1,1]"] == "0"
    assert rows[1]["missing"] == "conv2d_1.grads.kernel conv2d_1.delta_in[1,1]"
    assert result.exit_code == 1


def test_without_points_the_score_is_right_over_answered():
    from cnngrad.teach.check import Tolerance

    trace = run(load_problem(str(WORKED)))
    result = check_file(trace, str(SAMPLES / "answers" / "stackexchange-wrong.json"),
                        Tolerance(min_decimals=4))
    assert result.path_scores is None
    assert (float(result.earned), float(result.possible)) == (16.0, 29.0)


# --------------------------------------------------------------------------- carried forward


def _graded(tmp_path, doc, answers: str, carry=True, name="a.json"):
    problem = problem_file(tmp_path, dict(doc, grading={"carry_forward": carry}))
    path = write(tmp_path, name, answers)
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    return problem, path, check_file(run(spec), str(path), resolve_tolerance(grading),
                                     grading=grading)


def _tensor(result, path):
    return next(t for t in result.tensors if t.path == path)


def test_a_slip_in_the_pool_delta_carries_into_the_conv_gradient(tmp_path):
    # the pool's delta sent to the first cell of the window instead of its maximum
    answers = ('{"maxpool2d_1.delta_in": [[1, 0], [0, 0]], "conv2d_1.grads.kernel": [[1]], '
               '"conv2d_1.delta_in": [[2, 0], [0, 0]]}')
    problem, path, result = _graded(tmp_path, POOL_CONV, answers)
    pool, kernel, delta_in = (_tensor(result, p) for p in
                              ("maxpool2d_1.delta_in", "conv2d_1.grads.kernel",
                               "conv2d_1.delta_in"))
    assert pool.n_right == 2 and pool.n_carried == 0  # the slip itself is wrong
    assert kernel.carried.all() and kernel.carried_from == ("maxpool2d_1.delta_in",)
    assert float(kernel.truth[0, 0]) == 4.0 and float(kernel.implied[0, 0]) == 1.0
    assert delta_in.carried[0, 0] and delta_in.implied.tolist() == [[2, 0], [0, 0]]
    assert result.status == "wrong"  # the slip is still a wrong answer

    out = invoke("check", problem, path)
    assert out.exit_code == 1
    assert "1 ↻ 4" in out.output  # given, carried forward, true value
    assert "carried forward from your maxpool2d_1.delta_in; the values they imply:" in out.output
    assert "total: 4/9 cells right, 3 carried forward" in out.output


def test_the_implied_values_show_every_wrong_cell_carried_or_not(tmp_path):
    # implied by the pool's slip: conv2d_1.delta_in = 2·[[1, 0], [0, 0]]; the student's 2 at
    # [0, 0] is carried, the 5 at [1, 1] is not (it implies 0, the truth is 2): its implied 0
    # is shown too (what the cell needed for credit), the right cells stay '·'
    answers = '{"maxpool2d_1.delta_in": [[1, 0], [0, 0]], "conv2d_1.delta_in": [[2, 0], [0, 5]]}'
    problem, path, result = _graded(tmp_path, POOL_CONV, answers)
    delta_in = _tensor(result, "conv2d_1.delta_in")
    assert delta_in.carried.tolist() == [[True, False], [False, False]]
    out = invoke("check", problem, path)
    implied = out.output.split("the values they imply:\n")[1].splitlines()
    # whole numbers, as the true values are shown (2, not 2.000000)
    assert [row.split() for row in implied[2:4]] == [["0", "2", "·"], ["1", "·", "0"]]


def test_a_wrong_tensor_not_carried_still_shows_what_the_upstream_answers_imply(tmp_path):
    # the pool's slip implies a kernel gradient of 1 (true 4); the student wrote 7: not
    # carried, and the report shows the 1 it needed; the JSON names no source (nothing
    # was carried from it)
    answers = '{"maxpool2d_1.delta_in": [[1, 0], [0, 0]], "conv2d_1.grads.kernel": [[7]]}'
    problem, path, result = _graded(tmp_path, POOL_CONV, answers)
    kernel = _tensor(result, "conv2d_1.grads.kernel")
    assert not kernel.carried.any() and float(kernel.implied[0, 0]) == 1.0
    out = invoke("check", problem, path)
    lines = out.output.splitlines()
    at = lines.index("  → not carried forward from your maxpool2d_1.delta_in; the values they "
                     "imply:")
    assert lines[at + 3].split() == ["0", "1"]
    report = json.loads(invoke("check", problem, path, "--format", "json").output)
    tensor = next(t for t in report["files"][0]["tensors"]
                  if t["path"] == "conv2d_1.grads.kernel")
    assert tensor["carried"] == [] and tensor["carried_from"] == []
    assert not any("carried" in note for note in tensor["notes"])


def test_zeros_carried_from_a_zero_delta_earn_their_points_and_are_named(tmp_path):
    # the contract's rule carries zeros from a delta answered as zeros (an all-zero sheet
    # scored 80 % of an exam): the points stand, and the note says where they came from
    answers = ('{"maxpool2d_1.delta_in": [[0, 0], [0, 0]], "conv2d_1.grads.kernel": [[0]], '
               '"conv2d_1.delta_in": [[0, 0], [0, 0]]}')
    problem, path, result = _graded(tmp_path, POOL_CONV, answers)
    kernel = _tensor(result, "conv2d_1.grads.kernel")
    assert kernel.carried.all() and kernel.carried_zeros()
    out = invoke("check", problem, path)
    assert out.exit_code == 1
    assert "carried forward from your maxpool2d_1.delta_in, zeros from its zeros" in out.output
    # a slip that is not zeros keeps the plain note
    answers = ('{"maxpool2d_1.delta_in": [[1, 0], [0, 0]], "conv2d_1.grads.kernel": [[1]]}')
    _, _, result = _graded(tmp_path, POOL_CONV, answers, name="b.json")
    assert not _tensor(result, "conv2d_1.grads.kernel").carried_zeros()


def test_zeros_a_relu_implies_from_a_wrong_sign_are_not_said_to_be_zeros_from_zeros(tmp_path):
    # conv output written −2 for 2: the ReLU's mask makes its delta 0 there, carried; the
    # student wrote no zero upstream, so the note names the output alone
    doc = {"input": [[1, -1]], "layers": [{"type": "conv2d", "kernel": [[2]]}, {"type": "relu"}],
           "delta": [[3, 5]]}
    answers = '{"conv2d_1.output": [[-2, -2]], "relu_1.delta_in": [[0, 0]]}'
    problem, path, result = _graded(tmp_path, doc, answers)
    delta_in = _tensor(result, "relu_1.delta_in")
    assert delta_in.carried.tolist() == [[True, False]] and not delta_in.carried_zeros()
    out = invoke("check", problem, path).output
    assert "carried forward from your conv2d_1.output" in out
    assert "zeros from its zeros" not in out
    # nor the zeros that zero carries one step further down: the kernel's gradient
    doc = {"input": [[1, -1]], "layers": [{"type": "conv2d", "kernel": [[2]]}, {"type": "relu"},
                                          {"type": "conv2d", "kernel": [[1]]}],
           "delta": [[3, 5]]}
    answers = ('{"conv2d_1.output": [[-2, -2]], "relu_1.output": [[0, 0]], '
               '"relu_1.delta_in": [[0, 0]], "conv2d_1.grads.kernel": [[0]]}')
    problem, path, result = _graded(tmp_path, doc, answers, name="b.json")
    kernel = _tensor(result, "conv2d_1.grads.kernel")
    assert kernel.carried.all() and not kernel.carried_zeros()
    assert "zeros from its zeros" not in invoke("check", problem, path).output


@pytest.mark.parametrize("kernel, verdict", [("4", "right"), ("1", "wrong"), ("3", "wrong")])
def test_a_right_upstream_answer_leaves_the_plain_verdict(tmp_path, kernel, verdict):
    answers = f'{{"maxpool2d_1.delta_in": [[0, 0], [0, 1]], "conv2d_1.grads.kernel": [[{kernel}]]}}'
    _, _, result = _graded(tmp_path, POOL_CONV, answers)
    check = _tensor(result, "conv2d_1.grads.kernel")
    assert not check.carried.any() and check.implied is None
    assert ("right" if check.all_right else "wrong") == verdict


@pytest.mark.parametrize("first, carried", [("-0.037948", True), ("-0.038948", False)])
def test_an_upstream_answer_right_to_its_decimals_carries_its_rounding_forward(tmp_path, first,
                                                                                carried):
    # sigmoid_1.delta_in right to 4 decimals; dense_1.delta_in = Wᵀ·(-0.0664, 0.1278) to 6
    # decimals, a little off the true -0.037920 …: carried forward from the student's own values
    answers = write(tmp_path, "a.json", json.dumps({
        "sigmoid_1.delta_in": [-0.0664, 0.1278],
        "dense_1.delta_in": [float(first), -0.118348, -0.03435, 0.088126]}))
    spec = load_problem(str(EXAM))
    grading = parse_grading(spec.grading)
    result = check_file(run(spec), str(answers), resolve_tolerance(grading), grading=grading)
    assert _tensor(result, "sigmoid_1.delta_in").all_right
    delta = _tensor(result, "dense_1.delta_in")
    assert delta.n_right == 0
    assert delta.carried[1:].all() and bool(delta.carried[0]) == carried
    assert delta.carried_from == ("sigmoid_1.delta_in",)
    assert [round(float(v), 6) for v in delta.implied] == [-0.037948, -0.118348, -0.03435,
                                                             0.088126]


KEPT_0664 = ["-0.037948", "-0.118348", "-0.034350", "0.088126"]  # from -0.0664, 0.1278
KEPT_0666 = ["-0.038070", "-0.118512", "-0.034542", "0.088326"]  # from -0.0666, 0.1278


@pytest.mark.parametrize("written, carried_on", [
    (["-0.066", "0.128"], KEPT_0664),  # right at the 3 decimals the exam asks
    (["-0.0664", "0.1278"], KEPT_0664),  # right at 4
    (["-0.067", "0.128"], KEPT_0666),  # -0.067 wrong (true -0.066353)
])
def test_kept_digits_carry_forward_alike_from_a_right_or_wrong_upstream_at_any_decimals(
        tmp_path, written, carried_on):
    # a student keeps 4 decimals of sigmoid_1.delta_in (true -0.066353, 0.127767), writes
    # them rounded and carries the kept values on to six decimals: each upstream cell stands
    # for any value that rounds to it, right or wrong, so no way of writing it earns less
    answers = write(tmp_path, "a.json", json.dumps({
        "sigmoid_1.delta_in": written, "dense_1.delta_in": carried_on}))
    out = invoke("check", EXAM, answers)
    assert "0/4 cells right, 4 carried forward" in out.output, out.output
    entry = json.loads(invoke("check", EXAM, answers, "--format", "json").stdout)
    path = next(p for p in entry["files"][0]["paths"] if p["path"] == "dense_1.delta_in")
    assert path["points"] == path["max_points"] == 2, path


# conv with a 2×2 kernel on a 3×3 input, the delta given: grads.bias = Σ delta_out (true 1)
ROUNDED_UPSTREAM = {"input": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
                    "kernel": [[1, 0], [0, 1]], "bias": 0, "delta": [[0.1, 0.2], [0.3, 0.4]]}


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("delta_out, bias, carried", [
    # four 0.3333 stand for values in [0.33325, 0.33335]: their sum in [1.3330, 1.3334]
    ("0.3333", "1.3333", True),   # a third each, kept unrounded: 4/3 written 1.3333
    ("0.3333", "1.3332", True),   # the four as written
    ("0.3333", "1.3334", True),   # the edge of the range
    ("0.3333", "1.3330", True),   # the other edge
    ("0.3333", "1.3335", False),  # past it
    ("0.3333", "1.3329", False),
    ("0.3333", "1.33", False),    # fewer decimals than required: the value recomputed only
    ("0.33", "1.3200", True),     # a delta short of the decimals stands for itself exactly
    ("0.33", "1.3233", False),
    ("1/3", "1.3334", False),     # so does a fraction: 4/3 is 1.333333…
    ("1/3", "1.333333", True),
])
def test_a_carried_answer_may_come_from_upstream_values_before_their_rounding(
        tmp_path, delta_out, bias, carried, exact):
    # a student who keeps a calculator's digits and rounds only what they write: the upstream
    # cells used stand for any value that rounds to them, so the bias recomputed from them
    # ranges over an interval, and a cell right for a value in it is carried forward
    doc = dict(ROUNDED_UPSTREAM, grading={"carry_forward": True, "min_decimals": 4})
    problem = problem_file(tmp_path, doc)
    answers = write(tmp_path, "a.json", json.dumps({
        "conv2d_1.delta_out": [[delta_out] * 2] * 2, "conv2d_1.grads.bias": bias}))
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    result = check_file(run(spec), str(answers), resolve_tolerance(grading), grading=grading)
    check = _tensor(result, "conv2d_1.grads.bias")
    assert bool(check.carried) == carried
    if carried and delta_out == "0.3333":  # the value shown: recomputed from the answers
        assert float(check.implied) == pytest.approx(1.3332, abs=1e-12)
    out = invoke("check", problem, answers, *(["--exact"] if exact else []))
    assert out.exit_code == 1  # the delta_out is wrong (true 0.1 … 0.4), the bias too
    assert (f"{bias} ↻ 1" in out.output) == carried, out.output


KINKED = {
    # dense_1's first output is 0 (a ReLU kink): relu_1.delta_in there is 0 or δ, never
    # anything between, whatever the rounding of the 0.0000 written
    "relu": ({"input": [[1.0, 2.0]],
              "layers": [{"type": "flatten"},
                         {"type": "dense", "weights": [[0.5, -0.1], [0.3, 0.2]], "bias": [0, 0]},
                         {"type": "relu"}, {"type": "dense", "weights": [[1.5, -2.0]],
                                                     "bias": [0]}],
              "loss": {"type": "mse", "target": [1.0]}},
             {"dense_1.output": ["0.0000", "0.7000"], "relu_1.delta_out": ["-2.9250", "3.9000"]},
             "relu_1.delta_in"),
    # a tie of 0.5000 and 0.5000 in the pool window: δ goes to one of them, not 1.6 and −0.8
    "pool": ({"input": [[0.5, 0.4], [0.1, 0.2]],
              "layers": [{"type": "conv2d", "kernel": [[1.0]]}, {"type": "maxpool2d", "size": 2}],
              "delta": [[0.8]]},
             {"conv2d_1.output": [["0.5000", "0.5000"], ["0.1000", "0.2000"]]},
             "maxpool2d_1.delta_in"),
    # the same tie under the split rule: δ/2 to each, or δ to one of them once they move
    # apart (a move of either way changes the share by ±δ/2: symmetric, yet a jump)
    "split": ({"input": [[0.5, 0.4], [0.1, 0.2]],
               "layers": [{"type": "conv2d", "kernel": [[1.0]]},
                          {"type": "maxpool2d", "size": 2, "ties": "split"}],
               "delta": [[0.8]]},
              {"conv2d_1.output": [["0.5000", "0.5000"], ["0.1000", "0.2000"]]},
              "maxpool2d_1.delta_in"),
}


@pytest.mark.parametrize("kink, answer, carried", [
    ("relu", ["1.2345", "3.9000"], False),    # between 0 and δ: no value of the step
    ("relu", ["2.9250", "3.9000"], False),    # δ with its sign flipped
    ("relu", ["0.0000", "3.9000"], True),     # the rule's 0 at the kink
    ("pool", [["1.6000", "-0.8000"], ["0", "0"]], False),
    ("split", [["0.8000", "0.8000"], ["0", "0"]], False),  # δ to both: the rule 'all'
    ("split", [["0.0000", "0.0000"], ["0", "0"]], False),
    ("split", [["0.4000", "0.4000"], ["0", "0"]], True),   # the split rule at the tie
])
def test_a_kink_upstream_gives_no_range_to_carry_forward_within(tmp_path, kink, answer,
                                                                carried):
    doc, upstream, path = KINKED[kink]
    problem = problem_file(tmp_path, dict(doc, grading={"carry_forward": True}))
    answers = write(tmp_path, "a.json", json.dumps({**upstream, path: answer}))
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    result = check_file(run(spec), str(answers), resolve_tolerance(grading), grading=grading)
    check = _tensor(result, path)
    assert bool(check.carried.reshape(-1)[0]) == carried


@pytest.mark.parametrize("doc, answers, path", [
    # the loss's gradient at the student's output, never answered, in between: dense_1's
    # delta_in from 2.6000 twice (each 2.59995 … 2.60005) is 4.16 ± 0.00016 in its first cell
    ({"input": [[1.0, 2.0]],
      "layers": [{"type": "flatten"},
                 {"type": "dense", "weights": [[0.9, 0.8], [0.7, 0.9]], "bias": [0, 0]}],
      "loss": {"type": "mse", "target": [0.0, 0.0]}},
     {"dense_1.output": ["2.6000", "2.6000"], "dense_1.delta_in": ["4.1601", "4.4201"]},
     "dense_1.delta_in"),
    # an unanswered flatten in between: the kernel gradient Σ δ·x from the delta_in written
    ({"input": [[1.0, 2.0]],
      "layers": [{"type": "conv2d", "kernel": [[1.0]]}, {"type": "flatten"},
                 {"type": "dense", "weights": [[0.5, 0.5]], "bias": [0]}],
      "loss": {"type": "mse", "target": [0.0]}},
     {"dense_1.delta_in": ["0.3000", "0.4000"], "conv2d_1.grads.kernel": [["1.1001"]]},
     "conv2d_1.grads.kernel"),
])
def test_the_range_carries_through_a_tensor_the_student_did_not_answer(tmp_path, doc, answers,
                                                                      path):
    problem = problem_file(tmp_path, dict(doc, grading={"carry_forward": True}))
    written = write(tmp_path, "a.json", json.dumps(answers))
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    result = check_file(run(spec), str(written), resolve_tolerance(grading), grading=grading)
    assert _tensor(result, path).carried.reshape(-1)[0]


def test_each_upstream_cell_moves_through_every_step_so_steps_that_cancel_cancel(tmp_path):
    # dense_2's output is 0.5 whatever flatten_1's is (its two inputs, from one dense layer,
    # cancel): with each unanswered cell's range taken on its own, 0.5019 was carried
    doc = {"input": [0.3, 0.7],
           "layers": [{"type": "flatten"},
                      {"type": "dense", "weights": [[10.0, 10.0], [10.0, 10.0]],
                       "bias": [0, 0]},
                      {"type": "dense", "weights": [[1.0, -1.0]], "bias": [0.5]}],
           "loss": {"type": "mse", "target": [0.0]}, "grading": {"carry_forward": True}}
    problem = problem_file(tmp_path, doc)
    spec = load_problem(str(problem))
    grading = parse_grading(spec.grading)
    for output, carried in (("0.5019", False), ("0.5000", False)):
        answers = write(tmp_path, "a.json", json.dumps({"flatten_1.output": ["0.3000", "0.7000"],
                                                        "dense_2.output": [output]}))
        result = check_file(run(spec), str(answers), resolve_tolerance(grading),
                            grading=grading)
        check = _tensor(result, "dense_2.output")
        assert bool(check.carried[0]) == carried and bool(check.right[0]) == (output == "0.5000")


def test_the_range_is_the_same_in_a_channels_last_problem(tmp_path):
    # a student keeps conv2d_2's delta_out unrounded, writes it to 4 decimals, and writes the
    # bias gradient recomputed from the unrounded one: carried in both layouts (channels
    # last, the delta was a strided view, and every move landed in a copy of it)
    rng = np.random.default_rng(3)
    x = np.round(rng.uniform(-1, 1, (2, 3, 5, 5)), 2)
    w1, w2 = (np.round(rng.uniform(-1, 1, shape), 2) for shape in ((2, 3, 2, 2), (2, 2, 2, 2)))
    target = np.round(rng.uniform(-1, 1, (2, 2, 3, 3)), 2)
    slipped = np.round(rng.uniform(-3, 3, (2, 2, 3, 3)), 7) + 1 / 3  # many digits
    carried = {}
    for layout, to in (("nchw", lambda a: a), ("nhwc", lambda a: a.transpose(0, 2, 3, 1))):
        kernel = (lambda k: k) if layout == "nchw" else (lambda k: k.transpose(2, 3, 1, 0))
        layers = [{"type": "conv2d", "kernel": kernel(w1).tolist(), "bias": [0.5, -0.25]},
                  {"type": "conv2d", "kernel": kernel(w2).tolist()}]
        doc = {"layout": layout, "input": to(x).tolist(), "layers": layers}
        # the student's own bias gradient: the problem run on their unrounded delta
        own = problem_file(tmp_path, dict(doc, delta=to(slipped).tolist()), f"own-{layout}.json")
        bias = run(load_problem(str(own))).layers[0].grads["bias"]
        problem = problem_file(tmp_path, dict(doc, loss={"type": "mse",
                                                        "target": to(target).tolist()},
                                              grading={"carry_forward": True}),
                               f"p-{layout}.json")
        answers = write(tmp_path, f"a-{layout}.json", json.dumps({
            "conv2d_2.delta_out": np.round(to(slipped), 4).tolist(),
            "conv2d_1.grads.bias": [round(float(b), 4) for b in bias]}))
        spec = load_problem(str(problem))
        grading = parse_grading(spec.grading)
        result = check_file(run(spec), str(answers), resolve_tolerance(grading),
                            grading=grading)
        carried[layout] = _tensor(result, "conv2d_1.grads.bias").carried.tolist()
    assert carried["nchw"] == carried["nhwc"] == [True, True]


def test_an_upstream_value_moved_past_the_step_s_domain_counts_as_written(tmp_path):
    # a sigmoid output written 1.0000 stands for values up to 1.00005, past what a bce loss
    # takes: the loss is then judged against the value recomputed as written (0), never an
    # error for the grader
    doc = {"input": [0.5, -1.0],
           "layers": [{"type": "dense", "weights": [[1.5, 0.25]]}, {"type": "sigmoid"}],
           "loss": {"type": "bce", "target": [1]}, "grading": {"carry_forward": True}}
    problem = problem_file(tmp_path, doc)
    for loss, carried in (("0.0000", True), ("0.0001", False)):
        answers = write(tmp_path, "a.json", json.dumps({"sigmoid_1.output": ["1.0000"],
                                                        "loss": loss}))
        result = invoke("check", problem, answers)
        assert result.exit_code == 1, result.output
        assert (f"{loss} ↻ 0.474077" in result.output) == carried, result.output


def test_a_layer_s_moves_are_made_once_for_its_delta_in_and_gradients(tmp_path, monkeypatch):
    # the bias gradient, the kernel gradient and the input delta of one conv, each off by a
    # rounding: one set of moves through the conv's step serves all three (per reading of
    # the answers that needs it)
    import cnngrad.teach.carry_forward as carry

    calls = []
    real = carry._step_moves

    def counted(evaluate, args, moves):
        result = real(evaluate, args, moves)
        calls.append(None if result is None else sorted(result[0]))
        return result

    monkeypatch.setattr(carry, "_step_moves", counted)
    doc = dict(ROUNDED_UPSTREAM, grading={"carry_forward": True, "min_decimals": 4})
    problem = problem_file(tmp_path, doc)
    spec = load_problem(str(problem))
    trace = run(spec)
    third = [["0.3333", "0.3333"], ["0.3333", "0.3333"]]
    own = dict(ROUNDED_UPSTREAM, delta=[[1 / 3] * 2] * 2)  # what a third kept unrounded gives
    own_trace = run(load_problem(str(problem_file(tmp_path, own, "own.json"))))
    kept = own_trace.layers[0]
    answers = write(tmp_path, "a.json", json.dumps({
        "conv2d_1.delta_out": third, "conv2d_1.grads.bias": f"{float(kept.grads['bias']):.4f}",
        "conv2d_1.grads.kernel": [[f"{v:.4f}" for v in row] for row in kept.grads["kernel"]],
        "conv2d_1.delta_in": [[f"{v:.4f}" for v in row]
                              for row in own_trace.shown(kept.delta_in)]}))
    grading = parse_grading(spec.grading)
    result = check_file(trace, str(answers), resolve_tolerance(grading), grading=grading)
    for path in ("conv2d_1.grads.bias", "conv2d_1.grads.kernel", "conv2d_1.delta_in"):
        check = _tensor(result, path)
        assert (check.carried | check.right).all(), path
    assert calls == [["delta_in", "grads.bias", "grads.kernel"]]


def test_the_spread_of_a_step_sums_each_rounding_s_effect():
    from fractions import Fraction

    from cnngrad.teach.carry_forward import SPREAD_MAX_WORK, SPREAD_MAX_WORK_EXACT, spread

    # y = [a − 2b, 3b]: a cell within ½·10⁻² and one within ½·10⁻¹ move y by up to
    # 0.005 + 2·0.05 and 3·0.05
    def evaluate(args):
        a, b = args
        return np.array([a[0] - 2 * b[0], 3 * b[0]])

    args = [np.array([0.25]), np.array([0.5])]
    got = spread(evaluate, args, [np.array([0.005]), np.array([0.05])])
    assert got == pytest.approx([0.005 + 2 * 0.05, 3 * 0.05])
    # a cell of width 0 (exact) does not move; exact arguments are moved in floats (a bound
    # needs no exact digits) and the spread comes back as fractions
    assert spread(evaluate, args, [np.zeros(1), np.zeros(1)]).tolist() == [0, 0]
    exact = [np.array([Fraction(1, 4)], dtype=object), np.array([Fraction(1, 2)], dtype=object)]
    widths = [np.array([Fraction(1, 200)], dtype=object),
              np.array([Fraction(1, 20)], dtype=object)]
    got = spread(evaluate, exact, widths)
    assert all(isinstance(v, Fraction) for v in got)
    assert [float(v) for v in got] == pytest.approx([0.005 + 0.1, 0.15], rel=1e-12)
    # past the work allowed (moved cells × values read) it is not bounded: the values as
    # written only (less work in fractions)
    for cap, dtype in ((SPREAD_MAX_WORK, np.float64), (SPREAD_MAX_WORK_EXACT, object)):
        size = int(cap**0.5) + 1  # size cells moved, size values read
        many = [np.zeros(size, dtype=dtype)]
        assert spread(lambda a: a[0].sum(keepdims=True), many, [np.full(size, 0.5)]) is None


def test_moves_past_the_work_allowed_are_never_made():
    # the work bound is decided on the cells to move before any moved copy is made: three
    # copies of the whole tensor a cell were made first, 1.6 GB for an answered 8×32×32
    # delta, and then turned away
    import tracemalloc

    from cnngrad.teach.carry_forward import SPREAD_MAX_WORK, spread

    size = int(SPREAD_MAX_WORK**0.5) + 1  # 2,049 cells moved: 100 MB of copies
    many = [np.zeros(size)]
    tracemalloc.start()
    try:
        assert spread(lambda a: a[0].sum(keepdims=True), many, [np.full(size, 0.5)]) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**21, peak


def _cell_moves_naive(base, cells, upstream, filled, convert):
    """The moves made up front, as carry forward made them before they were made lazily:
    each cell moved up, down and half way up; then each upstream key's cells not filled
    here taken from upstream; then every array converted."""
    moved = {}
    for key, k, width in cells:
        triple = []
        for move in (width, -width, width / 2):
            array = np.array(base, copy=True, order="C")
            array.reshape(-1)[k] = array.reshape(-1)[k] + move
            triple.append(array)
        moved[key] = triple
    for key, triple in (upstream or {}).items():
        combined = []
        for j, from_upstream in enumerate(triple):
            array = np.array(moved[key][j] if key in moved else base, copy=True)
            array[~filled] = from_upstream[~filled]
            combined.append(array)
        moved[key] = combined
    return {key: [convert(a) if convert else a for a in triple] for key, triple in
            moved.items()}


@settings(max_examples=80, deadline=None)
@given(shape=st.sampled_from([(), (3,), (2, 3), (2, 2, 3)]), seed=st.integers(0, 2**16),
       exact=st.booleans(), transposed=st.booleans())
def test_lazy_cell_moves_are_the_moves_made_up_front(shape, seed, exact, transposed):
    from cnngrad.teach.carry_forward import _CellMoves

    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    base = np.round(rng.standard_normal(shape), 3)
    if exact:
        base = np.array([float(v) for v in base.reshape(-1)], dtype=object).reshape(shape)
    cells = [(("own", int(k)), int(k), float(rng.choice([5e-4, 5e-3])))
             for k in rng.choice(size, size=rng.integers(0, size + 1), replace=False)]
    filled = rng.random(shape) < 0.5
    keys = [("up", 0), ("up", 1)] + [key for key, _, _ in cells[:1]]  # one key in both
    upstream = {key: [np.round(rng.standard_normal(shape), 3) for _ in range(3)]
                for key in keys} if rng.random() < 0.8 else None
    convert = (lambda a: np.ascontiguousarray(np.transpose(a))) if transposed else None
    lazy = _CellMoves(base, cells, upstream, filled, convert)
    naive = _cell_moves_naive(base, cells, upstream, filled, convert)
    assert list(lazy) == list(naive) and len(lazy) == len(naive)
    for key in naive:
        assert key in lazy
        for got, want in zip(lazy[key], naive[key]):
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want)
    assert ("absent", 0) not in lazy


def test_carry_forward_past_the_work_allowed_makes_no_moves(tmp_path):
    # a 4×32×32 conv delta_out written to 4 decimals (4,096 cells, each standing for the
    # values that round to it) and a kernel gradient worked from the unrounded values: the
    # moves, past the work allowed, took 400 MB (three copies of the delta a cell) before
    # the bound turned them away; now none is made, and the cells count as written
    import tracemalloc

    rng = np.random.default_rng(5)
    kernel = np.round(rng.standard_normal((4, 3, 3, 3)), 2)
    x = np.round(rng.standard_normal((3, 32, 32)), 2)
    delta = np.round(rng.standard_normal((4, 32, 32)), 6)
    doc = {"input": x.tolist(), "layers": [{"type": "conv2d", "kernel": kernel.tolist(),
                                            "padding": 1}], "delta": delta.tolist()}
    slip = delta.copy()
    slip[0, 0, 0] += 1  # a slip in the delta the student carries on, unrounded
    spec = load_problem(str(problem_file(tmp_path, dict(doc, delta=slip.tolist()))))
    worked = np.asarray(run(spec).layers[0].grads["kernel"], dtype=float)

    def four_decimals(array):  # "-7.1390", not -7.139: the decimals written count
        return np.vectorize(lambda v: f"{v:.4f}", otypes=[object])(array).tolist()

    answers = json.dumps({"conv2d_1.delta_out": four_decimals(slip),
                          "conv2d_1.grads.kernel": four_decimals(worked)})
    tracemalloc.start()
    try:
        _, _, result = _graded(tmp_path, doc, answers)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    kernel_check = _tensor(result, "conv2d_1.grads.kernel")
    # the 12 cells the slip meets, judged against the delta as written (no range): off by
    # the delta's rounding, summed over a 32×32 map, so few are carried (with the range,
    # every one of them would be)
    assert kernel_check.n_right == 4 * 27 - 12 and kernel_check.n_carried < 12 / 2
    assert peak < 64 * 2**20, peak / 2**20


def test_a_move_across_a_kink_does_not_widen_the_spread():
    from cnngrad.teach.carry_forward import spread

    # relu's derivative at an input of 0: moving the input by ±h gives δ or 0, not a range
    # around 0, so that cell counts as written; the smooth one beside it still counts
    def relu_delta(args):
        x, delta = args
        return np.where(x > 0, delta, 0.0)

    args = [np.array([0.0, 0.5]), np.array([2.0, 3.0])]
    got = spread(relu_delta, args, [np.array([5e-5, 5e-5]), np.array([5e-5, 5e-5])])
    assert got == pytest.approx([0.0, 5e-5])


def test_carry_forward_is_off_unless_asked(tmp_path):
    answers = '{"maxpool2d_1.delta_in": [[1, 0], [0, 0]], "conv2d_1.grads.kernel": [[1]]}'
    problem, path, result = _graded(tmp_path, POOL_CONV, answers, carry=False)
    assert not _tensor(result, "conv2d_1.grads.kernel").carried.any()
    assert "↻" in invoke("check", problem, path, "--carry-forward").output
    problem_on = problem_file(tmp_path, dict(POOL_CONV, grading={"carry_forward": True}),
                              name="on.json")
    assert "↻" not in invoke("check", problem_on, path, "--no-carry-forward").output


def test_a_slip_in_the_dense_output_carries_through_the_sigmoid_and_the_loss(tmp_path):
    # dense output written 2 (true 3): σ(2) = 0.880797 and ½(1 − 0.8808)² = 0.0071 follow
    answers = '{"dense_1.output": [2], "sigmoid_1.output": [0.8808], "loss": 0.0071}'
    _, _, result = _graded(tmp_path, DENSE_SIGMOID, answers)
    sigmoid, loss = _tensor(result, "sigmoid_1.output"), _tensor(result, "loss")
    assert sigmoid.carried.all() and round(float(sigmoid.implied[0]), 6) == 0.880797
    assert round(float(sigmoid.truth[0]), 6) == 0.952574
    assert loss.carried.all() and loss.carried_from == ("sigmoid_1.output",)
    assert round(float(loss.implied), 6) == 0.007104


def test_a_slip_in_the_sigmoid_delta_carries_into_the_dense_gradients(tmp_path):
    # true sigmoid_1.delta_in = (σ(3) − 1)·σ(3)(1 − σ(3)) = -0.002143; written -0.0100
    answers = ('{"sigmoid_1.delta_in": [-0.0100], "dense_1.grads.weights": [[-0.0100, -0.0200]], '
               '"dense_1.delta_in": [-0.0100, -0.0100]}')
    _, _, result = _graded(tmp_path, DENSE_SIGMOID, answers)
    assert not _tensor(result, "sigmoid_1.delta_in").all_right
    weights = _tensor(result, "dense_1.grads.weights")
    assert weights.carried.all() and weights.implied.tolist() == [[-0.01, -0.02]]
    assert [round(float(v), 6) for v in weights.truth[0]] == [-0.002143, -0.004285]
    assert _tensor(result, "dense_1.delta_in").carried.all()


@pytest.mark.parametrize("answers", ["{}", '{"loss": null}'])
def test_an_empty_answers_file_scores_0_with_every_required_path_missing(tmp_path, answers):
    result = invoke("check", EXAM, write(tmp_path, "empty.json", answers), "--format", "csv")
    assert result.exit_code == 1, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    assert (row["student"], row["points"], row["percent"]) == ("empty", "0", "0.00")
    assert row["missing"].split() == [
        "loss", "sigmoid_1.delta_in", "dense_1.grads.weights", "dense_1.grads.bias",
        "dense_1.delta_in", "maxpool2d_1.delta_in", "conv2d_1.grads.kernel",
        "conv2d_1.grads.bias"]


def test_json_scores_and_points_keep_full_precision(tmp_path):
    # one point a cell on three cells, one right: 1/3 of the points, not 0.3333
    cells = ["conv2d_1.grads.kernel[0,0]", "conv2d_1.grads.kernel[0,1]",
             "conv2d_1.grads.kernel[1,0]"]
    problem = problem_file(tmp_path, with_grading({"points": {cells[0]: 1, cells[1]: 1,
                                                              cells[2]: 1}}))
    answers = write(tmp_path, "a.json", json.dumps({cells[0]: 0.0446, cells[1]: 0.5}))
    graded = json.loads(invoke("check", problem, answers, "--format", "json").stdout)["files"][0]
    assert (graded["score"], graded["points"], graded["max_points"]) == (1 / 3, 1, 3)
    shared = problem_file(tmp_path, with_grading({"points": {"conv2d_1.grads.kernel": 2}}),
                          name="thirds.json")
    answers = write(tmp_path, "b.json", json.dumps({"conv2d_1.grads.kernel[0,0]": 0.0446}))
    graded = json.loads(invoke("check", shared, answers, "-f", "json").stdout)["files"][0]
    assert graded["points"] == 0.5 and graded["score"] == 0.25
    book = invoke("check", problem, answers, tmp_path / "a.json", "--format", "csv").stdout
    assert ",0.3333," in book  # the gradebook's cells stay short


def test_the_sample_exam_grades_as_documented():
    result = invoke("check", EXAM, *sorted((SAMPLES / "exam").glob("*.json")), "--format", "csv")
    assert result.exit_code == 1
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert {name: (r["points"], r["percent"]) for name, r in rows.items()} == {
        "ana": ("6", "30.00"), "ben": ("18", "90.00"), "cleo": ("9", "45.00")}
    assert "right to the 2 decimals written; 3 are required" in rows["ana"]["diagnoses"]
    # her steps exact from her own rounded answers: carried forward, her roundings not
    assert rows["ana"]["carried_forward"].split() == [
        "dense_1.grads.bias", "maxpool2d_1.delta_in", "conv2d_1.grads.bias"]
    assert rows["ben"]["wrong_paths"] == "sigmoid_1.delta_in"
    assert rows["ben"]["carried_forward"].split() == [
        "dense_1.grads.weights", "dense_1.grads.bias", "dense_1.delta_in",
        "maxpool2d_1.delta_in", "conv2d_1.grads.kernel", "conv2d_1.grads.bias"]
    assert rows["cleo"]["missing"].split() == ["dense_1.delta_in", "maxpool2d_1.delta_in",
                                               "conv2d_1.grads.kernel", "conv2d_1.grads.bias"]
    two = invoke("check", EXAM, SAMPLES / "exam" / "ana.json", "--min-decimals", "2")
    assert two.exit_code == 0 and "20/20 points (100.0%)" in two.output


# --------------------------------------------------------------------------- one-based


def test_one_based_element_paths(tmp_path):
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel[1,1]": 0.0446, '
                                        '"conv2d_1.grads.kernel[2,2]": 0.0683}')
    result = invoke("check", WORKED, answers, "--one-based")
    assert result.exit_code == 0, result.output
    assert "2/2 cells right" in result.output
    header = next(line for line in result.output.splitlines() if line.strip().startswith("1"))
    assert header.split() == ["1", "2"]  # columns shown from 1
    zero_based = invoke("check", WORKED, answers)
    assert zero_based.exit_code == 2 and "index [2, 2] is outside" in zero_based.output


def test_one_based_rejects_index_zero(tmp_path):
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel[0,1]": 0.0446}')
    result = invoke("check", WORKED, answers, "--one-based")
    assert result.exit_code == 2
    assert "index 0 in '[0,1]'" in result.output and "count from 1" in result.output


def test_one_based_index_zero_says_to_drop_one_based(tmp_path):
    # a template written by backward --format csv without --one-based, checked with it: the
    # hint names the way out, as explain's does for its PATH
    multichannel = SAMPLES / "multichannel.json"
    template = tmp_path / "t.csv"  # '# conv.output[0]', ...
    assert invoke("backward", multichannel, "-o", template).exit_code == 0
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel[0,1]": 0.0941}')
    for problem, answers, index in ((WORKED, answers, "[0,1]"),
                                    (multichannel, template, "[0]")):
        result = invoke("check", problem, answers, "--one-based")
        assert result.exit_code == 2
        lines = result.output.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert f"index 0 in '{index}' is out of range; hint: counting from 0? drop " \
               "--one-based" in lines[0]


def test_csv_grids_as_backward_writes_them_read_from_1(tmp_path):
    doc = {"input": [[[1, 2], [3, 4]], [[0, 1], [1, 0]]], "kernel": [[[1]], [[2]]],
           "delta": [[[1, 0], [0, 1]]]}
    problem = problem_file(tmp_path, doc)
    # kernel gradient: channel 0 Σ δ·x = 1 + 4 = 5, channel 1: 0 + 0 = 0
    answers = write(tmp_path, "answers.csv", "# conv2d_1.grads.kernel[1]\n5\n\n"
                                              "# conv2d_1.grads.kernel[2]\n0\n")
    result = invoke("check", problem, answers, "--one-based")
    assert result.exit_code == 0, result.output
    assert "2/2 cells right" in result.output
    sheet = read_answers(str(answers), one_based=True)
    assert [(e.path, e.index) for e in sheet.entries] == [("conv2d_1.grads.kernel", (0,)),
                                                          ("conv2d_1.grads.kernel", (1,))]


def test_backward_csv_output_is_an_answers_file(tmp_path):
    blocks = invoke("backward", SAMPLES / "multichannel.json", "--format", "csv").stdout
    answers = write(tmp_path, "answers.csv", blocks)
    result = invoke("check", SAMPLES / "multichannel.json", answers)
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- gradebook


@pytest.mark.parametrize("files, names", [
    (["a/alice.json", "b/bob.json"], ["alice", "bob"]),
    (["alice/answers.json", "bob/answers.json"], ["alice", "bob"]),
    (["alice/answers.json", "bob/answers.json", "carol.json"], ["alice", "bob", "carol"]),
    (["x/alice/answers.json", "y/alice/answers.json"], ["x/alice/answers", "y/alice/answers"]),
    (["-"], ["stdin"]),
    # a lone template name names no student: its folder does (it was "answers")
    (["subs/ana.json", "subs/cleo/answers.json"], ["ana", "cleo"]),
    (["handin/ben/answers-template.json"], ["ben"]),
    (["answers.json"], ["answers"]),
    # the rename would name two alike: those two by as much of their paths as tells them
    # apart, the others as before
    (["subs/ana.json", "subs/ana/answers.json", "subs/cleo/answers.json"],
     ["subs/ana", "ana/answers", "cleo"]),
    # a template in gus's folder beside another folder's gus.json: neither is named after the
    # other ("answers" and "gus" before, the right answers under the other file's name)
    (["class7/gus/answers.json", "class7/sec1/gus.json", "class7/sec2/ana.json"],
     ["gus/answers", "sec1/gus", "ana"]),
    (["class3/gus/answers.json", "class3/sec1/ana.json", "class3/sec2/ana.json"],
     ["gus", "sec1", "sec2"]),  # was "answers", "sec1", "sec2"
    (["a/ana.json", "b/ana.json", "ana/answers.json"], ["a", "b", "ana"]),  # was "answers"
    (["alice/hw3.json", "bob/hw3.json"], ["alice", "bob"]),
    # ana.json beside her folder of one file per path: the class folder names no one (it
    # was "class4")
    (["class4/ana.json", "class4/ana/ana.csv"], ["class4/ana", "ana/ana"]),
    (["ana.json", "ana.csv"], ["ana.json", "ana.csv"]),  # nothing else tells them apart
    (["ana.json", "-", "stdin.json"], ["ana", "stdin", "stdin.json"]),
    # the tails of one clash were those of another: every clashing file told apart at once
    (["ana.json", "ben/ana.json", "ben/ben/ana.json", "sec1/ben.json"],
     ["ana", "ben/ana", "ben/ben/ana", "sec1/ben"]),
])
def test_student_names(files, names):
    assert student_names(files) == names
    assert len(set(names)) == len(names)


def test_a_class_folder_names_no_one_when_a_students_folder_comes_as_an_absolute_path():
    # check hands a folder of one file per path over as an absolute path: class4 was named
    import os

    assert student_names(["class4/ana.json", os.path.abspath("class4/ana/ana.csv")]) == [
        "class4/ana", "ana/ana"]


def test_a_gradebook_keyed_by_student_with_an_error_row(tmp_path):
    problem = problem_file(tmp_path, with_grading({"points": {"conv2d_1.grads.kernel": 4}}))
    write(tmp_path, "alice/answers.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    write(tmp_path, "bob/answers.json",
          '{"conv2d_1.grads.kernel": [[0.0446, 0.0113], [0.0941, 0.0683]]}')
    write(tmp_path, "carol/answers.json", '{"conv2d_1.grads.kernel": [[1, 2]],}')
    files = sorted(tmp_path.glob("*/answers.json"))
    result = invoke("check", problem, *files, "--format", "csv")
    assert result.exit_code == 2  # carol's file could not be read; the others are graded
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["student"], r["status"], r["conv2d_1.grads.kernel"], r["points"],
             r["percent"]) for r in rows] == [("alice", "right", "4", "4", "100.00"),
                                              ("bob", "wrong", "2", "2", "50.00"),
                                              ("carol", "error", "", "", "")]
    assert "matches the transpose" in rows[1]["diagnoses"]
    assert "line 1" in rows[2]["error"]

    table = invoke("check", problem, *files)
    assert "student" in table.output and "4/4" in table.output and "2/4" in table.output

    doc = json.loads(invoke("check", problem, *files, "--format", "json").stdout)
    assert [f["student"] for f in doc["files"]] == ["alice", "bob", "carol"]
    assert doc["points"] == {"conv2d_1.grads.kernel": 4}
    bob = doc["files"][1]
    assert (bob["points"], bob["max_points"], bob["percent"]) == (2, 4, 50.0)
    assert bob["paths"] == [{"path": "conv2d_1.grads.kernel", "points": 2, "max_points": 4,
                             "status": "wrong", "missing_cells": 0}]


def test_the_problem_file_among_the_answers_is_skipped_with_a_note(tmp_path):
    problem = problem_file(tmp_path, with_grading({"min_decimals": 4}), name="hw.json")
    write(tmp_path, "ana.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, *sorted(tmp_path.glob("*.json")))
    assert result.exit_code == 0, result.output
    assert "skipped: it is the problem file" in result.output
    assert "1 files: 1 all right" in result.output or "total: 4/4 cells right" in result.output


@pytest.mark.parametrize("output_format", ["table", "csv", "json"])
def test_the_skip_note_stays_when_another_answers_file_cannot_be_graded(tmp_path,
                                                                        output_format):
    """The sheet is written and the run ends with exit code 2 (one file unreadable): the
    note about the skipped problem file is said beside the file's error, not dropped."""
    problem = problem_file(tmp_path, with_grading({"min_decimals": 4}), name="hw.json")
    write(tmp_path, "ana.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    write(tmp_path, "gus.json", '{"conv2d_1.grads.kernel": [[1, 2], [3, 4]],}')
    result = invoke("check", problem, *sorted(tmp_path.glob("*.json")), "-f", output_format,
                    "-o", tmp_path / "sheet.txt")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert any(line.startswith(f"error: {tmp_path / 'gus.json'}") for line in lines)
    assert f"note: {tmp_path / 'hw.json'}: skipped: it is the problem file, not an answers " \
           "file" in lines
    assert "ana" in (tmp_path / "sheet.txt").read_text(encoding="utf-8")


def test_a_bad_problem_is_still_one_line(tmp_path):
    """Notes are said only once the report is written: a problem that cannot be read is its
    one error line, whatever was noted before."""
    problem = write(tmp_path, "hw.json", '{"input": [[1, 2], [3, 4]], "layers": [}')
    write(tmp_path, "ana.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, *sorted(tmp_path.glob("*.json")))
    assert result.exit_code == 2
    assert len(result.output.splitlines()) <= 2  # the error and its hint
    assert "skipped" not in result.output


# --------------------------------------------------------------------------- Gradescope

#: Gradescope's autograder results.json, as its specification documents it (the fields
#: cnngrad writes; Gradescope accepts more).
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "tests"],
    "properties": {
        "score": {"type": "number", "minimum": 0},
        "max_score": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "visibility": {"enum": ["hidden", "after_due_date", "after_published", "visible"]},
        "stdout_visibility": {"enum": ["hidden", "after_due_date", "after_published",
                                       "visible"]},
        **dict.fromkeys(("output_format", "test_output_format", "test_name_format"),
                        {"enum": ["text", "html", "simple_format", "md", "ansi"]}),
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "score", "max_score", "output", "visibility"],
            "properties": {
                "name": {"type": "string"},
                "number": {"type": "string"},
                "score": {"type": "number", "minimum": 0},
                "max_score": {"type": "number", "minimum": 0},
                "status": {"enum": ["passed", "failed"]},
                "output": {"type": "string"},
                "visibility": {"enum": ["hidden", "after_due_date", "after_published",
                                        "visible"]},
            },
            "additionalProperties": False,
        }},
    },
    "additionalProperties": False,
}


def test_gradescope_results_follow_the_documented_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "results.json"
    result = invoke("check", EXAM, SAMPLES / "exam" / "ben.json", "--format", "gradescope",
                    "-o", out)
    assert result.exit_code == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(doc, GRADESCOPE_SCHEMA)
    assert (doc["score"], doc["max_score"]) == (18, 20)
    assert [t["name"] for t in doc["tests"]] == list(
        json.loads(EXAM.read_text())["grading"]["points"])
    sigmoid = doc["tests"][1]
    assert (sigmoid["score"], sigmoid["max_score"], sigmoid["status"]) == (0, 2, "failed")
    assert "matches the sigmoid/tanh derivative taken at the input" in sigmoid["output"]
    assert "carried forward from your sigmoid_1.delta_in" in doc["tests"][2]["output"]
    assert sum(t["score"] for t in doc["tests"]) == doc["score"]
    # plain text everywhere: the top level's default would read its output as HTML
    assert (doc["output_format"], doc["test_output_format"], doc["test_name_format"]) == (
        "text", "text", "text")


def test_gradescope_tests_of_a_tensor_and_its_cell_say_their_own_points(tmp_path):
    """points on a whole kernel and on one of its cells: two tests of one tensor report.
    Each test's output starts with its own points (the tensor report's header sums both);
    a test alone on its tensor keeps the report as it is."""
    problem = problem_file(tmp_path, with_grading({"min_decimals": 4, "points": {
        "conv2d_1.grads.kernel": 4, "conv2d_1.grads.kernel[0,1]": 1,
        "conv2d_1.delta_in[0]": 2}}))
    # kernel [1,0] wrong, [0,1] not answered; delta_in row 0 right
    answers = write(tmp_path, "ana.json", json.dumps({
        "conv2d_1.grads.kernel[0,0]": 0.0446, "conv2d_1.grads.kernel[1,0]": 0.5,
        "conv2d_1.grads.kernel[1,1]": 0.0683,
        "conv2d_1.delta_in[0]": [0, 0, -0.0089, 0.0103, 0]}))
    doc = json.loads(invoke("check", problem, answers, "-f", "gradescope").stdout)
    tests = {t["name"]: t for t in doc["tests"]}
    kernel, cell, row = (tests[k] for k in ("conv2d_1.grads.kernel",
                                             "conv2d_1.grads.kernel[0,1]",
                                             "conv2d_1.delta_in[0]"))
    assert (kernel["score"], cell["score"], row["score"]) == (2, 0, 2)
    both = ("the report below is the whole tensor's, which 2 tests grade "
            "(conv2d_1.grads.kernel, conv2d_1.grads.kernel[0,1]):")
    assert kernel["output"].splitlines()[:2] == [
        "this test: conv2d_1.grads.kernel, 2/4 points (1 of its 4 cells not answered)", both]
    assert cell["output"].splitlines()[:2] == [
        "this test: conv2d_1.grads.kernel[0,1], 0/1 points (not answered)", both]
    assert row["output"].splitlines()[:2] == [
        "this test: conv2d_1.delta_in[0], 2/2 points",
        "the report below is the whole tensor's:"]
    assert kernel["output"].splitlines()[2].startswith("conv2d_1.grads.kernel  (2×2)")
    alone = json.loads(invoke("check", EXAM, SAMPLES / "exam" / "ben.json", "-f",
                              "gradescope").stdout)["tests"]
    assert not any(t["output"].startswith("this test") for t in alone)


@pytest.mark.parametrize("off, status", [(1, "failed"), (0, "passed")])
def test_gradescope_shows_an_answer_outside_the_points_as_a_test_of_none(tmp_path, off,
                                                                         status):
    """The points are on the kernel alone; a wrong output outside them makes the run wrong
    (exit 1) without a test to show why, unless it is a test of no points."""
    jsonschema = pytest.importorskip("jsonschema")
    problem = problem_file(tmp_path, with_grading({"points": {"conv2d_1.grads.kernel": 2}}))
    truth = json.loads(invoke("backward", problem, "-f", "json").stdout)
    layer = truth["layers"][0]
    layer["output"][0][0] += off
    answers = write(tmp_path, "a.json", json.dumps({
        "conv2d_1.grads.kernel": layer["grads"]["kernel"], "conv2d_1.output": layer["output"]}))
    result = invoke("check", problem, answers, "-f", "gradescope")
    assert result.exit_code == (1 if status == "failed" else 0)
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, GRADESCOPE_SCHEMA)
    assert (doc["score"], doc["max_score"]) == (2, 2)
    extra = doc["tests"][1]
    assert (extra["name"], extra["score"], extra["max_score"], extra["status"]) == (
        "conv2d_1.output (no points)", 0, 0, status)
    assert extra["output"].startswith(
        "conv2d_1.output  (4×4)  · no points (not in the grading block)")


def test_gradescope_fails_a_no_points_test_whose_cell_is_carried(tmp_path):
    """A carried cell earns its points but still makes the file wrong: outside the points,
    its test of no points is failed, so a full score's failed run shows why."""
    problem = problem_file(tmp_path, {"input": [[1]], "kernel": [[50]], "delta": [[0.12404]],
                                      "grading": {"min_decimals": 4, "carry_forward": True,
                                                  "points": {"conv2d_1.delta_out": 1}}})
    answers = write(tmp_path, "a.json", '{"conv2d_1.delta_out": [["0.1240"]], '
                                        '"conv2d_1.delta_in": [["6.2"]]}')
    result = invoke("check", problem, answers, "-f", "gradescope")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["score"], doc["max_score"]) == (1, 1)
    extra = doc["tests"][1]
    assert (extra["name"], extra["status"]) == ("conv2d_1.delta_in (no points)", "failed")
    assert "carried forward from your conv2d_1.delta_out" in extra["output"]


def test_gradescope_totals_are_the_exact_sums_the_json_report_gives(tmp_path):
    """Points 1/3, 2/3 and 1e-9: the totals are summed exactly, then written as floats, as
    check's JSON writes them (summing the tests' floats gave 1.0000000009999999)."""
    problem = problem_file(tmp_path, with_grading({"points": {
        "conv2d_1.grads.kernel": "1/3", "conv2d_1.delta_in": "2/3",
        "conv2d_1.output[0,0]": 1e-9}}))
    answers = write(tmp_path, "a.json", '{"conv2d_1.output[0,0]": 5, '
                                        '"conv2d_1.grads.kernel": [[0.0446, 0.0941], '
                                        '[0.0113, 0.0683]]}')
    doc = json.loads(invoke("check", problem, answers, "-f", "gradescope").stdout)
    assert [(t["score"], t["max_score"]) for t in doc["tests"]] == [
        (1 / 3, 1 / 3), (0, 2 / 3), (0, 1e-9)]
    assert (doc["score"], doc["max_score"]) == (1 / 3, 1.000000001)
    (entry,) = json.loads(invoke("check", problem, answers, "-f", "json").stdout)["files"]
    assert (entry["points"], entry["max_points"]) == (doc["score"], doc["max_score"])
    broken = write(tmp_path, "b.json", "{")
    doc = json.loads(invoke("check", problem, broken, "-f", "gradescope").stdout)
    assert (doc["score"], doc["max_score"]) == (0, 1.000000001)


def test_gradescope_without_points_and_with_an_unreadable_file(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel": [[0.0446, 0.0941], '
                                        '[0.0113, 0.0600]]}')
    doc = json.loads(invoke("check", WORKED, answers, "-f", "gradescope").stdout)
    jsonschema.validate(doc, GRADESCOPE_SCHEMA)
    assert (doc["score"], doc["max_score"]) == (3, 4)
    broken = write(tmp_path, "b.json", "{")
    result = invoke("check", EXAM, broken, "-f", "gradescope")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, GRADESCOPE_SCHEMA)
    assert (doc["score"], doc["max_score"]) == (0, 20)
    assert all(t["output"].startswith("could not grade") for t in doc["tests"])
    # the file is named once, then where in it and what
    assert doc["output"] == (f"could not grade {broken}: line 1, column 2: the document ends "
                             f"too early, expecting property name enclosed in double quotes "
                             f"(truncated?)")


def test_one_based_shows_the_points_paths_from_1_in_every_format(tmp_path):
    """The grading block's paths count from 0 (it is the problem file's); a --one-based run
    shows them from 1 as it does every other index: Gradescope's test names and outputs,
    JSON's points, paths and missing, the CSV columns and missing, the table's lines."""
    problem = problem_file(tmp_path, with_grading({"min_decimals": 4, "points": {
        "conv2d_1.grads.kernel[0,1]": 1, "conv2d_1.grads.kernel[1][1]": 1,
        "conv2d_1.delta_in[0,2]": 1, "conv2d_1.output": 1}}))
    answers = write(tmp_path, "ana.json", '{"conv2d_1.grads.kernel[1,2]": 0.0941, '
                                          '"conv2d_1.grads.kernel[2,2]": 0.0683}')
    result = invoke("check", problem, answers, "--one-based", "-f", "gradescope")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert [t["name"] for t in doc["tests"]] == [
        "conv2d_1.grads.kernel[1,2]", "conv2d_1.grads.kernel[2][2]", "conv2d_1.delta_in[1,3]",
        "conv2d_1.output"]
    assert doc["tests"][0]["output"].splitlines()[:2] == [
        "this test: conv2d_1.grads.kernel[1,2], 1/1 points",
        "the report below is the whole tensor's, which 2 tests grade "
        "(conv2d_1.grads.kernel[1,2], conv2d_1.grads.kernel[2][2]):"]
    assert doc["output"].endswith("missing: conv2d_1.delta_in[1,3], conv2d_1.output")
    # the same problem counted from 0 keeps the block's paths as written
    zero = write(tmp_path, "zero.json", '{"conv2d_1.grads.kernel[0,1]": 0.0941}')
    names = [t["name"] for t in json.loads(
        invoke("check", problem, zero, "-f", "gradescope").stdout)["tests"]]
    assert names[:3] == ["conv2d_1.grads.kernel[0,1]", "conv2d_1.grads.kernel[1][1]",
                         "conv2d_1.delta_in[0,2]"]

    shown = ["conv2d_1.grads.kernel[1,2]", "conv2d_1.grads.kernel[2][2]",
             "conv2d_1.delta_in[1,3]", "conv2d_1.output"]
    doc = json.loads(invoke("check", problem, answers, "--one-based", "-f", "json").stdout)
    (entry,) = doc["files"]
    assert list(doc["points"]) == shown
    assert [p["path"] for p in entry["paths"]] == shown
    assert entry["missing"] == ["conv2d_1.delta_in[1,3]", "conv2d_1.output"]
    out = invoke("check", problem, answers, "--one-based", "-f", "csv").stdout
    (row,) = csv.DictReader(io.StringIO(out))
    assert [row[key] for key in shown] == ["1", "1", "0", "0"]
    assert row["missing"] == "conv2d_1.delta_in[1,3] conv2d_1.output"
    table = invoke("check", problem, answers, "--one-based").stdout
    assert "missing: conv2d_1.delta_in[1,3], conv2d_1.output" in table
    sheet = invoke("check", problem, answers, write(tmp_path, "ben.json", answers.read_text()),
                   "--one-based").stdout
    assert "conv2d_1.grads.kernel[1,2] 1" in sheet and "conv2d_1.delta_in[1,3]" in sheet
    assert "[0," not in sheet and "[0]" not in sheet


def test_gradescope_is_for_one_submission(tmp_path):
    result = invoke("check", EXAM, SAMPLES / "exam" / "ana.json", SAMPLES / "exam" / "ben.json",
                    "-f", "gradescope")
    assert result.exit_code == 2 and "for one submission" in result.output


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize("student, code", [("ana", 1), ("ben", 1), ("cleo", 1)])
def test_exit_codes_of_the_sample_students(student, code):
    assert invoke("check", EXAM, SAMPLES / "exam" / f"{student}.json").exit_code == code


def test_all_right_exits_0(tmp_path):
    problem = problem_file(tmp_path, with_grading({"points": {"conv2d_1.grads.kernel": 4},
                                                   "carry_forward": True}))
    answers = write(tmp_path, "a.json", f'{{"conv2d_1.grads.kernel": {RIGHT_KERNEL}}}')
    result = invoke("check", problem, answers)
    assert result.exit_code == 0, result.output
    assert "4/4 points (100.0%)" in result.output


def test_a_problem_error_in_grading_is_never_a_traceback():
    with pytest.raises(ProblemError) as error:
        parse_grading({"points": {"bad key!": 1}}, file="p.json")
    assert error.value.where == "grading.points.bad key!"


def test_the_grading_benchmark_writes_a_class_that_grades(tmp_path):
    from cnngrad.bench_grading import write_class

    files = write_class(tmp_path, 8)
    result = invoke("check", EXAM, *files, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["percent"] for r in rows] == ["30.00", "90.00", "45.00", "100.00"] * 2


def test_a_slip_is_still_found_beside_rounded_cells(tmp_path):
    # the transpose of the kernel gradient (0.044606 0.011262 / 0.094061 0.068288), one cell
    # rounded to 2 decimals
    answers = write(tmp_path, "a.json",
                    '{"conv2d_1.grads.kernel": [[0.04, 0.0113], [0.0941, 0.0683]]}')
    result = invoke("check", WORKED, answers)
    assert result.exit_code == 1
    # the rounded cell is named: the others are plainly wrong (the transpose)
    assert ("right to the 2 decimals written in [0,0]; 4 are required (--min-decimals)"
            in result.output)
    assert "matches the transpose" in result.output
    assert "no common slip matches" not in result.output


@pytest.mark.parametrize("one_based, named", [(False, "[0,0], [0,1]"), (True, "[1,1], [1,2]")])
def test_rounded_cells_beside_plainly_wrong_ones_are_named(tmp_path, one_based, named):
    # every true cell is 0.125: 0.13 and 0.12 are roundings, 0.14 is plainly wrong
    problem = write(tmp_path, "p.json", '{"input": [[1, 2], [3, 4]], '
                    '"layers": [{"type": "avgpool2d", "size": 2}], "delta": [[0.5]]}')
    answers = write(tmp_path, "a.json",
                    '{"avgpool2d_1.delta_in": [["0.13", "0.12"], ["0.125", "0.14"]]}')
    result = invoke("check", problem, answers, *(["--one-based"] if one_based else []))
    assert result.exit_code == 1
    assert (f"→ right to the 2 decimals written in {named}; 4 are required (--min-decimals)"
            in result.output)
    assert "→ no common slip matches the others" in result.output
    # the grade sheet counts them
    sheet = invoke("check", problem, answers, "--format", "csv")
    assert ("right to the 2 decimals written in 2 of the 3 wrong cells; 4 are required"
            in sheet.stdout)
    # all wrong cells rounded: nothing to tell apart
    rounded = write(tmp_path, "r.json",
                    '{"avgpool2d_1.delta_in": [["0.13", "0.12"], ["0.125", "0.13"]]}')
    assert ("right to the 2 decimals written; 4 are required"
            in invoke("check", problem, rounded).output)


def test_the_docs_example_header_is_the_real_one(monkeypatch):
    docs = (Path(__file__).resolve().parent.parent / "docs" / "check.md").read_text("utf-8")
    command = "$ cnngrad check samples/stackexchange.json samples/answers/stackexchange-wrong.json"
    shown = docs.split(command + "\n", 2)[-1].splitlines()[:2]
    monkeypatch.chdir(SAMPLES.parent)  # the docs run from the project folder
    real = invoke("check", "samples/stackexchange.json",
                  "samples/answers/stackexchange-wrong.json").output.splitlines()[:2]
    assert shown == real


def test_the_grade_sheet_reads_at_80_columns_in_a_file(tmp_path, monkeypatch):
    """Wide points (15.67/16-like), an error row and a long student name: every line of the
    sheet written to a file stays within 80 columns; the name folds, the notes wrap."""
    long_name = "maximiliana_okonkwo-schmidt_the_third"
    answers = []
    for student in ("ana", "ben", "cleo"):
        target = tmp_path / (f"{long_name}.json" if student == "ana" else f"{student}.json")
        target.write_bytes((SAMPLES / "exam" / f"{student}.json").read_bytes())
        answers.append(target)
    broken = tmp_path / "dora.json"
    broken.write_text('{"loss": "about two", "comment": "I rotated the kernel, I think"}')
    sheet = tmp_path / "sheet.txt"
    # A path is never cut: name the problem by a short relative path, not the checkout's own.
    (tmp_path / "exam.json").write_bytes(EXAM.read_bytes())
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "exam.json", *answers, broken, "-o", sheet)
    assert result.exit_code == 2  # dora's file cannot be graded
    lines = sheet.read_text(encoding="utf-8").splitlines()
    assert max(len(line) for line in lines) == 80
    assert any(line.startswith(long_name[:24] + " ") for line in lines)
    assert any(line.startswith(long_name[24:] + " ") or line == long_name[24:]
               for line in lines)


@pytest.mark.parametrize("value, decimals, text", [
    (Fraction(90625, 1000), 2, "90.63"), (Fraction(90625, 1000), 1, "90.6"),
    (Fraction(1625, 100), 1, "16.3"), (Fraction(1, 32), 4, "0.0313"), (Fraction(2, 3), 4, "0.6667"),
    (Fraction(0), 2, "0.00"), (Fraction(100), 1, "100.0"), (Fraction(5, 2), 0, "3"),
])
def test_half_up_text(value, decimals, text):
    assert half_up_text(value, decimals) == text


def test_a_half_point_is_rounded_up_in_every_gradebook_format(tmp_path):
    """29 of 32 cells right is 90.625 %: 90.63 in the CSV and the JSON, 90.6 % in the table
    (a float's formatting rounds that exact half to even: 90.62)."""
    trace = run(load_problem(str(WORKED)))
    answers = {"conv2d_1.grads.kernel": trace.tensor("conv2d_1.grads.kernel").tolist(),
               "conv2d_1.output": trace.tensor("conv2d_1.output").tolist()}
    delta_in = trace.tensor("conv2d_1.delta_in")
    for k in range(12):
        answers[f"conv2d_1.delta_in[{k // 5},{k % 5}]"] = float(delta_in[k // 5, k % 5])
    answers["conv2d_1.output"][0][:3] = [9, 9, 9]  # three cells wrong
    first = write(tmp_path, "ana.json", json.dumps(answers))
    second = write(tmp_path, "ben.json", json.dumps(answers))
    row = next(csv.DictReader(io.StringIO(invoke("check", WORKED, first, second, "-f",
                                                 "csv").stdout)))
    assert (row["right"], row["total"], row["score"], row["percent"]) == (
        "29", "32", "0.9063", "90.63")
    files = json.loads(invoke("check", WORKED, first, second, "-f", "json").stdout)["files"]
    assert files[0]["percent"] == 90.63
    table = invoke("check", WORKED, first, second).stdout
    assert "90.6%" in table and "90.62" not in table


@pytest.mark.parametrize("columns, listing", [
    # the sheet's width, in a file (120) as in an 80-column terminal
    (120, ["20 points: loss 2, sigmoid_1.delta_in 2, dense_1.grads.weights 4,",
           "dense_1.grads.bias 1, dense_1.delta_in 2, maxpool2d_1.delta_in 3,",
           "conv2d_1.grads.kernel 4, conv2d_1.grads.bias 2"]),
    (80, ["20 points: loss 2, sigmoid_1.delta_in 2, dense_1.grads.weights 4,",
          "dense_1.grads.bias 1, dense_1.delta_in 2, maxpool2d_1.delta_in 3,",
          "conv2d_1.grads.kernel 4, conv2d_1.grads.bias 2"]),
    # narrower, wrapped once at the terminal's width: it was wrapped at 80, then again at 60
    # ("dense_1.grads.weights 4," alone on a line)
    (60, ["20 points: loss 2, sigmoid_1.delta_in 2,",
          "dense_1.grads.weights 4, dense_1.grads.bias 1,",
          "dense_1.delta_in 2, maxpool2d_1.delta_in 3,",
          "conv2d_1.grads.kernel 4, conv2d_1.grads.bias 2"]),
])
def test_the_grade_sheet_lists_the_points_wrapped_once(columns, listing, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    result = invoke("check", EXAM, *sorted((SAMPLES / "exam").glob("*.json")))
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("20 points:"))
    assert lines[start:start + len(listing) + 1] == listing + [
        next(line for line in lines if line.startswith("carried forward"))]
