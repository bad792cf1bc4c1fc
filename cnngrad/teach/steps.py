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

Each function returns the steps as an ordered list of ``(caption, matrix)``, matrices 2-D.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from cnngrad.layers._common import zeros_like_dtype
from cnngrad.problem import Conv2dSpec, Layout, Pool2dSpec

Step = tuple[str, np.ndarray]

#: numpy.pad's name for each padding_mode that copies cells (torch's reflect is numpy's).
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}

#: Layer types that have textbook steps.
STEP_TYPES = ("conv2d", "maxpool2d", "avgpool2d")


@dataclass
class Textbook:
    """A layer's backward pass, done the textbook way.

    ``delta_in`` is (N, C, H, W); ``grads`` holds the kernel gradient (the kernel's given
    shape) for a conv layer, nothing for pooling.
    """

    steps: list[Step]
    delta_in: np.ndarray
    grads: dict[str, np.ndarray] = field(default_factory=dict)


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


class _Labels:
    """``[n=0, f=1]``: the leading indices a matrix stands for, only those the report shows."""

    def __init__(self, layout: Layout | None) -> None:
        self.batched = layout is not None and layout.batched

    def __call__(self, n: int | None = None, **axes: tuple[int, int]) -> str:
        parts = [f"n={n}"] if self.batched and n is not None else []
        parts += [f"{name}={index}" for name, (index, count) in axes.items() if count > 1]
        return f" [{', '.join(parts)}]" if parts else ""


# --------------------------------------------------------------------------- conv


