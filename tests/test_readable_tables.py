"""Tables a student can read on any terminal, and a command line that answers in one line.

Every sample (and a 3×32×32-input, 8-filter conv) rendered at 60, 80, 120 and 200 columns:
no line wider than the width, every number of the trace whole in the text (grids stack, a
wide grid is cut into column blocks, never a cell).  The same through a pipe, a file and a
real pseudo-terminal; usage errors as one ``error:`` line; help that fits 80 columns.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from terminal import HAS_PTY, on_a_terminal

from cnngrad.cli import app
from cnngrad.cli.output import short_name
from cnngrad.network import run
from cnngrad.problem import load_problem
from cnngrad.render.blocks import matrices
from cnngrad.render.tables import (ELLIPSIS, GRIDS_FIRST, GRIDS_LAST, MatrixGrid, _scientific,
                                   column_blocks,
                                   backward_report, cell_decimals, cell_text, column_span,
                                   forward_report, tensor_view)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.json"))
WORKED = str(ROOT / "samples" / "stackexchange.json")
NETWORK = str(ROOT / "samples" / "stackexchange-network.json")
CROSS_ENTROPY = str(ROOT / "samples" / "batched-cross-entropy.json")
WIDTHS = (60, 80, 120, 200)
CUT = re.compile(rf"\d{ELLIPSIS}|{ELLIPSIS}\d|\d\.{ELLIPSIS}")
ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z])")

runner = CliRunner()


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def wide_conv(tmp_path_factory) -> Path:
    """A 3×32×32 input, 8 filters of 3×3, padding 1: an 8×32×32 delta (two decimals)."""
    rng = np.random.default_rng(8)
    doc = {"title": "3×32×32 input, 8 filters",
           "input": np.round(rng.uniform(-1, 1, (1, 3, 32, 32)), 2).tolist(),
           "layers": [{"type": "conv2d", "padding": 1,
                       "kernel": np.round(rng.uniform(-1, 1, (8, 3, 3, 3)), 2).tolist(),
                       "bias": np.round(rng.uniform(-1, 1, 8), 2).tolist()}],
           "delta": np.round(rng.uniform(-1, 1, (1, 8, 32, 32)), 2).tolist()}
    path = tmp_path_factory.mktemp("wide") / "wide.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def rendered(renderable, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, no_color=True, color_system=None,
                      force_terminal=False, legacy_windows=False)
    console.print(renderable)
    return console.file.getvalue()


def words(text: str) -> list[str]:
    """The text's words in order, panel borders and rules left out."""
    return re.sub(r"[│╭╮╰╯─]", " ", text).split()


def tokens(text: str) -> set[str]:
    return set(words(text))


def shown_numbers(value, decimals: int = 6) -> set[str]:
    """Every cell text a full table of ``value`` holds (fixed or scientific for the whole
    tensor, as the tables decide it)."""
    out = set()
    decimals = cell_decimals(np.asarray(value), decimals)  # a whole tensor: no decimals
    scientific = _scientific(np.atleast_1d(np.asarray(value)), decimals)
    for _, matrix in matrices(value):
        matrix = np.atleast_1d(np.asarray(matrix))
        out.update(cell_text(v, decimals, scientific) for v in matrix.flat)
    return out


def report_numbers(trace, backward: bool) -> set[str]:
    numbers = set()
    for layer in trace.layers:
        parts = ([layer.delta_out, *(value for _, value in layer.delta_in_items())]
                 if backward else [layer.output])
        for part in parts:
            numbers |= shown_numbers(trace.shown(part))
        if backward:
            for grad in layer.grads.values():
                numbers |= shown_numbers(grad)
    return numbers


def assert_readable(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if cell_len(line) > width]
    assert not long, f"{len(long)} lines over {width} columns, e.g. {long[0]!r}"
    cut = CUT.search(text)
    assert cut is None, f"a cut number: {text[max(cut.start() - 20, 0):cut.end() + 20]!r}"


# --------------------------------------------------------------------------- any width


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_sample_reads_whole_at_every_width(sample, width):
    trace = run(load_problem(str(sample)))
    for backward in (True, False):
        report = backward_report(trace) if backward else forward_report(trace)
        text = rendered(report, width)
        assert_readable(text, width)
        missing = report_numbers(trace, backward) - tokens(text)
        assert not missing, f"numbers not shown whole: {sorted(missing)[:5]}"


@pytest.mark.parametrize("width", [30, 36])
@pytest.mark.parametrize("sample", ["batched-cross-entropy", "dls-nhwc", "unet-concat"])
def test_a_narrow_panel_breaks_its_shapes_before_the_arrow(sample, width):
    # "input 2×1×4×4 → output 2×2×2×2" is wider than a 30-column panel: it breaks before →
    trace = run(load_problem(str(ROOT / "samples" / f"{sample}.json")))
    for report in (backward_report(trace), forward_report(trace)):
        text = rendered(report, width)
        long = [line for line in text.splitlines() if cell_len(line) > width]
        assert not long, long[0]
    assert re.search(r"│\s+→ output \d", rendered(forward_report(trace), 30))


def test_a_graph_layer_s_input_name_and_shape_break_apart_on_a_narrow_panel(tmp_path):
    # "input encoder_block1_conv 2×2×28×24" was one piece: 41 columns at COLUMNS=36
    doc = {"input": np.full((2, 3, 30, 26), 0.5).tolist(),
           "layers": [{"type": "conv2d", "name": "encoder_block1_conv",
                       "kernel": np.full((2, 3, 3, 3), 0.1).tolist()},
                      {"type": "relu"},
                      {"type": "relu", "name": "side", "input": "encoder_block1_conv"},
                      {"type": "add", "inputs": ["relu_1", "side"]}],
           "delta": np.ones((2, 2, 28, 24)).tolist()}
    path = tmp_path / "g.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    text = rendered(forward_report(run(load_problem(str(path)))), 36)
    long = [line for line in text.splitlines() if cell_len(line) > 36]
    assert not long, long[0]
    assert "│ input encoder_block1_conv        │" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_a_wide_conv_reads_whole_at_every_width(wide_conv, width):
    trace = run(load_problem(str(wide_conv)))
    text = rendered(backward_report(trace), width)
    assert_readable(text, width)
    # shortened: the first and last few of the 24 kernel grids whole, and the corners of
    # each 32×32 grid of the input delta
    kernel = trace.layers[0].grads["kernel"].reshape(24, 3, 3)
    assert shown_numbers(kernel[:GRIDS_FIRST]) | shown_numbers(kernel[-GRIDS_LAST:]) <= \
        tokens(text)
    delta_in = trace.shown(trace.layers[0].delta_in)
    assert shown_numbers(delta_in[..., :8, :8]) | shown_numbers(delta_in[..., -8:, -8:]) <= \
        tokens(text)
    assert f"{ELLIPSIS} " in text and "--full shows every one" in " ".join(words(text))


