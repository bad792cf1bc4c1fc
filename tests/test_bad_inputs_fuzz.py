"""Malformed inputs a mutation fuzzer found (every sample and v1.1 problem, mutated, through
backward, forward, explain, check and gradcheck): each is the smallest input that showed the
fault, run through the command line.  Every one must exit 2 with one line
``error: <file>: <where>: <what>`` (its hint, if any, on the same line) and nothing else on either stream.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.errors import ResourceError
from test_bad_inputs import Bad, check_error_output

runner = CliRunner()

SHORT = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, 1]],
         "delta": [[1, 0], [0, 1]]}
NO_PARAMETERS = {"input": [[1, -2], [3, 4]], "layers": [{"type": "relu"}],
                 "delta": [[1, 1], [1, 1]]}
ANSWERS = {"conv2d_1.grads.kernel": [[0, 0], [0, 0]]}
#: 1e300 through 14 layers that multiply by 1e300: an exact output of 4501 digits (Python
#: writes at most 4300); conv2d_1's delta_out (1e300 to the 13th) is the first past 2000
HUGE_EXACT = {"input": [["1e300"]], "layers": [{"type": "conv2d", "kernel": [["1e300"]]}] * 14,
              "delta": [[1]]}


def bad(id: str, doc, args, where, what, **kw):
    return pytest.param(Bad(doc, where, what, args=tuple(args), **kw), id=id)


CASES = [
    # an optional key given as null is not left out: it is a value of the wrong type
    bad("title-null", {**SHORT, "title": None}, ["backward", "bad.json"], "title",
        "expected a string, got null"),
    bad("grading-null", {**SHORT, "grading": None}, ["check", "bad.json", "a.json"], "grading",
        "expected an object"),
    # a note said on the way (the answers file is the problem; --lr with nothing to update)
    # must not come before the error line: a failed run says one error and nothing else
    bad("only-answers-file-is-the-problem", SHORT, ["check", "bad.json", "bad.json"], "ANSWERS",
        "no answers file left to check", file=None),
    bad("lr-note-then-bad-output", NO_PARAMETERS,
        ["backward", "bad.json", "--lr", "0.1", "-o", "missing/r.txt"], "--output",
        "folder 'missing' does not exist", file="missing/r.txt"),
    # an exact result too long to write was an internal error (int → str is capped)
    bad("exact-fraction-of-4501-digits", HUGE_EXACT, ["backward", "bad.json", "--exact"],
        "conv2d_1.delta_out", "the exact result has a fraction of more than 2000 digits",
        hint="drop --exact"),
    # explain of a layer's output runs no backward step of it or of earlier layers: the first
    # result too long is a forward one
    bad("exact-fraction-explained", HUGE_EXACT,
        ["explain", "bad.json", "conv2d_14.output[0,0]", "--exact"], "conv2d_6.output",
        "more than 2000 digits"),
    # a decimal longer than an exact result may be: refused as it is read (a million of
    # its digits made Fraction's gcd run for half a minute)
    bad("exact-decimal-of-3001-digits", {**SHORT, "kernel": [["1." + "3" * 3000, 0], [0, 1]]},
        ["backward", "bad.json", "--exact"], "kernel[0][0]",
        "has 3001 significant digits, more than an exact number may have (2000)",
        hint="round it (a float keeps 17 significant digits)"),

    bad("lr-note-then-bad-path", NO_PARAMETERS, ["explain", "bad.json", "nosuch", "--lr", "1"],
        "PATH", "unknown path 'nosuch'", file=None),
]


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("case", CASES)
def test_fuzzed_bad_input_is_one_line_and_exit_2(case: Bad, fmt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps(case.doc), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(ANSWERS), encoding="utf-8")
    result = runner.invoke(app, [*case.args, "--format", fmt])
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception), result.output  # SystemExit(2) only
    assert result.stdout == "", result.stdout
    check_error_output(result.stderr, case)


def test_an_answer_too_long_to_read_exactly_names_no_option_not_given(tmp_path, monkeypatch):
    # answers are read exactly without --exact: the hint said "drop --exact"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(SHORT), encoding="utf-8")
    answers = {"conv2d_1.grads.kernel": [["1." + "3" * 3000, 0], [0, 1]]}
    (tmp_path / "a.json").write_text(json.dumps(answers), encoding="utf-8")
    result = runner.invoke(app, ["check", "p.json", "a.json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: a.json: conv2d_1.grads.kernel[0][0]: "
                                    "'1.333"), result.stderr
    assert ("has 3001 significant digits, more than an exact number may have (2000); hint: "
            "round it (a float keeps 17 significant digits)") in result.stderr
    assert "drop --exact" not in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["backward", "p.json", "--lr", "0.1"],
    ["check", "p.json", "p.json", "a.json"],
])
def test_a_note_still_comes_when_the_run_succeeds(args, tmp_path, monkeypatch):
    """The notes held back from a failed run are said once the command ends well."""
    monkeypatch.chdir(tmp_path)
    doc = NO_PARAMETERS if args[0] == "backward" else SHORT
    (tmp_path / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(ANSWERS), encoding="utf-8")
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    assert result.stderr.startswith("note: "), result.stderr
    assert ("no parameters to update" if args[0] == "backward"
            else "skipped: it is the problem file") in result.stderr


def _manifest(**alice) -> dict:
    return {"cnngrad_manifest": 1, "students": {"alice": {"problem": "p.json", **alice}}}


@pytest.mark.parametrize("manifest, where, what", [
    (_manifest(folder=["alice"]), "students.alice.folder", "expected a folder name"),
    (_manifest(folder={}), "students.alice.folder", "expected a folder name"),
    (_manifest(folder=None), "students.alice.folder", "expected a folder name"),
    ({**_manifest(), "cnngrad_manifest": True}, "cnngrad_manifest", "manifest version"),
    # not "no students": what it is, and what it should be
    ({"cnngrad_manifest": 1, "students": "x"}, "students", "expected an object of students"),
    ({"cnngrad_manifest": 1, "students": ["alice"]}, "students", "got a list"),
    ({"cnngrad_manifest": 1, "students": {}}, "students", "no students"),
])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_malformed_exam_manifest_is_one_line(manifest, where, what, fmt, tmp_path,
                                                monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(SHORT), encoding="utf-8")
    (tmp_path / "alice.json").write_text(json.dumps(ANSWERS), encoding="utf-8")
    (tmp_path / "m.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = runner.invoke(app, ["check", "--manifest", "m.json", "alice.json", "-f", fmt])
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout
    check_error_output(result.stderr, Bad(None, where, what, file="m.json"))


@pytest.mark.parametrize("text, value", [
    ("0", 0), ("-0.000", 0), ("1.000", 1), ("-2.50", Fraction(-5, 2)), ("1e5", 100_000),
    ("1.5E-3", Fraction(3, 2000)), ("0E-10", 0), ("12345.678900", Fraction(1234567890, 10**5)),
    ("3.14159265358979323846264338327950288",
     Fraction(314159265358979323846264338327950288, 10**35)),
    pytest.param("1." + "0" * 20_000, 1, id="one-and-20000-zeros"),
    pytest.param("-7" + "0" * 300 + "e-600", Fraction(-7, 10**300), id="zeros-and-exponent"),
])
def test_an_exact_decimal_is_the_fraction_it_writes(text, value):
    """Trailing zeros are dropped before the Fraction is made, and the value is unchanged."""
    from decimal import Decimal

    from cnngrad.tensorio import _exact_decimal

    assert _exact_decimal(Decimal(text), text) == value


@pytest.mark.parametrize("digits, refused", [(2000, False), (2001, True)])
def test_an_exact_result_of_2000_digits_is_written_and_one_of_2001_refused(tmp_path, digits,
                                                                          refused):
    # 99…9/99…98 (2000 digits each, in lowest terms) was refused as "more than 2000 digits":
    # the bit length, 6644 bits above 5.5·10^1999, stood for the digits
    from cnngrad.limits import check_exact_digits
    from cnngrad.network import run
    from cnngrad.problem import build_problem

    value = Fraction(int("9" * digits), int("9" * (digits - 1) + "8"))
    assert len(str(value.numerator)) == digits
    problem = build_problem({"input": [["1"]], "kernel": [[1]], "delta": [[1]]},
                            file="p.json", base_dir=tmp_path, exact=True)
    trace = run(problem)
    tensors = [("conv2d_1.output", np.array([[value]], dtype=object))]
    if refused:
        with pytest.raises(ResourceError, match="more than 2000 digits"):
            check_exact_digits(trace, tensors)
    else:
        check_exact_digits(trace, tensors)
    if not refused:  # and the whole command writes it
        doc = tmp_path / "d.json"
        doc.write_text(json.dumps({"input": [[f"{value.numerator}/{value.denominator}"]],
                                   "kernel": [[1]], "delta": [[1]]}), encoding="utf-8")
        result = runner.invoke(app, ["backward", str(doc), "--exact", "--format", "json"])
        assert result.exit_code == 0, result.output
        assert f'"{value.numerator}/{value.denominator}"' in result.stdout
