"""conv2d: a 2-D convolution (cross-correlation, as torch.nn.Conv2d), everything cnngrad knows
about it: fields and validation, schema, step, explanation rules, textbook steps and slips.

The numbers come from :mod:`cnngrad.layers.conv` (``conv2d_forward`` / ``conv2d_backward``);
this module adapts the layer as the user gave it (a 2-D kernel, a number bias,
``flip_kernel``) to the kernels and back: a parameter's gradient comes out in exactly the
shape the parameter was given in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
import dataclasses
from dataclasses import dataclass

import numpy as np

from cnngrad.errors import ShapeError, join_path
from cnngrad.families.base import (Head, LayerFamily, check_groups, counted, kernel_axes,
                                   kernel_past_input, number_bias_grad, read_bias,
                                   read_kernel2d, shape_size, side_path,
                                   through_padding_words, vector_hint, working_buffer)
from cnngrad.layers._common import (PADDING_MODES, conv_output_size, same_padding,
                                    same_padding_stride1, zeros_like_dtype)
from cnngrad.layers.conv import conv2d_backward, conv2d_forward, pad2d, pad2d_backward, padded_source
from cnngrad.problem import (INPUT, LayerSpec, every_text, padding_word, pair_text, shape_text,
                             sides_text)

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.problem import Layout
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, Factor, NamedCells, TensorPath
    from cnngrad.teach.steps import Step, Textbook


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class Conv2dSpec(LayerSpec):
    kernel: np.ndarray = None  # as given
    weight: np.ndarray = None  # (F, C/groups, kh, kw), as given (not flipped)
    bias: np.ndarray | None = None  # as given
    bias_kind: str = "none"  # none | scalar | filter | untied
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    padding_mode: str = "zeros"
    flip_kernel: bool = False
    #: ``"layout": "nhwc"``: the kernel was given k1×k2×C_in / k1×k2×F / HWIO and an untied
    #: bias H'×W'×F; ``weight`` is always (F, C/groups, kh, kw)
    channels_last: bool = False

    @property
    def params(self) -> dict[str, np.ndarray]:
        out = {"kernel": self.kernel}
        if self.bias is not None:
            out["bias"] = self.bias
        return out


# ------------------------------------------------------------------------------- reading a problem


def build_conv2d(ctx, raw: dict, head: Head) -> Conv2dSpec:
    index, name, kind, where, shape = head.index, head.name, head.kind, head.where, head.in_shape
    n, c_in, h, w = ctx.need_map(shape, where, kind)
    f = lambda key: join_path(where, key)  # noqa: E731
    if "kernel" not in raw:
        raise ctx.error(where, "conv2d layer has no 'kernel'")
    kernel = read_kernel2d(ctx, raw["kernel"], f("kernel"))
    channels_last = bool(head.layout.channels_last)
    # read already, but its gradient and the flipped copy would double it
    ctx.check_size(kernel.size, f("kernel"), "the kernel")
    groups = ctx.integer(raw.get("groups", 1), f("groups"))
    stride = ctx.int_pair(raw.get("stride", 1), f("stride"))
    dilation = ctx.int_pair(raw.get("dilation", 1), f("dilation"))
    padding_mode = ctx.choice(raw.get("padding_mode", "zeros"), f("padding_mode"),
                              PADDING_MODES, "padding mode")
    flip = ctx.boolean(raw.get("flip_kernel", False), f("flip_kernel"))

    check_groups(ctx, groups, c_in, f("groups"))
    c_group = c_in // groups
    # a 3-D input read straight from the problem may be N images of one channel written
    # without their channel axis: the 2-D kernel's hint says how to write those
    images = (shape_text((c_in, 1, h, w)) if not channels_last and not head.layout.batched
              and head.layout.input_rank == 3 and head.inputs == (INPUT,) else None)
    weight = _kernel_as_4d(ctx, kernel_to_nchw(kernel, channels_last), c_in, c_group, groups,
                           f("kernel"), channels_last, images)
    n_filters, _, kh, kw = weight.shape
    if n_filters % groups:
        raise ctx.error(f("groups"), f"groups={groups} does not divide the "
                                      f"{counted(n_filters, 'filter')}",
                        "give " + ("k1×k2×(C_in/groups)×F" if channels_last
                                   else "F×(C_in/groups)×k1×k2")
                        + f" with F a multiple of {groups}", cls=ShapeError)

    padding = _conv_padding(ctx, raw.get("padding", 0), f("padding"), (kh, kw), dilation,
                            stride, (h, w))
    pt, pb, pl, pr = padding
    ctx.check_size((h + pt + pb) * (w + pl + pr) * n * c_in, f("padding"),
                   "the padded input")
    if padding_mode != "zeros":
        limit_ok = (lambda p, size: p < size) if padding_mode == "reflect" else \
            (lambda p, size: p <= size) if padding_mode == "circular" else (lambda p, size: True)
        # the padding list's element that set each side: [ph, pw] or [top, bottom, left, right]
        for p, size, axis, side in ((pt, h, "top", {2: 0, 4: 0}), (pb, h, "bottom", {2: 0, 4: 1}),
                                    (pl, w, "left", {2: 1, 4: 2}), (pr, w, "right", {2: 1, 4: 3})):
            if not limit_ok(p, size):
                rule = "smaller than" if padding_mode == "reflect" else "at most"
                raise ctx.error(side_path(f("padding"), raw.get("padding"), side),
                                f"{padding_mode} padding of {p} ({axis}) must "
                                               f"be {rule} the input size {size}",
                                cls=ShapeError)
    h_out = conv_output_size(h, pt, pb, kh, stride[0], dilation[0])
    w_out = conv_output_size(w, pl, pr, kw, stride[1], dilation[1])
    if h_out < 1 or w_out < 1:
        raise kernel_past_input(ctx, f("kernel"), (h, w), ((pt, pb), (pl, pr)), (kh, kw),
                                dilation, padding_mode, n * c_in)
    # the im2col buffer of one image: the engine never holds more than this at once
    ctx.check_size(c_in * kh * kw * h_out * w_out, f("kernel"),
                   working_buffer("image", "im2col", c_in, f"{kh}×{kw} kernel taps",
                                  f"{h_out}×{w_out} outputs"))
    if stride == (1, 1):
        # a stride-1 backward pass correlates the delta zero-padded by d·(k−1) per side
        ctx.check_size(n * n_filters * (h_out + 2 * dilation[0] * (kh - 1))
                       * (w_out + 2 * dilation[1] * (kw - 1)), f("kernel"),
                       "the padded delta of the backward pass")

    out_internal = (n, n_filters, h_out, w_out)
    bias, bias_kind = None, "none"
    if "bias" in raw:
        bias = read_bias(ctx, raw["bias"], f("bias"), 3, n_filters,
                         _bias_forms(n_filters, (h_out, w_out), channels_last))
        bias_kind = _bias_kind(ctx, bias, n_filters, (h_out, w_out), f("bias"), channels_last)
    return Conv2dSpec(channels_last=channels_last, index=index, name=name, type=kind, where=where, out_shape=out_internal,
                      kernel=kernel, weight=weight, bias=bias, bias_kind=bias_kind,
                      stride=stride, padding=padding, dilation=dilation, groups=groups,
                      padding_mode=padding_mode, flip_kernel=flip)


def kernel_to_nchw(kernel: np.ndarray, channels_last: bool) -> np.ndarray:
    """A kernel as given → its channels-first form: under nhwc k1×k2×C → C×k1×k2 and HWIO
    k1×k2×(C_in/groups)×F → F×(C_in/groups)×k1×k2 (a view); nchw: unchanged."""
    if not channels_last or kernel.ndim == 2:
        return kernel
    if kernel.ndim == 3:
        return np.moveaxis(kernel, -1, 0)
    return kernel.transpose(3, 2, 0, 1)


def kernel_to_given(spec: Conv2dSpec, grad_weight: np.ndarray) -> np.ndarray:
    """A (F, C/groups, kh, kw) array (the kernel's gradient) → the kernel's shape as given."""
    kernel = spec.kernel
    nchw_shape = kernel_to_nchw(kernel, spec.channels_last).shape
    grad = np.ascontiguousarray(grad_weight).reshape(nchw_shape)
    if not spec.channels_last or kernel.ndim == 2:
        return grad
    if kernel.ndim == 3:
        return np.ascontiguousarray(np.moveaxis(grad, 0, -1))
    return np.ascontiguousarray(grad.transpose(2, 3, 1, 0))


def kernel_weight_index(spec: Conv2dSpec, index: tuple[int, ...]) -> tuple[int, ...]:
    """The (f, c, m, n) entry of ``weight`` that an index into the kernel as given names."""
    index = tuple(int(i) for i in index)
    if spec.channels_last and spec.kernel.ndim == 3:
        index = (index[2], index[0], index[1])
    elif spec.channels_last and spec.kernel.ndim == 4:
        index = (index[3], index[2], index[0], index[1])
    nchw_shape = kernel_to_nchw(spec.kernel, spec.channels_last).shape
    return tuple(int(i) for i in np.unravel_index(np.ravel_multi_index(index, nchw_shape),
                                                  spec.weight.shape))


def _kernel_as_4d(ctx, kernel: np.ndarray, c_in: int, c_group: int, groups: int,
                 where: str, channels_last: bool = False, images: str | None = None
                 ) -> np.ndarray:
    """Contract: k1×k2 one filter one channel; 3-D C_in×k1×k2 (one filter) when C_in > 1,
    F×k1×k2 (one-channel filters) when the filters see one channel each; 4-D as is.
    ``kernel`` is in channels-first form; under nhwc the messages show the given form.
    ``images``: the input's shape as N images of one channel (``2×1×4×4``), when its first
    axis may be a batch written without the channel axis."""
    def given(shape) -> str:
        shape = tuple(shape)
        if channels_last and len(shape) == 3:
            shape = shape[1:] + shape[:1]
        elif channels_last and len(shape) == 4:
            shape = (shape[2], shape[3], shape[1], shape[0])
        return "×".join(map(str, shape))

    if kernel.ndim == 2:
        if c_group != 1:
            raise ctx.error(where, f"a 2-D kernel is one filter over one channel, but the "
                                    f"input has {c_in} channels",
                            f"give a {given((c_group,) + kernel.shape)} kernel "
                            + ("(rows × cols × channels)" if channels_last else
                               "(channels × rows × cols)")
                            + (f"; or, if the input's {c_in} are images of one channel, write "
                               f"it N×C×H×W: {images}" if images else ""), cls=ShapeError)
        return kernel.reshape((1, 1) + kernel.shape)
    if kernel.ndim == 3:
        if c_group == 1:
            return kernel.reshape((kernel.shape[0], 1) + kernel.shape[1:])
        if kernel.shape[0] == c_in:  # one filter: groups > 1 cannot split it (said below)
            return kernel.reshape((1,) + kernel.shape)
        raise ctx.error(where, f"a 3-D kernel over a {c_in}-channel input must be "
                                + (f"k1×k2×{c_in}" if channels_last else f"{c_in}×k1×k2")
                                + f" (one filter), got {given(kernel.shape)}",
                        cls=ShapeError)
    if kernel.shape[1] != c_group:
        raise ctx.error(where, f"kernel has {counted(kernel.shape[1], 'channel')} per filter, "
                                f"expected {c_group} (input channels {c_in} / groups {groups})",
                        f"expected shape k1×k2×{c_group}×F (HWIO)" if channels_last else
                        f"expected shape F×{c_group}×k1×k2", cls=ShapeError)
    return kernel


def _conv_padding(ctx, value, where, kernel_hw, dilation, stride, in_hw):
    if isinstance(value, str):
        value = padding_word(ctx, value, where)
        if value == "valid":
            return (0, 0, 0, 0)
        if stride == (1, 1):
            return same_padding_stride1(kernel_hw, dilation)
        # TensorFlow's rule at any stride: output ⌈H/s⌉, the odd extra cell bottom/right
        (top, bottom), (left, right) = (same_padding(size, k, s, d) for size, k, s, d in
                                        zip(in_hw, kernel_hw, stride, dilation))
        return top, bottom, left, right
    if isinstance(value, list):
        if len(value) == 2:
            r, c = (ctx.integer(v, join_path(where, i), 0) for i, v in enumerate(value))
            return (r, r, c, c)
        if len(value) == 4:
            return tuple(ctx.integer(v, join_path(where, i), 0) for i, v in enumerate(value))
        raise ctx.error(where, f"expected an integer, [rows, cols], [top, bottom, left, "
                                f"right], \"valid\" or \"same\"; got a list of {len(value)}")
    p = ctx.integer(value, where, 0)
    return (p, p, p, p)


def _bias_kind(ctx, bias: np.ndarray, n_filters: int, out_hw: tuple[int, int],
              where: str, channels_last: bool = False) -> str:
    if bias.ndim == 0:
        if n_filters != 1:
            raise ctx.error(where, f"a single-number bias needs one filter, this layer has "
                                    f"{n_filters}", f"give a vector of {n_filters}",
                            cls=ShapeError)
        return "scalar"
    if bias.ndim == 1 and bias.shape[0] == n_filters:
        return "filter"
    if bias.ndim == 2 and n_filters == 1 and bias.shape == out_hw:
        return "untied"
    untied = out_hw + (n_filters,) if channels_last else (n_filters,) + out_hw
    if bias.ndim == 3 and bias.shape == untied:
        return "untied"
    raise ctx.error(where, f"bias of shape {shape_text(bias.shape)} does not fit "
                            f"{n_filters} filter(s) with output {shape_text(out_hw)}",
                    vector_hint(bias.shape, n_filters)
                    or _bias_forms(n_filters, out_hw, channels_last), cls=ShapeError)


def _bias_forms(n_filters: int, out_hw: tuple[int, int], channels_last: bool) -> str:
    """The bias shapes a conv of ``n_filters`` with output ``out_hw`` takes, as a hint."""
    untied = out_hw + (n_filters,) if channels_last else (n_filters,) + out_hw
    options = [f"a vector of {n_filters}", shape_text(untied) + " (untied)"]
    if n_filters == 1:
        options = ["a number"] + options[:1] + [shape_text(out_hw) + " (untied)"] + options[1:]
    return "expected " + ", ".join(options)


# ------------------------------------------------------------------------------------- JSON Schema


def schema_fields(ref) -> dict[str, dict]:
    return {
        "kernel": {**ref("tensor_kernel"), "description":
                   "k1×k2, C_in×k1×k2 or F×k1×k2, or F×(C_in/groups)×k1×k2"},
        "bias": {**ref("tensor_conv_bias"), "description":
                 "a number (one filter), a vector of F, or H'×W' / F×H'×W' (untied)"},
        "stride": {**ref("int_pair"), "default": 1},
        "padding": {**ref("conv_padding"), "default": 0},
        "dilation": {**ref("int_pair"), "default": 1},
        "groups": {"type": "integer", "minimum": 1, "default": 1},
        "padding_mode": {"enum": list(PADDING_MODES), "default": "zeros"},
        "flip_kernel": {"type": "boolean", "default": False,
                        "description": "true convolution: the kernel is rotated 180° first"},
    }


# ---------------------------------------------------------------------------------------- the step


def _conv_weight(spec: Conv2dSpec) -> np.ndarray:
    # flip_kernel is true convolution: the kernel as given, rotated 180°, is what slides
    return spec.weight[:, :, ::-1, ::-1] if spec.flip_kernel else spec.weight


def _conv_bias(spec: Conv2dSpec):
    if spec.bias_kind == "none":
        return None
    if spec.bias_kind == "scalar":
        return spec.bias.reshape(1)
    if spec.bias_kind == "filter":
        return spec.bias
    if spec.bias_kind == "untied":
        n_filters, h_out, w_out = spec.out_shape[1:]
        if spec.channels_last and spec.bias.ndim == 3:
            return np.ascontiguousarray(np.moveaxis(spec.bias, -1, 0))
        return spec.bias.reshape(n_filters, h_out, w_out)
    raise ValueError(f"unknown bias kind {spec.bias_kind!r}")


def _conv_args(spec: Conv2dSpec) -> dict:
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation,
                groups=spec.groups, padding_mode=spec.padding_mode)


def _conv_forward(spec: Conv2dSpec, x: np.ndarray) -> np.ndarray:
    return conv2d_forward(x, _conv_weight(spec), _conv_bias(spec), **_conv_args(spec))


def _conv_backward(spec: Conv2dSpec, x, y, delta_out):
    delta_in, grad_weight, grad_bias_per_filter = conv2d_backward(
        x, _conv_weight(spec), delta_out, **_conv_args(spec))
    if spec.flip_kernel:
        # w_used = rot180(w_given) ⇒ dE/dw_given = rot180(dE/dw_used)
        grad_weight = grad_weight[:, :, ::-1, ::-1]
    grads = {"kernel": kernel_to_given(spec, grad_weight)}
    if spec.bias_kind == "scalar":
        grads["bias"] = number_bias_grad(delta_out)
    elif spec.bias_kind == "filter":
        grads["bias"] = grad_bias_per_filter
    elif spec.bias_kind == "untied":
        # one bias per output position: only the batch is summed over
        grads["bias"] = untied_bias_to_given(spec, delta_out.sum(axis=0))
    elif spec.bias_kind != "none":
        raise ValueError(f"unknown bias kind {spec.bias_kind!r}")
    return delta_in, grads


#: How far above the exact bound :func:`conv_magnitude_bound` sets its bound: more than
#: the rounding of any sum of a conv's terms (n·eps for n terms) in float64.
BOUND_SLACK = 1e-6


def conv_magnitude_bound(weight: np.ndarray, bias, groups: int, magnitude: np.ndarray,
                         out_shape: tuple[int, ...]) -> np.ndarray | None:
    """An upper bound on Σ |w|·M + |b| at every output cell, from each input map's largest M.

    Parameters
    ----------
    weight : ndarray (F, C/groups, kh, kw)
    bias : None, ndarray (F,) or (1,), or (F, H', W') untied
    groups : int
    magnitude : ndarray (N, C, H, W)
        The size of the terms that made each input cell (padding copies cells, or is 0).
    out_shape : tuple (N, F, H', W')

    Returns
    -------
    ndarray (N, F, H', W') float64, or None when the bound is not finite.
        A read-only broadcast view of the (N, F, 1, 1) bounds: the values are one per output
        map, and a full array cost a 1×64×112×112 explain 14 ms of page faults and filling.
    """
    n, f = out_shape[:2]
    per_channel = np.abs(np.asarray(weight, np.float64)).sum(axis=(2, 3))  # (F, C/G)
    with np.errstate(all="ignore"):
        largest = np.asarray(magnitude, np.float64).reshape(n, groups, -1,
                                                            magnitude.shape[2] * magnitude.shape[3])
        largest = largest.max(axis=3) if largest.shape[3] else np.zeros(largest.shape[:3])
        # (N, G, C/G) · (G, F/G, C/G) → (N, G, F/G): each filter reads its group's channels
        bound = np.einsum("ngc,gfc->ngf", largest,
                          per_channel.reshape(groups, f // groups, -1)).reshape(n, f, 1, 1)
        if bias is not None:
            bound = bound + np.abs(np.asarray(bias, np.float64)).reshape(
                (1, -1, 1, 1) if np.ndim(bias) == 1 else (1,) + np.shape(bias))
        bound = bound * (1 + BOUND_SLACK)
    if not np.isfinite(bound).all():
        return None
    return np.broadcast_to(bound, out_shape)


def untied_bias_to_given(spec: Conv2dSpec, per_position: np.ndarray) -> np.ndarray:
    """(F, H', W') → the untied bias's shape as given (H'×W'×F under nhwc)."""
    if spec.channels_last and spec.bias.ndim == 3:
        return np.ascontiguousarray(np.moveaxis(per_position, 0, -1))
    return per_position.reshape(spec.bias.shape)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _kernel_keep(spec: Conv2dSpec) -> tuple[bool, ...]:
    """Which of (f, c, m, n) the kernel as given has (see the contract's kernel shapes)."""
    ndim = spec.kernel.ndim
    if ndim == 2:
        return (False, False, True, True)
    if ndim == 3:
        # the filter axis is the kernel's first as given, its last under nhwc (k1×k2×F)
        one_channel_filters = spec.weight.shape[1] == 1 and \
            kernel_to_nchw(spec.kernel, spec.channels_last).shape[0] == spec.weight.shape[0]
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


def _kernel_order(spec: Conv2dSpec) -> tuple[int, ...] | None:
    """Under nhwc, the (f, c, m, n) axes in the order the kernel was given (HWIO), else None."""
    if not spec.channels_last or spec.kernel.ndim == 2:
        return None
    if spec.kernel.ndim == 4:
        return (2, 3, 1, 0)
    keep = _kernel_keep(spec)
    return (2, 3, 0) if keep[0] else (2, 3, 1)


def bias_named(ex, spec: Conv2dSpec) -> NamedCells:
    from cnngrad.teach.explain import NamedCells

    order = (1, 2, 0) if spec.channels_last and spec.bias_kind == "untied" and \
        spec.bias.ndim == 3 else None
    return NamedCells("b", _conv_bias_keep(spec), ex.base, order)


def kernel_named(ex, spec: Conv2dSpec) -> NamedCells:
    from cnngrad.teach.explain import NamedCells

    return NamedCells("w", _kernel_keep(spec), ex.base, _kernel_order(spec))


def conv_geometry(ex, layer: LayerTrace):
    spec: Conv2dSpec = layer.spec
    n, c, h, w = layer.input.shape
    f, cg, kh, kw = spec.weight.shape
    return dict(spec=spec, n=n, c=c, h=h, w=w, f=f, cg=cg, fg=f // spec.groups, kh=kh,
                kw=kw, h_out=layer.output.shape[2], w_out=layer.output.shape[3],
                sh=spec.stride[0], sw=spec.stride[1], dh=spec.dilation[0],
                dw=spec.dilation[1], pt=spec.padding[0], pl=spec.padding[2],
                hp=h + spec.padding[0] + spec.padding[1],
                wp=w + spec.padding[2] + spec.padding[3], mode=spec.padding_mode)


def given_tap(ex, spec: Conv2dSpec, m: int, k: int) -> tuple[int, int]:
    """The kernel entry (as given) that slides at tap (m, k): with flip_kernel the given
    kernel is rotated 180° first."""
    kh, kw = spec.weight.shape[2:]
    return (kh - 1 - m, kw - 1 - k) if spec.flip_kernel else (m, k)


def conv_input_factor(ex, layer: LayerTrace, g: dict, n: int, ch: int, row: int,
                      col: int) -> Factor:
    """o at padded-input position (row, col): a real cell, a zero padding cell, or a
    padding cell that copies a real one."""
    from cnngrad.teach.explain import Factor, scalar

    o = ex.map_named("o", layer.input.shape)
    src_r = padded_source(row, g["h"], g["pt"], g["mode"])
    src_c = padded_source(col, g["w"], g["pl"], g["mode"])
    r, q = row - g["pt"], col - g["pl"]
    if src_r is None or src_c is None:
        return Factor(o(n, ch, r, q), 0, note="padding: zero", zero_reason="o is zero padding")
    value = scalar(layer.input[n, ch, src_r, src_c])
    if (src_r, src_c) == (r, q):
        return Factor(o(n, ch, r, q), value)
    return Factor(o(n, ch, src_r, src_c), value,
                  note=f"padding cell {o(n, ch, r, q)} copies {o(n, ch, src_r, src_c)} "
                       f"({g['mode']})")


def conv_notes(ex, g: dict) -> list[str]:
    spec = g["spec"]
    stride, dil = (g["sh"], g["sw"]), (g["dh"], g["dw"])
    notes = []
    settings = []
    if stride != (1, 1):
        settings.append(f"stride {pair_text(stride)}")
    if dil != (1, 1):
        settings.append(f"dilation {pair_text(dil)}")
    if spec.padding != (0, 0, 0, 0):
        settings.append(f"padding (top, bottom, left, right) {spec.padding}"
                        + (f", {g['mode']}" if g["mode"] != "zeros" else " of zeros"))
    if spec.groups > 1:
        settings.append(f"{spec.groups} groups of {counted(g['cg'], 'input channel')} and "
                        f"{counted(g['fg'], 'filter')}")
    if settings:
        notes.append("conv settings: " + "; ".join(settings) + ".")
    if spec.flip_kernel:
        notes.append("flip_kernel: the kernel as given is rotated 180° before it slides, so "
                     "tap (m, n) uses w[k1-1-m,k2-1-n]; indices of w here are those of the "
                     "kernel as given.")
    return notes


def output_conv(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _affine, scalar

    g = conv_geometry(ex, layer)
    spec: Conv2dSpec = g["spec"]
    n, f, i, j = index
    group = f // g["fg"]
    x = ex.map_named("x", layer.output.shape)
    wname = kernel_named(ex, spec)
    terms = []
    for c in range(g["cg"]):
        ch = group * g["cg"] + c
        for m in range(g["kh"]):
            for k in range(g["kw"]):
                gm, gk = given_tap(ex, spec, m, k)
                w_factor = Factor(wname(f, c, gm, gk), scalar(spec.weight[f, c, gm, gk]))
                o_factor = conv_input_factor(ex, layer, g, n, ch,
                                                  i * g["sh"] + m * g["dh"],
                                                  j * g["sw"] + k * g["dw"])
                terms.append(ex.term(w_factor, o_factor, note=o_factor.note))
    symbols = ex.layer_symbols(layer, w=f"{layer.name}'s kernel")
    bias_text = ""
    if spec.bias_kind != "none":
        bname = bias_named(ex, spec)
        bias_index = (f, i, j)
        value = scalar(spec.bias[bname.shown(bias_index)])
        terms.append(ex.term(Factor(bname(*bias_index), value)))
        bias_text = f" + {bname(*bias_index)}"
        symbols["b"] = f"{layer.name}'s bias ({spec.bias_kind})"
    # the formula with this cell's rows and columns
    flip = spec.flip_kernel
    row = _affine({"m": -g["dh"] if flip else g["dh"]},
                  i * g["sh"] - g["pt"] + (g["dh"] * (g["kh"] - 1) if flip else 0), ex.base)
    col = _affine({"n": -g["dw"] if flip else g["dw"]},
                  j * g["sw"] - g["pl"] + (g["dw"] * (g["kw"] - 1) if flip else 0), ex.base)
    # one input channel per group (depthwise): c is 0, no sum over it
    c_text = "c" if g["cg"] > 1 else 0
    channel = _affine({"c": 1}, group * g["cg"], ex.base) if g["cg"] > 1 else group
    o = ex.map_named("o", layer.input.shape)
    sums = ("Σ_c " if g["cg"] > 1 else "") + "Σ_m Σ_n "
    rhs = f"{sums}{wname(f, c_text, 'm', 'n')}·{o(n, channel, row, col)}{bias_text}"
    notes = [f"m, n run over the kernel ({ex.range_text('m', g['kh'])}, "
             f"{ex.range_text('n', g['kw'])})"
             + (f", c over the {g['cg']} input channels the filter sees" if g["cg"] > 1
                else "") + "."]
    notes += conv_notes(ex, g)
    return ex.finish(path, title=f"{x(*index)}: one output cell of {layer.name}, the sum "
                                   f"of the kernel times the input window under it",
                     lhs=x(*index), rhs=rhs, terms=terms, symbols=symbols, notes=notes)


def conv_input_cells(layer: LayerTrace, g: dict, ch: int, m: int,
                     k: int) -> tuple[np.ndarray, np.ndarray]:
    """The input cell under tap (m, k) of every output cell's window, in one pass.

    Returns
    -------
    values : ndarray (N, H', W')
        o at padded position (i·s + m·d, j·s + k·d) of channel ``ch`` (a padding cell: the
        cell it copies, or 0), as :func:`conv_input_factor` reads it one cell at a time.
    padding : ndarray of bool (N, H', W')
        Where that position is zero padding.
    """
    rows = [padded_source(i * g["sh"] + m * g["dh"], g["h"], g["pt"], g["mode"])
            for i in range(g["h_out"])]
    cols = [padded_source(j * g["sw"] + k * g["dw"], g["w"], g["pl"], g["mode"])
            for j in range(g["w_out"])]
    real_rows = np.array([r is not None for r in rows])
    real_cols = np.array([q is not None for q in cols])
    source = layer.input[:, ch][:, [r or 0 for r in rows]][:, :, [q or 0 for q in cols]]
    padding = ~(real_rows[:, None] & real_cols[None, :])
    padding = np.broadcast_to(padding, source.shape)
    values = source.copy()
    values[padding] = 0
    return values, padding


def grad_conv(ex, path: TensorPath, layer: LayerTrace) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, _affine, scalar

    g = conv_geometry(ex, layer)
    spec: Conv2dSpec = g["spec"]
    if path.param == "bias":
        return grad_conv_bias(ex, path, layer, g)
    f, c, gm, gk = kernel_weight_index(spec, path.index)
    # the tap where this entry slides (flip_kernel: the rotated position)
    m, k = given_tap(ex, spec, gm, gk)
    group = f // g["fg"]
    ch = group * g["cg"] + c
    wname = kernel_named(ex, spec)
    delta = ex.map_named("δ", layer.output.shape)
    out_shape = (g["n"], g["h_out"], g["w_out"])

    def build(position: int) -> Term:
        n, i, j = (int(v) for v in np.unravel_index(position, out_shape))
        d = Factor(delta(n, f, i, j), scalar(layer.delta_out[n, f, i, j]))
        o_factor = conv_input_factor(ex, layer, g, n, ch, i * g["sh"] + m * g["dh"],
                                     j * g["sw"] + k * g["dw"])
        return ex.term(d, o_factor, note=o_factor.note)

    o_values, padding = conv_input_cells(layer, g, ch, m, k)
    reasons = np.full(padding.shape, None, dtype=object)
    reasons[padding] = "o is zero padding"
    terms = TermColumns([Column("δ", layer.delta_out[:, f].reshape(-1)),
                         Column("o", o_values.reshape(-1), reasons.reshape(-1))], build)
    lhs = f"dE/d{wname(f, c, gm, gk)}"
    row = _affine({"i": g["sh"]}, m * g["dh"] - g["pt"], ex.base)
    col = _affine({"j": g["sw"]}, k * g["dw"] - g["pl"], ex.base)
    o = ex.map_named("o", layer.input.shape)
    batched = ex.trace.layout.batched
    rhs = (("Σ_n " if batched else "") + "Σ_i Σ_j "
           + f"{delta('n', f, 'i', 'j')}·{o('n', ch, row, col)}")
    notes = [f"i, j run over the {g['h_out']}×{g['w_out']} output "
             f"({ex.range_text('i', g['h_out'])}, {ex.range_text('j', g['w_out'])})"
             + (f", n over the batch of {g['n']}" if batched else "") + ": "
             f"{wname(f, c, gm, gk)} touched every output cell x[i,j] once, through the "
             f"input cell under it, so ∂x[i,j]/∂{wname(f, c, gm, gk)} is that input cell."]
    notes += conv_notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s kernel entry "
                                   f"{wname(f, c, gm, gk)}",
                     lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"),
                     notes=notes)


def grad_conv_bias(ex, path: TensorPath, layer: LayerTrace, g: dict) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, scalar

    spec: Conv2dSpec = g["spec"]
    bname = bias_named(ex, spec)
    delta = ex.map_named("δ", layer.output.shape)
    batched = ex.trace.layout.batched
    if spec.bias_kind == "scalar":
        # every cell (n, f, i, j), in that order
        values = layer.delta_out.reshape(-1)

        def cell(position: int) -> tuple[int, ...]:
            return tuple(int(v) for v in np.unravel_index(position, layer.delta_out.shape))

        lhs = "dE/db"
        rhs = ("Σ_n " if batched else "") + f"Σ_i Σ_j {delta('n', 0, 'i', 'j')}"
        why = "the single bias is added to every output cell"
    elif spec.bias_kind == "filter":
        (f,) = path.index
        # every cell (n, f, i, j) of filter f, in that order
        values = layer.delta_out[:, f].reshape(-1)

        def cell(position: int) -> tuple[int, ...]:
            n, i, j = np.unravel_index(position, (g["n"], g["h_out"], g["w_out"]))
            return int(n), f, int(i), int(j)

        lhs = f"dE/d{bname(f, 0, 0)}"
        rhs = ("Σ_n " if batched else "") + f"Σ_i Σ_j {delta('n', f, 'i', 'j')}"
        why = f"filter {f + ex.base}'s bias is added to every cell of its output map"
    elif spec.bias_kind == "untied":
        if bname.order is not None:  # nhwc: H'×W'×F
            i, j, f = (int(v) for v in path.index)
        else:
            f, i, j = (int(v) for v in np.unravel_index(
                np.ravel_multi_index(path.index, spec.bias.shape), (g["f"], g["h_out"],
                                                                    g["w_out"])))
        values = layer.delta_out[:, f, i, j]

        def cell(position: int) -> tuple[int, ...]:
            return position, f, i, j

        lhs = f"dE/d{bname(f, i, j)}"
        rhs = ("Σ_n " if batched else "") + delta("n", f, i, j)
        why = "an untied bias belongs to one output cell (x[i,j] = Σ w·o + b[i,j])"
    else:
        raise ValueError(f"unknown bias kind {spec.bias_kind!r}")

    def build(position: int) -> Term:
        index = cell(position)
        return ex.term(Factor(delta(*index), scalar(layer.delta_out[index])))

    terms = TermColumns([Column("δ", values)], build)
    notes = [f"dx/db = 1 wherever the bias is added: {why}."]
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s bias",
                     lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, b=f"{layer.name}'s bias "
                                                           f"({spec.bias_kind})"),
                     notes=notes)


