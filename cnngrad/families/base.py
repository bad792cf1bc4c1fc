"""The protocol of a layer family and of a loss family.

A family is an object (one per layer type) whose class says everything cnngrad knows about
that type.  The services call only these names; a family overrides what its type needs and
inherits the rest (no parameters, no kinks, no slips, no textbook steps...).

Steps work on lists, ready for graphs: ``forward(spec, inputs) -> output`` and
``backward(spec, inputs, output, delta_out) -> (delta_ins, grads)`` with one delta per
input; a single-input layer reads ``inputs[0]`` and returns ``[delta_in]``.  Arrays are in
the engine's layout: feature maps (N, C, H, W), vectors (N, K).
"""

from __future__ import annotations

import copy
import decimal
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import ProblemError, ShapeError, join_path


def shape_size(shape) -> int:
    """How many values a shape holds (1 for ``()``, as the old rule of a missing shape)."""
    return math.prod(int(s) for s in shape) if shape else 1


def counted(count: int, noun: str) -> str:
    """``count`` and ``noun``, the noun plural unless the count is 1: "1 zero row", "2 filters"
    (the report's sentences, where "row(s)" reads as a form to fill in)."""
    return f"{count} {noun}" + ("" if count == 1 else "s")


def written_text(value) -> str:
    """A number as a problem writes it: a whole number of up to 20 digits in full; when its
    float is the number, as error messages write numbers (6 significant digits), with up to
    15 where 6 would read as a whole number it is not (1234567.5, not 1.23457e+06); else
    the exact decimal (0.99999999999999999 is no whole number, whatever its float; 1e-50 in
    scientific notation, not as p/q), or p/q when no decimal writes it (1/3)."""
    from cnngrad.problem import number_text
    from cnngrad.tensorio import decimals_needed

    exact = Fraction(value)
    digits_of_whole = len(str(abs(exact.numerator))) if exact.denominator == 1 else 0
    if 0 < digits_of_whole <= 20:  # a whole number in full: 1234567, not 1.23457e+06
        return str(exact.numerator)
    if Fraction(float(exact)) == exact:
        text = number_text(float(exact))
        if exact.denominator == 1 or not float(text).is_integer():
            return text
        # 6 digits that read as a whole number (1234567.5 as 1.23457e+06, 1.0000001 as 1),
        # where being whole is what the message is about: 15 digits, which do not round a
        # float's noise into view (a sum 0.30000000000000004 stays 0.3)
        longer = f"{float(exact):.15g}"
        return longer if not float(longer).is_integer() else repr(float(exact))
    if digits_of_whole > 20:
        # 1e300 as written, not its 301 digits; normalize rounds to the context's precision
        # (28 digits by default), which must hold every digit to keep the number exact
        with decimal.localcontext() as context:
            context.prec = digits_of_whole
            return format(Decimal(exact.numerator).normalize(), "g")
    digits = decimals_needed(exact)
    if digits is None:
        return str(exact)
    with decimal.localcontext() as context:
        context.prec = digits + len(str(abs(exact.numerator))) + 1
        return format(Decimal(exact.numerator) / Decimal(exact.denominator), "g")


#: PyTorch's default ``ignore_index``: its losses leave a sample of this class out.
IGNORE_INDEX = -100
IGNORE_INDEX_HINT = ("PyTorch's default ignore_index, -100, leaves a sample out of its loss; "
                     "cnngrad has no ignore_index, so every sample counts: give each its class "
                     "(or leave the sample out of the batch)")
IGNORE_INDEX_HINT_ONE = ("PyTorch's default ignore_index, -100, leaves a sample out of its "
                         "loss; cnngrad has no ignore_index: give the sample's class")


def class_indices(ctx, raw_target, target: np.ndarray, index_shape: tuple[int, ...], k: int,
                  hint: str) -> list[int]:
    """The class indices a loss's ``target`` gives (one per sample, ``index_shape`` as shown),
    each a whole number as written (0.99999999999999999 is none, though its float is 1) from
    0 to k − 1; an error names the first that is not (``hint`` for a fraction)."""
    indices = []
    for i, value in enumerate(ctx.written(raw_target, "loss.target", target).reshape(-1)):
        at = (i,) if index_shape else ()
        if value != int(value):
            raise ctx.cell_error(raw_target, "loss.target", at,
                                 f"class index {written_text(value)} is not a whole number", hint)
        if not 0 <= int(value) < k:
            raise ctx.cell_error(raw_target, "loss.target", at,
                                 f"class index {written_text(value)} out of range: the output "
                                 f"has {k} class{'es' if k != 1 else ''} (0 to {k - 1})",
                                 None if int(value) != IGNORE_INDEX else
                                 IGNORE_INDEX_HINT if math.prod(index_shape) > 1 else
                                 IGNORE_INDEX_HINT_ONE)
        indices.append(int(value))
    return indices


