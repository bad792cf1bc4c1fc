"""Grading a problem that gives the delta, channels-last and batched problems, and exact
results, end to end through ``cnngrad check``; every expected value worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()

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


def cells(entry: dict, what: str) -> dict[str, list]:
    return {t["path"]: [c["index"] for c in t[what]] for t in entry["tensors"]}


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
    assert err.splitlines()[0] == f"error: {tmp_path / 'a.json'}: no answers in the file"


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
