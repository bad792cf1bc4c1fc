"""One number of a result, taken apart: the formula with its indices, every term with its
numbers, the zero terms counted, the total.

``explain(trace, "conv2d_1.grads.kernel[0,0]")`` returns an :class:`Explanation`:

    dE/dw[0,0] = Σ_i Σ_j δ[i,j]·o[i,j]
      δ[0,2]·o[0,2] = 0.0686 × 0.88 = 0.060368
      ...
      + 12 terms that are 0 (δ = 0)
    dE/dw[0,0] = 0.044606

The terms are built here, straight from each layer's local rule (which cells of the input
a kernel entry meets, which window holds a pool cell, ...), from the layer's input, output and
upstream delta in the trace; they never call the engine's kernels.  So the total, the plain sum
of the terms, is an independent check of the engine's value at the same path (the tests hold
one to the other for every kind of path).

Paths are the contract's dotted paths (``loss``, ``<layer>.output[i,j]``,
``<layer>.delta_out[...]``, ``<layer>.delta_in[...]``, ``<layer>.grads.<param>[...]``,
``<layer>.updated.<param>[...]``) with the element's indices in the shape the result is shown
in.  Every index an explanation prints is in that shape too, counted from 0, or from 1 with
``one_based``.

Symbols, as in the classic write-up of conv backprop: ``o`` is a layer's input (the previous
layer's output), ``x`` its output, ``δ`` = dE/dx (the layer's ``delta_out``), ``w`` a kernel,
``W`` dense weights, ``b`` a bias; for the loss ``y`` is the last layer's output and ``t`` the
target.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import UsageError, first_of
from cnngrad.families import family_of, loss_family
from cnngrad.file_kinds import bracketed_key
from cnngrad.network import LayerTrace, Trace
from cnngrad.problem import (MAX_INDEX_DIGITS, ONE_BASED_HINT, ZERO_BASED_HINT,
                              counted_from_one, index_outside_text, shape_text)
from cnngrad.teach.textbook_names import (input_delta_hint, parameter_hint, per_input_paths,
                                          textbook_hint)

#: How the terms of an explanation combine into its total.
OPERATIONS = ("sum", "max")


# --------------------------------------------------------------------------- the result


@dataclass
class Factor:
    """One number in a product: its symbol with indices, and its value.

    ``detail`` is the arithmetic behind a value that is not read off a tensor
    (``"1 - 0.443414"``); ``note`` says something about where it came from
    (``"padding cell o[-1,0] copies o[1,0]"``); ``zero_reason`` says why a zero factor is
    zero when it is not simply a zero cell (``"not the window's maximum"``).
    """

    symbol: str
    value: Any
    detail: str | None = None
    note: str | None = None
    zero_reason: str | None = None


@dataclass
class Term:
    """A product of factors and its value."""

    factors: list[Factor]
    value: Any
    note: str | None = None


@dataclass
class Column:
    """One factor of every term of an explanation, as an array (see :class:`TermColumns`).

    ``name`` is the factor's symbol without its index (``"δ"``): a term whose first zero
    factor is this one is counted under ``"δ = 0"``, unless ``zero_reasons`` (an object array
    of the same length as ``values``, ``None`` where the plain reason holds) names another
    reason for that term (``"o is zero padding"``).
    """

    name: str
    values: np.ndarray
    zero_reasons: np.ndarray | None = None


@dataclass
class TermColumns:
    """The terms of an explanation given as columns instead of a list of :class:`Term`.

    For a sum over a whole tensor (a kernel entry's gradient has a term per output cell):
    :meth:`_Explainer.finish` multiplies the columns, counts and sums the terms in a few
    numpy passes, and calls ``build(k)`` for term ``k`` (counted over all terms, zero ones
    included) only when it is shown.  ``build(k)`` must return the term whose factors have
    the values ``column.values[k]``, in the columns' order, as :meth:`_Explainer.term` makes
    it; a list of terms (``[build(k) for k in range(count)]``) gives the same explanation.

    Parameters
    ----------
    columns : list of Column
        One per factor, each ``values`` of shape (count,).
    build : callable
        ``build(k) -> Term``.
    """

    columns: list[Column]
    build: Callable[[int], Term]

    @property
    def count(self) -> int:
        return len(self.columns[0].values)

    def products(self) -> np.ndarray:
        """Each term's value, the factors multiplied left to right as :meth:`term` does."""
        values = self.columns[0].values
        with np.errstate(all="ignore"):  # inf or nan as Python's arithmetic gives, unsaid
            for column in self.columns[1:]:
                values = values * column.values
        return values


class TermList(Sequence):
    """The nonzero terms of an explanation, each built when it is first read.

    It behaves as the list of terms it stands for (``len``, indexing, slicing, iterating,
    ``==`` with a list), so code written for ``Explanation.terms`` as a list keeps working;
    reading only ``terms[:k]`` builds only those ``k``.
    """

    def __init__(self, positions: Sequence[int], values: list, build: Callable[[int], Term]):
        self._positions = positions
        self._values = values
        self._build = build
        self._built: dict[int, Term] = {}

    def __len__(self) -> int:
        return len(self._values)

    def _term(self, i: int) -> Term:
        if i not in self._built:
            self._built[i] = self._build(int(self._positions[i]))
        return self._built[i]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._term(k) for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("term index out of range")
        return self._term(i)

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"TermList({len(self)} terms)"

    def values(self) -> list:
        """Every term's value, without building a term."""
        return self._values


def term_values(terms: Sequence[Term]) -> list:
    """The values of ``terms`` (a list, or a :class:`TermList` without building its terms)."""
    if isinstance(terms, TermList):
        return terms.values()
    return [term.value for term in terms]


#: The note of a window's maximum among a max pool's cells.
MAXIMUM = "maximum"


@dataclass
class Explanation:
    """Everything ``cnngrad explain`` shows for one element.

    ``terms`` hold the nonzero terms (all terms for a ``max``); the zero ones are only counted,
    in ``zero_terms``, with what made them zero in ``zero_reasons``.  ``total`` is the sum (or
    the max) of the terms, computed here: it must equal the engine's value at ``path``.
    ``terms`` is a list, or a :class:`TermList` that builds each term when it is read.
    """

    path: str
    title: str
    lhs: str
    formula: str
    terms: Sequence[Term]
    total: Any
    symbols: dict[str, str] = field(default_factory=dict)
    zero_terms: int = 0
    zero_reasons: dict[str, int] = field(default_factory=dict)
    operation: str = "sum"
    notes: list[str] = field(default_factory=list)
    one_based: bool = False
    exact: bool = False

    @property
    def term_count(self) -> int:
        return len(self.terms) + self.zero_terms

    def listing(self, max_terms: int | None) -> "Explanation":
        """This explanation with its terms in the order a listing of ``max_terms`` shows
        them: a window's maximum (a ``max``) among the shown ones, in the last place, when
        reading order would have left it out (it is the answer); else itself."""
        if (self.operation != "max" or max_terms is None or max_terms < 1
                or len(self.terms) <= max_terms
                or any(term.note == MAXIMUM for term in self.terms[:max_terms])):
            return self
        first = next((k for k, term in enumerate(self.terms) if term.note == MAXIMUM), None)
        if first is None:
            return self
        terms = [*self.terms[:max_terms - 1], self.terms[first],
                 *(term for k, term in enumerate(self.terms)
                   if k >= max_terms - 1 and k != first)]
        return dataclasses.replace(self, terms=terms)

    def rest(self, shown: int) -> tuple[int, Any]:
        """The terms after the first ``shown``: how many, and what they give together, as
        the operation combines them: their sum (added from 0 in order, as a person would),
        or for a ``max`` the largest of them (a sum of a window's cells means nothing)."""
        values = term_values(self.terms)[shown:]
        if self.operation == "max":
            return len(values), max(values, default=0)
        total = 0
        for value in values:
            total = total + value
        return len(values), total


# --------------------------------------------------------------------------- numbers


def scalar(value):
    """A plain Python number (numpy scalars unwrapped; Fractions and ints kept)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def short(value, decimals: int = 6) -> str:
    """A factor as a person writes it: ``0.0686``, ``-0.04767``, ``343/5000``.

    Trailing zeros go only where the shorter decimal is the value itself (up to float
    noise: 0.3·0.2 is 0.06): a value rounded to them keeps them, ``-0.031560`` for
    -0.0315597, which ``-0.03156`` would write as exact, beside totals of all ``decimals``."""
    from cnngrad.render.numbers import fmt

    value = scalar(value)
    if isinstance(value, Fraction):
        return fmt(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = fmt(value, decimals)
    if "." in text and "e" not in text:
        stripped = text.rstrip("0").rstrip(".")
        if math.isclose(float(stripped), float(value), rel_tol=1e-12, abs_tol=1e-300):
            text = stripped
    return "0" if text in ("-0", "") else text


def shorts_apart(values: list) -> list[str]:
    """:func:`short` of each value, but a float whose text reads the same as a different
    value's gets the shortest text its float round-trips from (``0.30000000000000004``
    beside ``0.3``), so that a pool window's maximum reads as one where it is one."""
    texts = [short(value) for value in values]
    read_as: dict[str, set] = {}
    for value, text in zip(values, texts):
        read_as.setdefault(text, set()).add(scalar(value))
    # str() of a float, numpy's or Python's, is its shortest round-trip text
    return [str(value) if isinstance(value, (float, np.floating)) and len(read_as[text]) > 1
            else text for value, text in zip(values, texts)]


