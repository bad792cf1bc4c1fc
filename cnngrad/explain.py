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

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import UsageError
from cnngrad.layers.conv import padded_source
from cnngrad.network import LayerTrace, Trace
from cnngrad.problem import Conv2dSpec, DenseSpec, Pool2dSpec, shape_text

#: How the terms of an explanation combine into its total.
OPERATIONS = ("sum", "max")

#: What a layer's tensors are called in a path (``conv2d_1.delta_in``).
LAYER_TENSORS = ("output", "delta_out", "delta_in", "grads", "updated")


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
class Explanation:
    """Everything ``cnngrad explain`` shows for one element.

    ``terms`` hold the nonzero terms (all terms for a ``max``); the zero ones are only counted,
    in ``zero_terms``, with what made them zero in ``zero_reasons``.  ``total`` is the sum (or
    the max) of the terms, computed here: it must equal the engine's value at ``path``.
    """

    path: str
    title: str
    lhs: str
    formula: str
    terms: list[Term]
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


# --------------------------------------------------------------------------- numbers


def _num(value):
    """A plain Python number (numpy scalars unwrapped; Fractions and ints kept)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def short(value, decimals: int = 6) -> str:
    """A factor as a person writes it: ``0.0686``, ``-0.04767``, ``343/5000``."""
    from cnngrad.render.numbers import fmt

    value = _num(value)
    if isinstance(value, Fraction):
        return fmt(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = fmt(value, decimals)
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _product(values: list):
    out = values[0]
    for value in values[1:]:
        out = out * value
    return out


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
    return f"({text})/{div}" + (f"+{base}" if base else "")


class _Named:
    """Names cells of one tensor: the engine's index → the index shown to the user.

    ``keep`` says which axes of the engine's layout appear in the shown shape (the others are
    the batch axis of an unbatched problem, the channel of a one-channel map, the filter axis
    of a one-filter kernel: always of size 1, so dropping them is exactly the reshape the
    report does).
    """

    def __init__(self, symbol: str, keep: tuple[bool, ...], base: int) -> None:
        self.symbol = symbol
        self.keep = keep
        self.base = base

    def shown(self, index) -> tuple:
        return tuple(i for i, kept in zip(index, self.keep) if kept)

    def index_text(self, index) -> str:
        """Indices: ints are cells (shifted by the base), strings are expressions as written."""
        parts = [str(int(i) + self.base) if not isinstance(i, str) else i
                 for i in self.shown(index)]
        return f"[{','.join(parts)}]" if parts else ""

    def __call__(self, *index) -> str:
        return self.symbol + self.index_text(index)


def _map_keep(layout, internal_shape: tuple[int, ...]) -> tuple[bool, ...]:
    """Which internal axes a feature map (N, C, H, W) or vector (N, K) shows (the contract's
    shape rules, as :meth:`cnngrad.problem.Layout.display_shape`)."""
    if len(internal_shape) == 4:
        if layout.batched:
            return (True, True, True, True)
        if layout.input_rank == 2 and internal_shape[1] == 1:
            return (False, False, True, True)
        return (False, True, True, True)
    if len(internal_shape) == 2:
        return (layout.batched, True)
    raise ValueError(f"not an activation shape: {internal_shape}")


def _kernel_keep(spec: Conv2dSpec) -> tuple[bool, ...]:
    """Which of (f, c, m, n) the kernel as given has (see the contract's kernel shapes)."""
    ndim = spec.kernel.ndim
    if ndim == 2:
        return (False, False, True, True)
    if ndim == 3:
        one_channel_filters = spec.weight.shape[1] == 1 and \
            spec.kernel.shape[0] == spec.weight.shape[0]
        return (True, False, True, True) if one_channel_filters else (False, True, True, True)
    if ndim == 4:
        return (True, True, True, True)
    raise ValueError(f"kernel of rank {ndim}")


def _conv_bias_keep(spec: Conv2dSpec) -> tuple[bool, ...]:
    """Which of (f, i, j) the bias as given has."""
    kind = spec.bias_kind
    if kind == "scalar":
        return (False, False, False)
    if kind == "filter":
        return (True, False, False)
    if kind == "untied":
        return (spec.bias.ndim == 3, True, True)
    raise ValueError(f"no bias index for bias kind {kind!r}")


# --------------------------------------------------------------------------- paths


_PATH_RE = re.compile(r"^(?P<name>[^\[\]\s]+)\s*(?P<index>(?:\[[^\[\]]*\]\s*)*)$")


@dataclass
class _Path:
    name: str  # the tensor's path without an index
    index: tuple[int, ...]  # 0-based, in the shown shape
    layer: LayerTrace | None
    kind: str  # loss | output | delta_out | delta_in | grads | updated
    param: str | None
    shape: tuple[int, ...]


def known_paths(trace: Trace) -> dict[str, tuple[int, ...]]:
    """Every tensor ``explain`` accepts: path without an index → its shown shape."""
    return {path: np.shape(value) for path, value in trace.tensors() if value is not None}


def _example(name: str, shape: tuple[int, ...], base: int) -> str:
    return f"{name}[{','.join([str(base)] * len(shape))}]"


def parse_path(trace: Trace, path: str, one_based: bool = False) -> _Path:
    """Split and check a dotted path; a bad one raises :class:`UsageError` (exit code 2)."""
    base = 1 if one_based else 0
    text = path.strip()
    match = _PATH_RE.match(text)
    if not match:
        raise UsageError(f"cannot read the path {path!r}", where="PATH",
                         hint="write it like conv2d_1.grads.kernel[0,0]")
    name = match.group("name")
    known = known_paths(trace)
    if name == "loss" and trace.loss is None:
        raise UsageError("the problem gives the delta directly, so there is no loss to "
                         "explain", where="PATH",
                         hint=f"its delta is {trace.layers[-1].name}.delta_out")
    if name not in known and ".updated." in name and trace.lr is None:
        raise UsageError(f"'{name}' is a parameter after one SGD step: it needs --lr",
                         where="PATH", hint="add the learning rate, e.g. --lr 0.1")
    if name not in known:
        raise UsageError(f"unknown path '{name}'", where="PATH", hint=_closest_hint(name, trace,
                                                                                 known))
    shape = known[name]
    index_text = match.group("index").replace(" ", "")
    if index_text:
        pieces = [p for p in re.split(r"[\[\],]", index_text) if p != ""]
        if index_text == "[]":
            pieces = []
        try:
            given = [int(p) for p in pieces]
        except ValueError:
            raise UsageError(f"the index {index_text} is not whole numbers", where="PATH",
                             hint=f"e.g. {_example(name, shape, base)}") from None
        if len(given) != len(shape):
            if not shape:
                raise UsageError(f"{name} is a single number: give it without an index",
                                 where="PATH")
            raise UsageError(f"{name} has shape {shape_text(shape)}: give {len(shape)} "
                             f"ind{'ex' if len(shape) == 1 else 'ices'}, e.g. "
                             f"{_example(name, shape, base)}", where="PATH")
        index = tuple(i - base for i in given)
        for i, size in zip(index, shape):
            if not 0 <= i < size:
                raise UsageError(f"index {index_text} is out of range for {name}, shape "
                                 f"{shape_text(shape)} (indices {base} to {base + size - 1} "
                                 f"along an axis of {size})", where="PATH")
    else:
        if int(np.prod(shape)) > 1:
            raise UsageError(f"{name} has shape {shape_text(shape)}: give an element, e.g. "
                             f"{_example(name, shape, base)}", where="PATH")
        index = (0,) * len(shape)
    if name == "loss":
        return _Path(name, index, None, "loss", None, shape)
    layer_name, kind, *rest = name.split(".")
    layer = next(layer for layer in trace.layers if layer.name == layer_name)
    return _Path(name, index, layer, kind, rest[0] if rest else None, shape)


def _closest_hint(name: str, trace: Trace, known: dict) -> str:
    import difflib

    candidates = list(known)
    best = difflib.get_close_matches(name, candidates, n=3, cutoff=0.4)
    if not best:
        # a right layer with a wrong tensor, or the reverse: match on each part
        head = name.split(".")[0]
        best = [p for p in candidates if p.split(".")[0] == head][:3]
    listing = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    if best:
        return f"closest: {', '.join(best)} (all: {listing})"
    return f"known paths: {listing}"


# --------------------------------------------------------------------------- explaining


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
    def __init__(self, trace: Trace, one_based: bool) -> None:
        self.trace = trace
        self.base = 1 if one_based else 0
        self.one_based = one_based
        self.exact = bool(trace.problem.exact)

    # -- small helpers ------------------------------------------------------

    def ix(self, *index) -> str:
        return "[" + ",".join(str(i + self.base) if not isinstance(i, str) else i
                              for i in index) + "]"

    def frac(self, p: int, q: int):
        return Fraction(p, q) if self.exact else p / q

    def map_named(self, symbol: str, internal_shape) -> _Named:
        return _Named(symbol, _map_keep(self.trace.layout, tuple(internal_shape)), self.base)

    def kernel_named(self, spec: Conv2dSpec) -> _Named:
        return _Named("w", _kernel_keep(spec), self.base)

    def range_text(self, var: str, size: int) -> str:
        return f"{var} = {self.base}…{self.base + size - 1}"

    def input_description(self, layer: LayerTrace) -> str:
        if layer.index == 0:
            return f"{layer.name}'s input (the problem's input)"
        return f"{layer.name}'s input = {self.trace.layers[layer.index - 1].name}.output"

    def layer_symbols(self, layer: LayerTrace, **extra: str) -> dict[str, str]:
        symbols = {"o": self.input_description(layer), "x": f"{layer.name}'s output",
                   "δ": f"dE/dx = {layer.name}.delta_out"}
        symbols.update(extra)
        return symbols

    def finish(self, path: _Path, *, title: str, lhs: str, rhs: str, terms: list[Term],
               symbols: dict[str, str], notes: list[str], operation: str = "sum") -> Explanation:
        """Collapse the zero terms, add up (or take the max of) the rest."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; allowed: {', '.join(OPERATIONS)}")
        zero_reasons: dict[str, int] = {}
        kept = []
        for term in terms:
            if operation == "sum" and _is_zero(term.value):
                reason = _zero_reason(term)
                zero_reasons[reason] = zero_reasons.get(reason, 0) + 1
            else:
                kept.append(term)
        if operation == "max":
            total = max((t.value for t in kept), default=0)
        else:
            total = 0
            for term in kept:
                total = total + term.value
            if not kept:
                total = Fraction(0) if self.exact else 0.0
        return Explanation(path=self.path_text(path), title=title, lhs=lhs,
                           formula=f"{lhs} = {rhs}", terms=kept, total=_num(total),
                           symbols=symbols, zero_terms=sum(zero_reasons.values()),
                           zero_reasons=zero_reasons, operation=operation, notes=notes,
                           one_based=self.one_based, exact=self.exact)

    def path_text(self, path: _Path) -> str:
        return path.name + (self.ix(*path.index) if path.index else "")

    def term(self, *factors: Factor, note: str | None = None) -> Term:
        return Term(list(factors), _num(_product([f.value for f in factors])), note)

    # -- dispatch -----------------------------------------------------------

    def explain(self, path: _Path) -> Explanation:
        if path.kind == "loss":
            return self.loss(path)
        layer = path.layer
        if path.kind == "updated":
            return self.updated(path)
        shape = layer.output.shape if path.kind in ("output", "delta_out") else layer.input.shape
        if path.kind in ("output", "delta_out", "delta_in"):
            internal = np.unravel_index(np.ravel_multi_index(path.index, path.shape), shape) \
                if path.shape else ()
            internal = tuple(int(i) for i in internal)
            if path.kind == "delta_out":
                return self.delta_out(path, layer, internal)
            method = getattr(self, f"{path.kind}_{_family(layer.type)}")
            return method(path, layer, internal)
        if path.kind == "grads":
            method = getattr(self, f"grad_{_family(layer.type)}")
            return method(path, layer)
        raise UsageError(f"cannot explain {path.name}", where="PATH")  # parse_path checked

    # -- conv2d -------------------------------------------------------------

    def conv_geometry(self, layer: LayerTrace):
        spec: Conv2dSpec = layer.spec
        n, c, h, w = layer.input.shape
        f, cg, kh, kw = spec.weight.shape
        return dict(spec=spec, n=n, c=c, h=h, w=w, f=f, cg=cg, fg=f // spec.groups, kh=kh,
                    kw=kw, h_out=layer.output.shape[2], w_out=layer.output.shape[3],
                    sh=spec.stride[0], sw=spec.stride[1], dh=spec.dilation[0],
                    dw=spec.dilation[1], pt=spec.padding[0], pl=spec.padding[2],
                    hp=h + spec.padding[0] + spec.padding[1],
                    wp=w + spec.padding[2] + spec.padding[3], mode=spec.padding_mode)

    def given_tap(self, spec: Conv2dSpec, m: int, k: int) -> tuple[int, int]:
        """The kernel entry (as given) that slides at tap (m, k): with flip_kernel the given
        kernel is rotated 180° first."""
        kh, kw = spec.weight.shape[2:]
        return (kh - 1 - m, kw - 1 - k) if spec.flip_kernel else (m, k)

    def conv_input_factor(self, layer: LayerTrace, g: dict, n: int, ch: int, row: int,
                          col: int) -> Factor:
        """o at padded-input position (row, col): a real cell, a zero padding cell, or a
        padding cell that copies a real one."""
        o = self.map_named("o", layer.input.shape)
        src_r = padded_source(row, g["h"], g["pt"], g["mode"])
        src_c = padded_source(col, g["w"], g["pl"], g["mode"])
        r, q = row - g["pt"], col - g["pl"]
        if src_r is None or src_c is None:
            return Factor(o(n, ch, r, q), 0, note="padding: zero", zero_reason="o is zero padding")
        value = _num(layer.input[n, ch, src_r, src_c])
        if (src_r, src_c) == (r, q):
            return Factor(o(n, ch, r, q), value)
        return Factor(o(n, ch, src_r, src_c), value,
                      note=f"padding cell {o(n, ch, r, q)} copies {o(n, ch, src_r, src_c)} "
                           f"({g['mode']})")

    def conv_notes(self, g: dict) -> list[str]:
        spec = g["spec"]
        stride, dil = (g["sh"], g["sw"]), (g["dh"], g["dw"])
        notes = []
        settings = []
        if stride != (1, 1):
            settings.append(f"stride {_pair_text(stride)}")
        if dil != (1, 1):
            settings.append(f"dilation {_pair_text(dil)}")
        if spec.padding != (0, 0, 0, 0):
            settings.append(f"padding (top, bottom, left, right) {spec.padding}"
                            + (f", {g['mode']}" if g["mode"] != "zeros" else " of zeros"))
        if spec.groups > 1:
            settings.append(f"{spec.groups} groups of {g['cg']} input channel(s) and "
                            f"{g['fg']} filter(s)")
        if settings:
            notes.append("conv settings: " + "; ".join(settings) + ".")
        if spec.flip_kernel:
            notes.append("flip_kernel: the kernel as given is rotated 180° before it slides, so "
                         "tap (m, n) uses w[k1-1-m, k2-1-n]; indices of w here are those of the "
                         "kernel as given.")
        return notes

    def output_conv(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        g = self.conv_geometry(layer)
        spec: Conv2dSpec = g["spec"]
        n, f, i, j = index
        group = f // g["fg"]
        x = self.map_named("x", layer.output.shape)
        wname = self.kernel_named(spec)
        terms = []
        for c in range(g["cg"]):
            ch = group * g["cg"] + c
            for m in range(g["kh"]):
                for k in range(g["kw"]):
                    gm, gk = self.given_tap(spec, m, k)
                    w_factor = Factor(wname(f, c, gm, gk), _num(spec.weight[f, c, gm, gk]))
                    o_factor = self.conv_input_factor(layer, g, n, ch,
                                                      i * g["sh"] + m * g["dh"],
                                                      j * g["sw"] + k * g["dw"])
                    terms.append(self.term(w_factor, o_factor, note=o_factor.note))
        symbols = self.layer_symbols(layer, w=f"{layer.name}'s kernel")
        bias_text = ""
        if spec.bias_kind != "none":
            bname = _Named("b", _conv_bias_keep(spec), self.base)
            bias_index = (f, i, j)
            value = _num(spec.bias[bname.shown(bias_index)])
            terms.append(self.term(Factor(bname(*bias_index), value)))
            bias_text = f" + {bname(*bias_index)}"
            symbols["b"] = f"{layer.name}'s bias ({spec.bias_kind})"
        # the formula with this cell's rows and columns
        flip = spec.flip_kernel
        row = _affine({"m": -g["dh"] if flip else g["dh"]},
                      i * g["sh"] - g["pt"] + (g["dh"] * (g["kh"] - 1) if flip else 0), self.base)
        col = _affine({"n": -g["dw"] if flip else g["dw"]},
                      j * g["sw"] - g["pl"] + (g["dw"] * (g["kw"] - 1) if flip else 0), self.base)
        channel = _affine({"c": 1}, group * g["cg"], self.base)
        o = self.map_named("o", layer.input.shape)
        sums = ("Σ_c " if g["cg"] > 1 else "") + "Σ_m Σ_n "
        rhs = f"{sums}{wname(f, 'c', 'm', 'n')}·{o(n, channel, row, col)}{bias_text}"
        notes = [f"m, n run over the kernel ({self.range_text('m', g['kh'])}, "
                 f"{self.range_text('n', g['kw'])})"
                 + (f", c over the {g['cg']} input channels the filter sees" if g["cg"] > 1
                    else "") + "."]
        notes += self.conv_notes(g)
        return self.finish(path, title=f"{x(*index)}: one output cell of {layer.name}, the sum "
                                       f"of the kernel times the input window under it",
                           lhs=x(*index), rhs=rhs, terms=terms, symbols=symbols, notes=notes)

    def grad_conv(self, path: _Path, layer: LayerTrace) -> Explanation:
        g = self.conv_geometry(layer)
        spec: Conv2dSpec = g["spec"]
        if path.param == "bias":
            return self.grad_conv_bias(path, layer, g)
        f, c, gm, gk = (int(i) for i in np.unravel_index(
            np.ravel_multi_index(path.index, spec.kernel.shape), spec.weight.shape))
        # the tap where this entry slides (flip_kernel: the rotated position)
        m, k = self.given_tap(spec, gm, gk)
        group = f // g["fg"]
        ch = group * g["cg"] + c
        wname = self.kernel_named(spec)
        delta = self.map_named("δ", layer.output.shape)
        terms = []
        for n in range(g["n"]):
            for i in range(g["h_out"]):
                for j in range(g["w_out"]):
                    d = Factor(delta(n, f, i, j), _num(layer.delta_out[n, f, i, j]))
                    o_factor = self.conv_input_factor(layer, g, n, ch, i * g["sh"] + m * g["dh"],
                                                      j * g["sw"] + k * g["dw"])
                    terms.append(self.term(d, o_factor, note=o_factor.note))
        lhs = f"dE/d{wname(f, c, gm, gk)}"
        row = _affine({"i": g["sh"]}, m * g["dh"] - g["pt"], self.base)
        col = _affine({"j": g["sw"]}, k * g["dw"] - g["pl"], self.base)
        o = self.map_named("o", layer.input.shape)
        batched = self.trace.layout.batched
        rhs = (("Σ_n " if batched else "") + "Σ_i Σ_j "
               + f"{delta('n', f, 'i', 'j')}·{o('n', ch, row, col)}")
        notes = [f"i, j run over the {g['h_out']}×{g['w_out']} output "
                 f"({self.range_text('i', g['h_out'])}, {self.range_text('j', g['w_out'])})"
                 + (f", n over the batch of {g['n']}" if batched else "") + ": "
                 f"{wname(f, c, gm, gk)} touched every output cell x[i,j] once, through the "
                 f"input cell under it, so dx[i,j]/d{wname(f, c, gm, gk)} is that input cell."]
        notes += self.conv_notes(g)
        return self.finish(path, title=f"{lhs}: the gradient of {layer.name}'s kernel entry "
                                       f"{wname(f, c, gm, gk)}",
                           lhs=lhs, rhs=rhs, terms=terms,
                           symbols=self.layer_symbols(layer, w=f"{layer.name}'s kernel"),
                           notes=notes)

    def grad_conv_bias(self, path: _Path, layer: LayerTrace, g: dict) -> Explanation:
        spec: Conv2dSpec = g["spec"]
        keep = _conv_bias_keep(spec)
        bname = _Named("b", keep, self.base)
        delta = self.map_named("δ", layer.output.shape)
        batched = self.trace.layout.batched
        terms = []
        if spec.bias_kind == "scalar":
            cells = [(n, f, i, j) for n in range(g["n"]) for f in range(g["f"])
                     for i in range(g["h_out"]) for j in range(g["w_out"])]
            lhs = "dE/db"
            rhs = ("Σ_n " if batched else "") + f"Σ_i Σ_j {delta('n', 0, 'i', 'j')}"
            why = "the single bias is added to every output cell"
        elif spec.bias_kind == "filter":
            (f,) = path.index
            cells = [(n, f, i, j) for n in range(g["n"]) for i in range(g["h_out"])
                     for j in range(g["w_out"])]
            lhs = f"dE/d{bname(f, 0, 0)}"
            rhs = ("Σ_n " if batched else "") + f"Σ_i Σ_j {delta('n', f, 'i', 'j')}"
            why = f"filter {f + self.base}'s bias is added to every cell of its output map"
        elif spec.bias_kind == "untied":
            f, i, j = (int(v) for v in np.unravel_index(
                np.ravel_multi_index(path.index, spec.bias.shape), (g["f"], g["h_out"],
                                                                     g["w_out"])))
            cells = [(n, f, i, j) for n in range(g["n"])]
            lhs = f"dE/d{bname(f, i, j)}"
            rhs = ("Σ_n " if batched else "") + delta("n", f, i, j)
            why = "an untied bias belongs to one output cell (x[i,j] = Σ w·o + b[i,j])"
        else:
            raise ValueError(f"unknown bias kind {spec.bias_kind!r}")
        for cell in cells:
            terms.append(self.term(Factor(delta(*cell), _num(layer.delta_out[cell]))))
        notes = [f"dx/db = 1 wherever the bias is added: {why}."]
        return self.finish(path, title=f"{lhs}: the gradient of {layer.name}'s bias",
                           lhs=lhs, rhs=rhs, terms=terms,
                           symbols=self.layer_symbols(layer, b=f"{layer.name}'s bias "
                                                               f"({spec.bias_kind})"),
                           notes=notes)

    def delta_in_conv(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        g = self.conv_geometry(layer)
        spec: Conv2dSpec = g["spec"]
        n, ch, r, q = index
        group, c = divmod(ch, g["cg"])
        wname = self.kernel_named(spec)
        delta = self.map_named("δ", layer.output.shape)
        o = self.map_named("o", layer.input.shape)
        rows = [p for p in range(g["hp"]) if padded_source(p, g["h"], g["pt"], g["mode"]) == r]
        cols = [p for p in range(g["wp"]) if padded_source(p, g["w"], g["pl"], g["mode"]) == q]
        found = []
        for f in range(group * g["fg"], (group + 1) * g["fg"]):
            for m in range(g["kh"]):
                for k in range(g["kw"]):
                    for row in rows:
                        i, rest_i = divmod(row - m * g["dh"], g["sh"])
                        if rest_i or not 0 <= i < g["h_out"]:
                            continue
                        for col in cols:
                            j, rest_j = divmod(col - k * g["dw"], g["sw"])
                            if rest_j or not 0 <= j < g["w_out"]:
                                continue
                            found.append((f, i, j, m, k, row, col))
        # in the order of δ: the kernel's entries then come backwards (the 180° rotation)
        found.sort(key=lambda t: (t[0], t[1], t[2], t[5], t[6]))
        terms, pairs = [], []
        for f, i, j, m, k, row, col in found:
            gm, gk = self.given_tap(spec, m, k)
            note = None
            if (row - g["pt"], col - g["pl"]) != (r, q):
                note = (f"through padding cell {o(n, ch, row - g['pt'], col - g['pl'])}, which "
                        f"copies {o(n, ch, r, q)} ({g['mode']})")
            terms.append(self.term(Factor(delta(n, f, i, j), _num(layer.delta_out[n, f, i, j])),
                                   Factor(wname(f, c, gm, gk), _num(spec.weight[f, c, gm, gk])),
                                   note=note))
            pairs.append(f"{delta(n, f, i, j)}↔{wname(f, c, gm, gk)}")
        lhs = f"dE/d{o(*index)}"
        flip = spec.flip_kernel
        # δ index as a function of the kernel tap: i = (r + p − d·m)/s
        i_text = _affine({"m": g["dh"] if flip else -g["dh"]},
                         r + g["pt"] - (g["dh"] * (g["kh"] - 1) if flip else 0), self.base,
                         g["sh"])
        j_text = _affine({"n": g["dw"] if flip else -g["dw"]},
                         q + g["pl"] - (g["dw"] * (g["kw"] - 1) if flip else 0), self.base,
                         g["sw"])
        f_sum = "Σ_f " if g["fg"] > 1 else ""
        f_index = "f" if g["fg"] > 1 else group * g["fg"]
        rhs = (f"{f_sum}Σ_m Σ_n {delta(n, f_index, i_text, j_text)}"
               f"·{wname(f_index, c, 'm', 'n')}")
        strided = (g["sh"], g["sw"]) != (1, 1)
        notes = ["Only the (m, n) whose δ index is "
                 + ("a whole number " if strided else "")
                 + f"inside the {g['h_out']}×{g['w_out']} output count ({len(found)} of them): "
                 f"input cell {o(*index)} lies under kernel entry (m, n) of the window of "
                 f"x[i,j] exactly for those."]
        if pairs and len(pairs) <= 64:
            notes.append("Which kernel entry meets which delta: " + ", ".join(pairs) + ".")
        if g["kh"] * g["kw"] > 1:
            # the kernel index as a function of the δ index: m = (r + p − s·i)/d
            if flip:
                m_text = _affine({"i": g["sh"]}, g["dh"] * (g["kh"] - 1) - r - g["pt"],
                                 self.base, g["dh"])
                n_text = _affine({"j": g["sw"]}, g["dw"] * (g["kw"] - 1) - q - g["pl"],
                                 self.base, g["dw"])
            else:
                m_text = _affine({"i": -g["sh"]}, r + g["pt"], self.base, g["dh"])
                n_text = _affine({"j": -g["sw"]}, q + g["pl"], self.base, g["dw"])
            notes.append(f"δ[i,j] meets w[{m_text},{n_text}]: as the δ index goes up the "
                         f"kernel index goes down, so the input delta sees the kernel rotated "
                         f"180°. That is why the whole input delta is the full convolution of δ "
                         f"(zeros inserted between its cells for a stride > 1, then padded by "
                         f"d·(k-1) on each side) with the kernel rotated 180°, cropped to the "
                         f"input (see backward --show-steps).")
        if g["mode"] != "zeros" and spec.padding != (0, 0, 0, 0):
            notes.append(f"With {g['mode']} padding, padded cells copy input cells: the deltas "
                         f"that reach a padded cell copying {o(*index)} flow back to it too "
                         f"(the terms marked 'through padding cell').")
        if g["fg"] > 1:
            notes.append(f"f runs over the {g['fg']} filter(s) that read input channel "
                         f"{ch + self.base}: every one of them sends delta back.")
        notes += self.conv_notes(g)
        return self.finish(path, title=f"{lhs}: the input delta of {layer.name} at "
                                       f"{o(*index)}",
                           lhs=lhs, rhs=rhs, terms=terms,
                           symbols=self.layer_symbols(layer, w=f"{layer.name}'s kernel"),
                           notes=notes)

    # -- pooling ------------------------------------------------------------

    def pool_windows(self, layer: LayerTrace, r: int, q: int):
        """The output cells (i, j) whose window contains input cell (r, q)."""
        spec: Pool2dSpec = layer.spec
        (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
        h_out, w_out = layer.output.shape[2:]
        rows = [i for i in range(h_out) if i * sh - ph <= r < i * sh - ph + kh]
        cols = [j for j in range(w_out) if j * sw - pw <= q < j * sw - pw + kw]
        return [(i, j) for i in rows for j in cols]

    def pool_window(self, layer: LayerTrace, i: int, j: int):
        """Window (i, j): its real cells in row-major order, and PyTorch's divisors (cells
        inside the padded input; real cells)."""
        spec: Pool2dSpec = layer.spec
        (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
        h, w = layer.input.shape[2:]
        top, left = i * sh - ph, j * sw - pw
        bottom, right = min(top + kh, h + ph), min(left + kw, w + pw)
        cells = [(r, c) for r in range(top, bottom) for c in range(left, right)
                 if 0 <= r < h and 0 <= c < w]
        return cells, (bottom - top) * (right - left), (top, bottom, left, right)

    def window_text(self, layer, n, ch, cells, bounds) -> str:
        o = self.map_named("o", layer.input.shape)
        top, bottom, left, right = bounds
        rows = []
        for r in range(top, bottom):
            row = []
            for c in range(left, right):
                row.append(short(layer.input[n, ch, r, c]) if (r, c) in cells else "pad")
            rows.append(" ".join(row))
        return (f"{o(n, ch, top, left)}…{o(n, ch, bottom - 1, right - 1)} = "
                f"[{'; '.join(rows)}]")

    def max_winners(self, layer, n, ch, cells):
        values = [layer.input[n, ch, r, c] for r, c in cells]
        top = max(values)
        return top, [cell for cell, v in zip(cells, values) if v == top]

    def max_share(self, ties: str, cell, winners):
        if cell not in winners:
            return 0
        if ties == "first":
            return 1 if cell == winners[0] else 0
        if ties == "split":
            return self.frac(1, len(winners))
        if ties == "all":
            return 1
        raise ValueError(f"unknown tie rule {ties!r}; allowed: first, split, all")

    def delta_in_maxpool(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        spec: Pool2dSpec = layer.spec
        n, ch, r, q = index
        o = self.map_named("o", layer.input.shape)
        x = self.map_named("x", layer.output.shape)
        delta = self.map_named("δ", layer.output.shape)
        terms, notes = [], []
        for i, j in self.pool_windows(layer, r, q):
            cells, _, bounds = self.pool_window(layer, i, j)
            top, winners = self.max_winners(layer, n, ch, cells)
            share = self.max_share(spec.ties, (r, q), winners)
            why = None
            if (r, q) not in winners:
                why = "not the window's maximum"
            elif share == 0:
                why = f"tied, and rule '{spec.ties}' picks {o(n, ch, *winners[0])}"
            local = Factor(f"∂{x(n, ch, i, j)}/∂{o(*index)}", share, zero_reason=why)
            terms.append(self.term(Factor(delta(n, ch, i, j), _num(layer.delta_out[n, ch, i, j])),
                                   local))
            where = ", ".join(o(n, ch, *cell) for cell in winners)
            text = (f"window of {x(n, ch, i, j)}: {self.window_text(layer, n, ch, cells, bounds)};"
                    f" its maximum {short(top)} is at {where}")
            if len(winners) > 1:
                text += f" (a tie of {len(winners)}; rule '{spec.ties}')"
            text += (f", so {o(*index)} gets {short(share)} of {delta(n, ch, i, j)}.")
            notes.append(text)
        if not terms:
            notes.append(f"{o(*index)} lies in no window (the windows skip it), so nothing "
                         f"flows back to it.")
        notes.append(_TIE_TEXT[spec.ties])
        if spec.padding != (0, 0):
            notes.append("Padded cells count as −∞: they never win a window.")
        if spec.stride[0] < spec.size[0] or spec.stride[1] < spec.size[1]:
            notes.append("The windows overlap (stride < size): a cell collects the delta of "
                         "every window it wins.")
        lhs = f"dE/d{o(*index)}"
        rhs = (f"Σ over the windows containing {o(*index)} of δ[window]·"
               f"[{o(*index)} is the window's chosen maximum]")
        return self.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                           lhs=lhs, rhs=rhs, terms=terms, symbols=self.layer_symbols(layer),
                           notes=notes)

    def output_maxpool(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        spec: Pool2dSpec = layer.spec
        n, ch, i, j = index
        o = self.map_named("o", layer.input.shape)
        x = self.map_named("x", layer.output.shape)
        cells, _, bounds = self.pool_window(layer, i, j)
        _, winners = self.max_winners(layer, n, ch, cells)
        terms = [self.term(Factor(o(n, ch, *cell), _num(layer.input[(n, ch) + cell])),
                           note="maximum" if cell in winners else None) for cell in cells]
        notes = [f"the window: {self.window_text(layer, n, ch, cells, bounds)}."]
        if len(winners) > 1:
            notes.append(f"The maximum is tied between {', '.join(o(n, ch, *c) for c in winners)};"
                         f" backward, rule '{spec.ties}' decides who gets the delta.")
        if spec.padding != (0, 0):
            notes.append("Padded cells count as −∞: they never win a window.")
        return self.finish(path, title=f"{x(*index)}: the largest value in its window of "
                                       f"{layer.name}'s input",
                           lhs=x(*index), rhs=f"max of the window's {len(cells)} cells",
                           terms=terms, symbols=self.layer_symbols(layer), notes=notes,
                           operation="max")

    def avg_divisor(self, layer: LayerTrace, i: int, j: int):
        spec: Pool2dSpec = layer.spec
        cells, padded, bounds = self.pool_window(layer, i, j)
        divisor = padded if spec.count_include_pad else len(cells)
        top, bottom, left, right = bounds
        why = (f"the window's {bottom - top}×{right - left} cells inside the padded input"
               if spec.count_include_pad else
               f"the window's {len(cells)} real cell{'s' if len(cells) != 1 else ''} "
               f"(count_include_pad false)")
        return cells, divisor, why, bounds

    def delta_in_avgpool(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        n, ch, r, q = index
        o = self.map_named("o", layer.input.shape)
        x = self.map_named("x", layer.output.shape)
        delta = self.map_named("δ", layer.output.shape)
        terms, notes = [], []
        for i, j in self.pool_windows(layer, r, q):
            _, divisor, why, _ = self.avg_divisor(layer, i, j)
            terms.append(self.term(
                Factor(delta(n, ch, i, j), _num(layer.delta_out[n, ch, i, j])),
                Factor(f"∂{x(n, ch, i, j)}/∂{o(*index)}", self.frac(1, divisor),
                       detail=f"1/{divisor}")))
            notes.append(f"window of {x(n, ch, i, j)}: divisor {divisor} = {why}.")
        if not terms:
            notes.append(f"{o(*index)} lies in no window, so nothing flows back to it.")
        lhs = f"dE/d{o(*index)}"
        rhs = f"Σ over the windows containing {o(*index)} of δ[window] / divisor[window]"
        return self.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                           lhs=lhs, rhs=rhs, terms=terms, symbols=self.layer_symbols(layer),
                           notes=notes + [_AVG_TEXT])

    def output_avgpool(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        spec: Pool2dSpec = layer.spec
        n, ch, i, j = index
        o = self.map_named("o", layer.input.shape)
        x = self.map_named("x", layer.output.shape)
        cells, divisor, why, (top, bottom, left, right) = self.avg_divisor(layer, i, j)
        share = Factor(f"1/{divisor}", self.frac(1, divisor))
        terms = []
        for r in range(top, bottom):
            for c in range(left, right):
                if (r, c) in cells:
                    cell = Factor(o(n, ch, r, c), _num(layer.input[n, ch, r, c]))
                else:
                    cell = Factor(o(n, ch, r, c), 0, note="padding: zero",
                                  zero_reason="o is zero padding")
                terms.append(self.term(share, cell, note=cell.note))
        return self.finish(path, title=f"{x(*index)}: the mean of its window of "
                                       f"{layer.name}'s input",
                           lhs=x(*index), rhs=f"Σ over the window of o / {divisor}",
                           terms=terms, symbols=self.layer_symbols(layer),
                           notes=[f"divisor {divisor} = {why}."]
                           + (["Padded cells are zeros."] if spec.padding != (0, 0) else []))

    # -- activations --------------------------------------------------------

    def activation_parts(self, layer: LayerTrace, index):
        """(o value, x value, local derivative factors, derivative text)."""
        kind = layer.type
        o_value = _num(layer.input[index])
        x_value = _num(layer.output[index])
        o = self.map_named("o", layer.input.shape)(*index)
        x = self.map_named("x", layer.output.shape)(*index)
        if kind == "relu":
            local = 1 if o_value > 0 else 0
            why = f"{o} = {short(o_value)} {'>' if o_value > 0 else '≤'} 0"
            return [Factor(f"relu'({o})", local, note=why, zero_reason=why)], \
                "relu'(o) = 1 for o > 0, else 0 (also at exactly 0)"
        if kind == "leaky_relu":
            slope = _num(layer.spec.slope)
            local = 1 if o_value > 0 else slope
            why = f"{o} = {short(o_value)} {'>' if o_value > 0 else '≤'} 0"
            return [Factor(f"leaky_relu'({o})", local, note=why)], \
                f"leaky_relu'(o) = 1 for o > 0, else the slope {short(slope)} (also at 0)"
        if kind == "sigmoid":
            return [Factor(x, x_value),
                    Factor(f"(1 - {x})", 1 - x_value, detail=f"1 - {short(x_value)}")], \
                "σ'(o) = σ(o)·(1 - σ(o)) = x·(1 - x)"
        if kind == "tanh":
            return [Factor(f"(1 - {x}²)", 1 - x_value * x_value,
                           detail=f"1 - {short(x_value)}²")], "tanh'(o) = 1 - tanh²(o) = 1 - x²"
        raise ValueError(f"unknown activation {kind!r}")

    def delta_in_activation(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        o = self.map_named("o", layer.input.shape)(*index)
        delta = self.map_named("δ", layer.output.shape)(*index)
        local, rule = self.activation_parts(layer, index)
        terms = [self.term(Factor(delta, _num(layer.delta_out[index])), *local,
                           note=local[0].note)]
        lhs = f"dE/d{o}"
        rhs = f"{delta}·{layer.type}'({o})"
        return self.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o}",
                           lhs=lhs, rhs=rhs, terms=terms, symbols=self.layer_symbols(layer),
                           notes=[f"The local derivative: {rule}. Element-wise, so one term."])

    def output_activation(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        kind = layer.type
        o = self.map_named("o", layer.input.shape)(*index)
        x = self.map_named("x", layer.output.shape)(*index)
        v = _num(layer.input[index])
        if kind == "relu":
            value, detail = (v if v > 0 else 0 * v), f"max({short(v)}, 0)"
        elif kind == "leaky_relu":
            slope = _num(layer.spec.slope)
            value = v if v > 0 else slope * v
            detail = short(v) if v > 0 else f"{short(slope)}·{short(v)}"
        elif kind == "sigmoid":
            value = 1 / (1 + _exp(-v)) if v >= 0 else _exp(v) / (1 + _exp(v))
            detail = f"1/(1 + e^-({short(v)}))"
        elif kind == "tanh":
            value, detail = math.tanh(v), f"tanh({short(v)})"
        else:
            raise ValueError(f"unknown activation {kind!r}")
        terms = [self.term(Factor(f"{kind}({o})", value, detail=detail))]
        return self.finish(path, title=f"{x}: {kind} of {o}", lhs=x, rhs=f"{kind}({o})",
                           terms=terms, symbols=self.layer_symbols(layer), notes=[])

    # -- flatten ------------------------------------------------------------

    def flatten_position(self, layer: LayerTrace, c: int, h: int, w: int) -> tuple[str, int]:
        H, W = layer.input.shape[2:]
        k = c * H * W + h * W + w
        b = self.base
        return (f"k = c·H·W + h·W + w = {c}·{H * W} + {h}·{W} + {w} = {k}"
                + (f" (from 0; {k + b} counted from 1)" if b else "")), k

    def delta_in_flatten(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        n, c, h, w = index
        how, k = self.flatten_position(layer, c, h, w)
        o = self.map_named("o", layer.input.shape)(*index)
        delta = self.map_named("δ", layer.output.shape)(n, k)
        terms = [self.term(Factor(delta, _num(layer.delta_out[n, k])))]
        notes = [f"flatten put {o} at position {k + self.base} of its output vector: {how} "
                 f"(channel-major, then row by row, as torch.flatten). It only moves numbers, "
                 f"so the delta moves back unchanged."]
        return self.finish(path, title=f"dE/d{o}: the input delta of {layer.name} at {o}",
                           lhs=f"dE/d{o}", rhs=delta, terms=terms,
                           symbols=self.layer_symbols(layer), notes=notes)

    def output_flatten(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        n, k = index
        H, W = layer.input.shape[2:]
        c, rest = divmod(k, H * W)
        h, w = divmod(rest, W)
        how, _ = self.flatten_position(layer, c, h, w)
        o = self.map_named("o", layer.input.shape)(n, c, h, w)
        x = self.map_named("x", layer.output.shape)(*index)
        terms = [self.term(Factor(o, _num(layer.input[n, c, h, w])))]
        return self.finish(path, title=f"{x}: element {k + self.base} of the flattened vector",
                           lhs=x, rhs=o, terms=terms, symbols=self.layer_symbols(layer),
                           notes=[f"it came from {o}: {how} (channel-major, then row by row)."])

    # -- dense --------------------------------------------------------------

    def dense_named(self, layer: LayerTrace):
        return (self.map_named("o", layer.input.shape), self.map_named("x", layer.output.shape),
                self.map_named("δ", layer.output.shape), _Named("W", (True, True), self.base),
                _Named("b", (True,), self.base))

    def dense_symbols(self, layer: LayerTrace) -> dict[str, str]:
        return self.layer_symbols(layer, W=f"{layer.name}'s weights (out×in)",
                                  b=f"{layer.name}'s bias")

    def output_dense(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        spec: DenseSpec = layer.spec
        n, out = index
        o, x, _, W, b = self.dense_named(layer)
        terms = [self.term(Factor(W(out, i), _num(spec.weights[out, i])),
                           Factor(o(n, i), _num(layer.input[n, i])))
                 for i in range(layer.input.shape[1])]
        bias_text = ""
        if spec.bias is not None:
            terms.append(self.term(Factor(b(out), _num(spec.bias[out]))))
            bias_text = f" + {b(out)}"
        return self.finish(path, title=f"{x(*index)}: output {out + self.base} of {layer.name}",
                           lhs=x(*index), rhs=f"Σ_i {W(out, 'i')}·{o(n, 'i')}{bias_text}",
                           terms=terms, symbols=self.dense_symbols(layer),
                           notes=[f"i runs over the {layer.input.shape[1]} inputs "
                                  f"({self.range_text('i', layer.input.shape[1])})."])

    def delta_in_dense(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        spec: DenseSpec = layer.spec
        n, i = index
        o, _, delta, W, _ = self.dense_named(layer)
        outs = layer.output.shape[1]
        terms = [self.term(Factor(delta(n, out), _num(layer.delta_out[n, out])),
                           Factor(W(out, i), _num(spec.weights[out, i]))) for out in range(outs)]
        lhs = f"dE/d{o(*index)}"
        return self.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                           lhs=lhs, rhs=f"Σ_k {delta(n, 'k')}·{W('k', i)}", terms=terms,
                           symbols=self.dense_symbols(layer),
                           notes=[f"k runs over the {outs} outputs "
                                  f"({self.range_text('k', outs)}): input {i + self.base} feeds "
                                  f"every output k through {W('k', i)} (column {i + self.base} "
                                  f"of W)."])

    def grad_dense(self, path: _Path, layer: LayerTrace) -> Explanation:
        o, _, delta, W, b = self.dense_named(layer)
        batch = layer.input.shape[0]
        batched = self.trace.layout.batched
        if path.param == "weights":
            out, i = path.index
            terms = [self.term(Factor(delta(n, out), _num(layer.delta_out[n, out])),
                               Factor(o(n, i), _num(layer.input[n, i]))) for n in range(batch)]
            lhs = f"dE/d{W(out, i)}"
            rhs = ("Σ_n " if batched else "") + f"{delta('n', out)}·{o('n', i)}"
            why = f"{W(out, i)} multiplies input {o('n', i)} into output {out + self.base}"
        elif path.param == "bias":
            (out,) = path.index
            terms = [self.term(Factor(delta(n, out), _num(layer.delta_out[n, out])))
                     for n in range(batch)]
            lhs = f"dE/d{b(out)}"
            rhs = ("Σ_n " if batched else "") + delta("n", out)
            why = f"{b(out)} is added to output {out + self.base}"
        else:
            raise UsageError(f"{layer.name} has no parameter {path.param!r}", where="PATH")
        notes = [f"{why}" + (f"; n runs over the batch of {batch}." if batched else ".")]
        return self.finish(path, title=f"{lhs}: the gradient of {layer.name}'s {path.param}",
                           lhs=lhs, rhs=rhs, terms=terms, symbols=self.dense_symbols(layer),
                           notes=notes)

    # -- deltas between layers, the loss ------------------------------------

    def delta_out(self, path: _Path, layer: LayerTrace, index) -> Explanation:
        delta = self.map_named("δ", layer.output.shape)(*index)
        x = self.map_named("x", layer.output.shape)(*index)
        lhs = f"{delta} = dE/d{x}"
        symbols = {"x": f"{layer.name}'s output", "δ": f"dE/dx = {layer.name}.delta_out"}
        if layer.index + 1 < len(self.trace.layers):
            after = self.trace.layers[layer.index + 1]
            shown = self.map_named("", after.input.shape).index_text(index)
            term = self.term(Factor(f"{after.name}.delta_in{shown}",
                                    _num(after.delta_in[index])))
            return self.finish(path, title=f"{delta}: the delta at {layer.name}'s output",
                               lhs=lhs, rhs=f"{after.name}.delta_in{shown}", terms=[term],
                               symbols=symbols,
                               notes=[f"{layer.name}'s output is {after.name}'s input, so its "
                                      f"delta is {after.name}'s input delta: explain "
                                      f"{after.name}.delta_in{shown} for its terms."])
        problem = self.trace.problem
        if problem.loss is None:
            shown = self.map_named("", layer.output.shape).index_text(index)
            term = self.term(Factor(f"delta{shown}", _num(problem.delta[index])))
            return self.finish(path, title=f"{delta}: the upstream delta the problem gives",
                               lhs=lhs, rhs="the problem's delta", terms=[term], symbols=symbols,
                               notes=["The problem file gives dE/d(output of the last layer) "
                                      "directly (its 'delta'), so there is nothing to derive."])
        return self.loss_gradient(path, layer, index, lhs, symbols)

    def loss_gradient(self, path: _Path, layer: LayerTrace, index, lhs: str,
                      symbols: dict) -> Explanation:
        spec = self.trace.problem.loss
        y = self.map_named("y", layer.output.shape)
        t = self.map_named("t", layer.output.shape)
        y_value, t_value = _num(layer.output[index]), _num(spec.target[index])
        symbols = dict(symbols, y=f"the last layer's output ({layer.name}.output)",
                       t="the loss target")
        diff = Factor(f"{y(*index)} - {t(*index)}", y_value - t_value,
                      detail=f"{short(y_value)} - {short(t_value)}")
        if spec.type == "mse":
            count = layer.output.size
            if spec.reduction == "half_sum":
                factors, rhs = [diff], f"{y(*index)} - {t(*index)}"
                rule = "E = ½ Σ (t - y)², so dE/dy = y - t"
            elif spec.reduction == "sum":
                factors = [Factor("2", 2), diff]
                rhs = f"2·({y(*index)} - {t(*index)})"
                rule = "E = Σ (t - y)², so dE/dy = 2(y - t)"
            elif spec.reduction == "mean":
                factors = [Factor(f"2/{count}", self.frac(2, count)), diff]
                rhs = f"2/{count}·({y(*index)} - {t(*index)})"
                rule = f"E = (1/{count}) Σ (t - y)² over all {count} elements, so dE/dy = " \
                       f"2(y - t)/{count}"
            else:
                raise ValueError(f"unknown mse reduction {spec.reduction!r}")
            return self.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output",
                               lhs=lhs, rhs=rhs, terms=[self.term(*factors)], symbols=symbols,
                               notes=[f"mse, reduction {spec.reduction}: {rule}."])
        if spec.type == "cross_entropy":
            n, k = index
            p_row = _softmax(layer.output[n])
            t_row = [float(v) for v in spec.target[n]]
            t_sum = sum(t_row)
            batch = layer.output.shape[0]
            p = self.map_named("p", layer.output.shape)
            if t_sum == 1:
                inner = Factor(f"{p(*index)} - {t(*index)}", p_row[k] - t_row[k],
                               detail=f"{short(p_row[k])} - {short(t_row[k])}")
                rule = "dE/dz = (p - t)/N (t sums to 1)"
            else:
                inner = Factor(f"{p(*index)}·Σt - {t(*index)}", p_row[k] * t_sum - t_row[k],
                               detail=f"{short(p_row[k])}·{short(t_sum)} - {short(t_row[k])}")
                rule = "dE/dz = (p·Σ_k t - t)/N"
            factors = [inner] if batch == 1 else [Factor(f"1/{batch}", 1 / batch), inner]
            symbols["p"] = "softmax(y) per sample"
            notes = [f"cross-entropy on softmax, mean over the batch of {batch}: {rule}.",
                     _softmax_note(p, y, n, layer.output[n], p_row)]
            return self.finish(path, title=f"{lhs}: the loss gradient at {layer.name}'s output",
                               lhs=lhs, rhs=inner.symbol if batch == 1 else
                               f"({inner.symbol})/{batch}",
                               terms=[self.term(*factors)], symbols=symbols, notes=notes)
        raise ValueError(f"unknown loss {spec.type!r}")

    def loss(self, path: _Path) -> Explanation:
        problem = self.trace.problem
        spec = problem.loss
        if spec is None:
            raise UsageError("the problem gives the delta directly, so there is no loss to "
                             "explain", where="PATH")
        last = self.trace.layers[-1]
        y = self.map_named("y", last.output.shape)
        t = self.map_named("t", last.output.shape)
        symbols = {"y": f"the last layer's output ({last.name}.output)", "t": "the loss target"}
        terms = []
        if spec.type == "mse":
            count = last.output.size
            if spec.reduction == "half_sum":
                scale, rhs = Factor("½", self.frac(1, 2)), "½ Σ (t - y)²"
            elif spec.reduction == "sum":
                scale, rhs = None, "Σ (t - y)²"
            elif spec.reduction == "mean":
                scale, rhs = Factor(f"1/{count}", self.frac(1, count)), f"(1/{count}) Σ (t - y)²"
            else:
                raise ValueError(f"unknown mse reduction {spec.reduction!r}")
            for index in np.ndindex(last.output.shape):
                yv, tv = _num(last.output[index]), _num(spec.target[index])
                square = Factor(f"({t(*index)} - {y(*index)})²", (tv - yv) * (tv - yv),
                                detail=f"({short(tv)} - {short(yv)})²")
                terms.append(self.term(*([scale] if scale else []), square))
            notes = [f"mse with reduction '{spec.reduction}', over all {count} elements of y."]
        elif spec.type == "cross_entropy":
            batch = last.output.shape[0]
            p = self.map_named("p", last.output.shape)
            notes = []
            for n in range(batch):
                p_row = _softmax(last.output[n])
                for k in range(last.output.shape[1]):
                    tv = float(spec.target[n, k])
                    factors = [Factor("-1" if batch == 1 else f"-1/{batch}", -1 / batch),
                               Factor(t(n, k), tv)]
                    if tv != 0:
                        factors.append(Factor(f"log({p(n, k)})", math.log(p_row[k]),
                                              detail=f"log({short(p_row[k])})"))
                    else:
                        factors.append(Factor(f"log({p(n, k)})", 0, zero_reason="t = 0"))
                    terms.append(self.term(*factors))
                notes.append(_softmax_note(p, y, n, last.output[n], p_row))
            rhs = ("-Σ_k t[k]·log p[k]" if batch == 1 else
                   f"(1/{batch}) Σ_n -Σ_k t[n,k]·log p[n,k]")
            symbols["p"] = "softmax(y) per sample"
            if spec.class_index:
                notes.append("The target was given as class indices: t is their one-hot vector.")
        else:
            raise ValueError(f"unknown loss {spec.type!r}")
        return self.finish(path, title=f"E: the loss ({spec.type})", lhs="E", rhs=rhs,
                           terms=terms, symbols=symbols, notes=notes)

    def updated(self, path: _Path) -> Explanation:
        layer = path.layer
        value = layer.spec.params[path.param]
        grad = layer.grads[path.param]
        lr = self.trace.lr
        name = {"kernel": "w", "weights": "W", "bias": "b"}.get(path.param, path.param)
        shown = self.ix(*path.index) if path.index else ""
        p = Factor(f"{name}{shown}", _num(value[path.index]))
        step = [Factor("-η", _num(-lr)), Factor(f"dE/d{name}{shown}", _num(grad[path.index]))]
        lhs = f"{name}{shown} after one step"
        return self.finish(path, title=f"{lhs}: SGD, p - η·dE/dp", lhs=lhs,
                           rhs=f"{name}{shown} - η·dE/d{name}{shown}",
                           terms=[self.term(p), self.term(*step)],
                           symbols={name: f"{layer.name}'s {path.param}",
                                    "η": "the learning rate"},
                           notes=[f"explain {layer.name}.grads.{path.param}{shown} for the "
                                  f"gradient's terms."])


# --------------------------------------------------------------------------- helpers


_TIE_TEXT = {
    "first": "Tie rule 'first' (PyTorch's): when a window's maximum appears more than once, "
             "the first of them in row-major order takes the whole delta.",
    "split": "Tie rule 'split': tied maxima share the window's delta equally.",
    "all": "Tie rule 'all': every tied maximum takes the window's whole delta.",
}

_AVG_TEXT = ("Average pooling: x = (sum of the window) / divisor, so every cell of the window "
             "gets δ/divisor; overlapping windows add up.")


def _family(kind: str) -> str:
    if kind in ("relu", "leaky_relu", "sigmoid", "tanh"):
        return "activation"
    if kind == "conv2d":
        return "conv"
    if kind in ("maxpool2d", "avgpool2d", "flatten", "dense"):
        return kind.replace("2d", "")
    raise ValueError(f"unknown layer type {kind!r}")


def _pair_text(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"



def _zero_reason(term: Term) -> str:
    """What made a term zero: its first zero factor, by its note or as ``δ = 0``."""
    for factor in term.factors:
        if _is_zero(factor.value):
            return factor.zero_reason or f"{factor.symbol.split('[')[0]} = 0"
    return "the product rounds to 0"


def _softmax(logits) -> list[float]:
    z = [float(v) for v in logits]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def _softmax_note(p: _Named, y: _Named, n: int, logits, p_row) -> str:
    values = ", ".join(short(v) for v in p_row)
    return (f"{p(n, 'k')} = e^{y(n, 'k')} / Σ_j e^{y(n, 'j')}: "
            f"softmax({', '.join(short(v) for v in logits)}) = ({values}).")


__all__ = ["Explanation", "Term", "Factor", "explain", "parse_path", "known_paths", "short",
           "OPERATIONS"]