def vector_hint(shape: tuple[int, ...], length: int) -> str | None:
    """The hint for a bias that holds a vector of ``length`` with axes of 1 around it (the
    Deep Learning Specialization's (1, 1, 1, F), a column n×1); None for any other shape."""
    if length < 2 or shape_size(shape) != length or length not in shape:
        return None
    shown = "×".join(map(str, shape))
    return (f"give it as a vector of {length}: {shown} holds one with axes of 1 around it "
            f"(numpy: b.reshape(-1))")


def read_matrices(ctx, value, where: str, max_rank: int,
                  flat_hint: Callable[[Any], str]) -> np.ndarray:
    """A tensor of rank 2 to ``max_rank`` (``ctx``: the builder); one written as a flat list
    is refused with ``flat_hint(value)``, what its rows are."""
    try:
        return ctx.tensor(value, where, min_rank=2, max_rank=max_rank)
    except ProblemError as exc:
        if exc.hint is None and exc.where == where and "got rank 1 (" in exc.what:
            exc.hint = flat_hint(value)
        raise


def read_kernel2d(ctx, value, where: str) -> np.ndarray:
    """A 2-D conv's kernel, rank 2 to 4; one written flat, ``[1, 0, 0, 1]``, is refused with
    the hint that a k1×k2 kernel is a list of rows (its numbers as a square when they make
    one)."""
    return read_matrices(ctx, value, where, 4, flat_kernel_hint)


#: A flat kernel written back as a square is shown when it is at most this long.
_SQUARE_SHOWN_CHARS = 60


def flat_kernel_hint(value: Any) -> str:
    """The hint for a k1×k2 kernel written as one flat list (``value`` as written)."""
    plain = isinstance(value, list) and all(
        isinstance(v, (int, float, Decimal, str)) and not isinstance(v, bool) for v in value)
    side = math.isqrt(len(value)) if plain else 0
    if side and side * side == len(value):
        def shown(v):
            return f'"{v}"' if isinstance(v, str) else str(v)
        rows = ", ".join("[" + ", ".join(shown(v) for v in value[r * side:(r + 1) * side]) + "]"
                         for r in range(side))
        square = (f"[{rows}]" if len(rows) + 2 <= _SQUARE_SHOWN_CHARS else
                  f"{side} rows of {side} numbers, [[…], …]")
        return f"a k1×k2 kernel is a list of rows: as {side}×{side}, {square}"
    return ("a k1×k2 kernel is a list of rows, e.g. [[1, 0], [0, -1]] for 2×2 (a conv1d "
            "layer takes a kernel of one axis)")


def number_bias_grad(delta: np.ndarray) -> np.ndarray:
    """The gradient of a number bias, added to every output: the sum of every cell of the
    delta, a 0-d array of its dtype (an exact delta of structural zeros, the int 0s its sums
    start from, stays exact: "0" in JSON, not an int64 number 0)."""
    return np.asarray(delta.sum(), dtype=delta.dtype).reshape(())


def working_buffer(one: str, method: str, c_in: int, taps: str, cells: str) -> str:
    """A conv's working buffer as a --max-elements refusal names it: ``the conv's working
    buffer for one image (im2col: 1 channel × 2×2 kernel taps × 4×4 outputs)``."""
    return (f"the conv's working buffer for one {one} ({method}: {counted(c_in, 'channel')} "
            f"× {taps} × {cells})")


def side_path(path: str, raw, side: dict[int, int]) -> str:
    """The path of the element of a padding list that set one side (``side``: the side's
    index for each length of list, {2: 0, 4: 1} for the bottom of [ph, pw] and of
    [top, bottom, left, right]), else the option's own path (one number for every side)."""
    if isinstance(raw, list) and len(raw) in side:
        return join_path(path, side[len(raw)])
    return path


def check_groups(ctx, groups: int, c_in: int, where: str) -> None:
    """A convolution's ``groups`` must divide its input channels: else the error, its hint
    the values that do (``groups=2`` of 3 channels: 1 or 3)."""
    if c_in % groups:
        allowed = [str(g) for g in range(1, c_in + 1) if c_in % g == 0]
        raise ctx.error(where, f"groups={groups} does not divide the "
                               f"{counted(c_in, 'input channel')}",
                        f"groups divides them: {', '.join(allowed[:-1])} or {allowed[-1]}"
                        if len(allowed) > 1 else "groups is 1 for one input channel",
                        cls=ShapeError)