def test_a_wide_conv_in_full_shows_every_number_in_column_blocks(wide_conv):
    trace = run(load_problem(str(wide_conv)))
    text = rendered(backward_report(trace, full=True), 80)
    assert_readable(text, 80)
    assert report_numbers(trace, True) <= tokens(text)
    assert re.search(r"\[n=0, c=0\]  columns 0–\d+ ", text)
    assert re.search(r"\[n=0, c=2\]  columns \d+–31 ", text)


def test_a_wide_matrix_splits_into_complete_column_blocks():
    matrix = (np.arange(40.0).reshape(2, 20) - 20) * 1.01  # not whole: shown at 2 decimals
    grid = MatrixGrid(matrix, 2, label="[c=0]")
    blocks = grid.blocks(60)
    # consecutive, complete, each within the width, as few as fit, and as even as they go:
    # cut greedily they were 6, 6, 7 and a lone last column
    assert [k for block in blocks for k in block] == list(range(20))
    assert all(grid.table_width(block) <= 60 for block in blocks)
    assert len(blocks) == fewest_blocks(grid.fixed, grid.widths, 60) == 4
    assert [len(block) for block in blocks] == [5, 5, 5, 5]
    text = rendered(tensor_view(matrix, "m", 2), 60)
    assert_readable(text, 60)
    spans = re.findall(r"(?m)^columns? (\d+)(?:–(\d+))?$", text)
    assert [(int(a), int(b or a)) for a, b in spans] == [(b.start, b.stop - 1) for b in blocks]
    # each block has both rows, each row its numbers in order
    assert len(re.findall(r"(?m)^0 ", text)) == len(blocks) == len(re.findall(r"(?m)^1 ", text))
    assert shown_numbers(matrix, 2) <= tokens(text)


def fewest_blocks(fixed: int, widths: list[int], width: int) -> int:
    """The fewest consecutive blocks the columns fit in, each within ``width`` or a single
    column: every way of cutting them tried."""
    def fits(block):
        return len(block) == 1 or fixed + sum(block) + len(block) - 1 <= width
    best = {0: 0}  # columns covered: the fewest blocks
    for stop in range(1, len(widths) + 1):
        best[stop] = min(best[start] + 1 for start in range(stop) if fits(widths[start:stop]))
    return best[len(widths)]


@pytest.mark.parametrize("widths, width, expected", [
    ([10] * 7, 69, [(0, 4), (4, 7)]),  # 6 fit: not 0–5 and a lone 6
    ([10] * 7, 68, [(0, 4), (4, 7)]),  # 5 fit: 4 and 3, not 5 and 2
    ([10] * 7, 200, [(0, 7)]),
    ([10] * 9, 36, [(0, 3), (3, 6), (6, 9)]),
    ([10] * 7, 36, [(0, 3), (3, 5), (5, 7)]),  # 3 fit: 3, 2, 2, not 3, 3, 1
    ([10] * 10, 36, [(0, 3), (3, 6), (6, 8), (8, 10)]),  # 3, 3, 2, 2, not 3, 3, 3, 1
    ([30, 10, 10, 10, 10], 40, [(0, 1), (1, 3), (3, 5)]),  # a wide column stands alone
    ([100, 10], 50, [(0, 1), (1, 2)]),  # wider than the width: alone, uncut
    ([10, 2, 2, 2, 2], 9, [(0, 1), (1, 3), (3, 5)]),  # the others still within the width
    # unequal columns: cut share by share from the left it was 3, a lone 3 and 3
    ([6, 5, 6, 20, 12, 5, 6], 31, [(0, 2), (2, 4), (4, 7)]),
    ([12, 10, 10, 20, 20, 6, 6], 42, [(0, 2), (2, 4), (4, 7)]),
    ([], 80, [(0, 0)]),
])
def test_column_blocks_are_as_few_and_as_even_as_fit(widths, width, expected):
    # 4 columns of row labels, one space between two columns
    assert [(b.start, b.stop) for b in column_blocks(4, widths, width)] == expected


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 6), st.lists(st.integers(1, 12), min_size=1, max_size=12),
       st.integers(0, 60))
def test_column_blocks_fit_are_fewest_and_complete(fixed, widths, width):
    blocks = column_blocks(fixed, widths, width)
    assert [k for block in blocks for k in block] == list(range(len(widths)))
    assert all(len(block) == 1 or fixed + sum(widths[k] for k in block) + len(block) - 1
               <= width for block in blocks)
    assert len(blocks) == fewest_blocks(fixed, widths, width)


def evenest_cuts(fixed: int, widths: list[int], width: int) -> list[list[int]]:
    """Every cut of the columns into the fewest blocks that fit with the least sum of the
    squares of the blocks' sizes, as lists of sizes: every composition of the count tried."""
    count, fewest = len(widths), fewest_blocks(fixed, widths, width)
    cuts = []
    for ends in combinations(range(1, count), fewest - 1):
        bounds = [0, *ends, count]
        sizes = [stop - start for start, stop in pairwise(bounds)]
        if all(size == 1 or fixed + sum(widths[start:stop]) + size - 1 <= width
               for (start, stop), size in zip(pairwise(bounds), sizes)):
            cuts.append(sizes)
    least = min(sum(size * size for size in sizes) for sizes in cuts)
    return [sizes for sizes in cuts if sum(size * size for size in sizes) == least]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 6), st.lists(st.integers(1, 24), min_size=1, max_size=10),
       st.integers(0, 60))
@example(0, [24, 6, 6, 28, 14, 8, 7], 38)  # a rare shape: 3, 1, 3 before
@example(4, [5, 5, 12, 20, 20, 5, 5], 43)
def test_column_blocks_are_the_evenest_cut_larger_blocks_first(fixed, widths, width):
    sizes = [len(block) for block in column_blocks(fixed, widths, width)]
    assert sizes == max(evenest_cuts(fixed, widths, width))


def test_thousands_of_columns_in_a_few_blocks_are_cut_evenly():
    # a block of thousands of columns (an SVG's width, a wide COLUMNS): the search halves
    # its way through each block's possible ends instead of trying every one
    assert [len(block) for block in column_blocks(4, [3] * 10_000, 20_001)] == [3334, 3333, 3333]
    widths = [3, 5] * 2_500
    blocks = column_blocks(0, widths, 10_000)
    assert [len(block) for block in blocks] == [1667, 1667, 1666]
    assert [k for block in blocks for k in block] == list(range(5_000))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 6), st.integers(1, 40), st.integers(1, 12), st.integers(0, 80))
def test_equal_columns_are_shared_out_evenly(fixed, count, column, width):
    blocks = column_blocks(fixed, [column] * count, width)
    assert len(blocks) == fewest_blocks(fixed, [column] * count, width)
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 1  # no lone last column