def conv_textbook(spec: Conv2dSpec, x: np.ndarray, delta_out: np.ndarray,
                  layout: Layout | None = None) -> Textbook:
    """A conv layer's input delta and kernel gradient by full convolution, step by step.

    Parameters
    ----------
    spec : Conv2dSpec
    x : ndarray (N, C, H, W)
        The layer's input.
    delta_out : ndarray (N, F, H', W')
        dE/d(output).
    layout : Layout, optional
        How the report shows results (decides which indices the captions name).

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, H, W) and ``grads["kernel"]`` in the kernel's given shape.

    Notes
    -----
    With k_eff = d·(k − 1) + 1 and the padded input H_p = H + pad_top + pad_bottom, the
    zero-inserted delta has (H' − 1)·s + 1 rows; padding it by k_eff − 1 on top and
    k_eff − 1 + r below, r = H_p − ((H' − 1)·s + k_eff) (the rows no window reaches), makes
    the full convolution exactly H_p rows.
    """
    label = _Labels(layout)
    n_count, c_count, h, w = x.shape
    f_count, cg, kh, kw = spec.weight.shape
    fg = f_count // spec.groups
    (sh, sw), (dh, dw), sides = spec.stride, spec.dilation, spec.padding
    top, bottom, left, right = sides
    hp, wp = h + top + bottom, w + left + right
    h_out, w_out = delta_out.shape[2:]
    kh_eff, kw_eff = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    rest_h, rest_w = hp - ((h_out - 1) * sh + kh_eff), wp - ((w_out - 1) * sw + kw_eff)
    # flip_kernel: the kernel that slides is the given one rotated 180°
    used = spec.weight[:, :, ::-1, ::-1] if spec.flip_kernel else spec.weight
    steps: list[Step] = []
    like = delta_out if delta_out.dtype == object else np.empty(0, np.result_type(delta_out, x))

    rotated = {}
    for f in range(f_count):
        for c in range(cg):
            kernel = used[f, c]
            tag = label(f=(f, f_count), c=(c, cg))
            if spec.flip_kernel:
                steps.append((f"kernel as it slides{tag}: flip_kernel rotates the given one "
                              f"180°", kernel))
            if (dh, dw) != (1, 1):
                kernel = dilate(kernel, (dh, dw))
                steps.append((f"kernel dilated{tag}: {dh - 1}×{dw - 1} zeros between taps "
                              f"(dilation {dh}×{dw})", kernel))
            rotated[f, c] = kernel[::-1, ::-1]
            steps.append((f"kernel rotated 180°{tag}", rotated[f, c]))

    padded = sides != (0, 0, 0, 0)
    # the input delta: full convolution of the spread, padded delta with the rotated kernel
    delta_in = _zeros((n_count, c_count, h, w), like)
    spreads = {}
    for n in range(n_count):
        delta_padded_input = _zeros((c_count, hp, wp), like)
        for f in range(f_count):
            tag = label(n, f=(f, f_count))
            spread = delta_out[n, f]
            steps.append((f"δ{tag}: dE/d(output)", spread))
            if (sh, sw) != (1, 1):
                spread = insert_zeros(spread, (sh, sw))
                steps.append((f"δ{tag} with zeros inserted: {sh - 1} between rows, {sw - 1} "
                              f"between columns (stride {sh}×{sw})", spread))
            spreads[n, f] = spread
            full_pad = zero_pad(spread, kh_eff - 1, kh_eff - 1 + rest_h, kw_eff - 1,
                                kw_eff - 1 + rest_w)
            extra = (f" (+{rest_h} below, +{rest_w} right: input no window reaches)"
                     if rest_h or rest_w else "")
            steps.append((f"δ{tag} padded for the full convolution: {kh_eff - 1} zero row(s) "
                          f"and {kw_eff - 1} zero column(s) each side{extra}", full_pad))
            g = f // fg
            for c in range(cg):
                channel = g * cg + c
                full = correlate_valid(full_pad, rotated[f, c])
                delta_padded_input[channel] = delta_padded_input[channel] + full
                if fg > 1:
                    steps.append((f"full convolution of δ{tag} with the rotated kernel"
                                  f"{label(f=(f, f_count), c=(c, cg))}", full))
        for channel in range(c_count):
            tag = label(n, c=(channel, c_count))
            whole = delta_padded_input[channel]
            summed = ", summed over the filters" if fg > 1 else ""
            if not padded:
                steps.append((f"δ_in{tag} = dE/d(input): the full convolution of the padded δ "
                              f"with the rotated kernel{summed}", whole))
                delta_in[n, channel] = whole
                continue
            steps.append((f"dE/d(padded input){tag}: the full convolution of the padded δ "
                          f"with the rotated kernel{summed}", whole))
            how = ("cropped to the input: the padding is not an input"
                   if spec.padding_mode == "zeros" else
                   f"each padded cell's delta added to the cell it copies ({spec.padding_mode})")
            delta_in[n, channel] = _fold_padding(whole, sides, spec.padding_mode, (h, w))
            steps.append((f"δ_in{tag} = dE/d(input): {how}", delta_in[n, channel]))
    # the kernel gradient: the padded input correlated with the (zero-inserted) delta
    grad_used = _zeros((f_count, cg, kh, kw), like)
    for n in range(n_count):
        for channel in range(c_count):
            source = pad_input(x[n, channel], sides, spec.padding_mode)
            if padded:
                steps.append((f"input o{label(n, c=(channel, c_count))} padded "
                              f"({spec.padding_mode}) as the kernel slides over it", source))
            g, c = divmod(channel, cg)
            for f in range(g * fg, (g + 1) * fg):
                corr = correlate_valid(source, spreads[n, f])
                grad_nfc = corr[::dh, ::dw][:kh, :kw]
                caption = (f"dE/dw{label(n, f=(f, f_count), c=(c, cg))} = "
                           f"{'padded ' if padded else ''}o ⋆ "
                           f"δ{' with zeros inserted' if (sh, sw) != (1, 1) else ''} (valid "
                           f"correlation)")
                if (dh, dw) != (1, 1):
                    steps.append((caption, corr))
                    caption = (f"dE/dw{label(n, f=(f, f_count), c=(c, cg))}: every "
                               f"{_pair_text((dh, dw))}-th entry of it (dilation)")
                steps.append((caption, grad_nfc))
                grad_used[f, c] = grad_used[f, c] + grad_nfc
    if n_count > 1:
        for f in range(f_count):
            for c in range(cg):
                steps.append((f"dE/dw{label(f=(f, f_count), c=(c, cg))}: summed over the batch",
                              grad_used[f, c]))
    grad = grad_used[:, :, ::-1, ::-1] if spec.flip_kernel else grad_used
    if spec.flip_kernel:
        for f in range(f_count):
            for c in range(cg):
                steps.append((f"dE/dw{label(f=(f, f_count), c=(c, cg))} for the kernel as "
                              f"given: rotated back 180° (flip_kernel)", grad[f, c]))
    grads = {"kernel": np.ascontiguousarray(grad).reshape(spec.kernel.shape)}
    return Textbook(steps=steps, delta_in=delta_in, grads=grads)