def _padding_offer(ctx, maps: int, sizes: tuple[int, ...], sides: list[int]) -> str:
    """``, or "padding": … for this one``, where ``maps`` maps of ``sizes`` padded by
    ``sides`` each side stay within --max-elements (a padding offered only where the problem
    it makes can run); else ""."""
    if maps * math.prod(size + 2 * side for size, side in zip(sizes, sides)) \
            > ctx.max_elements:
        return ""
    return (f", or \"padding\": {sides[0] if len(set(sides)) == 1 else sides} (each side) "
            f"for this one")


def kernel_past_input(ctx, where: str, sizes: tuple[int, ...],
                      pads: tuple[tuple[int, int], ...], kernel: tuple[int, ...],
                      dilation: tuple[int, ...], padding_mode: str,
                      maps: int) -> ProblemError:
    """The error of a convolution kernel that spans more than its padded input, an entry an
    axis (one for a signal; ``pads`` each axis's (before, after)), its hint what fits: the
    largest kernel at this dilation, or the padding each side that fits this one (an axis
    that fits keeps the larger of its two sides; ``"padding": [rows, cols]`` where they
    differ) when ``padding_mode`` can pad that much (reflect less than the input, circular
    as much) and its ``maps`` padded maps stay within --max-elements (a dilation of 10⁹
    would need 10⁹ of padding)."""
    from cnngrad.problem import shape_text

    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(size + sum(pad) for size, pad in zip(sizes, pads))
    largest = tuple((p - 1) // d + 1 for p, d in zip(padded, dilation))
    sides = [max(-(-(s - size) // 2), *pad) if s > p else max(pad)
             for s, size, p, pad in zip(span, sizes, padded, pads)]
    limits = [size - 1 if padding_mode == "reflect" else size if padding_mode == "circular"
              else None for size in sizes]
    dilated = any(d != 1 for d in dilation)
    signal = len(sizes) == 1
    fits = (f"at most {shape_text(largest)}{' long' if signal else ''}"
            f"{' at this dilation' if dilated else ''} here")
    beyond = [limit for side, limit in zip(sides, limits) if limit is not None and side > limit]
    if beyond:
        fits += (f" ({padding_mode} padding of at most {min(beyond)} a side cannot fit this "
                 f"one)")
    else:
        fits += _padding_offer(ctx, maps, sizes, sides)
    return ctx.error(where, f"the kernel spans {shape_text(span)}"
                            f"{' (with dilation)' if dilated else ''}, "
                            f"{'longer' if signal else 'larger'} than the padded input "
                            f"{shape_text(padded)}",
                     hint=f"a kernel must fit in the padded input it slides over: {fits}",
                     cls=ShapeError)


def kernel_axes(spec, key: str, rank: int, spatial: int, channels_last: bool,
                across: tuple[str, str] = ("input channels", "filters")) -> str:
    """What a convolution kernel's leading indices name, given with ``rank`` axes over
    ``spatial`` kernel axes: channels first, the contract's F×(C/groups)×k…, C_in×k… (one
    filter over several channels) and F×k… (one-channel filters); channels last, the kernel's
    rows (and columns) first, each grid ``across`` (down, across: a transposed conv's output
    and input channels, whose ``weight`` is (C_in, F/groups, …)).  "" for a kernel of one
    filter over one channel, or another key."""
    if key != "kernel" or rank <= spatial:
        return ""
    # the channels each filter reads (a transposed conv's: the outputs each input feeds)
    per_filter = spec.weight.shape[1]
    group = " of its group" if spec.groups > 1 else ""
    if channels_last:
        down, side = across
        if rank == spatial + 2:
            where = "row i, column j" if spatial == 2 else "tap t"
            return (f"[{'i,j' if spatial == 2 else 't'}] is the kernel's {where}: {down}"
                    f"{group} down, {side} across")
        if spatial == 1:
            return ""  # one grid, taps down
        return (f"[i] is the kernel's row i: its columns down, "
                f"{side if per_filter == 1 else down} across")
    if rank == spatial + 2:
        return f"[f,c] is filter f's weights over input channel c{group}"
    return ("[f] is filter f" if per_filter == 1 else
            f"[c] is the filter's weights over input channel c{group}")


def window_past_input(ctx, where: str, sizes: tuple[int, ...], padding: tuple[int, ...],
                      window: tuple[int, ...], stride: tuple[int, ...],
                      maps: int) -> ProblemError:
    """The error of a pooling window larger than its padded input (no output at all), an entry
    an axis, its hint what fits: the largest window here, the padding each side that fits this
    one (an axis that fits keeps its own; never more than half the window, PyTorch's rule, which
    the padding needed never is) unless its ``maps`` padded maps would pass --max-elements, and
    ``"ceil_mode": true`` when it gives this window its one output hanging over the edge (as
    PyTorch does)."""
    from cnngrad.layers._common import pool_output_size
    from cnngrad.problem import shape_text

    padded = tuple(size + 2 * pad for size, pad in zip(sizes, padding))
    sides = [max(-(-(k - size) // 2), pad) if k > p else pad
             for k, size, p, pad in zip(window, sizes, padded, padding)]
    signal = len(sizes) == 1
    fits = f"at most {shape_text(padded)} here"
    fits += _padding_offer(ctx, maps, sizes, sides)
    if all(pool_output_size(size, pad, k, s, True) >= 1
           for size, pad, k, s in zip(sizes, padding, window, stride)):
        fits += ", or \"ceil_mode\": true (one window hanging over the edge)"
    return ctx.error(where, f"the window {shape_text(window)} is "
                            f"{'longer' if signal else 'larger'} than the padded input "
                            f"{shape_text(padded)}",
                     hint=f"a window must fit in the padded input it slides over: {fits}",
                     cls=ShapeError)


def read_bias(ctx, value, where: str, max_rank: int, length: int,
              expected: str | None = None) -> np.ndarray:
    """A layer's bias, of rank ``max_rank`` at most (``ctx``: the problem builder).  One of
    higher rank that is a vector of ``length`` with axes of 1 around it (the Deep Learning
    Specialization's (1, 1, 1, F), a column n×1) is refused as any, its hint saying how to
    give it; any other, with the hint ``expected`` (the forms the layer takes) when given."""
    try:
        return ctx.tensor(value, where, max_rank=max_rank)
    except ProblemError as error:
        if error.hint is None and length > 1:
            try:
                error.hint = vector_hint(ctx.tensor(value, where).shape, length)
            except ProblemError:
                pass
        if error.hint is None and expected is not None and "rank" in error.what:
            error.hint = expected
        raise


@dataclass(frozen=True)
class Head:
    """What every layer's builder is handed besides its JSON object: where the layer is and
    what flows into it.

    ``inputs`` names the layers it reads (``"input"`` for the problem's input; in contract
    v1 always the previous layer), ``in_shapes`` their output shapes (internal layout), one
    per input."""

    index: int
    name: str
    kind: str
    where: str  # JSON path of the layer object ("layers[2]"; "" for the shorthand)
    inputs: tuple[str, ...]
    in_shapes: tuple[tuple[int, ...], ...]
    layout: Any  # cnngrad.problem.Layout

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The shape of the one input of a single-input layer."""
        return self.in_shapes[0]

    def at(self, key: str | int) -> str:
        """The JSON path of one of the layer's fields."""
        return join_path(self.where, key)

    def input_as_one_map(self) -> tuple[int, int] | None:
        """(rows, cols) when the layer reads the problem's input given 2-D (H×W, one map,
        1×1×H×W inside): a matrix its writer may have meant as rows of vectors; else None."""
        from cnngrad.problem import INPUT

        shape = self.in_shape
        if (self.inputs != (INPUT,) or self.layout.input_rank != 2 or self.layout.spatial != 2
                or len(shape) != 4 or shape[:2] != (1, 1)):
            return None
        return shape[2], shape[3]

    def spec_fields(self) -> dict:
        """The common fields of every spec, for the spec's constructor."""
        return dict(index=self.index, name=self.name, type=self.kind, where=self.where,
                    inputs=self.inputs, in_shape=self.in_shape)


class LayerFamily:
    """One layer type.  Attributes a subclass sets:

    ``type``
        the ``"type"`` value of the layer in a problem file;
    ``fields`` / ``required``
        the keys it accepts besides ``type`` and ``name``, and those it needs;
    ``rational``
        True when the step is rational arithmetic (``--exact`` can run it);
    ``spatial``, ``reads_many``, ``reads_vectors``, ``makes_vectors``
        the rank of its maps (1, 2 or None for any), whether it reads several layers,
        whether it reads vectors only, and whether it makes a vector of any map;
    ``param_labels``
        parameter key → the title of its gradient in the tables (``dE/dw (kernel
        gradient)``); ``param_axes`` parameter key → the table's axis letters (``"fc"``);
    ``since``
        the contract version that introduced the type;
    ``weighted``, ``squashes``, ``kink_at_zero``, ``shift_free``, ``normalises_channels``,
    ``endless_decimals``
        traits of its step that ``cnngrad generate`` reasons about (each commented below).
    """

    type: str = ""
    fields: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    rational: bool = True
    #: the rank of the maps it works on: 2 (conv2d, the 2-D pools), 1 (conv1d, the 1-D
    #: pools) or None (any: activations, flatten...).  The first layer with a rank decides
    #: how the problem's input is read; a layer of the other rank is an error.
    spatial: int | None = None
    #: True for a layer that reads two or more layers (``"inputs"``: add, concat); every
    #: other layer reads one (``"input"``, by default the previous layer)
    reads_many: bool = False
    #: True for a layer that reads vectors only (dense, softmax): a map before it needs a
    #: flatten layer
    reads_vectors: bool = False
    #: True for a layer that makes a vector of any map it reads (flatten): a vector written as
    #: the problem's input is one row before it
    makes_vectors: bool = False
    param_labels: dict[str, str] = {}
    param_axes: dict[str, str] = {}
    #: spec attributes cast to the compute dtype of a float32 run
    cast_fields: tuple[str, ...] = ()
    #: what other frameworks and textbooks call this type (PyTorch's and Keras' class names,
    #: abbreviations), as letters and digits in lower case: an unknown "type" that is one of
    #: them is pointed here, where spelling alone would point elsewhere ('linear': leaky_relu)
    other_names: tuple[str, ...] = ()
    #: other functions spelt like this type that cnngrad does not have (relu6 and gelu for
    #: relu), letters and digits in lower case: an unknown "type" that is one of them is told
    #: so, not "did you mean" this one, whose gradients differ
    look_alikes: tuple[str, ...] = ()
    #: for an activation, which Keras gives as a layer's "activation" key: what the hint to
    #: add it as a layer of its own says besides ("" for nothing); None for any other layer
    activation_note: str | None = None
    #: the contract version that introduced the type ("1.0", "1.1"): a build of an older
    #: contract lacks it (``cnngrad generate`` names the types a recipe needs beyond 1.0)
    since: str = ""
    #: True for a kernel that a channels-last problem gives in TensorFlow's order, its
    #: spatial axes first (HWIO): PyTorch's order puts its channel and filter axes first
    kernel_spatial_first: bool = False

    # -- kinks (cnngrad.kinks): None where the family has no rule of its own ----------

    #: ``near_kinks(spec, inputs, magnitudes, tolerance, output)``: the cells within
    #: rounding noise of a kink (relu's 0, a max pool's ties), a ``NearKinks`` or None
    near_kinks: Callable | None = None
    #: True when its output copies input values unrounded (relu, max pool, flatten): values
    #: as written stay as written through it
    copies_values: bool = False
    #: ``value_origins(spec, origins, x)``: per output cell, the input cell its value is a
    #: copy of, from ``origins`` (per cell of the input ``x``, ids of the cells whose values
    #: are bit-for-bit equal: an upsample's copies of one cell; None: each its own), or None
    #: when its cells are values of their own.
    #: A max pool's window whose near-tied cells are all copies of one value is a certain
    #: tie, whatever the rounding before it (cnngrad.kinks)
    value_origins: Callable | None = None
    #: ``magnitude(spec, inputs, magnitudes, output)``: per output cell, a bound on the size
    #: of the terms that made it (else a rational step on absolute values gives it)
    magnitude: Callable | None = None
    #: ``magnitude_bound(...)``: a cheaper upper bound on ``magnitude`` (else it itself)
    magnitude_bound: Callable | None = None
    #: ``summed_terms(spec)``: the most terms one output cell adds up (a conv's C/groups·
    #: kh·kw and its bias), whose rounding grows with their count; None for one or a few
    summed_terms: Callable | None = None
    #: the kinds of :class:`~cnngrad.teach.gradcheck.Kink` its ``kinks`` names → what each
    #: is ("tie": "a max-pool window whose maximum is reached by more than one cell")
    kink_kinds: dict[str, str] = {}
    #: those of its kinds where E is in fact smooth (a note, not a kink)
    smooth_kink_kinds: tuple[str, ...] = ()

    # -- traits (what cnngrad generate reasons about) ------------------------

    #: True when its output sums inputs times weights the problem gives (conv, dense): each
    #: such layer multiplies the decimals of an answer, and a bias it adds moves its output
    weighted: bool = False
    #: True for an S-curve, flat far from 0 (sigmoid, tanh): its gradient vanishes there
    squashes: bool = False
    #: True when its slope jumps where an input is exactly 0 (relu, leaky_relu)
    kink_at_zero: bool = False
    #: how an exercise sheet writes what a layer reading several writes: "a + b" (add),
    #: "a, b" (concat)
    inputs_joined_by: str = ", "
    #: True when every input ≤ 0 comes out 0 (relu, not leaky_relu): a max pool after it
    #: takes a 0 only from a window of such zeros, none of which passes δ back
    cuts_to_zero: bool = False
    #: True when adding one number to all its inputs changes nothing (softmax, log_softmax):
    #: a one-number bias before it has a gradient of 0 whatever the numbers
    shift_free: bool = False
    #: True when (in training mode) it takes each channel's mean away (batch norm): a bias
    #: before it has a gradient of 0 whatever the numbers
    normalises_channels: bool = False
    #: True when adding one number to all its inputs adds it to all its outputs, each value
    #: moved whole (flatten): a shift passes through it to the layers after
    shift_passes: bool = False
    #: True when its output is each window's maximum (max pools): tied maxima are its kink,
    #: and a ReLU zero before it changes no answer (a window of zeros passes no δ back)
    takes_maxima: bool = False
    #: what gives its answers decimals that never end, as a sheet says it ("the sigmoid"),
    #: or None for a rational step
    endless_decimals: str | None = None
    #: what its output is to a loss reading it: "probabilities" (softmax, sigmoid),
    #: "log-probabilities" (log-softmax), or None (any numbers)
    gives: str | None = None

    # -- reading a problem --------------------------------------------------

    def build(self, ctx, raw: dict, head: Head):
        """Validate the layer's JSON object ``raw`` into its spec.

        ``ctx`` is the problem builder (:class:`cnngrad.problem.BuildContext`): ``tensor``,
        ``number``, ``integer``, ``int_pair``, ``boolean``, ``choice``, ``check_size``,
        ``need_map`` and ``error`` read a value or raise a ProblemError naming its path."""
        raise NotImplementedError

    def schema_fields(self, ref) -> dict[str, dict]:
        """The JSON Schema of each field (``ref(name)`` points to a shared definition)."""
        return {}

    def schema_rules(self) -> dict:
        """JSON Schema keywords over the layer's fields together (``if``/``then``), beside
        the fields' own: none by default."""
        return {}

    # -- computing ----------------------------------------------------------

    def divisors(self, spec) -> tuple[tuple[Fraction, str], ...]:
        """What its step divides by, each once, with how an error says it: an average
        pool's window counts (cut windows too) as (9, "averages 9 cells"), a global pool's
        map, dropout's 1 − p.  The answers after it carry each, so their decimals end only
        when each is 2^a·5^b (over an integer).  () for a step that divides by nothing."""
        return ()

    def mixes_batch(self, spec) -> bool:
        """Whether one sample's output depends on the other samples of the batch (batch norm
        in training mode): gradcheck then never stacks moved copies on the batch axis."""
        return False

    def amplified_rounding(self, spec, inputs: list[np.ndarray], output: np.ndarray
                           ) -> np.ndarray | None:
        """Per output cell, the size of the numbers whose rounding the step carries into its
        output when that is more than the output's own size (batch norm divides x − μ by
        √(σ² + ε)); None when it is not.  gradcheck widens its rounding noise by it."""
        return None

    def forward(self, spec, inputs: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def backward(self, spec, inputs: list[np.ndarray], output: np.ndarray,
                 delta_out: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """One delta per input, and one gradient per parameter shaped as it was given."""
        raise NotImplementedError

    def given_tensors(self, spec) -> dict[str, np.ndarray]:
        """Every tensor the layer's JSON object gave, by its key, as given: the parameters
        (and what else a family adds).  A float32 run checks that each fits float32."""
        return dict(spec.params)

    def cast(self, spec, dtype):
        """The spec with its parameters in the compute dtype (float32 runs)."""
        cast = copy.copy(spec)
        for attr in self.cast_fields:
            value = getattr(cast, attr, None)
            if isinstance(value, np.ndarray):
                setattr(cast, attr, value.astype(dtype))
        return cast

    def replace_param(self, spec, key: str, value: np.ndarray):
        """A copy of the spec with one parameter (as given) replaced: finite differences."""
        if key not in spec.params:
            raise KeyError(key)
        new = copy.copy(spec)
        setattr(new, key, value)
        return new

    # -- reporting ----------------------------------------------------------

    def settings(self, spec) -> list[tuple[str, str]]:
        """(label, value) of each setting worth showing beside the layer's name."""
        return []

    def convention(self, spec) -> str:
        """How the layer computes where textbooks differ (a kernel rotated or not, W out×in,
        the order flatten reads), as an exercise sheet states it for a hand computation; ""
        when nothing needs saying."""
        return ""

    def given_axes(self, spec, key: str, rank: int, channels_last: bool = False) -> str:
        """What the leading indices of the parameter ``key``, given with ``rank`` axes (in
        a ``channels_last`` problem's forms when it is one), name (``[f,c]``: ``filter f's
        weights over input channel c``), as an exercise sheet says it beside its grids of
        ``name.key[f,c]``; "" when a grid's index needs no words."""
        return ""

    def param_label(self, key: str) -> str:
        return self.param_labels.get(key, f"dE/d{key}")

    def param_grid_axes(self, spec, key: str) -> str:
        """The letters naming a parameter's leading axes above its grids (``"fc"``; a
        tensor with fewer leading axes takes the last letters)."""
        return self.param_axes.get(key, "nc")

    def param_grid(self, spec, key: str, array: np.ndarray) -> np.ndarray:
        """A parameter as given → the order its grids are drawn in (a channels-last kernel
        per filter and channel); as given unless the family says otherwise."""
        return array

    def input_marks(self, layer) -> np.ndarray | None:
        """bool, shaped like the layer's input (internal layout): cells a table marks (the
        max-pool winners), or None."""
        return None

    # -- work budgets (cnngrad.limits) ---------------------------------------

    def work(self, spec) -> tuple[int, str]:
        """(units of one forward and backward pass, what dominates it), from the shapes
        alone: a unit is about a nanosecond (:mod:`cnngrad.limits`).  By default a few
        operations per value in and out."""
        out = shape_size(spec.out_shape)
        ins = sum(shape_size(shape) for shape in spec.in_shapes or (spec.in_shape,))
        return 2 * out + ins, f"{out:,} values"

    def window(self, spec) -> tuple[int, ...] | None:
        """A pooling window's size (every cell of it a step of the kernels), or None."""
        return None

    def kink_cells(self, spec) -> int:
        """Cells gradcheck may have to name as kinks, each in a sentence of its own (a relu
        input at 0, a cell of a tied max-pool window): 0 for a layer that is smooth."""
        return 0

    def steps_cells(self, spec) -> int:
        """Cells of the matrices ``--show-steps`` builds and draws for this layer: by
        default its input and output, when it has a textbook route at all."""
        if type(self).textbook is LayerFamily.textbook:
            return 0
        return (sum(shape_size(shape) for shape in spec.in_shapes or (spec.in_shape,))
                + shape_size(spec.out_shape))

    # -- teaching -----------------------------------------------------------

    def explain(self, ex, what: str, path, layer, index):
        """The :class:`~cnngrad.teach.explain.Explanation` of one element: ``what`` is
        ``output``, ``delta_in`` (``index`` internal) or ``grads`` (``path.param``,
        ``path.index``).  ``ex`` is the explainer with its helpers."""
        from cnngrad.errors import UsageError

        raise UsageError(f"cannot explain {what} of a {self.type} layer", where="PATH")

    def textbook(self, layer, layout):
        """The textbook route of the layer's backward pass (``--show-steps``), or None."""
        return None

    def kinks(self, problem, layer, reach: float):
        """``(kinks, watch)``: where the layer is not differentiable near the forward pass,
        and the branches a finite-difference move must not change (None: smooth)."""
        return [], None

    def slips(self) -> list:
        """``(rank, Slip)`` of the common slips of this type (:mod:`cnngrad.teach.diagnose`
        lists every family's by rank)."""
        return []


class LossFamily:
    """One loss type: ``type``, ``fields``, ``required``, ``rational``, ``other_names``,
    ``shift_free`` and ``endless_decimals`` as for a layer."""

    type: str = ""
    fields: tuple[str, ...] = ("target",)
    required: tuple[str, ...] = ("target",)
    rational: bool = True
    #: as a layer's: other names of this loss, letters and digits in lower case
    other_names: tuple[str, ...] = ()
    #: True when its reduction (by default) is a mean, over the batch or every element: a
    #: batch of 3 makes answers of thirds, which no decimal writes
    averages: bool = False
    #: as a layer's: adding one number to every output it reads changes nothing
    shift_free: bool = False
    #: as a layer's: what gives its answers endless decimals, or None
    endless_decimals: str | None = None
    #: as a layer's: the kinds of kink it names, and what each is
    kink_kinds: dict[str, str] = {}
    smooth_kink_kinds: tuple[str, ...] = ()
    #: what a move of ±ε can change at its kinks, for gradcheck's "elements on a kink"
    #: ("a floored bce output"), or None
    kink_branch: str | None = None
    #: what it takes the last layer's output to be: "logits" (it applies ``applies`` itself,
    #: softmax or sigmoid), "log-probabilities", "probabilities", or None (any numbers)
    reads: str | None = None
    applies: str | None = None
    #: True when its target may be a class index per sample (cross_entropy, nll)
    takes_class_index: bool = False
    #: True when its target may be a probability distribution per sample, a row summing to 1
    takes_distribution: bool = False

    def build(self, ctx, raw: dict, out_shape: tuple[int, ...], layout, last_name: str):
        raise NotImplementedError

    def note_on_input(self, name: str, family: "LayerFamily") -> str | None:
        """A note for the user when the last layer (``name``, of ``family``) gives what this
        loss does not read: probabilities into a loss that applies its own softmax or
        sigmoid, or into one that reads log-probabilities.  PyTorch computes such a pair
        without a word, and so does cnngrad; the note says what E then is."""
        gives = family.gives
        if gives != "probabilities":
            return None
        if self.reads == "logits":
            # dropping the layer is the fix only where it is the loss's own function
            advice = (f"; drop {name}: {self.type} is the {self.applies} and the loss in one"
                      if family.type == self.applies else "")
            return (f"{self.type} applies its own {self.applies} to what it reads, and {name} "
                    f"({family.type}) gives probabilities already: E and every gradient are "
                    f"those of a {self.applies} of probabilities, as PyTorch computes them"
                    + advice)
        if self.reads == "log-probabilities":
            return (f"{self.type} reads log-probabilities, and {name} ({family.type}) gives "
                    f"probabilities: E is minus the mean probability of the target class, not "
                    f"a cross-entropy, as PyTorch computes it; a log-softmax layer before "
                    f"{self.type} gives its log-probabilities")
        return None

    def schema_fields(self, ref) -> dict[str, dict]:
        return {}

    def loss_and_delta(self, spec, output: np.ndarray):
        """E and dE/d(output), in the output's dtype."""
        raise NotImplementedError

    def summary(self, spec) -> str:
        """A few words for the loss line of a report (``mse, half_sum``)."""
        return self.type

    def definition(self, spec) -> str:
        """E as the contract defines it, in words a sheet can print after "The loss is
        mse: " (``E = ½ Σ (t − y)²``): a student computing E by hand needs the reduction
        and, for a classification loss, what it applies first; "" when none is written."""
        return ""

    def batch_averaged(self, spec) -> bool:
        """Whether E is a mean over the batch (of the samples, or of every element), so that a
        gradient divided by N once more is a mean taken twice, not a mean for a sum."""
        return self.averages and getattr(spec, "reduction", "mean") == "mean"

    def report_tensors(self, spec, output: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(title, tensor in the output's internal layout) of what a report shows under the
        loss line: cross_entropy's softmax probabilities; [] for none."""
        return []

    def report_notes(self, spec, output: np.ndarray) -> list[str]:
        """Lines a report prints under the loss line about this output (bce's clamp where
        y is 0 or 1); [] for none."""
        return []

    def explain_loss(self, ex, path):
        raise NotImplementedError

    def explain_gradient(self, ex, path, layer, index, lhs: str, symbols: dict):
        raise NotImplementedError

    def slips(self) -> list:
        return []

    def kinks(self, problem, output: np.ndarray):
        """``(kinks, watch)`` as a layer's (:meth:`LayerFamily.kinks`) for the loss at the
        network's float ``output`` (internal layout): where the gradient the engine reports
        is not the slope of E (bce's floored denominator); ``([], None)`` for none."""
        return [], None

    #: A branch of E that a finite-difference move of the output can cross, as gradcheck
    #: names it: (in a list of branches, after "a move changes a branch:", what a move
    #: takes the output to), or None for none (bce: its clamped logs).
    move_branch: tuple[str, str] | None = None


__all__ = ["Head", "LayerFamily", "LossFamily"]


def through_padding_words(through: int, per_filter: bool, tap: str) -> str:
    """The end of a conv input delta's first note: the terms through padded cells that copy
    the cell (reflect, replicate, circular padding), ``through`` of them a filter, on top of
    the direct terms the index rule counts (``tap``: "(m, n)" or "m")."""
    if not through:
        return "."
    if through == 1:
        whose = "each filter's term" if per_filter else "the term"
        return f"; {whose} through a padding cell comes on top, by that cell's own {tap}."
    many = f"{through} terms a filter" if per_filter else f"the {through} terms"
    return f"; {many} through padding cells come on top, each by its padded cell's own {tap}."
