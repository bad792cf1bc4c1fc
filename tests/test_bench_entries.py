"""The benchmarks' command lines (``python -m cnngrad.bench`` and the four others): each runs
as ``python -m`` in its fastest mode, a bad option is argparse's usage and one ``error:`` line
with exit code 2, and an error of cnngrad's is one line with its exit code.  The times mean
nothing here."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnngrad.cli.bench import ENTRIES
from cnngrad.errors import BenchError

ROOT = Path(__file__).resolve().parent.parent

#: each entry's quickest run, and the first line it prints
FAST = {
    "cnngrad.bench": (["--quick", "--case", "conv-tiny", "--reference", "naive", "--repeat",
                       "1", "--no-memory", "--dtype", "float64"],
                      "python -m cnngrad.bench · cnngrad "),
    "cnngrad.bench_explain": (["--quick", "--repeat", "1"], " " * 36 + "terms"),
    "cnngrad.bench_grading": (["--students", "4", "--repeat", "1"],
                              "cnngrad check exam.json (4 answers files) --format csv, "),
    "cnngrad.generate.bench": (["--seeds", "1", "--students", "2"], "recipe           numbers"),
    "cnngrad.verify.bench": (["--repeat", "1"], "op                             user function"),
}


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300, check=False)


def test_every_benchmark_module_has_an_entry():
    assert set(ENTRIES) == set(FAST)


@pytest.mark.parametrize("module", sorted(FAST))
def test_each_benchmark_runs_with_python_m_in_its_fastest_mode(module):
    args, first = FAST[module]
    done = run_module(module, *args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(first), lines[0]
    if module == "cnngrad.generate.bench":  # generate --students says what it wrote
        assert all(line.startswith("wrote 2 variants to ")
                   for line in done.stderr.splitlines()), done.stderr
        assert [line.split(":")[0] for line in lines if line.startswith("exam:")] == [
            "exam", "exam"]
        assert "skipped" not in done.stdout and all(
            line.split()[3] == "0" for line in lines[1:] if not line.startswith("exam:"))
    else:
        assert done.stderr == ""
    if module == "cnngrad.bench":
        assert lines[-1].startswith("this run's peak RSS: ")
        assert sum(line.startswith("conv 1,1,5,5") for line in lines) == 1
    if module == "cnngrad.verify.bench":
        assert lines[-1].startswith("slowest battery ")


@pytest.mark.parametrize("module", sorted(FAST))
def test_a_bad_option_is_the_usage_and_one_error_line_exit_2(module, capsys):
    with pytest.raises(SystemExit) as done:
        ENTRIES[module](["--no-such-option"])
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"usage: python -m {module} ")
    assert [line for line in lines if "error:" in line] == [
        f"python -m {module}: error: unrecognized arguments: --no-such-option"]
    assert lines[-1].startswith(f"python -m {module}: error:")


@pytest.mark.parametrize("module, args", [
    ("cnngrad.bench", ["--repeat", "0"]),
    ("cnngrad.bench", ["--case", "conv3d"]),
    ("cnngrad.bench_explain", ["--repeat", "x"]),
    ("cnngrad.bench_grading", ["--students", "x"]),
    ("cnngrad.generate.bench", ["--seeds", "x"]),
    ("cnngrad.verify.bench", ["--repeat", "x"]),
])
def test_a_bad_option_value_is_exit_2_before_any_work(module, args, capsys):
    with pytest.raises(SystemExit) as done:
        ENTRIES[module](args)
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len([line for line in err.splitlines() if "error:" in line]) == 1
    assert err.splitlines()[-1].startswith(f"python -m {module}: error: ")


def test_a_failed_check_in_the_grading_benchmark_is_one_line_and_exit_1(monkeypatch, capsys):
    from cnngrad import bench_grading

    def failing(students, repeat):
        raise BenchError("check failed (2): error: exam.json: no such file")

    monkeypatch.setattr(bench_grading, "measure", failing)
    assert ENTRIES["cnngrad.bench_grading"](["--students", "1", "--repeat", "1"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: check failed (2): error: exam.json: no such file\n"


def test_the_grading_benchmark_raises_when_check_fails(tmp_path):
    from cnngrad.bench_grading import time_check

    with pytest.raises(BenchError, match=r"^check failed \(2\): error: "):
        time_check(str(tmp_path / "missing.json"), [tmp_path / "a.json"], 1)


@pytest.mark.parametrize("module", sorted(FAST))
def test_each_benchmark_module_hands_its_command_line_to_the_cli(module):
    # the measuring module keeps only `if __name__ == "__main__":` and one call of the CLI's
    path = Path(importlib.util.find_spec(module).origin)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    last = tree.body[-1]
    assert isinstance(last, ast.If) and ast.unparse(last.test) == "__name__ == '__main__'"
    assert len(last.body) == 1
    assert ast.unparse(last.body[0]) == (
        f"__import__('cnngrad.cli.bench', fromlist=['run']).run('{module}')")
    assert not any(isinstance(node, ast.FunctionDef) and node.name == "main"
                   for node in tree.body)


def test_the_cli_of_the_benchmarks_imports_none_of_them_until_one_runs():
    # start-up: each entry imports its own measuring module (and numpy) when it runs
    code = ("import sys, cnngrad.cli.bench; "
            "print(sorted(m for m in sys.modules if m in {'numpy', 'cnngrad.bench', "
            "'cnngrad.bench_explain', 'cnngrad.bench_grading', 'cnngrad.generate.bench', "
            "'cnngrad.verify.bench', 'cnngrad.cli.generate', 'cnngrad.cli.common'}))")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=ROOT, check=True)
    assert done.stdout == "[]\n"


def test_a_timed_command_that_fails_is_a_bench_error_not_a_traceback(tmp_path):
    from cnngrad.bench import _child

    with pytest.raises(BenchError, match="failed: no such problem"):
        # exit code 2: a bad input (1, a wrong answer found by check, is a run that measured)
        _child([sys.executable, "-c", "import sys; sys.stderr.write('no such problem'); "
                                      "sys.exit(2)"], tmp_path)
