"""The operations ``cnngrad verify`` can hold a user's function to: for each, the signature it
calls, its battery of edge cases, cnngrad's answer, and the answers of its classic slips.

Everything here is in cnngrad's own layout (channels first, weights as PyTorch stores them);
:mod:`cnngrad.verify.styles` turns a case into the user's call and cnngrad's answers into the
user's layout.  A slip is another way to compute an output — the way a student who made that
slip would have — so a wrong answer is named by the slip whose answer it equals.

Cases are generated from a seeded ``numpy.random.Generator(PCG64(seed))``; tensors hold small
integers (stored as float64) wherever the operation is linear in them, so a diff grid reads
at a glance and a slip's answer is exact.  Each such op also has one case of odd halves
(±0.5 … ±3.5, still exact): whole numbers alone would pass code that truncates to int (an
integer accumulator, ``.astype(int)``).  Its values are drawn after the others', which stay
as they were; after it, one case of values float16 cannot hold (:func:`_fine`), which float32
does, tells code that computes in float16.  The battery is sorted smallest first, that case
last.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from cnngrad.layers._common import conv_output_size

__all__ = ["OPS", "Case", "Alternative", "Op", "Options", "battery"]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Options:
    """What the user declares about their implementation."""

    ties: str = "first"  # max-pool tie rule: first | split | all
    eps: float = 1e-5  # batch norm's ε


@dataclass
class Case:
    """One call of the battery: hyperparameters and input tensors, in cnngrad's layout.

    ``corner`` says which edge of the operation the case reaches ("stride 2, leftover
    column") and names every setting not left at PyTorch's default (a pool's window always),
    since the list of cases shows nothing else of the case; ``square`` and ``padded`` let a
    calling style skip the cases its signature cannot express (square kernels only, no
    padding)."""

    corner: str
    params: dict
    arrays: dict
    square: bool = True
    index: int = 0
    #: a case of values float16 cannot hold (:func:`_fine`), listed after the others: its
    #: failure says only that the code lost digits, the others' say more
    fine: bool = False

    @property
    def size(self) -> int:
        return sum(int(a.size) for a in self.arrays.values())

    @property
    def padded(self) -> bool:
        pad = self.params.get("padding", 0)
        return any(np.atleast_1d(pad)) or bool(self.params.get("output_padding", 0))

    def describe(self, op: "Op", shape=None, label=None) -> str:
        """``x 1×2×5×5, w 3×2×3×3, stride 2, padding 1``; ``shape(name, array)`` gives a
        tensor's shape as the user sees it (default cnngrad's layout), ``label(name)`` its
        name (default cnngrad's)."""
        shape = shape or (lambda name, array: array.shape)
        label = label or (lambda name: name)
        parts = [f"{label(name)} {'×'.join(map(str, shape(name, self.arrays[name])))}"
                 for name in op.shown_arrays]
        parts += [f"{key.replace('_', ' ')} {_value_words(value)}"
                  for key, value in self.params.items()]
        return ", ".join(parts)


def _value_words(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return str(value)


@dataclass(frozen=True)
class Alternative:
    """A slip's answer for some outputs of one case (cnngrad's layout).

    ``absent`` is for a slip of an output never computed (its answer all zeros): what that
    means, said where the output comes back None or is left out of the return instead."""

    name: str
    description: str
    outputs: dict
    absent: str | None = None


@dataclass(frozen=True)
class Op:
    """One operation: what it calls, on what, and how cnngrad answers."""

    name: str
    summary: str
    signature: str  # the plain call, as documented
    inputs: tuple[str, ...]  # the plain call's arguments in order (tensors and ints)
    outputs: tuple[str, ...]
    axes: dict  # tensor name -> axis names in cnngrad's layout
    channels_last: dict  # tensor name -> permutation to the channels-last layout
    cases: Callable[[np.random.Generator, Options], list[Case]]
    reference: Callable[[Case, Options], dict]
    slips: Callable[[Case, Options, dict], Iterator[Alternative]]
    shown_arrays: tuple[str, ...] = ()
    layout_words: dict = field(default_factory=dict)  # layout -> how the tensors are laid out
    #: the Options the report's header repeats, each with its flag: those the answer
    #: depends on beyond the call (a max pool's tie rule, --ties)
    header_options: tuple[str, ...] = ()
    #: the likeliest cause of a nan or inf that no slip explains, in this op's code
    nonfinite_cause: str = ("an array made with np.empty and not every cell written, or one "
                            "changed in place after being shared (b = a without .copy())")

    @property
    def single(self) -> bool:
        return len(self.outputs) == 1


def battery(op: Op, seed: int = 0, options: Options = Options()) -> list[Case]:
    """The op's cases from ``seed``, smallest first, numbered from 1."""
    rng = np.random.Generator(np.random.PCG64(seed))
    # by the size of the inputs that set the work (x and w), the listed order breaking ties
    cases = sorted(op.cases(rng, options),
                   key=lambda case: (case.fine,
                                     sum(case.arrays[name].size for name in op.shown_arrays)))
    for number, case in enumerate(cases, start=1):
        case.index = number
    return cases


def _ints(rng: np.random.Generator, shape, low: int = -4, high: int = 4) -> np.ndarray:
    # small integers: an exact float64 answer, a diff grid that reads at a glance
    return rng.integers(low, high + 1, size=shape).astype(np.float64)


def _halves(rng: np.random.Generator, shape) -> np.ndarray:
    # odd halves, ±0.5 … ±3.5: none whole, every product a quarter (exact in float64), so an
    # integer array or int() that drops the fractions changes the answer
    return rng.integers(-4, 4, size=shape) + 0.5


def _with_value_kinds(geometries, halves, fine) -> list:
    """(geometry, how its values are drawn): the whole-number ones, then the case of odd
    halves, then the case of values float16 cannot hold (:func:`_fine`), each drawn after
    the ones before so that those stay as they were."""
    return [(g, _ints) for g in geometries] + [(halves, _halves), (fine, _fine)]


#: The start of the corner of every op's case of values float16 cannot hold.
FINE_CORNER = "values float16 cannot hold"


def _fine(rng: np.random.Generator, shape) -> np.ndarray:
    """Distinct odd multiples of 2⁻¹² between 0.5 and 1, either sign: twelve significant bits,
    one more than float16 holds (it rounds each by up to 2.4e-4 of itself, far past the
    tolerances), and float32 holds them exactly; under 1, so that float32's rounding of a
    few products and sums stays within the tolerances too."""
    count = int(np.prod(shape))
    magnitudes = (2048 + 2 * rng.choice(1024, size=count, replace=False) + 1) / 4096
    return (magnitudes * rng.choice([-1.0, 1.0], size=count)).reshape(shape)


def _distinct(rng: np.random.Generator, shape) -> np.ndarray:
    """Distinct values (no ties anywhere): the integers around 0, shuffled."""
    count = int(np.prod(shape))
    return (rng.permutation(count) - count // 2).astype(np.float64).reshape(shape)


def _rot180(w: np.ndarray) -> np.ndarray:
    return w[..., ::-1, ::-1]


# --------------------------------------------------------------------------- conv2d

_CONV2D_GEOMETRIES = (
    # corner, N, C, F, H, W, kh, kw, stride, padding
    ("1×1 kernel", 1, 1, 1, 3, 3, 1, 1, 1, 0),
    ("2×2 kernel", 1, 1, 1, 3, 3, 2, 2, 1, 0),
    ("3×3 kernel, padding 1", 1, 1, 1, 4, 4, 3, 3, 1, 1),
    ("stride 2, a leftover row and column", 1, 1, 1, 5, 5, 2, 2, 2, 0),
    ("non-square kernel 2×3, non-square input", 1, 1, 1, 4, 5, 2, 3, 1, 0),
    ("1×1 kernel, stride 2 (subsampling)", 1, 1, 1, 5, 6, 1, 1, 2, 0),
    ("stride 3, leftover rows and columns", 1, 1, 1, 8, 7, 3, 3, 3, 0),
    ("2 channels, 3 filters, stride 2, padding 1", 1, 2, 3, 5, 5, 3, 3, 2, 1),
    ("batch of 3, 2 channels, 2 filters, padding 1", 3, 2, 2, 4, 5, 2, 2, 1, 1),
    ("non-square kernel 3×2, stride 2, padding 1", 1, 2, 2, 6, 7, 3, 2, 2, 1),
    ("batch of 3, stride 3, padding 1, leftover", 3, 3, 2, 7, 8, 2, 3, 3, 1),
    ("5×5 kernel, padding 2", 1, 2, 2, 6, 6, 5, 5, 1, 2),
    ("batch of 3, 3 channels, 4 filters, stride 2, padding 2", 3, 3, 4, 9, 8, 3, 3, 2, 2),
)
#: The case of non-whole values (a square kernel: every style takes it).
_CONV2D_HALVES = ("non-whole values, batch of 2, 2 channels, stride 2, padding 1",
                  2, 2, 2, 5, 5, 3, 3, 2, 1)
#: The case of values float16 cannot hold: few terms a sum, as float32 keeps them exact enough.
_CONV2D_FINE = (f"{FINE_CORNER}, 2 channels, 2 filters, stride 2", 1, 2, 2, 4, 4, 2, 2, 2, 0)


def _conv2d_cases(rng, options, *, forward: bool) -> list[Case]:
    cases = []
    geometries = _with_value_kinds(_CONV2D_GEOMETRIES, _CONV2D_HALVES, _CONV2D_FINE)
    for (corner, n, c, f, h, w, kh, kw, s, p), values in geometries:
        h_out = conv_output_size(h, p, p, kh, s)
        w_out = conv_output_size(w, p, p, kw, s)
        arrays = {"x": values(rng, (n, c, h, w)), "w": values(rng, (f, c, kh, kw)),
                  "b": values(rng, (f,))}
        if not forward:
            arrays["delta"] = values(rng, (n, f, h_out, w_out))
        cases.append(Case(corner, {"stride": s, "padding": p}, arrays, square=kh == kw,
                          fine=values is _fine))
    return cases


def _conv2d_forward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.conv import conv2d_forward

    a, p = case.arrays, case.params
    return {"y": conv2d_forward(a["x"], a["w"], a["b"], p["stride"], p["padding"])}


def _conv2d_forward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers.conv import conv2d_forward

    a, s, p = case.arrays, case.params["stride"], case.params["padding"]
    x, w, b = a["x"], a["w"], a["b"]
    yield Alternative("convolution_kind", "matches true convolution (the kernel rotated by "
                      "180°) instead of cross-correlation",
                      {"y": conv2d_forward(x, _rot180(w), b, s, p)})
    if s > 1:
        yield Alternative("stride_ignored", "matches the stride ignored (windows at every "
                          "position)", {"y": conv2d_forward(x, w, b, 1, p)})
    yield from _strided_slice_ignored(lambda xs, st: conv2d_forward(xs, w, b, st, p), x, s,
                                      truth["y"])
    if p > 0:
        yield Alternative("padding_ignored", "matches the input not padded",
                          {"y": conv2d_forward(x, w, b, s, 0)})
    yield Alternative("bias_missing", "matches the bias not added",
                      {"y": conv2d_forward(x, w, None, s, p)})
    if w.shape[2] == w.shape[3]:
        yield Alternative("kernel_transposed", "matches the kernel transposed (w[.., q, p] "
                          "for w[.., p, q])",
                          {"y": conv2d_forward(x, w.swapaxes(2, 3), b, s, p)})


def _conv2d_backward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.conv import conv2d_backward

    a, p = case.arrays, case.params
    dx, dw, db = conv2d_backward(a["x"], a["w"], a["delta"], p["stride"], p["padding"])
    return {"dx": dx, "dw": dw, "db": db}


def _conv_spec(w: np.ndarray, stride: int, padding: int):
    """A one-layer problem's conv spec, so that check's own slip functions apply."""
    from cnngrad.families.conv2d import Conv2dSpec

    return Conv2dSpec(index=0, name="conv2d_1", type="conv2d", where="", kernel=w, weight=w,
                      bias=np.zeros(w.shape[0]), bias_kind="filter", stride=(stride, stride),
                      padding=(padding,) * 4)


#: The words of a bias gradient never computed: left at zeros, None, or left out.
BIAS_FORGOTTEN = "the bias gradient never computed"


def _bias_slips(delta: np.ndarray, name: str = "db",
                axes_names: tuple[str, ...] = ("N", "F", "H'", "W'")) -> Iterator[Alternative]:
    """The classic bias-gradient slips for a per-filter bias over (N, F, ...) deltas, whose
    axes are called ``axes_names``."""
    yield Alternative("bias_forgotten", f"matches zeros: {BIAS_FORGOTTEN}",
                      {name: np.zeros(delta.shape[1])}, absent=BIAS_FORGOTTEN)
    spatial = tuple(range(2, delta.ndim))
    if spatial:  # a dense layer's delta summed over no position is not_summed_over_batch
        yield Alternative("bias_not_summed", "matches the upstream delta itself: the bias "
                          "gradient is that delta summed over the batch and every position, "
                          "one number per filter", {name: delta})
    yield Alternative("bias_not_summed_over_batch", "matches the bias gradient not summed "
                      "over the batch (one row per image)", {name: delta.sum(axis=spatial)})
    if delta.shape[0] > 1:
        per_image = tuple(a - 1 for a in spatial)
        yield Alternative("bias_first_image_only", "matches the bias gradient of the first "
                          "image only", {name: delta[0].sum(axis=per_image)})
        yield Alternative("bias_last_image_only", "matches the bias gradient of the last "
                          "image only (= where += was needed in the loop over images)",
                          {name: delta[-1].sum(axis=per_image)})
    if spatial and np.prod(delta.shape[2:]) > 1:
        yield Alternative("bias_per_position", "matches the bias gradient per position "
                          "instead of summed over them", {name: delta.sum(axis=0)})
    # a mean differs from the sum; over the batch alone (a dense layer's) it is batch_mean
    if delta.size > delta.shape[1] and spatial:
        every = (0,) + spatial
        yield Alternative("bias_averaged", "matches the bias gradient averaged over the batch "
                          "and positions (np.mean) instead of summed: each position adds its "
                          "delta", {name: delta.mean(axis=every)})
    yield from _summed_over_other_axes({name: delta}, axes_names, skip=(spatial, (0,)))


def _summed_over_other_axes(summands: dict, axes_names: tuple[str, ...],
                            skip=()) -> Iterator[Alternative]:
    """Per-channel gradients (db, dβ: the delta summed; dγ: δ·x̂ summed) summed over another
    set of axes than all but the channels' (``np.sum(.., axis=(0, 2))`` for ``(0, 2, 3)``),
    with or without keepdims; ``skip``: the sets another slip names.  The axes are said by
    name (``axes_names``, cnngrad's layout), as their numbers differ between layouts."""
    ndim = next(iter(summands.values())).ndim
    right = tuple(a for a in range(ndim) if a != 1)

    def words(axes):
        named = [axes_names[a] for a in axes]
        return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    for count in range(1, ndim + 1):
        for axes in itertools.combinations(range(ndim), count):
            if axes == right or axes in skip:
                continue
            description = (f"matches a sum over {words(axes)} where the sum over "
                           f"{words(right)} was needed")
            for keepdims in (False, True):
                sums = {name: summand.sum(axis=axes, keepdims=keepdims)
                        for name, summand in summands.items()}
                yield Alternative("summed_over_other_axes", description, sums)
                # channels last (nhwc): the channel axis comes after the others kept
                channel = 1 if keepdims else 1 - sum(a < 1 for a in axes)
                if 1 not in axes and 0 <= channel < next(iter(sums.values())).ndim - 1:
                    yield Alternative("summed_over_other_axes", description,
                                      {name: np.moveaxis(value, channel, -1)
                                       for name, value in sums.items()})


#: The words of dx cropped with ``[p:-p]``, which at padding 0 is empty (−0 is 0).
CROPPED_TO_NOTHING = ("matches the padding cropped with [p:-p], which is empty at padding 0 "
                      "(-0 is 0): crop with [p:p + H] and [p:p + W]")


def _cropped_to_nothing(x: np.ndarray) -> Alternative:
    """The padding cropped with a negative end, ``[p:-p]``: right for p > 0, empty at p = 0."""
    return Alternative("padding_cropped_to_nothing", CROPPED_TO_NOTHING,
                       {"dx": x[:, :, :0, :0]})


def _rotation_words(turn: str, turned: str) -> str:
    """The kernel_not_rotated slip of conv2d ("180° rotation", "rotated") and conv1d
    ("reversal", "reversed"): the same numbers come from a full correlation that left the
    kernel as it is and from a loop adding w·delta into each window that turned it."""
    return (f"matches the kernel's {turn} left out of the full correlation of the padded "
            f"delta (w where w {turned} was needed), or put into a loop that adds w·delta "
            f"into each window, which needs none")


def _conv2d_backward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.families.conv2d import _undilated_conv_backward
    from cnngrad.layers.conv import conv2d_backward, pad2d
    from cnngrad.teach.diagnose import engine_backward

    a, s, p = case.arrays, case.params["stride"], case.params["padding"]
    x, w, delta = a["x"], a["w"], a["delta"]
    spec = _conv_spec(w, s, p)
    # check's slip: the backward step with the kernel the other way round
    flipped_dx, _ = engine_backward(spec)(_toggled(spec), x, None, delta)
    yield Alternative("kernel_not_rotated", _rotation_words("180° rotation", "rotated"),
                      {"dx": flipped_dx})
    # np.rot90(w, 2) turns axes 0 and 1 (F and C), np.flip(w) every axis: the filters and
    # channels come reversed, the taps not rotated or rotated.  With one filter and one
    # channel that is the kernel not rotated (or the right answer), which the slip still is
    reversed_spec = _conv_spec(w[::-1, ::-1], s, p)
    words = ("matches the kernel's filter and channel axes reversed (np.rot90(w, 2) or "
             "np.flip(w) turn axes 0 and 1 too): rotate the last two axes only, "
             "np.rot90(w, 2, axes=(2, 3))")
    for toggled in (False, True):
        turned = _toggled(reversed_spec) if toggled else reversed_spec
        yield Alternative("kernel_axes_wrong", words,
                          {"dx": engine_backward(reversed_spec)(turned, x, None, delta)[0]})
    if s > 1:
        undilated_dx, undilated = _undilated_conv_backward(spec, x, None, delta)
        yield Alternative("delta_not_dilated",
                          f"matches delta not dilated for stride {s} (the stride ignored in "
                          "dx: each delta put back at i instead of i·s)",
                          {"dx": undilated_dx})
        yield Alternative("stride_ignored", f"matches the stride {s} ignored in dw (x read "
                          "at i + m instead of i·s + m)", {"dw": undilated["kernel"]})
    if p > 0:
        dx_padded = conv2d_backward(pad2d(x, p), w, delta, s, 0)[0]
        h, wd = x.shape[2:]
        yield Alternative("padding_not_cropped", f"matches dx with its padding of {p} not "
                          "cropped off", {"dx": dx_padded})
        yield Alternative("padding_cropped_wrong", "matches the padding cropped from the "
                          "bottom and right only (dx_padded[:H, :W])",
                          {"dx": dx_padded[:, :, :h, :wd]})
        for shift in (1, -1):  # the crop one cell off, as the loops' bounds often are
            start = p + shift
            yield Alternative("padding_cropped_off_by_one", f"matches dx cropped one cell "
                              f"off (dx_padded[{start}:{start}+H, {start}:{start}+W] for "
                              f"[{p}:{p}+H, {p}:{p}+W])",
                              {"dx": dx_padded[:, :, start:start + h, start:start + wd]})
    else:
        yield _cropped_to_nothing(x)
    if w.shape[2] == w.shape[3]:
        dx_t, _, _ = conv2d_backward(x, w.swapaxes(2, 3), delta, s, p)
        yield Alternative("kernel_transposed", "matches the kernel transposed (w[.., q, p] "
                          "for w[.., p, q]) in dx", {"dx": dx_t})
    if x.shape[0] > 1:
        first = conv2d_backward(x[:1], w, delta[:1], s, p)
        yield Alternative("first_image_only", "matches the gradient of the first image only "
                          "(the batch not summed)", {"dw": first[1]})
        last = conv2d_backward(x[-1:], w, delta[-1:], s, p)
        yield Alternative("last_image_only", "matches the gradient of the last image only "
                          "(dw reset to zeros inside the loop over images: each image's sum "
                          "replaces the one before)", {"dw": last[1]})
    if w.shape[0] > 1:
        only_last = conv2d_backward(x, w[-1:], delta[:, -1:], s, p)[0]
        yield Alternative("last_filter_only", "matches dx from the last filter only (dx "
                          "set, not added to, in the loop over filters: each filter's "
                          "share replaces the one before)", {"dx": only_last})
    yield _assigned_not_added(x, w, delta, s, p)
    yield from _col2im_assigned(x, w, delta, s, p)
    yield from _delta_reshaped_not_transposed(x, w, delta, s, p, truth)
    yield from _bias_slips(delta)


def _assigned_not_added(x: np.ndarray, w: np.ndarray, delta: np.ndarray, s: int,
                        p: int) -> Alternative:
    """Each gradient written with ``=`` where ``+=`` was needed, in a hand-written backward
    pass's loops (images, then output rows and columns, with filters inside or outside
    them: the same last write): only the last term of each sum is left.  db is the last
    image's delta at the last position; dw that term, δ times the last window of the last
    image; each cell of dx the last window over it, of the last filter."""
    from cnngrad.layers.conv import pad2d

    h, width = x.shape[2:]
    kh, kw = w.shape[2:]
    rows, cols = delta.shape[2:]
    padded = pad2d(x, p)
    top, left = (rows - 1) * s, (cols - 1) * s
    last = delta[-1, :, -1, -1]
    dw = last[:, None, None, None] * padded[-1, None, :, top:top + kh, left:left + kw]
    dx_padded = np.zeros_like(padded)
    for i in range(rows):  # in reading order: a later window overwrites an earlier one
        for j in range(cols):
            dx_padded[:, :, i * s:i * s + kh, j * s:j * s + kw] = \
                w[-1][None] * delta[:, -1, i, j][:, None, None, None]
    return Alternative("assigned_not_added", "matches = where += was needed in the loops "
                       "(each sum left with its last term only)",
                       {"dx": dx_padded[:, :, p:p + h, p:p + width], "dw": dw,
                        "db": last.copy()})


def _delta_reshaped_not_transposed(x: np.ndarray, w: np.ndarray, delta: np.ndarray, s: int,
                                   p: int, truth: dict) -> Iterator[Alternative]:
    """An im2col backward pass whose delta matrix is a plain reshape of delta where its filter
    axis had to be moved first, in either orientation.  Filters as rows, ``delta.reshape(F,
    -1)`` (the images' values read as filters') where ``delta.transpose(1, 0, 2, 3).reshape(F,
    -1)`` was needed for columns in (image, row, column) order, ``delta.transpose(1, 2, 3, 0)``
    for CS231n's (row, column, image); or filters as columns, ``delta.reshape(-1, F)`` (each
    row F values along a map) where ``delta.transpose(0, 2, 3, 1).reshape(-1, F)`` was needed
    for rows in (image, row, column) order, ``delta.transpose(2, 3, 0, 1)`` for (row, column,
    image).  dw, db (the matrix summed over its positions) and dx = col2im(wᵀ · δ) all read
    it; an output the reshape leaves right (one image, one filter) is left out."""
    from cnngrad.layers.conv import _col2im, _im2col, pad2d

    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    rows, cols = delta.shape[2:]
    # im2col's windows of the padded input: [n, c, m, q, i, j] = x_padded[n, c, i·s + m, j·s + q]
    windows = np.empty((n, c, kh, kw, rows, cols), x.dtype)
    _im2col(pad2d(x, p), (s, s), (1, 1), (0, 0), windows)
    by_rows = ("delta.reshape(F, -1)", delta.reshape(f, -1), "the images' values read as "
               "the filters'", (("(image, row, column)", "delta.transpose(1, 0, 2, 3)"
                                 ".reshape(F, -1)"),
                                ("(row, column, image)", "delta.transpose(1, 2, 3, 0)"
                                 ".reshape(F, -1)")))
    by_columns = ("delta.reshape(-1, F)", delta.reshape(-1, f).T, "each row F values along "
                  "a map, not one from each filter", (("(image, row, column)",
                                                       "delta.transpose(0, 2, 3, 1)"
                                                       ".reshape(-1, F)"),
                                                      ("(row, column, image)",
                                                       "delta.transpose(2, 3, 0, 1)"
                                                       ".reshape(-1, F)")))
    for (reshaped, delta_mat, what, needs), where in zip((by_rows, by_columns),
                                                         ("first", "last")):
        for order, needed in zip(((1, 2, 3, 0, 4, 5), (1, 2, 3, 4, 5, 0)), needs):
            laid = windows.transpose(order)  # (C, kh, kw, then the positions' axes)
            dw = (delta_mat @ laid.reshape(c * kh * kw, -1).T).reshape(w.shape)
            dcols = (w.reshape(f, -1).T @ delta_mat).reshape(laid.shape)
            dcols = dcols.transpose(np.argsort(order))  # back to (N, C, kh, kw, H', W')
            dx_padded = np.zeros((n, c, h + 2 * p, width + 2 * p), dw.dtype)
            _col2im(dcols, (s, s), (1, 1), (0, 0), dx_padded)
            outputs = {"dw": dw, "dx": dx_padded[:, :, p:p + h, p:p + width]}
            outputs = {name: value for name, value in outputs.items()
                       if not np.allclose(value, truth[name])}
            if outputs:
                yield Alternative("delta_reshaped_not_transposed",
                                  f"matches {reshaped} where {needed[1]} was needed for "
                                  f"positions in {needed[0]} order: {what}", outputs)
        # db, the matrix summed over its positions, is the same in either order of them
        db = delta_mat.sum(axis=1)
        if not np.allclose(db, truth["db"]):
            yield Alternative("delta_reshaped_not_transposed",
                              f"matches {reshaped} summed over the positions, where the "
                              f"filter axis had to be moved {where}: {what} (or "
                              f"delta.sum(axis=(0, 2, 3)))", {"db": db})


def _col2im_assigned(x: np.ndarray, w: np.ndarray, delta: np.ndarray, s: int,
                     p: int) -> Iterator[Alternative]:
    """dx by im2col's transpose, its col2im written with ``=`` where ``+=`` was needed: the
    column deltas (wᵀ · δ, every filter summed) are right, but where windows overlap each
    cell keeps only the last write.  A col2im loops over the windows (output rows, then
    columns) or over the taps (a strided slice of every window at once); each order leaves
    a different last write."""
    n, c, h, width = x.shape
    kh, kw = w.shape[2:]
    rows, cols = delta.shape[2:]
    # the column deltas: (N, C, kh, kw, H', W'), each summed over the filters
    dcols = np.einsum("fcpq,nfij->ncpqij", w, delta)
    by_window = np.zeros((n, c, h + 2 * p, width + 2 * p), dcols.dtype)
    for i in range(rows):
        for j in range(cols):
            by_window[:, :, i * s:i * s + kh, j * s:j * s + kw] = dcols[:, :, :, :, i, j]
    by_tap = np.zeros_like(by_window)
    for m in range(kh):
        for q in range(kw):
            by_tap[:, :, m:m + s * (rows - 1) + 1:s, q:q + s * (cols - 1) + 1:s] = \
                dcols[:, :, m, q]
    words = ("matches col2im written with = where += was needed (dx_padded[window] = dcols "
             "for +=): where windows overlap, each cell keeps one window's delta")
    for dx_padded in (by_window, by_tap):
        yield Alternative("col2im_assigned", words,
                          {"dx": dx_padded[:, :, p:p + h, p:p + width]})


def _toggled(spec):
    import dataclasses

    return dataclasses.replace(spec, flip_kernel=not spec.flip_kernel)


# --------------------------------------------------------------------------- pooling

_POOL_GEOMETRIES = (
    # corner, N, C, H, W, size (int: square), stride, padding, ties
    ("2×2 window, stride 2", 1, 1, 4, 4, 2, 2, 0, False),
    ("1×1 window, stride 2 (subsampling)", 1, 1, 3, 3, 1, 2, 0, False),
    ("2×2 window, stride 2, a leftover row and column", 1, 1, 5, 5, 2, 2, 0, False),
    ("ties: tied maxima in a 2×2 window, stride 2", 1, 1, 4, 4, 2, 2, 0, True),
    ("3×3 window, stride 2: overlapping windows", 1, 1, 5, 5, 3, 2, 0, False),
    ("2×3 window (non-square), stride 2", 1, 1, 4, 6, (2, 3), 2, 0, False),
    ("2×2 window, stride 3, leftover rows and columns", 1, 1, 8, 7, 2, 3, 0, False),
    ("3×3 window, stride 2, padding 1", 1, 1, 4, 5, 3, 2, 1, False),
    ("batch of 3, 2 channels, 2×2 window, stride 2", 3, 2, 5, 4, 2, 2, 0, False),
    ("ties in overlapping 3×3 windows, stride 2", 1, 2, 5, 5, 3, 2, 0, True),
    ("3×2 window, stride 1 (non-square, overlapping)", 1, 2, 5, 5, (3, 2), 1, 0, False),
    ("ties, batch of 3, 2×2 window, stride 2, padding 1", 3, 2, 6, 6, 2, 2, 1, True),
    ("batch of 3, 3 channels, 3×3 window, stride 3, padding 1", 3, 3, 7, 8, 3, 3, 1, False),
)
#: The case of non-whole values (square windows, no padding: every style takes it).
_POOL_HALVES = ("non-whole values, batch of 2, 2 channels, 3×3 windows, stride 2",
                2, 2, 5, 5, 3, 2, 0, False)
_POOL_FINE = (f"{FINE_CORNER}, 2 channels, 2×2 window, stride 2", 1, 2, 4, 4, 2, 2, 0, False)


def _pool_cases(rng, options, *, forward: bool, kind: str) -> list[Case]:
    from cnngrad.layers._common import pair, pool_output_size

    cases = []
    for corner, n, c, h, w, size, s, p, ties in _POOL_GEOMETRIES + (_POOL_HALVES, _POOL_FINE):
        if ties and kind == "avg":
            continue
        kh, kw = pair(size)
        halves = corner == _POOL_HALVES[0]
        fine = corner == _POOL_FINE[0]
        if ties:  # few distinct values: most windows hold a tie
            x = _ints(rng, (n, c, h, w), 0, 2)
        elif kind == "max" and fine:  # distinct, each with 13 bits of fraction
            x = _distinct(rng, (n, c, h, w)) + (2 * rng.integers(1024, 2048, (n, c, h, w))
                                                + 1) / 8192
        elif kind == "max":  # no ties anywhere: any tie rule gives the same answer
            x = _distinct(rng, (n, c, h, w)) + (0.5 if halves else 0.0)
        else:
            x = (_fine if fine else _halves if halves else _ints)(rng, (n, c, h, w))
        if kind == "max" and p and not ties:
            # one map all below 0: a padding of zeros then wins every window that reaches
            # it, whatever the seed (with values of both signs some seeds hid that slip)
            x[0, 0] -= np.ceil(x[0, 0].max()) + 1
        arrays = {"x": x}
        if not forward:
            shape = (n, c, pool_output_size(h, p, kh, s, False),
                     pool_output_size(w, p, kw, s, False))
            # a delta of all-distinct nonzero values: a misplaced one never hides
            arrays["delta"] = _fine(rng, shape) if fine else _distinct(rng, shape) + 0.5
        cases.append(Case(corner, {"size": size, "stride": s, "padding": p}, arrays,
                          square=kh == kw, fine=fine))
    return cases


def _pool_args(case: Case) -> tuple:
    p = case.params
    return p["size"], p["stride"], p["padding"]


def _maxpool_forward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.pool import maxpool2d_forward

    return {"y": maxpool2d_forward(case.arrays["x"], *_pool_args(case))}


def _avgpool_forward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.pool import avgpool2d_forward

    return {"y": avgpool2d_forward(case.arrays["x"], *_pool_args(case))}


def _maxpool_backward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.pool import maxpool2d_backward

    a = case.arrays
    return {"dx": maxpool2d_backward(a["x"], a["delta"], *_pool_args(case), ties=options.ties)}


def _avgpool_backward_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.pool import avgpool2d_backward

    a = case.arrays
    return {"dx": avgpool2d_backward(a["x"], a["delta"], *_pool_args(case))}


def _padded(x: np.ndarray, pad: int, fill: float) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=fill)


def _stride_ignored_backward(x, delta, size, pad, fill, backward) -> np.ndarray:
    """dx when window (i, j) is read at (i, j) instead of (i·s, j·s): the pool backward with
    stride 1 over the top-left corner of the padded input that many windows cover."""
    from cnngrad.layers._common import pair

    kh, kw = pair(size)
    rows, cols = delta.shape[2] + kh - 1, delta.shape[3] + kw - 1
    x_padded = _padded(x, pad, fill)
    full = np.zeros(x_padded.shape)
    full[:, :, :rows, :cols] = backward(x_padded[:, :, :rows, :cols], delta, size, 1, 0)
    h, w = x.shape[2:]
    return full[:, :, pad:pad + h, pad:pad + w]


def _written_without_stride(x, delta, size, stride, pad, ties: str) -> np.ndarray:
    """Max-pool dx when each window is read at (i·s, j·s) but its delta is written back at
    (i, j): the maximum found in the right window, put in the wrong place (``dx[i + r, j +
    c] += δ`` after an argmax of ``x[i·s:i·s + k, j·s:j·s + k]``)."""
    from cnngrad.layers._common import pair
    from cnngrad.layers.pool import maxpool2d_backward

    kh, kw = pair(size)
    x_padded = _padded(x, pad, -np.inf)
    dx_padded = np.zeros(x_padded.shape)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            window = x_padded[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            dx_padded[:, :, i:i + kh, j:j + kw] += maxpool2d_backward(
                window, delta[:, :, i:i + 1, j:j + 1], size, 1, 0, ties=ties)
    h, w = x.shape[2:]
    return dx_padded[:, :, pad:pad + h, pad:pad + w]


def _one_maximum_each(x, delta, kh: int, kw: int, s: int, p: int, *, last: bool = False,
                      assigned: bool = False) -> np.ndarray:
    """Max-pool dx with each window's delta at one maximum of the window: its first in
    reading order, or its ``last`` (a scan keeping ``>=``); added, or ``assigned`` window
    after window in reading order (``dx[max] = δ``: where windows overlap, the last window's
    delta stays at a shared maximum)."""
    x_padded = _padded(x, p, -np.inf)
    dx_padded = np.zeros(x_padded.shape)
    n, c = np.indices(x.shape[:2])
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            window = x_padded[:, :, i * s:i * s + kh, j * s:j * s + kw]
            cells = window.reshape(*window.shape[:2], -1)
            found = (cells.shape[2] - 1 - cells[:, :, ::-1].argmax(axis=2) if last
                     else cells.argmax(axis=2))
            rows, cols = np.divmod(found, window.shape[3])
            at = (n, c, i * s + rows, j * s + cols)
            if assigned:
                dx_padded[at] = delta[:, :, i, j]
            else:
                np.add.at(dx_padded, at, delta[:, :, i, j])
    h, w = x.shape[2:]
    return dx_padded[:, :, p:p + h, p:p + w]


def _window_assigned(x: np.ndarray, delta: np.ndarray, kh: int, kw: int, s: int, p: int,
                     ties: str) -> np.ndarray:
    """dx when each window writes its mask·δ over the whole window, row-major, with =: the
    course's ``dA_prev[window] = mask * dA`` where windows overlap.  A window's mask is the
    library's max pool backward of that window alone, under the user's tie rule."""
    from cnngrad.layers.pool import maxpool2d_backward

    dx_padded = np.zeros(x.shape[:2] + (x.shape[2] + 2 * p, x.shape[3] + 2 * p))
    padded = _padded(x, p, -np.inf)
    ones = np.ones(x.shape[:2] + (1, 1))
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            window = padded[:, :, i * s:i * s + kh, j * s:j * s + kw]
            mask = maxpool2d_backward(window, ones, (kh, kw), 1, 0, ties=ties)
            dx_padded[:, :, i * s:i * s + kh, j * s:j * s + kw] = \
                mask * delta[:, :, i:i + 1, j:j + 1]
    h, w = x.shape[2:]
    return dx_padded[:, :, p:p + h, p:p + w]


def _tie_slips(options: Options) -> Iterator[tuple[str, str]]:
    from cnngrad.teach.diagnose import SLIPS

    for rule in ("first", "split", "all"):
        if rule != options.ties:
            yield rule, (f"{SLIPS['ties_' + rule].description} (if that is your rule, "
                         f"say --ties {rule})")


def _maxpool_backward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers._common import pair
    from cnngrad.layers.pool import avgpool2d_backward, maxpool2d_backward

    x, delta = case.arrays["x"], case.arrays["delta"]
    size, s, p = _pool_args(case)
    for rule, words in _tie_slips(options):
        yield Alternative(f"ties_{rule}", words,
                          {"dx": maxpool2d_backward(x, delta, size, s, p, ties=rule)})
    kh, kw = pair(size)
    yield Alternative("ties_last", "matches the whole delta sent to the last of tied maxima "
                      "(a scan keeping >=); PyTorch sends it to the first (a scan keeping >)",
                      {"dx": _one_maximum_each(x, delta, kh, kw, s, p, last=True)})
    if s > 1:
        def backward(xs, ds, k, st, pd):
            return maxpool2d_backward(xs, ds, k, st, pd, ties=options.ties)

        yield Alternative("stride_ignored", "matches the stride ignored in dx (the delta of "
                          "window (i, j) sent into the window at (i, j) instead of (i·s, j·s))",
                          {"dx": _stride_ignored_backward(x, delta, size, p, -np.inf,
                                                         backward)})
        yield Alternative("delta_not_strided", "matches each window's maximum found at "
                          "(i·s, j·s) but its delta written back at (i, j): the stride left "
                          "out of the index the delta is added at",
                          {"dx": _written_without_stride(x, delta, size, s, p, options.ties)})
    yield Alternative("delta_to_whole_window", "matches the delta sent to every cell of the "
                      "window instead of to its maximum",
                      {"dx": avgpool2d_backward(x, delta * (kh * kw), size, s, p)})
    if s < max(kh, kw):  # overlapping windows: a maximum two windows share gets one delta
        yield Alternative("assigned_not_added", "matches = where += was needed: a maximum "
                          "that overlapping windows share keeps the last window's delta "
                          "instead of their sum",
                          {"dx": _one_maximum_each(x, delta, kh, kw, s, p, assigned=True)})
        yield Alternative("window_assigned", "matches each window's mask·δ written over the "
                          "whole window with = (dx[window] = mask * δ): a later window's zeros "
                          "erase an earlier one's delta where windows overlap; += keeps both",
                          {"dx": _window_assigned(x, delta, kh, kw, s, p, options.ties)})
    if p > 0:
        yield Alternative("padded_with_zeros", "matches padding with zeros instead of −∞ "
                          "(a window whose cells are all 0 or below can then take its maximum "
                          "in the padding, and its delta is cropped away)",
                          {"dx": maxpool2d_backward(_padded(x, p, 0.0), delta, size, s, 0,
                                                    ties=options.ties)
                           [:, :, p:p + x.shape[2], p:p + x.shape[3]]})
        yield Alternative("padding_not_cropped", f"matches dx with its padding of {p} not "
                          "cropped off",
                          {"dx": maxpool2d_backward(_padded(x, p, -np.inf), delta, size, s, 0,
                                                    ties=options.ties)})
    else:
        yield _cropped_to_nothing(x)
    yield Alternative("average_instead", "matches average pooling's dx (each window's delta "
                      "shared by its cells)", {"dx": avgpool2d_backward(x, delta, size, s, p)})


def _avgpool_backward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers._common import pair
    from cnngrad.layers.pool import avgpool2d_backward, maxpool2d_backward

    x, delta = case.arrays["x"], case.arrays["delta"]
    size, s, p = _pool_args(case)
    kh, kw = pair(size)
    if s > 1:
        yield Alternative("stride_ignored", "matches the stride ignored in dx (the delta of "
                          "window (i, j) spread over the window at (i, j) instead of "
                          "(i·s, j·s))",
                          {"dx": _stride_ignored_backward(x, delta, size, p, 0.0,
                                                         avgpool2d_backward)})
    # said once for every case it matches, whose windows differ: no one window's size in it
    yield Alternative("not_divided", "matches the delta not divided by the window's cell "
                      "count (kh·kw)", {"dx": truth["dx"] * (kh * kw)})
    yield from _divided_by_one_side(kh, kw, "dx", truth["dx"], "the delta")
    if p > 0:
        yield Alternative("divisor_without_padding", "matches the divisor counting only the "
                          "real cells of a window (count_include_pad=False; PyTorch's default "
                          "counts the padding)",
                          {"dx": avgpool2d_backward(x, delta, size, s, p,
                                                    count_include_pad=False)})
        yield Alternative("padding_not_cropped", f"matches dx with its padding of {p} not "
                          "cropped off",
                          {"dx": avgpool2d_backward(_padded(x, p, 0.0), delta, size, s, 0)})
    else:
        yield _cropped_to_nothing(x)
    yield Alternative("max_instead", "matches max pooling's dx (each window's delta to its "
                      "maximum)", {"dx": maxpool2d_backward(x, delta, size, s, p,
                                                             ties=options.ties)})


def _divided_by_one_side(kh: int, kw: int, name: str, right: np.ndarray,
                         what: str) -> Iterator[Alternative]:
    """An average divided by one side of the window, f where f·f was needed (the window's
    rows or columns counted, not its cells); beside a 2×2 window's it is twice the answer."""
    for side, other in {(kh, kw), (kw, kh)}:
        if side > 1 and other > 1:  # a 1×k window's side 1 is not_divided
            yield Alternative("divided_by_one_side", f"matches {what} divided by one side "
                              "of the window (k of a k×k window) instead of by its cells "
                              "(k·k)", {name: right * other})


def _strided_slice_ignored(forward, x: np.ndarray, s: int, right: np.ndarray,
                           name: str = "y") -> Iterator[Alternative]:
    """Windows read at (i, j) instead of (i·s, j·s), the output's size right: the stride
    left out of the slice (x[i:i + k] for x[i·s:i·s + k]), the stride-1 output's corner."""
    if s > 1:
        rows, cols = right.shape[2:]
        yield Alternative("stride_ignored", "matches windows read at (i, j) instead of "
                          "(i·s, j·s): the output's size right, the stride left out of the "
                          "slice (x[i:i + k] for x[i·s:i·s + k])",
                          {name: forward(x, 1)[:, :, :rows, :cols]})


def _maxpool_forward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers.pool import avgpool2d_forward, maxpool2d_forward

    x = case.arrays["x"]
    size, s, p = _pool_args(case)
    if s > 1:
        yield Alternative("stride_ignored", "matches the stride ignored (windows at every "
                          "position)", {"y": maxpool2d_forward(x, size, 1, p)})
    yield from _strided_slice_ignored(lambda xs, st: maxpool2d_forward(xs, size, st, p), x, s,
                                      truth["y"])
    if p > 0:
        yield Alternative("padded_with_zeros", "matches padding with zeros instead of −∞",
                          {"y": maxpool2d_forward(_padded(x, p, 0.0), size, s, 0)})
    yield Alternative("average_instead", "matches average pooling",
                      {"y": avgpool2d_forward(x, size, s, p)})


def _avgpool_forward_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers._common import pair
    from cnngrad.layers.pool import avgpool2d_forward, maxpool2d_forward

    x = case.arrays["x"]
    size, s, p = _pool_args(case)
    kh, kw = pair(size)
    if s > 1:
        yield Alternative("stride_ignored", "matches the stride ignored (windows at every "
                          "position)", {"y": avgpool2d_forward(x, size, 1, p)})
    yield from _strided_slice_ignored(lambda xs, st: avgpool2d_forward(xs, size, st, p), x, s,
                                      truth["y"])
    yield Alternative("not_divided", "matches the window sum not divided by the window's "
                      "cell count (kh·kw)", {"y": truth["y"] * (kh * kw)})
    yield from _divided_by_one_side(kh, kw, "y", truth["y"], "the window sum")
    if p > 0:
        yield Alternative("divisor_without_padding", "matches the divisor counting only the "
                          "real cells of a window (count_include_pad=False; PyTorch's default "
                          "counts the padding)",
                          {"y": avgpool2d_forward(x, size, s, p, count_include_pad=False)})
    yield Alternative("max_instead", "matches max pooling",
                      {"y": maxpool2d_forward(x, size, s, p)})


# --------------------------------------------------------------------------- dense

_DENSE_SHAPES = (
    # corner, N, in, out
    ("one input, one output", 1, 1, 1),
    ("2 inputs, 3 outputs", 1, 2, 3),
    ("3 inputs, 2 outputs", 1, 3, 2),
    ("batch of 3, square weights", 3, 3, 3),
    ("batch of 3, 4 inputs, 2 outputs", 3, 4, 2),
    ("batch of 3, 5 inputs, 4 outputs", 3, 5, 4),
    ("batch of 5, 6 inputs, 3 outputs", 5, 6, 3),
)
_DENSE_HALVES = ("non-whole values, batch of 3, 4 inputs, 3 outputs", 3, 4, 3)
_DENSE_FINE = (f"{FINE_CORNER}, batch of 2, 3 inputs, 2 outputs", 2, 3, 2)


def _dense_cases(rng, options) -> list[Case]:
    cases = []
    shapes = _with_value_kinds(_DENSE_SHAPES, _DENSE_HALVES, _DENSE_FINE)
    for (corner, n, fan_in, fan_out), values in shapes:
        cases.append(Case(corner, {}, {"x": values(rng, (n, fan_in)),
                                       "w": values(rng, (fan_out, fan_in)),
                                       "b": values(rng, (fan_out,)),
                                       "delta": values(rng, (n, fan_out))},
                          fine=values is _fine))
    return cases


def _dense_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.dense import dense_backward

    a = case.arrays
    dx, dw, db = dense_backward(a["x"], a["w"], a["delta"])
    return {"dx": dx, "dw": dw, "db": db}


def _dense_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    x, w, delta = case.arrays["x"], case.arrays["w"], case.arrays["delta"]
    if w.shape[0] == w.shape[1]:
        # said for either orientation of W: (out, in) as PyTorch's, or (in, out) as cs231n's
        # and channels-last ones, where the right dx is the other product
        yield Alternative("weights_transposed", "matches dx computed with the weight matrix "
                          "transposed (for y = x·Wᵀ + b, dx = δ·W; for y = x·W + b, dx = δ·Wᵀ)",
                          {"dx": delta @ w.T})
    if x.shape[0] > 1:
        yield Alternative("first_image_only", "matches the gradient of the first sample only "
                          "(the batch not summed)", {"dw": np.outer(delta[0], x[0])})
        yield Alternative("last_image_only", "matches the gradient of the last sample only "
                          "(dw reset to zeros inside the loop over samples: each sample's "
                          "product replaces the one before)", {"dw": np.outer(delta[-1], x[-1])})
    yield from _bias_slips(delta, axes_names=("N", "out"))


# --------------------------------------------------------------------------- softmax + CE

#: The large-logits case's offset: exp(x) overflows float64 above 709.78, so exp of logits
#: near 1000 is inf unless each row's maximum is subtracted first.  The entries of a row stay
#: within a few units of each other, so after the shift every probability is well above 0
#: and a max-shifted softmax (CS231n's) is right without log-sum-exp.  Its logits are
#: quarters, which float32 holds exactly near 1000 (its spacing there is 2⁻¹⁴): a float32
#: implementation's own cast of 1001.37 moved it by 3e-5, its probabilities by more than the
#: tolerances, and a right softmax failed.
LARGE_LOGITS_OFFSET = 1000.0

_SOFTMAX_SHAPES = (
    # corner, N, K, offset added to the logits
    ("one sample, 2 classes", 1, 2, 0.0),
    ("one sample, 3 classes", 1, 3, 0.0),
    ("batch of 2, 3 classes", 2, 3, 0.0),
    ("large logits (exp overflows without the max shift)", 2, 3, LARGE_LOGITS_OFFSET),
    ("batch of 3, 4 classes", 3, 4, 0.0),
    ("batch of 4, 5 classes", 4, 5, 0.0),
)


def _softmax_cases(rng, options) -> list[Case]:
    cases = []
    for corner, n, k, offset in _SOFTMAX_SHAPES:
        spread = rng.normal(size=(n, k)) * 2
        logits = (np.round(spread * 4) / 4 + offset) if offset else np.round(spread, 2)
        labels = rng.integers(0, k, size=n)
        cases.append(Case(corner, {}, {"logits": logits, "labels": labels}))
    return cases


def _one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((labels.size, k))
    out[np.arange(labels.size), labels] = 1
    return out


def _softmax_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.losses import cross_entropy

    logits, labels = case.arrays["logits"], case.arrays["labels"]
    loss, delta = cross_entropy(logits, _one_hot(labels, logits.shape[1]))
    return {"loss": np.float64(loss), "dx": delta}


def _softmax_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers.losses import softmax

    logits, labels = case.arrays["logits"], case.arrays["labels"]
    n, k = logits.shape
    target = _one_hot(labels, k)
    yield Alternative("target_not_subtracted", "matches the softmax without the one-hot "
                      "target subtracted (p instead of p − y)",
                      {"dx": softmax(logits) / n})
    with np.errstate(all="ignore"):
        e = np.exp(logits)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(n), labels]))
    # named only where exp does overflow, as its words say: elsewhere an infinite loss has
    # another cause (the target's probability underflowing to 0 before the log, with or
    # without the shift) that the unshifted answer shares, blaming a shift the user made
    if np.isinf(e).any():
        yield Alternative("no_max_shift", "matches softmax computed without subtracting each "
                          "row's maximum first: exp overflows for large logits",
                          {"loss": np.float64(loss), "dx": (p - target) / n})
        # the same slip in CS231n's log-sum-exp form, x − log Σ exp x: an overflowing row's
        # log-probabilities are all −inf, its probabilities 0, its loss inf
        with np.errstate(all="ignore"):
            log_p = logits - np.log(e.sum(axis=1, keepdims=True))
            lse_loss = -np.mean(log_p[np.arange(n), labels])
        yield Alternative("no_max_shift", "matches the log-sum-exp computed without "
                          "subtracting each row's maximum first: exp overflows for large "
                          "logits", {"loss": np.float64(lse_loss),
                                     "dx": (np.exp(log_p) - target) / n})
    # normalised over the batch axis (axis 0), its maximum taken over the batch too, which
    # cancels, or per row (axis 1), which does not; with one sample every probability is 1
    for axis in (0, 1) if n > 1 else (0,):
        shifted = logits - logits.max(axis=axis, keepdims=True)
        p0 = np.exp(shifted) / np.exp(shifted).sum(axis=0, keepdims=True)
        with np.errstate(divide="ignore"):
            loss0 = -np.mean(np.log(p0[np.arange(n), labels]))
        where = "" if axis == 0 else " (each row's maximum subtracted, the sum over the batch)"
        # an infinite loss (a probability 0 after the shift) would match an underflow by chance
        outputs = {"loss": np.float64(loss0), "dx": (p0 - target) / n}
        yield Alternative("softmax_over_batch", "matches the softmax taken over the batch axis "
                          f"instead of the classes{where}",
                          {k: v for k, v in outputs.items() if np.isfinite(v).all()})