def operand(value, decimals: int = 6) -> str:
    """A number that follows an operator in a factor's arithmetic: :func:`short`, in brackets
    when negative, so that two signs never meet: ``2·(-0.403737)/16``, ``0.3 - (-0.1)``,
    ``1 - (-0.15)²``."""
    text = short(value, decimals)
    return f"({text})" if text.startswith("-") else text


def _product(values: list):
    out = values[0]
    for value in values[1:]:
        out = out * value
    return out


def _symbols_used(symbols: dict[str, str], texts: list[str]) -> dict[str, str]:
    """The symbols that the formula or a note writes, or the meaning of one that does (δ's
    ``dE/dx`` names x): a layer's common set (o, x, δ) named one that its formula does not
    use (δ beside an output's sum).  A symbol counts alone, after the d or ∂ of a
    derivative (``dE/db``, ``dx/db``) or before a subscript (``t_n``), never inside a word."""
    def written(symbol: str, text: str) -> bool:
        pattern = rf"(?:(?<!\w)|(?<![\w])d|∂){re.escape(symbol)}(?![^\W_])"
        return re.search(pattern, text) is not None

    used: set[str] = set()
    texts = list(texts)
    while True:
        found = {symbol for symbol in symbols if symbol not in used
                 and any(written(symbol, text) for text in texts)}
        if not found:
            return {symbol: meaning for symbol, meaning in symbols.items() if symbol in used}
        used |= found
        texts = [symbols[symbol] for symbol in found]


