"""Malformed problems found by a clause-by-clause reading of the input side of the contract
(problem-format.md): each case failed before its fix.  Every one must exit 2 with one line
``error: <file>: <where>: <what>`` (its hint, if any, on the same line), the same through standard input
and through every command that reads a problem.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from test_bad_inputs import Bad, check_error_output, write_problem

runner = CliRunner()

#: a 1-D problem: the conv1d layer decides that the input [1, 2, 0, -1] is a signal of 4
SIGNAL = {"input": [1, 2, 0, -1], "layers": [{"type": "conv1d", "kernel": [1, -1]}],
          "delta": [1, 1, 1]}


def _signal_layer(**fields) -> dict:
    layer = {**SIGNAL["layers"][0], **fields}
    return {**SIGNAL, "layers": [{k: v for k, v in layer.items() if v is not None}]}


def bad(id: str, doc, where, what, **kw):
    return pytest.param(Bad(doc, where, what, **kw), id=id)


CASES = [
    # the first map layer decides how the input's axes are read: when its type is missing or
    # misspelt, the error is the layer's, not "input: expected a tensor of rank 2 to 4"
    bad("1d-type-misspelt", _signal_layer(type="conv1"), "layers[0].type",
        "unknown layer type 'conv1'", hint="did you mean 'conv1d'?"),
    bad("1d-type-wrong-case", _signal_layer(type="Conv1d"), "layers[0].type",
        "unknown layer type 'Conv1d'", hint="did you mean 'conv1d'?"),
    bad("1d-type-null", _signal_layer(type=None, typ="conv1d"), "layers[0].typ",
        "unknown key 'typ' in a layer", hint="did you mean 'type'?"),
    bad("1d-type-missing", _signal_layer(type=None), "layers[0]", "layer has no 'type'"),
    bad("1d-type-a-number", _signal_layer(type=1), "layers[0].type", "unknown layer type 1"),
    bad("1d-activation-misspelt-before-the-conv",
        {**SIGNAL, "layers": [{"type": "relux"}, *SIGNAL["layers"]]}, "layers[0].type",
        "unknown layer type 'relux'", hint="did you mean 'relu'?"),
    bad("1d-layer-not-an-object", {**SIGNAL, "layers": ["conv1d"]}, "layers[0]",
        "a layer must be an object"),
    bad("1d-layers-not-a-list", {**SIGNAL, "layers": {"type": "conv1d", "kernel": [1, -1]}},
        "layers", "expected a list of layers, got an object"),
    bad("1d-layers-empty", {**SIGNAL, "layers": []}, "layers", "no layers"),
    # another function spelt like a known one is not pointed to it (its gradients differ)
    *[bad(f"look-alike-{kind}", {**SIGNAL, "layers": [{"type": kind}]}, "layers[0].type",
          f"unknown layer type '{kind}'", hint=f"cnngrad has no such layer, and {like} is "
          "another function with other gradients")
      for kind, like in (("relu6", "relu"), ("gelu", "relu"), ("nn.ELU", "relu"),
                         ("hardtanh", "tanh"), ("softplus", "softmax"))],
    bad("lrelu-is-leaky-relu", {**SIGNAL, "layers": [{"type": "lrelu"}]}, "layers[0].type",
        "unknown layer type 'lrelu'", hint="did you mean 'leaky_relu'?"),
    # other frameworks' names of a field
    *[bad(f"field-called-{key}", {**SIGNAL, "layers": [{"type": kind, key: 1}]},
          f"layers[0].{key}", f"unknown key '{key}'", hint=f"did you mean '{meant}'?")
      for kind, key, meant in (("batchnorm1d", "weight", "gamma"),
                               ("batchnorm1d", "bias", "beta"),
                               ("batchnorm1d", "moving_variance", "running_var"),
                               ("batchnorm1d", "var", "running_var"),
                               ("leaky_relu", "alpha", "slope"),
                               ("dropout", "rate", "p"), ("dropout", "drop_prob", "p"),
                               ("upsample", "factor", "scale"))],
    bad("top-level-grad-output", {"input": [1, 2], "kernel": [1], "grad_output": [1, 2]},
        "grad_output", "unknown key 'grad_output'", hint="did you mean 'delta'?"),
    bad("top-level-target", {**SIGNAL, "target": [1, 1, 1]}, "target",
        "unknown key 'target'", hint='a target belongs to the loss: "loss": {"type": "mse"'),
    bad("loss-y", {**{k: v for k, v in SIGNAL.items() if k != "delta"},
                   "loss": {"type": "mse", "y": [1, 1, 1]}}, "loss.y", "unknown key 'y'",
        hint="did you mean 'target'?"),
]


@pytest.mark.parametrize("command", [["backward"], ["forward"], ["explain"], ["gradcheck"],
                                     ["backward", "--exact"]])
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_exit_2(case: Bad, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, case.doc)
    result = runner.invoke(app, [command[0], "bad.json", *command[1:]])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception), result.output  # SystemExit(2) only
    assert result.stdout == "", result.stdout
    check_error_output(result.stderr, case)


@pytest.mark.parametrize("case", CASES)
def test_standard_input_says_the_same(case: Bad):
    result = runner.invoke(app, ["backward", "-", "--format", "json"],
                           input=json.dumps(case.doc))
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(case.doc, case.where, case.what, hint=case.hint,
                                          file="<stdin>"))


def test_the_signal_itself_is_valid(tmp_path, monkeypatch):
    """The cases above break only the layer: the unbroken problem runs."""
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, SIGNAL)
    result = runner.invoke(app, ["backward", "bad.json", "--format", "json"])
    assert result.exit_code == 0, result.output
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["output"] == [-1.0, 2.0, 1.0]
    assert layer["delta_in"] == [1.0, 0.0, 0.0, -1.0]


#: the one-conv problem of 3×3 input 1…9, a 2×2 kernel whose first entry is written below
ZERO_FIRST = ('{"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[%s, 0], [0, 1]], '
              '"delta": [[1, 0], [0, 0]]}')


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("zero", ["0e99999999999999999999", "-0.000e-99999999999999999999",
                                  '"0e99999999999999999999"', "0E+400", "0e-400"])
def test_a_zero_with_an_exponent_past_decimal_s_range_is_zero(zero, exact, tmp_path,
                                                               monkeypatch):
    """A JSON number is finite when its digits are zeros, whatever its exponent (Python's
    json and float read 0e99999999999999999999 as 0.0); it was "out of range"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(ZERO_FIRST % zero, encoding="utf-8")
    result = runner.invoke(app, ["backward", "p.json", "--format", "json",
                                 *(["--exact"] if exact else [])])
    assert result.exit_code == 0, result.output
    layer = json.loads(result.stdout)["layers"][0]
    assert layer["output"] == ([["5", "6"], ["8", "9"]] if exact else [[5.0, 6.0], [8.0, 9.0]])
    # dE/dw = the input under the delta's one 1: the top-left 2×2 block
    assert layer["grads"]["kernel"] == ([["1", "2"], ["4", "5"]] if exact else
                                        [[1.0, 2.0], [4.0, 5.0]])