# --------------------------------------------------------------------------- batch norm

_BATCHNORM_SHAPES = (
    # corner, N, C, H, W
    ("one image, one channel, two cells", 1, 1, 1, 2),
    ("batch of 2, 1×1 maps", 2, 1, 1, 1),
    ("one image, 2×2 map", 1, 1, 2, 2),
    ("batch of 2, 2 channels, 1×3 maps", 2, 2, 1, 3),
    ("batch of 3, 2×2 maps", 3, 1, 2, 2),
    ("one image, 3 channels, 3×3 maps", 1, 3, 3, 3),
    ("batch of 3, 2 channels, 3×2 maps", 3, 2, 3, 2),
    ("batch of 3, 3 channels, 4×4 maps", 3, 3, 4, 4),
)
#: the case of a small spread (:data:`SMALL_SPREAD`), drawn after the others
_BATCHNORM_SMALL_SPREAD = (
    "batch of 2, 2 channels, 2×2 maps, values 0.03 apart: where ε goes shows", 2, 2, 2, 2)


def _two_values_apart(x: np.ndarray) -> np.ndarray:
    """``x`` with each channel of two values moved to at least 1 either side of a mean within
    [−1, 1].  With two values per channel dx is what is left of δ − mean δ − x̂·mean(δ·x̂), about
    ε/σ² of δ: two close values (σ = 0.015) make it so ill-conditioned that PyTorch's own
    float32 batch norm missed the float64 answer by 6e-4 (its variance E[x²] − E[x]² loses
    the digits); apart, a float32 implementation is within the tolerances, and every slip
    still shows."""
    if x.size // x.shape[1] != 2:
        return x
    x = x.copy()
    for c in range(x.shape[1]):
        pair = x[:, c].reshape(-1)
        mean = np.clip(np.round(pair.mean(), 2), -1, 1)
        half = max(abs(pair[1] - pair[0]) / 2, 1.0)
        sign = 1.0 if pair[1] >= pair[0] else -1.0
        x[:, c] = np.round(mean + sign * half * np.array([-1.0, 1.0]), 2).reshape(x[:, c].shape)
    return x


