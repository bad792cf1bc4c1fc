"""How long grading a class takes: ``python -m cnngrad.bench_grading``.

Writes N answers files (default 200) for the sample exam (the whole-network worked example
with a ``grading`` block: points, 3 decimals, carried-forward errors) into a temporary
folder — a mix of right answers, answers rounded to 2 decimals, a slip at the sigmoid carried
forward, and incomplete ones — then times ``cnngrad check exam.json *.json --format csv`` as a
user runs it: a fresh process, start-up included.  It prints the wall time, the time per file
and the spread over the repeats.  Not part of the tests' pass/fail (no timed tests).
"""

from __future__ import annotations

import argparse
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
    command = [sys.executable, "-m", "cnngrad", "check", problem, *map(str, files),
               "--format", "csv"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True,
                              env=dict(os.environ, COLUMNS="120"))
        times.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"check failed ({done.returncode}): {done.stderr.strip()}")
        rows = done.stdout.count("\n") - 1
        if rows != len(files):
            raise SystemExit(f"expected {len(files)} gradebook rows, got {rows}")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnngrad.bench_grading",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=200, help="answers files (200)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs (3)")
    args = parser.parse_args(argv)
    problem = str(samples_dir() / "exam.json")
    with tempfile.TemporaryDirectory() as folder:
        files = write_class(Path(folder), args.students)
        times = time_check(problem, files, args.repeat)
    best, median = min(times), statistics.median(times)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cnngrad check exam.json ({args.students} answers files) --format csv, "
          f"{cores} cores")
    print(f"  wall time: median {median:.2f} s, best {best:.2f} s over {args.repeat} runs "
          f"({1000 * median / args.students:.1f} ms per file, start-up included)")
    print(f"  target: under 10 s for 200 files on 2 cores: "
          f"{'met' if median * 200 / args.students < 10 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