@pytest.mark.parametrize("number", ["1e99999999999999999999", "-1e99999999999999999999",
                                    "1e-99999999999999999999"])
def test_a_non_zero_number_past_decimal_s_range_is_still_an_error(number, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(ZERO_FIRST % number, encoding="utf-8")
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(None, "kernel[0][0]",
                                          "is out of range, at line 1, column 58"))


#: a one-conv problem whose kernel gradient is [[6, 8], [12, 14]] and output 2×2
CONV = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, 1]],
        "delta": [[1, 0], [0, 1]]}


@pytest.mark.parametrize("blocks, where, what", [
    ("# conv2d_1.grads.kernel\n6,8\n12,x\n", "line 3, column 2: conv2d_1.grads.kernel",
     "'x' is not a number"),
    # blank lines inside a block are skipped, but the line numbers count them
    ("# conv2d_1.grads.kernel\n6,8\n\n12,x\n", "line 4, column 2: conv2d_1.grads.kernel",
     "'x' is not a number"),
    ("# conv2d_1.grads.kernel\n6,8\n12\n", "line 3: conv2d_1.grads.kernel",
     "row has 1 element, expected 2"),
    ("# conv2d_1.grads.kernel\n6,8\n12,14\n\n# conv2d_1.output\n1,2\n3,1e400\n",
     "line 7, column 2: conv2d_1.output", "'1e400' is too large"),
    # one matrix of a bigger tensor: no grid indices after its own index
    ("# conv2d_1.output[0]\n6,x\n", "line 2, column 2: conv2d_1.output[0]",
     "'x' is not a number"),
    # the shape is the block's: still at its '# path' line
    ("# conv2d_1.grads.kernel\n6,8,1\n12,14,1\n", "line 1: conv2d_1.grads.kernel",
     "expected shape 2×2, got shape 2×3"),
])
def test_a_bad_cell_of_a_csv_of_blocks_is_named_by_its_line_and_column(blocks, where, what,
                                                                       tmp_path, monkeypatch):
    """A CSV of blocks names a bad cell by the line it is on, as a CSV file names
    ``row 3, column 2``; it named the block's '# path' line with the grid's indices after
    the path."""
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, CONV)
    (tmp_path / "answers.csv").write_text(blocks, encoding="utf-8")
    result = runner.invoke(app, ["check", "bad.json", "answers.csv"])
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout
    check_error_output(result.stderr, Bad(None, where, what, file="answers.csv"))