def _pair_text(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


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


# --------------------------------------------------------------------------- pooling


def _pool_grid(spec: Pool2dSpec, hw: tuple[int, int], out_hw: tuple[int, int]):
    """The padded grid every window fits in: (rows, cols), the input's corner in it."""
    (kh, kw), (sh, sw), (ph, pw) = spec.size, spec.stride, spec.padding
    rows = max(hw[0] + 2 * ph, (out_hw[0] - 1) * sh + kh)
    cols = max(hw[1] + 2 * pw, (out_hw[1] - 1) * sw + kw)
    return rows, cols


def _tap_slices(spec: Pool2dSpec, a: int, b: int, out_hw):
    (sh, sw) = spec.stride
    return (slice(a, a + (out_hw[0] - 1) * sh + 1, sh), slice(b, b + (out_hw[1] - 1) * sw + 1, sw))


def _spread(spec: Pool2dSpec, share: np.ndarray, grid_shape, hw, like) -> np.ndarray:
    """Add each window's per-cell amounts share[i, j, a, b] onto the grid, then keep the
    input's cells (padding gets nothing)."""
    (kh, kw), (ph, pw) = spec.size, spec.padding
    out_hw = share.shape[:2]
    grid = _zeros(grid_shape, like)
    for a in range(kh):
        for b in range(kw):
            rows, cols = _tap_slices(spec, a, b, out_hw)
            grid[rows, cols] = grid[rows, cols] + share[:, :, a, b]
    return grid[ph:ph + hw[0], pw:pw + hw[1]]


def _windows(spec: Pool2dSpec, grid: np.ndarray, out_hw) -> np.ndarray:
    """(H', W', kh, kw): the cells of every window."""
    (kh, kw) = spec.size
    out = np.empty(tuple(out_hw) + (kh, kw), dtype=grid.dtype)
    for a in range(kh):
        for b in range(kw):
            out[:, :, a, b] = grid[_tap_slices(spec, a, b, out_hw)]
    return out


def maxpool_textbook(spec: Pool2dSpec, x: np.ndarray, delta_out: np.ndarray,
                     layout: Layout | None = None) -> Textbook:
    """Max pooling's input delta through the argmax mask, step by step.

    Parameters
    ----------
    spec : Pool2dSpec
    x : ndarray (N, C, H, W)
    delta_out : ndarray (N, C, H', W')
    layout : Layout, optional

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, H, W).

    Notes
    -----
    The mask holds, for each input cell, the share of its window's delta it takes (1 for the
    chosen maximum; 1/count for a tie under ``split``), summed over overlapping windows.
    """
    label = _Labels(layout)
    n_count, c_count, h, w = x.shape
    out_hw = delta_out.shape[2:]
    ph, pw = spec.padding
    grid_shape = _pool_grid(spec, (h, w), out_hw)
    exact = x.dtype == object
    steps: list[Step] = []
    delta_in = _zeros(x.shape, x)
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            # padded cells are −∞: they never win (a float −∞ object in exact mode, only
            # ever compared, never kept)
            grid = np.empty(grid_shape, dtype=x.dtype)
            grid.fill(-np.inf if not exact else float("-inf"))
            grid[ph:ph + h, pw:pw + w] = x[n, c]
            windows = _windows(spec, grid, out_hw)
            maxima = windows.max(axis=(2, 3))
            hits = np.asarray(windows == maxima[:, :, None, None], dtype=bool)
            share = _tie_shares(hits, spec.ties, exact, x.dtype)
            mask = _spread(spec, share, grid_shape, (h, w), x)
            steps.append((f"window maxima{tag} (the forward output)", maxima))
            steps.append((f"argmax mask{tag}: the share of its window's delta each cell takes "
                          f"(ties: {spec.ties})", mask))
            routed = share * delta_out[n, c][:, :, None, None]
            cell_delta = _spread(spec, routed, grid_shape, (h, w), x)
            steps.append((f"δ_in{tag}: each window's δ sent to its maximum"
                          + (", overlapping windows added" if not _disjoint(spec) else ""),
                          cell_delta))
            delta_in[n, c] = cell_delta
    return Textbook(steps=steps, delta_in=delta_in)


def _disjoint(spec: Pool2dSpec) -> bool:
    return spec.stride[0] >= spec.size[0] and spec.stride[1] >= spec.size[1]


def _tie_shares(hits: np.ndarray, ties: str, exact: bool, dtype) -> np.ndarray:
    """(H', W', kh, kw) shares of each window's delta: which maxima take it, and how much."""
    out_h, out_w, kh, kw = hits.shape
    if ties == "first":
        flat = hits.reshape(out_h, out_w, kh * kw)
        first = np.argmax(flat, axis=2)  # the first True, row-major within the window
        chosen = np.zeros_like(flat)
        np.put_along_axis(chosen, first[:, :, None], True, axis=2)
        picked = chosen.reshape(hits.shape)
    elif ties in ("all", "split"):
        picked = hits
    else:
        raise ValueError(f"unknown tie rule {ties!r}; allowed: first, split, all")
    if exact:
        share = np.empty(hits.shape, dtype=object)
        share.fill(0)
        share[picked] = 1
        if ties == "split":
            counts = hits.sum(axis=(2, 3))
            share = share / np.vectorize(Fraction, otypes=[object])(counts)[:, :, None, None]
        return share
    share = picked.astype(dtype)
    if ties == "split":
        share = share / hits.sum(axis=(2, 3))[:, :, None, None].astype(dtype)
    return share


def avgpool_textbook(spec: Pool2dSpec, x: np.ndarray, delta_out: np.ndarray,
                     layout: Layout | None = None) -> Textbook:
    """Average pooling's input delta: each window's delta over its divisor, spread on its cells.

    Parameters
    ----------
    spec : Pool2dSpec
    x : ndarray (N, C, H, W)
    delta_out : ndarray (N, C, H', W')
    layout : Layout, optional

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, H, W).

    Notes
    -----
    The divisor of a window is its number of cells inside the padded input
    (``count_include_pad``), or of real input cells; PyTorch's rule.
    """
    label = _Labels(layout)
    n_count, c_count, h, w = x.shape
    out_hw = delta_out.shape[2:]
    (kh, kw), (ph, pw) = spec.size, spec.padding
    grid_shape = _pool_grid(spec, (h, w), out_hw)
    # which grid cells count: the padded input, or only the real input
    counted = np.zeros(grid_shape, dtype=np.int64)
    if spec.count_include_pad:
        counted[:h + 2 * ph, :w + 2 * pw] = 1
    else:
        counted[ph:ph + h, pw:pw + w] = 1
    divisors = _windows(spec, counted, out_hw).sum(axis=(2, 3))
    exact = x.dtype == object
    divisor_values = (np.vectorize(Fraction, otypes=[object])(divisors) if exact
                      else divisors.astype(x.dtype))
    what = "cells inside the padded input" if spec.count_include_pad else "real input cells"
    steps: list[Step] = [(f"divisors: each window's {what}", divisors)]
    delta_in = _zeros(x.shape, x)
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            share = delta_out[n, c] / divisor_values
            steps.append((f"δ{tag} / divisor: what each cell of a window gets", share))
            spread = np.empty(tuple(out_hw) + (kh, kw), dtype=share.dtype)
            spread[...] = share[:, :, None, None]
            cell_delta = _spread(spec, spread, grid_shape, (h, w), x)
            steps.append((f"δ_in{tag}: every window's share added to each of its cells "
                          f"(padding dropped)", cell_delta))
            delta_in[n, c] = cell_delta
    return Textbook(steps=steps, delta_in=delta_in)


# --------------------------------------------------------------------------- a whole trace


def layer_textbook(layer, layout: Layout | None = None) -> Textbook | None:
    """The textbook route for one traced layer (None for a layer type without steps)."""
    kind = layer.type
    if kind == "conv2d":
        return conv_textbook(layer.spec, layer.input, layer.delta_out, layout)
    if kind == "maxpool2d":
        return maxpool_textbook(layer.spec, layer.input, layer.delta_out, layout)
    if kind == "avgpool2d":
        return avgpool_textbook(layer.spec, layer.input, layer.delta_out, layout)
    return None


def layer_steps(layer, layout: Layout | None = None) -> list[Step]:
    """The ordered (caption, matrix) steps of one traced layer; [] for other layer types."""
    textbook = layer_textbook(layer, layout)
    return [] if textbook is None else textbook.steps


def trace_steps(trace) -> dict[str, list[Step]]:
    """Layer name → its steps, for every conv and pool layer of a finished run."""
    return {layer.name: layer_steps(layer, trace.layout) for layer in trace.layers
            if layer.type in STEP_TYPES}


__all__ = ["Textbook", "Step", "STEP_TYPES", "conv_textbook", "maxpool_textbook",
           "avgpool_textbook", "layer_textbook", "layer_steps", "trace_steps",
           "insert_zeros", "zero_pad", "pad_input", "correlate_valid", "dilate", "source_rows"]