def _is_zero(value) -> bool:
    return value == 0


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


# --------------------------------------------------------------------------- indices


def _affine(coefs: dict[str, int], const: int, base: int, div: int = 1) -> str:
    """An index expression ``(Σ coef·var + const) / div`` written for indices counted from
    ``base``: every variable and the result shift by ``base``.  ``{"i": 1, "m": 1}, 0 ->
    "i+m"`` (from 0) or ``"i+m-1"`` (from 1)."""
    const = const - base * sum(coefs.values())
    if div == 1:
        const += base
    terms = [(coef, var) for var, coef in coefs.items() if coef != 0]
    if const or not terms:
        # a leading constant reads better than a leading minus: "2-m", not "-m+2"
        terms.insert(0 if terms and terms[0][0] < 0 else len(terms), (const, ""))
    text = ""
    for coef, var in terms:
        size = str(abs(coef)) if abs(coef) != 1 or not var else ""
        sign = "-" if coef < 0 else ("+" if text else "")
        text += f"{sign}{size}{var}"
    if div == 1:
        return text
    # a lone variable or number needs no brackets: "m/2+1", not "(m)/2+1"
    numerator = text if len(terms) == 1 and not text.startswith("-") else f"({text})"
    return f"{numerator}/{div}" + (f"+{base}" if base else "")


class NamedCells:
    """Names cells of one tensor: the engine's index → the index shown to the user.

    ``keep`` says which axes of the engine's layout appear in the shown shape (the others are
    the batch axis of an unbatched problem, the channel of a one-channel map, the filter axis
    of a one-filter kernel: always of size 1, so dropping them is exactly the reshape the
    report does).
    """

    def __init__(self, symbol: str, keep: tuple[bool, ...], base: int,
                 order: tuple[int, ...] | None = None) -> None:
        self.symbol = symbol
        self.keep = keep
        self.base = base
        #: the internal axes in the order they are shown (channels last under nhwc);
        #: None: the kept axes in their internal order
        self.order = order

    def shown(self, index) -> tuple:
        if self.order is not None:
            return tuple(index[axis] for axis in self.order)
        return tuple(i for i, kept in zip(index, self.keep) if kept)

    def index_text(self, index) -> str:
        """Indices: ints are cells (shifted by the base), strings are expressions as written."""
        parts = [str(int(i) + self.base) if not isinstance(i, str) else i
                 for i in self.shown(index)]
        return f"[{','.join(parts)}]" if parts else ""

    def __call__(self, *index) -> str:
        return self.symbol + self.index_text(index)


def _map_keep(layout, internal_shape: tuple[int, ...]) -> tuple[bool, ...]:
    """Which internal axes a feature map (N, C, H, W) / (N, C, L) or vector (N, K) shows
    (the contract's shape rules, as :meth:`cnngrad.problem.Layout.display_shape`)."""
    if len(internal_shape) not in (2, layout.spatial + 2):
        raise ValueError(f"not an activation shape: {internal_shape}")
    axes = layout.display_axes(tuple(internal_shape))
    return tuple(axis in axes for axis in range(len(internal_shape)))


# --------------------------------------------------------------------------- paths


_PATH_RE = re.compile(r"^(?P<name>[^\[\]\s]+)\s*(?P<index>(?:\[[^\[\]]*\]\s*)*)$")

#: An element's index as ``check`` reads it in an answers file: whole numbers separated by
#: commas, ``[1,2]`` or ``[1][2]``; so ``[1 2]`` is refused here too rather than read as 12.
_INDEX_RE = re.compile(r"(?:\[\s*[+-]?\d+(?:\s*,\s*[+-]?\d+)*\s*\]\s*)+", re.ASCII)