#: a dense layer reading a vector of 3
VECTOR = {"input": [[1, 2, 3]], "layers": [{"type": "flatten"},
                                           {"type": "dense", "weights": [[1, 2, 3]]}],
          "delta": [1]}


def _run_with_tensor(key: str, tensor, tmp_path):
    """backward of the one-conv problem (or, for ``weights``, the dense one) with ``tensor`` as
    that field, which must be refused: (the document, the CLI's result)."""
    if key == "weights":
        doc = {**VECTOR, "layers": [VECTOR["layers"][0], {"type": "dense", "weights": tensor}]}
    else:
        doc = {**CONV, key: tensor}
    write_problem(tmp_path, doc)
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2, result.output
    return doc, result


@pytest.mark.parametrize("key, tensor, where, what", [
    # the shape is read off the first element: when it is the odd one out, it is named
    ("kernel", [[[1], 0], [0, 1]], "kernel[0][0]", "expected a number, got a list"),
    ("kernel", [[1, 2, 3], [4, 5], [6, 7]], "kernel[0]",
     "row has 3 elements, expected 2 (as in the other 2 rows)"),
    ("kernel", [[1], [2, 3], [4, 5], [6], [7, 8]], "kernel[0]",
     "row has 1 element, expected 2 (as in 3 of the 5 rows)"),
    # one level too deep in the first element of a rank-2 tensor is not "rank 3"
    ("weights", [[[1], 2, 3]], "layers[1].weights[0][0]", "expected a number, got a list"),
    # the odd one later in the level is named as before
    ("kernel", [[1, 0], [[0], 1]], "kernel[1][0]", "expected a number, got a list"),
    # a first row too deep for its first number alone: the number is named, not the row
    # (it said "kernel[0]: expected a list of numbers (as the other 2 are), got a list of
    # lists")
    ("kernel", [[[1], 0.2, -0.3], [0.5, -0.6, 0.7], [-0.9, 1, 0.1]], "kernel[0][0]",
     "expected a number, got a list of numbers (the nesting is uneven)"),
    ("kernel", [[[[1], 2], [3, 4]], [[5, 6], [7, 8]], [[1, 2], [3, 4]]], "kernel[0][0][0]",
     "expected a number, got a list"),
    # through lists of one element (an axis of 1): it said "kernel[1]: expected lists nested
    # 3 deep (as the other element is), got lists nested 4 deep"
    ("kernel", [[[[1, 2]]], [[[[3], 4]]]], "kernel[1][0][0][0]",
     "expected a number, got a list of numbers"),
    ("bias", [[[1, 2]], [[[3], 4]]], "bias[1][0][0]", "expected a number, got a list of numbers"),
    # a list of one element that is too deep as a whole, wrapped: the wrapping list is named
    ("kernel", [[[-0.3], [2]], [[1], [-0.3]], [[[1], [3]]]], "kernel[2]",
     "expected a list of lists (as the other 2 are), got lists nested 3 deep"),
    # the first element nested less deeply than the rest: it was a rank too low ("kernel:
    # expected a tensor of rank 2 to 4, got rank 1 (3)") or a list where the first had a
    # number (kernel[1][0], a right row)
    ("kernel", [[7, 8], [[1, 2], [3, 4]], [[5, 6], [7, 8]]], "kernel[0]",
     "expected a list of lists (as the other 2 are), got a list of numbers"),
    ("kernel", ["x", [1, 0], [0, 1]], "kernel[0]",
     "expected a list of numbers (as the other 2 are), got 'x' (the nesting is uneven)"),
    ("weights", [5, [1, 2, 3]], "layers[1].weights[0]",
     "expected a list of numbers (as the other element is), got 5"),
    ("kernel", [[7, 8], [[1, 2], [3, 4]], [[5, 6], [7, 8]], [[[1], [2]], [3, 4]]], "kernel[0]",
     "expected a list of lists (as 2 of the other 3 are), got a list of numbers"),
    # a row first among grids was "row has 5 elements, expected 2 (as in the other 4 rows)"
    ("kernel", [[1] * 5] + [[[1] * 5] * 2] * 4, "kernel[0]",
     "expected a list of lists (as the other 4 are), got a list of numbers"),
    ("kernel", [5, [1, 2], [[1, 2], [3, 4]]], "kernel[0]",
     "expected a list of lists (as one of the other 2 is), got 5"),
    # most as shallow as the rank read: the rank error and its hint stand
    ("kernel", ["x", "y", [1, 0]], "kernel", "expected a tensor of rank 2 to 4, got rank 1 (3)"),
    ("kernel", [1, 2, [3, 4]], "kernel", "expected a tensor of rank 2 to 4, got rank 1 (3)"),
    ("kernel", [{"csv": "w.csv"}, [1, 0]], "kernel[0]",
     'expected a list of numbers (as the other element is), got an object: {"csv": ...} and '
     '{"npy": ...} stand for a whole tensor, not an element'),
    ("kernel", [[1, 2], [3]], "kernel[1]", "row has 1 element, expected 2"),
    # the typo may be in either row: the length expected says whose it is
    ("kernel", [[0.5, -0.6, 0.1], [0.2, 0.4]], "kernel[1]",
     "row has 2 elements, expected 3 (as in the first row)"),
    ("kernel", [[[1, 0], [0, 1]], [[1, 0], [0]]], "kernel[1][1]",
     "row has 1 element, expected 2 (as in kernel[0][0])"),
    ("kernel", [[[1, 0]], [[1, 0], [0, 1]]], "kernel[1]",
     "list has 2 elements, expected 1 (as in the first list)"),
])
def test_the_odd_element_of_uneven_nesting_is_named(key, tensor, where, what, tmp_path,
                                                    monkeypatch):
    """It was the first element that disagreed with it (``kernel[0][1]: expected a list of 1
    number, got 0``), or a rank error for a tensor that is only uneven
    (``weights: expected a tensor of rank 2, got rank 3 (1×3×1)``)."""
    monkeypatch.chdir(tmp_path)
    doc, result = _run_with_tensor(key, tensor, tmp_path)
    check_error_output(result.stderr, Bad(doc, where, what))