#: The vector batch norm's battery (CS231n's batchnorm_backward): N ≥ 2, as training needs
_BATCHNORM1D_SHAPES = (
    # corner, N, D
    ("batch of 2, one feature", 2, 1),
    ("batch of 2, 3 features", 2, 3),
    ("batch of 3, one feature", 3, 1),
    ("batch of 4, 2 features", 4, 2),
    ("batch of 5, 3 features", 5, 3),
    ("batch of 8, 4 features", 8, 4),
)
_BATCHNORM1D_SMALL_SPREAD = ("batch of 6, 2 features, values 0.03 apart: where ε goes shows",
                             6, 2)

#: The spread of a case's x (a standard deviation) where its corner says so: ε = 1e-5 is then
#: 1 % of the variance, and an ε outside the square root, or none, is seen (with a spread of
#: 2, its 1e-5 of the answer is within the tolerances).  Centred on 0, so that a float32
#: implementation's x − μ keeps its digits; δ is drawn as small, so that dx, about δ/σ, stays
#: near 1 (δ of 1 made dx of 80 and a right float32 implementation missed by 4e-6).
SMALL_SPREAD = 0.03


def _batchnorm_cases(rng, options, shapes=_BATCHNORM_SHAPES,
                     small_spread=_BATCHNORM_SMALL_SPREAD) -> list[Case]:
    """The ``shapes`` (corner, N, C, ...), x spread by 2 (two values a channel kept apart),
    then the case ``small_spread`` of x and δ spread by :data:`SMALL_SPREAD`."""
    cases = []
    for (corner, *shape), small in [*((entry, False) for entry in shapes),
                                    (small_spread, True)]:
        channels = shape[1]
        x = (np.round(rng.normal(size=shape) * SMALL_SPREAD, 3) if small
             else _two_values_apart(np.round(rng.normal(size=shape) * 2 + 1, 2)))
        arrays = {"x": x,
                  "gamma": np.round(rng.normal(size=channels) + 1, 2),
                  "beta": np.round(rng.normal(size=channels), 2),
                  "delta": (np.round(rng.normal(size=shape) * SMALL_SPREAD, 4) if small
                            else np.round(rng.normal(size=shape), 2))}
        cases.append(Case(corner, {"eps": options.eps}, arrays))
    return cases


