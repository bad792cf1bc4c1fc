"""``check`` results as JSON and CSV gradebooks and Gradescope's ``results.json`` (no Rich:
scripts start fast)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fractions import Fraction

import numpy as np

from cnngrad import __version__
from cnngrad.errors import with_hint
from cnngrad.teach.check import (FileCheck, TensorCheck, Tolerance, key_text,
                                 trailing_zeros_dropped)
from cnngrad.teach.grading import Grading
from cnngrad.render.json_result import dumps, to_jsonable
from cnngrad.render.numbers import half_up_text

#: The gradebook's columns before and after the points of each required path.
CSV_LEADING = ("student", "file", "status", "right", "total", "score")
CSV_TRAILING = ("points", "max_points", "percent", "missing", "carried_forward", "wrong_paths",
                "diagnoses", "error")


def points_text(value: Fraction, decimals: int = 2) -> str:
    """Points as a person writes them: ``4``, ``2.5``, ``1.33`` (a half rounded up; a
    gradebook cell keeps 4 decimals)."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    return half_up_text(value, decimals).rstrip("0").rstrip(".")


def _points(value: Fraction) -> float | int:
    """Points as a JSON number: an integer when whole, else the nearest float (2/3 of a
    point is 0.6666666666666666, as a program reading the result expects)."""
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else float(value)


def rounding_note(check: TensorCheck, tolerance: Tolerance, base: int | None = None
                  ) -> str | None:
    """``right to the 2 decimals written; 4 are required (--min-decimals)`` for a tensor
    with rounded cells, else None; the parenthesis names where the 4 was set.  When other
    wrong cells are not rounded, the rounded ones are named (counted from ``base``, when it
    is given; counted otherwise): ``right to the 2 decimals written in [0,0], [1,0]; ...``."""
    if not check.rounded.any():
        return None
    shown = " or ".join(str(d) for d in check.rounded_decimals)
    noun = "decimal" if check.rounded_decimals == (1,) else "decimals"
    where = _which_cells(check, check.rounded, int(check.wrong.sum()), base)
    note = (f"right to the {shown} {noun} written{where}; {tolerance.min_decimals} are "
            f"required ({tolerance.min_decimals_from})")
    if trailing_zeros_dropped(check, tolerance):
        numbers = check.rounded & check.numeric  # JSON numbers, whose zeros a writer drops
        padded, written = _dropped_zeros_example(check, tolerance.min_decimals,
                                                 numbers if numbers.any() else check.rounded)
        note += (f": each is its value at {tolerance.min_decimals} decimals with its trailing "
                 f"zeros dropped")
        if numbers.any():
            note += (f", as JSON writers drop them ({padded} → {written}); write the numbers "
                     f"as strings (\"{padded}\")")
        else:  # typed as text (a JSON string, a CSV cell): the zeros were the student's
            note += f" ({padded} → {written}); keep them ({padded})"
    return note


def _dropped_zeros_example(check: TensorCheck, decimals: int, cells: np.ndarray
                           ) -> tuple[str, str]:
    """(``0.2330``, ``0.233``): the first of ``cells`` (rounded ones), with its trailing
    zeros put back at ``decimals`` and as written; 0.0290 and 0.029 where it is not a plain
    number."""
    written = next((text for _, text, _ in check.cells(cells)), None)
    try:
        value = Decimal(str(written).strip())
        if value.is_finite():
            return str(value.quantize(Decimal(1).scaleb(-decimals))), str(written).strip()
    except (InvalidOperation, ValueError):
        pass
    return "0.0290", "0.029"


def carried_note(check: TensorCheck) -> str | None:
    """``carried forward from your maxpool2d_1.delta_in`` for a tensor with carried cells."""
    if not check.carried.any():
        return None
    note = "carried forward from your " + ", ".join(check.carried_from)
    if check.carried_zeros():
        note += (", zeros from its zeros" if check.before_step is None
                 else ", the parameter unchanged by its zeros")
    return note


def not_carried_note(check: TensorCheck) -> str | None:
    """``not carried forward from your conv2d_1.delta_out`` for a wrong tensor that the
    student's upstream answers do not explain either: a report shows what they imply for
    its wrong cells (none when every wrong cell is a rounding: nothing to show)."""
    if check.carried.any() or check.implied is None or not check.carried_from:
        return None
    if not (check.wrong & ~check.rounded).any():
        return None
    return "not carried forward from your " + ", ".join(check.carried_from)