def test_grids_stand_side_by_side_only_when_they_fit():
    maps = np.arange(2 * 9.0).reshape(2, 3, 3)
    wide = rendered(tensor_view(maps, "maps", 1), 200)
    narrow = rendered(tensor_view(maps, "maps", 1), 30)
    assert re.search(r"\[c=0\]\s+┆ \[c=1\]", wide), "side by side at 200 columns"
    assert not re.search(r"\[c=0\][\s┆]+\[c=1\]", narrow), "stacked at 30 columns"
    assert_readable(narrow, 30)


def test_the_second_grid_of_each_row_starts_in_one_column():
    # a row of narrower grids ([n=1, ...]) put its second grid a column to the left of the
    # row above's
    maps = np.array([[[[-0.02, 0.05], [0.08, 0.27]], [[0.35, 0.32], [0.27, -0.44]]],
                     [[[0.13, 0.33], [0.26, 0.48]], [[0.07, -0.19], [-0.22, -0.06]]]])
    text = rendered(tensor_view(maps, "output", 6), 80)
    assert_readable(text, 80)
    heads = [line for line in text.splitlines() if line.startswith("[n=")]
    assert [line.index("[n=", 1) for line in heads] == [29, 29]


def test_the_grids_of_one_tensor_stacked_line_up_column_by_column():
    # each grid's columns were as wide as its own cells: a minus sign in one widened that
    # grid's column alone, and the stacked grids' numbers did not line up
    trace = run(load_problem(str(ROOT / "samples" / "multichannel.json")))
    text = rendered(backward_report(trace), 80)
    assert_readable(text, 80)
    lines = [line.strip("│") for line in text.splitlines()]
    start = lines.index(next(line for line in lines if "dE/dw (kernel gradient)" in line))
    headers = [lines[k + 1] for k in range(start, start + 40) if lines[k].strip().startswith("[f=")]
    rules = [lines[k + 2] for k in range(start, start + 40) if lines[k].strip().startswith("[f=")]
    assert len(headers) == 6 and len(set(headers)) == 1 and len(set(rules)) == 1, headers


@pytest.mark.parametrize("headers, span", [
    (["0", "1", "2"], "columns 0–2"),
    (["7"], "column 7"),
    (["0", "1", ELLIPSIS, "17"], "columns 0–1, …, 17"),
    ([ELLIPSIS, "28", "29"], "columns …, 28–29"),
    (["6", "7", ELLIPSIS], "columns 6–7, …"),
])
def test_column_blocks_name_their_columns(headers, span):
    assert column_span(headers) == span
    # a vector's blocks hold entries (a conv1d step or a dense output cut at 80 columns)
    assert column_span(headers, vector=True) == span.replace("columns", "entries").replace(
        "column", "entry")


def test_one_based_counts_every_index_from_1():
    trace = run(load_problem(str(ROOT / "samples" / "multichannel.json")))
    text = rendered(backward_report(trace, base=1), 200)
    assert "[c=1]" in text and "[c=0]" not in text and "[f=1, c=1]" in text
    assert "indices count from 1" in text
    header = next(line.strip("│ ") for line in text.splitlines()
                  if line.strip("│ ").startswith("1 "))
    assert header.split()[:3] == ["1", "2", "3"]


# --------------------------------------------------------------------------- panel header


def test_panel_headers_carry_the_settings_and_shapes():
    trace = run(load_problem(NETWORK))
    text = " ".join(words(rendered(forward_report(trace), 200)))
    assert "kernel 2×2 · filters 1 · input 5×5 → output 4×4" in text
    assert "window 2×2 · stride 2 · ties first · input 4×4 → output 2×2" in text
    assert "units 2 · input 4 → output 2" in text
    assert "input 2 → output 2" in text  # a layer without settings: its shapes


def test_the_header_shows_every_setting_its_family_names(tmp_path):
    from cnngrad.families import family_of

    doc = {"input": np.zeros((2, 6, 7)).tolist(),
           "layers": [{"type": "conv2d", "kernel": np.zeros((4, 1, 3, 2)).tolist(),
                       "stride": [2, 1], "padding": [1, 0, 2, 2], "groups": 2,
                       "padding_mode": "reflect", "bias": [0, 0, 0, 0]},
                      {"type": "avgpool2d", "size": [2, 1], "ceil_mode": True,
                       "count_include_pad": False},
                      {"type": "leaky_relu", "slope": 0.2}],
           "delta": np.zeros((4, 2, 10)).tolist()}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    problem = load_problem(str(path))
    conv = problem.layers[0]
    assert ("stride", "2×1") in family_of(conv).settings(conv)
    for width in (40, 80):  # wrapped between settings, never inside one
        text = rendered(forward_report(run(problem)), width)
        flat = " ".join(words(text))
        for spec in problem.layers:
            for label, value in family_of(spec).settings(spec):
                assert re.search(rf"(^|\s){re.escape(label)} {re.escape(value)}(\s|$)",
                                 flat), (label, value)
        assert "input 2×6×7 → output 4×3×10" in flat
        assert "input 4×2×10 → output 4×2×10" in flat
        assert_readable(text, width)


def test_a_merge_of_many_inputs_wraps_its_shapes_between_them(tmp_path):
    # "input 2×3×10×10, 2×3×10×10, ... → output 2×18×10×10", one phrase of 94 columns, made
    # the whole concat panel (its grids too) 94 wide on an 80-column terminal
    names = ["input"] + [f"r{k}" for k in range(1, 6)]
    doc = {"input": np.ones((2, 3, 10, 10)).tolist(),
           "layers": [{"type": "relu", "name": name, "input": "input"} for name in names[1:]]
           + [{"type": "concat", "name": "cat", "inputs": names}, {"type": "global_avgpool"}],
           "delta": np.ones((2, 18)).tolist()}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    trace = run(load_problem(str(path)))
    for width in (40, 80):
        text = rendered(backward_report(trace), width)
        assert_readable(text, width)
        flat = " ".join(words(text))
        assert "input " + ", ".join(["2×3×10×10"] * 6) + " → output 2×18×10×10" in flat
    # wrapped before the arrow where the shapes fit a line, after a comma where they do not,
    # the rest indented under the first line
    lines = [line.strip("│ ") for line in rendered(backward_report(trace), 80).splitlines()]
    first = next(k for k, line in enumerate(lines) if line.startswith("input 2×3×10×10,"))
    assert lines[first].endswith("2×3×10×10") and lines[first + 1] == "→ output 2×18×10×10"
    lines = [line.strip("│ ") for line in rendered(backward_report(trace), 40).splitlines()]
    first = next(k for k, line in enumerate(lines) if line.startswith("input 2×3×10×10,"))
    assert lines[first].endswith(",") and lines[first + 1].startswith("2×3×10×10")


