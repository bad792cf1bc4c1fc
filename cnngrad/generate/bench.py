"""``python -m cnngrad.generate.bench``: every recipe and number style over many seeds, and the
time of a 200-student exam.

For each recipe and style, N seeds (default 200): the problem loads, its key passes ``check``
with the problem's own decimals rule, the answers need at most the promised decimals (held to
the exact engine), and gradcheck's kink finder finds no kink (unless the recipe is about
them).  Then a class exam from a roster of 200 is generated and written, as
``cnngrad generate seed --students roster.csv -o DIR`` does, and its wall and CPU time are
printed.  Exit code 1 when any seed fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def _load(text: str, exact: bool = False):
    from cnngrad.problem import build_problem
    from cnngrad.tensorio import load_json_document

    document = load_json_document(text.encode(), "problem.json")
    return build_problem(document, file="problem.json", base_dir=Path("."), exact=exact)


def check_seed(recipe: str, numbers: str, seed: int, folder: Path) -> str | None:
    """What is wrong with one generated problem, or None."""
    from cnngrad.teach.check import Tolerance, check_sheet, read_answers
    from cnngrad.generate import RECIPES, STYLES, generate
    from cnngrad.generate.numbers import decimals_needed
    from cnngrad.teach.gradcheck import find_kinks
    from cnngrad.network import run

    exercise = generate(recipe, seed, numbers=numbers)
    problem = _load(exercise.problem_text)
    key = folder / "key.json"
    key.write_text(exercise.texts["key.json"], encoding="utf-8")
    result = check_sheet(run(problem), read_answers(str(key)),
                         Tolerance(min_decimals=exercise.min_decimals))
    if result.error is not None or result.right != result.total:
        return "the key fails check"
    if not RECIPES[recipe].inexact:
        truth = run(_load(exercise.problem_text, exact=True))
        for path in exercise.asked:
            for value in np.asarray(truth.tensor(path), dtype=object).flat:
                needed = decimals_needed(Fraction(value))
                if not STYLES[numbers].exact_fractions and (
                        needed is None or needed > exercise.min_decimals):
                    return f"{path} needs more than {exercise.min_decimals} decimals"
    kinks = [k for k in find_kinks(problem)[0] if not k.smooth]
    if bool(kinks) != RECIPES[recipe].about_kinks:
        return f"kinks: {kinks[0].meaning if kinks else 'none where the recipe wants one'}"
    return None


def recipes_report(seeds: int) -> int:
    from cnngrad.errors import UsageError
    from cnngrad.generate import RECIPES, STYLES, generate

    failures = 0
    print(f"{'recipe':<16} {'numbers':<10} {'seeds':>5} {'failed':>6} {'ms/problem':>10}")
    with tempfile.TemporaryDirectory() as folder:
        for recipe in RECIPES:
            try:
                generate(recipe, 0)
            except UsageError as error:
                print(f"{recipe:<16} skipped: {error.what}")
                continue
            for numbers in STYLES:
                start = time.perf_counter()
                failed = []
                for seed in range(seeds):
                    problem = check_seed(recipe, numbers, seed, Path(folder))
                    if problem:
                        failed.append((seed, problem))
                took = (time.perf_counter() - start) / seeds * 1000
                print(f"{recipe:<16} {numbers:<10} {seeds:>5} {len(failed):>6} {took:>10.1f}")
                for seed, problem in failed[:3]:
                    print(f"    seed {seed}: {problem}")
                failures += len(failed)
    return failures


def exam_report(students: int, recipe: str = "seed") -> None:
    from cnngrad.cli.generate import _write_class

    with tempfile.TemporaryDirectory() as folder:
        roster = Path(folder) / "roster.csv"
        roster.write_text("id\n" + "".join(f"student{i:03d}\n" for i in range(students)),
                          encoding="utf-8")
        wall, cpu = time.perf_counter(), time.process_time()
        _write_class(recipe, 2026, str(roster), Path(folder) / "exam", False, [],
                     numbers=None, with_kinks=False, sizes={})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"exam: {students} students of '{recipe}' generated and written (7 files each + "
          f"manifest): {wall:.2f} s wall, {cpu:.2f} s CPU")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnngrad.generate.bench",
                                     description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--seeds", type=int, default=200, help="seeds per recipe and style")
    parser.add_argument("--students", type=int, default=200, help="students in the exam")
    parser.add_argument("--exam-only", action="store_true", help="only time the exam")
    args = parser.parse_args(argv)
    failures = 0 if args.exam_only else recipes_report(args.seeds)
    exam_report(args.students)
    for recipe in ("network",):
        exam_report(args.students, recipe)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
