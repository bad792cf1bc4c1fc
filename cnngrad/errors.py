"""The one exception family cnngrad raises for anything a user can get wrong.

Every error knows *where* (a JSON path such as ``layers[1].kernel[2]``, :data:`TOP_LEVEL`
for a document as a whole, ``line 2, column 5`` of text that is not JSON, a CSV ``row 3,
column 2``, a ``.npy`` file's ``header``, ``data`` or ``element [0,1]``, or a command-line
option) and *what*, plus an optional
one-line hint ("did you mean 'kernel'?").  The CLI catches :class:`CnnGradError`
once, prints ``error: <file>: <where>: <what>`` and exits with ``exit_code``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence


#: What to do about an error follows it on its own line, after this: a bad input is one line
#: of stderr (the contract), and a script that reads that line has the hint too.
HINT_SEPARATOR = "; hint: "


def with_hint(text: str, hint: str | None) -> str:
    """``<text>; hint: <what to do>``, as an error line says it (``text`` alone without a
    hint): stderr's line, a gradebook's error row."""
    return f"{text}{HINT_SEPARATOR}{hint}" if hint else text


class CnnGradError(Exception):
    """Base of every error cnngrad reports to a user (exit code 2)."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, file: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.file = file
        self.hint = hint

    def message(self) -> str:
        """The one line the CLI prints (without the ``error:`` prefix)."""
        parts = [p for p in (self.file, self.where) if p]
        parts.append(self.what)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.message()


class ProblemError(CnnGradError):
    """The problem file (or a tensor file it names) is malformed or inconsistent."""


class ShapeError(ProblemError):
    """Shapes that do not fit together (kernel vs input, delta vs output, ...)."""


class DomainError(ProblemError):
    """A value outside the domain of a loss (a bce output outside [0, 1]); gradcheck's moved
    runs catch it, since a finite-difference step can take an output there.

    ``what`` may name the offending cell as ``{cell}`` (``[0,1]``, or nothing for a number),
    counted from 0 until :meth:`count_from` says otherwise (``--one-based``)."""

    def __init__(self, what: str, *, cell: tuple[int, ...] = (), **kwargs) -> None:
        self.template, self.cell = what, cell
        super().__init__(what.format(cell=_cell_text(cell, 0)), **kwargs)

    def count_from(self, base: int) -> None:
        self.what = self.template.format(cell=_cell_text(self.cell, base))
        self.args = (self.what,)


def _cell_text(cell: tuple[int, ...], base: int) -> str:
    return "[" + ",".join(str(i + base) for i in cell) + "]" if cell else ""


class ResourceError(ProblemError):
    """The problem would need more memory than allowed (see ``--max-elements``)."""


class UsageError(CnnGradError):
    """Bad command-line usage: a missing file, an unknown option value."""


class SettingError(UsageError, ValueError):
    """A setting the kernels read themselves, ``CNNGRAD_BLAS``: also a ``ValueError``, the
    library's documented error, for a program calling the kernels directly."""


class ExactUnsupportedError(CnnGradError):
    """A layer or loss that cannot be computed in exact rational arithmetic."""


class BenchError(CnnGradError):
    """A benchmark whose run went wrong: a command it times failed, or gave other output than
    it should (exit code 1, as a benchmark that measured but missed its target)."""

    exit_code = 1


#: ``<where>`` of an error about a JSON document as a whole, its outermost value: not an
#: object, or missing a key every such document needs (a nested object missing a key names
#: the object, ``layers[0]``, as this names the outermost one).
TOP_LEVEL = "top level"


def join_path(base: str, tail: str | int) -> str:
    """Join JSON path pieces: ``join_path("layers[1]", "kernel") == "layers[1].kernel"``."""
    if isinstance(tail, int):
        return f"{base}[{tail}]"
    if not base:
        return tail
    if not tail:  # an empty key ("": 1) is placed at the object that holds it
        return base
    if tail.startswith("["):
        return base + tail
    return f"{base}.{tail}"


#: Consonant pairs that begin words read as words ("flatten", "str", "dropout"); a word
#: that begins with two other consonants is read letter by letter ("mse", "ndarray").
_ONSETS = frozenset("bl br ch cl cr dr dw fl fr gh gl gn gr kn ph pl pr ps rh sc sh sk sl sm "
                    "sn sp st sw th tr ts tw wh wr".split())
