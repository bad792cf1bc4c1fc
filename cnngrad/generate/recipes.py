"""The recipes: what each kind of exercise looks like, drawn fresh from a seed.

A recipe turns sizes and a number style into a *draft*: the problem document (tensors are
numpy object arrays of Fractions) and the paths the exercise asks for, with their points.
Whether a draft is hand-friendly (no tie, no ReLU input at 0, no huge or tiny number, answers
exact at the promised decimals) is decided afterwards, on the engine's own run
(:mod:`cnngrad.generate.make`); a recipe only draws.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import UsageError, with_article
from cnngrad.generate.draw import Draw
from cnngrad.generate.numbers import Style
from cnngrad.layers._common import conv_output_size

#: Largest map side, channel count and batch a generated exercise may have: a problem a
#: person works by hand (and a class of 200 generated in seconds).
MAX_SIDE = 16
MAX_CHANNELS = 8
MAX_BATCH = 4
#: Maps, and numbers in all, drawn for a max pool before its windows are given up on
#: (overlapping windows, or one window of many cells, over few distinct values may have no
#: map that keeps every maximum alone): a few seconds at most.
MAX_POOL_INPUTS = 100
MAX_POOL_NUMBERS = 200_000


@dataclass
class Draft:
    """A drawn problem before it is checked: the document and what the exercise asks."""

    document: dict
    asked: dict[str, int]  # dotted path → points


@dataclass(frozen=True)
class Recipe:
    """One kind of exercise.

    ``options`` are the size options it takes, with their defaults; ``factors`` is how many
    drawn numbers multiply together in an asked value (the answers need ``factors`` times a
    style's decimals), ``extra_decimals`` what divisions add (an average over 4 cells: 2);
    ``inexact`` recipes (a sigmoid, a batch norm's square root) have answers that no decimal
    writes exactly: they are asked to :data:`INEXACT_DECIMALS` decimals, and their numbers
    default to one decimal (``default_numbers``), which keeps a sigmoid's input small.  ``kink`` is what
    ``--with-kinks`` puts in (:data:`RELU_ZERO`: a ReLU input of exactly 0, :data:`TIE`:
    tied maxima in a max pool), ``about_kinks`` marks a recipe whose point is the kink;
    ``kink_description`` is its description when ``--with-kinks`` put the kink in (default: the
    description with the kink named after it) and ``no_kink`` says why a recipe without a
    ``kink`` has none to put in.  ``layer_types`` are the layer types it uses (a build that
    lacks one cannot make it).  ``kept_grading``, ``notes`` and ``always_zero`` are a
    problem file's grading block, kept (see :func:`cnngrad.generate.make._kept_grading`).
    """

    name: str
    description: str
    build: Callable[[Draw, Style, dict, bool], Draft]
    options: dict[str, Any] = field(default_factory=dict)
    factors: int = 2
    extra_decimals: int = 0
    #: ``extra_decimals`` as the sizes decide it, where they do (an average over pool² cells:
    #: 4 for --pool 4); None: ``extra_decimals`` whatever the sizes
    sized_extra_decimals: Callable[[dict], int] | None = None
    inexact: bool = False
    kink: str | None = None
    about_kinks: bool = False
    #: its batch norms' answers must not move with ε left out (the batchnorm recipe: a
    #: problem file's deeper network moves them in most draws)
    bare_epsilon: bool = False
    layer_types: tuple[str, ...] = ()
    default_numbers: str = "int"
    check_style: Callable[[Style], None] = lambda style: None
    kink_description: str | None = None
    no_kink: tuple[str, str] | None = None  # (what, hint)
    #: A problem file's own ``grading`` block, kept by the problems drawn from it (its
    #: ``points`` are what ``build`` asks); None: the generator writes its own.
    kept_grading: dict[str, Any] | None = None
    #: What the command tells about the file's grading block (a path it could not keep).
    notes: tuple[str, ...] = ()
    #: Asked paths that no draw can make nonzero (a file's grading block asks them): an
    #: all-zero value there does not throw the draw away.
    always_zero: frozenset[str] = frozenset()
    #: What a command names the recipe by: a problem file's path as given (its folder too:
    #: the title's command is run again from the same place); the name for a recipe.
    argument: str | None = None

    def described(self, with_kinks: bool, options: dict[str, Any] | None = None) -> str:
        """What a problem of this recipe is, with its sizes (``options``, default the
        recipe's own): with ``--with-kinks``, the kink it holds."""
        if with_kinks and self.kink is not None and self.kink_description is not None:
            return self.kink_description
        text = self.description
        if self.options:  # a recipe's description names its sizes as {input}, {kernel}, ...
            text = text.format_map(_size_words({**self.options, **(options or {})}))
        if not with_kinks or self.kink is None:
            return text
        return text + KINK_WORDS[self.kink]

    def extra_decimals_for(self, options: dict) -> int:
        """The decimals divisions add to the answers of a problem of these sizes."""
        if self.sized_extra_decimals is None:
            return self.extra_decimals
        return self.sized_extra_decimals(options)


#: Decimals an inexact answer is asked to (and the key is rounded to).
INEXACT_DECIMALS = 4

# The layer and loss types the recipes compose.  A recipe is a problem document and names its
# layers as a problem file does: the type names live here, in the one module of
# cnngrad.generate that writes documents.  What a type *is* (inexact, shift-free, weighted,
# a kink at 0...) its family says (cnngrad.families): the generator asks it.
RELU = "relu"
MAXPOOL = "maxpool2d"
AVGPOOL = "avgpool2d"
SIGMOID = "sigmoid"
DENSE = "dense"
MSE = "mse"
#: The layer that adds its inputs (a residual block's skip connection).
ADD = "add"
#: What ``--with-kinks`` puts in: gradcheck's names for the two kinks.
RELU_ZERO, TIE = "relu_zero", "tie"
#: How a title names the kink ``--with-kinks`` put in.
KINK_WORDS = {RELU_ZERO: ", with a ReLU input of exactly 0", TIE: ", with tied maxima"}


# --------------------------------------------------------------------------- helpers


def _size_words(options: dict[str, Any]) -> dict[str, str]:
    """A recipe's options as its description writes them: ``(5, 5)`` → ``5×5``, and
    ``filters`` with its noun (``1 filter``, ``2 filters``)."""
    words = {key: "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
             for key, value in options.items()}
    if "filters" in options:
        words["filters"] += " filter" if options["filters"] == 1 else " filters"
    return words


def tensor(shape: tuple[int, ...], value: Callable[[], Fraction]) -> np.ndarray:
    """An object array of drawn Fractions, row-major draw order."""
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = value()
    return out


def sparse_delta(shape: tuple[int, ...], draw: Draw, style: Style) -> np.ndarray:
    """An upstream δ with about half its cells 0 (as after a ReLU and a max pool), at least
    two nonzero."""
    while True:
        out = tensor(shape, lambda: style.delta(draw) if draw.below(2) else Fraction(0))
        if sum(1 for v in out.flat if v != 0) >= min(2, out.size):
            return out


def conv_out(size: int, kernel: int, stride: int, padding: int, what: str,
             after_conv: bool = False, takes_padding: bool = False) -> int:
    """The output side of a conv (``what`` "--kernel") or a pool ("--pool"; ``after_conv``:
    on a conv's output), or a usage error naming the window and the side it does not fit
    (its hint offers --padding only where the recipe takes it: ``takes_padding``)."""
    out = conv_output_size(size, padding, padding, kernel, stride)
    if out < 1:
        window = "pool window" if what == "--pool" else "kernel"
        side = "the conv's output side" if after_conv else "the input side"
        hint = (f"give a smaller {what}" + (" or --kernel" if after_conv else "")
                + " or a larger --input" + (" / --padding" if takes_padding else ""))
        raise UsageError(f"{with_article(f'{kernel}-wide')} {window} does not fit {side} "
                         f"{size} with padding {padding}", where=what, hint=hint)
    return out


def _side(options: dict, key: str) -> tuple[int, int]:
    value = options[key]
    return (value, value) if isinstance(value, int) else tuple(value)


def _conv_layer(kernel: np.ndarray, bias=None, **fields) -> dict:
    layer = {"type": "conv2d", "kernel": kernel}
    if bias is not None:
        layer["bias"] = bias
    defaults = {"stride": 1, "padding": 0}  # left out when at the default, as a person writes
    layer.update({k: v for k, v in fields.items() if v != defaults.get(k)})
    return layer


# --------------------------------------------------------------------------- v1 recipes


def _seed(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    h_out = conv_out(h, kh, 1, 0, "--kernel")
    w_out = conv_out(w, kw, 1, 0, "--kernel")
    document: dict[str, Any] = {"input": tensor((h, w), lambda: style.data(draw)),
                                "kernel": tensor((kh, kw), lambda: style.weight(draw))}
    asked = {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 4}
    if options["bias"]:
        document["bias"] = style.bias(draw)
        asked["conv2d_1.grads.bias"] = 1
    document["delta"] = sparse_delta((h_out, w_out), draw, style)
    return Draft(document, asked)


def _conv_stride_pad(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    stride, padding = options["stride"], options["padding"]
    if padding > max(kh, kw) - 1:
        raise UsageError(f"padding {padding} leaves whole windows of padding only",
                         where="--padding", hint=f"at most {max(kh, kw) - 1} for this kernel")
    h_out = conv_out(h, kh, stride, padding, "--kernel", takes_padding=True)
    w_out = conv_out(w, kw, stride, padding, "--kernel", takes_padding=True)
    if stride > 1 and h_out == w_out == 1:
        # one window: an exercise "with stride" whose stride nothing depends on
        def useful(pad: int) -> int:  # the largest stride that moves a window, padded so
            return max(h + 2 * pad - kh, w + 2 * pad - kw)

        enough = next((pad for pad in range(padding + 1, max(kh, kw)) if useful(pad) >= stride),
                      None)
        raise UsageError(f"a stride of {stride} leaves one window, which no stride moves",
                         where="--stride",
                         hint=f"at most {useful(padding)} for this input, kernel and padding"
                         if useful(padding) >= 2 else "give a larger --input" + (
                             f", or --padding {enough}" if enough is not None else ""))
    layer = _conv_layer(tensor((kh, kw), lambda: style.weight(draw)), style.bias(draw),
                        stride=stride, padding=padding)
    document = {"input": tensor((h, w), lambda: style.data(draw)), "layers": [layer],
                "delta": tensor((h_out, w_out), lambda: style.delta(draw))}
    return Draft(document, {"conv2d_1.grads.kernel": 4, "conv2d_1.grads.bias": 1,
                            "conv2d_1.delta_in": 4})


def _multichannel(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    channels, filters = options["channels"], options["filters"]
    h_out = conv_out(h, kh, 1, 0, "--kernel")
    w_out = conv_out(w, kw, 1, 0, "--kernel")
    kernel = tensor((filters, channels, kh, kw), lambda: style.weight(draw))
    layer = _conv_layer(kernel, tensor((filters,), lambda: style.bias(draw)))
    document = {"input": tensor((channels, h, w), lambda: style.data(draw)), "layers": [layer],
                "delta": sparse_delta((filters, h_out, w_out), draw, style)}
    return Draft(document, {"conv2d_1.grads.kernel": 4, "conv2d_1.grads.bias": 1,
                            "conv2d_1.delta_in": 4})


def _pool_input(draw: Draw, style: Style, shape: tuple[int, int], size: int, stride: int,
                ties: bool) -> np.ndarray:
    """A map whose every max-pool window has one largest cell, or (``ties``) two tied
    largest cells in about half the windows (at least one)."""
    h, w = shape
    if ties and size == 1:
        raise UsageError("a 1×1 window holds one cell, which has no other to tie with",
                         where="--pool", hint="give --pool 2 or more")
    numbers = 0
    for _ in range(MAX_POOL_INPUTS):
        x = tensor((h, w), lambda: style.signed(draw))
        numbers += h * w
        tied_windows = 0
        for i in range(0, h - size + 1, stride):
            for j in range(0, w - size + 1, stride):
                cells = [(i + a, j + b) for a in range(size) for b in range(size)]
                while True:  # redraw a window until its maximum is alone
                    top = max(x[c] for c in cells)
                    if sum(1 for c in cells if x[c] == top) == 1:
                        break
                    if numbers > MAX_POOL_NUMBERS:
                        raise _no_pool_input(style, (h, w), size, stride, ties, "numbers",
                                             MAX_POOL_NUMBERS)
                    for c in cells:
                        x[c] = style.signed(draw)
                    numbers += len(cells)
                if ties and draw.below(2):
                    top_cell = max(cells, key=lambda c: x[c])
                    others = [c for c in cells if c != top_cell]
                    x[draw.pick(others)] = x[top_cell]
                    tied_windows += 1
        # overlapping windows: a later window may have undone an earlier one
        if stride < size and not _windows_ok(x, size, stride, ties):
            continue
        if not ties or tied_windows:
            return x
    raise _no_pool_input(style, (h, w), size, stride, ties, "maps", MAX_POOL_INPUTS)


def _no_pool_input(style: Style, shape: tuple[int, int], size: int, stride: int, ties: bool,
                   what: str, count: int) -> UsageError:
    """Windows of many cells over few distinct values: no map drawn kept them apart."""
    (h, w) = shape
    return UsageError(f"no {h}×{w} input in {count:,} {what} drawn with --numbers {style.name} "
                      f"has {'at most two tied maxima' if ties else 'one largest cell'} in "
                      f"every {size}×{size} window at stride {stride}", where="--pool",
                      hint="give a larger --stride, a smaller --pool or --input, or --numbers "
                           "2dp (more distinct values)")


def _windows_ok(x: np.ndarray, size: int, stride: int, ties: bool) -> bool:
    h, w = x.shape
    for i in range(0, h - size + 1, stride):
        for j in range(0, w - size + 1, stride):
            window = [x[i + a, j + b] for a in range(size) for b in range(size)]
            count = window.count(max(window))
            if count > (2 if ties else 1):
                return False
    return True


def _pool_sizes(options: dict) -> tuple[tuple[int, int], int, int, int, int]:
    (h, w) = _side(options, "input")
    size = options["pool"]
    stride = options["stride"] or size
    h_out = conv_out(h, size, stride, 0, "--pool")
    w_out = conv_out(w, size, stride, 0, "--pool")
    return (h, w), size, stride, h_out, w_out


def _maxpool(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), size, stride, h_out, w_out = _pool_sizes(options)
    layer: dict[str, Any] = {"type": MAXPOOL, "size": size}
    if stride != size:
        layer["stride"] = stride
    ties = options.get("ties")
    if ties is not None:  # maxpool-ties: the rule is the exercise, so the problem names it
        layer["ties"] = ties
    with_ties = ties is not None or kinks
    document = {"input": _pool_input(draw, style, (h, w), size, stride, with_ties),
                "layers": [layer], "delta": tensor((h_out, w_out), lambda: style.delta(draw))}
    return Draft(document, {"maxpool2d_1.output": 2, "maxpool2d_1.delta_in": 4})


def _decimals_of_a_share(cells: int) -> int:
    """The decimals 1/cells writes (4 cells: 0.25, 2; 16: 0.0625, 4; 25: 0.04, 2): the larger
    power of 2 or 5 in it.  Other factors write no decimal exactly (the command refuses
    those sizes before drawing)."""
    twos = fives = 0
    while cells % 2 == 0:
        cells, twos = cells // 2, twos + 1
    while cells % 5 == 0:
        cells, fives = cells // 5, fives + 1
    return max(twos, fives)


def _avgpool(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), size, stride, h_out, w_out = _pool_sizes(options)
    layer: dict[str, Any] = {"type": AVGPOOL, "size": size}
    if stride != size:
        layer["stride"] = stride
    document = {"input": tensor((h, w), lambda: style.signed(draw)), "layers": [layer],
                "delta": tensor((h_out, w_out), lambda: style.delta(draw))}
    return Draft(document, {"avgpool2d_1.output": 2, "avgpool2d_1.delta_in": 4})


def _network(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    size, outputs = options["pool"], options["outputs"]
    h_conv = conv_out(h, kh, 1, 0, "--kernel")
    w_conv = conv_out(w, kw, 1, 0, "--kernel")
    h_pool = conv_out(h_conv, size, size, 0, "--pool", after_conv=True)
    w_pool = conv_out(w_conv, size, size, 0, "--pool", after_conv=True)
    features = h_pool * w_pool
    x = tensor((h, w), lambda: style.data(draw))
    kernel = tensor((kh, kw), lambda: style.weight(draw))
    if style.scale == 1 and not style.exact_fractions:
        # whole numbers grow fast through two weighted layers: dense weights ±1 keep the
        # sigmoid's input (and the bias that centres it) small
        weights = tensor((outputs, features), lambda: Fraction(draw.pick((-1, 1))))
    else:
        weights = tensor((outputs, features), lambda: style.weight(draw))
    layers = [_conv_layer(kernel, style.bias(draw)), {"type": RELU},
              {"type": MAXPOOL, "size": size}, {"type": "flatten"},
              {"type": DENSE, "weights": weights,
               "bias": tensor((outputs,), lambda: style.bias(draw))},
              {"type": SIGMOID}]
    target = tensor((outputs,), lambda: Fraction(draw.below(2)))
    if kinks:  # drawn last: without --with-kinks a seed gives the numbers it always gave
        _tie_two_conv_outputs(x, draw, (kh, kw), size, (h_pool, w_pool))
    document = {"input": x, "layers": layers,
                "loss": {"type": MSE, "target": target, "reduction": "half_sum"}}
    return Draft(document, {"loss": 1, "dense_1.grads.weights": 3, "dense_1.grads.bias": 1,
                            "conv2d_1.grads.kernel": 4, "conv2d_1.grads.bias": 1})


def _tie_two_conv_outputs(x: np.ndarray, draw: Draw, kernel: tuple[int, int], size: int,
                          pools: tuple[int, int]) -> None:
    """Make two side-by-side conv outputs of one pool window equal, in place: the input
    patch of the right one is made a copy of the left one's (each row of the two patches
    holds one number), so whatever the kernel and bias the two sums are the same.

    A ReLU input of 0 before a max pool never changes an answer (the pool picks it only
    when its whole window is ReLU zeros, and the ReLU passes no δ back there), so the kink
    ``--with-kinks`` puts in this recipe is tied maxima.  The run keeps a draw when some
    window's maximum above 0 is tied: this pair where it is its window's maximum, or a tie
    the draw made by chance where it is not (docs/generate.md)."""
    (kh, kw), (h_pool, w_pool) = kernel, pools
    if size < 2:
        raise UsageError("a 1×1 pool window holds one cell, which has no other to tie with",
                         where="--pool", hint="give --pool 2 or more, or leave out --with-kinks")
    row = draw.below(h_pool) * size + draw.below(size)
    col = draw.below(w_pool) * size + draw.below(size - 1)
    for r in range(row, row + kh):
        x[r, col + 1:col + kw + 1] = x[r, col]


# --------------------------------------------------------------------------- v1.1 recipes


def _conv_transpose(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    stride = options["stride"]
    h_out, w_out = (h - 1) * stride + kh, (w - 1) * stride + kw
    layer: dict[str, Any] = {"type": "conv_transpose2d",
                             "kernel": tensor((kh, kw), lambda: style.weight(draw)),
                             "bias": style.bias(draw)}
    if stride != 1:
        layer["stride"] = stride
    document = {"input": tensor((h, w), lambda: style.signed(draw)), "layers": [layer],
                "delta": sparse_delta((h_out, w_out), draw, style)}
    return Draft(document, {"conv_transpose2d_1.output": 2,
                            "conv_transpose2d_1.grads.kernel": 4,
                            "conv_transpose2d_1.grads.bias": 1,
                            "conv_transpose2d_1.delta_in": 4})


def _batchnorm(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w) = _side(options, "input")
    channels, batch = options["channels"], options["batch"]
    shape = (batch, channels, h, w)
    if batch * h * w < 2:  # a single value per channel: its variance is 0 in every draw
        raise UsageError("batch norm in training mode needs 2 or more values per channel; "
                         "a batch of 1 of a 1×1 input has one", where="--batch",
                         hint="give --batch 2 or a larger --input")
    if batch * h * w == 2:  # x̂ is ±1 whatever the two values: δ_in is ε's alone
        raise UsageError("with 2 values per channel the input delta is 0 whatever they are "
                         "(x̂ is -1 and 1, and the mean's and the variance's paths cancel "
                         "δ), but for ε", where="--batch",
                         hint="give --batch 3 or a larger --input (the default: 2 of 2×2)")
    while True:
        x = tensor(shape, lambda: style.signed(draw))
        # a channel whose values are all equal has variance 0: its normalised map is 0/√eps
        if all(len(set(x[:, c].flat)) > 1 for c in range(channels)):
            break
    layer = {"type": "batchnorm2d", "gamma": tensor((channels,), lambda: style.weight(draw)),
             "beta": tensor((channels,), lambda: style.bias(draw))}
    document = {"input": x, "layers": [layer], "delta": tensor(shape, lambda: style.delta(draw))}
    return Draft(document, {"batchnorm2d_1.output": 2, "batchnorm2d_1.grads.gamma": 2,
                            "batchnorm2d_1.grads.beta": 1, "batchnorm2d_1.delta_in": 4})


def _residual(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    (h, w), (kh, kw) = _side(options, "input"), _side(options, "kernel")
    if kh % 2 == 0 or kw % 2 == 0:
        raise UsageError(f"a residual block keeps the map's size with an odd kernel, got "
                         f"{kh}x{kw}", where="--kernel", hint="e.g. --kernel 3x3")
    conv_out(h, kh, 1, (kh - 1) // 2, "--kernel")
    x = tensor((h, w), lambda: style.signed(draw))
    layers = [_conv_layer(tensor((kh, kw), lambda: style.weight(draw)), style.bias(draw),
                          padding="same"),
              {"type": RELU},
              _conv_layer(tensor((kh, kw), lambda: style.weight(draw)), padding="same"),
              {"type": ADD, "inputs": ["conv2d_2", "input"]}]
    document = {"input": x, "layers": layers, "delta": sparse_delta((h, w), draw, style)}
    return Draft(document, {"conv2d_2.grads.kernel": 3, "conv2d_1.grads.kernel": 3,
                            "conv2d_1.grads.bias": 1, "conv2d_1.delta_in": 3})


def _conv1d(draw: Draw, style: Style, options: dict, kinks: bool) -> Draft:
    length, k = options["input"], options["kernel"]
    if not isinstance(length, int) or not isinstance(k, int):
        raise UsageError("a 1-D conv takes one length", where="--input" if not
                         isinstance(length, int) else "--kernel", hint="e.g. --input 8 --kernel 3")
    stride = options["stride"]
    out = conv_out(length, k, stride, 0, "--kernel")
    layer: dict[str, Any] = {"type": "conv1d", "kernel": tensor((k,), lambda: style.weight(draw)),
                             "bias": style.bias(draw)}
    if stride != 1:
        layer["stride"] = stride
    document = {"input": tensor((length,), lambda: style.data(draw)), "layers": [layer],
                "delta": sparse_delta((out,), draw, style)}
    return Draft(document, {"conv1d_1.grads.kernel": 4, "conv1d_1.grads.bias": 1,
                            "conv1d_1.delta_in": 4})


# --------------------------------------------------------------------------- the list


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("seed", "one conv, given δ: {input} input, {kernel} kernel, the classic",
           _seed, {"input": (5, 5), "kernel": (2, 2), "bias": False}, factors=2,
           layer_types=("conv2d",)),
    Recipe("conv-stride-pad", "conv with stride and padding, a bias, given δ",
           _conv_stride_pad, {"input": (5, 5), "kernel": (3, 3), "stride": 2, "padding": 1},
           factors=2, layer_types=("conv2d",)),
    Recipe("network", "conv → relu → maxpool → flatten → dense → sigmoid, MSE loss",
           _network, {"input": (5, 5), "kernel": (2, 2), "pool": 2, "outputs": 2},
           inexact=True, kink=TIE, default_numbers="1dp",
           layer_types=("conv2d", RELU, MAXPOOL, "flatten", DENSE, SIGMOID)),
    Recipe("multichannel", "conv over a {channels}-channel input with {filters}, given δ",
           _multichannel, {"input": (4, 4), "kernel": (2, 2), "channels": 2, "filters": 2},
           factors=2, layer_types=("conv2d",)),
    Recipe("maxpool", "max pooling, no ties: where δ goes back", _maxpool,
           {"input": (4, 4), "pool": 2, "stride": None}, factors=1, kink=TIE,
           layer_types=(MAXPOOL,),
           kink_description="max pooling with tied maxima (the first in reading order takes "
                            "δ): where δ goes back"),
    Recipe("maxpool-ties", "max pooling with tied maxima, under a tie rule", _maxpool,
           {"input": (4, 4), "pool": 2, "stride": None, "ties": "split"}, factors=1,
           extra_decimals=1, about_kinks=True, layer_types=(MAXPOOL,)),
    Recipe("avgpool", "average pooling, given δ", _avgpool,
           {"input": (4, 4), "pool": 2, "stride": None}, factors=1, extra_decimals=2,
           sized_extra_decimals=lambda options: _decimals_of_a_share(options["pool"] ** 2),
           layer_types=(AVGPOOL,)),
    Recipe("conv-transpose", "transposed conv (stride {stride}), given δ", _conv_transpose,
           {"input": (2, 2), "kernel": (2, 2), "stride": 2}, factors=2,
           layer_types=("conv_transpose2d",)),
    Recipe("batchnorm", "batch norm (training mode) over a batch of {batch}, given δ", _batchnorm,
           {"input": (2, 2), "channels": 1, "batch": 2}, inexact=True, bare_epsilon=True,
           layer_types=("batchnorm2d",)),
    Recipe("residual", "residual block: conv → relu → conv, plus the input, given δ", _residual,
           {"input": (4, 4), "kernel": (3, 3)}, factors=3, kink=RELU_ZERO,
           layer_types=("conv2d", RELU, ADD)),
    Recipe("conv1d", "1-D conv over a sequence, given δ", _conv1d,
           {"input": 8, "kernel": 3, "stride": 1}, factors=2, layer_types=("conv1d",)),
)}

#: Recipes whose sizes are one length (``--input 8``), not rows×columns.
ONE_D_RECIPES = ("conv1d",)

#: What `--list` shows for a problem file given as the recipe.
FILE_RECIPE = ("FILE.json", "a problem file, every number drawn afresh (same shapes)")

#: How each size option is written on the command line.
OPTION_NAMES = {"input": "--input", "kernel": "--kernel", "stride": "--stride",
                "padding": "--padding", "channels": "--channels", "filters": "--filters",
                "pool": "--pool", "outputs": "--outputs", "ties": "--ties", "batch": "--batch",
                "bias": "--bias"}


def resolve_options(recipe: Recipe, given: dict[str, Any]) -> dict[str, Any]:
    """The recipe's defaults with the given options over them; an option the recipe does not
    take, or a size out of range, is a usage error naming the option."""
    options = dict(recipe.options)
    for key, value in given.items():
        if value is None:
            continue
        if key not in options:
            takes = ", ".join(OPTION_NAMES[k] for k in recipe.options) or "no size options"
            raise UsageError(f"recipe '{recipe.name}' does not take {OPTION_NAMES[key]}",
                             where=OPTION_NAMES[key], hint=f"it takes {takes}")
        options[key] = value
    for key, value in options.items():
        if value is None or isinstance(value, (bool, str)):
            continue
        sides = value if isinstance(value, tuple) else (value,)
        limit = {"channels": MAX_CHANNELS, "filters": MAX_CHANNELS, "batch": MAX_BATCH,
                 "outputs": MAX_CHANNELS}.get(key, MAX_SIDE)
        low = 0 if key == "padding" else 1
        for side in sides:
            if not low <= side <= limit:
                raise UsageError(f"{side} is out of range ({low} to {limit} for an exercise "
                                 f"worked by hand)", where=OPTION_NAMES[key])
    if "ties" in options and recipe.about_kinks and options["ties"] is None:
        options["ties"] = "split"
    return options