#: At most this many cells are named in a note; the rest are counted.
NAMED_CELLS = 6


def _named_cells(check: TensorCheck, mask: np.ndarray, base: int) -> str:
    """``[0,1], [2,0] and 3 more``: the cells of ``mask``, indices counted from ``base``."""
    cells = [index for index, _, _ in check.cells(mask)]
    named = ", ".join("[" + ",".join(str(i + base) for i in index) + "]"
                      for index in cells[:NAMED_CELLS])
    if len(cells) > NAMED_CELLS:
        named += f" and {len(cells) - NAMED_CELLS} more"
    return named


def _which_cells(check: TensorCheck, cells: np.ndarray, wrong: int, base: int | None) -> str:
    """Where in the tensor's ``wrong`` cells a note's ``cells`` are: nothing when they are
    all of them, else named (counted from ``base``) or counted."""
    count = int(cells.sum())
    if count == wrong:
        return ""
    if base is None:
        return f" in {count} of the {wrong} wrong cells"
    return f" in {_named_cells(check, cells, base)}"


def unexplained_notes(check: TensorCheck, tolerance: Tolerance,
                      base: int | None = None) -> list[str]:
    """When no slip explains a wrong tensor: the cells whose sign alone is flipped, the
    whole numbers and the values off only past the decimals required (named, counted from
    ``base``, when it is given; counted otherwise), then "no common slip matches" for the
    rest."""
    if not check.diagnosed or check.diagnoses:
        return []
    wrong = int((check.wrong & ~check.rounded).sum())
    # a note names its cells unless they are every wrong cell, the rounded ones counted too
    # (their own note names them)
    all_wrong = int(check.wrong.sum())
    flipped = [index for index, _, _ in check.cells(check.sign_flipped)]
    notes = []
    # (a single number with its sign flipped is the sign_flipped slip itself, not a cell)
    if flipped:
        if base is None:
            notes.append(f"the sign is flipped in {len(flipped)} of the {all_wrong} wrong cells"
                         if len(flipped) < all_wrong else
                         "its one wrong cell has its sign flipped" if all_wrong == 1 else
                         f"the sign is flipped in all {all_wrong} wrong cells")
        else:
            notes.append(f"the sign is flipped in {_named_cells(check, check.sign_flipped, base)}" +
                         (f" ({len(flipped)} of the {all_wrong} wrong cells)"
                          if len(flipped) < all_wrong else ""))
    decimals = tolerance.min_decimals
    whole = int(check.whole_short.sum())
    if whole:
        notes.append(f"right to the whole number written"
                     f"{_which_cells(check, check.whole_short, all_wrong, base)}; {decimals} "
                     f"decimal{'s are' if decimals > 1 else ' is'} required "
                     f"({tolerance.min_decimals_from})")
    past = int(check.past_required.sum())
    if past:
        notes.append(f"right to the {decimals} decimal{'s' if decimals > 1 else ''} required"
                     f"{_which_cells(check, check.past_required, all_wrong, base)}, wrong in the "
                     f"digits written past them"
                     + ("; they are float32 values written with all their digits: round them "
                        "to the decimals meant, or grade with --atol" if check.float32_digits
                        else ""))
    if len(flipped) + past + whole < wrong:
        notes.append("no common slip matches" + (" the others" if flipped or past or whole
                                                 or check.rounded.any() else ""))
    return notes


def tensor_notes(check: TensorCheck, tolerance: Tolerance, *,
                 first_slip_only: bool = False) -> list[str]:
    """What a tensor's wrong cells are: rounded, carried forward, the slips they match."""
    notes = [note for note in (rounding_note(check, tolerance), carried_note(check)) if note]
    slips = [d.text for d in check.diagnoses]
    if first_slip_only and len(slips) > 1:
        slips = [f"{slips[0]} (+{len(slips) - 1} more)"]
    notes += slips
    notes += unexplained_notes(check, tolerance)
    missing = int(check.missing.sum())
    if missing and check.answered.any():
        notes.append(f"{missing} required cell{'s' if missing > 1 else ''} not answered")
    return notes


def _percent(result: FileCheck) -> float | None:
    exact = result.exact_score
    return None if exact is None else float(half_up_text(100 * exact, 2))