#: Letters whose names begin with a vowel sound: ef, aitch, el, em, en, ar, es, ex.
_VOWEL_NAMED = "fhlmnrsx"
#: Words that begin with a u sounded "you": a uint8, a user.
_YOU = ("uint", "unicode", "user", "uuid")


#: A number said starting with a vowel: eight..., eleven, eighteen (not 110, "one hundred")
_SAID_WITH_A_VOWEL = re.compile(r"8|1[18](?!\d)")


def with_article(word: str) -> str:
    """``word`` after the article its sound takes: 'an add', 'a conv2d', 'an int', 'a float',
    and for a word read letter by letter 'an mse', 'an ndarray', 'a bce'."""
    low = word.lower()
    if low[:1].isdigit():  # 'an 8-wide', 'an 11-wide', 'an 18', 'a 1-wide'
        return ("an " if _SAID_WITH_A_VOWEL.match(low) else "a ") + word
    if low[:1] in "aeiou":
        an = not low.startswith(_YOU)
    elif len(low) == 1 or (low[1] not in "aeiouy" and low[:2] not in _ONSETS):
        an = low[:1] in _VOWEL_NAMED  # read as letters: its first letter's name
    else:
        an = False
    return f"{'an' if an else 'a'} {word}"


#: Other tools' and textbooks' names for a field, in the order a hint tries them: the first
#: one the place knows is named (``filters`` in a conv layer: ``kernel``; ``weight`` in a
#: dense layer: ``weights``).
SYNONYMS = {"filter": ("kernel",), "filters": ("kernel",),
            # torch's BatchNorm calls gamma its weight and beta its bias
            "weight": ("kernel", "weights", "gamma"), "bias": ("beta",),
            "weights": ("kernel",), "w": ("kernel", "weights"), "kernel": ("weights",),
            "b": ("bias",),
            "targets": ("target",), "label": ("target",), "labels": ("target",),
            "y": ("target",), "y_true": ("target",),
            "grad_output": ("delta",), "grad": ("delta",), "dy": ("delta",),
            "delta_out": ("delta",), "upstream": ("delta",),
            "var": ("running_var",), "variance": ("running_var",),
            "moving_var": ("running_var",), "moving_variance": ("running_var",),
            "moving_mean": ("running_mean",),
            "alpha": ("slope",),
            "rate": ("p",), "prob": ("p",), "probability": ("p",), "drop_prob": ("p",),
            "drop_rate": ("p",),
            # not torch's size (an output size): scale is the ratio
            "factor": ("scale",), "upscale_factor": ("scale",)}


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt one (or the one :data:`SYNONYMS` gives), or
    None when nothing is close."""
    known = list(known)
    by_lower = {k.lower(): k for k in known}  # "SAME" is close to "same"
    lower = name.lower()
    for synonym in SYNONYMS.get(lower, ()):
        if synonym in by_lower:
            return by_lower[synonym]
    matches = difflib.get_close_matches(lower, list(by_lower), n=1, cutoff=0.5)
    if not matches:
        return None
    best = matches[0]
    # between 0.5 and 0.6 only a shortening is close ('scale_factor' for 'scale', and a last
    # word: torch's 'kernel_size' for 'size', 'negative_slope' for 'slope'): a few shared
    # letters are not ('inplace' is not 'name')
    if (difflib.SequenceMatcher(None, lower, best).ratio() < 0.6
            and not (lower.startswith(best) or best.startswith(lower)
                     or lower.endswith("_" + best) or best.endswith("_" + lower))):
        return None
    return by_lower[best]


def first_of(names: Sequence[str], count: int) -> str:
    """``a, b, c, ...``: the first ``count`` names as given, then ``...`` when there are more
    (a hint is one line)."""
    return ", ".join(names[:count]) + (", ..." if len(names) > count else "")


def and_list(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names in a sentence."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def allowed_list(known: Iterable[str]) -> str:
    """The hint listing the allowed names, ``allowed: a, b, c``: sorted, however the caller
    keeps them, so that a list reads the same in every message."""
    return f"allowed: {', '.join(sorted(known))}"


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint naming the closest known name, or listing them all."""
    known = sorted(known)
    best = closest(name, known)
    if best is not None:
        return f"did you mean '{best}'? ({allowed_list(known)})"
    return allowed_list(known)
