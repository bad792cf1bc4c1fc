"""The human formats (csv, latex, markdown, the heatmap tables, --save-svg), --decimals,
NO_COLOR, --exact end to end and --lr, through the command line as a user runs them."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from itertools import product
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.network import run
from cnngrad.problem import build_problem, load_problem
from cnngrad.render.csv_result import render_csv
from cnngrad.render.latex import TOO_WIDE, latex_number, render_latex, text_label
from cnngrad.render.markdown import render_markdown
from cnngrad.render.numbers import fmt_exact_decimal
from cnngrad.render.tables import (HEAT_STYLES, WINNER_MARK, heat_style, largest_magnitude,
                                   maxpool_winners)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WORKED = SAMPLES / "stackexchange.json"
NETWORK = SAMPLES / "stackexchange-network.json"
MULTI = SAMPLES / "multichannel.json"
TIES = SAMPLES / "pool-ties.json"
EXACT_SAMPLES = ("stackexchange.json", "stackexchange-csv.json", "multichannel.json",
                 "pool-ties.json")
INEXACT_SAMPLES = {"stackexchange-network.json": "layers[4]: sigmoid",
                   "batched-cross-entropy.json": "loss: cross_entropy"}
TEXT_FORMATS = ("csv", "latex", "markdown")

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


def ok(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def write_problem(tmp_path: Path, doc: dict, name: str = "p.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def as_exact(value):
    """A JSON result leaf of --exact ("p/q" or "p") → Fraction; nested lists stay nested."""
    if isinstance(value, list):
        return [as_exact(v) for v in value]
    assert isinstance(value, str), f"exact results are strings, got {value!r}"
    assert re.fullmatch(r"-?\d+(/\d+)?", value), value
    return Fraction(value)


def leaves(doc: dict):
    """(path, value) of every tensor of a JSON result, as Trace.tensors() names them."""
    yield "loss", doc["loss"]
    for layer in doc["layers"]:
        for part in ("output", "delta_out", "delta_in"):
            if isinstance(layer.get(part), dict):  # add/concat: one delta per input
                for source, value in layer[part].items():
                    yield f"{layer['name']}.{part}.{source}", value
            elif part in layer:
                yield f"{layer['name']}.{part}", layer[part]
        for group in ("grads", "updated"):
            for key, value in layer.get(group, {}).items():
                yield f"{layer['name']}.{group}.{key}", value


# --------------------------------------------------------------------------- CSV


def parse_csv_blocks(text: str) -> dict[str, np.ndarray]:
    """'# path' then rows → {path: 2-D float array}."""
    blocks: dict[str, list] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("# "):
            current = line[2:]
            blocks[current] = []
        elif line:
            blocks[current].append([float(Fraction(cell)) for cell in line.split(",")])
    return {path: np.array(rows) for path, rows in blocks.items()}


def test_csv_worked_example_literally():
    text = ok("backward", WORKED, "--format", "csv")
    assert "# conv2d_1.grads.kernel\n0.044606,0.094061\n0.011262,0.068288\n" in text
    assert "# conv2d_1.delta_in\n0.000000,0.000000,-0.008918,0.010290,0.000000\n" in text
    assert "# loss" not in text  # the problem gives delta: no loss to show
    assert text.startswith("# conv2d_1.output\n0.249100,-0.164800,0.265200,-0.340600\n")
    assert "\n\n# conv2d_1.delta_out\n" in text  # a blank line between blocks


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_csv_holds_every_tensor_of_the_json_result(sample):
    """Each leading index of a 3-D/4-D tensor is its own block, named by the element path;
    together the blocks are the JSON result at 6 decimals."""
    doc = json.loads(ok("backward", SAMPLES / sample, "--format", "json", "--lr", "0.1"))
    blocks = parse_csv_blocks(ok("backward", SAMPLES / sample, "--format", "csv", "--lr", "0.1"))
    expected_paths = []
    for path, value in leaves(doc):
        if value is None:
            continue
        array = np.asarray(value, dtype=float)
        if array.ndim <= 2:
            expected_paths.append(path)
            np.testing.assert_allclose(blocks[path], np.atleast_2d(array), atol=5e-7, rtol=0)
            continue
        for index in product(*(range(s) for s in array.shape[:-2])):
            name = f"{path}[{','.join(map(str, index))}]"
            expected_paths.append(name)
            np.testing.assert_allclose(blocks[name], array[index], atol=5e-7, rtol=0)
    assert list(blocks) == expected_paths


def test_csv_paths_of_higher_rank_tensors_and_scalars():
    text = ok("backward", MULTI, "--format", "csv")
    for f, c in product(range(2), range(3)):
        assert f"# conv.grads.kernel[{f},{c}]\n" in text
    assert "# conv.grads.bias\n" in text  # a vector: one row
    bias_rows = text.split("# conv.grads.bias\n")[1].split("\n\n")[0].splitlines()
    assert len(bias_rows) == 1 and len(bias_rows[0].split(",")) == 2
    network = ok("backward", NETWORK, "--format", "csv")
    assert network.startswith("# loss\n0.178821\n\n")  # a number: one line
    assert "# conv2d_1.grads.bias\n-0.102452\n" in network


def test_forward_csv_has_only_outputs_and_the_loss():
    text = ok("forward", NETWORK, "--format", "csv")
    paths = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    assert paths == ["loss", "conv2d_1.output", "maxpool2d_1.output", "flatten_1.output",
                     "dense_1.output", "sigmoid_1.output"]
    assert "# flatten_1.output\n0.309200,0.265200,0.606900,0.189200\n" in text


# --------------------------------------------------------------------------- LaTeX


def test_latex_worked_example_literally():
    text = ok("backward", WORKED, "--format", "latex")
    assert text.startswith("% cnngrad backward · Worked example")
    assert ("\\[ \\text{conv2d\\_1.grads.kernel} = \\begin{bmatrix}\n"
            "  0.044606 & 0.094061 \\\\\n"
            "  0.011262 & 0.068288\n"
            "\\end{bmatrix} \\]") in text
    assert text.count("\\begin{bmatrix}") == text.count("\\end{bmatrix}") == 4
    assert "MaxMatrixCols" not in text  # nothing wider than amsmath's 10 columns


def test_latex_higher_rank_scalars_and_exact():
    text = ok("backward", MULTI, "--format", "latex", "--exact")
    assert "\\text{conv.grads.kernel[1,2]} = \\begin{bmatrix}" in text
    assert "\\frac{" in text and "/" not in text.split("\n", 1)[1]  # fractions, never p/q
    worked = ok("backward", WORKED, "--format", "latex", "--exact")
    assert "\\frac{22303}{500000} & \\frac{94061}{1000000}" in worked
    network = ok("backward", NETWORK, "--format", "latex")
    assert "\\[ \\text{loss} = 0.178821 \\]" in network
    assert "\\[ \\text{conv2d\\_1.grads.bias} = -0.102452 \\]" in network


@pytest.mark.parametrize("value, plain, expected", [
    (Fraction(-1, 3), "-1/3", "-\\frac{1}{3}"),
    (Fraction(5), "5", "5"),
    (0, "0", "0"),  # an exact array's int 0
    (1.5e-7, "1.50000e-07", "1.50000 \\times 10^{-7}"),
    (-2.5e13, "-2.50000e+13", "-2.50000 \\times 10^{13}"),
    (0.25, "0.250000", "0.250000"),
])
def test_latex_numbers(value, plain, expected):
    assert latex_number(value, plain) == expected


def test_latex_escapes_labels_and_widens_matrices(tmp_path):
    assert text_label("a_b#c%d&e{f}") == "a\\_b\\#c\\%d\\&e\\{f\\}"
    doc = {"input": [[0.5 * i for i in range(12)]], "layers": [{"type": "relu"}],
           "delta": [[1] * 12]}
    text = ok("backward", write_problem(tmp_path, doc), "--format", "latex")
    assert "\\setcounter{MaxMatrixCols}{12}" in text


def test_latex_scientific_notation_for_tiny_tensors(tmp_path):
    doc = {"input": [[1e-9, 2e-9]], "layers": [{"type": "relu"}], "delta": [[1, 1]]}
    text = ok("forward", write_problem(tmp_path, doc), "--format", "latex")
    assert "1.00000 \\times 10^{-9} & 2.00000 \\times 10^{-9}" in text


# --------------------------------------------------------------------------- Markdown


def test_markdown_worked_example_literally():
    text = ok("backward", WORKED, "--format", "markdown")
    assert text.startswith("# cnngrad backward · Worked example: conv backprop with a known "
                           "upstream delta\n\nNo loss:")
    assert "## conv2d_1 · conv2d (layer 1 of 1)" in text
    assert ("**`conv2d_1.grads.kernel`** (2×2)\n\n"
            "|   | 0 | 1 |\n"
            "|--:|--:|--:|\n"
            "| **0** | 0.044606 | 0.094061 |\n"
            "| **1** | 0.011262 | 0.068288 |") in text


def test_markdown_loss_vectors_and_exact():
    network = ok("backward", NETWORK, "--format", "markdown")
    assert "**loss** E = 0.178821 (mse, half_sum)" in network
    assert "**`conv2d_1.grads.bias`** = -0.102452" in network
    assert "**`flatten_1.output`** (4)\n\n|   | 0 | 1 | 2 | 3 |\n|--:|--:|--:|--:|--:|\n" \
           "|  | 0.309200 | 0.265200 | 0.606900 | 0.189200 |" in network
    exact = ok("backward", WORKED, "--format", "markdown", "--exact")
    assert "| **0** | 22303/500000 = 0.044606 | 94061/1000000 = 0.094061 |" in exact
    multi = ok("forward", MULTI, "--format", "markdown")
    assert "**`conv.output[1]`**" in multi and "delta_in" not in multi


# --------------------------------------------------------------------------- --decimals


@pytest.mark.parametrize("fmt, expected", [
    ("table", "0.045   0.094"),
    ("csv", "0.045,0.094"),
    ("latex", "0.045 & 0.094"),
    ("markdown", "| **0** | 0.045 | 0.094 |"),
])
@pytest.mark.parametrize("decimals", [3])
def test_decimals_apply_to_every_human_format(fmt, expected, decimals):
    text = ok("backward", WORKED, "--format", fmt, "--decimals", decimals)
    assert expected in text
    assert "0.044606" not in text


HALVES = {"input": [[0.125, -0.375, 2.5, 0.145]], "layers": [{"type": "leaky_relu",
                                                               "slope": 1}],
          "delta": [[1, 1, 1, 1]]}


def row_as(fmt: str, cells: list[str]) -> str:
    """One row of cells as ``fmt`` writes it (the table's columns three spaces apart)."""
    if fmt == "markdown":
        return "| " + " | ".join(cells) + " |"
    return {"table": "   ", "csv": ",", "latex": " & "}[fmt].join(cells)


@pytest.mark.parametrize("fmt", ["table", "csv", "latex", "markdown"])
def test_a_float_halfway_at_the_decimals_rounds_away_from_zero(tmp_path, fmt):
    # 0.125 and -0.375 are exact binary halves: a float's formatting rounds them to even
    # (0.12, -0.38), the decimal beside --exact's 1/8 a half away from zero (0.13); 0.145 is
    # held as 0.14499999999999999, below the half, in every format
    problem = write_problem(tmp_path, HALVES)
    assert row_as(fmt, ["0.13", "-0.38", "2.50", "0.14"]) in ok("forward", problem, "--format",
                                                                fmt, "--decimals", 2)
    assert "1/8 ≈0.13" in ok("forward", problem, "--exact", "--decimals", 2)


def test_a_float_halfway_rounds_away_from_zero_at_every_decimals(tmp_path):
    problem = write_problem(tmp_path, {"input": [[0.5, -2.5, 0.0625]], "layers": [
        {"type": "leaky_relu", "slope": 1}], "delta": [[1, 1, 1]]})
    assert "# leaky_relu_1.output\n1,-3,0\n" in ok("forward", problem, "--format", "csv",
                                                  "--decimals", 0)
    assert "0.500,-2.500,0.063" in ok("forward", problem, "--format", "csv", "--decimals", 3)


@pytest.mark.parametrize("fmt", ["table", "csv", "latex", "markdown"])
def test_a_big_float_halfway_rounds_from_its_own_digits(tmp_path, fmt):
    # 10000000000.0078125 is a half at 6 decimals, and its ulp (2^-19) is more than a
    # millionth: one ulp away from zero wrote 10000000000.007814
    problem = write_problem(tmp_path, {"input": [["10000000000.0078125", "-10000000000.0078125"]],
                                       "layers": [{"type": "leaky_relu", "slope": 1}],
                                       "delta": [[1, 1]]})
    assert row_as(fmt, ["10000000000.007813", "-10000000000.007813"]) in ok(
        "forward", problem, "--format", fmt)


def test_a_float_halfway_at_17_decimals_reads_back_as_itself(tmp_path):
    # 0.5 + 2^-18 is 0.500003814697265625: a half at 17 decimals, one ulp off gave …574
    problem = write_problem(tmp_path, {"input": [[0.5 + 2**-18]], "layers": [
        {"type": "leaky_relu", "slope": 1}], "delta": [[1]]})
    text = ok("forward", problem, "--format", "csv", "--decimals", 17)
    assert text == "# leaky_relu_1.output\n0.50000381469726563\n"
    assert float("0.50000381469726563") == 0.5 + 2**-18


def test_decimals_leave_json_at_full_precision():
    doc = json.loads(ok("backward", WORKED, "--format", "json", "--decimals", "2"))
    assert doc["layers"][0]["grads"]["kernel"][0][0] == pytest.approx(0.044606, abs=1e-12)


# --------------------------------------------------------------------------- heatmap, colour


@pytest.mark.parametrize("value, scale, expected", [
    (0.0, 1.0, ""),
    (1.0, 0.0, ""),
    (0.1, 1.0, HEAT_STYLES[1][0]),
    (0.5, 1.0, HEAT_STYLES[1][1]),
    (1.0, 1.0, HEAT_STYLES[1][2]),
    (-0.2, 1.0, HEAT_STYLES[-1][0]),
    (-0.9, 1.0, HEAT_STYLES[-1][2]),
    (Fraction(-1, 2), Fraction(1, 1), HEAT_STYLES[-1][1]),
    (float("nan"), 1.0, ""),
])
def test_heat_style_by_sign_and_size(value, scale, expected):
    assert heat_style(value, scale) == expected


def test_heat_shades_are_blue_for_positive_and_red_for_negative():
    assert all("#" in style and "on" in style for styles in HEAT_STYLES.values()
               for style in styles)
    assert HEAT_STYLES[1] != HEAT_STYLES[-1]
    assert largest_magnitude(np.array([[0.5, -2.0], [np.inf, 1.0]])) == 2.0
    assert largest_magnitude(np.array([Fraction(-3, 2), 0], dtype=object)) == 1.5


SGR = re.compile(r"\x1b\[([0-9;]*)m")


def colour_codes(text: str) -> list[int]:
    """The SGR parameters that set a colour (30–49, 90–107; 38/48 extended)."""
    codes = []
    for params in SGR.findall(text):
        for part in filter(None, params.split(";")):
            n = int(part)
            if 30 <= n <= 49 or 90 <= n <= 107:
                codes.append(n)
    return codes


def test_tables_in_files_and_pipes_have_no_escape_codes(tmp_path):
    out = tmp_path / "report.txt"
    ok("backward", TIES, "-o", out)
    text = out.read_text(encoding="utf-8")
    assert "\x1b" not in text and "*0.500000" in text
    assert "\x1b" not in ok("backward", NETWORK)


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    from cnngrad.cli.common import render_rich
    from cnngrad.render.tables import backward_report

    trace = run(load_problem(str(TIES)))
    monkeypatch.setattr("sys.stdout", type("Tty", (io.StringIO,), {"isatty": lambda s: True})())
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = render_rich(backward_report(trace), to_file=False)
    assert colour_codes(coloured), "a terminal gets the heatmap"
    monkeypatch.setenv("NO_COLOR", "1")
    plain = render_rich(backward_report(trace), to_file=False)
    assert colour_codes(plain) == []
    assert "*0.500000" in SGR.sub("", plain)  # the winner mark reads without colour
    assert "\x1b" not in render_rich(backward_report(trace), to_file=True)


# --------------------------------------------------------------------------- max-pool winners


def test_maxpool_winners_marked_in_the_input_delta():
    text = ok("backward", TIES)
    rows = [line for line in text.splitlines() if re.match(r"│ [0-3] ", line)]
    delta_in = rows[-4:]
    assert "*0.500000" in delta_in[0] and "*-1.000000" in delta_in[0]
    assert "*2.000000" in delta_in[2] and "*0.250000" in delta_in[2]
    assert sum(line.count(WINNER_MARK) for line in delta_in) == 4
    assert "* max-pool winner: the cell a window's maximum came from" in text


def test_winners_of_the_next_max_pool_marked_in_the_forward_output():
    text = ok("forward", NETWORK)
    conv_panel = text.split("maxpool2d_1 · maxpool2d")[0]
    for value in ("*0.265200", "*0.309200", "*0.606900", "*0.189200"):
        assert value in conv_panel
    assert conv_panel.count(WINNER_MARK + "0.") + conv_panel.count(WINNER_MARK + "-") == 4


@pytest.mark.parametrize("ties, winners", [
    ("first", [(0, 1), (0, 2), (2, 1), (2, 2)]),
    ("all", [(0, 1), (1, 0), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (3, 1), (2, 2), (3, 3)]),
])
def test_winners_of_a_max_pool_reading_the_input_marked_in_the_input(tmp_path, ties, winners):
    # the pool is the first layer: its input is the problem's, shown first with the marks
    doc = json.loads(TIES.read_text(encoding="utf-8"))
    doc["layers"][0]["ties"] = ties
    problem = tmp_path / "ties.json"
    problem.write_text(json.dumps(doc), encoding="utf-8")
    text = ok("forward", problem)
    input_panel, rest = text.split("maxpool2d_1 · maxpool2d", 1)
    assert "input · the problem's input" in input_panel and "read by maxpool2d_1" in input_panel
    rows = [line for line in input_panel.splitlines() if re.match(r"│ [0-3] ", line)]
    marked = [(i, j) for i, row in enumerate(rows)
              for j, cell in enumerate(row.strip("│ ").split()[1:]) if cell.startswith("*")]
    assert sorted(marked) == sorted(winners)
    assert "* max-pool winner" in input_panel and WINNER_MARK not in rest


def test_no_input_panel_when_no_max_pool_reads_the_input():
    text = ok("forward", NETWORK)
    assert "the problem's input" not in text and text.split("\n", 1)[1].startswith("╭─ conv2d_1")


def naive_winners(x: np.ndarray, size: int, ties: str) -> np.ndarray:
    """Plain loops: the cells holding each window's maximum (the first one for ties='first')."""
    n, c, h, w = x.shape
    marks = np.zeros(x.shape, dtype=bool)
    for b, ch, i, j in product(range(n), range(c), range(h // size), range(w // size)):
        window = x[b, ch, i * size:(i + 1) * size, j * size:(j + 1) * size]
        cells = [(r, s) for r in range(size) for s in range(size) if window[r, s] == window.max()]
        for r, s in cells[:1] if ties == "first" else cells:
            marks[b, ch, i * size + r, j * size + s] = True
    return marks


@pytest.mark.parametrize("ties", ["first", "split", "all"])
@pytest.mark.parametrize("seed", [0, 1])
def test_maxpool_winners_match_a_naive_argmax(ties, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(2, 2, 4, 6)).tolist()  # small integers: many ties
    doc = {"input": x, "layers": [{"type": "maxpool2d", "size": 2, "ties": ties}],
           "delta": np.ones((2, 2, 2, 3)).tolist()}
    trace = run(build_problem(doc, file="t", base_dir=Path(".")))
    np.testing.assert_array_equal(maxpool_winners(trace.layers[0]),
                                  naive_winners(np.array(x, dtype=float), 2, ties))


# --------------------------------------------------------------------------- --save-svg


@pytest.mark.parametrize("command, sample", [("backward", WORKED), ("forward", NETWORK)])
def test_save_svg_writes_the_report_as_a_picture(tmp_path, command, sample):
    svg = tmp_path / "report.svg"
    stdout = ok(command, sample, "--format", "json", "--save-svg", svg)
    json.loads(stdout)  # the chosen format still goes to standard output
    picture = svg.read_text(encoding="utf-8")
    assert picture.lstrip().startswith("<svg") and picture.rstrip().endswith("</svg>")
    assert ("0.044606" if command == "backward" else "0.309200") in picture
    assert any(colour in picture for styles in HEAT_STYLES.values() for style in styles
               for colour in re.findall(r"#[0-9a-f]{6}", style))  # in colour, always
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically


def test_save_svg_into_a_missing_folder_is_a_usage_error(tmp_path):
    result = invoke("backward", WORKED, "--save-svg", tmp_path / "no" / "such.svg")
    assert result.exit_code == 2
    assert "--save-svg" in result.output and "does not exist" in result.output


@pytest.mark.parametrize("command", ["backward", "forward"])
@pytest.mark.parametrize("name, says", [
    ("report.png", "saves an SVG picture, not a .png file; hint: name it report.svg"),
    ("report.PDF", "saves an SVG picture, not a .PDF file; hint: name it report.svg"),
    ("report", "saves an SVG picture, in a file named .svg; hint: name it report.svg"),
    ("report.svg.png", "saves an SVG picture, not a .png file; hint: name it report.svg"),
    ("report.", "saves an SVG picture, in a file named .svg; hint: name it report.svg")])
def test_save_svg_to_a_file_not_named_svg_is_refused(tmp_path, monkeypatch, command, name,
                                                     says):
    # an image viewer opens report.png by its name and finds SVG text in it
    monkeypatch.chdir(tmp_path)
    result = invoke(command, WORKED, "--save-svg", name)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {name}: --save-svg: {says}"
    assert list(tmp_path.iterdir()) == []
    assert ok(command, WORKED, "--save-svg", "report.SVG")  # any case of .svg
    assert ok(command, WORKED, "--save-svg", os.devnull)  # a device, whatever its name


def test_save_svg_to_dev_stdout_redirected_to_a_file_is_a_device(tmp_path):
    # /dev/stdout led os.stat to the regular file behind it: refused as not named .svg
    picture = tmp_path / "pic.out"
    with open(picture, "w") as out:
        done = subprocess.run([sys.executable, "-m", "cnngrad", "backward", WORKED, "-o",
                               str(tmp_path / "r.txt"), "--save-svg", "/dev/stdout"],
                              stdout=out, stderr=subprocess.PIPE, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert picture.read_text(encoding="utf-8").startswith("<svg")


def test_save_svg_with_a_trailing_slash_names_the_missing_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", WORKED, "--save-svg", "x.svg/")
    assert result.exit_code == 2
    assert "folder 'x.svg' does not exist" in result.stderr, result.stderr


def test_output_files_respect_the_umask(tmp_path):
    out = tmp_path / "r.csv"
    previous = os.umask(0o022)
    try:
        ok("backward", WORKED, "--format", "csv", "-o", out)
    finally:
        os.umask(previous)
    assert out.stat().st_mode & 0o777 == 0o644  # not the temporary file's 0600


# --------------------------------------------------------------------------- --exact


def test_exact_worked_example_decimals_equal_the_float_results():
    exact = json.loads(ok("backward", WORKED, "--format", "json", "--exact"))
    floats = json.loads(ok("backward", WORKED, "--format", "json"))
    for (path, e), (_, f) in zip(leaves(exact), leaves(floats)):
        if e is None:
            continue
        fractions = np.array(as_exact(e), dtype=object)
        np.testing.assert_allclose(fractions.astype(float), np.array(f), atol=1e-15, rtol=1e-12,
                                   err_msg=path)
    kernel = exact["layers"][0]["grads"]["kernel"]
    assert kernel == [["22303/500000", "94061/1000000"], ["5631/500000", "1067/15625"]]
    table = ok("backward", WORKED, "--exact")
    assert "22303/500000 =0.044606" in table and "1067/15625 =0.068288" in table


@pytest.mark.parametrize("fmt, cell", [("table", "3/10 =0.30000000000000000"),
                                       ("markdown", "3/10 = 0.30000000000000000")])
def test_the_decimal_beside_an_exact_value_has_no_float_digits(tmp_path, fmt, cell):
    # it was the float's: 3/10 ≈ 0.29999999999999999 at --decimals 17
    problem = write_problem(tmp_path, {"input": [[1, 2]], "kernel": [["3/10"]],
                                       "delta": [[1, "1/10"]]})
    text = ok("forward", problem, "--exact", "--decimals", "17", "--format", fmt)
    assert cell in text and "9999999" not in text


@pytest.mark.parametrize("value, decimals, text", [
    (Fraction(3, 10), 17, "0.30000000000000000"), (Fraction(29, 200), 2, "0.15"),
    (Fraction(-29, 200), 2, "-0.15"), (Fraction(1, 3), 6, "0.333333"), (Fraction(0), 2, "0.00"),
    (Fraction(-37431869, 3), 12, "-12477289.666666666667"), (Fraction(7, 2), 0, "4"),
    (Fraction(1, 10**9), 6, "1.00000e-09"), (Fraction(-3, 10**7), 3, "-3.00e-07"),
    (Fraction(10**14, 3), 6, "3.33333e+13"), (Fraction(99999995, 10**15), 6, "1.00000e-07")])
def test_fmt_exact_decimal_rounds_the_fraction_itself(value, decimals, text):
    assert fmt_exact_decimal(value, decimals) == text


@pytest.mark.parametrize("sample", EXACT_SAMPLES)
def test_every_rational_sample_runs_exactly_with_strings_only(sample):
    doc = json.loads(ok("backward", SAMPLES / sample, "--format", "json", "--exact",
                        "--lr", "1/10"))
    floats = json.loads(ok("backward", SAMPLES / sample, "--format", "json", "--lr", "0.1"))
    for (path, e), (_, f) in zip(leaves(doc), leaves(floats)):
        if e is None:
            assert f is None
            continue
        np.testing.assert_allclose(np.array(as_exact(e), dtype=object).astype(float),
                                   np.array(f), atol=1e-12, err_msg=path)


def test_exact_zeros_and_integers_print_as_p():
    doc = json.loads(ok("backward", TIES, "--format", "json", "--exact"))
    (layer,) = doc["layers"]
    assert layer["output"] == [["3", "2"], ["1", "5"]]
    assert layer["delta_in"][0] == ["0", "1/2", "-1", "0"]
    table = ok("backward", TIES, "--exact")
    assert "0.000000" not in table  # an exact zero is 0


@pytest.mark.parametrize("sample, where", sorted(INEXACT_SAMPLES.items()))
def test_exact_refuses_irrational_layers_naming_them(sample, where):
    result = invoke("backward", SAMPLES / sample, "--exact")
    assert result.exit_code == 2
    assert where in result.output and "--exact" in result.output


@pytest.mark.parametrize("layer", ["sigmoid", "tanh"])
def test_exact_refuses_sigmoid_and_tanh_anywhere(tmp_path, layer):
    doc = {"input": [[1, 2], [3, 4]], "layers": [{"type": "relu"}, {"type": layer}],
           "delta": [[1, 1], [1, 1]]}
    result = invoke("forward", write_problem(tmp_path, doc), "--exact")
    assert result.exit_code == 2
    assert f"layers[1]: {layer} is not rational" in result.output


def test_exact_by_hand_avgpool_leaky_relu_and_mean_mse(tmp_path):
    """Hand-computed: avgpool divisors 4 (count_include_pad) and 1 (not), slope 1/10 at a
    negative input, mse mean over 4 elements."""
    doc = {"input": [["-1/3", 2], [3, "0.51"]],
           "layers": [{"type": "leaky_relu", "slope": "1/10"},
                      {"type": "avgpool2d", "size": 2, "stride": 2, "padding": 1}],
           "loss": {"type": "mse", "target": [[0, 0], [0, 0]], "reduction": "mean"}}
    out = json.loads(ok("backward", write_problem(tmp_path, doc), "--format", "json", "--exact"))
    relu, pool = out["layers"]
    assert relu["output"] == [["-1/30", "2"], ["3", "51/100"]]
    # each 2×2 window holds one real cell and 3 padded ones: y = x/4
    assert pool["output"] == [["-1/120", "1/2"], ["3/4", "51/400"]]
    # E = mean(y²); dE/dy = 2y/4 = y/2; dE/dx = (y/2)/4 = y/8
    y = [Fraction(-1, 120), Fraction(1, 2), Fraction(3, 4), Fraction(51, 400)]
    assert Fraction(out["loss"]) == sum(v * v for v in y) / 4
    assert as_exact(pool["delta_in"]) == [[y[0] / 8, y[1] / 8], [y[2] / 8, y[3] / 8]]
    # leaky relu: the negative input's delta is scaled by the slope
    assert as_exact(relu["delta_in"]) == [[y[0] / 80, y[1] / 8], [y[2] / 8, y[3] / 8]]
    doc["layers"][1]["count_include_pad"] = False
    out = json.loads(ok("forward", write_problem(tmp_path, doc), "--format", "json", "--exact"))
    assert out["layers"][1]["output"] == [["-1/30", "2"], ["3", "51/100"]]


def test_exact_and_float32_do_not_mix():
    result = invoke("backward", WORKED, "--exact", "--dtype", "float32")
    assert result.exit_code == 2 and "--dtype" in result.output


# --------------------------------------------------------------------------- --lr


def test_lr_table_shows_each_parameter_after_one_step():
    table = ok("backward", NETWORK, "--lr", "0.1")
    assert "kernel after one SGD step (lr = 0.1)" in table
    assert "bias after one SGD step (lr = 0.1): 0.010245" in table
    assert "weights after one SGD step" in table
    assert "after one SGD step" not in ok("backward", NETWORK)


@pytest.mark.parametrize("options, shown", [
    (["--lr", "0.5", "--decimals", "0"], "lr = 0.5"),  # was "lr = 1", rounded to 0 decimals
    (["--lr", "0.123456789"], "lr = 0.123456789"), (["--lr", "2"], "lr = 2"),
    (["--lr", "1/3", "--exact"], "lr = 1/3")])
def test_the_table_shows_the_learning_rate_as_given(options, shown):
    assert f"kernel after one SGD step ({shown})" in ok("backward", WORKED, *options)


def test_lr_json_updated_only_with_lr_and_equal_to_the_step():
    plain = json.loads(ok("backward", NETWORK, "--format", "json"))
    assert all("updated" not in layer for layer in plain["layers"])
    stepped = json.loads(ok("backward", NETWORK, "--format", "json", "--lr", "0.1"))
    problem = json.loads(NETWORK.read_text(encoding="utf-8"))
    for layer, given in zip(stepped["layers"], problem["layers"]):
        assert set(layer["updated"]) == set(layer["grads"])
        for key, grad in layer["grads"].items():
            np.testing.assert_allclose(layer["updated"][key],
                                       np.array(given[key]) - 0.1 * np.array(grad), atol=1e-15)


def test_lr_exact_is_a_fraction_step():
    doc = json.loads(ok("backward", WORKED, "--format", "json", "--exact", "--lr", "1/10"))
    updated = as_exact(doc["layers"][0]["updated"]["kernel"])
    grads = as_exact(doc["layers"][0]["grads"]["kernel"])
    kernel = [[Fraction("-0.13"), Fraction("0.15")], [Fraction("-0.51"), Fraction("0.62")]]
    assert updated == [[k - Fraction(1, 10) * g for k, g in zip(kr, gr)]
                       for kr, gr in zip(kernel, grads)]
    assert updated[0][0] == Fraction(-672303, 5000000)
    table = ok("backward", WORKED, "--exact", "--lr", "0.1")
    assert "kernel after one SGD step (lr = 1/10)" in table
    for fmt in TEXT_FORMATS:
        assert "updated.kernel" in ok("backward", WORKED, "--format", fmt, "--lr", "0.1")


def test_bad_lr_is_a_usage_error():
    result = invoke("backward", WORKED, "--lr", "fast")
    assert result.exit_code == 2 and "--lr" in result.output


# --------------------------------------------------------------------------- renderers


@pytest.mark.parametrize("render", [render_csv, render_latex, render_markdown])
def test_renderers_are_pure_strings_ending_in_a_newline(render):
    trace = run(load_problem(str(WORKED)))
    text = render(trace, 6)
    assert isinstance(text, str) and text.endswith("\n") and not text.endswith("\n\n\n")
    assert render(trace, 6) == text  # no state


@pytest.mark.parametrize("fmt", TEXT_FORMATS + ("table",))
def test_unknown_or_forward_formats(fmt):
    assert ok("forward", WORKED, "--format", fmt)
    result = invoke("backward", WORKED, "--format", "html")
    assert result.exit_code == 2 and "allowed:" in result.output


# --------------------------------------------------------------------------- -o's suffix


@pytest.mark.parametrize("command, sample", [("backward", WORKED), ("forward", NETWORK)])
@pytest.mark.parametrize("suffix, fmt", [(".json", "json"), (".csv", "csv"),
                                         (".md", "markdown"), (".tex", "latex"),
                                         (".JSON", "json"), (".markdown", "markdown"),
                                         (".latex", "latex")])
def test_without_format_the_output_file_suffix_chooses_it(tmp_path, command, sample, suffix,
                                                          fmt):
    target = tmp_path / f"result{suffix}"
    ok(command, sample, "-o", target)
    assert target.read_text(encoding="utf-8") == ok(command, sample, "--format", fmt)


@pytest.mark.parametrize("command, sample, key", [
    ("backward", WORKED, "conv2d_1.grads.kernel"), ("forward", NETWORK, "dense_1.output")])
def test_an_npz_output_file_is_written_as_npz(tmp_path, command, sample, key):
    ok(command, sample, "-o", tmp_path / "result.npz")
    assert (tmp_path / "result.npz").read_bytes()[:2] == b"PK"
    with np.load(tmp_path / "result.npz") as saved:
        assert key in saved.files


@pytest.mark.parametrize("name", ["report.txt", "report", "report.html", "report.json.bak"])
def test_other_suffixes_keep_the_table(tmp_path, name):
    ok("backward", WORKED, "-o", tmp_path / name)
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert text.startswith("cnngrad backward · Worked example: conv backprop with a known "
                           "upstream delta\n")


def test_an_explicit_format_wins_over_the_suffix(tmp_path):
    ok("backward", WORKED, "--format", "table", "-o", tmp_path / "x.json")
    assert (tmp_path / "x.json").read_text(encoding="utf-8").startswith("cnngrad backward · ")
    ok("backward", WORKED, "-f", "csv", "-o", tmp_path / "x.npz")
    assert (tmp_path / "x.npz").read_text(encoding="utf-8").startswith("# conv2d_1.output\n")


def test_each_command_takes_only_its_own_formats_from_the_suffix(tmp_path):
    answers = SAMPLES / "answers" / "stackexchange-answers.json"
    ok("gradcheck", TIES, "-o", tmp_path / "g.json")
    assert json.loads((tmp_path / "g.json").read_text())["kink_counts"][0]["count"] == 4
    # gradcheck has no csv: the table's boxes in a .csv file would surprise; refused
    refused = invoke("gradcheck", TIES, "-o", tmp_path / "g.csv")
    assert refused.exit_code == 2 and not (tmp_path / "g.csv").exists()
    assert refused.stderr.splitlines()[-1] == (
        f"error: {tmp_path / 'g.csv'}: --output: cnngrad gradcheck writes json or table, not "
        f"CSV (.csv); hint: -o {tmp_path / 'g'}.txt writes the report as text; --format table "
        "writes it to this file anyway")
    ok("gradcheck", TIES, "--format", "table", "-o", tmp_path / "g.csv")
    assert (tmp_path / "g.csv").read_text(encoding="utf-8").startswith("cnngrad gradcheck · ")
    # .txt: explain's plain text, without the panel's boxes
    ok("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "-o", tmp_path / "e.txt")
    assert "╭" not in (tmp_path / "e.txt").read_text(encoding="utf-8")
    ok("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "-o", tmp_path / "e.json")
    assert json.loads((tmp_path / "e.json").read_text())["path"] == \
        "conv2d_1.grads.kernel[0,0]"
    ok("check", WORKED, answers, "-o", tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text(encoding="utf-8").startswith(
        "student,file,status,right,total,score,")
    ok("check", WORKED, answers, "-o", tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["cnngrad"]
    assert invoke("check", WORKED, answers, "-o", tmp_path / "c.md").exit_code == 2
    ok("check", WORKED, answers, "-o", tmp_path / "c.txt")  # check has no text: the table
    # (the headline names both files: a long checkout path wraps it after the "·")
    assert (tmp_path / "c.txt").read_text(encoding="utf-8").startswith("cnngrad check ·")
    ok("verify", SAMPLES / "verify" / "conv_right.py:conv2d_backward", "--op",
       "conv2d_backward", "-o", tmp_path / "v.json")
    assert json.loads((tmp_path / "v.json").read_text())["op"] == "conv2d_backward"


@pytest.mark.parametrize("args, line", [
    (("-o", "r.npz", "--exact"),
     'error: r.npz: --output: an .npz file holds floats, not the exact fractions of --exact; '
     'hint: drop --exact to save float64 arrays, or write JSON (exact values as "p/q"): '
     '-o result.json'),
    (("-o", "r.json", "--show-steps"),
     "error: --show-steps: it adds to the tables only, and -o r.json writes json (from its "
     "suffix); hint: add --format table to write the tables with the steps to r.json"),
])
def test_refusals_of_a_format_from_the_suffix_name_the_output_file(tmp_path, monkeypatch,
                                                                   args, line):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", WORKED, *args)
    assert result.exit_code == 2
    assert result.output == line + "\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, line", [
    (("backward", WORKED, "-o", "pool.svg"),
     "error: pool.svg: --output: -o writes the report as text, not an SVG picture; hint: "
     "--save-svg pool.svg saves the tables as an SVG picture; --format table writes the text "
     "report to it anyway"),
    (("forward", NETWORK, "-o", "NET.SVG"),
     "error: NET.SVG: --output: -o writes the report as text, not an SVG picture; hint: "
     "--save-svg NET.SVG saves the tables as an SVG picture; --format table writes the text "
     "report to it anyway"),
    (("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "-o", "e.svg"),
     "error: e.svg: --output: -o writes the report as text, not an SVG picture; hint: "
     "--format table writes the text report to it anyway"),
    # --save-svg already given: its hint used to say "--save-svg p.svg saves the tables"
    (("backward", WORKED, "--save-svg", "p.svg", "-o", "p.svg"),
     "error: p.svg: --save-svg: is also the --output file, which it would replace; hint: "
     "give --save-svg and --output different files"),
    (("forward", NETWORK, "--save-svg", "p.svg", "-o", "r.svg"),
     "error: r.svg: --output: -o writes the report as text, not an SVG picture; hint: "
     "--format table writes the text report to it anyway"),
    # -o grades.xlsx used to write the text table into a file a spreadsheet cannot open
    (("check", WORKED, SAMPLES / "answers" / "stackexchange-answers.json", "-o", "grades.xlsx"),
     "error: grades.xlsx: --output: -o writes text, not a spreadsheet (.xlsx); hint: -o "
     "grades.csv writes CSV, which a spreadsheet opens; --format table writes the text report "
     "to it anyway"),
    (("backward", WORKED, "-o", "out.PDF"),
     "error: out.PDF: --output: -o writes text, not a PDF (.pdf); hint: -o out.tex writes "
     "LaTeX, which pdflatex makes a PDF of; --format table writes the text report to it "
     "anyway"),
    (("backward", WORKED, "-o", "out.png"),
     "error: out.png: --output: -o writes text, not a picture (.png); hint: --save-svg out.svg "
     "saves the tables as an SVG picture; --format table writes the text report to it "
     "anyway"),
    (("backward", WORKED, "-o", "out.tiff"),
     "error: out.tiff: --output: -o writes text, not a picture (.tiff); hint: --save-svg "
     "out.svg saves the tables as an SVG picture; --format table writes the text report to it "
     "anyway"),
    # --save-svg already given: not suggested again
    (("backward", WORKED, "-o", "out.png", "--save-svg", "pic.svg"),
     "error: out.png: --output: -o writes text, not a picture (.png); hint: --format table "
     "writes the text report to it anyway"),
    (("forward", NETWORK, "-o", "slides.pptx"),
     "error: slides.pptx: --output: -o writes text, not a presentation (.pptx); hint: "
     "--format table writes the text report to it anyway"),
    # a command without CSV, LaTeX or pictures: the table only
    (("gradcheck", WORKED, "-o", "g.ods"),
     "error: g.ods: --output: -o writes text, not a spreadsheet (.ods); hint: --format table "
     "writes the text report to it anyway"),
    (("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "-o", "e.docx"),
     "error: e.docx: --output: -o writes text, not a word-processor document (.docx); hint: "
     "--format table writes the text report to it anyway"),
    # -o grads.npy wrote the table, which np.load then took for pickled data
    (("backward", WORKED, "-o", "grads.npy"),
     "error: grads.npy: --output: -o writes text or an .npz archive, not a NumPy array "
     "(.npy); hint: -o "
     "grads.npz writes every tensor as a NumPy .npz archive; --format table writes the text "
     "report to it anyway"),
    (("forward", WORKED, "-o", "out.h5"),
     "error: out.h5: --output: -o writes text or an .npz archive, not an HDF5 file (.h5); "
     "hint: -o out.npz writes "
     "every tensor as a NumPy .npz archive; --format table writes the text report to it "
     "anyway"),
    # a command without npz: .npz is no format of its own
    (("gradcheck", WORKED, "-o", "g.npz"),
     "error: g.npz: --output: -o writes text, not a NumPy archive (.npz); hint: -o g.json "
     "writes JSON, which a script reads; --format table writes the text report to it anyway"),
    (("check", WORKED, SAMPLES / "answers" / "stackexchange-answers.json", "-o", "g.pkl"),
     "error: g.pkl: --output: -o writes text, not a pickle (.pkl); hint: -o g.json writes "
     "JSON, which a script reads; --format table writes the text report to it anyway"),
])
def test_an_output_file_that_is_not_text_is_refused(tmp_path, monkeypatch, args, line):
    # a text report in a file named .svg is no picture: -o pool.svg used to write the table
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.output == line + "\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["grades.xlsx", "out.PDF", "out.png", "e.docx"])
def test_an_output_file_that_is_not_text_takes_the_table_when_asked(tmp_path, name):
    ok("backward", WORKED, "--format", "table", "-o", tmp_path / name)
    assert (tmp_path / name).read_text(encoding="utf-8").startswith("cnngrad backward · ")


def test_an_svg_named_file_takes_the_table_when_asked_and_save_svg_the_picture(tmp_path):
    ok("backward", WORKED, "--format", "table", "-o", tmp_path / "r.svg")
    assert (tmp_path / "r.svg").read_text(encoding="utf-8").startswith("cnngrad backward · ")
    ok("backward", WORKED, "--save-svg", tmp_path / "p.svg", "-o", tmp_path / "r.txt")
    assert (tmp_path / "p.svg").read_text(encoding="utf-8").startswith("<svg ")


def test_one_file_twice_is_found_in_one_pass_over_the_targets(tmp_path, monkeypatch):
    # a class writes thousands of files at once: each target is looked at once (pair by pair,
    # 200 students' 1,401 files took 16 s), and a hard link is the same file as its original
    from cnngrad.cli import output
    from cnngrad.errors import UsageError

    looked = []
    key = output._file_key
    monkeypatch.setattr(output, "_file_key", lambda name: looked.append(name) or key(name))
    targets = [(tmp_path / f"f{i}.json", "--output") for i in range(300)] + [(None, "-o")]
    output.refuse_one_file_twice(targets)
    assert len(looked) == 300
    (tmp_path / "r.txt").write_text("kept\n", encoding="utf-8")
    os.link(tmp_path / "r.txt", tmp_path / "hard.txt")
    with pytest.raises(UsageError, match="is also the --output file"):
        output.refuse_one_file_twice([(tmp_path / "r.txt", "--output"),
                                      (tmp_path / "hard.txt", "--save-svg")])
    output.refuse_one_file_twice([(os.devnull, "--output"), (os.devnull, "--save-svg")])


@pytest.mark.parametrize("command, sample", [("backward", WORKED), ("forward", NETWORK)])
@pytest.mark.parametrize("svg", ["r.txt", "./r.txt", "link.txt"])
def test_save_svg_and_output_naming_one_file_is_refused(tmp_path, monkeypatch, command,
                                                         sample, svg):
    # the picture used to replace the report silently: -o r.txt held an SVG
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.txt").write_text("kept\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to("r.txt")
    result = invoke(command, sample, "-o", "r.txt", "--save-svg", svg)
    assert result.exit_code == 2
    shown = "r.txt" if svg != "link.txt" else svg
    assert result.output == (f"error: {shown}: --save-svg: is also the --output file, which "
                             "it would replace; hint: give --save-svg and --output different "
                             "files\n")
    assert (tmp_path / "r.txt").read_text(encoding="utf-8") == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.txt", "r.txt"]


@pytest.mark.parametrize("command, sample", [("backward", WORKED), ("forward", NETWORK)])
def test_save_svg_dash_is_standard_output_beside_a_report_file(tmp_path, monkeypatch, command,
                                                               sample):
    # '-' used to be written as a file named '-'
    monkeypatch.chdir(tmp_path)
    assert ok(command, sample, "--save-svg", "-", "-o", "r.txt").startswith("<svg ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]


@pytest.mark.parametrize("report", [[], ["-o", "-"]])
def test_save_svg_dash_with_the_report_on_standard_output_is_refused(tmp_path, monkeypatch,
                                                                     report):
    monkeypatch.chdir(tmp_path)
    result = invoke("backward", WORKED, "--save-svg", "-", *report)
    assert result.exit_code == 2
    assert result.output == ("error: --save-svg: - is standard output, where the report goes "
                             "too; hint: give -o FILE for the report, or --save-svg FILE\n")
    assert list(tmp_path.iterdir()) == []


def test_save_svg_and_output_may_both_be_a_device():
    ok("backward", WORKED, "-o", os.devnull, "--save-svg", os.devnull)


def test_show_steps_with_a_table_written_to_a_json_named_file(tmp_path):
    ok("backward", WORKED, "--show-steps", "--format", "table", "-o", tmp_path / "r.json")
    assert "rotated" in (tmp_path / "r.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("command, suffixes", [
    ("backward", ".json, .csv, .md, .tex, .npz"), ("forward", ".json, .csv, .md, .tex, .npz"),
    ("gradcheck", ".json"), ("explain", ".json, .txt"), ("check", ".json, .csv"),
    ("verify", ".json, .txt")])
def test_format_help_says_the_default_comes_from_the_suffix(command, suffixes):
    text = " ".join(ok(command, "--help").split())
    assert f"[default: from -o's suffix ({suffixes}), else table]" in text
    assert "[default: table]" not in text


def _numbers_in(value) -> int:
    if isinstance(value, list):
        return sum(map(_numbers_in, value))
    if isinstance(value, dict):
        return sum(_numbers_in(v) for k, v in value.items() if k not in ("index", "name", "type"))
    return int(isinstance(value, (int, float)) and not isinstance(value, bool))


@pytest.mark.parametrize("sample", ["stackexchange", "resnet-block", "unet-concat",
                                    "batched-cross-entropy", "mlp-step-by-step"])
@pytest.mark.parametrize("command, options", [("backward", []), ("backward", ["--lr", "0.1"]),
                                              ("forward", [])])
def test_the_work_budget_counts_the_numbers_the_result_holds(sample, command, options):
    # the count had the input and the gradients twice in it: 91 for the worked example's 61,
    # and --full refused a 1×4×160×160 problem it draws in 3 s
    from cnngrad.limits import result_numbers
    from cnngrad.problem import load_problem

    path = SAMPLES / f"{sample}.json"
    result = json.loads(ok(command, path, "-f", "json", *options))
    held = _numbers_in(result["layers"]) + (result["loss"] is not None)
    assert result_numbers(load_problem(str(path)), include_backward=command == "backward",
                          updated=bool(options)) == held


def test_a_result_too_big_for_the_format_of_the_suffix_names_the_output(tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("CNNGRAD_MAX_WORK", "50000")
    result = invoke("backward", WORKED, "-o", tmp_path / "big.json")
    assert result.exit_code == 2
    assert result.output == (
        f"error: {WORKED}: --output: the result holds 61 numbers, too many to write as json "
        f"(about 3.0e+05 units of work, beyond the budget of 5e+04); hint: --format npz -o "
        f"result.npz writes any size in seconds; or raise the budget with the environment "
        f"variable CNNGRAD_MAX_WORK (now 5e+04)\n")
    assert not (tmp_path / "big.json").exists()


@pytest.mark.parametrize("columns, decimals, said", [(8, 6, True), (6, 6, True), (4, 6, False),
                                                     (8, 2, False)])
def test_latex_says_when_an_equation_is_wider_than_the_page(tmp_path, columns, decimals, said):
    # 8 numbers of 6 decimals ran 140 pt past an article's margin, the last one off the page
    doc = {"input": [[0.5 * i + 0.25 for i in range(columns)]], "layers": [{"type": "relu"}],
           "delta": [[1] * columns]}
    text = ok("backward", write_problem(tmp_path, doc), "--format", "latex", "--decimals",
              str(decimals))
    equations = text.split("\n\n")[1:]
    assert equations and all(e.startswith("\\[ ") for e in equations)
    for equation in equations:
        noted = equation.rstrip("\n").endswith(TOO_WIDE)
        assert noted is (said and "bmatrix" in equation), equation


@pytest.mark.skipif(shutil.which("lualatex") is None, reason="needs lualatex")
@pytest.mark.parametrize("sample", ["signal-conv1d", "batched-cross-entropy", "multichannel",
                                    "stackexchange", "resnet-block", "unet-concat",
                                    "transposed-conv"])
def test_every_latex_equation_past_the_page_is_said(tmp_path, sample):
    text = ok("backward", SAMPLES / f"{sample}.json", "--format", "latex")
    header, _, body = text.partition("\n\n")
    document = ("\\documentclass{article}\\usepackage{amsmath}\n"
                + "\n".join(line for line in header.splitlines() if line.startswith("\\"))
                + "\n\\begin{document}\n" + body + "\n\\end{document}\n")
    (tmp_path / "doc.tex").write_text(document, encoding="utf-8")
    run = subprocess.run(["lualatex", "-interaction=nonstopmode", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    lines = document.splitlines()
    log = (tmp_path / "doc.log").read_text(errors="replace")
    for last in re.findall(r"Overfull \\hbox .*? at lines \d+--(\d+)", log):
        following = lines[int(last)] if int(last) < len(lines) else ""
        assert following == TOO_WIDE, (lines[int(last) - 1], following)


# --------------------------------------------------------------------------- Markdown


def test_markdown_title_keeps_its_characters_rather_than_markup(tmp_path):
    # "_under_" rendered as emphasis, a "|" could be read as a table's
    doc = {"title": "pipes | and _under_ `code` *star* [link] <b> ~x~ a\\b &copy; $x$ C #",
           "input": [[1, 2]], "layers": [{"type": "relu"}], "delta": [[1, 1]]}
    text = ok("backward", write_problem(tmp_path, doc), "--format", "markdown")
    assert text.splitlines()[0] == ("# cnngrad backward · pipes \\| and \\_under\\_ \\`code\\` "
                                    "\\*star\\* \\[link\\] \\<b\\> \\~x\\~ a\\\\b \\&copy; "
                                    "\\$x\\$ C \\#")


@pytest.mark.parametrize("value, decimals, shown", [
    (Fraction(343, 5000), 6, ("=", "0.068600")),
    (Fraction(1, 3), 6, ("≈", "0.333333")),
    (Fraction(-3, 10), 1, ("=", "-0.3")),
    (Fraction(-231, 5000), 1, ("≈", "-4.6e-02")),  # scientific, rounded
    (Fraction(1, 40), 1, ("=", "2.5e-02")),  # scientific, the value itself
    (Fraction(5, 2), 0, ("≈", "3")),
    (Fraction(10**13, 3), 2, ("≈", "3.3e+12")),
])
def test_the_sign_beside_an_exact_value_says_whether_its_decimal_is_the_value(value, decimals,
                                                                              shown):
    from cnngrad.render.numbers import exact_beside

    assert exact_beside(value, decimals) == shown
