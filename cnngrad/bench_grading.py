"""How long grading a class takes: ``python -m cnngrad.bench_grading``.

Writes N answers files (default 200) for the sample exam (the whole-network worked example
with a ``grading`` block: points, 3 decimals, carried-forward errors) into a temporary
folder — a mix of right answers, answers rounded to 2 decimals, a slip at the sigmoid carried
forward, and incomplete ones — then times ``cnngrad check exam.json *.json --format csv`` as a
user runs it: a fresh process, start-up included.  It prints the wall time, the time per file
and the spread over the repeats.  Not part of the tests' pass/fail (no timed tests).  The
command line, its options and output, is :mod:`cnngrad.cli.bench`'s.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cnngrad.bundled import samples_dir


def write_class(folder: Path, students: int) -> list[Path]:
    """``students`` answers files cycling through the sample exam's three students and a
    fourth who is right everywhere (their names: student000.json ...)."""
    exam = samples_dir() / "exam"
    templates = [exam / name for name in ("ana.json", "ben.json", "cleo.json")]
    right = _right_answers()
    files = []
    for number in range(students):
        path = folder / f"student{number:03d}.json"
        kind = number % 4
        text = right if kind == 3 else templates[kind].read_text(encoding="utf-8")
        path.write_text(text, encoding="utf-8")
        files.append(path)
    return files


def _right_answers() -> str:
    import json

    from cnngrad.network import run
    from cnngrad.problem import load_problem

    problem = load_problem(str(samples_dir() / "exam.json"))
    trace = run(problem)
    answers = {}
    for key in problem.grading["points"]:
        value = trace.tensor(key)
        answers[key] = _rounded(value)
    return json.dumps(answers)


def _rounded(value):
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return f"{float(array):.4f}"
    return [_rounded(item) for item in array]


def time_check(problem: str, files: list[Path], repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` fresh ``cnngrad check problem FILES --format csv`` runs;
    a :class:`~cnngrad.errors.BenchError` when one fails or its gradebook lacks a row."""
    from cnngrad.errors import BenchError

    command = [sys.executable, "-m", "cnngrad", "check", problem, *map(str, files),
               "--format", "csv"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True,
                              env=dict(os.environ, COLUMNS="120"))
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise BenchError(f"check failed ({done.returncode}): {done.stderr.strip()}")
        rows = done.stdout.count("\n") - 1
        if rows != len(files):
            raise BenchError(f"expected {len(files)} gradebook rows, got {rows}")
    return times


def measure(students: int = 200, repeat: int = 3) -> dict:
    """Grade a class of ``students`` answers files ``repeat`` times: the wall times, their
    best and median, and the cores the runs had."""
    problem = str(samples_dir() / "exam.json")
    with tempfile.TemporaryDirectory() as folder:
        files = write_class(Path(folder), students)
        times = time_check(problem, files, repeat)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"students": students, "repeat": repeat, "times": times, "best": min(times),
            "median": statistics.median(times), "cores": cores}


def report(result: dict) -> str:
    """:func:`measure`'s result in three lines: the command, the wall time, the target."""
    students, median = result["students"], result["median"]
    return (f"cnngrad check exam.json ({students} answers files) --format csv, "
            f"{result['cores']} cores\n"
            f"  wall time: median {median:.2f} s, best {result['best']:.2f} s over "
            f"{result['repeat']} runs ({1000 * median / students:.1f} ms per file, start-up "
            f"included)\n"
            f"  target: under 10 s for 200 files on 2 cores: "
            f"{'met' if median * 200 / students < 10 else 'NOT met'}\n")


if __name__ == "__main__":
    __import__("cnngrad.cli.bench", fromlist=["run"]).run("cnngrad.bench_grading")
