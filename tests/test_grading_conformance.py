"""`cnngrad check` and the grading block held to the letter of the contract: exit codes and
statuses of carried-forward answers, messages of bad grading blocks and answers files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
EXAM = SAMPLES / "exam.json"  # sigmoid_1.delta_in = [-0.066353, 0.127767], min_decimals 3

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def exam_with_points(folder: Path, points: dict) -> Path:
    doc = json.loads(EXAM.read_text())
    doc["grading"]["points"] = points
    return write(folder, "exam.json", json.dumps(doc))


# sigmoid_1.delta_in right to its 4 decimals; dense_1.grads.bias (= that delta) carried on to 6
# decimals: both cells carried forward (the true values are -0.066353, 0.127767), none wrong.
CARRIED_ONLY = {"sigmoid_1.delta_in": ["-0.0664", "0.1278"],
                "dense_1.grads.bias": ["-0.066400", "0.127800"]}


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_file_whose_only_slips_are_carried_forward_is_wrong_with_full_points(tmp_path, fmt):
    problem = exam_with_points(tmp_path, {"sigmoid_1.delta_in": 2, "dense_1.grads.bias": 1})
    answers = write(tmp_path, "ana.json", json.dumps(CARRIED_ONLY))
    result = invoke("check", problem, answers, "--format", fmt)
    assert result.exit_code == 1, result.output  # a carried answer is still a wrong answer
    if fmt == "csv":
        row = next(csv.DictReader(io.StringIO(result.stdout)))
        assert (row["status"], row["right"], row["total"], row["points"], row["max_points"],
                row["carried_forward"]) == ("wrong", "2", "4", "3", "3", "dense_1.grads.bias")
    elif fmt == "json":
        entry = json.loads(result.stdout)["files"][0]
        assert (entry["status"], entry["score"], entry["points"]) == ("wrong", 1.0, 3)
        assert [p["status"] for p in entry["paths"]] == ["right", "right"]
    else:
        assert "0/2 cells right, 2 carried forward" in result.stdout
        assert "3/3 points (100.0%)" in result.stdout


def test_a_gradebook_counts_a_carried_file_with_the_wrong_answers(tmp_path):
    problem = exam_with_points(tmp_path, {"sigmoid_1.delta_in": 2, "dense_1.grads.bias": 1})
    carried = write(tmp_path, "ana.json", json.dumps(CARRIED_ONLY))
    right = write(tmp_path, "ben.json", json.dumps({"sigmoid_1.delta_in": ["-0.0664", "0.1278"],
                                                   "dense_1.grads.bias": ["-0.066", "0.128"]}))
    result = invoke("check", problem, carried, right)
    assert result.exit_code == 1
    assert "2 files: 1 all right, 1 with wrong answers, 0 could not be checked" in result.stdout


@pytest.mark.parametrize("min_decimals, rule", [
    (1, "within half a unit of the last decimal written, at least 1 decimal"),
    (2, "within half a unit of the last decimal written, at least 2 decimals"),
    (0, "within half a unit of the last decimal written"),
])
def test_the_rule_line_counts_its_decimals_in_words(tmp_path, min_decimals, rule):
    problem = write(tmp_path, "p.json", json.dumps(
        {"input": [[1]], "kernel": [[1]], "delta": [[0.5]],
         "grading": {"min_decimals": min_decimals}}))
    answers = write(tmp_path, "a.json", '{"conv2d_1.grads.kernel": [[0.5]]}')
    result = invoke("check", problem, answers, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rule"] == rule
    table = invoke("check", problem, answers).stdout.splitlines()
    assert f"right when {rule}" in table


@pytest.mark.parametrize("name, whole", [
    ("conv1d_1.grads.kernel[1].csv", "conv1d_1.grads.kernel.csv"),
    ("conv1d_1.delta_in[0,1].npy", "conv1d_1.delta_in.npy"),
])
def test_a_file_named_after_an_element_path_names_its_whole_tensor(tmp_path, name, whole):
    problem = write(tmp_path, "p.json", json.dumps(
        {"input": [[1, 2, 0, -1], [0, 1, 3, 2]], "layers": [{"type": "conv1d",
                                                            "kernel": [[1, -1], [2, 0]]}],
         "delta": [[1, 2, 3]]}))
    answers = write(tmp_path, name, "14,14\n")
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    line = result.output.strip()
    message = (f"{name}: a file named after an element path; name it after the whole tensor "
               f"({whole})")
    if name.endswith(".npy"):
        assert line.endswith(message)
        return
    # a CSV is a matrix: the part of a bigger tensor is answered by a '# path' line
    key = name[:-len(".csv")]
    assert line.endswith(f"{message}; hint: to answer a part of it, start the file with the "
                         f"line '# {key}' (a CSV of '# path' blocks answers any part of a "
                         f"tensor), or save the whole tensor as conv1d_1.grads.kernel.npy")
    answers.write_text(f"# {key}\n14,14\n", encoding="utf-8")  # as the hint says
    result = invoke("check", problem, answers)
    assert result.exit_code in (0, 1), result.output
    assert "a file named after" not in result.output and key in result.output


@pytest.mark.parametrize("bias_points, answers, named", [
    # full marks carried forward on elements' points: the sheet names those elements, as its
    # head lists them, not the whole tensor
    ({"dense_1.grads.bias[0]": 0.5, "dense_1.grads.bias[1]": 0.5}, CARRIED_ONLY,
     "dense_1.grads.bias[0] 0.5/0.5, dense_1.grads.bias[1] 0.5/0.5"),
    ({"dense_1.grads.bias[1]": 1}, {**CARRIED_ONLY, "dense_1.grads.bias[1]": "0.127800"},
     "dense_1.grads.bias[1] 1/1"),
    ({"dense_1.grads.bias [1]": 1}, {**CARRIED_ONLY, "dense_1.grads.bias[1]": "0.127800"},
     "dense_1.grads.bias [1] 1/1"),  # a key with a space before its index: as the head
    # lists it (the sheet named the whole tensor)
    # a carried cell outside the parts with points ([0]): the note is the tensor's
    ({"dense_1.grads.bias[1]": 1}, CARRIED_ONLY, "dense_1.grads.bias 1/1"),
    ({"dense_1.grads.bias": 1}, CARRIED_ONLY, "dense_1.grads.bias 1/1"),
])
def test_a_grade_sheet_names_a_carried_tensor_by_the_paths_with_its_points(
        tmp_path, bias_points, answers, named):
    problem = exam_with_points(tmp_path, {"sigmoid_1.delta_in": 2, **bias_points})
    if "dense_1.grads.bias[1]" in answers:  # that element alone answered
        answers = {key: value for key, value in answers.items()
                   if key != "dense_1.grads.bias"}
    first = write(tmp_path, "ana.json", json.dumps(answers))
    second = write(tmp_path, "bo.json", json.dumps(answers))
    text = " ".join(invoke("check", problem, first, second).output.split())
    assert f" {named}: carried forward from your sigmoid_1.delta_in" in text, text


def test_a_grade_sheet_names_the_tensor_for_a_wrong_cell_without_points(tmp_path):
    # bias[1] (its points) right, bias[0] (no points) wrong: not "bias[1] 1/1: no common slip"
    problem = exam_with_points(tmp_path, {"sigmoid_1.delta_in": 2, "dense_1.grads.bias[1]": 1})
    answers = {"sigmoid_1.delta_in": ["-0.066353", "0.127767"],
               "dense_1.grads.bias": ["0.5", "0.127767"]}
    first = write(tmp_path, "ana.json", json.dumps(answers))
    second = write(tmp_path, "bo.json", json.dumps(answers))
    text = " ".join(invoke("check", problem, first, second).output.split())
    assert " dense_1.grads.bias 1/1: " in text and "bias[1] 1/1" not in text, text


@pytest.mark.parametrize("name, line", [
    # a 4-D kernel is no CSV matrix: the .npy, or the part by a '# path' line
    ("conv2d_1.grads.kernel[0,1].csv", "a file named after an element path; name it after "
     "the whole tensor (conv2d_1.grads.kernel.npy); hint: to answer a part of it, start the "
     "file with the line '# conv2d_1.grads.kernel[0,1]' (a CSV of '# path' blocks answers "
     "any part of a tensor)"),
    # the name and the index first: a hint that leads to a second error helps no one
    ("conv2d_1.grads.kernl[0,1].csv", "conv2d_1.grads.kernl[0,1]: unknown path "
     "'conv2d_1.grads.kernl'"),
    ("conv2d_1.grads.kernel[5,1].csv", "index [5, 1] is outside 'conv2d_1.grads.kernel' of "
     "shape 1×2×2×2: its first index is 5 (indices 0 to 0 along an axis of 1)"),
    # counted from 1, as a JSON answer's key is told
    ("conv2d_1.grads.kernel[1,2,2,2].csv", "index [1, 2, 2, 2] is outside "
     "'conv2d_1.grads.kernel' of shape 1×2×2×2: its first index is 1 (indices 0 to 0 along an "
     "axis of 1); hint: counting from 1? give --one-based"),
])
def test_an_element_named_csv_of_a_4d_tensor(tmp_path, name, line):
    problem = write(tmp_path, "p.json", json.dumps(
        {"input": [[[1, 2, 0], [0, 1, 3], [2, 2, 1]], [[0, 1, 1], [1, 0, 2], [3, 1, 0]]],
         "layers": [{"type": "conv2d", "kernel": [[[[1, 0], [0, 1]], [[2, 1], [0, 1]]]]}],
         "delta": [[[1, 2], [3, 4]]]}))
    answers = write(tmp_path, name, "1,2\n3,4\n")
    result = invoke("check", problem, answers)
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: {answers}: {line}"), result.output


def test_a_report_of_carried_cells_only_says_what_follows_the_mark(tmp_path):
    # the number after ↻ is the true value too (the legend spoke of ✗ alone)
    problem = exam_with_points(tmp_path, {"sigmoid_1.delta_in": 2, "dense_1.grads.bias": 1})
    answers = write(tmp_path, "ana.json", json.dumps(CARRIED_ONLY))
    text = " ".join(invoke("check", problem, answers).output.split())
    assert "at least 3 decimals; a ↻ is followed by the true value" in text, text


@pytest.mark.parametrize("answers, named, words", [
    # the tensor's note after its parts' names read as theirs: "…[2,2] 0/1: 5 required cells
    # not answered" where [2,2] is one cell and [1] lacked 2
    ({"conv2d_1.delta_in[0]": [1, 0.5, 0], "conv2d_1.delta_in[1,0]": 0},
     "conv2d_1.delta_in 4/9 (conv2d_1.delta_in[1] 1/3, conv2d_1.delta_in[2,2] 0/1)",
     "5 required cells not answered"),
    # one wrong cell in row 0, one in row 1: "[1] 2/3: … all 2 wrong cells" was said of row 1
    ({"conv2d_1.delta_in": [[-1, 0.5, 0], [0, -2, 0.5], [0, 0, 1]]},
     "conv2d_1.delta_in 7/9 (conv2d_1.delta_in[1] 2/3)", "2 wrong cells"),
    # every wrong cell in the part: still the tensor's own points first (it has some)
    ({"conv2d_1.delta_in": [[1, 0.5, 0], [0, -2, 0.5], [0, 0, 1]]},
     "conv2d_1.delta_in 8/9 (conv2d_1.delta_in[1] 2/3)", "its one wrong cell"),
])
def test_a_grade_sheet_reads_a_tensors_note_of_the_tensor_with_its_parts_in_brackets(
        tmp_path, answers, named, words):
    problem = write(tmp_path, "p.json", json.dumps({
        "input": [[1, 2, 0], [0, 1, 3], [2, 0, 1]], "kernel": [[1, 0], [0, -1]], "bias": 0,
        "delta": [[1, 0.5], [0, -1]],  # delta_in [[1, 0.5, 0], [0, -2, -0.5], [0, 0, 1]]
        "grading": {"min_decimals": 0,
                    "points": {"conv2d_1.delta_in": 9, "conv2d_1.delta_in[1]": 3,
                               "conv2d_1.delta_in[2,2]": 1}}}))
    first = write(tmp_path, "ana.json", json.dumps(answers))
    second = write(tmp_path, "bo.json", json.dumps(answers))
    text = " ".join(invoke("check", problem, first, second).output.split())
    assert f" {named}: " in text and words in text, text


def test_the_sheet_head_never_wraps_between_a_path_and_its_points(tmp_path):
    # "... conv2d_1.grads.bias" at the end of a line, "1, conv2d_1.delta_in 3" on the next
    points = {"dense_1.grads.weights": 1, "conv2d_1.grads.kernel": 2, "conv2d_1.grads.bias": 3}
    problem = exam_with_points(tmp_path, points)
    answers = write(tmp_path, "ana.json", json.dumps(CARRIED_ONLY))
    other = write(tmp_path, "bo.json", json.dumps(CARRIED_ONLY))
    output = invoke("check", problem, answers, other).output
    head = output[output.index(" points: "):output.index("student")]
    assert len(head.splitlines()) > 1  # it does wrap, at 80 columns
    lines = head.splitlines()
    for key, value in points.items():
        assert any(f"{key} {value}" in line for line in lines), (key, head)
    assert "\u00a0" not in output