def batchnorm_backward_formula(x, gamma, delta, eps, axes=None, *, ddof: int = 0,
                               through_mean: bool = True, through_var: bool = True,
                               backward_ddof: int | None = None, eps_outside: str | None = None):
    """Batch norm's backward pass from its formula, statistics over ``axes``
    (default every axis but 1), with switches for its slips.

    Parameters
    ----------
    x, delta : ndarray (N, C, ...)
    gamma : ndarray (C,)
    eps : float
    axes : tuple of int, optional
    ddof : int
        1 for the unbiased variance (÷(m − 1)), a slip: PyTorch normalises by the biased one.
    through_mean, through_var : bool
        False treats that statistic as a constant (a slip).
    backward_ddof : int, optional
        The divisor's ddof in the path through the variance (default ``ddof``): 0 with
        ``ddof=1`` is the unbiased variance in the forward pass only (a slip).
    eps_outside : {None, "compact", "staged"}
        σ + ε for √(var + ε), σ = √var (a slip): in the compact formula (its path through
        the variance has 1/(σ + ε)³), or as the exact gradient of x̂ = (x − μ)/(σ + ε), a
        staged backward's (1/(σ·(σ + ε)²) there).

    Returns
    -------
    dx : ndarray (N, C, ...), dgamma : ndarray (C,), dbeta : ndarray (C,)
    """
    axes = tuple(a for a in range(x.ndim) if a != 1) if axes is None else axes
    channel_axes = tuple(a for a in range(x.ndim) if a != 1)
    shape = [1] * x.ndim
    shape[1] = -1
    count = int(np.prod([x.shape[a] for a in axes]))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).sum(axis=axes, keepdims=True) / (count - ddof)
    inv_std = 1 / (np.sqrt(var) + eps) if eps_outside else 1 / np.sqrt(var + eps)
    # the staged gradient's path through the variance: (σ + ε)/σ times the compact one's
    var_scale = (np.sqrt(var) + eps) / np.sqrt(var) if eps_outside == "staged" else 1
    x_hat = (x - mean) * inv_std
    d_hat = delta * gamma.reshape(shape)
    dx = d_hat
    if through_mean:
        dx = dx - d_hat.mean(axis=axes, keepdims=True)
    if through_var:
        backward_ddof = ddof if backward_ddof is None else backward_ddof
        dx = dx - var_scale * x_hat * (d_hat * x_hat).sum(axis=axes, keepdims=True) / (
            count - backward_ddof)
    return (dx * inv_std, (delta * x_hat).sum(axis=channel_axes),
            delta.sum(axis=channel_axes))


