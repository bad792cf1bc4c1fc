"""``python -m cnngrad.generate.bench``: every recipe and number style over many seeds, and the
time of a 200-student exam.

For each recipe and style, N seeds (default 200): the problem loads, its key passes ``check``
with the problem's own decimals rule, the answers need at most the promised decimals (held to
the exact engine), and gradcheck's kink finder finds no kink (unless the recipe is about
them).  Then a class exam from a roster of 200 is generated and written, as
``cnngrad generate seed --students roster.csv -o DIR`` does, and its wall and CPU time are
printed.  Exit code 1 when any seed fails.  The command line, its options and output, is
:mod:`cnngrad.cli.bench`'s.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
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


#: The head of the recipes' table.
RECIPES_HEADER = f"{'recipe':<16} {'numbers':<10} {'seeds':>5} {'failed':>6} {'ms/problem':>10}"


def recipes_report(seeds: int) -> Iterator[tuple[str, int]]:
    """The recipes' table under :data:`RECIPES_HEADER`, a recipe and number style at a time
    as each is done: its text (one line, and up to three failing seeds under it; a recipe
    that cannot run here, one ``skipped`` line) and its count of failing seeds."""
    from cnngrad.errors import UsageError
    from cnngrad.generate import RECIPES, STYLES, generate

    with tempfile.TemporaryDirectory() as folder:
        for recipe in RECIPES:
            try:
                generate(recipe, 0)
            except UsageError as error:
                yield f"{recipe:<16} skipped: {error.what}", 0
                continue
            for numbers in STYLES:
                start = time.perf_counter()
                failed = []
                for seed in range(seeds):
                    problem = check_seed(recipe, numbers, seed, Path(folder))
                    if problem:
                        failed.append((seed, problem))
                took = (time.perf_counter() - start) / seeds * 1000
                lines = [f"{recipe:<16} {numbers:<10} {seeds:>5} {len(failed):>6} {took:>10.1f}"]
                lines += [f"    seed {seed}: {problem}" for seed, problem in failed[:3]]
                yield "\n".join(lines), len(failed)


#: Writes a class's exam into a folder as ``cnngrad generate RECIPE --seed SEED --students
#: ROSTER -o FOLDER`` does: (recipe, seed, roster, folder, force, protected files, **options),
#: :func:`cnngrad.cli.generate.write_class`.
WriteClass = Callable[..., None]


def exam_report(students: int, write_class: WriteClass, recipe: str = "seed") -> str:
    """The wall and CPU time of generating and writing an exam of ``recipe`` for a roster of
    ``students`` with ``write_class``, as one line."""
    with tempfile.TemporaryDirectory() as folder:
        roster = Path(folder) / "roster.csv"
        roster.write_text("id\n" + "".join(f"student{i:03d}\n" for i in range(students)),
                          encoding="utf-8")
        wall, cpu = time.perf_counter(), time.process_time()
        write_class(recipe, 2026, str(roster), Path(folder) / "exam", False, [],
                    numbers=None, with_kinks=False, sizes={})
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return (f"exam: {students} students of '{recipe}' generated and written (4 files each "
            f"handed out, 4 kept with the keys, and the manifest): {wall:.2f} s wall, {cpu:.2f} s CPU")


#: The recipes whose exam is timed, each in turn.
EXAM_RECIPES = ("seed", "network")


if __name__ == "__main__":
    __import__("cnngrad.cli.bench", fromlist=["run"]).run("cnngrad.generate.bench")