@pytest.mark.parametrize("bias, where", [
    ([[1], 2], "layers[1].bias[0]"),  # it named bias[1]: "expected a list of 1 number, got 2"
    ([1, [2]], "layers[1].bias[1]"),
])
def test_of_two_depths_as_common_the_one_a_vector_may_have_is_meant(bias, where, tmp_path,
                                                                    monkeypatch):
    # a dense bias is a number or a vector: a list inside it is the odd one, wherever it is
    monkeypatch.chdir(tmp_path)
    doc = {**VECTOR, "layers": [VECTOR["layers"][0], {**VECTOR["layers"][1], "bias": bias}]}
    write_problem(tmp_path, doc)
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(doc, where, "expected a number, got a list of "
                                                      "numbers (the nesting is uneven)"))


def test_a_rectangular_tensor_of_too_high_a_rank_is_still_a_rank_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, {**CONV, "kernel": [[[[[1]]]]]})
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(None, "kernel", "expected a tensor of rank 2 to 4, "
                                                          "got rank 5 (1×1×1×1×1)"))


#: a residual sum of numbers near float64's limit: 2e308 is no float, but a fine fraction
BEYOND_FLOAT = {"input": [[1e308, 1e308]], "layers": [
    {"type": "relu", "name": "a"}, {"type": "add", "inputs": ["a", "input"]}],
    "delta": [["1e308", 1]]}


@pytest.mark.parametrize("command", [["backward"], ["forward"], ["backward", "--full"],
                                     ["backward", "--show-steps"]])
