"""The commands as a user runs them: both commands, both formats, quick mode, stdin, -o."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from cnngrad import __version__
from cnngrad.cli import app

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WORKED = str(SAMPLES / "stackexchange.json")
KERNEL_GRAD = [[0.044606, 0.094061], [0.011262, 0.068288]]

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_every_command_s_annotations_are_objects_not_strings():
    """typer reads the annotations of every command whenever it builds the command line (each
    CliRunner call does): written as strings (``from __future__ import annotations``) they are
    compiled and evaluated again every time, 30 ms a build instead of 7."""
    callbacks = [app.registered_callback.callback] + [info.callback
                                                      for info in app.registered_commands]
    assert len(callbacks) > 9
    for callback in callbacks:
        strings = [name for name, annotation in callback.__annotations__.items()
                   if isinstance(annotation, str)]
        assert not strings, f"{callback.__module__}.{callback.__qualname__}: {strings}"


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"cnngrad {__version__}"


def test_no_command_shows_the_help_and_one_error_line():
    # exit 2 with the help on stdout and nothing on stderr: a script saw a usage error
    # without a word of it
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-m", "cnngrad"], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 2
    assert result.stdout.startswith("Usage: cnngrad [OPTIONS] COMMAND [ARGS]...")
    assert result.stderr == ("error: COMMAND: missing; hint: give one of those listed above: "
                             "cnngrad backward PROBLEM (cnngrad samples lists problems to "
                             "start from)\n")


@pytest.mark.parametrize("command", ["backward", "forward", "explain", "check", "gradcheck"])
def test_help_has_an_example(command, monkeypatch):
    # every command whose examples read samples/ says how to get that folder
    monkeypatch.setenv("COLUMNS", "80")
    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert f"cnngrad {command} samples/" in result.output
    assert ("Examples (cnngrad samples NAME --to samples saves the sample they read):"
            in result.output)


@pytest.mark.parametrize("width", [78, 58, 48])  # click's width at 80, 60 and 50 columns
@pytest.mark.parametrize("command", ["backward", "check", "verify", "explain", "generate"])
def test_a_cut_example_keeps_each_option_with_its_value_and_quotes_whole(command, width):
    from cnngrad.cli.plain_values import _epilog_lines

    # (the test runner forces click's width to 80: the epilog is laid out here directly)
    epilog = typer.main.get_command(app).commands[command].epilog
    lines = _epilog_lines(epilog, width)
    cut = [(line, after) for line, after in zip(lines, lines[1:]) if line.endswith(" \\")]
    assert cut or width == 78  # each has an example too long for 60 columns
    for line, after in cut:
        # "--style \" then "cs231n": an option parted from its value
        option = re.fullmatch(r"--?[a-z][-a-z]*", line.split()[-2])
        parted = option and not re.match(r"-[-a-z]", after.split()[0])
        assert not parted, (line, after)
        assert line.count("'") % 2 == 0, line  # a backslash inside quotes is no continuation


@pytest.mark.parametrize("example, pieces", [
    ("cnngrad backward p.json --exact --lr -1/10 -o -",
     ["cnngrad", "backward", "p.json", "--exact", "--lr -1/10", "-o -"]),  # - is a value
    ("cnngrad backward p.json --title \"Ana's sheet\" -o x.tex",
     ["cnngrad", "backward", "p.json", "--title \"Ana's sheet\"", "-o x.tex"]),
    ("cnngrad backward --kernel '[[1, 0], [0, -1]]' p.json | less",
     ["cnngrad", "backward", "--kernel '[[1, 0], [0, -1]]'", "p.json", "|", "less"]),
])
def test_an_examples_pieces_keep_values_and_quotes_whole(example, pieces):
    from cnngrad.cli.plain_values import _command_pieces

    assert _command_pieces(example) == pieces


def test_backward_table_shows_the_worked_example():
    result = invoke("backward", WORKED)
    assert result.exit_code == 0, result.output
    out = result.output
    for row in KERNEL_GRAD:
        assert "   ".join(f"{v:.6f}" for v in row) in out
    assert "δ in = dE/d(input)" in out and "-0.042222" in out
    assert "\x1b[" not in out  # no control codes when not a terminal


def test_backward_json_follows_the_contract():
    result = invoke("backward", WORKED, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["cnngrad"] == __version__
    assert doc["loss"] is None
    assert doc["title"].startswith("Worked example")
    (layer,) = doc["layers"]
    assert set(layer) == {"index", "name", "type", "output", "delta_out", "delta_in", "grads"}
    assert (layer["index"], layer["name"], layer["type"]) == (0, "conv2d_1", "conv2d")
    np.testing.assert_allclose(layer["grads"]["kernel"], KERNEL_GRAD, atol=5e-7)
    assert np.shape(layer["delta_in"]) == (5, 5) and np.shape(layer["output"]) == (4, 4)
    assert list(layer["grads"]) == ["kernel"]


def test_json_numbers_keep_full_precision():
    doc = json.loads(invoke("backward", WORKED, "--format", "json").output)
    value = doc["layers"][0]["grads"]["kernel"][0][0]
    exact = 0.0686 * 0.88 + 0.0364 * 0.62 + 0.0467 * 0.2 - 0.0681 * 0.7
    assert value == pytest.approx(exact, rel=1e-14) and len(repr(value)) > 10


def test_parameter_free_layers_have_empty_grads():
    doc = json.loads(invoke("backward", SAMPLES / "stackexchange-network.json", "-f",
                            "json").output)
    assert [layer["grads"] for layer in doc["layers"]][1:3] == [{}, {}]
    assert isinstance(doc["loss"], float)
    assert set(doc["layers"][3]["grads"]) == {"weights", "bias"}


def test_forward_json_has_outputs_and_loss():
    result = invoke("forward", SAMPLES / "stackexchange-network.json", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [layer["name"] for layer in doc["layers"]] == [
        "conv2d_1", "maxpool2d_1", "flatten_1", "dense_1", "sigmoid_1"]
    assert doc["layers"][0]["output"][0][0] == pytest.approx(0.2491)
    assert doc["loss"] > 0


def test_forward_table_lists_layers_in_forward_order():
    result = invoke("forward", SAMPLES / "stackexchange-network.json")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("conv2d_1") < out.index("maxpool2d_1") < out.index("dense_1")
    assert "loss E =" in out


def test_backward_table_is_in_backprop_order():
    out = invoke("backward", SAMPLES / "stackexchange-network.json").output
    assert out.index("sigmoid_1") < out.index("dense_1") < out.index("conv2d_1")


def test_quick_mode_equals_the_json_problem(monkeypatch):
    monkeypatch.chdir(SAMPLES / "csv")
    result = invoke("backward", "--input", "o.csv", "--kernel", "w.csv", "--delta", "d.csv",
                    "-f", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    np.testing.assert_allclose(doc["layers"][0]["grads"]["kernel"], KERNEL_GRAD, atol=5e-7)


def test_quick_mode_options_and_inline_json(monkeypatch):
    monkeypatch.chdir(SAMPLES / "csv")
    result = invoke("backward", "--input", "o.csv", "--kernel", "[[1, 0], [0, -1]]",
                    "--delta", "[[1, 1], [1, 1]]", "--stride", "2", "--bias", "0.5",
                    "--flip-kernel", "-f", "json")
    assert result.exit_code == 0, result.output
    layer = json.loads(result.output)["layers"][0]
    assert layer["grads"]["bias"] == 4.0
    # flipped kernel [[-1, 0], [0, 1]] at stride 2: y[0,0] = −o[0,0] + o[1,1] + 0.5
    assert layer["output"][0][0] == pytest.approx(-0.51 + 0.62 + 0.5)


def test_quick_mode_a_json_file_is_read_as_its_json(tmp_path, monkeypatch):
    # i.json was read as a CSV: "'[[1' is not a number: this looks like a header row"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.json").write_text("[[0.5, 1], [2, 4]]\n", encoding="utf-8")
    (tmp_path / "w.JSON").write_text("[[1, 0], [0, -1]]", encoding="utf-8")
    result = invoke("backward", "--input", "o.json", "--kernel", "w.JSON", "--delta", "[[2]]",
                    "-f", "json", "--exact")
    assert result.exit_code == 0, result.output
    # dE/dw = δ·o, one output: [[1, 2], [4, 8]]
    assert json.loads(result.stdout)["layers"][0]["grads"]["kernel"] == [["1", "2"],
                                                                        ["4", "8"]]
    (tmp_path / "broken.json").write_text("[[1, 2],\n [3, 4]", encoding="utf-8")
    result = invoke("backward", "--input", "broken.json", "--kernel", "[[1]]",
                    "--delta", "[[1, 1], [1, 1]]")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: broken.json: line 2, column 8: ")
    # an error inside the file is placed there, as a CSV's is; a shape is said with it
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.json").write_text('[[1, "x"], [3, 4]]', encoding="utf-8")
    (tmp_path / "sub" / "big.json").write_text("[[1, 2, 3], [4, 5, 6], [7, 8, 9]]")
    result = invoke("backward", "--input", "sub/bad.json", "--kernel", "[[1]]",
                    "--delta", "[[1, 1], [1, 1]]")
    assert result.stderr == "error: sub/bad.json: [0][1]: 'x' is not a number\n"
    result = invoke("backward", "--input", "o.json", "--kernel", "[[1]]",
                    "--delta", "sub/big.json")
    assert result.stderr == ("error: --delta: expected shape 2×2 (the output of conv2d_1), "
                             "got 3×3 in sub/big.json\n")
    # so is what is found wrong after the problem is read (float32's range), and a key
    (tmp_path / "sub" / "f32.json").write_text("[[1, 2], [3, 1e39]]", encoding="utf-8")
    result = invoke("backward", "--input", "sub/f32.json", "--kernel", "[[1]]",
                    "--delta", "[[1, 1], [1, 1]]", "--dtype", "float32")
    assert result.stderr.startswith("error: sub/f32.json: [1][1]: 1e+39 does not fit float32")
    (tmp_path / "sub" / "cvs.json").write_text('{"cvs": "o.csv"}', encoding="utf-8")
    result = invoke("backward", "--input", "sub/cvs.json", "--kernel", "[[1]]",
                    "--delta", "[[1, 1], [1, 1]]")
    assert result.stderr.startswith("error: sub/cvs.json: cvs: unknown key 'cvs'")
    (tmp_path / "sub" / "deep.json").write_text("[[[[[1]]]]]", encoding="utf-8")
    result = invoke("backward", "--input", "sub/deep.json", "--kernel", "[[1]]",
                    "--delta", "[[1]]")
    assert result.stderr == ("error: --input: expected a tensor of rank 2 to 4, got rank 5 "
                             "(1×1×1×1×1) in sub/deep.json\n")
    # a {"csv": ...} in it is found beside it, as a problem file's is
    (tmp_path / "sub" / "ref.json").write_text('{"csv": "o.csv"}', encoding="utf-8")
    (tmp_path / "sub" / "o.csv").write_text("1,2\n3,4\n", encoding="utf-8")
    result = invoke("backward", "--input", "sub/ref.json", "--kernel", "[[1]]",
                    "--delta", "[[1, 1], [1, 1]]", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output"] == [[1, 2], [3, 4]]
    # a problem file given as a tensor is named as one
    shutil.copy(SAMPLES / "stackexchange.json", tmp_path / "p.json")
    result = invoke("backward", "--input", "p.json", "--kernel", "[[1]]", "--delta", "[[1]]")
    assert result.exit_code == 2
    assert result.stderr == ("error: --input: p.json is a problem file, not a tensor; hint: "
                             "give it as the problem: cnngrad backward p.json\n")


@pytest.mark.parametrize("option", ["--input", "--delta"])
def test_quick_mode_inline_json_longer_than_a_file_name_may_be(option):
    # a 12×12 input written out is past 255 characters, the longest file name most systems
    # allow: asking whether such a file exists raised "File name too long"
    grid = json.dumps([[round(0.01 * (12 * i + j), 2) for j in range(12)] for i in range(12)])
    assert len(grid) > 255
    ones = json.dumps([[1] * 11] * 11)
    values = {"--input": grid, "--delta": ones}
    if option == "--delta":
        values = {"--input": json.dumps([[0.5] * 12] * 12),
                  "--delta": json.dumps([[round(0.1 * j, 1) for j in range(11)]] * 11)}
        assert len(values["--delta"]) > 255
    result = invoke("backward", "--input", values["--input"], "--kernel", "[[1, 0], [0, 1]]",
                    "--delta", values["--delta"], "-f", "json")
    assert result.exit_code == 0, result.output
    layer = json.loads(result.output)["layers"][0]
    inputs, deltas = json.loads(values["--input"]), json.loads(values["--delta"])
    # dE/dw[0,0] = Σ δ[i,j]·o[i,j] over the 11×11 output
    assert layer["grads"]["kernel"][0][0] == pytest.approx(
        sum(deltas[i][j] * inputs[i][j] for i in range(11) for j in range(11)))


def test_quick_mode_a_folder_named_like_a_number_is_named_as_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "123").mkdir()
    result = invoke("backward", "--input", "123", "--kernel", "[[1]]", "--delta", "[[1]]")
    assert result.exit_code == 2
    assert result.output.splitlines() == ["error: --input: '123' is a folder, not a file"]


@pytest.mark.parametrize("option, value, said", [
    # NaN and the infinities as written, refused as not finite (not a file looked for)
    ("--bias", "NaN", "--bias: 'NaN' is not a finite number (no NaN or infinity)"),
    ("--bias", "Infinity", "--bias: 'Infinity' is not a finite number (no NaN or infinity)"),
    ("--bias", "-Infinity", "--bias: '-Infinity' is not a finite number (no NaN or infinity)"),
    ("--kernel", "+inf", "--kernel: '+inf' is not a finite number (no NaN or infinity)"),
    ("--bias", '"nan"', "--bias: 'nan' is not a finite number (no NaN or infinity)"),
    ("--kernel", "[[NaN]]", "--kernel[0][0]: 'NaN' is not a finite number (no NaN or infinity)"),
    ("--stride", "NaN", "--stride: expected an integer ≥ 1, got 'NaN'"),
    ("--stride", "[1, Infinity]", "--stride[1]: expected an integer ≥ 1, got 'Infinity'"),
])
def test_quick_mode_nan_and_infinity_are_numbers_refused_as_written(option, value, said,
                                                                    tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = {"--input": "[[1, 2], [3, 4]]", "--kernel": "[[1]]", "--delta": "[[1, 1], [1, 1]]",
               option: value}
    result = invoke("backward", *[part for pair in options.items() for part in pair])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"error: {said}"]


@pytest.mark.parametrize("given", ["NaN", '"NaN"', "-inf", '"-inf"'])
def test_quick_mode_a_file_named_nan_is_read(given, tmp_path, monkeypatch):
    # bare or over-quoted (as a script may write it), a name that is a file is that file
    monkeypatch.chdir(tmp_path)
    (tmp_path / given.strip('"')).write_text("0.5\n")
    result = invoke("backward", "--input", "[[1, 2], [3, 4]]", "--kernel", given,
                    "--delta", "[[1, 1], [1, 1]]", "-f", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["layers"][0]["output"] == [[0.5, 1.0], [1.5, 2.0]]


@pytest.mark.parametrize("given", [" -inf", "NaN "])
def test_quick_mode_a_spaced_nan_is_a_number_beside_a_file_of_its_name(given, tmp_path,
                                                                      monkeypatch):
    # only a name given whole, bare or over-quoted, names the file
    monkeypatch.chdir(tmp_path)
    (tmp_path / given.strip()).write_text("0.5\n")
    result = invoke("backward", "--input", "[[1, 2], [3, 4]]", "--kernel", given,
                    "--delta", "[[1, 1], [1, 1]]")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: --kernel: '{given.strip()}' is not a finite number (no NaN or infinity)"]


@pytest.mark.parametrize("given", ["Infinity", '"Infinity"'])
def test_quick_mode_a_folder_named_infinity_is_named_as_a_folder(given, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Infinity").mkdir()
    result = invoke("backward", "--input", "[[1, 2], [3, 4]]", "--kernel", given,
                    "--delta", "[[1, 1], [1, 1]]")
    assert result.exit_code == 2
    assert result.output.splitlines() == ["error: --kernel: 'Infinity' is a folder, not a file"]



def test_a_long_digit_run_as_a_float_option_is_refused_at_once(tmp_path):
    # the plain reader's float pattern: a backtracking one took 10 s for 20,000 digits, and
    # time quadratic in the run (this run: minutes), before typer's "must be a number"
    result = invoke("verify", str(WORKED), "--atol", "1" * 100_000 + "x")
    assert result.exit_code == 2
    assert result.output.startswith("error: --atol: ")


LONG_NAME = "a" * 300


@pytest.mark.parametrize("args, words", [
    (["backward", "--input", LONG_NAME + ".csv", "--kernel", "[[1]]", "--delta", "[[1]]"],
     f"--input: '{LONG_NAME}.csv' cannot be read: file name too long"),
    (["generate", LONG_NAME], f"RECIPE: unknown recipe '{LONG_NAME}'"),
    (["generate", "conv1d", "-o", LONG_NAME], "--output: cannot write there: the file name is "
                                               "too long"),
    (["generate", "conv1d", "-o", LONG_NAME + ".json"], "--output: -o takes a folder"),
    (["generate", "conv1d", "-o", LONG_NAME + "/x.json"], "--output: -o takes a folder"),
    (["samples", LONG_NAME], f"NAME: no sample called '{LONG_NAME}'"),
], ids=["backward-input", "generate-recipe", "generate-output", "generate-output-json",
        "generate-output-in-folder", "samples"])
def test_a_name_longer_than_the_system_allows_is_one_error_line(tmp_path, monkeypatch, args,
                                                                 words):
    # asking whether such a file exists raises "File name too long": never an internal error
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    assert "internal error" not in result.output


@pytest.mark.parametrize("options, fields", [
    (["--dilation", "2"], {"dilation": 2}),
    (["--padding", "[1, 0, 2, 1]", "--dilation", "[2, 1]"],
     {"padding": [1, 0, 2, 1], "dilation": [2, 1]}),
    (["--stride", "[1, 2]", "--padding", "same", "--bias", "[0.25]"],
     {"stride": [1, 2], "padding": "same", "bias": [0.25]}),
    # a number as a problem's string holds it, bare or JSON-quoted (it was taken for a file)
    (["--bias", "5/7"], {"bias": "5/7"}),
    (["--bias", '"-0.5"'], {"bias": "-0.5"}),
])
def test_quick_mode_options_mean_the_shorthand_s_fields(tmp_path, monkeypatch, options, fields):
    monkeypatch.chdir(SAMPLES / "csv")
    problem = {"input": {"csv": str(SAMPLES / "csv" / "o.csv")},
               "kernel": {"csv": str(SAMPLES / "csv" / "w.csv")}, **fields}
    # the delta is all ones of the output's shape, which the file form reports first
    (tmp_path / "p.json").write_text(json.dumps(dict(problem, delta=0)))
    shape = invoke("backward", str(tmp_path / "p.json")).output
    rows, cols = map(int, re.search(r"expected shape (\d+)×(\d+)", shape).groups())
    delta = json.dumps([[1] * cols] * rows)
    (tmp_path / "p.json").write_text(json.dumps(dict(problem, delta=json.loads(delta))))
    from_file = invoke("backward", str(tmp_path / "p.json"), "-f", "json")
    quick = invoke("backward", "--input", "o.csv", "--kernel", "w.csv", "--delta", delta,
                   *options, "-f", "json")
    assert from_file.exit_code == quick.exit_code == 0, quick.output
    assert json.loads(quick.output)["layers"] == json.loads(from_file.output)["layers"]


def test_quick_mode_needs_all_three(monkeypatch):
    monkeypatch.chdir(SAMPLES / "csv")
    result = invoke("backward", "--input", "o.csv", "--kernel", "w.csv")
    assert result.exit_code == 2
    assert "--delta" in result.output


def test_problem_from_stdin():
    result = invoke("backward", "-", "-f", "json", input=Path(WORKED).read_text())
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(json.loads(result.output)["layers"][0]["grads"]["kernel"],
                               KERNEL_GRAD, atol=5e-7)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_output_file(tmp_path, fmt):
    target = tmp_path / f"result.{fmt}"
    result = invoke("backward", WORKED, "-f", fmt, "-o", target)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    text = target.read_text()
    assert "\x1b[" not in text
    if fmt == "json":
        assert json.loads(text)["layers"][0]["name"] == "conv2d_1"
    else:
        assert "0.044606" in text
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary left behind


def test_output_refuses_to_overwrite_an_input(tmp_path):
    problem = tmp_path / "p.json"
    shutil.copy(WORKED, problem)
    before = problem.read_text()
    result = invoke("backward", problem, "-o", problem)
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.output
    assert problem.read_text() == before


def test_error_leaves_existing_output_untouched(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("precious")
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": [[1, 2], [3, 4]], "kernel": [[1]], "delta": [[1]]}')
    result = invoke("backward", bad, "-o", target)
    assert result.exit_code == 2
    assert target.read_text() == "precious"


@pytest.mark.parametrize("args, words", [
    (["backward", WORKED, "--format", "xml"], ["--format", "unknown value 'xml'"]),
    (["backward", "no-such-file.json"], ["no-such-file.json"]),
    (["backward"], ["no problem given"]),
    (["forward", WORKED, "--dtype", "float16"], ["--dtype"]),
])
def test_usage_errors_exit_2_with_one_line(args, words):
    result = invoke(*args)
    assert result.exit_code == 2
    first = result.output.strip().splitlines()[0]
    assert first.startswith("error: ")
    for word in words:
        assert word in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, meant", [
    (["backward", WORKED, "--format", "text"], "table"),  # explain's -f text: not 'latex'
    (["forward", WORKED, "-f", "TXT"], "table"),
    (["backward", WORKED, "-f", "md"], "markdown"),
    (["backward", WORKED, "-f", "tex"], "latex"),
    (["gradcheck", WORKED, "-f", "text"], "table"),
])
def test_another_name_of_a_format_is_refused_naming_the_format_meant(args, meant):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.output.startswith(f"error: --format: unknown value '{args[-1]}'; hint: did "
                                    f"you mean '{meant}'? (allowed: ")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("dtype, line", [
    ("float32", "error: --dtype: --exact and --dtype float32 do not go together; hint: --exact "
                "computes in fractions, not in a float dtype: give one of them"),
    # the dtype is checked first: float16 was said to be float32
    ("float16", "error: --dtype: unknown value 'float16'; hint: did you mean 'float64'? "
                "(allowed: float32, float64)"),
])
@pytest.mark.parametrize("problem", [WORKED, "no-such-file.json"])
def test_exact_with_a_float_dtype_is_a_usage_error_before_the_problem_is_read(dtype, line,
                                                                              problem):
    result = invoke("backward", problem, "--exact", "--dtype", dtype)
    assert result.exit_code == 2
    assert result.output == line + "\n"


def test_float32_runs_and_agrees():
    doc = json.loads(invoke("backward", WORKED, "-f", "json", "--dtype", "float32").output)
    np.testing.assert_allclose(doc["layers"][0]["grads"]["kernel"], KERNEL_GRAD, atol=1e-6)


def test_console_script_and_module_entry_points():
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    result = subprocess.run([sys.executable, "-m", "cnngrad", "backward", WORKED, "-f", "json"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["grads"]["kernel"][0][0] == pytest.approx(
        0.044606, abs=5e-7)
    # the script beside this interpreter (a venv's bin/, even when it is not on PATH), else
    # the one on PATH
    beside = Path(sys.executable).parent / ("cnngrad.exe" if os.name == "nt" else "cnngrad")
    script = str(beside) if beside.exists() else shutil.which("cnngrad")
    if script is None:
        pytest.skip("cnngrad is not installed as a console script in this environment")
    result = subprocess.run([script, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and __version__ in result.stdout


def test_backward_help_quick_mode_examples_run_on_the_bundled_csv_files(monkeypatch,
                                                                        tmp_path):
    # the help's examples must work when copied: its quick-mode lines read o.csv, w.csv and
    # d.csv, the files of the stackexchange-csv sample, where its preamble's "cnngrad
    # samples NAME --to samples" puts them (samples/csv/: they read o.csv from the folder
    # they were run in)
    import shlex

    text = invoke("backward", "--help").output
    lines = [line.strip() for line in text.splitlines()]
    examples = []
    for k, line in enumerate(lines):
        if line.startswith("cnngrad backward --input"):
            while line.endswith("\\"):
                k += 1
                line = line[:-1] + " " + lines[k]
            examples.append(shlex.split(line)[1:])
    assert len(examples) == 2
    monkeypatch.chdir(tmp_path)
    assert invoke("samples", "stackexchange-csv", "--to", "samples").exit_code == 0
    for example in examples:
        result = invoke(*example)
        assert result.exit_code == 0, (example, result.output)
        assert "dE/dw (kernel gradient)" in result.output


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck", "explain"])
def test_a_missing_bundled_sample_path_says_how_to_get_it(tmp_path, monkeypatch, command):
    # an installed cnngrad run outside a checkout: the help's samples/... paths are not there
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "samples/stackexchange.json")
    assert result.exit_code == 2
    assert "error: samples/stackexchange.json: no such file" in result.output
    hint = ("hint: stackexchange is a bundled sample: `cnngrad samples stackexchange --to "
            "samples` saves it as samples/stackexchange.json, with its answers files")
    assert hint in " ".join(result.output.split())
    # and the hint's command does what it says: the command runs as it was typed
    assert invoke("samples", "stackexchange", "--to", "samples").exit_code == 0
    assert invoke(command, "samples/stackexchange.json").exit_code == 0


def test_a_bare_missing_sample_name_is_saved_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", "stackexchange-csv.json")
    assert ("hint: stackexchange-csv is a bundled sample: `cnngrad samples stackexchange-csv "
            "--to .` saves it as stackexchange-csv.json") in " ".join(result.output.split())
    assert "answers" not in result.output


@pytest.mark.parametrize("typed", ["stackexchange", "sub/stackexchange"])
def test_a_sample_name_as_the_list_shows_it_says_how_to_get_the_file(tmp_path, monkeypatch,
                                                                    typed):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", typed)
    assert result.exit_code == 2
    folder = str(Path(typed).parent)
    assert (f"hint: stackexchange is a bundled sample: `cnngrad samples stackexchange --to "
            f"{folder}` saves it as {Path(folder) / 'stackexchange.json'}, with its answers "
            f"files; then give {Path(folder) / 'stackexchange.json'}, not {typed}"
            ) in " ".join(result.output.split())
    assert invoke("samples", "stackexchange", "--to", folder).exit_code == 0
    assert invoke("backward", f"{typed}.json").exit_code == 0
    assert "hint" not in invoke("backward", "no-such-sample").output


@pytest.mark.parametrize("answers", [["samples/exam/*.json"],
                                     ["samples/exam/ana.json", "samples/exam/ben.json"]])
def test_missing_bundled_answers_say_how_to_get_them(tmp_path, monkeypatch, answers):
    """The README's exam command in an empty folder: the problem's hint, then (the problem
    there) the answers files' hint; each hint's command makes the command as typed work."""
    monkeypatch.chdir(tmp_path)
    command = ["check", "samples/exam.json", *answers]
    assert "`cnngrad samples exam --to samples` saves it as samples/exam.json, with its " \
           "answers files" in " ".join(invoke(*command).output.split())
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "exam.json").write_bytes((SAMPLES / "exam.json").read_bytes())
    result = invoke(*command)
    assert result.exit_code == 2
    hint = ("hint: the exam sample's answers files ship with cnngrad: `cnngrad samples exam "
            "--to samples` copies them with the problem")
    # once per file on standard error (a grade sheet's error rows say it again)
    assert " ".join(result.stderr.split()).count(hint) == len(answers)
    assert invoke("samples", "exam", "--to", "samples", "--force").exit_code == 0
    assert invoke("check", "samples/exam.json", *(
        sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "samples/exam").glob("*.json"))
        if "*" in answers[0] else answers)).exit_code == 1  # graded: some answers are wrong


def test_a_missing_answers_file_that_is_no_sample_gets_no_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("check", str(SAMPLES / "exam.json"), "exam/zed.json")
    assert result.exit_code == 2 and "no such file" in result.output
    assert "hint" not in result.output


def test_a_missing_file_that_is_no_sample_gets_no_sample_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", "net.json")
    assert result.exit_code == 2
    assert "no such file" in result.output and "bundled" not in result.output


def test_check_help_shows_how_to_turn_its_on_flags_off():
    # --diagnose is on by default: its help must name --no-diagnose, the way to turn it off
    text = " ".join(invoke("check", "--help").output.split())
    assert "[default: on; --no-diagnose turns it off]" in text
    assert "[--no-carry-forward turns it off]" in text
    wrong = SAMPLES / "answers" / "stackexchange-wrong.json"
    assert "→ matches" in invoke("check", WORKED, wrong).output
    assert "→ matches" not in invoke("check", WORKED, wrong, "--no-diagnose").output


@pytest.mark.parametrize("args, line", [
    (("--input", "o.csv", "--kernel", "w.csv", "--delta", "d.csv"),
     "error: --input: no such file 'o.csv'"),
    (("--input", "[[1, 2], [3, 4]]", "--kernel", "k.npy", "--delta", "[[1]]"),
     "error: --kernel: no such file 'k.npy'"),
    (("--input", "[[1, 2], [3, 4]]", "--kernel", "[[1]]", "--delta", "[[1]]"),
     "error: --delta: expected shape 2×2"),
    (("--input", "[[1, 2], [3, 4]]", "--kernel", "[[1]]", "--delta", "[[1, 2], [3, 4]]",
      "--lr", "abc"), "error: --lr: 'abc' is not a number"),
])
def test_a_command_line_error_names_the_option_as_its_place(tmp_path, monkeypatch, args, line):
    # like `error: --decimals: ...`: the option is the place; no "(command line)" file
    # and no key of the document the options were turned into (--input.csv)
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", *args)
    assert result.exit_code == 2
    assert result.output.splitlines()[0].startswith(line), result.output
    assert "(command line)" not in result.output


@pytest.mark.parametrize("word, hint", [
    ("sam", "did you mean 'same'? (allowed: same, valid)"),
    ("SAME", "did you mean 'same'? (allowed: same, valid)"),
    ("wide", "allowed: same, valid"),
])
def test_quick_mode_padding_words_are_checked_as_a_problem_file_s(tmp_path, monkeypatch, word,
                                                                   hint):
    # --padding sam reads as "padding": "sam" does: the words named, the closest suggested
    monkeypatch.chdir(tmp_path)
    quick = ("--input", "[[1, 2], [3, 4]]", "--kernel", "[[1]]", "--delta", "[[1, 2], [3, 4]]")
    result = invoke("backward", *quick, "--padding", word)
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: --padding: unknown padding '{word}'; hint: {hint}"], result.output
    (tmp_path / "p.json").write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": [[1]],
                                                 "delta": [[1, 2], [3, 4]], "padding": word}))
    in_file = invoke("backward", "p.json")
    assert in_file.exit_code == 2
    assert in_file.output.splitlines() == [
        f"error: p.json: padding: unknown padding '{word}'; hint: {hint}"], in_file.output
    assert invoke("backward", *quick, "--padding", "valid").exit_code == 0
    # a number that is not JSON is still said to be one
    bad = invoke("backward", *quick, "--padding", "[1, 2")
    assert "error: --padding: expected an integer or a JSON list, got '[1, 2'" in bad.output


def test_a_check_tolerance_error_names_the_option_as_its_place():
    result = invoke("check", WORKED, str(SAMPLES / "answers" / "stackexchange-answers.json"),
                    "--atol", "tiny")
    assert result.exit_code == 2
    assert "error: --atol: 'tiny' is not a number" in result.output, result.output


# --------------------------------------------------------------------------- the loss line


def _classifier(tmp_path, batched: bool, loss: str, target) -> str:
    """A 1×2×2 image (or a batch of two) → flatten → dense → [log_softmax] → ``loss``."""
    image = [[[1, 0], [2, -1]]]
    doc = {"input": [image, [[[0, 1], [1, 1]]]] if batched else image,
           "layers": [{"type": "flatten"},
                      {"type": "dense", "weights": [[0.5, -1, 0, 0.25], [1, 0.5, -0.5, 0]],
                       "bias": [0, 0.1]},
                      *([{"type": "log_softmax"}] if loss == "nll" else [])],
           "loss": {"type": loss, "target": target}}
    path = tmp_path / f"{loss}-{'batched' if batched else 'one'}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("loss, target, batched, line", [
    ("cross_entropy", 1, False, "(cross_entropy of one sample, no batch axis)"),
    ("cross_entropy", [0.25, 0.75], False, "(cross_entropy of one sample, no batch axis)"),
    ("nll", 0, False, "(nll of one sample, no batch axis)"),
    ("cross_entropy", [1, 0], True, "(cross_entropy, mean over batch)"),
    ("cross_entropy", [[0.5, 0.5], [0, 1]], True, "(cross_entropy, mean over batch)"),
    ("nll", [1, 0], True, "(nll, mean over batch)"),
])
def test_the_loss_line_says_whether_it_is_a_mean_over_a_batch(tmp_path, loss, target,
                                                              batched, line):
    # an input without a batch axis is one sample: its loss is that sample's, not a mean
    problem = _classifier(tmp_path, batched, loss, target)
    for fmt in ("table", "markdown"):
        result = invoke("backward", problem, "-f", fmt)
        assert result.exit_code == 0, result.output
        assert line in result.output
    notes = " ".join(json.loads(invoke("explain", problem, "loss", "-f", "json").output)
                     ["notes"])
    gradient = json.loads(invoke("explain", problem, "dense_1.delta_out[0]" if not batched
                                 else "dense_1.delta_out[0,0]", "-f", "json").output)
    if loss == "nll":
        gradient = json.loads(invoke("explain", problem, "log_softmax_1.delta_out[0]"
                                     if not batched else "log_softmax_1.delta_out[0,0]",
                                     "-f", "json").output)
    said = " ".join(gradient["notes"]) + " " + notes
    assert ("no batch axis" in said) is not batched
    assert ("mean over the batch of 2" in said or "averages over the batch of 2" in said or
            "(N = 2)" in said) is batched


def _readme_examples(formats=("--format json", "--format latex", "--format text", "-f text")):
    """README's ``$ cnngrad ...`` examples whose output does not depend on the terminal's
    width (no pipe, a json, latex or text format), each with the lines it shows."""
    lines = (SAMPLES.parent / "README.md").read_text(encoding="utf-8").splitlines()
    examples = []
    for number, line in enumerate(lines):
        if not line.startswith("$ cnngrad ") or "|" in line or not any(
                option in line for option in formats):
            continue
        shown = []
        for following in lines[number + 1:]:
            if following.startswith(("$ ", "```")):
                break
            if following.strip() not in ("", "..."):
                shown.append(following.rstrip())
        examples.append((line[2:], shown))
    return examples


@pytest.mark.parametrize("command, shown", _readme_examples())
def test_readme_examples_print_the_lines_the_readme_shows(command, shown, monkeypatch):
    import shlex

    monkeypatch.chdir(SAMPLES.parent)
    result = invoke(*shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    printed = [line.rstrip() for line in result.stdout.splitlines()]
    assert shown, command
    assert [line for line in shown if line not in printed] == []


def test_readme_command_table_lists_every_backward_format():
    from cnngrad.cli.common import REPORT_FORMATS

    readme = (SAMPLES.parent / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `cnngrad backward"))
    listed = row.split("`--format ", 1)[1].split("`", 1)[0].split("\\|")
    assert listed == list(REPORT_FORMATS)


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck"])
@pytest.mark.parametrize("sample", ["stackexchange.json", "pool-ties.json"])
def test_every_report_is_headed_with_the_command_and_the_title(command, sample):
    problem = json.loads((SAMPLES / sample).read_text(encoding="utf-8"))
    result = invoke(command, SAMPLES / sample)
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"cnngrad {command} · {problem['title'][:40]}")


@pytest.mark.parametrize("module", ["cnngrad.bench_explain", "cnngrad.bench_grading",
                                    "cnngrad.generate.bench", "cnngrad.verify.bench"])
def test_benchmark_help_says_what_it_does_in_whole_sentences(module, capsys):
    from cnngrad.cli.bench import ENTRIES

    main = ENTRIES[module]
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]  # after the usage lines
    assert description.rstrip().endswith("."), description
    assert "``" in description or "python -m" in description, description


def test_verify_has_no_exact_mode_and_says_so():
    result = invoke("verify", "mine.py:f", "--op", "conv2d_backward", "--exact")
    assert result.exit_code == 2
    assert result.output == (
        "error: --exact: no such option; hint: verify has no exact mode: your function "
        "computes in floats, and its results are held to cnngrad's within --rtol and --atol\n")


@pytest.mark.parametrize("command, option, hint", [
    ("forward", "--lr",
     "forward computes no gradients, so no SGD step; for the parameters after one step: "
     "cnngrad backward PROBLEM --lr RATE"),
    ("forward", "--show-steps",
     "the intermediate matrices are backward's: cnngrad backward PROBLEM --show-steps; "
     "for how one output was computed: cnngrad explain PROBLEM <layer>.output[i,j]"),
    ("explain", "--show-steps",
     "explain always shows every step of its one number; the intermediate matrices of a "
     "whole layer are backward's: cnngrad backward PROBLEM --show-steps"),
    # click's closest spelling of backward's --full is --lr
    ("check", "--full",
     "check shows every cell of each tensor answered (with several answers files, --details "
     "shows them); every value of a large result is backward's: cnngrad backward PROBLEM "
     "--full"),
    ("explain", "--full",
     "explain takes one number apart, and --all-terms lists every term of it; every value "
     "of a large result is backward's: cnngrad backward PROBLEM --full"),
    ("gradcheck", "--full",
     "gradcheck checks every element and shows a row for each tensor; every value of a "
     "large result is backward's: cnngrad backward PROBLEM --full"),
    # click's closest spellings, --rtol and --atol, are tolerances
    ("gradcheck", "--lr",
     "gradcheck checks the gradients, it takes no SGD step; for the parameters after one "
     "step: cnngrad backward PROBLEM --lr RATE"),
])
def test_backwards_options_asked_of_forward_and_explain_point_to_backward(command, option, hint):
    # click's closest spelling of --lr is --help or --full, which mean something else
    result = invoke(command, SAMPLES / "stackexchange.json", option)
    assert result.exit_code == 2
    assert result.output == f"error: {option}: no such option; hint: {hint}\n"


@pytest.mark.parametrize("command", ["forward", "gradcheck", "explain"])
@pytest.mark.parametrize("option", ["--input", "--kernel", "--delta", "--stride"])
def test_quick_mode_asked_of_another_command_points_to_backward(command, option):
    # click's closest spelling of --input is --output: no use to someone wanting quick mode
    result = invoke(command, option, "o.csv")
    assert result.exit_code == 2
    assert result.output == (
        f"error: {option}: no such option; hint: quick mode (--input, --kernel, --delta, ...) "
        f"is backward's alone: cnngrad backward --input o.csv --kernel w.csv --delta d.csv "
        f"(-f json gives the conv's output too); {command} reads a problem file, and "
        f'{{"input": ..., "kernel": ..., "delta": ...}} is a whole one\n')


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck", "check"])
@pytest.mark.parametrize("option, key", [("--groups", "groups"),
                                         ("--padding-mode", "padding_mode")])
def test_a_conv_field_asked_as_an_option_goes_in_the_problem_files_layer(command, option, key):
    # click's closest spellings were --output and --padding
    args = (["--input", "[[1, 2], [3, 4]]", "--kernel", "[[1]]", "--delta", "[[1, 1], [1, 1]]"]
            if command == "backward" else [SAMPLES / "stackexchange.json"])
    result = invoke(command, *args, option, "2")
    assert result.exit_code == 2
    quick = (" (quick mode takes only --input, --kernel, --delta, --bias, --stride, --padding, "
             "--dilation, --flip-kernel)" if command == "backward" else "")
    assert result.output == (
        f"error: {option}: no such option; hint: '{key}' is a conv2d layer field: give it in "
        f'the problem file\'s layer, "layers": [{{"type": "conv2d", ..., "{key}": ...}}]'
        f"{quick}\n")


def test_a_class_index_out_of_range_is_written_in_full(tmp_path):
    # 1234567 was shown as 1.23457e+06, a number the problem does not hold
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [0.2, 0.5, 0.3],
                                   "layers": [{"type": "dense", "weights": np.eye(3).tolist()}],
                                   "loss": {"type": "cross_entropy", "target": 1234567}}),
                       encoding="utf-8")
    result = invoke("backward", problem)
    assert result.exit_code == 2
    assert "loss.target: class index 1234567 out of range" in result.output
    # and its half is not a whole number, which 1.23457e+06 hid
    problem.write_text(problem.read_text().replace("1234567", "1234567.5"), encoding="utf-8")
    result = invoke("backward", problem)
    assert "loss.target: class index 1234567.5 is not a whole number" in result.output


@pytest.mark.parametrize("option, hint", [
    ("--one-base", "--one-based"),  # not --bias beside it, far behind
    ("--decimal", "--decimals"),
    ("--ful", "--full"),
])
def test_a_misspelt_option_gets_only_the_closest_spellings(option, hint):
    result = invoke("backward", SAMPLES / "stackexchange.json", option)
    assert result.exit_code == 2
    assert result.output == f"error: {option}: no such option; hint: did you mean {hint}?\n"


def test_a_default_of_zero_is_shown_in_the_help():
    # 0 == False: the help must still say verify's battery is seeded with 0 by default
    text = " ".join(invoke("verify", "--help").output.split())
    assert "--seed N Seed of the battery's values. [default: 0; at least 0]" in text


@pytest.mark.parametrize("where, in_what", [
    ("", ""), ("layers[0]", " in a relu layer"), ("loss", " in an mse loss")])
@pytest.mark.parametrize("key, value, rate", [
    ("lr", 0.1, "0.1"), ("learning_rate", "1/10", "1/10"), ("eta", 0.01, "0.01")])
def test_a_learning_rate_in_the_problem_file_points_to_the_lr_option(tmp_path, key, value,
                                                                      rate, where, in_what):
    # "did you mean 'layers'?" used to send a learning rate the wrong way, at the top; in a
    # layer or the loss, the keys the object allows were listed instead
    problem = {"input": [1, 2], "layers": [{"type": "relu"}],
               "loss": {"type": "mse", "target": [1, 1]}}
    {"": problem, "layers[0]": problem["layers"][0], "loss": problem["loss"]}[where][key] = value
    path = tmp_path / "p.json"
    path.write_text(json.dumps(problem), encoding="utf-8")
    result = invoke("backward", path)
    assert result.exit_code == 2
    place = f"{where}.{key}" if where else key
    assert result.output.endswith(
        f": {place}: unknown key '{key}'{in_what}; hint: the learning rate is an option, not "
        f"part of the problem: --lr {rate} (backward, explain and check take it)\n"), \
        result.output


@pytest.mark.parametrize("command", ["backward", "check"])
def test_a_tensor_written_as_a_string_is_told_to_drop_its_quotes(tmp_path, command):
    problem = {"input": "[[1, 2], [3, 4]]", "kernel": [[1]], "delta": [[1, 0], [0, 1]]}
    answers = {"conv2d_1.grads.kernel": "[[0.0446, 0.0941], [0.0113, 0.0683]]"}
    files = [(tmp_path / "p.json", problem)] if command == "backward" else [
        (SAMPLES / "stackexchange.json", None), (tmp_path / "a.json", answers)]
    for path, doc in files:
        if doc is not None:
            path.write_text(json.dumps(doc), encoding="utf-8")
    result = invoke(command, *(path for path, _ in files))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.endswith(
        "is not a number; hint: a tensor is nested JSON lists: drop the quotes around it\n")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal for standard input")
@pytest.mark.parametrize("command", ["backward", "gradcheck"])
def test_problem_dash_on_a_terminal_says_what_it_waits_for(command):
    # `cnngrad backward -` typed at a prompt used to wait silently (then under a progress
    # bar drawn over what was typed): it now says to paste the JSON and end with Ctrl-D
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(SAMPLES.parent)}
    process = subprocess.Popen([sys.executable, "-m", "cnngrad", command, "-", "-f", "json"],
                               stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, cwd=SAMPLES.parent, text=True)
    os.close(slave)
    try:
        os.write(master, b'{"input": [[1, 2], [3, 4]], "kernel": [[1]], '
                         b'"delta": [[1, 0], [0, 1]]}\n\x04')
        out, err = process.communicate(timeout=60)
    finally:
        os.close(master)
    assert process.returncode == 0, err
    assert err == ("reading the problem from standard input: type or paste its JSON, then "
                   "Ctrl-D on a line of its own (Ctrl-C to stop)\n")
    assert json.loads(out)


def test_problem_dash_from_a_pipe_reads_without_a_word():
    result = invoke("backward", "-", "-f", "json",
                    input=(SAMPLES / "stackexchange.json").read_text(encoding="utf-8"))
    assert result.exit_code == 0
    assert result.stderr == "" and json.loads(result.stdout)["layers"]


def test_forward_runs_no_layer_backward_and_prints_what_a_whole_run_would(monkeypatch):
    import cnngrad.network as network

    problem = str(SAMPLES / "stackexchange-network.json")
    whole = json.loads(invoke("backward", problem, "--format", "json").output)
    computed = []
    real = network.backward

    def spy(layers, delta, **options):
        result = real(layers, delta, **options)
        computed.append([layer.delta_in is not None for layer in layers])
        return result

    monkeypatch.setattr(network, "backward", spy)
    result = invoke("forward", problem, "--format", "json")
    assert result.exit_code == 0, result.output
    assert len(computed) == 1 and computed[0] and not any(computed[0])
    shown = json.loads(result.output)
    assert shown["loss"] == whole["loss"]
    assert [layer["output"] for layer in shown["layers"]] == \
        [layer["output"] for layer in whole["layers"]]


@pytest.mark.parametrize("command", [["forward"], ["backward"], ["explain", None,
                                                                 "conv2d_1.grads.kernel[0,0]"],
                                     ["explain", None, "dense_1.output[0]"]])
def test_the_progress_bar_counts_the_steps_the_run_takes(monkeypatch, command):
    from cnngrad.cli import progress

    counted = []

    class Counting(progress.DelayedProgress):
        calls = 0

        def __call__(self, description):
            self.calls += 1
            super().__call__(description)

        def __exit__(self, *exc):
            counted.append((self.calls, self.total))
            return super().__exit__(*exc)

    monkeypatch.setattr(progress, "DelayedProgress", Counting)
    problem = str(SAMPLES / "stackexchange-network.json")
    args = [problem if a is None else a for a in command]
    result = invoke(*args, *([problem] if len(args) == 1 else []))
    assert result.exit_code == 0, result.output
    # the run's bar (a later one, writing the report, counts no total)
    runs = [(calls, total) for calls, total in counted if total is not None]
    assert len(runs) == 1 and runs[0][0] == runs[0][1], counted


def test_a_misspelt_command_gets_its_suggestion_as_the_hint():
    # as a misspelt option does (--fromat → "hint: did you mean --format?"), not inside the
    # message with a full stop before the hint
    result = invoke("backwards", WORKED)
    assert result.exit_code == 2
    assert result.output == "error: no such command 'backwards'; hint: did you mean 'backward'?\n"
    unknown = invoke("frobnicate")
    assert unknown.exit_code == 2
    assert unknown.output == ("error: no such command 'frobnicate'; hint: cnngrad -h shows the "
                              "usage and the options\n")


@pytest.mark.parametrize("word, hint", [
    # 'version' used to be told "did you mean 'verify'?"
    ("version", "cnngrad --version prints the version"),
    ("Version", "cnngrad --version prints the version"),
    ("help", "cnngrad -h lists the commands; each has its own, cnngrad backward -h")])
def test_the_programs_own_options_asked_as_commands_name_the_option(word, hint):
    result = invoke(word)
    assert result.exit_code == 2
    assert result.output == f"error: no such command '{word}'; hint: {hint}\n"


@pytest.mark.parametrize("command", ["backward", "forward"])
def test_the_help_saves_the_samples_where_its_examples_read_them(command, tmp_path, monkeypatch):
    # the help's own way to get a sample, done in an empty folder, makes its examples run
    import re
    import shlex

    text = invoke(command, "-h").output
    howto = re.search(r"Examples \((cnngrad samples NAME[^)]*?) saves", text)[1]
    names = sorted(set(re.findall(rf"cnngrad {command} samples/([\w-]+)\.json", text)))
    assert names
    monkeypatch.chdir(tmp_path)
    for name in names:
        args = shlex.split(howto.replace("NAME", name))[1:]
        target = args[args.index(">") + 1] if ">" in args else None
        saved = invoke(*(args[:args.index(">")] if target else args))
        assert saved.exit_code == 0, saved.output
        if target:
            Path(target).write_text(saved.output, encoding="utf-8")
        result = invoke(command, f"samples/{name}.json")
        assert result.exit_code == 0, (howto, result.output)


@pytest.mark.parametrize("args, same_as", [
    (["backward", SAMPLES / "stackexchange.json", "--format", "JSON"],
     ["backward", SAMPLES / "stackexchange.json", "--format", "json"]),
    (["backward", SAMPLES / "stackexchange.json", "--dtype", "Float32"],
     ["backward", SAMPLES / "stackexchange.json", "--dtype", "float32"]),
    # read as float64 throughout: any value but "float64" itself used to compute in float32
    (["backward", SAMPLES / "stackexchange.json", "--dtype", "Float64", "-f", "json"],
     ["backward", SAMPLES / "stackexchange.json", "-f", "json"]),
    (["forward", SAMPLES / "stackexchange-network.json", "--dtype", "FLOAT64", "-f", "json"],
     ["forward", SAMPLES / "stackexchange-network.json", "-f", "json"]),
    (["backward", SAMPLES / "stackexchange.json", "--dtype", "Float64", "--exact"],
     ["backward", SAMPLES / "stackexchange.json", "--exact"]),
    (["explain", SAMPLES / "stackexchange.json", "conv2d_1.grads.kernel[0,0]", "-f", "TEXT"],
     ["explain", SAMPLES / "stackexchange.json", "conv2d_1.grads.kernel[0,0]", "-f", "text"]),
])
def test_an_option_s_value_is_read_in_any_case(args, same_as):
    # --format JSON was refused ("did you mean 'json'?") where -o R.JSON is json
    result, expected = invoke(*args), invoke(*same_as)
    assert result.exit_code == expected.exit_code == 0, result.output
    assert result.stdout == expected.stdout


def test_generate_s_number_style_is_read_in_any_case(tmp_path):
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    assert invoke("generate", "seed", "--seed", 3, "--numbers", "2DP", "-o", upper).exit_code == 0
    assert invoke("generate", "seed", "--seed", 3, "--numbers", "2dp", "-o", lower).exit_code == 0
    assert (upper / "problem.json").read_bytes() == (lower / "problem.json").read_bytes()


def test_an_unknown_value_in_any_case_still_lists_the_allowed():
    result = invoke("backward", SAMPLES / "stackexchange.json", "--format", "JSN")
    assert result.exit_code == 2
    assert result.output == ("error: --format: unknown value 'JSN'; hint: did you mean "
                             "'json'? (allowed: csv, json, latex, markdown, npz, table)\n")


_BN_PROBLEM = {
    "input": [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]],
    "layers": [{"type": "conv2d", "kernel": [[[[1, 0], [0, -1]]], [[[0.5, 0.5], [0.2, 0.1]]]],
                "bias": [0.1, -0.2]},
               {"type": "batchnorm2d"}],
    "loss": {"type": "mse", "target": [[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.1], [0.2, 0.3]]]}}


@pytest.mark.parametrize("problem, said", [
    ("dls-nhwc.json", "exactly 0 for any numbers: one number added to every input of the "
                      "cross_entropy loss changes nothing; these digits are float rounding"),
    (_BN_PROBLEM, "exactly 0 for any numbers: batchnorm2d in training mode takes each "
                  "channel's mean away, the bias with it; these digits are float rounding"),
    # eval mode keeps the bias: no note
    ({**_BN_PROBLEM, "layers": [_BN_PROBLEM["layers"][0],
                                {"type": "batchnorm2d", "mode": "eval",
                                 "running_mean": [0, 0], "running_var": [1, 1]}]}, None),
    # a bias per class moves the classes apart: its gradient is not 0
    ("batched-cross-entropy.json", None),
])
def test_a_bias_gradient_zero_whatever_the_numbers_is_said_to_be_rounding(tmp_path, problem,
                                                                          said):
    # dls-nhwc's shared dense bias came out as "dE/db (bias gradient): -8.32667e-17" alone
    if isinstance(problem, dict):
        path = tmp_path / "p.json"
        path.write_text(json.dumps(problem))
    else:
        path = SAMPLES / problem
    result = invoke("backward", str(path))
    assert result.exit_code == 0, result.output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())
    if said is None:
        assert "for any numbers" not in text
    else:
        assert "dE/db (bias gradient" in text and said in text
        # the note wraps to its panel's width: a line as long as the note would widen the
        # panel, and one wrapped at a fixed 48 broke up on a 40-column terminal
        lines = result.stdout.splitlines()
        at = next(k for k, line in enumerate(lines) if "exactly 0 for" in line)
        assert len(lines[at]) == len(lines[at - 1])  # as wide as its panel, no wider
        narrow = CliRunner().invoke(app, ["backward", str(path)], env={"COLUMNS": "40"})
        assert max(map(len, narrow.stdout.splitlines())) <= 40
        assert said in " ".join(re.sub(r"[│╭╮╰╯─]", " ", narrow.stdout).split())


def test_a_problem_redirected_from_a_file_is_never_overwritten(tmp_path):
    # `cnngrad backward - -o p.json < p.json` replaced the problem with its own result
    problem = tmp_path / "p.json"
    problem.write_text(Path(WORKED).read_text())
    before = problem.read_bytes()
    with open(problem, "rb") as stdin:
        refused = subprocess.run([sys.executable, "-m", "cnngrad", "backward", "-", "-o",
                                  str(problem), "--format", "json"], stdin=stdin,
                                 capture_output=True, text=True)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr == (f"error: {problem}: --output: refusing to overwrite one of the "
                              f"problem's own input files\n")
    assert problem.read_bytes() == before
    # another file, or the problem piped in, is written as before
    with open(problem, "rb") as stdin:
        written = subprocess.run([sys.executable, "-m", "cnngrad", "backward", "-", "-o",
                                  str(tmp_path / "r.json")], stdin=stdin, capture_output=True)
    assert written.returncode == 0 and (tmp_path / "r.json").exists()


def test_answers_redirected_from_a_file_are_never_overwritten(tmp_path):
    # `check p.json - -o a.json < a.json` replaced the student's answers with the grade report
    answers = tmp_path / "a.json"
    answers.write_text((SAMPLES / "answers" / "stackexchange-answers.json").read_text())
    before = answers.read_bytes()
    with open(answers, "rb") as stdin:
        refused = subprocess.run([sys.executable, "-m", "cnngrad", "check", WORKED, "-", "-o",
                                  str(answers)], stdin=stdin, capture_output=True, text=True)
    assert refused.returncode == 2
    assert refused.stderr == f"error: {answers}: --output: refusing to overwrite an answers file\n"
    assert answers.read_bytes() == before


@pytest.mark.parametrize("value, shown", [
    (1234567.5, "1234567.5"), (1.0000001, "1.0000001"), (1234567, "1234567"),
    # a float sum's noise stays out of view, as 6 digits kept it (row sums of probabilities)
    (0.1 + 0.2, "0.3"), (0.7999999999999999, "0.8"), (1.0000999999999063, "1.0001"),
    (-2.5, "-2.5"), (1e-7, "1e-07"), (1e300, "1e+300"),
    # exact values past 40 decimal places, as written, not as p/q of 51 digits
    (Fraction(1, 10**50), "1e-50"), (Fraction(-1, 10**300), "-1e-300"),
    (Fraction(10**30 + 1, 10**45), "1.000000000000000000000000000001e-15"),
    (Fraction(1, 3), "1/3")])
def test_an_error_writes_a_number_with_the_digits_that_make_it_what_it_is(value, shown):
    from cnngrad.families.base import written_text

    assert written_text(value) == shown


@pytest.mark.parametrize("option, value, place", [
    ("--stride", "2", "as a conv layer's \"stride\""),
    ("--input", "[[1, 2], [3, 4]]", "as \"input\""),
    ("--delta", "[[1]]", "as \"delta\" (or gives a \"loss\")"),
    ("--flip-kernel", None, "as a conv layer's \"flip_kernel\""),
])
def test_a_quick_option_beside_a_problem_file_says_where_the_file_sets_it(option, value,
                                                                           place):
    result = invoke("backward", WORKED, option, *([value] if value is not None else []))
    assert result.exit_code == 2
    assert result.stderr == (f"error: options: {option} builds a problem from the command "
                             f"line; do not give a problem file too; hint: a problem file sets "
                             f"it {place}; drop the file to build a one-conv problem from the "
                             f"options\n")