@dataclass
class TensorPath:
    name: str  # the tensor's path without an index
    index: tuple[int, ...]  # 0-based, in the shown shape
    layer: LayerTrace | None
    kind: str  # loss | output | delta_out | delta_in | grads | updated
    param: str | None
    shape: tuple[int, ...]


def known_paths(trace: Trace) -> dict[str, tuple[int, ...]]:
    """Every tensor ``explain`` accepts: path without an index → its shown shape (a trace
    whose backward pass stopped early too: see :func:`layer_explained`)."""
    return trace.shapes()


#: What a path of a layer is explained from: its inputs, output and delta_out (and for a
#: delta_out, the later layers' delta_in).  Its own backward step is not needed; an updated
#: parameter needs its gradient.
_FROM_DELTA_OUT = ("output", "delta_out", "delta_in", "grads")


def layer_explained(problem, path: str) -> str | None:
    """The layer whose own backward step, and every earlier layer's, a path's explanation does
    not need (``run(..., stop_before=...)``); None for the loss, an updated parameter or a path
    that does not read as one (``explain`` then reports it on the whole run)."""
    match = _PATH_RE.match(path.strip())
    if not match:
        return None
    layer_name, _, kind = match.group("name").partition(".")
    kind = kind.split(".")[0]
    names = {spec.name for spec in problem.layers}
    return layer_name if layer_name in names and kind in _FROM_DELTA_OUT else None


def _example(name: str, shape: tuple[int, ...], base: int) -> str:
    return element_path(name, (0,) * len(shape), bool(base))


def parse_path(trace: Trace, path: str, one_based: bool = False) -> TensorPath:
    """Split and check a dotted path; a bad one raises :class:`UsageError` (exit code 2)."""
    base = 1 if one_based else 0
    text = path.strip()
    match = _PATH_RE.match(text)
    if not match:
        if text.count("[") == text.count("]") + 1 and not text.endswith("]"):
            # kernel[0,1: the index's closing bracket left off
            closed = text + "]"
            if _PATH_RE.match(closed):
                raise UsageError(f"cannot read the path {path!r}: its '[' is not closed",
                                 where="PATH", hint=f"write it {closed}")
        bracketed = bracketed_key(text)  # kernel (0, 1)
        raise UsageError(f"cannot read the path {path!r}", where="PATH",
                         hint=f"an element's index goes in brackets: {bracketed}" if bracketed
                         else "write it like conv2d_1.grads.kernel[0,0]")
    name = match.group("name")
    known = known_paths(trace)
    if name == "loss" and trace.loss is None:
        raise UsageError("the problem gives the delta directly, so there is no loss to "
                         "explain", where="PATH",
                         hint=f"its delta is {trace.layers[-1].name}.delta_out")
    absent = None if name in known else trace.absent_parameter(name)
    if absent is not None:
        raise UsageError(absent, where="PATH")
    if name not in known and ".updated." in name and trace.lr is None:
        raise UsageError(f"'{name}' is a parameter after one SGD step: it needs --lr",
                         where="PATH", hint="add the learning rate, e.g. --lr 0.1")
    if name not in known:
        bracketed = bracketed_key(text)  # kernel(0,1)
        hint = (f"an element's index goes in brackets: {bracketed}"
                if bracketed and bracketed.partition("[")[0] in known else
                _closest_hint(name, trace, known, match.group("index").strip()))
        raise UsageError(f"unknown path '{name}'", where="PATH", hint=hint)
    shape = known[name]
    written = match.group("index").strip()
    index_text = re.sub(r"\s+", "", written)
    if index_text and not shape:  # `[]` too: check reads no index on a number either
        raise UsageError(f"{name} is a single number: give it without an index",
                         where="PATH")
    if index_text:
        pieces = [p for p in re.split(r"[\[\],]", index_text) if p != ""]
        try:
            if index_text != "[]" and not _INDEX_RE.fullmatch(written):
                raise ValueError(written)
            # past MAX_INDEX_DIGITS int() may refuse: out of range, whatever its digits
            huge = any(len(p.lstrip("+-")) > MAX_INDEX_DIGITS for p in pieces)
            given = [] if huge else [int(p) for p in pieces]
        except ValueError:
            raise UsageError(f"the index {written} is not whole numbers separated by commas",
                             where="PATH", hint=f"e.g. {_example(name, shape, base)}") from None
        if huge:  # of so many digits it cannot be read as a number, nor shown whole
            shown = index_text if len(index_text) <= 60 else index_text[:60] + "…"
            raise UsageError(f"index {shown} is outside '{name}' of shape "
                             f"{shape_text(shape)}", where="PATH",
                             hint=f"e.g. {_example(name, shape, base)}")
        if len(given) != len(shape):
            raise UsageError(f"{name} has shape {shape_text(shape)}: give {len(shape)} "
                             f"ind{'ex' if len(shape) == 1 else 'ices'}, e.g. "
                             f"{_example(name, shape, base)}", where="PATH")
        index = tuple(i - base for i in given)
        if any(not 0 <= i < size for i, size in zip(index, shape)):
            from_one = base == 0 and counted_from_one(tuple(given), shape)
            # the other way round: a 0 under --one-based, an index counted from 0
            from_zero = base == 1 and all(0 <= g < n for g, n in zip(given, shape))
            # in the words of check's answers, which of the indices is outside named (with
            # --one-based a 0 is easy to miss)
            raise UsageError(index_outside_text(name, index, shape, base=base), where="PATH",
                             hint=ONE_BASED_HINT if from_one else
                             ZERO_BASED_HINT if from_zero else None)
    else:
        if int(np.prod(shape)) > 1:
            raise UsageError(f"{name} has shape {shape_text(shape)}: give an element, e.g. "
                             f"{_example(name, shape, base)}", where="PATH")
        index = (0,) * len(shape)
    if name == "loss":
        return TensorPath(name, index, None, "loss", None, shape)
    layer_name, kind, *rest = name.split(".")
    layer = next(layer for layer in trace.layers if layer.name == layer_name)
    return TensorPath(name, index, layer, kind, rest[0] if rest else None, shape)