def _index(index: tuple, base: int) -> list[int]:
    return [int(i) + base for i in index]


def tensor_dict(check: TensorCheck, tolerance: Tolerance | None = None, *,
                one_based: bool = False) -> dict:
    """One tensor's verdict: counts, points, every wrong and carried-forward cell."""
    base = int(one_based)
    exact = check.truth.dtype == object

    def number(value):  # an exact 0 the engine summed from is the int 0: still "0" as "p/q"
        return to_jsonable(np.asarray(value, dtype=object) if exact else value)

    out = {
        "path": check.path,
        "shape": list(check.shape),
        "right": check.n_right,
        "total": check.n_answered,
        "carried_forward": check.n_carried,
        "wrong": [{"index": _index(index, base), "given": given, "true": number(true)}
                  for index, given, true in check.wrong_cells()],
        "rounded": [_index(index, base) for index, _, _ in check.cells(check.rounded)],
        "carried": [{"index": _index(index, base), "given": given, "true": number(true),
                     "implied": number(implied)}
                    for index, given, true, implied in check.carried_cells()],
        "carried_from": list(check.carried_from) if check.n_carried else [],
        "diagnoses": [{"slip": d.slip, "text": d.text} for d in check.diagnoses],
        "sign_flipped": [_index(index, base) for index, _, _ in check.cells(check.sign_flipped)],
        "notes": tensor_notes(check, tolerance or Tolerance()),
    }
    if check.weights is not None:
        out["points"] = _points(check.earned)
        out["max_points"] = _points(check.possible)
        out["missing_cells"] = int(check.missing.sum())
    return out


def file_dict(result: FileCheck, tolerance: Tolerance | None = None, *,
              one_based: bool = False) -> dict:
    """One student's row of the gradebook, with every tensor's verdict; every index counts
    from 1 with ``one_based``, the required paths' too."""
    checked = result.error is None
    base = int(one_based)
    out = {
        "student": result.student,
        "file": result.file,
        "status": result.status,
        "right": result.right if checked else None,
        "total": result.total if checked else None,
        "score": result.score,
        "points": _points(result.earned) if checked else None,
        "max_points": _points(result.possible) if checked else None,
        "percent": _percent(result),
        "paths": [{"path": key_text(p.key, base), "points": _points(p.earned),
                   "max_points": _points(p.possible),
                   "status": p.status, "missing_cells": p.missing}
                  for p in result.path_scores or []],
        "missing": [key_text(key, base) for key in result.missing_paths],
        "error": result.error.message() if result.error else None,
        "hint": result.error.hint if result.error else None,
        "tensors": [tensor_dict(check, tolerance, one_based=one_based)
                    for check in result.tensors],
    }
    return out


def grades_json(results: list[FileCheck], problem_file: str, tolerance: Tolerance,
                grading: Grading | None = None, *, one_based: bool = False) -> str:
    """The gradebook: every student's verdict, tensor by tensor, wrong cells and diagnoses
    included."""
    checked = [r for r in results if r.error is None]
    grading = grading or Grading()
    document = {
        "cnngrad": __version__,
        "problem": problem_file,
        "rule": tolerance.describe(),
        "points": {key_text(key, int(one_based)): _points(value)
                   for key, value in grading.points.items()} or None,
        "carry_forward": bool(grading.carry_forward),
        "one_based": one_based,
        "right": sum(r.right for r in checked),
        "total": sum(r.total for r in checked),
        "files": [file_dict(result, tolerance, one_based=one_based) for result in results],
    }
    return dumps(document) + "\n"


def csv_columns(grading: Grading | None = None, *, one_based: bool = False) -> list[str]:
    """The gradebook's columns: one per required path of the grading block in the middle
    (its indices counted from 1 with ``one_based``)."""
    paths = [key_text(key, int(one_based)) for key in (grading or Grading()).points]
    return [*CSV_LEADING, *paths, *CSV_TRAILING]


