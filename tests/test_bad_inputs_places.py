"""Every refusal is placed where the user wrote the thing refused: ``error: <file>: <where>:
<what>`` with ``<where>`` the JSON path of the problem file (``layers[1].size``), a CSV's
``row 3, column 2``, or, for a problem given by ``--input``, ``--kernel`` and ``--delta``,
the option (``--kernel``) — never a result's dotted path (``maxpool2d_1.size``) nor the
"(command line)" of a problem built from options.  The work budgets (docs/limits.md) are
refusals like any other.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app

runner = CliRunner()


def _npy(folder: Path, name: str, shape) -> dict:
    np.save(folder / name, np.ones(shape))
    return {"npy": name}


def _big_pool(folder: Path) -> dict:
    # a 1001×1001 window (ceil_mode lets it hang over the 1×1 input): over 10⁶ cells
    return {"input": [[1, 2], [3, 4]], "delta": [[1]],
            "layers": [{"type": "relu"},
                       {"type": "maxpool2d", "size": 1001, "padding": 1, "ceil_mode": True}]}


def _big_conv_layers(folder: Path) -> dict:
    # the upsample (about 2·10⁵ units) is within the budgets below, the conv (10⁶) is not
    return {"input": _npy(folder, "x.npy", (30, 30)), "delta": _npy(folder, "d.npy", (299, 299)),
            "layers": [{"type": "upsample", "scale": 10},
                       {"type": "conv2d", "kernel": [[1, 2], [3, 4]]}]}


def _big_conv_shorthand(folder: Path) -> dict:
    return {"input": _npy(folder, "x.npy", (300, 300)), "kernel": [[1, 2], [3, 4]],
            "delta": _npy(folder, "d.npy", (299, 299))}


def _big_1d_pool(folder: Path) -> dict:
    return {"input": [[0.0] * 4], "delta": [[1]], "layers": [{"type": "maxpool1d", "size": 4}]}


# (problem builder, extra arguments, CNNGRAD_MAX_WORK, where, a fragment of what)
PROBLEM_CASES = {
    "pool-window": (_big_pool, (), None, "layers[1].size",
                    "the 1001×1001 window of maxpool2d_1 holds 1,002,001 cells"),
    "pool-window-1d": (_big_1d_pool, (), "1", "layers[0].size",
                       "the 4-wide window of maxpool1d_1 holds 4 cells"),
    "layer-work": (_big_conv_layers, (), "5e5", "layers[1]", "too much work in conv2d_1:"),
    "layer-work-exact": (_big_conv_layers, ("--exact",), "1e10", "layers[1]",
                         "too much work in conv2d_1 in exact arithmetic"),
    "shorthand-work": (_big_conv_shorthand, (), "1e4", "kernel", "too much work in conv2d_1:"),
}


@pytest.mark.parametrize("command", ["backward", "forward"])
@pytest.mark.parametrize("name", sorted(PROBLEM_CASES))
def test_a_work_budget_names_the_layer_s_json_path(name, command, tmp_path, monkeypatch):
    make, args, budget, where, what = PROBLEM_CASES[name]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(make(tmp_path)), encoding="utf-8")
    env = {"CNNGRAD_MAX_WORK": budget} if budget else None
    result = runner.invoke(app, [command, "p.json", *args], env=env)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "; hint: " in lines[0], result.stderr
    assert lines[0].startswith(f"error: p.json: {where}: "), lines[0]
    assert what in lines[0], lines[0]


QUICK = ["--kernel", "[[1, 2], [3, 4]]"]

# (arguments after `backward`, CNNGRAD_MAX_WORK, the start of the line, a fragment of what)
QUICK_CASES = {
    "work": (["--input", "x.npy", *QUICK, "--delta", "d.npy"], "1e4", "error: --kernel: ",
             "too much work in conv2d_1"),
    "work-exact": (["--input", "x.npy", *QUICK, "--delta", "d.npy", "--exact"], "1e8",
                   "error: --kernel: ", "in exact arithmetic"),
    "float32-input-cell": (["--input", "[[1, 2], [3, 1e39]]", *QUICK, "--delta", "[[1]]",
                            "--dtype", "float32"], None, "error: --input[1][1]: ",
                           "1e+39 does not fit float32"),
    "float32-kernel-cell": (["--input", "[[1, 2], [3, 4]]", "--kernel", "[[1, -4e38]]",
                             "--delta", "[[1], [1]]", "--dtype", "float32"], None,
                            "error: --kernel[0][1]: ", "does not fit float32"),
    "float32-delta-file": (["--input", "[[1, 2], [3, 4]]", "--kernel", "[[1]]", "--delta",
                            "big.csv", "--dtype", "float32"], None,
                           "error: big.csv: row 2, column 2: ", "does not fit float32"),
}


@pytest.mark.parametrize("name", sorted(QUICK_CASES))
def test_a_problem_from_options_is_placed_at_the_option(name, tmp_path, monkeypatch):
    args, budget, start, what = QUICK_CASES[name]
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.ones((300, 300)))
    np.save(tmp_path / "d.npy", np.ones((299, 299)))
    (tmp_path / "big.csv").write_text("1,2\n3,5e38\n", encoding="utf-8")
    env = {"CNNGRAD_MAX_WORK": budget} if budget else None
    result = runner.invoke(app, ["backward", *args], env=env)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    line = result.stderr.splitlines()[0]
    assert line.startswith(start), line
    assert "(command line)" not in result.stderr
    assert what in line, line


@pytest.mark.parametrize("from_options", [True, False])
def test_exact_work_is_refused_before_a_number_becomes_a_fraction(from_options, tmp_path,
                                                                   monkeypatch):
    # the float reading decides: converting 10⁵ numbers to Fractions takes a second or more
    from cnngrad import tensorio

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "x.npy", np.ones((300, 300)))
    np.save(tmp_path / "d.npy", np.ones((299, 299)))
    read_number = tensorio._number

    def floats_only(value, exact):
        assert not exact, "a number read as a Fraction before the work was checked"
        return read_number(value, exact)

    monkeypatch.setattr(tensorio, "_number", floats_only)
    if from_options:
        args = ["--input", "x.npy", *QUICK, "--delta", "d.npy"]
    else:
        (tmp_path / "p.json").write_text(json.dumps(
            {"input": {"npy": "x.npy"}, "kernel": [[1, 2], [3, 4]], "delta": {"npy": "d.npy"}}),
            encoding="utf-8")
        args = ["p.json"]
    result = runner.invoke(app, ["backward", *args, "--exact"], env={"CNNGRAD_MAX_WORK": "1e8"})
    assert result.exit_code == 2, result.output
    assert "too much work in conv2d_1 in exact arithmetic" in result.stderr


X3 = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
X3_BATCH = [[X3], [X3]]
CLASSIFIER = [{"type": "flatten"}, {"type": "dense", "weights": [[0.1] * 9, [-0.1] * 9, [0.05] * 9]}]


def _dropout(mask) -> dict:
    return {"input": X3, "layers": [{"type": "dropout", "p": 0.5, "mask": mask}],
            "delta": np.zeros((3, 3)).tolist()}


def _loss(loss, *extra, input=X3_BATCH) -> dict:
    return {"input": input, "layers": [*CLASSIFIER, *extra], "loss": loss}


def _eval_bn(running_var) -> dict:
    return {"input": [[X3, X3]], "delta": np.zeros((1, 2, 3, 3)).tolist(),
            "layers": [{"type": "batchnorm2d", "mode": "eval", "running_mean": [0, 0],
                        "running_var": running_var}]}


MASK = "1,0,1\n0,3,1\n1,1,0\n"

# (document, files beside it, arguments, the file named, where, a fragment of what)
VALUE_CASES = {
    "mask-inline": (_dropout([[1, 0, 1], [0, 3, 1], [1, 1, 0]]), {}, (), "p.json",
                    "layers[0].mask[1][1]", "a mask holds 0s and 1s"),
    "mask-csv": (_dropout({"csv": "m.csv"}), {"m.csv": MASK}, (), "m.csv", "row 2, column 2",
                 "a mask holds 0s and 1s"),
    "mask-csv-blank-lines-first": (_dropout({"csv": "m.csv"}), {"m.csv": "\n\n" + MASK}, (),
                                   "m.csv", "row 4, column 2", "got 3"),
    "mask-csv-stack": ({**_dropout({"csv": ["a.csv", "m.csv"]}), "input": [X3, X3],
                        "delta": np.zeros((2, 3, 3)).tolist()},
                       {"a.csv": "1,0,1\n0,1,1\n1,1,0\n", "m.csv": MASK}, (), "m.csv",
                       "row 2, column 2", "got 3"),
    "mask-npy": (_dropout({"npy": "m.npy"}), {"m.npy": np.array([[1, 0, 1], [0, 3, 1], [1, 1, 0]])},
                 (), "m.npy", "element [1,1]", "a mask holds 0s and 1s"),
    "bce-target-csv": (_loss({"type": "bce", "target": {"csv": "t.csv"}}, {"type": "sigmoid"}),
                       {"t.csv": "0,1,0.5\n0,1.5,1\n"}, (), "t.csv", "row 2, column 2",
                       "a bce target lies in [0, 1]"),
    "bce-target-npy": (_loss({"type": "bce", "target": {"npy": "t.npy"}}, {"type": "sigmoid"}),
                       {"t.npy": np.array([[0, 1, 0.5], [0, -1, 1]])}, (), "t.npy",
                       "element [1,1]", "a bce target lies in [0, 1]"),
    "ce-probability-csv": (_loss({"type": "cross_entropy", "target": {"csv": "t.csv"}}),
                           {"t.csv": "0,1,0\n-0.5,1.5,0\n"}, (), "t.csv", "row 2, column 1",
                           "a probability lies in [0, 1], got -0.5"),
    "ce-row-sum-csv": (_loss({"type": "cross_entropy", "target": {"csv": "t.csv"}}),
                       {"t.csv": "0,1,0\n0.5,0.6,0\n"}, (), "t.csv", "row 2",
                       "the probabilities sum to 1.1, not 1"),
    "ce-index-npy": (_loss({"type": "cross_entropy", "target": {"npy": "t.npy"}}),
                     {"t.npy": np.array([0, 7])}, (), "t.npy", "element [1]",
                     "class index 7 out of range"),
    "nll-index-npy": (_loss({"type": "nll", "target": {"npy": "t.npy"}}, {"type": "log_softmax"}),
                      {"t.npy": np.array([0.0, 1.5])}, (), "t.npy", "element [1]",
                      "class index 1.5 is not a whole number"),
    "running-var-npy": (_eval_bn({"npy": "v.npy"}), {"v.npy": np.array([1.0, -1.0])}, (),
                        "v.npy", "element [1]", "a variance cannot be negative"),
    "running-var-inline": (_eval_bn([1, -1]), {}, (), "p.json", "layers[0].running_var[1]",
                           "a variance cannot be negative"),
    "float32-csv-cell": ({"input": {"csv": "x.csv"}, "kernel": [[1]], "delta": X3},
                         {"x.csv": "1,2,3\n4,5e38,6\n7,8,9\n"}, ("--dtype", "float32"), "x.csv",
                         "row 2, column 2", "5e+38 does not fit float32"),
    "float32-npy-cell": ({"input": X3, "kernel": {"npy": "k.npy"}, "delta": X3},
                         {"k.npy": np.array([[-4e38]])}, ("--dtype", "float32"), "k.npy",
                         "element [0,0]", "does not fit float32"),
    "float32-delta-cell": ({"input": X3, "kernel": [[1]], "delta": [[0, 0, 0], [0, 0, 1e39],
                                                                    [0, 0, 0]]}, {},
                           ("--dtype", "float32"), "p.json", "delta[1][2]",
                           "1e+39 does not fit float32"),
}


@pytest.mark.parametrize("command", [["backward"], ["forward"], ["backward", "--exact"]])
@pytest.mark.parametrize("name", sorted(VALUE_CASES))
def test_a_bad_value_is_placed_where_it_is_written(name, command, tmp_path, monkeypatch):
    """A value out of its range is named at its cell: in the problem file when written
    there, else in the CSV (row, column) or .npy (element) file that holds it."""
    doc, files, args, file, where, what = VALUE_CASES[name]
    if "--exact" in command and "--dtype" in args:
        pytest.skip("--exact computes in fractions, not in a dtype")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.json").write_text(json.dumps(doc), encoding="utf-8")
    for fname, content in files.items():
        if isinstance(content, np.ndarray):
            np.save(tmp_path / fname, content)
        else:
            (tmp_path / fname).write_text(content, encoding="utf-8")
    result = runner.invoke(app, [command[0], "p.json", *command[1:], *args])
    if "--exact" in command and result.exit_code == 2 and "--exact cannot" in result.stderr:
        pytest.skip("a loss --exact cannot compute")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {file}: {where}: "), lines[0]
    assert what in lines[0], lines[0]