def _closest_hint(name: str, trace: Trace, known: dict, index: str = "") -> str:
    """The hint for an unknown path ``name`` (``index``, its brackets as written, if any)."""
    import difflib

    candidates = list(known)
    parts = per_input_paths(name, candidates)  # an add's or concat's: one per input
    if parts:
        return (f"{name} is one tensor per input, each explained on its own: "
                + ", ".join(part + index for part in parts))
    textbook = textbook_hint(name, candidates)  # dW, dE/db, dA_prev
    if textbook:
        return textbook
    own_name = parameter_hint(name, candidates)  # dense_1.grads.kernel, Keras' name
    if own_name:
        return own_name
    of_input = input_delta_hint(name, trace)
    if of_input:
        return of_input
    best = difflib.get_close_matches(name, candidates, n=3, cutoff=0.4)
    if not best:
        # a right layer with a wrong tensor, or the reverse: match on each part
        head = name.split(".")[0]
        best = [p for p in candidates if p.split(".")[0] == head][:3]
    if best:
        # a hint is one line: the few closest, and where to find the rest
        return f"closest: {', '.join(best)} (explain without PATH lists every path)"
    return f"known paths: {first_of(candidates, 12)}"


# --------------------------------------------------------------------------- explaining


#: A path naming a whole tensor explains its elements in row-major order, at most this many
#: (a 5×5 input delta, the classic exercise, whole).
WHOLE_TENSOR_ELEMENTS = 25


def element_paths(trace: Trace, path: str, one_based: bool = False
                  ) -> tuple[list[str], tuple[int, ...]] | None:
    """(the element paths of the first :data:`WHOLE_TENSOR_ELEMENTS` elements in row-major
    order, the tensor's shape) when ``path`` names a whole tensor of more than one element
    (``conv2d_1.grads.kernel``: the contract's paths name tensors too); None for an
    element's path, a tensor of one element, or a path that names nothing (its own error
    follows from :func:`explain`)."""
    name = path.strip()
    shape = known_paths(trace).get(name)
    if shape is None or math.prod(shape) <= 1:
        return None
    first = itertools.islice(np.ndindex(*shape), WHOLE_TENSOR_ELEMENTS)
    return [element_path(name, index, one_based) for index in first], shape


def element_path(name: str, index: tuple[int, ...], one_based: bool = False) -> str:
    """``conv2d_1.grads.kernel[0,1]``: the path of a tensor's element, its indices counted
    from 1 with ``one_based``."""
    return f"{name}[{','.join(str(i + int(one_based)) for i in index)}]"


def explain(trace: Trace, path: str, *, one_based: bool = False) -> Explanation:
    """Take the element at ``path`` apart into its terms.

    Parameters
    ----------
    trace : Trace
        A finished run (forward and backward).
    path : str
        A dotted path with the element's index in the shown shape,
        ``conv2d_1.grads.kernel[0,0]``; a tensor with one element needs no index.
    one_based : bool
        Read and print every index counted from 1.

    Returns
    -------
    Explanation

    Raises
    ------
    UsageError
        An unknown path (naming the closest ones), a missing or out-of-range index.
    """
    parsed = parse_path(trace, path, one_based)
    return _Explainer(trace, one_based).explain(parsed)


