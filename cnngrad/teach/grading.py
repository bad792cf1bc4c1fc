"""The problem's ``grading`` block: how ``cnngrad check`` grades answers to it.

A problem file may carry (contract v1.1, "Grading")::

    "grading": {
      "min_decimals": 2,
      "points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 6, "loss": 1},
      "carry_forward": true
    }

``min_decimals``, ``atol`` and ``rtol`` are ``check``'s options of the same name (an option
given on the command line wins); ``points`` names the paths every answers file must answer,
each with its weight (a tensor's points are shared equally by its cells); ``carry_forward``
marks a wrong answer that is right from the student's own upstream answers as "carried
forward" (:mod:`cnngrad.teach.carry_forward`).  Every other command ignores the block.

Everything here is pure: bad values raise :class:`~cnngrad.errors.ProblemError` naming the
place (``grading.points.conv2d_1.kernel: no such path; known: ...``).
"""

from __future__ import annotations

import difflib
import os
import pathlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from cnngrad.errors import ProblemError, UsageError, did_you_mean, first_of, join_path
from cnngrad.problem import counted_from_one, index_outside_text, quoted_integer_hint
from cnngrad.teach.textbook_names import per_input_paths

__all__ = ["GRADING_KEYS", "DEFAULT_MIN_DECIMALS", "MAX_DECIMALS", "Grading", "grading_of",
           "parse_grading", "resolve_tolerance", "student_names", "check_points",
           "is_updated_path"]

GRADING_KEYS = ("min_decimals", "atol", "rtol", "points", "carry_forward")
#: A value written with fewer decimals is judged as if it had this many, unless the grading
#: block or ``--min-decimals`` says otherwise: the precision homework answers carry.
DEFAULT_MIN_DECIMALS = 4
MAX_DECIMALS = 17


@dataclass(frozen=True)
class Grading:
    """A parsed ``grading`` block; every field None (or empty) when the block does not set it.

    ``points`` maps each required path as written (``conv2d_1.delta_in`` or an element
    ``conv2d_1.delta_in[0,1]``, indices from 0 as everywhere in a problem file) to its weight.
    """

    min_decimals: int | None = None
    atol: Fraction | None = None
    rtol: Fraction | None = None
    points: dict[str, Fraction] = field(default_factory=dict)
    carry_forward: bool | None = None
    file: str | None = None


def grading_of(problem) -> Grading:
    """A problem's grading block, validated (:func:`parse_grading`); a ``"grading": null``
    is an error like any other value that is not an object."""
    return parse_grading(problem.grading, file=problem.file, given=problem.grading_given)


def parse_grading(raw: Any, *, file: str | None = None, given: bool = False) -> Grading:
    """Validate a problem's ``grading`` value (None: no block, unless ``given`` says the key
    was there, holding null).

    Raises
    ------
    ProblemError
        Not an object; an unknown key (naming the closest known one); ``min_decimals`` not
        an integer in 0…17; ``atol``/``rtol`` not a number ≥ 0; ``min_decimals`` together
        with ``atol``/``rtol``; ``points`` not an object of dotted paths → numbers > 0;
        ``carry_forward`` not true/false.
    """
    if raw is None and not given:
        return Grading(file=file)
    where = "grading"

    def error(at: str, what: str, hint: str | None = None) -> ProblemError:
        return ProblemError(what, where=join_path(where, at) if at else where, file=file,
                            hint=hint)

    if not isinstance(raw, dict):
        raise error("", "expected an object such as {\"min_decimals\": 2, \"points\": {...}}")
    for key in raw:
        if key not in GRADING_KEYS:
            raise error(key, f"unknown key '{key}' in the grading block",
                        did_you_mean(str(key), GRADING_KEYS))
    values: dict[str, Any] = {}
    if "min_decimals" in raw:
        value = raw["min_decimals"]
        if (isinstance(value, bool) or not isinstance(value, (int, Decimal))
                or (isinstance(value, Decimal) and value != value.to_integral_value())
                or not 0 <= value <= MAX_DECIMALS):
            quoted = quoted_integer_hint(value)
            raise error("min_decimals", f"expected an integer from 0 to {MAX_DECIMALS}, got "
                                        f"{_show(value)}",
                        quoted if quoted and int(float(value)) <= MAX_DECIMALS else None)
        values["min_decimals"] = int(value)
    for key in ("atol", "rtol"):
        if key in raw:
            values[key] = _non_negative(raw[key], join_path(where, key), file)
    if "min_decimals" in values and ("atol" in values or "rtol" in values):
        raise error("min_decimals", "min_decimals belongs to the decimals rule, which "
                                    "atol/rtol replace; give one or the other")
    if "carry_forward" in raw:
        value = raw["carry_forward"]
        if not isinstance(value, bool):
            raise error("carry_forward", f"expected true or false, got {_show(value)}")
        values["carry_forward"] = value
    if "points" in raw:
        values["points"] = _points(raw["points"], join_path(where, "points"), file)
    return Grading(file=file, **values)


