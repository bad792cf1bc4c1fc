"""Around a malformed problem: every case a user can hit gives a verdict or one clear line,
fast and in bounded memory, and ``-o`` behaves like the shell's ``>``, only atomically.

Each case runs through the real command line (typer's CliRunner, or a subprocess where a
signal, a closed or full standard output or a FIFO is the point) and must end with exit 0/1
and a verdict, or exit 2 and one ``error:`` line (its hint, if any, after ``; hint:``): never a
traceback, never "internal error", never a raw numpy RuntimeWarning.  The work budgets
(docs/limits.md) refuse a problem too big for its mode before any of the work.  A mutation
fuzz test runs every sample and answers file, mutated, through every command and format.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.cli.output import TerminalText, escape_controls

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
WORKED = str(SAMPLES / "stackexchange.json")
NETWORK = str(SAMPLES / "stackexchange-network.json")
runner = CliRunner()

SHORT = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, 1]],
         "delta": [[1, 0], [0, 1]]}
CLI = [sys.executable, "-m", "cnngrad"]


def invoke(*args, input=None, env=None):
    return runner.invoke(app, [str(a) for a in args], input=input, env=env)


def write(folder: Path, doc, name: str = "p.json") -> Path:
    path = folder / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def clean(result) -> None:
    """No traceback, no internal error, no raw warning, and no exception escaped the command
    (the test runner catches one and gives exit code 1 with no traceback in the output)."""
    output = result.output
    assert not isinstance(result.exception, Exception), (output, result.exception)
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert "Warning" not in output, output


def one_error(result, *fragments: str) -> str:
    """Exit 2 with one ``error:`` line holding ``fragments`` before its hint (if any, after
    ``; hint: ``); returns the line without the hint."""
    assert result.exit_code == 2, result.output
    clean(result)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0].partition("; hint: ")[0]
    assert line.startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in line, line
    return line


def run_cli(*args, timeout=60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, **kwargs)


# ------------------------------------------------------------------ verdicts, not crashes


def test_a_value_near_float64_s_limit_is_coloured_without_overflow(tmp_path):
    """|1e308| / scale overflowed the heat colour; ±1e308 overflowed the mean and norm."""
    doc = {"input": [[1e308, -1e308], [1, 2]], "layers": [{"type": "conv2d", "kernel": [[1]]}],
           "delta": [[1, 1], [1, 1]]}
    result = invoke("forward", write(tmp_path, doc))
    assert result.exit_code == 0, result.output
    clean(result)
    assert "1.00000e+308" in result.stdout


def test_exact_wide_table_with_huge_values_has_a_stats_line(tmp_path):
    n = 26  # as many +1e308 as −1e308: the mean is 0, the norm beyond float64
    doc = {"input": [[1e308 if (i + j) % 2 else -1e308 for j in range(n)] for i in range(n)],
           "layers": [{"type": "conv2d", "kernel": [[1]]}], "delta": [[0] * n] * n}
    result = invoke("forward", write(tmp_path, doc), "--exact")
    assert result.exit_code == 0, result.output
    clean(result)
    assert "norm inf" in result.stdout and "mean 0" in result.stdout


def test_a_wide_float_table_s_norm_is_scaled_not_overflowed(tmp_path):
    n = 25
    doc = {"input": [[1e200] * n] * n, "layers": [{"type": "conv2d", "kernel": [[1]]}],
           "delta": [[0] * n] * n}
    result = invoke("forward", write(tmp_path, doc))
    assert result.exit_code == 0, result.output
    clean(result)
    assert "norm 2.50000e+201" in result.stdout  # √625 · 1e200, not inf


def test_explain_loss_when_softmax_underflows(tmp_path):
    """p = softmax(y) underflows to 0; log p is still y − logsumexp(y) = −1000."""
    doc = {"input": [[1000, 0]], "layers": [{"type": "flatten"}],
           "loss": {"type": "cross_entropy", "target": [0, 1]}}
    path = write(tmp_path, doc)
    result = invoke("explain", path, "loss", "-f", "json")
    assert result.exit_code == 0, result.output
    clean(result)
    assert json.loads(result.stdout)["total"] == pytest.approx(1000.0)
    backward = json.loads(invoke("backward", path, "-f", "json").stdout)
    assert backward["loss"] == pytest.approx(1000.0)


def test_gradcheck_with_a_big_eps_gives_a_verdict():
    result = invoke("gradcheck", NETWORK, "--eps", "10")
    assert result.exit_code in (0, 1), result.output
    clean(result)
    assert "eps 10" in result.stdout


@pytest.mark.parametrize("value", ["0", "-1e-6", "nan", "inf"])
def test_gradcheck_refuses_a_step_that_is_no_step(value):
    one_error(invoke("gradcheck", NETWORK, "--eps", value), "--eps")


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_gradcheck_that_overflows_says_so_as_backward_does(tmp_path, fmt):
    doc = {"input": [[1e308, -1e308], [1, 2]], "layers": [{"type": "conv2d", "kernel": [[2]]}],
           "delta": [[1, 1], [1, 1]]}
    path = write(tmp_path, doc)
    line = one_error(invoke("gradcheck", path, "-f", fmt), "the result overflows to infinity")
    assert line == one_error(invoke("backward", path))


def test_an_element_index_of_5000_digits(tmp_path):
    answers = write(tmp_path, '{"conv2d_1.grads.kernel[' + "1" * 5000 + ',0]": 1}', "a.json")
    one_error(invoke("check", WORKED, answers),
              "is outside any tensor (an index of more than 640 digits)")


def test_a_300_character_file_name(tmp_path):
    for command in ("backward", "forward", "explain", "gradcheck"):
        target = tmp_path / ("x" * 300)
        line = one_error(invoke(command, NETWORK, "-o", target), "--output",
                         "file name is too long")
        assert len(line) < 200
    one_error(invoke("check", WORKED, SAMPLES / "answers" / "stackexchange-answers.json", "-o",
                     tmp_path / ("x" * 300)), "file name is too long")


def test_a_name_that_fits_is_not_made_too_long_by_the_temporary_file(tmp_path):
    target = tmp_path / ("y" * 250)
    result = invoke("backward", WORKED, "-f", "json", "-o", target)
    assert result.exit_code == 0, result.output
    json.loads(target.read_text())


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "latex"])
def test_a_lone_surrogate_in_the_title(tmp_path, fmt):
    path = write(tmp_path, '{"title": "bad \\ud800 title", ' + json.dumps(SHORT)[1:])
    result = invoke("backward", path, "-f", fmt)
    assert result.exit_code == 0, result.output
    clean(result)
    assert "\ud800" not in result.stdout
    if fmt != "csv":  # a CSV result has no title line
        assert "\\ud800" in result.stdout


def test_raw_runtime_warnings_never_reach_the_user(tmp_path):
    for args in (("backward", NETWORK, "--lr", "1e308"), ("forward", NETWORK),
                 ("check", NETWORK, SAMPLES / "answers" / "stackexchange-wrong.json")):
        result = invoke(*args)
        assert result.exit_code in (0, 1, 2), result.output
        clean(result)
        assert "RuntimeWarning" not in result.stderr


def test_lr_that_overflows_the_update_is_one_line(tmp_path):
    doc = dict(SHORT, input=[[1e300] * 3] * 3)
    result = invoke("backward", write(tmp_path, doc), "--lr", "1e308")
    one_error(result, "overflows to infinity")


@pytest.mark.parametrize("dtype, big, small", [("float64", 1e300, 1e-150),
                                               ("float32", 1e30, 1e-20)])
def test_forward_is_not_refused_for_a_gradient_it_does_not_show(tmp_path, dtype, big, small):
    # outputs and loss fit the dtype; only dE/dw = Σ x·δ (about big²·small) overflows
    doc = {"input": [[1, 1], [1, big]], "layers": [{"type": "conv2d", "kernel": [[small]]},
                                                   {"type": "flatten"}],
           "loss": {"type": "mse", "target": [0, 0, 0, 0]}}
    path = write(tmp_path, doc)
    result = invoke("forward", path, "-f", "json", "--dtype", dtype)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["loss"] == pytest.approx(0.5 * (big * small) ** 2, rel=1e-6)
    assert shown["layers"][1]["output"][3] == pytest.approx(big * small, rel=1e-6)
    one_error(invoke("backward", path, "--dtype", dtype), "conv2d_1.grads.kernel",
              "overflows to infinity")
    # what forward shows still overflows as backward says it does
    doc["loss"]["target"] = [0, 0, 0, -big]
    line = one_error(invoke("forward", write(tmp_path, doc), "--dtype", dtype), "loss",
                     "overflows to infinity")
    assert "grads" not in line


# ------------------------------------------------------------------ silent corruption


@pytest.mark.parametrize("name", ["conv\n", "conv\r", "co nv", "conv\t"])
def test_a_layer_name_with_a_line_break_is_refused(tmp_path, name):
    doc = {"input": SHORT["input"], "delta": [[1, 0], [0, 1]],
           "layers": [{"type": "conv2d", "kernel": [[1, 0], [0, 1]], "name": name}]}
    one_error(invoke("backward", write(tmp_path, doc), "-f", "csv"), "name")


@pytest.mark.parametrize("digits", ["١٢", "１２", "٣/٤", "12١"])
def test_non_ascii_digits_are_not_numbers(tmp_path, digits):
    doc = dict(SHORT, input=[[digits, 1, 1], [1, 1, 1], [1, 1, 1]])
    one_error(invoke("backward", write(tmp_path, doc)), "input[0][0]", "is not a number")


def test_non_ascii_digits_in_a_csv_are_not_numbers(tmp_path):
    (tmp_path / "o.csv").write_text("１,2\n3,4\n", encoding="utf-8")
    doc = dict(SHORT, input={"csv": "o.csv"}, delta=[[1]])
    one_error(invoke("backward", write(tmp_path, doc)), "o.csv", "is not a number")


@pytest.mark.parametrize("target, where, value", [([1.5, -0.5], "loss.target[0]", "1.5"),
                                                   ([0.5, 0.5, 0.5, -0.5], "loss.target[3]",
                                                    "-0.5")])
def test_negative_cross_entropy_probabilities_are_refused(tmp_path, target, where, value):
    # sums to 1 but is no distribution: each probability lies in [0, 1]
    doc = {"input": [target], "layers": [{"type": "flatten"}],
           "loss": {"type": "cross_entropy", "target": target}}
    one_error(invoke("backward", write(tmp_path, doc)), where,
              f"a probability lies in [0, 1], got {value}")


@pytest.mark.parametrize("text, row", [('"1,2\n3,4\n', 1), ('1,2\n3,"4\n', 2)])
def test_an_unterminated_csv_quote(tmp_path, text, row):
    (tmp_path / "o.csv").write_text(text)
    doc = dict(SHORT, input={"csv": "o.csv"}, delta=[[1]])
    line = one_error(invoke("backward", write(tmp_path, doc)), f"o.csv: row {row}",
                     "never closed")
    assert "header" not in line


# ------------------------------------------------------------------ control characters


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "latex"])
def test_escape_sequences_in_a_title_are_shown_escaped(tmp_path, fmt):
    doc = dict(SHORT, title="evil \x1b[2J\x1b]0;pwned\x07 \x9b31m title")
    result = invoke("backward", write(tmp_path, doc), "-f", fmt)
    assert result.exit_code == 0, result.output
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in result.stdout
    if fmt != "csv":  # a CSV result has no title line; Markdown escapes its [ as markup
        assert ("\\u001b\\[2J" if fmt == "markdown" else "\\u001b[2J") in result.stdout
    if fmt == "json":
        assert json.loads(result.stdout)["title"] == doc["title"]  # same meaning


def test_escape_sequences_in_answers_are_shown_escaped(tmp_path):
    answers = write(tmp_path, {"conv2d_1.grads.kernel": "\x1b[31mred\x1b[0m",
                               "\x1b[2Jconv2d_1.delta_in": 1}, "a.json")
    for fmt in ("table", "json", "csv"):
        result = invoke("check", WORKED, answers, "-f", fmt)
        assert result.exit_code in (1, 2), result.output
        clean(result)
        assert "\x1b" not in result.output


@pytest.mark.parametrize("command, after", [("backward", "\nno loss"),
                                             ("gradcheck", "\nanalytic")])
def test_an_escaped_title_is_laid_out_whole_within_80_columns(tmp_path, command, after):
    # escaped after the layout, a title's \x1b (no cell) became \u001b (six): the line ran
    # past the width and was cropped there, cutting the title short
    title = "A\x1b[31m title with escape " * 4
    result = invoke(command, write(tmp_path, dict(SHORT, title=title)),
                    env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    head = result.stdout.split(after)[0]
    assert max(len(line) for line in head.splitlines()) <= 80, head
    assert " ".join(head.split()) == " ".join(f"cnngrad {command} · {escape_controls(title)}"
                                              .split())


@pytest.mark.parametrize("to_file", [True, False])
def test_text_escaped_after_the_layout_is_never_cropped(monkeypatch, to_file):
    # what reaches a report unescaped still comes out whole: a line its escapes carry past
    # the width is longer, not cut
    from rich.console import Group
    from rich.text import Text

    from cnngrad.cli.common import render_rich

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "80")
    if not to_file:  # the terminal's branch (pytest's standard output is none)
        monkeypatch.setattr(sys, "stdout", Terminal())
    words = "x\x1b[31m word " * 8
    text = render_rich(Group(Text(words), Text("end")), to_file=to_file)
    assert isinstance(text, TerminalText) != to_file
    assert " ".join(text.split()) == " ".join(escape_controls(words).split() + ["end"])


def test_a_control_character_in_a_file_name_keeps_the_grade_sheet_in_line(tmp_path):
    # the student's name was measured raw (\x1b no cell wide) and printed escaped: every
    # column after it sat five cells right of its header, past 80 columns
    (tmp_path / "a\x1bb.json").write_text('{"notes": "x"}')
    (tmp_path / "zed.json").write_text((SAMPLES / "exam" / "ben.json").read_text())
    result = invoke("check", SAMPLES / "exam.json", tmp_path, env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("student"))
    row = next(line for line in lines if line.startswith("a\\u001bb"))
    assert row.index("error") == header.index("status"), (header, row)
    assert max(len(line) for line in lines) <= 80, result.stdout


def test_escape_controls_keeps_plain_text_and_line_breaks():
    assert escape_controls("a\tb\nc é ü 漢") == "a\tb\nc é ü 漢"
    assert escape_controls("\x1b\x00\x7f\u202e\ud800") == "\\u001b\\u0000\\u007f\\u202e\\ud800"


#: Code points for the escaping tests: all below 256, the edges of every other range the
#: escaping covers, and a sample of the rest
CODE_POINTS = [*range(0x100), 0x2027, 0x2028, 0x2029, 0x202a, 0x202e, 0x202f, 0x2065, 0x2066,
               0x2069, 0x206a, 0xd7ff, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe000, 0xfefe, 0xfeff,
               0xff00, 0x10ffff, *range(0x100, 0x110000, 4099)]


@pytest.mark.parametrize("around", ["", "0.123456,-1.000000\n" * 2000, "é"])
def test_escape_controls_escapes_every_control_whatever_the_text_around_it(around):
    # ASCII text takes a path of its own (its bytes, not the regex): each code point, alone
    # and in the middle of a long ASCII text (or beside an é), as the regex alone writes it
    from cnngrad.render import _CONTROL

    half = len(around) // 2
    for code in CODE_POINTS:
        text = around[:half] + chr(code) + around[half:]
        expected = _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
        assert escape_controls(text) == expected, hex(code)


@pytest.mark.parametrize("at", [0, 6, 7, 8, 13, 14, 20])
def test_escape_controls_finds_a_control_in_any_slice_of_ascii_text(monkeypatch, at):
    # ASCII text is searched a slice at a time: a control in the first, at a boundary, in the
    # last
    import cnngrad.render as render

    monkeypatch.setattr(render, "_ASCII_SLICE", 7)
    monkeypatch.setattr(render, "_ASCII_FROM", 0)
    text = "0123456789abcdefghij"
    assert escape_controls(text) is text
    assert escape_controls(text[:at] + "\x1b" + text[at:]) == text[:at] + "\\u001b" + text[at:]


# ------------------------------------------------------------------ -o like >, atomically


def test_output_with_a_trailing_slash_names_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_error(invoke("backward", WORKED, "-o", "out/"), "--output", "'out'",
                     "does not exist")
    assert "folder" in line
    assert not (tmp_path / "out").exists()
    (tmp_path / "there").mkdir()
    one_error(invoke("backward", WORKED, "-o", "there/"), "is a folder")


@pytest.mark.parametrize("command", [["backward", WORKED], ["gradcheck", WORKED], ["schema"]])
def test_output_onto_a_folder_hints_at_a_file_inside_it(tmp_path, monkeypatch, command):
    # with or without the trailing slash, the same line and the same hint
    monkeypatch.chdir(tmp_path)
    (tmp_path / "there").mkdir()
    for name in ("there", "there/"):
        result = invoke(*command, "-o", name)
        one_error(result, "is a folder, not a file")
        assert result.stderr.rstrip().endswith("; hint: give a file name inside it"), result.stderr


@pytest.mark.parametrize("command", [
    ["backward", "{typo}"], ["explain", "{typo}", "loss"], ["gradcheck", "{typo}"],
    ["generate", "{typo}", "--seed", "1"], ["check", WORKED, "{typo}"],
    ["verify", "{typo}:conv2d_backward", "--op", "conv2d_backward"]])
def test_a_misspelt_file_name_suggests_the_file_beside_it(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "stackexchange.json").write_text("{}")
    (tmp_path / "sub" / "stackexchange.py").write_text("")
    suffix = ".py" if command[0] == "verify" else ".json"
    result = invoke(*[a.replace("{typo}", "sub/stackexchnage" + suffix) for a in command])
    one_error(result, "no such file")
    assert result.stderr.rstrip().endswith(
        f"; hint: did you mean sub/stackexchange{suffix}?"), result.stderr
    # nothing close: no hint
    result = invoke("backward", "sub/other.json")
    one_error(result, "no such file")
    assert "hint" not in result.stderr


@pytest.mark.parametrize("typed, hint", [
    ("nope.json", None),            # ".json" shared makes good.json no nearer
    ("gooood.json", "good.json"),
    ("good.jsno", "good.json"),     # a slip in the suffix
    ("oops.csv", None),
    ("ok.cvs", "ok.csv")])
def test_a_near_file_is_near_by_its_name_not_its_suffix(tmp_path, monkeypatch, typed, hint):
    monkeypatch.chdir(tmp_path)
    for name in ("good.json", "bn_ok.json", "ok.csv"):
        (tmp_path / name).write_text("{}")
    result = invoke("backward", typed)
    one_error(result, "no such file")
    if hint is None:
        assert "hint" not in result.stderr
    else:
        assert result.stderr.rstrip().endswith(f"; hint: did you mean {hint}?")


def test_a_misspelt_file_name_with_a_control_character_is_escaped_as_the_message_is(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a\x1bstackexchange.json").write_text("{}")
    result = invoke("backward", "a\x1bstackexchnage.json")
    one_error(result, "error: a\\x1bstackexchnage.json: no such file")
    assert result.stderr.rstrip().endswith(
        "; hint: did you mean a\\x1bstackexchange.json?"), result.stderr


def test_output_into_a_missing_folder_names_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_error(invoke("backward", WORKED, "-o", "missing/r.json"), "folder 'missing'")


def test_output_onto_a_fifo_writes_into_it(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    result = invoke("backward", WORKED, "-f", "json", "-o", fifo)
    out, _ = reader.communicate(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a FIFO, not a regular file
    assert json.loads(out)["title"]


def test_output_to_dev_null_and_dev_stdout_are_written_not_replaced():
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    result = invoke("backward", WORKED, "-o", "/dev/null")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    piped = run_cli("backward", WORKED, "-f", "json", "-o", "/dev/stdout")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["title"]


def test_output_over_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "grades.json"
    target.write_text("precious")
    target.chmod(0o444)
    one_error(invoke("backward", WORKED, "-o", target), "--output", "permission denied")
    assert target.read_text() == "precious"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664])
def test_output_keeps_the_mode_of_the_file_it_replaces(tmp_path, mode):
    target = tmp_path / "grades.csv"
    target.write_text("old")
    target.chmod(mode)
    result = invoke("backward", WORKED, "-f", "csv", "-o", target)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_text() != "old"
    assert not list(tmp_path.glob(".*.tmp"))


def test_output_through_a_symlink_replaces_the_file_it_points_to(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert invoke("backward", WORKED, "-f", "json", "-o", link).exit_code == 0
    assert link.is_symlink() and json.loads(real.read_text())["title"]


@pytest.mark.parametrize("args", [
    ("backward", WORKED, "-f", "json"), ("forward", WORKED, "-f", "csv"), ("schema",),
    ("explain", NETWORK, "loss"), ("gradcheck", WORKED),
    ("check", WORKED, str(SAMPLES / "answers" / "stackexchange-answers.json"))])
def test_output_dash_is_standard_output(tmp_path, monkeypatch, args):
    """-o - prints what no -o prints (as PROBLEM - reads standard input), no file named -."""
    monkeypatch.chdir(tmp_path)
    plain, dashed = invoke(*args), invoke(*args, "-o", "-")
    assert dashed.exit_code == plain.exit_code == 0, dashed.output
    assert dashed.stdout == plain.stdout and plain.stdout.strip()
    assert list(tmp_path.iterdir()) == []


def test_a_file_named_dash_is_written_as_dot_slash_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("backward", WORKED, "-f", "json", "-o", "./-").exit_code == 0
    assert json.loads((tmp_path / "-").read_text())["title"]


def test_npz_to_a_dash_is_refused_as_for_the_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_error(invoke("backward", WORKED, "-f", "npz", "-o", "-"),
              "npz is a binary file, written only to a file named with -o")
    assert list(tmp_path.iterdir()) == []


def test_save_svg_is_written_only_when_the_run_succeeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    one_error(invoke("backward", WORKED, "--save-svg", "x.svg", "-o", "missing/out.json"),
              "missing")
    assert not (tmp_path / "x.svg").exists()
    assert not list(tmp_path.glob(".*.tmp"))
    assert invoke("backward", WORKED, "--save-svg", "x.svg", "-o", "out.txt").exit_code == 0
    assert (tmp_path / "x.svg").read_text().lstrip().startswith("<svg")


SIGNAL_DURING_WRITE = """
import os, signal, sys, time
import cnngrad.cli.output as output
def replace(*args):  # the temporary file is written in full: the signal comes now
    os.kill(os.getpid(), signal.{name})
    time.sleep(10)