class _Explainer:
    def __init__(self, trace: Trace, one_based: bool, eager: bool = False) -> None:
        self.trace = trace
        # eager: build every term of a TermColumns as a list first (the tests compare)
        self.eager = eager
        self.base = 1 if one_based else 0
        self.one_based = one_based
        self.exact = bool(trace.problem.exact)

    # -- small helpers ------------------------------------------------------

    def ix(self, *index) -> str:
        return "[" + ",".join(str(i + self.base) if not isinstance(i, str) else i
                              for i in index) + "]"

    def frac(self, p: int, q: int):
        return Fraction(p, q) if self.exact else p / q

    def map_named(self, symbol: str, internal_shape) -> NamedCells:
        layout = self.trace.layout
        order = layout.display_axes(tuple(internal_shape)) if layout.channels_last else None
        return NamedCells(symbol, _map_keep(layout, tuple(internal_shape)), self.base, order)


    def range_text(self, var: str, size: int) -> str:
        return f"{var} = {self.base}…{self.base + size - 1}"

    def input_description(self, layer: LayerTrace) -> str:
        source = layer.spec.inputs[0] if layer.spec.inputs else "input"
        if source == "input":
            return f"{layer.name}'s input (the problem's input)"
        return f"{layer.name}'s input = {source}.output"

    def layer_symbols(self, layer: LayerTrace, **extra: str) -> dict[str, str]:
        symbols = {"o": self.input_description(layer), "x": f"{layer.name}'s output",
                   "δ": f"dE/dx = {layer.name}.delta_out"}
        symbols.update(extra)
        return symbols

    def finish(self, path: TensorPath, *, title: str, lhs: str, rhs: str,
               terms: list[Term] | TermColumns, symbols: dict[str, str], notes: list[str],
               operation: str = "sum") -> Explanation:
        """Collapse the zero terms, add up (or take the max of) the rest.

        ``terms`` is a list of :class:`Term`, or a :class:`TermColumns` for many terms: then
        the counts and the total take a few passes over arrays, and a term is built only when
        it is shown."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; allowed: {', '.join(OPERATIONS)}")
        if isinstance(terms, TermColumns):
            if self.eager:
                terms = [terms.build(k) for k in range(terms.count)]
            else:
                return self._finish_columns(path, title=title, lhs=lhs, rhs=rhs, columns=terms,
                                            symbols=symbols, notes=notes, operation=operation)
        zero_reasons: dict[str, int] = {}
        kept = []
        for term in terms:
            if operation == "sum" and _is_zero(term.value):
                reason = _zero_reason(term)
                zero_reasons[reason] = zero_reasons.get(reason, 0) + 1
            else:
                kept.append(term)
        return self._explanation(path, title=title, lhs=lhs, rhs=rhs, kept=kept,
                                 values=[t.value for t in kept], symbols=symbols, notes=notes,
                                 operation=operation, zero_reasons=zero_reasons)

    def _finish_columns(self, path: TensorPath, *, title: str, lhs: str, rhs: str,
                        columns: TermColumns, symbols: dict[str, str], notes: list[str],
                        operation: str) -> Explanation:
        products = columns.products()
        if operation == "sum":
            nonzero = products != 0
            positions = np.flatnonzero(nonzero)
            zero_reasons = _column_zero_reasons(columns, np.flatnonzero(~nonzero))
        else:
            positions, zero_reasons = np.arange(columns.count), {}
        values = [scalar(value) for value in products[positions].tolist()]
        kept = TermList(positions, values, columns.build)
        return self._explanation(path, title=title, lhs=lhs, rhs=rhs, kept=kept,
                                 values=values, symbols=symbols, notes=notes,
                                 operation=operation, zero_reasons=zero_reasons)

    def _explanation(self, path: TensorPath, *, title: str, lhs: str, rhs: str, kept, values: list,
                     symbols: dict[str, str], notes: list[str], operation: str,
                     zero_reasons: dict[str, int]) -> Explanation:
        if operation == "max":
            total = max(values, default=0)
        else:
            total = 0
            for value in values:
                total = total + value
            if not values:
                total = Fraction(0) if self.exact else 0.0
            if (isinstance(total, float) and not math.isfinite(total)
                    and all(math.isfinite(value) for value in values)):
                # added in the order shown, the running sum passed float64's range where the
                # sum need not (1e308 + 1e308 − 1e308; backward adds in its own order)
                total = _sum_rounded_once(values)
            if not self.exact and _cancels(values, total):
                notes = notes + [CANCELS_NOTE]
        formula = f"{lhs} = {rhs}"
        return Explanation(path=self.path_text(path), title=title, lhs=lhs,
                           formula=formula, terms=kept, total=scalar(total),
                           symbols=_symbols_used(symbols, [formula, *notes]),
                           zero_terms=sum(zero_reasons.values()),
                           zero_reasons=zero_reasons, operation=operation, notes=notes,
                           one_based=self.one_based, exact=self.exact)

    def path_text(self, path: TensorPath) -> str:
        return path.name + (self.ix(*path.index) if path.index else "")

    def term(self, *factors: Factor, note: str | None = None) -> Term:
        return Term(list(factors), scalar(_product([f.value for f in factors])), note)

    # -- dispatch -----------------------------------------------------------

    def explain(self, path: TensorPath) -> Explanation:
        if path.kind == "loss":
            if self.trace.problem.loss is None:
                raise UsageError("the problem gives the delta directly, so there is no loss to "
                                 "explain", where="PATH")
            return loss_family(self.trace.problem.loss.type).explain_loss(self, path)
        layer = path.layer
        if path.kind == "updated":
            return self.updated(path)
        shape = layer.output.shape if path.kind in ("output", "delta_out") else layer.input.shape
        if path.kind == "delta_in" and path.param is not None:  # add_1.delta_in.relu_1
            shape = layer.inputs[list(layer.spec.inputs).index(path.param)].shape
        if path.kind in ("output", "delta_out", "delta_in"):
            internal = self.trace.layout.internal_index(tuple(shape), path.index) \
                if path.shape else (0,) * len(shape)
            if path.kind == "delta_out":
                return self.delta_out(path, layer, internal)
            explained = family_of(layer.spec).explain(self, path.kind, path, layer, internal)
            if path.kind == "output" and internal in (layer.settled or {}):
                return self.settled(explained, path, layer.output[internal])
            return explained
        if path.kind == "grads":
            return family_of(layer.spec).explain(self, "grads", path, layer, None)
        raise UsageError(f"cannot explain {path.name}", where="PATH")  # parse_path checked

    def settled(self, explained: Explanation, path: TensorPath, value) -> Explanation:
        """An output cell a kink reads, set to its value on the numbers as written: the
        terms' float sum differs from it by rounding, which the note says."""
        # the value is exact: the note that backward's digits may differ would contradict it
        explained.notes = [note for note in explained.notes if note != CANCELS_NOTE] + [
            f"The floats give {short(explained.total)}; {path.name}{self.ix(*path.index)} is "
            f"{short(value)}, its value on the numbers as written, since a ReLU or a max "
            f"pool reads it within rounding of its kink (docs/format.md, Exactness at kinks); "
            f"backward shows {short(value)} too."]
        explained.total = scalar(value)
        return explained

    # -- what every layer has: deltas between layers, SGD updates -----------

    def delta_out(self, path: TensorPath, layer: LayerTrace, index) -> Explanation:
        delta = self.map_named("δ", layer.output.shape)(*index)
        x = self.map_named("x", layer.output.shape)(*index)
        lhs = f"{delta} = dE/d{x}"
        symbols = {"x": f"{layer.name}'s output", "δ": f"dE/dx = {layer.name}.delta_out"}
        readers = self.trace.readers(layer.name)
        if readers:
            shown = self.map_named("", layer.output.shape).index_text(index)
            sent = []
            for reader in readers:
                key = f"{reader.name}.delta_in" + \
                    (f".{layer.name}" if isinstance(reader.delta_in, dict) else "")
                sent.append((f"{key}{shown}",
                             scalar(self.trace.delta_sent(reader, layer.name)[index])))
            terms = [self.term(Factor(symbol, value)) for symbol, value in sent]
            if len(readers) == 1:
                after = readers[0].name
                notes = [f"{layer.name}'s output is {after}'s input, so its delta is "
                         f"{after}'s input delta: explain {sent[0][0]} for its terms."]
            else:
                names = ", ".join(reader.name for reader in readers)
                notes = [f"{layer.name}'s output is read by {len(readers)} layers ({names}), "
                         f"so its delta is the sum of what each sends back (the multivariate "
                         f"chain rule): explain each term's path for its own terms."]
            return self.finish(path, title=f"{delta}: the delta at {layer.name}'s output",
                               lhs=lhs, rhs=" + ".join(symbol for symbol, _ in sent),
                               terms=terms, symbols=symbols, notes=notes)
        problem = self.trace.problem
        if problem.loss is None:
            shown = self.map_named("", layer.output.shape).index_text(index)
            term = self.term(Factor(f"delta{shown}", scalar(problem.delta[index])))
            return self.finish(path, title=f"{delta}: the upstream delta the problem gives",
                               lhs=lhs, rhs="the problem's delta", terms=[term], symbols=symbols,
                               notes=["The problem file gives dE/d(output of the last layer) "
                                      "directly (its 'delta'), so there is nothing to derive."])
        # the loss's own rules name the output it reads y (dE/dy = y - t): so does the
        # left-hand side, x and y being one tensor listed twice in the symbols otherwise
        y = self.map_named("y", layer.output.shape)(*index)
        return loss_family(problem.loss.type).explain_gradient(
            self, path, layer, index, f"{delta} = dE/d{y}",
            {"δ": f"dE/dy = {layer.name}.delta_out"})


    def updated(self, path: TensorPath) -> Explanation:
        layer = path.layer
        value = layer.spec.params[path.param]
        grad = layer.grads[path.param]
        lr = self.trace.lr
        name = {"kernel": "w", "weights": "W", "bias": "b"}.get(path.param, path.param)
        shown = self.ix(*path.index) if path.index else ""
        p = Factor(f"{name}{shown}", scalar(value[path.index]))
        step = [Factor("-η", scalar(-lr)), Factor(f"dE/d{name}{shown}", scalar(grad[path.index]))]
        lhs = f"{name}{shown} after one step"
        return self.finish(path, title=f"{lhs}: SGD, p - η·dE/dp", lhs=lhs,
                           rhs=f"{name}{shown} - η·dE/d{name}{shown}",
                           terms=[self.term(p), self.term(*step)],
                           symbols={name: f"{layer.name}'s {path.param}",
                                    "η": "the learning rate"},
                           notes=[f"explain {layer.name}.grads.{path.param}{shown} for the "
                                  f"gradient's terms."])