def _key_where(points_where: str, key: str) -> str:
    """Where a key of the points object is: ``grading.points.<key>``; a blank key is placed
    at the object that holds it (no blank ``<where>``)."""
    return f"{points_where}.{key}" if key.strip() else points_where


def _points(raw: Any, where: str, file: str | None) -> dict[str, Fraction]:
    from cnngrad.teach.check import split_key  # check imports this module's helpers

    if not isinstance(raw, dict) or not raw:
        raise ProblemError('expected an object {"dotted.path": points, ...} with at least one '
                           'path', where=where, file=file,
                           hint='e.g. {"conv2d_1.grads.kernel": 4, "loss": 1}')
    points, spelled = {}, {}
    for key, value in raw.items():
        at = _key_where(where, key)
        cell = split_key(key, file=file, where=at)
        if cell in spelled:  # [0][0] and [0,0], or spaces: one cell written twice
            raise ProblemError(f"the same tensor or cell as '{spelled[cell]}'", where=at,
                               file=file, hint="give each path once, with its whole weight")
        spelled[cell] = key
        weight = _number(value, at, file)
        if weight <= 0:
            raise ProblemError(f"points must be > 0, got {_show(value)}", where=at, file=file,
                               hint="leave a path out to not require it")
        points[key] = weight
    return points


def _number(value: Any, where: str, file: str | None) -> Fraction:
    from cnngrad.tensorio import parse_number

    if isinstance(value, (list, dict)):
        raise ProblemError(f"expected a number, got {_show(value)}", where=where, file=file)
    return parse_number(value, where, file=file, exact=True)


def _non_negative(value: Any, where: str, file: str | None) -> Fraction:
    number = _number(value, where, file)
    if number < 0:
        raise ProblemError(f"must be ≥ 0, got {_show(value)}", where=where, file=file)
    return number


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return str(value).replace("E", "e")  # a Decimal's exponent as JSON writes one (1e+400)


# --------------------------------------------------------------------------- at check time


def check_points(grading: Grading, shapes: dict[str, tuple[int, ...]],
                 absent_parameter: Callable[[str], str | None]) -> None:
    """Every path of ``points`` names a tensor of the trace (and an element inside it).

    Parameters
    ----------
    shapes : the trace's dotted paths, forward order → display shape
    absent_parameter : the trace's :meth:`~cnngrad.network.Trace.absent_parameter`, whose
        words name the gradient of a parameter the problem leaves out (a conv without a bias)

    Raises
    ------
    ProblemError
        ``grading.points.<key>: no such path; known: ...`` (the closest first; ``loss`` of a
        problem that gives the delta says so), or an element index outside the tensor.
    """
    from cnngrad.teach.check import split_key

    for key in grading.points:
        where = _key_where("grading.points", key)
        path, index = split_key(key, file=grading.file, where=where)
        if path == "loss" and path not in shapes:
            raise ProblemError("the problem gives the delta at the last layer, so it has no "
                               "loss to grade", where=where, file=grading.file)
        absent = None if path in shapes else absent_parameter(path)
        if absent is not None:
            raise ProblemError(absent, where=where, file=grading.file)
        if path not in shapes:
            close = difflib.get_close_matches(path, list(shapes), n=len(shapes), cutoff=0.0)
            hint = None
            parts = per_input_paths(path, shapes)
            if parts:  # an add's or concat's: one per input
                hint = f"{path} is one tensor per input, each with its own points: " + \
                    ", ".join(parts)
            elif is_updated_path(path) and not any(map(is_updated_path, shapes)):
                hint = "an updated parameter is known only with --lr"
            elif difflib.get_close_matches(path, close[:1], cutoff=0.8):  # a typo
                hint = f"did you mean {close[0]}?"
            raise ProblemError(f"no such path; known: {first_of(close, 8)}", where=where,
                               file=grading.file, hint=hint)
        shape = shapes[path]
        # a shorter index names one part (conv2d_1.delta_in[1]: channel 1), as in answers
        if index is not None and (not 0 < len(index) <= len(shape)
                                  or any(i >= n for i, n in zip(index, shape))):
            from_one = len(index) <= len(shape) and counted_from_one(index, shape)
            raise ProblemError(index_outside_text(path, index, shape, parts=True),
                               where=where, file=grading.file,
                               hint=("counting from 1? the grading block's paths count from 0 "
                                     "(--one-based is for answers files)") if from_one else None)


