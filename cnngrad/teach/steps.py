"""The backward pass the textbook way, one intermediate matrix at a time (``--show-steps``).

A textbook computes a conv layer's input delta as a *full convolution*: the delta with zeros
inserted between its cells (stride > 1), padded by d·(k − 1) zeros all round, correlated with
the kernel rotated 180° (dilated first when d > 1), summed over the filters, then cropped to
the input (or, for reflect/replicate/circular padding, each padded cell's delta added back to
the cell it copies).  The kernel gradient is the padded input correlated with the
(zero-inserted) delta.  Max pooling routes each window's delta through its argmax mask,
average pooling divides it by each window's divisor.

Every route here is written independently of the fast engine in :mod:`cnngrad.layers` (plain
whole-matrix operations and loops over kernel taps), so it doubles as a check on it: the tests
hold the final matrices to the engine's ``delta_in`` and gradients.  Like the engine, it runs
unchanged on ``dtype=object`` arrays of :class:`fractions.Fraction` (``--exact``).

Each layer family writes its own route (``textbook``: ``conv_textbook`` in
:mod:`cnngrad.families.conv2d`, ``maxpool_textbook`` and ``avgpool_textbook`` in
:mod:`cnngrad.families.pool2d`) with the matrix tools here; each route returns the steps as an
ordered list of ``(caption, matrix)``, matrices 2-D.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnngrad.families import family_of
from cnngrad.layers._common import zeros_like_dtype
from cnngrad.problem import Layout

Step = tuple[str, np.ndarray]

#: numpy.pad's name for each padding_mode that copies cells (torch's reflect is numpy's).
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@dataclass
class Textbook:
    """A layer's backward pass, done the textbook way.

    ``delta_in`` is (N, C, H, W); ``grads`` holds the kernel gradient (the kernel's given
    shape) for a conv layer, nothing for pooling.
    """

    steps: list[Step]
    delta_in: np.ndarray
    grads: dict[str, np.ndarray] = field(default_factory=dict)


def one_row_steps(steps: list[Step]) -> list[Step]:
    """A 1-D layer's steps, done by the 2-D route on one-row maps, with each one-row matrix
    shown as the vector it stands for (no row index beside it, as the layer's own maps)."""
    return [(caption, matrix[0] if np.ndim(matrix) == 2 and len(matrix) == 1 else matrix)
            for caption, matrix in steps]


# --------------------------------------------------------------------------- matrix tools


def _zeros(shape, like: np.ndarray) -> np.ndarray:
    return zeros_like_dtype(tuple(shape), like)


def insert_zeros(matrix: np.ndarray, stride: tuple[int, int]) -> np.ndarray:
    """(s − 1) zeros between neighbouring cells: (H, W) → ((H−1)·s + 1, (W−1)·s + 1)."""
    h, w = matrix.shape
    out = _zeros(((h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1), matrix)
    out[::stride[0], ::stride[1]] = matrix
    return out


def zero_pad(matrix: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    h, w = matrix.shape
    out = _zeros((h + top + bottom, w + left + right), matrix)
    out[top:top + h, left:left + w] = matrix
    return out


def source_rows(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of a padded axis, the input position it copies (reflect, replicate,
    circular: numpy.pad of the positions themselves)."""
    if mode not in _NUMPY_PAD_MODES:
        raise ValueError(f"padding_mode {mode!r} copies no cells; allowed: "
                         f"{', '.join(_NUMPY_PAD_MODES)}")
    return np.pad(np.arange(size), (before, after), mode=_NUMPY_PAD_MODES[mode])


def pad_input(matrix: np.ndarray, sides, mode: str) -> np.ndarray:
    """The input as the kernel slides over it: zeros, or copies of its own cells."""
    top, bottom, left, right = sides
    if mode == "zeros":
        return zero_pad(matrix, top, bottom, left, right)
    h, w = matrix.shape
    rows, cols = source_rows(h, top, bottom, mode), source_rows(w, left, right, mode)
    return matrix[rows[:, None], cols[None, :]]


def correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid cross-correlation: out[i, j] = Σ_m Σ_n kernel[m, n] · image[i + m, j + n]."""
    kh, kw = kernel.shape
    h_out, w_out = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = _zeros((h_out, w_out), image)
    for m in range(kh):
        for n in range(kw):
            out = out + kernel[m, n] * image[m:m + h_out, n:n + w_out]
    return out


def dilate(kernel: np.ndarray, dilation: tuple[int, int]) -> np.ndarray:
    """(d − 1) zeros between the kernel's taps, the kernel as a dilated conv sees it."""
    return insert_zeros(kernel, dilation)


# --------------------------------------------------------------------------- labels


class StepLabels:
    """``[n=0, f=1]``: the leading indices a matrix stands for, only those the report shows."""

    def __init__(self, layout: Layout | None) -> None:
        self.batched = layout is not None and layout.batched

    def __call__(self, n: int | None = None, **axes: tuple[int, int]) -> str:
        parts = [f"n={n}"] if self.batched and n is not None else []
        parts += [f"{name}={index}" for name, (index, count) in axes.items() if count > 1]
        return f" [{', '.join(parts)}]" if parts else ""


# --------------------------------------------------------------------------- shared by the routes


def _fold_padding(delta_padded: np.ndarray, sides, mode: str, hw: tuple[int, int]) -> np.ndarray:
    """dE/d(padded input) → dE/d(input): crop (zeros) or add each padded cell's delta to the
    cell it copies."""
    top, bottom, left, right = sides
    h, w = hw
    if mode == "zeros":
        return delta_padded[top:top + h, left:left + w].copy()
    rows, cols = source_rows(h, top, bottom, mode), source_rows(w, left, right, mode)
    out = _zeros((h, w), delta_padded)
    np.add.at(out, (rows[:, None], cols[None, :]), delta_padded)
    return out


# --------------------------------------------------------------------------- a whole trace


def layer_textbook(layer, layout: Layout | None = None) -> Textbook | None:
    """The textbook route for one traced layer (None for a layer type without steps): each
    family's ``textbook`` (conv2d, maxpool2d and avgpool2d have one)."""
    return family_of(layer.spec).textbook(layer, layout)


def layer_steps(layer, layout: Layout | None = None) -> list[Step]:
    """The ordered (caption, matrix) steps of one traced layer; [] for other layer types."""
    textbook = layer_textbook(layer, layout)
    return [] if textbook is None else textbook.steps


def trace_steps(trace) -> dict[str, list[Step]]:
    """Layer name → its steps, for every layer of a finished run that has textbook steps."""
    steps = {}
    for layer in trace.layers:
        textbook = layer_textbook(layer, trace.layout)
        if textbook is not None:
            steps[layer.name] = textbook.steps
    return steps


__all__ = ["Textbook", "Step", "layer_textbook", "layer_steps", "trace_steps",
           "insert_zeros", "one_row_steps", "zero_pad", "pad_input", "correlate_valid",
           "dilate", "source_rows"]