def test_the_grids_of_a_tensor_are_fixed_or_scientific_together(tmp_path):
    """Fixed or scientific notation is decided once for a whole tensor, in the table as in
    csv: filter 0's kernel gradient 0.0004 beside filter 1's 0.04 reads 0.000 at 3 decimals
    (it read 4.00e-04, its grid deciding alone)."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({
        "input": [[1, 1], [1, 1]], "kernel": [[[0.5]], [[0.5]]],
        "delta": [[[0.0001, 0.0001], [0.0001, 0.0001]], [[0.01, 0.01], [0.01, 0.01]]]}))
    csv = invoke("backward", path, "--decimals", "3", "--format", "csv").stdout
    assert "# conv2d_1.grads.kernel[0]\n0.000\n" in csv
    table = invoke("backward", path, "--decimals", "3", env={"COLUMNS": "80"}).stdout
    kernel = table.split("dE/dw (kernel gradient)")[1].split("δ in")[0]
    assert words(kernel) == ["(2×1×1)", "[f=0]", "┆", "[f=1]", "0", "┆", "0", "┆",
                             "0", "0.000", "┆", "0", "0.040"]


@pytest.mark.parametrize("command", ["backward", "forward"])
def test_cross_entropy_reports_show_the_softmax_probabilities(command):
    result = invoke(command, CROSS_ENTROPY)
    assert result.exit_code == 0, result.output
    assert "p = softmax(output)" in result.output
    trace = run(load_problem(CROSS_ENTROPY))
    logits = trace.layers[-1].output
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert p[0, 0] == pytest.approx(0.370221, abs=5e-7)
    assert shown_numbers(p) <= tokens(result.output)


# --------------------------------------------------------------------------- pipe, file, tty


@pytest.mark.parametrize("columns, width", [(None, 120), ("60", 60), ("200", 200)])
def test_piped_and_written_reports_use_columns_else_120(monkeypatch, tmp_path, wide_conv,
                                                        columns, width):
    monkeypatch.delenv("COLUMNS", raising=False)
    env = {"COLUMNS": columns} if columns else None
    piped = invoke("backward", wide_conv, env=env)
    assert piped.exit_code == 0, piped.output
    out = tmp_path / "report.txt"
    written = invoke("backward", wide_conv, "-o", out, env=env)
    assert written.exit_code == 0, written.output
    for text in (piped.output, out.read_text(encoding="utf-8")):
        assert_readable(text, width)
        assert max(cell_len(line) for line in text.splitlines()) > width - 12, "uses the width"
        assert "\x1b" not in text


@pytest.mark.skipif(not HAS_PTY, reason="no pseudo-terminals here")
@pytest.mark.parametrize("sample", ["multichannel.json", "batched-cross-entropy.json"])
@pytest.mark.parametrize("term, width", [("xterm-256color", 80), ("dumb", 60), ("dumb", 160)])
def test_a_real_terminal_of_its_own_width(sample, term, width):
    # a dumb terminal (Emacs's shell) gets its own width too, not Rich's 80, and no colours
    code, raw = on_a_terminal(["backward", ROOT / "samples" / sample], term=term, width=width)
    assert code == 0
    raw = raw.decode("utf-8")
    assert ("\x1b[" in raw) is (term != "dumb"), "colours on a terminal that shows them"
    text = ANSI.sub("", raw).replace("\r\n", "\n").replace("\r", "")
    assert_readable(text, width)
    # uses the width: past Rich's 80 for a dumb terminal of 160 (the samples need ~100)
    assert max(cell_len(line) for line in text.splitlines()) > min(width, 100) - 20
    trace = run(load_problem(str(ROOT / "samples" / sample)))
    assert report_numbers(trace, True) <= tokens(text)


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("args, line", [
    (["backward", WORKED, "--decimals", "100"],
     "error: --decimals: 100 is out of range: it takes 0 to 17"),
    (["backward", WORKED, "--decimals", "many"], "error: --decimals: must be a whole number"),
    (["backward", WORKED, "--max-elements", "0"], "error: --max-elements: 0 is out of range"),
    (["explain", WORKED, "--max-terms", "-3"], "error: --max-terms: -3 is out of range"),
    (["gradcheck", WORKED, "--eps", "tiny"], "error: --eps: 'tiny' is not a number"),
    (["backward", WORKED, "--fulll"], "error: --fulll: no such option"),
    (["forward"], "error: PROBLEM: missing"),
    (["explain"], "error: PROBLEM: missing"),
    (["check", WORKED], "error: ANSWERS...: missing"),
    (["backward", WORKED, "--decimals"], "error: --decimals: needs a value"),
    (["forward", WORKED, "extra"], "error: got unexpected extra argument"),
    (["backwards", WORKED], "error: no such command 'backwards'"),
    (["backward", WORKED, "--save-svg", "{tmp}"], "error: {tmp}: --save-svg: is a folder, not a "
                                                  "file"),
    (["schema", "-o", "{tmp}"], "error: {tmp}: --output: is a folder, not a file"),
])
def test_every_usage_error_is_one_line(tmp_path, args, line):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    # (a long file name is shortened in the middle: pytest's temporary folder may be long)
    assert lines[0].startswith(line.replace("{tmp}", short_name(str(tmp_path)))), result.output
    for word in ("╭", "Usage:", "Input should", "Try '", "Invalid value"):
        assert word not in result.output


@pytest.mark.parametrize("command", ["backward", "forward", "gradcheck"])
def test_a_path_with_spaces_left_unquoted_is_named_in_quotes(tmp_path, monkeypatch, command):
    folder = tmp_path / "my hw"
    folder.mkdir()
    (folder / "prob 1.json").write_text(Path(WORKED).read_text(encoding="utf-8"),
                                        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke(command, "my", "hw/prob", "1.json")
    assert result.exit_code == 2, result.output
    assert result.output.strip().endswith(
        'hint: a path with spaces goes in quotes: "my hw/prob 1.json"'), result.output


def test_check_names_a_path_with_spaces_left_unquoted_in_quotes(tmp_path, monkeypatch):
    # check's answers are many: "my" is the missing problem file, not an extra argument
    folder = tmp_path / "my hw"
    folder.mkdir()
    (folder / "prob 1.json").write_text(Path(WORKED).read_text(encoding="utf-8"),
                                        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "my", "hw/prob", "1.json", "a.json")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == ('error: my: no such file; hint: a path with spaces goes '
                                     'in quotes: "my hw/prob 1.json"'), result.output


def test_a_misspelt_option_gets_a_suggestion():
    result = invoke("backward", WORKED, "--ful")
    assert result.output.partition("; hint: ")[2].startswith("did you mean --full")


# --------------------------------------------------------------------------- help


COMMANDS = ["backward", "forward", "gradcheck", "explain", "check", "samples", "schema",
            "generate", "verify"]


@pytest.mark.parametrize("columns", ["80", "200"])
@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_reads_cleanly_at_80_columns(command, columns):
    result = invoke(*command, "--help", env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    text = result.output
    assert max(cell_len(line) for line in text.splitlines()) <= 80
    for noise in ("<bool>", "<str>", "<int", "<path>", "{PROBLEM}", "[bold]", "[/]", "╭"):
        assert noise not in text, noise
    # an example that does not fit continues after a backslash, never mid-word
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.endswith(" \\"):
            assert lines[k + 1].startswith("        ")


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_fits_a_60_column_terminal(command):
    # a help panel's heading (generate's "Sizes (an option a recipe does not take is an
    # error naming those it takes):") used to stay on one line of 75 columns
    # a process of its own: click reads the terminal's width as the command starts
    env = {**os.environ, "COLUMNS": "60", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "cnngrad", *command, "--help"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert max(cell_len(line) for line in result.stdout.splitlines()) <= 60


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_value_has_a_name_that_says_what_it_is(command):
    # click names a value after its option when told nothing (--save-svg SAVE_SVG): every
    # option that takes a value names it (FILE, DIR, N, NUMBER, FORMAT, ...) or has a type
    # that does (an int is N, a float NUMBER, a path FILE or DIR)
    import typer

    from cnngrad.cli.plain_values import _metavar

    group = typer.main.get_command(app)
    context = group.context_class(group)  # click's Context, or the one typer carries
    options = [param for param in group.get_command(context, command).params
               if param.param_type_name == "option" and not param.is_flag
               and not param.hidden]
    for option in options:
        annotation = option.type_descriptor.annotation
        named = _metavar(option)
        assert option.metavar or annotation in (int, float, Path), (option.opts, named)
        assert named.replace("_", "").replace("[", "").replace(":", "").replace("=", "") \
            .replace("]", "").isalpha() and "_" not in named, named
    text = invoke(command, "--help", env={"COLUMNS": "200"}).output
    assert not re.search(r"--[a-z]+-[a-z-]+ [A-Z]+_[A-Z_]+", text)  # --save-svg SAVE_SVG
    if command in ("backward", "forward"):
        assert "--save-svg FILE" in text and "-o, --output FILE" in text


def test_help_shows_the_padding_choices_and_plain_usage():
    text = invoke("backward", "--help").output
    assert "[top, bottom, left, right]" in text
    assert "Usage: cnngrad backward [OPTIONS] [PROBLEM]" in text
    assert "Usage: cnngrad explain [OPTIONS] PROBLEM [PATH]" in invoke("explain", "-h").output
    assert "--exact " in text and "--one-based" in text


def test_the_first_example_of_the_main_help_works_from_any_folder(monkeypatch, tmp_path):
    text = invoke("--help").output
    start = text.index("Start with")
    examples = [line.split("(")[0].strip() for line in text[start:].splitlines()[1:4]]
    assert examples[0].startswith("cnngrad samples ") and examples[1].startswith(
        "cnngrad backward ")
    monkeypatch.chdir(tmp_path)
    save, target = examples[0].split(">")
    saved = invoke(*save.split()[1:])
    assert saved.exit_code == 0, saved.output
    Path(target.strip()).write_text(saved.output, encoding="utf-8")
    result = invoke(*examples[1].split()[1:])
    assert result.exit_code == 0, result.output
    assert "dE/dw (kernel gradient)" in result.output


# --------------------------------------------------------------------------- paper cuts


def test_show_steps_titles_are_whole_at_60_columns():
    from cnngrad.teach.steps import trace_steps

    result = invoke("backward", ROOT / "samples" / "multichannel.json", "--show-steps",
                    env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert_readable(result.output, 60)
    flat = " ".join(re.sub(r"[│]", " ", result.output).split())
    trace = run(load_problem(str(ROOT / "samples" / "multichannel.json")))
    captions = [caption for steps in trace_steps(trace).values() for caption, _ in steps]
    assert captions
    for number, caption in enumerate(captions[:3], start=1):
        assert f"{number}. {' '.join(caption.split())}" in flat


def test_explain_notes_wrap_once_at_the_panel_width():
    result = invoke("explain", WORKED, "conv2d_1.delta_in[1,2]", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert_readable(result.output, 80)
    lines = [line.strip("│ ") for line in result.output.splitlines()]
    bullets = [k for k, line in enumerate(lines) if line.startswith("• ")]
    assert bullets
    # a note's lines are full up to the last one: no short line left by a second wrapping
    for k in bullets:
        block = [lines[k]]
        for line in lines[k + 1:]:
            if not line or line.startswith("•"):
                break
            block.append(line)
        assert all(len(line) > 50 for line in block[:-1]), block


@pytest.mark.parametrize("content, name, hint", [
    ("1,2\n3,4\n", "image.csv", "this is a CSV table, not a problem file"),
    ('{"input": [[1, \u22120.5]], "kernel": [[1]], "delta": [[1]]}', "p.json",
     "'\u2212' (U+2212, minus sign) is not the ASCII minus"),
    ('{\n  // my homework\n  "input": [[1]], "kernel": [[1]], "delta": [[1]]}', "p.json",
     "JSON has no comments"),
])
def test_common_slips_in_a_problem_file_get_a_hint(tmp_path, content, name, hint):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = invoke("backward", path)
    assert result.exit_code == 2
    assert result.output.partition("; hint: ")[2].startswith(hint), result.output


def test_a_unicode_minus_in_an_option_gets_a_hint():
    result = invoke("backward", WORKED, "--lr", "\u22120.1")
    assert result.exit_code == 2
    assert "is not the ASCII minus" in result.output


def test_explain_an_updated_parameter_without_lr_says_lr():
    result = invoke("explain", WORKED, "conv2d_1.updated.kernel[0,0]")
    assert result.exit_code == 2
    assert "needs --lr" in result.output and "hint: add the learning rate" in result.output
    assert invoke("explain", WORKED, "conv2d_1.updated.kernel[0,0]", "--lr", "0.1").exit_code == 0


def test_a_negative_learning_rate_is_refused():
    result = invoke("backward", WORKED, "--lr", "-0.1")
    assert result.exit_code == 2
    assert result.output.startswith("error: --lr: a learning rate is ≥ 0, got -0.1")


def test_lr_on_a_problem_without_parameters_says_so():
    result = invoke("backward", ROOT / "samples" / "pool-ties.json", "--lr", "0.1")
    assert result.exit_code == 0
    assert "note: --lr: the problem has no parameters to update" in result.stderr
    assert "note:" not in result.stdout


@pytest.mark.parametrize("command", ["backward", "forward"])
def test_one_based_numbers_the_tables_and_leaves_json_alone(command):
    # every command accepts --one-based; the JSON result holds no element index to renumber
    result = invoke(command, WORKED, "--one-based", "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stdout == invoke(command, WORKED, "--format", "json").stdout
    table = invoke(command, WORKED, "--one-based")
    assert table.exit_code == 0 and "indices count from 1" in table.output


# --------------------------------------------------------------------------- progress


def test_gradcheck_reports_each_element_to_its_progress():
    from cnngrad.teach.gradcheck import evaluations_needed, gradcheck

    problem = load_problem(NETWORK)
    calls = []
    report = gradcheck(problem, progress=calls.append)
    assert report.ok
    assert len(calls) == (evaluations_needed(problem) - 1) // 2
    assert calls[0].startswith("gradcheck ")


# --------------------------------------------------------------------------- typer fallback


FALLBACK_CASES = [
    ["backward", WORKED, "--format", "json", "--decimals", "3", "--max-elements", "1000"],
    ["backward", WORKED, "--lr", "0.5", "--decimals", "17"],
    ["gradcheck", NETWORK, "--eps", "1e-5", "--rtol", "1e-4", "--format", "json"],
    ["explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--max-terms", "2", "-f", "text"],
    ["backward", WORKED, "-o", "{tmp}/out.json", "--format", "json"],
    ["backward", WORKED, "--decimals", "18"],
    ["backward", WORKED, "--decimals", " 7 "],
    ["backward", WORKED, "--max-elements", "1_000"],
    ["gradcheck", NETWORK, "--eps", "nan"],
]


@pytest.mark.parametrize("args", FALLBACK_CASES)
def test_typer_s_own_reading_gives_the_same_results(monkeypatch, tmp_path, args):
    """cli.plain_values reads plain option values without typer's pydantic reader (start-up
    time); with it switched off, typer's own reader must give the same results (the
    fallback the pinned typer range is tested with)."""
    import cnngrad.cli.plain_values as plain

    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    fast = invoke(*args)
    out = tmp_path / "out.json"
    fast_file = out.read_text(encoding="utf-8") if out.exists() else None
    out.unlink(missing_ok=True)
    monkeypatch.setattr(plain, "plain_values", lambda command, ctx: None)
    slow = invoke(*args)
    assert slow.exit_code == fast.exit_code, (fast.output, slow.output)
    if fast.exit_code == 2:  # both one line, naming the option
        assert slow.output.split(":")[:2] == fast.output.split(":")[:2]
        assert len(slow.output.splitlines()) <= 2
    else:
        assert slow.output == fast.output
        assert (out.read_text(encoding="utf-8") if out.exists() else None) == fast_file


def test_a_typer_without_its_private_reader_is_left_to_read_on_its_own(monkeypatch, tmp_path):
    import importlib.util

    import cnngrad.cli.plain_values as plain

    assert plain._typer_reader_there()
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "typer._coercion" else real(name, *a))
    assert not plain._typer_reader_there()
    installed = []
    monkeypatch.setattr(plain, "PlainValues", lambda descriptor: installed.append(descriptor))
    result = invoke("backward", WORKED, "--decimals", "3", "-o", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert installed == []  # typer's own reading: the same result (the test above)
    assert json.loads((tmp_path / "r.json").read_text())["layers"]


@pytest.mark.parametrize("columns", ["60", "80"])
@pytest.mark.parametrize("args", [
    ["gradcheck", NETWORK], ["gradcheck", str(ROOT / "samples" / "pool-ties.json")],
    ["check", WORKED, str(ROOT / "samples" / "answers" / "stackexchange-wrong.json")],
])
def test_the_other_reports_never_cut_a_number_or_a_path(args, columns, monkeypatch):
    # A path is never cut, so the checkout's own path would set the widest line: name the
    # samples relative to the checkout.
    monkeypatch.chdir(ROOT)
    args = [str(Path(arg).relative_to(ROOT)) if arg.startswith(str(ROOT)) else arg
            for arg in args]
    result = invoke(*args, env={"COLUMNS": columns})
    assert result.exit_code == (1 if "wrong" in args[-1] else 0), result.output
    cut = re.search(rf"[\w.)]{ELLIPSIS}", result.output)
    assert cut is None, result.output[max(cut.start() - 30, 0):cut.end() + 10]
    # a Rich table that cannot fit gets the narrowest width it fits, a few columns more
    assert max(cell_len(line) for line in result.output.splitlines()) <= int(columns) + 30


@pytest.mark.parametrize("sides, text", [
    ((1, 1, 1, 1), "1"), ((1, 1, 2, 2), "1×2"), ((1, 1, 0, 0), "1×0"),
    ((0, 1, 0, 1), "top 0, bottom 1, left 0, right 1"), ((2, 2), "2"),
    ((0, 1), "left 0, right 1"),
])
def test_a_panel_header_writes_padding_as_briefly_as_it_reads(sides, text):
    from cnngrad.problem import sides_text

    assert sides_text(sides) == text


@pytest.mark.parametrize("args, command", [
    (["backward", WORKED, "-o"], "backward"),
    (["gradcheck", WORKED, "--eps"], "gradcheck"),
    (["explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--max-terms"], "explain"),
])
def test_an_option_without_its_value_points_to_its_own_command_help(args, command):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.partition("; hint: ")[2].startswith(f"cnngrad {command} -h shows"), \
        result.output


@pytest.mark.parametrize("kernel, line", [
    ("[[1, 0], [0, -1]", "error: --kernel: not a file and not JSON: expecting ',' delimiter at "
                         "character 17; hint: the brackets do not pair up (3 '[' and 2 ']'): "
                         "a matrix is '[[1, 0], [0, -1]]'"),
    ("[[1, 0] [0, -1]]", "error: --kernel: not a file and not JSON: expecting ',' delimiter at "
                         "character 9; hint: write the numbers as JSON lists, "
                         "'[[1, 0], [0, -1]]' (quoted for the shell), or give a .csv or .npy "
                         "file"),
    ("[[1, 0], [0, \u22121]]", "error: --kernel: not a file and not JSON: expecting value at "
                               "character 14; hint: '\u2212' (U+2212, minus sign) is not the "
                               "ASCII minus"),
    ("\uff0d1", "error: --kernel: not a file and not JSON: expecting value at character 1; "
                "hint: '\uff0d' (U+FF0D, fullwidth hyphen-minus) is not the ASCII minus"),
])
def test_an_inline_tensor_that_is_not_json_gets_a_hint(tmp_path, kernel, line):
    data = tmp_path / "o.csv"
    data.write_text("1,2,3\n")
    result = invoke("backward", "--input", data, "--kernel", kernel, "--delta", data)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(line), result.output


@pytest.mark.parametrize("bias, line", [
    # JSON that is no tensor was looked for as a file: "no such file 'true'"
    ("true", "error: --bias: expected a tensor (a number, nested lists of numbers, "
             "{\"csv\": ...} or {\"npy\": ...}), got true\n"),
    ("null", "error: --bias: expected a tensor (a number, nested lists of numbers, "
             "{\"csv\": ...} or {\"npy\": ...}), got null\n"),
    ('"abc"', "error: --bias: 'abc' is not a number\n"),
    ('"nope.csv"', "error: --bias: no such file 'nope.csv'"),  # an over-quoted file name
    ('"sub/missing"', "error: --bias: no such file 'sub/missing'"),  # a path
    ('"0.5/2"', "error: --bias: '0.5/2' is not a number; hint: a fraction is a whole number "
                "over a whole number"),  # a number's slip, not a path
    ('{"a": 1}', "error: --bias.a: unknown key 'a' in a tensor file reference; hint: "
                 "allowed: csv, npy\n"),
])
def test_inline_json_that_is_no_tensor_is_refused_as_such(tmp_path, monkeypatch, bias, line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "w.csv").write_text("1,0\n0,1\n")
    (tmp_path / "d.csv").write_text("1,0\n0,1\n")
    result = invoke("backward", "--input", "o.csv", "--kernel", "w.csv", "--delta", "d.csv",
                    "--bias", bias)
    assert result.exit_code == 2, result.output
    assert result.output == line if line.endswith("\n") else result.output.startswith(line)


@pytest.mark.parametrize("bias", ['" 1 "', '"1 "', '" 0.5"', '" 1/2 "'])
def test_a_quoted_number_with_spaces_is_a_number_as_in_a_problem_file(tmp_path, monkeypatch,
                                                                       bias):
    # read as a file name for a while ("no such file ' 1 '"); "bias": " 1 " is a number
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "w.csv").write_text("1,0\n0,1\n")
    (tmp_path / "d.csv").write_text("1,0\n0,1\n")
    result = invoke("backward", "--input", "o.csv", "--kernel", "w.csv", "--delta", "d.csv",
                    "--bias", bias, "-f", "json")
    assert result.exit_code == 0, result.output
    bias_value = float(Fraction(bias.strip('" ')))
    assert json.loads(result.stdout)["layers"][0]["output"][0][0] == 6.0 + bias_value


def test_an_inline_file_reference_is_read_as_a_problem_files_is(tmp_path, monkeypatch):
    # the contract's {"csv": ...} form, as a problem file takes it; it was "no such file"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "w.csv").write_text("1,0\n0,1\n")
    (tmp_path / "d.csv").write_text("1,0\n0,1\n")
    plain = invoke("backward", "--input", "o.csv", "--kernel", "w.csv", "--delta", "d.csv",
                   "-f", "json")
    inline = invoke("backward", "--input", '{"csv": "o.csv"}', "--kernel", "w.csv",
                    "--delta", "d.csv", "-f", "json")
    assert plain.exit_code == inline.exit_code == 0, inline.output
    assert inline.stdout == plain.stdout
    missing = invoke("backward", "--input", '{"csv": "nope.csv"}', "--kernel", "w.csv",
                     "--delta", "d.csv")
    assert missing.exit_code == 2
    assert missing.output.startswith("error: --input: no such file 'nope.csv'")


@pytest.mark.parametrize("kernel, line", [
    # not JSON, or a quoted file name: still file names, as before inline JSON took them
    ("{x}.csv", "error: --kernel: no such file '{x}.csv'"),
    ('"x".csv', "error: --kernel: no such file '\"x\".csv'"),
    ('"w.csv"', None),  # over-quoted by a script: the file it names
    ("true", None),  # a file named so is read first
])
def test_a_file_name_that_looks_like_json_stays_a_file_name(tmp_path, monkeypatch, kernel,
                                                            line):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "o.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "w.csv").write_text("1,0\n0,1\n")
    (tmp_path / "true").write_text("1,0\n0,1\n")
    (tmp_path / "d.csv").write_text("1,0\n0,1\n")
    result = invoke("backward", "--input", "o.csv", "--kernel", kernel, "--delta", "d.csv",
                    "-f", "json")
    if line is None:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["layers"][0]["output"] == [[6.0, 8.0], [12.0, 14.0]]
    else:
        assert result.exit_code == 2, result.output
        assert result.output.startswith(line), result.output


@pytest.mark.parametrize("width", [60, 80])
def test_a_long_layer_name_is_cut_in_the_middle_of_its_panel_title(width, tmp_path):
    # Rich cuts a long title at its end, the layer's type and place with it; the name is
    # cut instead, both ends of it kept
    name = "the_first_convolution_layer_of_the_students_network_with_a_long_name"
    problem = tmp_path / "long.json"
    problem.write_text(json.dumps({
        "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        "layers": [{"type": "conv2d", "name": name, "kernel": [[1, 0], [0, 1]]},
                   {"type": "relu"}],
        "delta": [[1, 1], [1, 1]]}))
    text = rendered(backward_report(run(load_problem(str(problem)))), width)
    assert_readable(text, width)
    title = next(line for line in text.splitlines() if "conv2d · layer 1 of 2" in line)
    shown = title.split(" · ")[0].removeprefix("╭─ ")
    front, back = shown.split("…")
    assert name.startswith(front) and name.endswith(back) and len(front) >= 6
    assert len(title) == width  # as wide as the width lets it be: the name fills the room
    # a title that fits is left alone
    assert "╭─ relu_1 · relu · layer 2 of 2 " in text


def test_short_title_keeps_both_ends_of_a_name_and_cuts_a_whole_title_in_the_middle():
    from rich.text import Text

    from cnngrad.render.tables import short_title

    assert short_title(Text("abcdefghijklmnopqrstuvwxyz · dense · layer 2 of 9"), 40).plain \
        == "abcdefgh…stuvwxyz · dense · layer 2 of 9"  # 8 + 1 + 8 + 23 cells
    # no room for a readable name beside the rest: the whole title, cut in the middle
    assert short_title(Text("abcdefghijklmnopqrstuvwxyz · dense · layer 2 of 9"), 25).plain \
        == "abcdefghijkl…layer 2 of 9"
    assert short_title(Text("a.very.long.path.grads.kernel[0,1]"), 20).plain \
        == "a.very.lon…rnel[0,1]"


@pytest.mark.parametrize("problem, labels", [
    # conv2d's HWIO kernel: paths [p,q,c,f]
    ("dls-nhwc.json", ["[c=0, f=0]", "[c=1, f=0]", "[c=2, f=0]", "[c=0, f=1]"]),
    # channels first: paths [f,c,p,q]
    ("multichannel.json", ["[f=0, c=0]", "[f=0, c=1]", "[f=0, c=2]", "[f=1, c=0]"]),
])
def test_a_kernels_grids_are_labelled_in_its_paths_order(problem, labels):
    # an HWIO kernel's grids said [f=0, c=1], the order of PyTorch's paths, not of its own
    result = runner.invoke(app, ["backward", str(ROOT / "samples" / problem)])
    text = result.stdout
    kernel = text[text.index("dE/dw (kernel gradient)"):]
    assert re.findall(r"\[[cf]=\d, [cf]=\d\]", kernel)[:4] == labels


@pytest.mark.parametrize("layer, kernel, delta, labels", [
    # one-channel input, two filters given F×k1×k2: the kernel's grids are filters
    ({"type": "conv2d"}, [[[1, -1], [0, 1]], [[-1, 0], [1, -2]]],
     [[[1, 0], [0, 1]], [[1, 1], [0, -1]]], ["[f=0]", "[f=1]"]),
    # two channels in, one filter given C_in×k1×k2: its grids are channels
    ({"type": "conv2d"}, [[[1, -1], [0, 1]], [[-1, 0], [1, -2]]], [[[1, 0], [0, 1]]],
     ["[c=0]", "[c=1]"]),
    # a transposed conv's C_in×k1×k2 (two channels in, one out): channels, not filters
    ({"type": "conv_transpose2d"}, [[[1, -1], [0, 1]], [[-1, 0], [1, -2]]],
     [[[1, 0, 2], [0, 1, 1], [1, 1, 1]]], ["[c=0]", "[c=1]"]),
])
def test_a_three_axis_kernels_grids_are_named_by_what_its_first_axis_counts(
        tmp_path, layer, kernel, delta, labels):
    image = [[1, 2, 0], [0, 1, 3], [2, 0, 1]]
    if layer["type"] == "conv_transpose2d":
        image = [[[1, 2], [0, 1]], [[2, 0], [1, 3]]]
    elif labels[0] == "[c=0]":
        image = [image, [[2, 0, 1], [1, 3, 0], [0, 1, 2]]]
    problem = {"input": image, "layers": [dict(layer, kernel=kernel)], "delta": delta}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    result = invoke("backward", str(tmp_path / "p.json"))
    assert result.exit_code == 0, result.output
    panel = result.stdout.split("dE/dw (kernel gradient)")[1].split("δ in")[0]
    other = "[c=" if labels[0] == "[f=0]" else "[f="
    assert all(label in panel for label in labels) and other not in panel, panel


@pytest.mark.parametrize("command", ["backward", "check"])
def test_grids_side_by_side_have_a_rule_between_them(tmp_path, command):
    # two one-cell-wide grids: without the rule, "0   -0.261749   0   0.159096" read as one
    # row of three values
    problem = {"input": [[[1, 2]], [[0, 1]]], "layers": [{"type": "conv1d", "kernel": [1, -1]}],
               "delta": [[[-0.261749]], [[0.159096]]]}
    (tmp_path / "p.json").write_text(json.dumps(problem), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(
        {"conv1d_1.delta_in": [[[-0.261749, 0.261749]], [[0.159096, -0.159096]]]}),
        encoding="utf-8")
    args = ["backward", tmp_path / "p.json"] if command == "backward" else [
        "check", tmp_path / "p.json", tmp_path / "a.json"]
    result = invoke(*args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = [line.strip("│") for line in result.stdout.splitlines()]
    # backward's input delta (its upstream delta is two grids too), check's one tensor
    start = max(k for k, line in enumerate(lines) if line.strip().startswith("[n=0]"))
    grid_rows = lines[start:start + 4]  # labels, column indices, underlines, row 0
    # one rule a row, all in one column
    assert [line.count("┆") for line in grid_rows] == [1, 1, 1, 1], grid_rows
    assert len({line.index("┆") for line in grid_rows}) == 1, grid_rows
    assert grid_rows[0].split() == ["[n=0]", "┆", "[n=1]"]
    marks = ["✓"] if command == "check" else []
    assert grid_rows[3].split() == ["0", "-0.261749", *marks, "0.261749", *marks, "┆",
                                    "0", "0.159096", *marks, "-0.159096", *marks]


@pytest.mark.parametrize("values, decimals", [
    ([[-12.0, 8.0], [0.0, -0.0]], 0),  # a problem in integers: -12, not -12.000000
    ([[1.0, 0.0], [0.0, 1.0]], 0),  # a mask
    ([[1.0, 0.5]], 6),  # one cell not whole: the whole tensor at the decimals asked
    ([[1234567890123.0, 2.0]], 6),  # scientific from 1e12: 1.23457e+12, its decimals kept
    ([[999999999999.0, 2.0]], 0),
    (np.array([[1.7e7, 2.0]], dtype=np.float32), 6),  # every float32 there is whole
    (np.array([[-12.0, 3.0]], dtype=np.float32), 0),
    ([[np.inf, 1.0]], 6),
    ([], 6),
])
def test_a_tensor_of_whole_numbers_is_shown_without_decimals(values, decimals):
    array = values if isinstance(values, np.ndarray) else np.array(values, dtype=np.float64)
    assert cell_decimals(array, 6) == decimals
    if decimals == 0:
        text = rendered(tensor_view(np.array(values), "m", 6), 80)
        assert ".000000" not in text and "-0" not in text


def test_an_integer_problems_tables_read_as_its_numbers(tmp_path):
    from typer.testing import CliRunner

    from cnngrad.cli import app

    problem = tmp_path / "p.json"
    problem.write_text('{"input": [[1, 2, 0], [3, 1, 2], [0, 1, 1]], "kernel": [[2, -1], '
                       '[0, 3]], "bias": 1, "delta": [[1, -2], [0, 1]]}')
    result = CliRunner().invoke(app, ["backward", str(problem)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "dE/db (bias gradient): 0" in result.output
    assert ".000000" not in result.output  # every tensor here is whole


def test_the_steps_of_a_layer_read_alike_whole_or_not(tmp_path):
    from typer.testing import CliRunner

    from cnngrad.cli import app

    # channel 0's input delta is whole (0, 2), channel 1's is not (0.5): both at 6 decimals
    problem = tmp_path / "p.json"
    problem.write_text('{"input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], "layers": [{"type": '
                       '"maxpool2d", "size": 2}], "delta": [[[2]], [[0.5]]]}')
    result = CliRunner().invoke(app, ["backward", str(problem), "--show-steps"],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "2.000000" in result.output and "0.500000" in result.output
    assert not re.search(r"│ 1 +0 +2 ", result.output)  # no grid of it shown whole


@pytest.mark.parametrize("decimals", [None, "2"])
def test_exact_steps_keep_the_decimals_of_their_approximations(decimals):
    # every step exact (fractions): 3/4 was shown "≈1" and 3/8 "≈3.8e-01", the main panels
    # of the same run "≈0.750000"
    sample = Path(__file__).resolve().parent.parent / "samples" / "signal-conv1d.json"
    args = ["backward", str(sample), "--show-steps", "--exact"]
    if decimals:
        args += ["--decimals", decimals]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    steps = result.stdout.partition("steps: the textbook route")[2]
    places = int(decimals or 6)
    shown = re.findall(r"\d [≈=](\S+)", steps)
    assert shown, steps
    for text in shown:
        assert re.fullmatch(rf"-?\d+\.\d{{{places}}}", text), (text, steps)
    # = where the decimal is the fraction itself (3/4 at 2 decimals or more), else ≈
    assert f"3/4 ={0.75:.{places}f}" in steps
