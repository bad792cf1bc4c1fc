"""Big results and start-up: shortened tables (--full shows all), --format npz, the delayed
progress bar, and what the default path imports (no rich on the JSON path, no scipy, no
pydantic), with the pydantic-free option reader held to typer's own."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.cli.common import render_rich
from cnngrad.cli.progress import DelayedProgress
from cnngrad.network import run
from cnngrad.problem import load_problem
from cnngrad.render.npz_result import MIN_SAVING, _worth_deflating, npz_arrays
from cnngrad.render.numbers import fmt
from cnngrad.render.tables import (CORNER, GRIDS_FIRST, GRIDS_LAST, SHORTEN_BEYOND,
                                   cell_text, matrix_table, shown_indices, stats_line, tensor_stats,
                                   tensor_view)

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
WORKED = SAMPLES / "stackexchange.json"
NETWORK = SAMPLES / "stackexchange-network.json"
MULTI = SAMPLES / "multichannel.json"
SGR = re.compile(r"\x1b\[[0-9;]*m")

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def text_of(renderable) -> str:
    return render_rich(renderable, to_file=True)


@pytest.fixture(scope="module")
def big_problem(tmp_path_factory) -> Path:
    """A one-conv problem with a 30×30 input (a 28×28 delta), integers and tenths."""
    rng = np.random.default_rng(30)
    doc = {"title": "thirty", "input": rng.integers(-9, 10, size=(30, 30)).tolist(),
           "kernel": rng.integers(-3, 4, size=(3, 3)).tolist(),
           "delta": (rng.integers(-5, 6, size=(28, 28)) / 10).tolist()}
    path = tmp_path_factory.mktemp("big") / "thirty.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def row_labels(text: str) -> list[int]:
    """The row indices of the last matrix in a panel report (the input delta), in its first
    column block (each block of a wide matrix repeats them)."""
    last = text[text.rindex("δ in = dE/d(input)"):]
    labels = [int(m) for m in re.findall(r"(?m)^│\s+(\d+)\s+-?\d+\.\d", last)]
    return labels[:labels.index(labels[0], 1)] if labels.count(labels[0]) > 1 else labels


# --------------------------------------------------------------------------- shortened tables


@pytest.mark.parametrize("count, expected", [
    (1, [0]),
    (20, list(range(20))),
    (21, [0, 1, 2, 3, 4, 5, 6, 7, None, 13, 14, 15, 16, 17, 18, 19, 20]),
    (30, [0, 1, 2, 3, 4, 5, 6, 7, None, 22, 23, 24, 25, 26, 27, 28, 29]),
])
def test_shown_indices_keep_the_corners(count, expected):
    assert shown_indices(count) == expected
    assert shown_indices(count, full=True) == list(range(count))
    assert SHORTEN_BEYOND == 20 and CORNER == 8


def test_stats_by_hand():
    low, high, mean, norm = tensor_stats(np.array([[1.0, -2.0], [3.0, 4.0]]))
    assert (low, high, mean) == (-2.0, 4.0, 1.5)
    assert norm == pytest.approx(math.sqrt(30))
    exact = np.array([Fraction(1, 2), Fraction(-1, 3), 0], dtype=object)  # the engine's int 0
    low, high, mean, norm = tensor_stats(exact)
    assert (low, high, mean) == (Fraction(-1, 3), Fraction(1, 2), Fraction(1, 18))
    assert norm == pytest.approx(math.sqrt(13) / 6)
    line = text_of(stats_line(exact, 4))
    assert "min -1/3 ≈-0.3333" in line and "mean 1/18 ≈0.0556" in line
    assert "norm 0.6009" in line and "over all 3 values" in line


def test_a_30x30_table_shows_corners_and_stats_not_every_number(big_problem):
    out = ok("backward", big_problem)
    assert "…" in out and "--full shows every one" in out
    assert row_labels(out) == [*range(8), *range(22, 30)]
    trace = run(load_problem(str(big_problem)))
    delta_in = trace.shown(trace.layers[0].delta_in)
    line = re.findall(r"(?m)^│ (min .*over all 900 values)", out)
    assert len(line) == 1, "one stats line for the 30×30 input delta"
    for name, value in zip(("min", "max", "mean", "norm"), tensor_stats(delta_in)):
        assert f"{name} {value:.6f}" in line[0].replace(f"{name} -0.000000", f"{name} 0.000000")
    hidden = f"{delta_in[15, 15]:.6f}"
    middle_row = "   ".join(f"{v:.6f}" for v in delta_in[15, 12:18])
    assert middle_row not in out, f"row 15 ({hidden} …) is elided"


def test_full_shows_every_number(big_problem):
    out = ok("backward", big_problem, "--full")
    assert "…" not in out and "over all" not in out
    assert row_labels(out) == list(range(30))
    trace = run(load_problem(str(big_problem)))
    delta_in = trace.shown(trace.layers[0].delta_in)
    # each row whole, across the column blocks a 30-column matrix is cut into
    blocks = [[line.split()[1:-1] for line in re.findall(r"(?m)^│\s+\d+\s+-?\d+\.\d.*│$", part)]
              for part in out[out.rindex("δ in = dE/d(input)"):].split("columns ")[1:]]
    assert len(blocks) > 1
    for i, row in enumerate(delta_in):
        assert [cell for block in blocks for cell in block[i][1:]] == \
            [fmt(v, 6, False) for v in row]


def test_forward_shortens_and_full_shows_all(big_problem):
    out = ok("forward", big_problem)
    assert "…" in out and "over all 784 values" in out
    assert "…" not in ok("forward", big_problem, "--full")


def test_small_results_are_unchanged():
    out = ok("backward", WORKED)
    assert "…" not in out and "over all" not in out
    assert ok("backward", WORKED, "--full") == out


def test_a_vector_longer_than_20_is_shortened_along_its_columns():
    text = text_of(tensor_view(np.arange(25.0), "v", 1))
    header = text.splitlines()[1].split()
    assert header == [*map(str, range(8)), "…", *map(str, range(17, 25))]
    assert "min 0.0   max 24.0   mean 12.0" in text


@pytest.mark.parametrize("channels, hidden", [(12, 6), (64, 58)])
def test_many_grids_show_the_first_and_last_few(channels, hidden):
    tensor = np.arange(channels * 4, dtype=float).reshape(1, channels, 2, 2)
    text = text_of(tensor_view(tensor, "maps", 1))
    shown = [int(c) for c in re.findall(r"\[n=0, c=(\d+)\]", text)]
    assert shown == [*range(GRIDS_FIRST), *range(channels - GRIDS_LAST, channels)]
    assert f"… {hidden} more grids" in text
    assert f"over all {channels * 4} values" in text and f"max {channels * 4 - 1}.0" in text
    full = text_of(tensor_view(tensor, "maps", 1, full=True))
    assert [int(c) for c in re.findall(r"\[n=0, c=(\d+)\]", full)] == list(range(channels))
    assert "more grids" not in full and "over all" not in full


def test_eight_grids_are_all_shown():
    text = text_of(tensor_view(np.zeros((8, 3, 3)), "maps", 1))
    assert "more grids" not in text and text.count("[c=") == 8


def test_shortened_tables_keep_the_heatmap_and_marks():
    matrix = np.arange(900.0).reshape(30, 30) - 450
    marks = np.zeros((30, 30), dtype=bool)
    marks[29, 29] = marks[15, 15] = True
    from rich.console import Console

    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor",
                      width=400)
    console.print(matrix_table(matrix, None, 0, marks=marks))
    coloured = console.file.getvalue()
    assert SGR.search(coloured), "the shown cells keep their shades"
    plain = SGR.sub("", coloured)
    assert "*449" in plain and "*15" not in plain  # the hidden mark stays hidden
    assert "min -450   max 449" in plain


def test_exact_tables_shorten_with_exact_stats(big_problem):
    out = ok("backward", big_problem, "--exact")
    trace = run(load_problem(str(big_problem), exact=True))
    low, high, mean, _ = tensor_stats(trace.shown(trace.layers[0].delta_out))
    assert isinstance(mean, Fraction) and mean.denominator > 1
    assert "…" in out
    assert (f"min {cell_text(low, 6)}   max {cell_text(high, 6)}   "
            f"mean {cell_text(mean, 6)}   norm ") in out


def test_show_steps_take_full(big_problem):
    assert "…" in ok("backward", big_problem, "--show-steps")
    assert "…" not in ok("backward", big_problem, "--show-steps", "--full")


@pytest.mark.parametrize("text_format", ["csv", "markdown", "latex"])
def test_text_formats_are_always_full(big_problem, text_format):
    out = ok("backward", big_problem, "--format", text_format)
    assert "…" not in out and "\\cdots" not in out
    assert ok("backward", big_problem, "--format", text_format, "--full") == out


# --------------------------------------------------------------------------- npz


def json_tensors(result: dict) -> dict[str, np.ndarray]:
    """The JSON result flattened to dotted path → array, as the npz holds it."""
    tensors = {} if result["loss"] is None else {"loss": np.asarray(result["loss"])}
    for layer in result["layers"]:
        for part in ("output", "delta_out", "delta_in"):
            if part in layer:
                tensors[f"{layer['name']}.{part}"] = np.asarray(layer[part])
        for group in ("grads", "updated"):
            for key, value in layer.get(group, {}).items():
                tensors[f"{layer['name']}.{group}.{key}"] = np.asarray(value)
    return tensors


@pytest.mark.parametrize("command, problem, extra", [
    *((command, problem, ()) for command in ("backward", "forward")
      for problem in (NETWORK, MULTI, WORKED, "big")),
    ("backward", NETWORK, ("--lr", "0.5"))])
def test_npz_round_trip_equals_the_json_result(tmp_path, big_problem, command, problem, extra):
    problem = big_problem if problem == "big" else problem
    target = tmp_path / "result.npz"
    ok(command, problem, "--format", "npz", "-o", target, *extra)
    expected = json_tensors(json.loads(ok(command, problem, "--format", "json", *extra)))
    with np.load(target) as saved:
        assert list(saved.files) == list(expected)  # forward order, as Trace.tensors()
        for key, value in expected.items():
            assert saved[key].shape == value.shape, key
            assert saved[key].dtype == np.float64, key
            np.testing.assert_array_equal(saved[key], value, err_msg=key)
    assert [p.name for p in tmp_path.iterdir()] == ["result.npz"], "no temporary left behind"


def test_npz_keys_and_loss():
    trace = run(load_problem(str(NETWORK)))
    arrays = npz_arrays(trace)
    assert list(arrays) == [path for path, value in trace.tensors()]
    assert arrays["loss"].shape == () and float(arrays["loss"]) == trace.loss
    assert arrays["conv2d_1.grads.kernel"].shape == (2, 2)
    no_loss = npz_arrays(run(load_problem(str(WORKED))))
    assert "loss" not in no_loss and "conv2d_1.grads.kernel" in no_loss


def test_npz_members_are_deflated_npy_files(tmp_path, big_problem):
    """What numpy.savez_compressed writes: one deflated ``<path>.npy`` member per array (at a
    faster zlib level), so any zip tool and np.load read it; small integers compress."""
    import zipfile

    target = tmp_path / "result.npz"
    ok("forward", big_problem, "--format", "npz", "-o", target)
    with zipfile.ZipFile(target) as archive:
        members = archive.infolist()
        assert {m.compress_type for m in members} == {zipfile.ZIP_DEFLATED}
        assert all(m.filename.endswith(".npy") for m in members)
        raw = sum(m.file_size for m in members)
    with np.load(target) as saved:
        assert [name + ".npy" for name in saved.files] == [m.filename for m in members]
        assert sum(saved[name].nbytes for name in saved.files) < raw  # the .npy headers
    assert target.stat().st_size < raw


def test_npz_stores_what_deflate_would_not_shrink(tmp_path):
    """A tensor of nonzero random floats (the conv's output) is stored as it is; one with many
    zeros (the ReLU's) is deflated; np.load reads both back exactly."""
    import zipfile

    rng = np.random.default_rng(5)
    np.save(tmp_path / "x.npy", rng.standard_normal((1, 2, 40, 40)))
    np.save(tmp_path / "d.npy", rng.standard_normal((1, 4, 38, 38)))
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({
        "input": {"npy": "x.npy"}, "delta": {"npy": "d.npy"},
        "layers": [{"type": "conv2d", "kernel": rng.standard_normal((4, 2, 3, 3)).tolist()},
                   {"type": "relu"}]}))
    target = tmp_path / "r.npz"
    ok("forward", problem, "--format", "npz", "-o", target)
    with zipfile.ZipFile(target) as archive:
        kinds = {m.filename: m.compress_type for m in archive.infolist()}
    assert kinds == {"conv2d_1.output.npy": zipfile.ZIP_STORED,
                     "relu_1.output.npy": zipfile.ZIP_DEFLATED}
    expected = npz_arrays(run(load_problem(str(problem))), include_backward=False)
    with np.load(target) as saved:
        for key, value in expected.items():
            np.testing.assert_array_equal(saved[key], value, err_msg=key)


@pytest.mark.parametrize("array, deflate", [
    (np.zeros(10_000), True),
    (np.arange(10_000, dtype=np.float64) % 7, True),
    (np.random.default_rng(0).standard_normal(10_000), False),
    (np.random.default_rng(0).standard_normal(100), True),  # under 4 KiB: never worth a test
    (np.random.default_rng(0).standard_normal((2, 3, 50_000))[:, :, ::3], False),  # a view
])
def test_worth_deflating(array, deflate):
    assert _worth_deflating(array) is deflate
    assert 0 < MIN_SAVING < 1


def test_npz_keeps_float32(tmp_path):
    # the loss and the SGD step too: they were float64 (a Python float; p − η·g with the
    # given float64 parameter)
    target = tmp_path / "r.npz"
    ok("backward", NETWORK, "--format", "npz", "-o", target, "--dtype", "float32",
       "--lr", "0.1")
    with np.load(target) as saved:
        assert {saved[key].dtype for key in saved.files} == {np.dtype(np.float32)}
        assert {"loss", "dense_1.updated.weights", "conv2d_1.updated.bias"} <= set(saved.files)
        single = {key: saved[key] for key in saved.files}
    ok("backward", NETWORK, "--format", "npz", "-o", target, "--lr", "0.1")
    with np.load(target) as saved:
        for key in saved.files:
            np.testing.assert_allclose(single[key], saved[key], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("args, message", [
    ((), "npz is a binary file, written only to a file named with -o"),
    (("--exact", "-o", "r.npz"), "an .npz holds floats, not the exact fractions of --exact"),
])
@pytest.mark.parametrize("command", ["backward", "forward"])
def test_npz_refusals_are_usage_errors(tmp_path, monkeypatch, command, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(command, WORKED, "--format", "npz", *args)
    assert result.exit_code == 2, result.output
    assert f"error: --format: {message}" in result.output
    assert list(tmp_path.iterdir()) == []


def test_npz_never_overwrites_an_input_file(tmp_path):
    problem = tmp_path / "problem.json"
    problem.write_bytes(WORKED.read_bytes())
    result = invoke("backward", problem, "--format", "npz", "-o", problem)
    assert result.exit_code == 2 and "refusing to overwrite" in result.output
    assert problem.read_bytes() == WORKED.read_bytes()
    result = invoke("backward", problem, "--format", "npz", "-o", tmp_path / "no" / "r.npz")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_npz_replaces_an_existing_result(tmp_path):
    target = tmp_path / "r.npz"
    target.write_bytes(b"old")
    ok("backward", WORKED, "--format", "npz", "-o", target)
    with np.load(target) as saved:
        assert "conv2d_1.grads.kernel" in saved.files


def test_npz_refuses_an_exact_trace():
    with pytest.raises(ValueError, match="exact"):
        npz_arrays(run(load_problem(str(WORKED), exact=True)))


# --------------------------------------------------------------------------- progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_stays_hidden_off_a_terminal():
    stream = io.StringIO()
    with DelayedProgress(total=3, delay=0, stream=stream) as step:
        for name in ("a", "b", "c"):
            step(name)
            time.sleep(0.05)
    assert not step.shown and not step.enabled and stream.getvalue() == ""


def test_progress_shows_on_a_terminal_after_the_delay_then_clears():
    stream = Tty()
    with DelayedProgress(total=3, delay=0, stream=stream) as step:
        step("forward conv2d_1")
        deadline = time.monotonic() + 5
        while not step.shown and time.monotonic() < deadline:
            time.sleep(0.01)
        step("loss")
        assert step.shown and step.done == 1
    assert "forward conv2d_1" in stream.getvalue() or "loss" in stream.getvalue()
    quick = Tty()
    with DelayedProgress(total=3, delay=30, stream=quick) as step:
        step("forward")
    assert not step.shown and quick.getvalue() == "", "a quick problem shows no bar"


@pytest.mark.parametrize("term", ["dumb", "unknown", "DUMB"])
def test_a_dumb_terminal_shows_no_bar(monkeypatch, term):
    # a dumb terminal cannot redraw a line: a bar would only leave blank lines behind
    monkeypatch.setenv("TERM", term)
    stream = Tty()
    with DelayedProgress(total=3, delay=0, stream=stream) as step:
        step("forward conv2d_1")
        time.sleep(0.05)
    assert not step.enabled and not step.shown and stream.getvalue() == ""


def test_no_progress_bar_in_the_cli_when_not_a_terminal(monkeypatch, big_problem):
    monkeypatch.setattr("cnngrad.cli.progress.SHOW_AFTER", 0.0)
    result = runner.invoke(app, ["backward", str(big_problem), "--format", "json", "--exact"])
    assert result.exit_code == 0, result.output
    json.loads(result.output)  # nothing but the result: no bar, no control codes
    assert "━" not in result.output and "\x1b" not in result.output


def test_run_reports_each_step_in_order():
    problem = load_problem(str(NETWORK))
    steps: list[str] = []
    run(problem, progress=steps.append)
    names = [layer.name for layer in problem.layers]
    assert steps == [*(f"forward {n}" for n in names), "loss",
                     *(f"backward {n}" for n in reversed(names))]


# --------------------------------------------------------------------------- start-up


def imported_modules(*args: str) -> set[str]:
    """The modules ``python -X importtime -m cnngrad ARGS`` imports."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnngrad", *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line} - {"imported package"}


def heavy(modules: set[str], package: str) -> list[str]:
    return sorted(m for m in modules if m == package or m.startswith(package + "."))


def test_the_json_path_imports_no_rich_scipy_or_pydantic():
    modules = imported_modules("backward", str(WORKED), "--format", "json")
    assert "numpy" in modules and "cnngrad.render.json_result" in modules
    assert heavy(modules, "rich") == []
    assert heavy(modules, "scipy") == []
    assert heavy(modules, "pydantic") == [], "option values are read without pydantic"
    assert "cnngrad.teach.gradcheck" not in modules and "cnngrad.teach.explain" not in modules
    assert "cnngrad.layers.pool" not in modules, "no pooling layer, no pooling module"


def test_the_table_path_imports_no_scipy_and_version_no_numpy():
    assert heavy(imported_modules("backward", str(WORKED)), "scipy") == []
    modules = imported_modules("--version")
    assert heavy(modules, "numpy") == [] and heavy(modules, "rich") == []


def _families_loaded(*args: str) -> tuple[int, set[str]]:
    """(exit code, the layer family modules loaded) of ``cnngrad ARGS`` in a fresh process."""
    code = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: sys.stderr.write('FAMILIES ' + ' '.join(m for m in "
            "sys.modules if m.startswith('cnngrad.families.')) + '\\n'))\n"
            f"sys.argv = ['cnngrad', *{list(args)!r}]\n"
            "runpy.run_module('cnngrad', run_name='__main__')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    line = next(line for line in result.stderr.splitlines() if line.startswith("FAMILIES"))
    return result.returncode, set(line.split()[1:])


def test_a_check_whose_answers_are_right_imports_no_other_layer_type():
    # the slips' registry imports every layer family; it is made when a wrong answer is
    # diagnosed, not when check imports it (15–20 ms of an all-right check)
    answers = ROOT / "samples" / "answers"
    code, right = _families_loaded("check", str(WORKED),
                                   str(answers / "stackexchange-answers.json"))
    assert code == 0 and right == {"cnngrad.families.base", "cnngrad.families.conv2d"}
    code, wrong = _families_loaded("check", str(WORKED), str(answers / "stackexchange-wrong.json"))
    assert code == 1 and "cnngrad.families.pool2d" in wrong  # diagnosed: the slips are made


def test_help_imports_no_click_of_its_own():
    # click is no dependency (typer vendors its own): a help that imported it ran only where
    # some other package had installed it
    modules = imported_modules("generate", "--help")
    assert heavy(modules, "click") == [], heavy(modules, "click")
    sources = (ROOT / "cnngrad").rglob("*.py")
    assert not [str(path) for path in sources
                if re.search(r"^\s*(import|from) click\b", path.read_text(encoding="utf-8"),
                             re.MULTILINE)]


def test_gradcheck_defaults_match_the_engine():
    import cnngrad.cli.gradcheck as command
    import cnngrad.teach.gradcheck as engine

    for name in ("DEFAULT_EPS", "DEFAULT_RTOL", "DEFAULT_ATOL", "DEFAULT_MAX_EVALUATIONS"):
        assert getattr(command, name) == getattr(engine, name), name


# --------------------------------------------------------------------------- option values


def typer_params():
    import typer.main

    group = typer.main.get_command(app)
    for name in ("backward", "gradcheck", "check"):
        yield from group.commands[name].params


CANDIDATES = ["json", "", "-", "6", "17", "18", "-1", "0", "007", " 7 ", "1_000", "2.5", "1e-5",
              "+1.5E+3", ".5", "5.", "inf", "nan", "1e999", "abc", "9" * 30, "ünïcode",
              "result.npz", "samples/stackexchange.json", "/", "no/such/folder/r.npz"]


def test_plain_values_equal_typer_s_own_reading(monkeypatch, tmp_path):
    from typer import BadParameter
    from typer._coercion import build_runtime_param  # pinned (typer < 0.30), as plain_values

    from cnngrad.cli.plain_values import _UNSURE, plain_value

    monkeypatch.chdir(ROOT)
    checked = 0
    for param in typer_params():
        descriptor = param.type_descriptor
        if descriptor.annotation is bool:
            continue
        own = build_runtime_param(descriptor)
        values = [[c, c] for c in CANDIDATES] if param.nargs == -1 else CANDIDATES
        for value in values:
            try:
                plain = plain_value(descriptor.annotation, descriptor.parameter_info, value)
            except BadParameter:  # out of range: typer refuses it too (in its own words)
                with pytest.raises(BadParameter):
                    own.coerce(value, param=param, ctx=None)
                checked += 1
                continue
            if plain is _UNSURE:
                continue
            try:
                expected = own.coerce(value, param=param, ctx=None)
            except BadParameter:
                pytest.fail(f"{param.name}: {value!r} read as {plain!r}, typer refuses it")
            assert type(plain) is type(expected) and plain == expected, (param.name, value)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("args, message", [
    (("--decimals", "18"), "--decimals"),
    (("--decimals", "x"), "--decimals"),
    (("--max-elements", "0"), "--max-elements"),
])
def test_bad_option_values_still_get_typer_s_message(args, message):
    result = invoke("backward", WORKED, *args)
    assert result.exit_code == 2 and message in result.output


def test_lenient_spellings_still_read_as_typer_reads_them():
    assert ok("backward", WORKED, "--decimals", " 3 ") == ok("backward", WORKED, "--decimals", "3")
    out = ok("gradcheck", NETWORK, "--eps", "1E-6", "--format", "json")
    assert out == ok("gradcheck", NETWORK, "--eps", "0.000001", "--format", "json")


def test_help_and_an_existing_output_file_still_work(tmp_path):
    assert "--full" in ok("backward", "--help") and "npz" in ok("forward", "--help")
    target = tmp_path / "r.json"
    target.write_text("old", encoding="utf-8")
    ok("backward", WORKED, "--format", "json", "-o", target)  # typer's own Path check
    assert json.loads(target.read_text(encoding="utf-8"))["layers"]


@pytest.mark.parametrize("args", [
    ("backward", WORKED, "--format", "json"),
    ("backward", NETWORK, "--decimals", "3", "--lr", "0.1"),
    ("backward", "--help"),
    ("backward", WORKED, "--fromat", "json"),
    ("backward", WORKED, "--decimals", "99"),
    ("backward",),
    ("forward", MULTI, "--format", "markdown"),
    ("gradcheck", NETWORK, "--format", "json"),
    ("explain", WORKED, "conv2d_1.grads.kernel[0][0]"),
    ("samples",),
])
def test_a_one_command_app_runs_as_the_full_one(args):
    """main() registers only the command it runs (start-up): same output, same exit code."""
    from cnngrad.cli import build_app

    full = runner.invoke(build_app(), [str(a) for a in args])
    alone = runner.invoke(build_app((args[0],)), [str(a) for a in args])
    assert (alone.exit_code, alone.output) == (full.exit_code, full.output)


CROSS_ENTROPY = {
    "input": [[[[-0.4159, 0.9971], [-0.2136, -0.7261]]]],
    "layers": [{"type": "flatten"},
               {"type": "dense", "weights": [[0.1421, 0.2348, -0.4043, 0.8174],
                                             [-0.9583, -0.0375, 0.9645, 0.2515],
                                             [0.0969, 0.9469, -0.242, 0.52]]}],
    "loss": {"type": "cross_entropy", "target": [0]},
}


def test_a_float32_runs_json_holds_the_npzs_values_the_cross_entropy_loss_too(tmp_path):
    # the loss came back from float64 sums: the JSON wrote 1.5770737595063828, the .npz
    # its float32 rounding 1.5770738124847412 (torch's float32 cross_entropy)
    problem = tmp_path / "ce.json"
    problem.write_text(json.dumps(CROSS_ENTROPY), encoding="utf-8")
    target = tmp_path / "r.npz"
    ok("backward", problem, "--format", "npz", "-o", target, "--dtype", "float32")
    result = json.loads(ok("backward", problem, "--format", "json", "--dtype", "float32"))
    assert result["loss"] == 1.5770738124847412
    with np.load(target) as saved:
        assert float(saved["loss"]) == result["loss"]
        assert saved["dense_1.grads.weights"].tolist() == result["layers"][1]["grads"]["weights"]