# --------------------------------------------------------------------------- helpers


#: Said when the float terms cancel to within their rounding: the total's digits are then the
#: rounding of the order they were added in and of the terms' own values, and backward's
#: value differs in them (the true sum may well be 0: --exact, where the problem allows it,
#: tells).
CANCELS_NOTE = ("The terms cancel to within float64 rounding (|total| ≤ 2⁻⁴⁰·Σ|term|: twelve "
                "digits or more cancelled): the total's digits are rounding noise, of the "
                "terms' own values and of their sum, and backward's value may differ in them.")

#: The terms' own values carry rounding from upstream (a softmax's delta sums to 0 only to
#: within a few ulps): a total this small beside Σ|term| is noise, however few the terms (two
#: terms ±8.9e-4 whose true sum is 0 came to 2.5e-17, 63 ulps of their sum, in a dense
#: layer's input delta after a softmax).
CANCELS_RELATIVE = 2.0**-40


def _cancels(values: list, total) -> bool:
    """Whether a float sum of ``values`` is nonzero but within rounding of 0: the bound of
    adding them in any order, n·2⁻⁵²·Σ|v|, or :data:`CANCELS_RELATIVE`·Σ|v| for the rounding
    the terms bring with them, whichever is larger."""
    if not total or not isinstance(total, float) or not math.isfinite(total):
        return False
    bound = max(len(values) * 2.0**-52, CANCELS_RELATIVE)
    try:
        return abs(total) <= bound * math.fsum(abs(float(v)) for v in values)
    except OverflowError:  # Σ|v| past float64's range: compared where it is not
        return (abs(total) * _SCALE_DOWN
                <= bound * math.fsum(abs(float(v)) * _SCALE_DOWN for v in values))