def grades_csv(results: list[FileCheck], grading: Grading | None = None,
               tolerance: Tolerance | None = None, *, one_based: bool = False) -> str:
    """The gradebook a spreadsheet opens: one row per student (answers file); the required
    paths, as columns and as missing, count from 1 with ``one_based``."""
    grading = grading or Grading()
    base = int(one_based)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns(grading, one_based=one_based))
    for result in results:
        error = result.error is not None
        by_key = {p.key: p for p in result.path_scores or []}
        wrong = " ".join(c.path for c in result.tensors if not c.all_right)
        carried = " ".join(c.path for c in result.tensors if c.carried.any())
        diagnoses = "; ".join(f"{c.path}: {note}" for c in result.tensors
                              for note in tensor_notes(c, tolerance or Tolerance()))
        per_path = ["" if error or key not in by_key else points_text(by_key[key].earned, 4)
                    for key in grading.points]
        writer.writerow(_csv_safe([
            _not_a_formula(result.student or ""), _not_a_formula(result.file), result.status,
            "" if error else result.right, "" if error else result.total,
            "" if result.exact_score is None else half_up_text(result.exact_score, 4),
            *per_path,
            "" if error else points_text(result.earned, 4),
            "" if error else points_text(result.possible, 4),
            "" if result.exact_score is None else half_up_text(100 * result.exact_score, 2),
            " ".join(key_text(key, base) for key in result.missing_paths), carried, wrong,
            diagnoses,
            _not_a_formula(with_hint(result.error.message(), result.error.hint))
            if error else "",
        ]))
    return buffer.getvalue()


#: What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _not_a_formula(name: str) -> str:
    """A student's or file's name as a spreadsheet shows it, never runs it: ``=1+2.json``
    (a name a student chose) is written ``'=1+2.json``, as OWASP advises."""
    return "'" + name if name.startswith(FORMULA_STARTS) else name


def _csv_safe(row: list) -> list:
    """The row with each NUL character written ``\\u0000``, as the output writes every control
    character: an error can quote a name with one in it (``{"csv": "\\u0000.csv"}``), and
    Python 3.10's csv writer refuses a NUL ("need to escape, but no escapechar set")."""
    return [value.replace("\0", "\\u0000") if isinstance(value, str) else value
            for value in row]


#: Gradescope's visibility of each test and of the whole result, by default; the others it
#: takes (``check --visibility``): shown once the assignment is past its due date, once its
#: grades are published, or never.
GRADESCOPE_VISIBILITY = "visible"
GRADESCOPE_VISIBILITIES = ("visible", "after_due_date", "after_published", "hidden")


