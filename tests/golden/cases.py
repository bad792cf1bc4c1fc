"""The golden cases: every sample problem through every command and format.

Each case is a command line run with typer's CliRunner from the repository root with
``COLUMNS=100``; its exit code, standard output and standard error are kept byte for byte in
``expected/<name>.txt``.  The cases run in a process of their own whose numpy, BLAS and C
math library take the same code on every x86-64 machine (:func:`pinned_environment`): each
picks its kernels by CPU, and the last digit of a full-precision number moves with them.
``python tests/golden/regen.py`` writes them again after an intended change of output (a new
table look, another number format); ``git diff`` then shows exactly what changed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "expected"
ENV = {"COLUMNS": "100", "LINES": "50", "NO_COLOR": None, "FORCE_COLOR": None, "TERM": "dumb"}

PROBLEMS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "samples").glob("*.json")) + \
    sorted(str(p.relative_to(ROOT)) for p in (HERE / "problems").glob("*.json"))
RESULT_FORMATS = ("table", "json", "csv", "latex", "markdown")
#: problems with rational layers only: also run with --exact
EXACT = ("samples/multichannel.json", "samples/pool-ties.json", "samples/stackexchange.json",
         "tests/golden/problems/rational.json")
#: problems whose every path is also explained at its last element, as a table
EXPLAIN_LAST = ("samples/batched-cross-entropy.json", "tests/golden/problems/every-layer.json")
CHECKS = [
    ("samples/stackexchange.json", "samples/answers/stackexchange-answers.json"),
    ("samples/stackexchange.json", "samples/answers/stackexchange-wrong.json"),
    ("samples/stackexchange.json", "samples/answers/stackexchange-answers.json",
     "samples/answers/stackexchange-wrong.json"),
    ("samples/stackexchange.json", "samples/answers/conv2d_1.grads.kernel.csv"),
]


def _stem(problem: str) -> str:
    return Path(problem).stem


def base_cases() -> dict[str, list[str]]:
    """Cases that need no run to be listed (explain paths are listed by ``explain PROBLEM``)."""
    cases: dict[str, list[str]] = {}
    for problem in PROBLEMS:
        stem = _stem(problem)
        for command in ("backward", "forward"):
            for fmt in RESULT_FORMATS:
                cases[f"{stem}.{command}.{fmt}"] = [command, problem, "--format", fmt]
        cases[f"{stem}.backward.steps"] = ["backward", problem, "--show-steps"]
        cases[f"{stem}.backward.lr"] = ["backward", problem, "--lr", "0.1", "--format", "json"]
        cases[f"{stem}.gradcheck.table"] = ["gradcheck", problem]
        cases[f"{stem}.gradcheck.json"] = ["gradcheck", problem, "--format", "json"]
        cases[f"{stem}.explain.list"] = ["explain", problem]
        if problem in EXACT:
            cases[f"{stem}.backward.exact-table"] = ["backward", problem, "--exact"]
            cases[f"{stem}.backward.exact-json"] = ["backward", problem, "--exact", "-f", "json"]
            if problem != "samples/multichannel.json":  # 146 kB of the same steps
                cases[f"{stem}.backward.exact-steps"] = ["backward", problem, "--exact",
                                                         "--show-steps"]
        else:
            cases[f"{stem}.backward.exact-refused"] = ["backward", problem, "--exact"]
    for number, files in enumerate(CHECKS, 1):
        for fmt in ("table", "json", "csv"):
            cases[f"check{number}.{fmt}"] = ["check", *files, "--format", fmt]
    cases["schema"] = ["schema"]
    return cases


def explain_cases(listing: dict[str, str]) -> dict[str, list[str]]:
    """``listing``: problem → the output of ``cnngrad explain PROBLEM`` (path, shape lines).

    Every path is explained at its first element (text format); for some problems also at its
    last (table) and, for the exact problem, exactly (json)."""
    cases: dict[str, list[str]] = {}
    for problem, text in listing.items():
        stem = _stem(problem)
        for line in text.splitlines():
            match = re.match(r"^(\S+)\s+(.+)$", line.strip())
            if not match:
                continue
            path, shape = match.groups()
            dims = [] if shape == "a number" else [int(s) for s in shape.split("×")]
            first = path + ("[" + ",".join("0" for _ in dims) + "]" if dims else "")
            last = path + ("[" + ",".join(str(d - 1) for d in dims) + "]" if dims else "")
            cases[f"{stem}.explain.{path}.first"] = ["explain", problem, first, "-f", "text"]
            if last != first and problem in EXPLAIN_LAST:
                cases[f"{stem}.explain.{path}.last"] = ["explain", problem, last]
            if problem == EXACT[-1]:
                cases[f"{stem}.explain.{path}.exact"] = ["explain", problem, first,
                                                         "--exact", "-f", "json"]
    return cases


def run(args: list[str]) -> str:
    """The case's record: exit code, standard output, standard error."""
    import os

    from typer.testing import CliRunner

    from cnngrad.cli import app

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(app, args, env=ENV)
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return f"$ cnngrad {' '.join(args)}\nexit {result.exit_code}\n--- stdout\n{result.stdout}" \
           f"--- stderr\n{result.stderr}"


def manifest() -> dict[str, list[str]]:
    return json.loads((HERE / "cases.json").read_text(encoding="utf-8"))


def write(cases: dict[str, list[str]], folder: Path) -> None:
    """Each case's record into ``folder``/<name>.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, args in cases.items():
        (folder / f"{name}.txt").write_bytes(run(args).encode("utf-8"))


#: Set in the process that runs the cases (:func:`pinned_environment`).
PINNED = "CNNGRAD_GOLDEN_PINNED"


def pinned_environment() -> dict[str, str]:
    """This environment, with numpy's, OpenBLAS's and glibc's choice of kernels by CPU turned
    off on x86-64: numpy's dispatched SIMD loops (its ``tanh``, ``exp``, … round differently
    with AVX2 or AVX-512), OpenBLAS's products (Haswell, SkylakeX, … kernels sum in other
    orders) and glibc's FMA variants of ``exp``, ``log``, ….  Elsewhere only marked.  Everywhere
    cnngrad's own BLAS calls go to OpenBLAS (``CNNGRAD_BLAS``), not to MKL where installed."""
    env = dict(os.environ, **{PINNED: "1"})
    # cnngrad's own products by OpenBLAS (pinned below), never MKL where the mkl extra is in
    env["CNNGRAD_BLAS"] = "openblas"
    # the same cnngrad as the tests import: this source tree's
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return env
    import numpy as np

    env["OPENBLAS_CORETYPE"] = "Prescott"
    env["GLIBC_TUNABLES"] = "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX512F"
    try:
        found = np.show_config(mode="dicts")["SIMD Extensions"]["found"]
    except Exception:  # an older numpy: its names differ, keep its dispatch
        found = []
    if found:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(found)
    return env


def ensure_pinned(argv: list[str]) -> None:
    """Start this script again in :func:`pinned_environment` unless it runs there."""
    if os.environ.get(PINNED) != "1":
        os.execve(sys.executable, [sys.executable, *argv], pinned_environment())


def write_records(folder: Path) -> None:
    """Every listed case's record into ``folder``/<name>.txt, run in a pinned process."""
    subprocess.run([sys.executable, __file__, "--write", str(folder)], check=True,
                   env=pinned_environment())


if __name__ == "__main__":  # python cases.py --write FOLDER (see write_records)
    ensure_pinned(sys.argv)
    write(manifest(), Path(sys.argv[sys.argv.index("--write") + 1]))