def is_updated_path(path: str) -> bool:
    """Whether ``path`` names an updated parameter (``conv2d_1.updated.kernel``), known only
    with a learning rate."""
    return path.partition(".")[2].startswith("updated.")


def resolve_tolerance(grading: Grading, *, atol: Fraction | None = None,
                      rtol: Fraction | None = None, min_decimals: int | None = None):
    """The tolerance rule: each command-line option wins over the block's key of that name.

    ``atol``/``rtol`` replace the decimals rule; when the two rules come from different
    places, the command line's wins (``--min-decimals 3`` over a block's ``atol``,
    ``--atol`` over a block's ``min_decimals``).  With neither, at least
    :data:`DEFAULT_MIN_DECIMALS` decimals.

    Raises
    ------
    UsageError
        ``--min-decimals`` together with ``--atol``/``--rtol``.
    """
    from cnngrad.teach.check import Tolerance

    cli_explicit = atol is not None or rtol is not None
    if cli_explicit and min_decimals is not None:
        raise UsageError("--min-decimals belongs to the decimals rule, which --atol/--rtol "
                         "replace; give one or the other", where="--min-decimals")
    if cli_explicit:
        return Tolerance(atol=atol if atol is not None else grading.atol,
                         rtol=rtol if rtol is not None else grading.rtol, min_decimals=0)
    if min_decimals is not None:
        return Tolerance(min_decimals=min_decimals)
    if grading.atol is not None or grading.rtol is not None:
        return Tolerance(atol=grading.atol, rtol=grading.rtol, min_decimals=0)
    if grading.min_decimals is not None:
        return Tolerance(min_decimals=grading.min_decimals,
                         min_decimals_from="the grading block's min_decimals")
    return Tolerance(min_decimals=DEFAULT_MIN_DECIMALS)


#: Answers files' names that name no student: their folder does.
TEMPLATE_STEMS = ("answers", "answers-template")


def student_names(files: Sequence[str]) -> list[str]:
    """The student of each answers file: its stem (``alice`` for ``alice.json``), or its
    folder when the stem names no one (``cleo/answers.json``: the name of the template
    cnngrad generate hands out, :data:`TEMPLATE_STEMS`) or files share a stem
    (``alice/answers.json``, ``bob/answers.json``), unless that folder holds another of them
    (``class/ana.json`` beside ``class/ana/``'s files).  Files whose names still clash are
    named by the shortest end of their paths that tells them all apart (``sec1/gus`` beside
    ``gus/answers``, ``x/alice/answers`` beside ``y/alice/answers``), the others keeping
    theirs, so that no row takes the name another file gave (``gus`` for ``sec1/gus.json``
    and ``answers`` for ``gus/answers.json``, the answers under the wrong name); the paths as
    given where nothing shorter does.  ``-`` is ``stdin``."""
    paths = [pathlib.PurePath(f) for f in files]
    # compared as absolute paths: a folder of one file per path comes as one
    where = [pathlib.PurePath(os.path.abspath(f)) for f in files]
    stems = [p.stem if f != "-" else "stdin" for p, f in zip(paths, files)]
    folders = [p.parent.name or p.stem if f != "-" else "stdin" for p, f in zip(paths, files)]

    def holds_another(i: int) -> bool:
        # class4/ana.json beside class4/ana/'s files: class4 is no student's folder
        return any(where[i].parent in other.parents for j, other in enumerate(where)
                   if j != i and stems[j] == stems[i])

    names = [folder if folder != stem and (stem in TEMPLATE_STEMS or stems.count(stem) > 1
                                           and not holds_another(i))
             else stem for i, (stem, folder) in enumerate(zip(stems, folders))]
    clashing = [i for i, name in enumerate(names) if names.count(name) > 1]
    if clashing:
        for i, tail in zip(clashing, _distinct_tails([files[i] for i in clashing],
                                                     [names[i] for i in clashing],
                                                     set(names))):
            names[i] = tail
    return names


def _distinct_tails(files: Sequence[str], names: Sequence[str], taken: set[str]) -> list[str]:
    """For files whose ``names`` clash, the last parts of each path without its suffix, as
    few as tell them apart from each other and from the other rows' names (``taken``):
    ``sec1/gus``, ``gus/answers``; the paths as given where none do (``ana.json`` beside the
    folder ``ana/``)."""
    parts = [pathlib.PurePath(f).with_suffix("").parts if f != "-" else ("stdin",)
             for f in files]
    others = taken - set(names)
    for count in range(2, max(len(p) for p in parts) + 1):
        tails = ["/".join(p[-count:]) for p in parts]
        if len(set(tails)) == len(tails) and not others & set(tails):
            return tails
    return [f if f != "-" else "stdin" for f in files]