output.os.replace = replace
sys.argv = ["cnngrad", "backward", {problem!r}, "-f", "json", "-o", "out.json"]
from cnngrad.cli import main
main()
"""


CTRL_C_WHILE_IMPORTING = """
import runpy, sys

class CtrlC:  # Ctrl-C arriving while typer is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            raise KeyboardInterrupt

sys.meta_path.insert(0, CtrlC())
sys.argv = ["cnngrad", "--version"]
runpy.run_module("cnngrad", run_name="__main__")
"""


def test_ctrl_c_while_the_command_line_is_imported_is_one_line():
    result = subprocess.run([sys.executable, "-c", CTRL_C_WHILE_IMPORTING], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (130, "error: interrupted\n")


def _signals_as_in_a_terminal() -> None:
    # a child inherits ignored signals, and Python leaves an ignored SIGINT ignored: under
    # pytest-xdist 3.5, whose workers ignore it, the signal did nothing (exit 0)
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


@pytest.mark.parametrize("name, code, message", [("SIGTERM", -signal.SIGTERM, ""),
                                                 ("SIGINT", 130, "error: interrupted")])
def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, name, code, message):
    (tmp_path / "out.json").write_text("precious")
    result = subprocess.run([sys.executable, "-c", SIGNAL_DURING_WRITE.format(
        name=name, problem=WORKED)], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, preexec_fn=_signals_as_in_a_terminal)
    assert result.returncode == code, result.stderr
    assert result.stderr.strip() == message
    assert not list(tmp_path.glob(".*.tmp"))
    assert (tmp_path / "out.json").read_text() == "precious"


# ------------------------------------------------------------------ standard output


@pytest.mark.parametrize("args", [("--help",), ("backward", "--help"), ("samples",),
                                  ("generate", "--list"), (),
                                  ("backward", WORKED), ("backward", WORKED, "-f", "json"),
                                  ("samples", "stackexchange"), ("schema",),
                                  ("explain", NETWORK, "loss"), ("gradcheck", WORKED),
                                  ("check", WORKED,
                                   str(SAMPLES / "answers" / "stackexchange-answers.json"))])
def test_a_full_standard_output_is_one_line(args):
    with open("/dev/full", "w") as full:
        result = subprocess.run([*CLI, *args], stdout=full, stderr=subprocess.PIPE, text=True,
                                timeout=60, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == ("error: cannot write standard output: no space left on "
                                     "device"), result.stderr


@pytest.mark.parametrize("args", [("backward", WORKED), ("samples",), ("schema",),
                                  ("--help",), ("backward", "-h"), ("--version",), (),
                                  ("generate", "--list")])
def test_a_closed_standard_output_is_one_line(args):
    result = subprocess.run([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, timeout=60, cwd=ROOT,
                            preexec_fn=lambda: os.close(1))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "error: cannot write standard output: it is closed"


def test_an_option_value_that_looks_like_help_is_no_help_to_a_closed_output(tmp_path):
    # -o --help writes the report to a file named --help; nothing goes to the closed output
    result = subprocess.run([*CLI, "backward", WORKED, "-o", "--help"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            timeout=60, preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "--help").read_text(encoding="utf-8").startswith("cnngrad backward")


@pytest.mark.parametrize("args", [("samples",), ("--help",), ("backward", WORKED),
                                  ("schema",), ("samples", "stackexchange")])
def test_a_reader_that_stops_after_one_line(args):
    result = subprocess.run(shlex.join([*map(str, CLI), *args]) + " | head -c 1 >/dev/null; "
                            "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                            capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# ------------------------------------------------------------------ FIFOs as input


def test_a_fifo_with_no_writer_as_the_problem_does_not_hang(tmp_path):
    fifo = tmp_path / "p.json"
    os.mkfifo(fifo)
    result = run_cli("backward", fifo, timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "pipe" in result.stderr


def test_a_fifo_with_no_writer_as_a_csv_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "o.csv")
    write(tmp_path, dict(SHORT, input={"csv": "o.csv"}))
    result = run_cli("backward", tmp_path / "p.json", timeout=30)
    assert result.returncode == 2
    assert "o.csv" in result.stderr and "pipe" in result.stderr


def test_a_pipe_with_a_writer_is_read(tmp_path):
    command = f"{shlex.join(map(str, CLI))} backward <(cat {shlex.quote(str(WORKED))}) -f json"
    result = subprocess.run(command,
                            shell=True, executable="/bin/bash", capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["title"]


# ------------------------------------------------------------------ work budgets


def _npy(folder: Path, name: str, shape, value=None) -> dict:
    array = (np.random.default_rng(0).random(shape) if value is None
             else np.full(shape, value, dtype=np.float64))
    np.save(folder / name, array)
    return {"npy": name}


def _refused_fast(result, *fragments):
    """Refused by a work budget: the message names it, so no work was done (the budgets are
    checked from the shapes alone, before any layer runs)."""
    line = one_error(result, *fragments)
    assert "CNNGRAD_MAX_WORK" in result.stderr
    return line


@pytest.mark.parametrize("size", [3001, 1001])
def test_a_huge_max_pool_window_is_refused_in_milliseconds(tmp_path, size):
    doc = {"input": _npy(tmp_path, "x.npy", (size, size), 0.0),
           "layers": [{"type": "maxpool2d", "size": size}], "delta": [[1]]}
    _refused_fast(invoke("backward", write(tmp_path, doc)), "maxpool2d_1", "window")


def test_a_ceil_mode_window_of_a_billion(tmp_path):
    doc = {"input": [[1, 2], [3, 4]], "delta": [[1]],
           "layers": [{"type": "maxpool2d", "size": 10**9, "padding": 0, "ceil_mode": True}]}
    result = invoke("backward", write(tmp_path, doc))
    one_error(result)


def test_a_100x100_window_at_stride_1_on_a_megapixel(tmp_path):
    doc = {"input": _npy(tmp_path, "x.npy", (1000, 1000)),
           "layers": [{"type": "maxpool2d", "size": 100, "stride": 1}],
           "delta": _npy(tmp_path, "d.npy", (901, 901))}
    _refused_fast(invoke("backward", write(tmp_path, doc)), "maxpool2d_1", "too much work")


def test_the_budget_is_raised_by_the_environment(tmp_path):
    doc = {"input": _npy(tmp_path, "x.npy", (40, 40)),
           "layers": [{"type": "maxpool2d", "size": 20, "stride": 1}],
           "delta": _npy(tmp_path, "d.npy", (21, 21))}
    path = write(tmp_path, doc)
    _refused_fast(invoke("backward", path, env={"CNNGRAD_MAX_WORK": "1e5"}), "maxpool2d_1")
    assert invoke("backward", path, env={"CNNGRAD_MAX_WORK": "1e12"}).exit_code == 0
    one_error(invoke("backward", path, env={"CNNGRAD_MAX_WORK": "lots"}), "CNNGRAD_MAX_WORK")


def test_show_steps_with_huge_padding_is_refused(tmp_path):
    doc = {"input": [[1, 2], [3, 4]], "kernel": [[1, 0], [0, 1]], "padding": 1500,
           "delta": _npy(tmp_path, "d.npy", (3001, 3001), 1.0)}
    path = write(tmp_path, doc)
    _refused_fast(invoke("backward", path, "--show-steps"), "--show-steps")


def test_ten_thousand_filters_as_json_is_refused(tmp_path):
    doc = {"input": _npy(tmp_path, "x.npy", (1, 30, 30)),
           "layers": [{"type": "conv2d", "kernel": _npy(tmp_path, "k.npy", (10_000, 1, 3, 3))}],
           "delta": _npy(tmp_path, "d.npy", (10_000, 28, 28), 0.0)}
    path = write(tmp_path, doc)
    result = invoke("backward", path, "-f", "json")
    _refused_fast(result, "--format", "too many to write as json")
    assert "--format npz" in result.stderr


def test_exact_with_a_huge_batch_is_refused_before_the_fractions(tmp_path):
    doc = {"input": _npy(tmp_path, "x.npy", (100_000, 1, 3, 3), 1.0),
           "layers": [{"type": "conv2d", "kernel": [[1, 2], [3, 4]]}],
           "delta": _npy(tmp_path, "d.npy", (100_000, 1, 2, 2), 1.0)}
    _refused_fast(invoke("backward", write(tmp_path, doc), "--exact"), "exact")


def test_gradcheck_is_budgeted_by_work_not_by_passes(tmp_path):
    # 17 passes, but every one of the 16 million relu inputs is a 0 to name as a kink
    doc = {"input": [[1, 2], [3, 4]], "delta": _npy(tmp_path, "d.npy", (4001, 4001), 1.0),
           "layers": [{"type": "conv2d", "kernel": [[1, 0], [0, 1]], "padding": 2000},
                      {"type": "relu"}]}
    line = _refused_fast(invoke("gradcheck", write(tmp_path, doc)), "gradcheck",
                         "forward passes", "naming up to 16,008,001 kinks")
    assert "17 forward passes" in line


def test_gradcheck_of_wide_layers_is_refused(tmp_path):
    # 13,825 passes (within --max-evaluations) of 64 filters over 48×48: minutes of work
    doc = {"input": _npy(tmp_path, "x.npy", (3, 48, 48)),
           "layers": [{"type": "conv2d", "kernel": _npy(tmp_path, "k.npy", (64, 3, 3, 3)),
                       "padding": 1}, {"type": "relu"}],
           "loss": {"type": "mse", "target": _npy(tmp_path, "t.npy", (64, 48, 48))}}
    _refused_fast(invoke("gradcheck", write(tmp_path, doc)), "gradcheck", "forward passes")


@pytest.mark.parametrize("activation", [[], [{"type": "relu"}],
                                        [{"type": "relu"}, {"type": "maxpool2d", "size": 2}]])
def test_gradcheck_of_a_small_conv_with_a_relu_is_within_the_budget(tmp_path, activation):
    # 3×32×32 through 8 filters 3×3: about a second of work with or without a relu (each
    # value is a few nanoseconds an evaluation; naming the kinks is paid once)
    from cnngrad.limits import check_gradcheck_work, gradcheck_work
    from cnngrad.problem import load_problem

    out = (8, 16, 16) if len(activation) == 2 else (8, 32, 32)
    doc = {"input": _npy(tmp_path, "x.npy", (3, 32, 32)),
           "layers": [{"type": "conv2d", "kernel": _npy(tmp_path, "k.npy", (8, 3, 3, 3)),
                       "padding": 1}, *activation],
           "loss": {"type": "mse", "target": _npy(tmp_path, "t.npy", out)}}
    problem = load_problem(str(write(tmp_path, doc)))
    check_gradcheck_work(problem, 20_000)
    evaluations, _, _, work = gradcheck_work(problem, 20_000)
    assert evaluations == 2 * (3 * 32 * 32 + 8 * 27) + 1
    assert work < 5e9  # measured 0.5–1.6 s in process: the estimate is within 4× of it


def test_full_table_of_a_million_cells_is_refused(tmp_path):
    doc = {"input": _npy(tmp_path, "x.npy", (1000, 1000)), "kernel": [[1]],
           "delta": _npy(tmp_path, "d.npy", (1000, 1000))}
    line = _refused_fast(invoke("backward", write(tmp_path, doc), "--full", "-o",
                                tmp_path / "t.txt"), "--full")
    assert "numbers" in line
    assert not (tmp_path / "t.txt").exists()


# ------------------------------------------------------------------ mutation fuzz

ANSWERS = sorted((SAMPLES / "answers").glob("*"))
PROBLEMS = sorted(SAMPLES.glob("*.json"))
COMMANDS = {
    "backward": ["table", "json", "csv", "latex", "markdown", "npz"],
    "forward": ["table", "json", "csv", "latex", "markdown", "npz"],
    "explain": ["table", "text", "json"],
    "check": ["table", "json", "csv"],
    "gradcheck": ["table", "json"],
}
NASTY = ["\x1b[2J", "\ud800", "١٢", "1e308", "-1e308", "1e-320", "0", "-0", "1/0", "",
         "nan", "9" * 400, "\n", "conv2d_1", "[", "{", '"', ",", "null", "true", "-1",
         "999999999999", "0.5", "layers", "loss", "kernel"]


def _mutate(data: bytes, draw) -> bytes:
    text = data.decode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "number", "swap"]))
        position = draw(st.integers(0, max(len(text) - 1, 0)))
        if kind == "replace":
            length = draw(st.integers(1, 8))
            text = text[:position] + draw(st.sampled_from(NASTY)) + text[position + length:]
        elif kind == "insert":
            text = text[:position] + draw(st.sampled_from(NASTY)) + text[position:]
        elif kind == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 20)):]
        elif kind == "number":
            numbers = list(re.finditer(r"-?\d+(?:\.\d+)?", text))
            if numbers:
                match = numbers[draw(st.integers(0, len(numbers) - 1))]
                text = text[:match.start()] + draw(st.sampled_from(NASTY)) + text[match.end():]
        else:
            text = text[position:] + text[:position]
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_mutated_samples_through_every_command_and_format(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "csv").mkdir()
    for csv_file in (SAMPLES / "csv").glob("*.csv"):
        (folder / "csv" / csv_file.name).write_bytes(csv_file.read_bytes())
    source = data.draw(st.sampled_from(PROBLEMS + ANSWERS + sorted((SAMPLES / "csv").glob("*"))))
    mutated = _mutate(source.read_bytes(), data.draw)
    command = data.draw(st.sampled_from(sorted(COMMANDS)))
    fmt = data.draw(st.sampled_from(COMMANDS[command]))
    if source in PROBLEMS:
        problem = folder / source.name
        problem.write_bytes(mutated)
        answers = SAMPLES / "answers" / "stackexchange-wrong.json"
    elif source in ANSWERS:
        problem = SAMPLES / "stackexchange.json"
        answers = folder / source.name
        answers.write_bytes(mutated)
        command = "check"
        fmt = data.draw(st.sampled_from(COMMANDS["check"]))
    else:  # a CSV the CSV sample reads
        (folder / "csv" / source.name).write_bytes(mutated)
        problem = folder / "stackexchange-csv.json"
        problem.write_bytes((SAMPLES / "stackexchange-csv.json").read_bytes())
        answers = SAMPLES / "answers" / "stackexchange-answers.json"
    args = {"backward": [problem], "forward": [problem], "gradcheck": [problem],
            "explain": [problem, data.draw(st.sampled_from(
                ["loss", "conv2d_1.grads.kernel[0,0]", "conv2d_1.delta_in[1,1]", ""]))],
            "check": [problem, answers]}[command]
    args = [a for a in args if a != ""]
    extra = ["-o", folder / "result.npz"] if fmt == "npz" else []
    result = invoke(command, *args, "-f", fmt, *extra)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output)
    clean(result)
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        assert lines and lines[-1 if len(lines) == 1 else 0].startswith(("error: ", "note: ")) \
            or "Usage" in result.output, result.output


# ------------------------------------------------------------------ keys before numbers


def test_top_level_keys_are_found_without_parsing_the_values():
    from cnngrad.tensorio import top_level_keys

    doc = b'{"a": [1, {"b": 2}], "c" : "x:", "d": {"e": ["]"]}, "f\\"g": 1}'
    assert top_level_keys(doc) == ["a", "c", "d", 'f"g']
    assert top_level_keys(b"[1, 2]") is None


@pytest.mark.parametrize("rest, where, hint", [
    ('"kernal": [[1]], "delta": [[1]]', "kernal", "did you mean 'kernel'"),
    ('"layers": [{"type": "conv2d", "kernel": [[1]]}, {"type": "maxpool2d", "sise": 2}], '
     '"delta": [[1]]', "layers[1].sise", "did you mean 'size'"),
    ('"layers": [{"type": "flatten"}], "loss": {"type": "mse", "traget": [1, 1, 1, 1]}',
     "loss.traget", "did you mean 'target'"),
    # Keras' activation key, its layer listed after it already: the same hint as the full
    # reading's, which looks at the next layer
    ('"layers": [{"type": "conv2d", "kernel": [[1]], "activation": "relu"}, {"type": "relu"}], '
     '"delta": [[1, 1], [1, 1]]', "layers[0].activation",
     'the next layer is {"type": "relu"} already'),
])
def test_a_big_problem_with_a_misspelt_key_is_told_before_its_numbers(tmp_path, monkeypatch,
                                                                      rest, where, hint):
    """The unknown key comes before the numbers are read: a NaN among them (which the full
    reading reports first) is never reached; the words are those of the full reading."""
    import cnngrad.cli.common as common

    good = write(tmp_path, '{"input": [[1, 2], [3, 4]], ' + rest + "}", "good.json")
    full_reading = one_error(invoke("backward", good), f"{where}: unknown key")
    monkeypatch.setattr(common, "KEYS_FIRST_BYTES", 0)  # as if the file were 200 MB
    path = write(tmp_path, '{"input": [[1, NaN], [3, 4]], ' + rest + "}", "good.json")
    result = invoke("backward", path)
    assert one_error(result, f"{where}: unknown key") == full_reading
    assert hint in result.stderr


# ------------------------------------------------------------------ indices and streams


@pytest.mark.parametrize("index", ["[١,0]", "[１,0]", "[" + "1" * 5000 + ",0]"])
def test_explain_and_check_refuse_indices_that_are_not_plain_numbers(tmp_path, index):
    one_error(invoke("explain", WORKED, f"conv2d_1.delta_in{index}"), "PATH")
    answers = write(tmp_path, {f"conv2d_1.grads.kernel{index}": 1}, "a.json")
    one_error(invoke("check", WORKED, answers), "index")


def test_a_closed_standard_input_is_one_line():
    result = subprocess.run([*CLI, "backward", "-"], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, cwd=ROOT,
                            preexec_fn=lambda: os.close(0))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: <stdin>: cannot read standard input: it is closed"


def test_a_closed_standard_error_still_gives_the_exit_code(tmp_path):
    result = subprocess.run([*CLI, "backward", "no-such.json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, timeout=60, cwd=ROOT,
                            preexec_fn=lambda: os.close(2))
    assert result.returncode == 2
    assert result.stdout == b""


@pytest.mark.parametrize("picture, output", [("/dev/full", "out.txt"),
                                             ("x.svg", "/dev/full")])
def test_a_device_that_fails_leaves_the_other_file_as_it_was(tmp_path, monkeypatch, picture,
                                                             output):
    # a device is written through, not renamed into place: it goes first, so that when it
    # fails the report file (or picture) is not replaced by a run that failed
    monkeypatch.chdir(tmp_path)
    kept = tmp_path / ("out.txt" if output == "out.txt" else "x.svg")
    kept.write_text("precious")
    result = invoke("backward", WORKED, "--save-svg", picture, "-o", output)
    assert result.exit_code == 2
    assert result.stderr.endswith("cannot write there: no space left on device\n")
    assert kept.read_text() == "precious"
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_picture_on_a_failing_device_prints_no_report(tmp_path):
    result = invoke("backward", WORKED, "--save-svg", "/dev/full")
    assert result.exit_code == 2 and result.stdout == ""


def test_save_svg_with_a_300_character_name(tmp_path):
    one_error(invoke("backward", WORKED, "--save-svg", tmp_path / ("x" * 296 + ".svg")),
              "--save-svg", "too long")


def test_output_to_dev_stdout_appended_to_a_log_keeps_the_log(tmp_path):
    """``-o /dev/stdout >> log`` writes to the open standard output, not a reopened file
    (which would truncate the log)."""
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    with open(log, "a") as stream:
        result = subprocess.run([*CLI, "backward", WORKED, "-f", "json", "-o", "/dev/stdout"],
                                stdout=stream, stderr=subprocess.PIPE, text=True, timeout=60,
                                cwd=ROOT)
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert text.startswith("earlier\n{")
    json.loads(text[len("earlier\n"):])


@pytest.mark.parametrize("layers, delta", [
    ([{"type": "dense", "weights": [[1, 0, 1], [0, 1, 0]]}], [1, 2]),
    ([{"type": "dense", "name": "fc", "weights": [[1, 0, 1], [0, 1, 0]]},
      {"type": "softmax"}], [1, 2]),
    ([{"type": "softmax"}], [1, 2, 3]),
])
def test_a_vector_input_to_a_dense_network_runs_as_one_row_flattened(tmp_path, layers, delta):
    # with no layer that works on maps, a vector is an input (as torch.nn.Linear takes a 1-D
    # tensor): the same numbers as the vector written [[…]] and flattened
    doc = {"input": [1, 2, 3], "layers": layers, "delta": delta}
    result = invoke("backward", write(tmp_path, doc), "-f", "json")
    assert result.exit_code == 0, result.output
    as_row = invoke("backward", write(tmp_path, dict(doc, input=[[1, 2, 3]], layers=[
        {"type": "flatten"}, *layers]), "row.json"), "-f", "json")
    vector_layers = json.loads(result.stdout)["layers"]
    row_layers = json.loads(as_row.stdout)["layers"]
    assert [layer["grads"] for layer in vector_layers] == [
        layer["grads"] for layer in row_layers[1:]]
    assert vector_layers[0]["delta_in"] == row_layers[0]["delta_in"][0]


def test_a_vector_input_to_a_conv_gets_no_flatten_hint(tmp_path):
    doc = {"input": [1, 2, 3], "kernel": [[1]], "delta": [1, 2, 3]}
    result = invoke("backward", write(tmp_path, doc))
    one_error(result, "got rank 1 (3)")
    assert "flatten" not in result.stderr


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "ascii"])
def test_a_redirected_report_is_utf8_whatever_the_locale_encoding(tmp_path, encoding):
    # Windows gives a redirected standard output its ANSI code page: the tables' lines and
    # symbols were backslash escapes there (\u2500), where -o FILE writes UTF-8
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    shown = subprocess.run([*CLI, "backward", WORKED], capture_output=True, timeout=60,
                           cwd=ROOT, env=env)
    assert shown.returncode == 0
    text = shown.stdout.decode("utf-8")
    assert "─" in text and "δ in" in text and "\\u" not in text
    written = subprocess.run([*CLI, "backward", WORKED, "-o", tmp_path / "r.txt"],
                             capture_output=True, timeout=60, cwd=ROOT, env=env)
    assert written.returncode == 0
    assert (tmp_path / "r.txt").read_bytes() == shown.stdout
    (tmp_path / "p.json").write_text('{"input": [[1, 2], [3, 4]], "kernel": [[1, 2, 3]], '
                                     '"delta": [[1]]}')
    error = subprocess.run([*CLI, "backward", tmp_path / "p.json"], capture_output=True,
                           timeout=60, cwd=ROOT, env=env)
    assert error.returncode == 2
    assert "spans 1×3" in error.stderr.decode("utf-8")


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "ascii"])
@pytest.mark.parametrize("args", [("backward", "-h"), ("gradcheck", "--help"), ("--help",),
                                  ("generate", "--list")])
def test_help_and_listings_are_utf8_whatever_the_locale_encoding(encoding, args):
    # click writes help itself: its first η (backward's --lr) was a UnicodeEncodeError
    # traceback in Latin-1 or cp1252, and generate --list blamed a problem file in ASCII
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    shown = subprocess.run([*CLI, *args], capture_output=True, timeout=60, cwd=ROOT, env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == b""
    plain = subprocess.run([*CLI, *args], capture_output=True, timeout=60, cwd=ROOT)
    assert shown.stdout == plain.stdout
    if args[0] == "backward":
        assert "Learning rate η" in shown.stdout.decode("utf-8")


class _Stream:
    buffer = None  # a text stream: writes in its own encoding, whatever it is

    def __init__(self, encoding, terminal):
        self.encoding, self.terminal = encoding, terminal

    def isatty(self):
        return self.terminal


class _ByteStream(_Stream):
    buffer = object()  # bytes go to it


@pytest.mark.parametrize("terminal, expected", [(True, "cp1252"), (False, "utf-8")])
def test_a_terminal_keeps_its_own_encoding(terminal, expected):
    from cnngrad.cli.output import stream_encoding

    assert stream_encoding(_ByteStream("cp1252", terminal)) == expected
    assert stream_encoding(_Stream("cp1252", terminal)) == "cp1252"  # text only
    assert stream_encoding(object()) == "utf-8"  # no encoding, no buffer


@pytest.mark.parametrize("args", [
    ["backward", WORKED, "-o", "r.json"],
    ["schema", "-o", "s.json"],
    ["backward", "--input", "[[1,2],[3,4]]", "--kernel", "[[1]]", "--delta", "[[1,2],[3,4]]",
     "-f", "json", "-o", "r.json"],
    ["verify", str(SAMPLES / "verify" / "conv_right.py") + ":conv2d_backward", "--op",
     "conv2d_backward"],
])
def test_a_deleted_current_folder_is_said_plainly_not_as_a_bug(tmp_path, monkeypatch, args):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "the current folder no longer exists (deleted or moved away); hint: cd to a folder " \
           "that exists" in result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["backward", WORKED, "-o", str(tmp_path / "r.json")]
                         ).exit_code == 0