def _batchnorm_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.batchnorm import batchnorm_backward

    a = case.arrays
    dx, dgamma, dbeta = batchnorm_backward(a["x"], a["gamma"], a["delta"],
                                           eps=case.params["eps"])
    return {"dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def _batchnorm_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    a, eps = case.arrays, case.params["eps"]
    x, gamma, delta = a["x"], a["gamma"], a["delta"]
    words = "the gradient of β (batch norm's bias) never computed"
    yield Alternative("beta_forgotten", f"matches zeros: {words}",
                      {"dbeta": np.zeros(x.shape[1])}, absent=words)
    dx = batchnorm_backward_formula(x, gamma, delta, eps, through_mean=False,
                                    through_var=False)[0]
    yield Alternative("statistics_constant", "matches the mean and variance treated as "
                      "constants (no gradient through them)", {"dx": dx})
    dx = batchnorm_backward_formula(x, gamma, delta, eps, through_var=False)[0]
    yield Alternative("variance_constant", "matches the variance treated as a constant "
                      "(no gradient through it)", {"dx": dx})
    # the path through the mean adds −γ·Σδ/(M·σ) per channel: where Σδ is 0 in every
    # channel that term vanishes and the slip's dx is the right one, so it is not offered
    channel_axes = tuple(a for a in range(x.ndim) if a != 1)
    if not np.allclose(gamma * delta.sum(axis=channel_axes), 0):
        dx = batchnorm_backward_formula(x, gamma, delta, eps, through_mean=False)[0]
        yield Alternative("no_mean_term", "matches the path through the batch mean left out "
                          "(no − Σδ/M term; the path through the variance kept)", {"dx": dx})
    count = x.size // x.shape[1]
    if count > 1:
        dx, dgamma, _ = batchnorm_backward_formula(x, gamma, delta, eps, ddof=1)
        yield Alternative("unbiased_variance", "matches the unbiased variance (÷(m − 1)); "
                          "batch norm normalises by the biased one (÷m)",
                          {"dx": dx, "dgamma": dgamma})
        # np.var(ddof=1) in the statistics, the backward's means over m as the formula has
        dx = batchnorm_backward_formula(x, gamma, delta, eps, ddof=1, backward_ddof=0)[0]
        yield Alternative("unbiased_variance", "matches the unbiased variance (÷(m − 1)) in "
                          "the statistics; batch norm normalises by the biased one (÷m)",
                          {"dx": dx})
    if x.ndim > 2 and np.prod(x.shape[2:]) > 1:
        words = ("matches statistics per position (over the batch only, as a vector batch "
                 "norm takes them) instead of per channel over the batch and every position")
        dx, dgamma, _ = batchnorm_backward_formula(x, gamma, delta, eps, axes=(0,))
        if x.shape[0] > 1:
            yield Alternative("statistics_per_position", words, {"dx": dx, "dgamma": dgamma})
        # a vector batch norm run on maps: its dγ and dβ per position too, (C, H, W)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
        yield Alternative("statistics_per_position", words,
                          {"dx": dx, "dgamma": (delta * x_hat).sum(axis=0),
                           "dbeta": delta.sum(axis=0)})
    if x.ndim > 2 and np.prod(x.shape[2:]) > 1:
        # CS231n's spatial batch norm: the maps as rows of C features, for the vector batch
        # norm, then back; without the channel axis moved last a row mixes channels
        channels = x.shape[1]
        dx, dgamma, dbeta = batchnorm_backward_formula(x.reshape(-1, channels), gamma,
                                                       delta.reshape(-1, channels), eps)
        yield Alternative("channels_not_moved_last", "matches x.reshape(-1, C) where "
                          "x.transpose(0, 2, 3, 1).reshape(-1, C) was needed: each row of "
                          "the vector batch norm mixes channels and positions",
                          {"dx": dx.reshape(x.shape), "dgamma": dgamma, "dbeta": dbeta})
        if channels > 1:  # the rows' dx reshaped to (N, C, H, W) without moving C back
            yield Alternative("rows_not_transposed_back", "matches the rows' dx reshaped "
                              "straight to (N, C, H, W) where .reshape(N, H, W, C).transpose("
                              "0, 3, 1, 2) was needed", {"dx": truth["dx"].transpose(
                                  0, 2, 3, 1).reshape(x.shape)})
    if x.ndim > 2 and count > 1:
        # np.mean for the sum over the N·H·W values of a channel (count, above; with maps of
        # one cell that is over N alone, the batch_mean every op is looked at for, too)
        yield Alternative("averaged_not_summed", "matches np.mean where the sum was needed "
                          "(÷ N·H·W, the values of a channel)",
                          {"dgamma": truth["dgamma"] / count, "dbeta": truth["dbeta"] / count})
    x_hat = (x - x.mean(axis=channel_axes, keepdims=True)) / np.sqrt(
        x.var(axis=channel_axes, keepdims=True) + eps)
    # over N alone is a map's statistics_per_position
    yield from _summed_over_other_axes({"dgamma": delta * x_hat, "dbeta": delta},
                                       ("N", "C", "H", "W") if x.ndim > 2 else ("N", "D"),
                                       skip=((0,),) if x.ndim > 2 else ())
    yield Alternative("gamma_missing", "matches dx without γ (dx̂ = δ·γ: γ left out, dx ÷ γ)",
                      {"dx": batchnorm_backward_formula(x, np.ones_like(gamma), delta, eps)[0]})
    dx, dgamma, _ = batchnorm_backward_formula(x, gamma, delta, 0.0)
    yield Alternative("eps_forgotten", "matches ε left out (√var where √(var + ε) was needed)",
                      {"dx": dx, "dgamma": dgamma})
    yield from _eps_outside_sqrt(x, gamma, delta, eps)


def _eps_outside_sqrt(x, gamma, delta, eps) -> Iterator[Alternative]:
    """σ + ε for √(var + ε), in the forward pass and so in the backward, by the compact
    formula or a staged backward (``batchnorm_backward_formula``'s ``eps_outside``; the
    staged one not where a channel's values are all equal, σ = 0)."""
    words = "matches ε outside the square root (√var + ε where √(var + ε) was needed)"
    for form in ("compact", "staged"):
        with np.errstate(divide="ignore", invalid="ignore"):
            dx, dgamma, _ = batchnorm_backward_formula(x, gamma, delta, eps, eps_outside=form)
        if np.isfinite(dx).all():
            yield Alternative("eps_outside_sqrt", words, {"dx": dx, "dgamma": dgamma})


# --------------------------------------------------------------------------- conv1d

_CONV1D_GEOMETRIES = (
    # corner, N, C, F, L, k, stride, (left, right) padding, dilation
    ("kernel size 1", 1, 1, 1, 4, 1, 1, (0, 0), 1),
    ("kernel size 2", 1, 1, 1, 4, 2, 1, (0, 0), 1),
    ("kernel size 3, padding (1, 1)", 1, 1, 1, 5, 3, 1, (1, 1), 1),
    ("asymmetric padding (2, 0)", 1, 1, 1, 5, 2, 1, (2, 0), 1),
    # the last window reads both right padded cells: a right side taken as the left one shows
    ("asymmetric padding (0, 2)", 1, 1, 1, 4, 3, 1, (0, 2), 1),
    ("stride 2, a leftover element", 1, 1, 1, 7, 2, 2, (0, 0), 1),
    ("dilation 2", 1, 1, 1, 7, 3, 1, (0, 0), 2),
    ("stride 3, leftover, asymmetric padding (0, 1)", 1, 1, 1, 9, 2, 3, (0, 1), 1),
    ("2 channels, 3 filters, dilation 2, padding (2, 1)", 1, 2, 3, 8, 3, 1, (2, 1), 2),
    ("batch of 3, stride 2, dilation 2, padding (1, 2)", 3, 2, 2, 9, 3, 2, (1, 2), 2),
    ("batch of 3, 3 channels, 4 filters, stride 3, dilation 3, padding (3, 0)",
     3, 3, 4, 14, 3, 3, (3, 0), 3),
)
_CONV1D_HALVES = ("non-whole values, batch of 2, 2 channels, stride 2, padding (1, 1)",
                  2, 2, 2, 7, 3, 2, (1, 1), 1)
_CONV1D_FINE = (f"{FINE_CORNER}, 2 channels, 2 filters, stride 2", 1, 2, 2, 6, 2, 2, (0, 0), 1)


def _conv1d_cases(rng, options) -> list[Case]:
    cases = []
    geometries = _with_value_kinds(_CONV1D_GEOMETRIES, _CONV1D_HALVES, _CONV1D_FINE)
    for (corner, n, c, f, length, k, s, pads, d), values in geometries:
        out = conv_output_size(length, pads[0], pads[1], k, s, d)
        cases.append(Case(corner, {"stride": s, "padding": pads, "dilation": d},
                          {"x": values(rng, (n, c, length)), "w": values(rng, (f, c, k)),
                           "b": values(rng, (f,)), "delta": values(rng, (n, f, out))},
                          fine=values is _fine))
    return cases


def conv1d_backward_taps(x, w, delta, stride: int, padding: tuple[int, int], dilation: int):
    """conv1d's backward pass tap by tap, for any stride and dilation — also ones that do
    not fit the delta (a slip's geometry).

    Returns
    -------
    dx : ndarray (N, C, L)
    dw : ndarray (F, C, k)
    dx_padded : ndarray (N, C, L + left + right)
    """
    n, c, length = x.shape
    k, out = w.shape[2], delta.shape[2]
    left, right = padding
    span = max(length + left + right, stride * (out - 1) + dilation * (k - 1) + 1)
    x_padded = np.zeros((n, c, span))
    x_padded[:, :, left:left + length] = x
    dx_padded = np.zeros((n, c, span))
    dw = np.zeros(w.shape)
    for m in range(k):
        # output i reads xpad[i·s + m·d] through tap m
        cells = slice(m * dilation, m * dilation + stride * (out - 1) + 1, stride)
        dx_padded[:, :, cells] += np.einsum("nfi,fc->nci", delta, w[:, :, m])
        dw[:, :, m] = np.einsum("nfi,nci->fc", delta, x_padded[:, :, cells])
    return (dx_padded[:, :, left:left + length], dw,
            dx_padded[:, :, :length + left + right])


def _conv1d_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.conv1d import conv1d_backward

    a, p = case.arrays, case.params
    dx, dw, db = conv1d_backward(a["x"], a["w"], a["delta"], stride=p["stride"],
                                 padding=p["padding"], dilation=p["dilation"])
    return {"dx": dx, "dw": dw, "db": db}


def _conv1d_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    a, p = case.arrays, case.params
    x, w, delta = a["x"], a["w"], a["delta"]
    s, pads, d = p["stride"], tuple(p["padding"]), p["dilation"]
    dx = conv1d_backward_taps(x, w[:, :, ::-1], delta, s, pads, d)[0]
    yield Alternative("kernel_not_rotated", _rotation_words("reversal", "reversed"),
                      {"dx": dx})
    if s > 1:
        dx, dw, _ = conv1d_backward_taps(x, w, delta, 1, pads, d)
        yield Alternative("delta_not_dilated", f"matches delta not dilated for stride {s} "
                          "(the stride ignored in dx: each delta put back at i instead of "
                          "i·s)", {"dx": dx})
        yield Alternative("stride_ignored", f"matches the stride {s} ignored in dw (x read "
                          "at i + m·d instead of i·s + m·d)", {"dw": dw})
    if d > 1:
        dx, dw, _ = conv1d_backward_taps(x, w, delta, s, pads, 1)
        yield Alternative("dilation_ignored", f"matches the dilation {d} ignored (tap m at "
                          "i·s + m instead of i·s + m·d)", {"dx": dx, "dw": dw})
    if any(pads):
        left, right = pads
        padded = conv1d_backward_taps(x, w, delta, s, pads, d)[2]
        yield Alternative("padding_not_cropped", f"matches dx with its padding {pads} not "
                          "cropped off", {"dx": padded})
        if left != right:
            # swapped in the crop only, or in np.pad too (x read mirrored: dw differs)
            words = ("matches the padding's left and right sides swapped (np.pad(x, .., "
                     "(right, left)) or the crop [right:right + L])")
            swapped_dx = padded[:, :, right:right + x.shape[2]]
            yield Alternative("padding_sides_swapped", words, {"dx": swapped_dx})
            yield Alternative("padding_sides_swapped", words, {
                "dx": swapped_dx, "dw": conv1d_backward_taps(x, w, delta, s, (right, left),
                                                             d)[1]})
    yield from _bias_slips(delta, axes_names=("N", "F", "L'"))


# --------------------------------------------------------------------------- conv_transpose2d

_CONV_T_GEOMETRIES = (
    # corner, N, C_in, F, H, W, kh, kw, stride, padding, output_padding, dilation
    ("1×1 kernel", 1, 1, 1, 2, 2, 1, 1, 1, 0, 0, 1),
    ("2×2 kernel", 1, 1, 1, 2, 2, 2, 2, 1, 0, 0, 1),
    ("stride 2", 1, 1, 1, 2, 3, 2, 2, 2, 0, 0, 1),
    ("3×3 kernel, stride 2, padding 1", 1, 1, 1, 3, 3, 3, 3, 2, 1, 0, 1),
    ("stride 2, padding 1, output padding 1", 1, 1, 1, 3, 2, 3, 3, 2, 1, 1, 1),
    ("non-square kernel 2×3", 1, 1, 1, 3, 3, 2, 3, 1, 0, 0, 1),
    ("dilation 2", 1, 1, 1, 3, 3, 2, 2, 1, 0, 0, 2),
    ("stride 3, non-square kernel, output padding 2", 1, 2, 1, 2, 3, 3, 2, 3, 0, 2, 1),
    ("2 channels in, 3 out, stride 2, padding 1, output padding 1, dilation 2",
     1, 2, 3, 3, 3, 3, 3, 2, 1, 1, 2),
    ("batch of 3, stride 2, padding 1, output padding 1", 3, 2, 2, 3, 4, 3, 2, 2, 1, 1, 1),
)
_CONV_T_HALVES = ("non-whole values, batch of 2, stride 2, padding 1",
                  2, 2, 2, 3, 3, 3, 3, 2, 1, 0, 1)
_CONV_T_FINE = (f"{FINE_CORNER}, 2 channels in, 2 out, stride 2",
                1, 2, 2, 2, 2, 2, 2, 2, 0, 0, 1)


def _conv_t_cases(rng, options) -> list[Case]:
    cases = []
    geometries = _with_value_kinds(_CONV_T_GEOMETRIES, _CONV_T_HALVES, _CONV_T_FINE)
    for (corner, n, c_in, f, h, w, kh, kw, s, p, op, d), values in geometries:
        h_out = (h - 1) * s - 2 * p + d * (kh - 1) + op + 1
        w_out = (w - 1) * s - 2 * p + d * (kw - 1) + op + 1
        cases.append(Case(corner, {"stride": s, "padding": p, "output_padding": op,
                                   "dilation": d},
                          {"x": values(rng, (n, c_in, h, w)),
                           "w": values(rng, (c_in, f, kh, kw)), "b": values(rng, (f,)),
                           "delta": values(rng, (n, f, h_out, w_out))},
                          square=kh == kw, fine=values is _fine))
    return cases


def _conv_t_reference(case: Case, options: Options) -> dict:
    from cnngrad.layers.conv_transpose import conv_transpose2d_backward

    a, p = case.arrays, case.params
    dx, dw, db = conv_transpose2d_backward(a["x"], a["w"], a["delta"], stride=p["stride"],
                                           padding=p["padding"],
                                           output_padding=p["output_padding"],
                                           dilation=p["dilation"])
    return {"dx": dx, "dw": dw, "db": db}


def _conv_t_slips(case: Case, options: Options, truth: dict) -> Iterator[Alternative]:
    from cnngrad.layers.conv import conv2d_forward

    # the transposed convolution is the input gradient of a conv2d whose weights (out = C,
    # in = F) are w: its dx is that conv2d's forward pass over the delta
    a, p = case.arrays, case.params
    x, w, delta = a["x"], a["w"], a["delta"]
    yield Alternative("kernel_rotated", "matches the kernel rotated by 180° in dx (the input "
                      "gradient of a transposed convolution is a plain correlation of the "
                      "delta with w)",
                      {"dx": conv2d_forward(delta, _rot180(w), None, p["stride"], p["padding"],
                                            p["dilation"])})
    if w.shape[0] == w.shape[1] and x.shape[1] > 1:
        yield Alternative("channels_swapped", "matches w read as (out, in) instead of "
                          "(in, out)",
                          {"dx": conv2d_forward(delta, w.swapaxes(0, 1), None, p["stride"],
                                                p["padding"], p["dilation"])})
    yield from _bias_slips(delta)


# --------------------------------------------------------------------------- the registry

_IMAGE = ("N", "C", "H", "W")
_CONV_CL = {"x": (0, 2, 3, 1), "w": (2, 3, 1, 0), "delta": (0, 2, 3, 1), "y": (0, 2, 3, 1),
            "dx": (0, 2, 3, 1), "dw": (2, 3, 1, 0)}
_POOL_CL = {"x": (0, 2, 3, 1), "delta": (0, 2, 3, 1), "y": (0, 2, 3, 1), "dx": (0, 2, 3, 1)}
_CONV_LAYOUTS = {"nchw": "x (N, C, H, W), w (F, C, kh, kw), delta (N, F, H', W')",
                 "nhwc": "x (N, H, W, C), w (kh, kw, C, F), delta (N, H', W', F)"}
_POOL_LAYOUTS = {"nchw": "x (N, C, H, W), delta (N, C, H', W')",
                 "nhwc": "x (N, H, W, C), delta (N, H', W', C)"}
#: The forward ops' own: they take b (conv) and return y, and take no delta.
_CONV_FORWARD_LAYOUTS = {"nchw": "x (N, C, H, W), w (F, C, kh, kw), b (F,) -> y (N, F, H', W')",
                         "nhwc": "x (N, H, W, C), w (kh, kw, C, F), b (F,) -> y (N, H', W', F)"}
_POOL_FORWARD_LAYOUTS = {"nchw": "x (N, C, H, W) -> y (N, C, H', W')",
                         "nhwc": "x (N, H, W, C) -> y (N, H', W', C)"}


def _op(name, summary, signature, inputs, outputs, axes, channels_last, cases, reference,
        slips, shown, layouts, header_options=(), **more) -> Op:
    return Op(name=name, summary=summary, signature=signature, inputs=inputs, outputs=outputs,
              axes=axes, channels_last=channels_last, cases=cases, reference=reference,
              slips=slips, shown_arrays=shown, layout_words=layouts,
              header_options=header_options, **more)


def _registry() -> dict[str, Op]:
    conv_axes = {"x": _IMAGE, "dx": _IMAGE, "y": ("N", "F", "H'", "W'"),
                 "delta": ("N", "F", "H'", "W'"), "w": ("F", "C", "kh", "kw"),
                 "dw": ("F", "C", "kh", "kw"), "db": ("F",), "b": ("F",)}
    pool_axes = {"x": _IMAGE, "dx": _IMAGE, "y": ("N", "C", "H'", "W'"),
                 "delta": ("N", "C", "H'", "W'")}
    ops = [
        _op("conv2d_forward", "2-D convolution (cross-correlation, as PyTorch), with bias",
            "conv2d_forward(x, w, b, stride, padding) -> y", ("x", "w", "b", "stride", "padding"),
            ("y",), conv_axes, _CONV_CL,
            lambda rng, o: _conv2d_cases(rng, o, forward=True), _conv2d_forward_reference,
            _conv2d_forward_slips, ("x", "w"), _CONV_FORWARD_LAYOUTS),
        _op("conv2d_backward", "gradients of a 2-D convolution",
            "conv2d_backward(x, w, delta, stride, padding) -> (dx, dw, db)",
            ("x", "w", "delta", "stride", "padding"), ("dx", "dw", "db"), conv_axes, _CONV_CL,
            lambda rng, o: _conv2d_cases(rng, o, forward=False), _conv2d_backward_reference,
            _conv2d_backward_slips, ("x", "w"), _CONV_LAYOUTS),
        _op("maxpool2d_forward", "2-D max pooling (padding is −∞, as PyTorch)",
            "maxpool2d_forward(x, size, stride, padding) -> y",
            ("x", "size", "stride", "padding"), ("y",), pool_axes, _POOL_CL,
            lambda rng, o: _pool_cases(rng, o, forward=True, kind="max"),
            _maxpool_forward_reference, _maxpool_forward_slips, ("x",), _POOL_FORWARD_LAYOUTS),
        _op("maxpool2d_backward", "gradient of 2-D max pooling (ties by --ties)",
            "maxpool2d_backward(x, delta, size, stride, padding) -> dx",
            ("x", "delta", "size", "stride", "padding"), ("dx",), pool_axes, _POOL_CL,
            lambda rng, o: _pool_cases(rng, o, forward=False, kind="max"),
            _maxpool_backward_reference, _maxpool_backward_slips, ("x",), _POOL_LAYOUTS,
            header_options=("ties",)),
        _op("avgpool2d_forward", "2-D average pooling (the divisor counts the padding, as "
            "PyTorch)", "avgpool2d_forward(x, size, stride, padding) -> y",
            ("x", "size", "stride", "padding"), ("y",), pool_axes, _POOL_CL,
            lambda rng, o: _pool_cases(rng, o, forward=True, kind="avg"),
            _avgpool_forward_reference, _avgpool_forward_slips, ("x",), _POOL_FORWARD_LAYOUTS),
        _op("avgpool2d_backward", "gradient of 2-D average pooling",
            "avgpool2d_backward(x, delta, size, stride, padding) -> dx",
            ("x", "delta", "size", "stride", "padding"), ("dx",), pool_axes, _POOL_CL,
            lambda rng, o: _pool_cases(rng, o, forward=False, kind="avg"),
            _avgpool_backward_reference, _avgpool_backward_slips, ("x",), _POOL_LAYOUTS),
        _op("conv1d_backward", "gradients of a 1-D convolution, with dilation and "
            "asymmetric padding",
            "conv1d_backward(x, w, delta, stride, padding, dilation) -> (dx, dw, db)",
            ("x", "w", "delta", "stride", "padding", "dilation"), ("dx", "dw", "db"),
            {"x": ("N", "C", "L"), "dx": ("N", "C", "L"), "delta": ("N", "F", "L'"),
             "w": ("F", "C", "k"), "dw": ("F", "C", "k"), "db": ("F",)},
            {"x": (0, 2, 1), "dx": (0, 2, 1), "delta": (0, 2, 1), "w": (2, 1, 0),
             "dw": (2, 1, 0)},
            _conv1d_cases, _conv1d_reference, _conv1d_slips, ("x", "w"),
            {"nchw": "x (N, C, L), w (F, C, k), delta (N, F, L'), padding (left, right)",
             "nhwc": "x (N, L, C), w (k, C, F), delta (N, L', F), padding (left, right)"}),
        _op("conv_transpose2d_backward", "gradients of a 2-D transposed convolution",
            "conv_transpose2d_backward(x, w, delta, stride, padding, output_padding, "
            "dilation) -> (dx, dw, db)",
            ("x", "w", "delta", "stride", "padding", "output_padding", "dilation"),
            ("dx", "dw", "db"),
            {"x": ("N", "C", "H", "W"), "dx": ("N", "C", "H", "W"),
             "delta": ("N", "F", "H'", "W'"), "w": ("C", "F", "kh", "kw"),
             "dw": ("C", "F", "kh", "kw"), "db": ("F",)},
            _CONV_CL, _conv_t_cases, _conv_t_reference, _conv_t_slips, ("x", "w"),
            {"nchw": "x (N, C, H, W), w (C, F, kh, kw) as PyTorch, delta (N, F, H', W')",
             "nhwc": "x (N, H, W, C), w (kh, kw, F, C) as TensorFlow, delta (N, H', W', F)"}),
        _op("batchnorm2d_backward", "gradients of 2-D batch norm in training mode (biased "
            "variance, as PyTorch)",
            "batchnorm2d_backward(x, gamma, delta, eps) -> (dx, dgamma, dbeta)",
            ("x", "gamma", "delta", "eps"), ("dx", "dgamma", "dbeta"),
            {"x": _IMAGE, "dx": _IMAGE, "delta": _IMAGE, "gamma": ("C",),
             "dgamma": ("C",), "dbeta": ("C",)},
            {"x": (0, 2, 3, 1), "dx": (0, 2, 3, 1), "delta": (0, 2, 3, 1)},
            _batchnorm_cases, _batchnorm_reference, _batchnorm_slips, ("x",),
            {"nchw": "x and delta (N, C, H, W), gamma (C,)",
             "nhwc": "x and delta (N, H, W, C), gamma (C,)"}),
        _op("batchnorm1d_backward", "gradients of batch norm of vectors in training mode "
            "(statistics per feature over the batch, biased variance, as PyTorch)",
            "batchnorm1d_backward(x, gamma, delta, eps) -> (dx, dgamma, dbeta)",
            ("x", "gamma", "delta", "eps"), ("dx", "dgamma", "dbeta"),
            {"x": ("N", "D"), "dx": ("N", "D"), "delta": ("N", "D"), "gamma": ("D",),
             "dgamma": ("D",), "dbeta": ("D",)},
            {}, lambda rng, o: _batchnorm_cases(rng, o, _BATCHNORM1D_SHAPES,
                                                _BATCHNORM1D_SMALL_SPREAD),
            _batchnorm_reference, _batchnorm_slips, ("x",),
            {"nchw": "x and delta (N, D), gamma (D,)",
             "nhwc": "x and delta (N, D), gamma (D,)"}),
        # the layer's formula is the layout's (below): x·Wᵀ with PyTorch's w, x·W with (in, out)
        _op("dense_backward", "gradients of a fully connected layer",
            "dense_backward(x, w, delta) -> (dx, dw, db)", ("x", "w", "delta"),
            ("dx", "dw", "db"),
            {"x": ("N", "in"), "dx": ("N", "in"), "delta": ("N", "out"),
             "w": ("out", "in"), "dw": ("out", "in"), "db": ("out",)},
            {"w": (1, 0), "dw": (1, 0)}, _dense_cases, _dense_reference, _dense_slips,
            ("x", "w"),
            {"nchw": "x (N, in), w (out, in) as PyTorch (y = x·Wᵀ + b), delta (N, out)",
             "nhwc": "x (N, in), w (in, out) (y = x·W + b), delta (N, out)"}),
        _op("softmax_cross_entropy_backward", "softmax cross-entropy averaged over the batch, "
            "and its gradient",
            "softmax_cross_entropy_backward(logits, labels) -> (loss, dx)",
            ("logits", "labels"), ("loss", "dx"),
            {"logits": ("N", "K"), "dx": ("N", "K"), "labels": ("N",), "loss": ()},
            {}, _softmax_cases, _softmax_reference, _softmax_slips, ("logits",),
            {"nchw": "logits (N, K), labels (N,) class indices",
             "nhwc": "logits (N, K), labels (N,) class indices"},
            nonfinite_cause="the log of a probability ≤ 0, most often one changed in place "
            "after being shared: dx = p without .copy(), then dx[np.arange(N), labels] -= 1 "
            "changes p too, and a loss computed after it reads the changed p"),
    ]
    return {op.name: op for op in ops}


#: Every operation by name, in the order ``--help`` lists them.
OPS: dict[str, Op] = _registry()


def ties_refusal(op: str, option: str) -> tuple[str, list[str]]:
    """Why a tie rule (``option``: ``--ties``, ``ties=``) is refused for ``op``, and the
    ops that take one: given and ignored, it would leave the rule believed checked."""
    taking = [name for name, other in OPS.items() if "ties" in other.header_options]
    return (f"no tie rule changes {op}'s answer: {option} is the rule of a max pool's "
            f"gradient"), taking