def test_an_exact_value_beyond_float64_is_shown_in_the_table(command, tmp_path, monkeypatch):
    """--exact computes with fractions, which never overflow: the table's heat shading read
    every value as a float and exited 2 with "the result overflows to infinity"."""
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, BEYOND_FLOAT)
    result = runner.invoke(app, [command[0], "bad.json", "--exact", *command[1:]])
    assert result.exit_code == 0, result.output
    assert "2" + "0" * 308 in result.stdout.replace("│", "").replace(" ", "")


@pytest.mark.parametrize("content, where, what", [
    # numpy.savetxt writes nan and inf: a first row of them is no header row
    ("nan,inf\n1,2\n", "row 1, column 1", "'nan' is not a finite number (no NaN or infinity)"),
    ("NaN\n", "row 1, column 1", "'NaN' is not a finite number"),
    ("-Infinity,1e999\n1,2\n", "row 1, column 1", "'-Infinity' is not a finite number"),
    # a word is still a header
    ("a,b\n1,2\n", "row 1, column 1", "'a' is not a number: this looks like a header row"),
])
def test_a_first_csv_row_of_nan_is_not_a_header(content, where, what, tmp_path, monkeypatch):
    """It said "'nan' is not a number: this looks like a header row; remove it"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text(content, encoding="utf-8")
    write_problem(tmp_path, {**CONV, "kernel": {"csv": "x.csv"}})
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(None, where, what, file="x.csv"))


@pytest.mark.skipif(np.finfo(np.longdouble).max <= np.finfo(np.float64).max,
                    reason="no long double wider than float64 here")
@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("value, what", [
    # 0 in float64 was taken silently without --exact (1e-400 in JSON or CSV is an error)
    ("1e-4000", "1e-4000 is too small (float64 rounds it to 0)"),
    # named as written, not as the inf it rounds to
    ("1e4000", "1e+4000 is too large (beyond float64's range"),
])
def test_a_long_double_npy_beyond_float64_is_named(value, what, exact, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    array = np.ones((2, 2), dtype=np.longdouble)
    array[1, 0] = np.longdouble(value)
    np.save(tmp_path / "k.npy", array)
    write_problem(tmp_path, {**CONV, "kernel": {"npy": "k.npy"}})
    result = runner.invoke(app, ["backward", "bad.json", *(["--exact"] if exact else [])])
    assert result.exit_code == 2, result.output
    check_error_output(result.stderr, Bad(None, "element [1,0]", what, file="k.npy"))


@pytest.mark.parametrize("key, tensor, where, hint", [
    # CSV matrices meant as channels: was "input: expected a tensor of rank 2 to 4, got rank
    # 1 (2)", which says nothing of the objects
    ("input", [{"csv": "r.csv"}, {"csv": "g.csv"}], "input[0]",
     'one reference stacks CSV matrices along a new first axis: '
     '{"csv": ["r.csv", "g.csv"]}'),
    # was the flat-kernel hint, "a k1×k2 kernel is a list of rows, e.g. [[1, 0], [0, -1]]"
    ("kernel", [{"csv": "w.csv"}], "kernel[0]",
     'write the reference alone, not in a list: {"csv": "w.csv"}'),
    ("input", [{"npy": "x.npy"}], "input[0]",
     'write the reference alone, not in a list: {"npy": "x.npy"}'),
    ("input", [{"npy": "a.npy"}, {"npy": "b.npy"}], "input[0]",
     "one .npy file holds the whole tensor: save the arrays as one, numpy.save(path, "
     "numpy.stack(arrays))"),
    # a rank-2 role: stacked CSV files would be rank 3 (the old flat-weights advice was
    # better than that); one file holds the rows
    ("weights", [{"csv": "w0.csv"}, {"csv": "w1.csv"}], "layers[1].weights[0]",
     'one CSV file holds a whole matrix, a line a row: {"csv": "w0.csv"}'),
    # a mix of references and numbers: named, no hint
    ("input", [{"csv": "r.csv"}, 5], "input[0]", None),
])
def test_a_list_of_file_references_is_named_as_such(key, tensor, where, hint, tmp_path,
                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    _, result = _run_with_tensor(key, tensor, tmp_path)
    expected = (f'error: bad.json: {where}: expected a number, got an object: {{"csv": ...}} '
                'and {"npy": ...} stand for a whole tensor, not an element')
    assert result.stderr == expected + (f"; hint: {hint}" if hint else "") + "\n"