def gradescope_results(result: FileCheck, problem_file: str, tolerance: Tolerance,
                       tensor_text: Callable[[TensorCheck], str],
                       grading: Grading | None = None, *, one_based: bool = False,
                       visibility: str = GRADESCOPE_VISIBILITY) -> dict:
    """Gradescope's autograder ``results.json`` for one submission.

    One test per required path of the grading block (per answered tensor without one; with
    one, a test of no points after them per tensor answered outside it), each
    with ``name``, ``score``, ``max_score``, ``status``, ``output`` (the cell report and
    what the wrong cells are, as ``tensor_text`` renders it) and ``visibility``; ``score``
    and ``max_score`` of the whole are their sums.  A file that could not be read scores 0
    with the error as ``output``.  With ``one_based`` the tests' names and every path their
    outputs name count from 1, as ``tensor_text``'s cell reports then do.  ``visibility``
    (one of :data:`GRADESCOPE_VISIBILITIES`) is every test's and the whole result's: an
    exam's ``after_published`` keeps the true values beside wrong cells from its students
    until the grades are published.
    """
    base = int(one_based)
    by_path = {check.path: check for check in result.tensors}
    tests: list[dict] = []
    # each test's points as exact fractions: the totals are summed from these, not from the
    # floats written (1/3 + 2/3 + 1e-9 would come to 1.0000000009999999)
    exact: list[tuple[Fraction, Fraction]] = []
    if result.path_scores is not None:
        keys_of: dict[str, list[str]] = {}
        for score in result.path_scores:
            keys_of.setdefault(score.key.partition("[")[0], []).append(score.key)
        for number, score in enumerate(result.path_scores, 1):
            path = score.key.partition("[")[0]
            check = by_path.get(path)
            output = tensor_text(check) if check is not None and result.error is None else ""
            if output and keys_of[path] != [path]:
                # the report is the whole tensor's, its points those of every test of it
                output = _test_scope(score, keys_of[path], base) + "\n" + output
            tests.append(_test(number, key_text(score.key, base), score.earned,
                               score.possible, output, exact, visibility))
        # answers outside the points still count for the verdict: a test of no points each,
        # so that a student sees the wrong cell behind a full score's "failed" run (a carried
        # cell earns its points but still makes the file wrong)
        for check in result.tensors if result.error is None else ():
            if check.path not in keys_of and check.answered.any():
                tests.append(_test(len(tests) + 1, f"{check.path} (no points)", 0, 0,
                                   tensor_text(check), exact, visibility,
                                   passed=not (check.answered & ~check.right).any()))
    elif result.error is not None and grading is not None and grading.points:
        tests = [_test(number, key_text(key, base), 0, points, "", exact, visibility)
                 for number, (key, points) in enumerate(grading.points.items(), 1)]
    elif result.error is None:
        for number, check in enumerate(result.tensors, 1):
            tests.append(_test(number, check.path, check.n_right + check.n_carried,
                               check.n_answered, tensor_text(check), exact, visibility))
    if result.error is not None:
        error = result.error
        # the file is named once: its own error says where in it and what, not it again
        said = (error.message() if error.file != result.file else
                ": ".join(part for part in (error.where, error.what) if part))
        output = f"could not grade {result.file}: {said}"
        if result.error.hint:
            output += f"\nhint: {result.error.hint}"
        tests = [dict(test, score=0, status="failed", output=output) for test in tests]
        exact = [(Fraction(0), possible) for _, possible in exact]
    else:
        output = (f"cnngrad check against {problem_file}\nright when {tolerance.describe()}\n"
                  f"{result.right}/{result.total} cells right")
        if result.carried:
            output += f", {result.carried} carried forward"
        if result.missing_paths:
            output += "\nmissing: " + ", ".join(result.missing_words(base))
    score = sum((earned for earned, _ in exact), Fraction(0))
    max_score = sum((possible for _, possible in exact), Fraction(0))
    # every output as plain text, written out: Gradescope reads the top-level output as HTML
    # by default ("simple_format"), where a path or message holding '<' or '&' would be lost
    return {"score": _points(score), "max_score": _points(max_score), "output": output,
            "output_format": "text", "test_output_format": "text", "test_name_format": "text",
            "visibility": visibility, "stdout_visibility": "hidden",
            "tests": tests}


def _test_scope(score, keys: list[str], base: int = 0) -> str:
    """The first lines of a test that grades a part of a tensor, or shares it with another
    test: ``this test: conv2d_1.grads.kernel[0,1], 1/1 points`` and whose report follows
    (the paths' indices counted from ``base``)."""
    line = (f"this test: {key_text(score.key, base)}, "
            f"{points_text(score.earned)}/{points_text(score.possible)} points")
    if score.missing:
        line += (" (not answered)" if score.cells == 1 else
                 f" ({score.missing} of its {score.cells} cells not answered)")
    whole = "the report below is the whole tensor's"
    if len(keys) > 1:
        whole += (f", which {len(keys)} tests grade "
                  f"({', '.join(key_text(key, base) for key in keys)})")
    return f"{line}\n{whole}:"


def _test(number: int, name: str, score, max_score, output: str,
          exact: list[tuple[Fraction, Fraction]], visibility: str,
          passed: bool | None = None) -> dict:
    """One test of ``results.json``; its exact points are appended to ``exact``.  It has
    passed at full points unless ``passed`` says otherwise."""
    exact.append((Fraction(score), Fraction(max_score)))
    if passed is None:
        passed = Fraction(score) == Fraction(max_score)
    return {"name": name, "number": str(number), "score": _points(Fraction(score)),
            "max_score": _points(Fraction(max_score)),
            "status": "passed" if passed else "failed",
            "output": output, "visibility": visibility}


def gradescope_json(result: FileCheck, problem_file: str, tolerance: Tolerance,
                    tensor_text: Callable[[TensorCheck], str],
                    grading: Grading | None = None, *, one_based: bool = False,
                    visibility: str = GRADESCOPE_VISIBILITY) -> str:
    """:func:`gradescope_results` as JSON text."""
    import json

    return json.dumps(gradescope_results(result, problem_file, tolerance, tensor_text, grading,
                                         one_based=one_based, visibility=visibility),
                      indent=2, ensure_ascii=False) + "\n"