#: An exact power of two that brings a sum of float64 magnitudes within range, for comparing
#: sizes (math.fsum's partial sums must stay in range).
_SCALE_DOWN = 2.0**-64


def _sum_rounded_once(values: list) -> float:
    """The sum of float ``values`` rounded once to float64, ±inf when it is beyond the range:
    added as Fractions, exact whatever the running sum (huge terms that cancel to a tiny
    total keep every bit of it)."""
    total = sum(Fraction(float(value)) for value in values)
    try:
        return float(total)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def _column_zero_reasons(columns: TermColumns, zero: np.ndarray) -> dict[str, int]:
    """What made the terms at positions ``zero`` zero, counted in the order each reason first
    occurs: as :func:`_zero_reason` says it for each term, by whole columns."""
    labels: list[str] = []
    codes = np.full(len(zero), -1)

    def code(label: str) -> int:
        if label not in labels:
            labels.append(label)
        return labels.index(label)

    for column in columns.columns:
        undecided = codes == -1
        if not undecided.any():
            break
        here = undecided & np.asarray(column.values[zero] == 0, dtype=bool)
        if not here.any():
            continue
        plain = code(f"{column.name} = 0")
        if column.zero_reasons is None:
            codes[here] = plain
            continue
        reasons = column.zero_reasons[zero]
        for k in np.flatnonzero(here):
            reason = reasons[k]
            codes[k] = plain if reason is None else code(reason)
    codes[codes == -1] = code("the product rounds to 0") if (codes == -1).any() else 0
    if not len(zero):
        return {}
    found, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return {labels[found[k]]: int(counts[k]) for k in np.argsort(first, kind="stable")}


#: An index in a symbol (``[0,2]``), left out where terms are counted by what made them zero.
#: A cell's index in a symbol (``[2]``, ``[0,1,3]``), not a bracket of the expression
#: (bce's ``-[t[2]·log y[2] + ...]``: the old pattern took ``[t[2]`` for an index).
_INDEX = re.compile(r"\[\d[\d,\s]*\]")


def _zero_reason(term: Term) -> str:
    """What made a term zero: its first zero factor, by its note or as ``δ = 0``: its symbol
    without indices, whole when it is an expression (``y - t = 0``, ``(t - y)² = 0``)."""
    for factor in term.factors:
        if _is_zero(factor.value):
            return factor.zero_reason or f"{_INDEX.sub('', factor.symbol)} = 0"
    return "the product rounds to 0"


__all__ = ["Explanation", "Term", "Factor", "Column", "TermColumns", "TermList", "term_values",
           "explain", "parse_path", "known_paths", "layer_explained", "short", "operand",
           "OPERATIONS"]