def delta_in_conv(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, _affine, scalar

    g = conv_geometry(ex, layer)
    spec: Conv2dSpec = g["spec"]
    n, ch, r, q = index
    group, c = divmod(ch, g["cg"])
    wname = kernel_named(ex, spec)
    delta = ex.map_named("δ", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
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
    given = [(f, given_tap(ex, spec, m, k)) for f, _, _, m, k, _, _ in found]

    def build(position: int) -> Term:  # a term's names only when it is shown
        f, i, j, _, _, row, col = found[position]
        _, (gm, gk) = given[position]
        note = None
        if (row - g["pt"], col - g["pl"]) != (r, q):
            note = (f"through padding cell {o(n, ch, row - g['pt'], col - g['pl'])}, which "
                    f"copies {o(n, ch, r, q)} ({g['mode']})")
        return ex.term(Factor(delta(n, f, i, j), scalar(layer.delta_out[n, f, i, j])),
                       Factor(wname(f, c, gm, gk), scalar(spec.weight[f, c, gm, gk])),
                       note=note)

    def column(source: np.ndarray, cells: list) -> np.ndarray:  # source's type (Fractions)
        array = np.empty(len(cells), source.dtype)
        array[:] = [source[cell] for cell in cells]
        return array

    terms = TermColumns(
        [Column("δ", column(layer.delta_out, [(n, f, i, j) for f, i, j, *_ in found])),
         Column(wname.symbol, column(spec.weight, [(f, c, gm, gk) for f, (gm, gk) in given]))],
        build)
    pairs = ([f"{delta(n, f, i, j)}↔{wname(f, c, gm, gk)}"
              for (f, i, j, *_), (_, (gm, gk)) in zip(found, given)]
             if len(found) <= 64 else [])
    lhs = f"dE/d{o(*index)}"
    flip = spec.flip_kernel
    # δ index as a function of the kernel tap: i = (r + p − d·m)/s
    i_text = _affine({"m": g["dh"] if flip else -g["dh"]},
                     r + g["pt"] - (g["dh"] * (g["kh"] - 1) if flip else 0), ex.base,
                     g["sh"])
    j_text = _affine({"n": g["dw"] if flip else -g["dw"]},
                     q + g["pl"] - (g["dw"] * (g["kw"] - 1) if flip else 0), ex.base,
                     g["sw"])
    f_sum = "Σ_f " if g["fg"] > 1 else ""
    f_index = "f" if g["fg"] > 1 else group * g["fg"]
    rhs = (f"{f_sum}Σ_m Σ_n {delta(n, f_index, i_text, j_text)}"
           f"·{wname(f_index, c, 'm', 'n')}")
    # the index rule and its count are the direct terms': a padded cell's copy of this one
    # sits elsewhere, its (m, n) by the rule of that cell
    direct = [t for t in found if (t[5] - g["pt"], t[6] - g["pl"]) == (r, q)]
    copied = [t for t in found if (t[5] - g["pt"], t[6] - g["pl"]) != (r, q)]
    copies = bool(copied)
    if copies:  # the terms through padded cells that copy this one follow no one index rule
        rhs += f" + the same sum at each padded cell that copies {o(*index)}"
    strided = (g["sh"], g["sw"]) != (1, 1)
    taps = len({(m, k) for _, _, _, m, k, _, _ in direct})  # a term per filter: (f, m, n)
    # per filter, as taps: each filter's terms through padding cells, the same (m, n) and cell
    through = len({(m, k, row, col) for _, _, _, m, k, row, col in copied})
    notes = ["Only the (m, n) whose δ index is "
             + ("a whole number " if strided else "")
             + f"inside the {g['h_out']}×{g['w_out']} output count ({taps} of them): "
             f"input cell {o(*index)} lies under kernel entry (m, n) of the window of "
             f"x[i,j] exactly for those"
             + through_padding_words(through, g["fg"] > 1, "(m, n)")]
    if pairs:
        notes.append("Which kernel entry meets which delta: " + ", ".join(pairs) + ".")
    if g["kh"] * g["kw"] > 1:
        # the kernel index as a function of the δ index: m = (r + p − s·i)/d
        if flip:
            m_text = _affine({"i": g["sh"]}, g["dh"] * (g["kh"] - 1) - r - g["pt"],
                             ex.base, g["dh"])
            n_text = _affine({"j": g["sw"]}, g["dw"] * (g["kw"] - 1) - q - g["pl"],
                             ex.base, g["dw"])
        else:
            m_text = _affine({"i": -g["sh"]}, r + g["pt"], ex.base, g["dh"])
            n_text = _affine({"j": -g["sw"]}, q + g["pl"], ex.base, g["dw"])
        # named as in the formula above (its batch and filter indices, in the layout's order)
        meets = (("In the direct terms, " if copies else "")
                 + f"{delta(n, f_index, 'i', 'j')} meets {wname(f_index, c, m_text, n_text)}")
        full = (f"the full convolution of δ (zeros inserted between its cells for a stride "
                f"> 1, then padded by d·(k-1) on each side) with the "
                f"{'sliding ' if flip else ''}kernel rotated 180°")
        if flip:  # the kernel slides rotated already: rotated back, it is the one given
            notes.append(f"{meets}: as the δ index goes up the "
                         f"kernel index goes up too, so the input delta sees the kernel as "
                         f"given (flip_kernel rotated it to slide; the input delta rotates it "
                         f"back). That is why the whole input delta is {full}, the kernel as "
                         f"given, cropped to the input (see backward --show-steps).")
        else:
            notes.append(f"{meets}: as the δ index goes up the "
                         f"kernel index goes down, so the input delta sees the kernel rotated "
                         f"180°. That is why the whole input delta is {full}, cropped to the "
                         f"input (see backward --show-steps).")
    if g["mode"] != "zeros" and spec.padding != (0, 0, 0, 0):
        notes.append(f"With {g['mode']} padding, padded cells copy input cells: the deltas "
                     f"that reach a padded cell copying {o(*index)} flow back to it too "
                     f"(the terms marked 'through padding cell').")
    if g["fg"] > 1:
        notes.append(f"f runs over the {counted(g['fg'], 'filter')} that read input channel "
                     f"{ch + ex.base}: every one of them sends delta back.")
    notes += conv_notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at "
                                   f"{o(*index)}",
                     lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"),
                     notes=notes)


# ------------------------------------------------------------------- textbook steps (--show-steps)


def conv_textbook(spec: Conv2dSpec, x: np.ndarray, delta_out: np.ndarray,
                  layout: Layout | None = None, *, one_axis: bool = False) -> Textbook:
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
    one_axis : bool
        The maps are a 1-D layer's, one row high (conv1d): the captions speak of entries,
        not of rows and columns.

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
    from cnngrad.teach.steps import (Textbook, StepLabels, _fold_padding, _zeros,
        correlate_valid, dilate, insert_zeros, pad_input, zero_pad)

    label = StepLabels(layout)
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
                between = (counted(dw - 1, "zero") if one_axis else
                           f"{dh - 1}×{dw - 1} zeros")
                setting = dw if one_axis else f"{dh}×{dw}"
                steps.append((f"kernel dilated{tag}: {between} between taps "
                              f"(dilation {setting})", kernel))
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
                inserted = (f"{sw - 1} between entries (stride {sw})" if one_axis else
                            f"{sh - 1} between rows, {sw - 1} between columns "
                            f"(stride {sh}×{sw})")
                steps.append((f"δ{tag} with zeros inserted: {inserted}", spread))
            spreads[n, f] = spread
            full_pad = zero_pad(spread, kh_eff - 1, kh_eff - 1 + rest_h, kw_eff - 1,
                                kw_eff - 1 + rest_w)
            if one_axis:
                extra = f" (+{rest_w} right: input that no window reaches)" if rest_w else ""
                zeros = counted(kw_eff - 1, "zero")
            else:
                extra = (f" (+{rest_h} below, +{rest_w} right: input that no window reaches)"
                         if rest_h or rest_w else "")
                zeros = (f"{counted(kh_eff - 1, 'zero row')} and "
                         f"{counted(kw_eff - 1, 'zero column')}")
            steps.append((f"δ{tag} padded for the full convolution: {zeros} each side{extra}",
                          full_pad))
            g = f // fg
            for c in range(cg):
                channel = g * cg + c
                full = correlate_valid(full_pad, rotated[f, c])
                delta_padded_input[channel] = delta_padded_input[channel] + full
                if fg > 1:
                    steps.append((f"padded δ{tag} ⋆ the rotated kernel"
                                  f"{label(f=(f, f_count), c=(c, cg))}", full))
        for channel in range(c_count):
            tag = label(n, c=(channel, c_count))
            whole = delta_padded_input[channel]
            summed = ", summed over the filters" if fg > 1 else ""
            if not padded:
                steps.append((f"δ_in{tag} = dE/d(input): padded δ ⋆ rotated kernel (valid "
                              f"correlation: the textbook's full convolution of δ with the "
                              f"kernel rotated 180°){summed}", whole))
                delta_in[n, channel] = whole
                continue
            steps.append((f"dE/d(padded input){tag}: padded δ ⋆ rotated kernel (valid "
                          f"correlation: the textbook's full convolution of δ with the kernel "
                          f"rotated 180°){summed}", whole))
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
            if rest_h or rest_w:
                # the stride leaves the last rows or columns out of every window: cropped,
                # so that the correlation below is the kernel's size, as shown
                source = source[:hp - rest_h, :wp - rest_w]
                cut = (f"−{rest_w} right" if one_axis else
                       f"−{rest_h} below, −{rest_w} right")
                steps.append((f"{'padded ' if padded else ''}input o"
                              f"{label(n, c=(channel, c_count))} cropped to what the windows "
                              f"reach ({cut}: input that no window reaches)", source))
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
                    caption = (f"dE/dw{label(n, f=(f, f_count), c=(c, cg))}: "
                               f"{every_text((dw, dw) if one_axis else (dh, dw))} of it "
                               f"(dilation)")
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
    grads = {"kernel": kernel_to_given(spec, grad)}
    return Textbook(steps=steps, delta_in=delta_in, grads=grads)


# -------------------------------------------------------------------- common slips (cnngrad check)


def _flip_toggled(spec: Conv2dSpec) -> Conv2dSpec:
    return dataclasses.replace(spec, flip_kernel=not spec.flip_kernel)


def _forward_flip(ctx: SlipContext) -> Trace | None:
    from cnngrad.teach.diagnose import rerun_problem

    layers = [_flip_toggled(spec) if isinstance(spec, Conv2dSpec) else spec
              for spec in ctx.problem.layers]
    if not any(isinstance(spec, Conv2dSpec) for spec in layers):
        return None
    return rerun_problem(ctx.trace, layers=layers)


def _forward_flip_words(trace: Trace) -> str:
    if any(getattr(spec, "flip_kernel", False) for spec in trace.problem.layers):
        return ("matches cross-correlation instead of convolution (the kernel not rotated "
                "by 180° in the forward pass)")
    return ("matches true convolution instead of cross-correlation (the kernel rotated by "
            "180° in the forward pass)")


def _strided(layer: LayerTrace) -> bool:
    return layer.type == "conv2d" and layer.spec.stride != (1, 1)


def _undilated_conv_backward(spec: Conv2dSpec, x: np.ndarray, y: np.ndarray,
                             delta: np.ndarray) -> tuple[np.ndarray, dict]:
    """The conv backward pass with the delta used as it is, not dilated by the stride.

    Right: dE/dw[m,n] = Σ_ij δ[i,j]·xpad[i·s + m·d, j·s + n·d], and δ_in spreads δ[i,j]
    over xpad[i·s + m·d] (δ dilated: s − 1 zeros between its entries).  The slip puts δ
    down as if the stride were 1: dE/dw[m,n] = Σ_ij δ[i,j]·xpad[i + m·d, j + n·d], and
    δ_in gets δ[i,j]·w[m,n] at xpad[i + m·d] — the top-left (H' + d(k−1)) × (W' + d(k−1))
    corner of the padded input, the rest of it zero; padding then flows back as usual.
    """
    delta_in_true, grads = _engine_backward(spec, x, y, delta)  # keeps the bias grad
    weight = spec.weight[:, :, ::-1, ::-1] if spec.flip_kernel else spec.weight
    kh, kw = weight.shape[2:]
    rows = delta.shape[2] + spec.dilation[0] * (kh - 1)
    cols = delta.shape[3] + spec.dilation[1] * (kw - 1)
    x_padded = pad2d(x, spec.padding, spec.padding_mode)
    dx_corner, grad_weight, _ = conv2d_backward(x_padded[:, :, :rows, :cols], weight, delta,
                                                stride=1, padding=0, dilation=spec.dilation,
                                                groups=spec.groups)
    dx_padded = zeros_like_dtype(x_padded.shape, dx_corner)
    dx_padded[:, :, :rows, :cols] = dx_corner
    delta_in = pad2d_backward(dx_padded, spec.padding, spec.padding_mode, x.shape[2:])
    if spec.flip_kernel:
        grad_weight = grad_weight[:, :, ::-1, ::-1]
    grads["kernel"] = kernel_to_given(spec, grad_weight)
    return delta_in.astype(delta_in_true.dtype, copy=False), grads


def _stride_words(trace: Trace) -> str:
    strides = sorted({layer.spec.stride for layer in trace.layers if _strided(layer)})
    shown = ["×".join(map(str, s)) if s[0] != s[1] else str(s[0]) for s in strides]
    return f"matches delta not dilated for stride {' and '.join(shown) or '> 1'}"


def _bias_summed_backward(spec, x, y, delta):
    # untied bias: each position gets the sum over all positions instead of its own delta
    delta_in, grads = _engine_backward(spec, x, y, delta)
    total = delta.sum(axis=(0, 2, 3), keepdims=True)[0]
    grads["bias"] = untied_bias_to_given(spec, np.broadcast_to(total, delta.shape[1:]).copy())
    return delta_in, grads


def _bias_per_position_backward(spec, x, y, delta):
    # a shared bias: its gradient left per output position instead of summed over them
    delta_in, grads = _engine_backward(spec, x, y, delta)
    per_position = delta.sum(axis=0)
    grads["bias"] = per_position[0] if spec.bias_kind == "scalar" else per_position
    return delta_in, grads


def _bias_averaged_backward(spec, x, y, delta):
    # a shared bias: its gradient averaged (np.mean) over the batch and the positions
    # instead of summed
    delta_in, grads = _engine_backward(spec, x, y, delta)
    count = delta.size // delta.shape[1]
    grads["bias"] = grads["bias"] / count
    return delta_in, grads


# --------------------------------------------------------------------------- the family


def _engine_backward(spec: Conv2dSpec, x, y, delta):
    (delta_in,), grads = CONV2D.backward(spec, [x], y, delta)
    return delta_in, grads


def _has_bias(kinds):
    return lambda layer: getattr(layer.spec, "bias_kind", "") in kinds


class Conv2d(LayerFamily):
    type = "conv2d"
    other_names = ("convolution", "convolution2d", "convolutional")
    since = "1.0"  # contract v1
    weighted = True  # sums input × weight products, plus a bias
    kernel_spatial_first = True  # HWIO, k×I×O under "nhwc"
    spatial = 2
    fields = ("kernel", "bias", "stride", "padding", "dilation", "groups", "padding_mode",
              "flip_kernel")
    required = ("kernel",)
    param_labels = {"kernel": "dE/dw (kernel gradient)", "bias": "dE/db (bias gradient)"}
    param_axes = {"kernel": "fc", "bias": "nc"}
    cast_fields = ("weight", "bias")

    def build(self, ctx, raw, head):
        return build_conv2d(ctx, raw, head)

    def work(self, spec):
        out, cells = shape_size(spec.out_shape), shape_size(spec.weight.shape[1:])
        return 3 * out * cells, f"{out:,} outputs × {cells:,} kernel cells"

    def steps_cells(self, spec):
        # the delta with zeros inserted and padded for the full convolution, the padded input
        if len(spec.in_shape) != 4 or len(spec.out_shape) != 4:
            return 0
        kh, kw = spec.weight.shape[2:]
        (dh, dw), (sh, sw) = spec.dilation, spec.stride
        ho, wo = spec.out_shape[2:]
        rows = (ho - 1) * sh + 1 + 2 * (dh * (kh - 1))
        cols = (wo - 1) * sw + 1 + 2 * (dw * (kw - 1))
        h, w = spec.in_shape[2:]
        top, bottom, left, right = spec.padding
        maps = spec.out_shape[0] * max(spec.out_shape[1], spec.in_shape[1])
        return maps * (rows * cols + (h + top + bottom) * (w + left + right))

    def schema_fields(self, ref):
        return schema_fields(ref)

    def forward(self, spec, inputs):
        return _conv_forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _conv_backward(spec, inputs[0], output, delta_out)
        return [delta_in], grads

    def summed_terms(self, spec):
        return spec.weight[0].size + (spec.bias is not None)

    def magnitude_bound(self, spec, inputs, magnitudes, output):
        """A cheap upper bound on the magnitude (:mod:`cnngrad.kinks`), one number per
        output map instead of the convolution of |w| with the input's magnitude:
        Σ_c (Σ_pq |w[f,c,p,q]|)·max over the map of M[n,c] + |b|, a little above the sum
        any order of rounding gives.  None when that is not finite (an input of inf)."""
        return conv_magnitude_bound(_conv_weight(spec), _conv_bias(spec), spec.groups,
                                    magnitudes[0], spec.out_shape)

    def param_grid_axes(self, spec, key):
        # a 3-D kernel is one filter's channels (C_in×k1×k2) or one-channel filters
        # (F×k1×k2): its grids are filters when there are several
        if key == "kernel" and np.ndim(spec.kernel) == 3 and spec.weight.shape[0] > 1:
            return "f"
        return super().param_grid_axes(spec, key)

    def param_grid(self, spec, key, array):
        """A kernel or untied bias as given → grids per (filter, channel) in the tables."""
        if not spec.channels_last:
            return array
        if key == "kernel":
            return kernel_to_nchw(array, True)
        return np.moveaxis(array, -1, 0) if array.ndim == 3 else array

    def replace_param(self, spec, key, value):
        new = super().replace_param(spec, key, value)
        if key == "kernel":
            new.weight = np.ascontiguousarray(
                kernel_to_nchw(value, spec.channels_last)).reshape(spec.weight.shape)
        return new

    def settings(self, spec):
        out = [("kernel", shape_text(spec.weight.shape[2:])), ("filters", str(spec.weight.shape[0]))]
        if spec.stride != (1, 1):
            out.append(("stride", pair_text(spec.stride)))
        if any(spec.padding):
            out.append(("padding", sides_text(spec.padding)))
        if spec.dilation != (1, 1):
            out.append(("dilation", pair_text(spec.dilation)))
        if spec.groups != 1:
            out.append(("groups", str(spec.groups)))
        if spec.padding_mode != "zeros":
            out.append(("padding mode", spec.padding_mode))
        if spec.flip_kernel:
            out.append(("kernel", "flipped (true convolution)"))
        return out

    def convention(self, spec):
        if spec.flip_kernel:
            return "true convolution, the kernel rotated 180° before it slides"
        return "cross-correlation, the kernel slid as given (not rotated 180°)"

    def given_axes(self, spec, key, rank, channels_last=False):
        return kernel_axes(spec, key, rank, 2, channels_last)

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_conv(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_conv(ex, path, layer, index)
        return grad_conv(ex, path, layer)

    def textbook(self, layer, layout):
        return conv_textbook(layer.spec, layer.input, layer.delta_out, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace, replace_backward

        return [
            (10, Slip("kernel_not_rotated", "matches the kernel not rotated by 180°",
                      slip_in_trace("kernel_not_rotated",
                                    replace_backward(self.type, _flip_toggled,
                                                     input_delta_only=True)))),
            (11, Slip("convolution_kind", _forward_flip_words,
                      slip_in_trace("convolution_kind", _forward_flip))),
            (12, Slip("delta_not_dilated", _stride_words,
                      slip_in_trace("delta_not_dilated",
                                    custom_backward(_strided, _undilated_conv_backward)))),
            (50, Slip("bias_summed", "matches bias summed instead of per position",
                      slip_in_trace("bias_summed", custom_backward(
                            _has_bias(("untied",)), _bias_summed_backward)))),
            (51, Slip("bias_per_position",
                      "matches the bias gradient per position instead of summed",
                      slip_in_trace("bias_per_position", custom_backward(
                            _has_bias(("scalar", "filter")), _bias_per_position_backward)))),
            (52, Slip("bias_averaged",
                      "matches the bias gradient averaged over the positions (and the batch) "
                      "instead of summed: each position adds its delta",
                      slip_in_trace("bias_averaged", custom_backward(
                            _has_bias(("scalar", "filter")), _bias_averaged_backward)))),
        ]


CONV2D = Conv2d()
