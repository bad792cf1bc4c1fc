"""conv1d: a 1-D convolution (cross-correlation, as torch.nn.functional.conv1d), everything
cnngrad knows about it: fields and validation, schema, step, explanation rules, textbook
steps and slips.

The numbers come from :mod:`cnngrad.layers.conv1d`.  The kernel is held internally as
(F, C_in/groups, k); the kernel as given (k, C_in×k, F×k, F×(C_in/groups)×k, or under
``"layout": "nhwc"`` k×C_in, k×F, k×(C_in/groups)×F) is converted on the way in and its
gradient back to exactly that shape.  A 1-D convolution is conv2d's over maps one row high,
so the textbook steps and the stride slip are conv2d's, on one-row views.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.errors import ShapeError, join_path
from cnngrad.families.base import (Head, LayerFamily, check_groups, counted, kernel_axes,
                                   kernel_past_input, number_bias_grad, read_bias, shape_size,
                                   side_path, through_padding_words, working_buffer)
from cnngrad.layers._common import PADDING_MODES, conv_output_size, same_padding
from cnngrad.layers.conv import padded_source
from cnngrad.layers.conv1d import conv1d_backward, conv1d_forward
from cnngrad.problem import LayerSpec, padding_word, shape_text, sides_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.problem import Layout
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, TensorPath
    from cnngrad.teach.steps import Textbook


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class Conv1dSpec(LayerSpec):
    kernel: np.ndarray = None  # as given
    weight: np.ndarray = None  # (F, C/groups, k), not flipped
    kernel_form: str = "3d"  # 1d | in (C_in×k, one filter) | out (F×k, one channel) | 3d
    channels_last: bool = False
    bias: np.ndarray | None = None  # as given
    #: none | scalar | filter | untied (not conv2d's bias_kind: conv2d's bias slips look
    #: for that)
    bias_form: str = "none"
    stride: int = 1
    padding: tuple[int, int] = (0, 0)  # (left, right)
    dilation: int = 1
    groups: int = 1
    padding_mode: str = "zeros"
    flip_kernel: bool = False

    @property
    def params(self) -> dict[str, np.ndarray]:
        out = {"kernel": self.kernel}
        if self.bias is not None:
            out["bias"] = self.bias
        return out


def _to_internal(kernel: np.ndarray, form: str, last: bool) -> np.ndarray:
    """The kernel as given → (F, C/groups, k)."""
    if form == "1d":
        return kernel.reshape((1, 1) + kernel.shape)
    if form in ("in", "out"):
        k2 = kernel.T if last else kernel
        return k2[None] if form == "in" else k2[:, None]
    return np.transpose(kernel, (2, 1, 0)) if last else kernel


def _to_given(grad: np.ndarray, form: str, last: bool, shape) -> np.ndarray:
    """A (F, C/groups, k) gradient → the kernel's given shape."""
    if form == "1d":
        return np.ascontiguousarray(grad).reshape(shape)
    if form in ("in", "out"):
        k2 = grad[0] if form == "in" else grad[:, 0]
        return np.ascontiguousarray(k2.T if last else k2)
    return np.ascontiguousarray(np.transpose(grad, (2, 1, 0)) if last else grad)


# ------------------------------------------------------------------------------- reading a problem


def build_conv1d(ctx, raw: dict, head: Head) -> Conv1dSpec:
    where, kind = head.where, head.kind
    shape = ctx.need_map(head.in_shape, where, kind)
    n, c_in, length = shape
    f = head.at
    last = bool(getattr(head.layout, "channels_last", False))
    if "kernel" not in raw:
        raise ctx.error(where, "conv1d layer has no 'kernel'")
    kernel = ctx.tensor(raw["kernel"], f("kernel"), min_rank=1, max_rank=3)
    ctx.check_size(kernel.size, f("kernel"), "the kernel")
    groups = ctx.integer(raw.get("groups", 1), f("groups"))
    stride = _one(ctx, raw.get("stride", 1), f("stride"), "stride")
    dilation = _one(ctx, raw.get("dilation", 1), f("dilation"), "dilation")
    padding_mode = ctx.choice(raw.get("padding_mode", "zeros"), f("padding_mode"),
                              PADDING_MODES, "padding mode")
    flip = ctx.boolean(raw.get("flip_kernel", False), f("flip_kernel"))
    check_groups(ctx, groups, c_in, f("groups"))
    c_group = c_in // groups
    form = _kernel_form(ctx, kernel, c_in, c_group, groups, last, f("kernel"))
    weight = _to_internal(kernel, form, last)
    n_filters, _, k = weight.shape
    if n_filters % groups:
        raise ctx.error(f("groups"), f"groups={groups} does not divide the "
                                      f"{counted(n_filters, 'filter')}",
                        "give " + ("k×(C_in/groups)×F" if last else "F×(C_in/groups)×k")
                        + f" with F a multiple of {groups}", cls=ShapeError)
    padding = _padding(ctx, raw.get("padding", 0), f("padding"), length, k, stride, dilation)
    left, right = padding
    if padding_mode != "zeros":
        for p, side, at in ((left, "left", 0), (right, "right", 1)):
            if padding_mode == "reflect" and p >= length or \
                    padding_mode == "circular" and p > length:
                rule = "smaller than" if padding_mode == "reflect" else "at most"
                raise ctx.error(side_path(f("padding"), raw.get("padding"), {2: at}),
                                f"{padding_mode} padding of {p} ({side}) must "
                                               f"be {rule} the input length {length}",
                                cls=ShapeError)
    ctx.check_size(n * c_in * (length + left + right), f("padding"), "the padded input")
    out = conv_output_size(length, left, right, k, stride, dilation)
    if out < 1:
        raise kernel_past_input(ctx, f("kernel"), (length,), ((left, right),), (k,),
                                (dilation,), padding_mode, n * c_in)
    ctx.check_size(c_in * k * out, f("kernel"),
                   working_buffer("signal", "im2col", c_in, counted(k, "kernel tap"),
                                  counted(out, "output")))
    bias, bias_form = None, "none"
    if "bias" in raw:
        bias = read_bias(ctx, raw["bias"], f("bias"), 2, n_filters,
                         _bias_forms(n_filters, out, last))
        bias_form = _bias_form(ctx, bias, n_filters, out, last, f("bias"))
    return Conv1dSpec(**head.spec_fields(), out_shape=(n, n_filters, out), kernel=kernel,
                      weight=weight, kernel_form=form, channels_last=last, bias=bias,
                      bias_form=bias_form, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, padding_mode=padding_mode, flip_kernel=flip)


def _one(ctx, value, where: str, what: str) -> int:
    if isinstance(value, list):
        raise ctx.error(where, f"a 1-D layer's {what} is one integer ≥ 1, got a list of "
                               f"{len(value)}", "give an integer")
    return ctx.integer(value, where)


def _kernel_form(ctx, kernel, c_in, c_group, groups, last, where) -> str:
    three = "k×(C_in/groups)×F" if last else "F×(C_in/groups)×k"
    if kernel.ndim == 1:
        if c_group != 1:
            raise ctx.error(where, f"a 1-D kernel is one filter over one channel, but the "
                                    f"input has {c_in} channels",
                            f"give {'k×' + str(c_in) if last else str(c_in) + '×k'} (one "
                            f"filter) or {three}", cls=ShapeError)
        return "1d"
    if kernel.ndim == 2:
        if c_group == 1:
            return "out"
        first = kernel.shape[1] if last else kernel.shape[0]
        if first == c_in:  # one filter: groups > 1 cannot split it (said by the caller)
            return "in"
        raise ctx.error(where, f"a 2-D kernel over a {c_in}-channel input must be "
                                f"{'k×' + str(c_in) if last else str(c_in) + '×k'} (one "
                                f"filter), got {shape_text(kernel.shape)}",
                        f"for several filters give {three}", cls=ShapeError)
    per_filter = kernel.shape[1]
    if per_filter != c_group:
        raise ctx.error(where, f"kernel has {counted(per_filter, 'channel')} per filter, "
                                f"expected {c_group} (input channels {c_in} / groups {groups})",
                        f"expected shape {three.replace('(C_in/groups)', str(c_group))}",
                        cls=ShapeError)
    return "3d"


def _padding(ctx, value, where, length, k, stride, dilation) -> tuple[int, int]:
    if isinstance(value, str):
        value = padding_word(ctx, value, where)
        if value == "valid":
            return (0, 0)
        return same_padding(length, k, stride, dilation)
    if isinstance(value, list):
        if len(value) != 2:
            raise ctx.error(where, f"a 1-D padding is an integer, [left, right], \"valid\" or "
                                   f"\"same\"; got a list of {len(value)}")
        return tuple(ctx.integer(v, join_path(where, i), 0) for i, v in enumerate(value))
    p = ctx.integer(value, where, 0)
    return (p, p)


def _bias_form(ctx, bias, n_filters, out, last, where) -> str:
    untied = (out, n_filters) if last else (n_filters, out)
    if bias.ndim == 0:
        if n_filters != 1:
            raise ctx.error(where, f"a single-number bias needs one filter, this layer has "
                                    f"{n_filters}", f"give a vector of {n_filters}",
                            cls=ShapeError)
        return "scalar"
    if bias.ndim == 1 and bias.shape[0] == n_filters:
        return "filter"
    if bias.ndim == 2 and bias.shape == untied:
        return "untied"
    raise ctx.error(where, f"bias of shape {shape_text(bias.shape)} does not fit "
                            f"{n_filters} filter(s) with output length {out}",
                    _bias_forms(n_filters, out, last), cls=ShapeError)


def _bias_forms(n_filters: int, out: int, last: bool) -> str:
    """The bias shapes a conv1d of ``n_filters`` with output length ``out`` takes, as a hint."""
    untied = (out, n_filters) if last else (n_filters, out)
    options = (["a number"] if n_filters == 1 else []) + \
        [f"a vector of {n_filters}", f"{shape_text(untied)} (untied, "
                                     f"{'L′×F' if last else 'F×L′'})"]
    return "expected " + ", ".join(options)


# ------------------------------------------------------------------------------------- JSON Schema


def _tensor_schema(ranks, description: str, ref) -> dict:
    forms = [ref(f"rank{r}") for r in ranks]
    if 2 in ranks:
        forms.append(ref("csv_matrix"))
    if 3 in ranks:
        forms.append(ref("csv_stack"))
    forms.append(ref("npy_file"))
    return {"anyOf": forms, "description": description}


def schema_fields(ref) -> dict[str, dict]:
    return {
        "kernel": _tensor_schema((1, 2, 3), "k, C_in×k (one filter), F×k (one channel), or "
                                            "F×(C_in/groups)×k (nhwc: k×C_in, k×F, "
                                            "k×(C_in/groups)×F)", ref),
        "bias": _tensor_schema((0, 1, 2), "a number (one filter), a vector of F, or F×L' "
                                          "untied (nhwc: L'×F)", ref),
        "stride": {"type": "integer", "minimum": 1, "default": 1},
        "padding": {"anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 0},
             "minItems": 2, "maxItems": 2},
            {"enum": ["valid", "same"]},
        ], "default": 0, "description": 'an integer, [left, right], "valid" or "same" '
                                        "(TensorFlow's rule at any stride)"},
        "dilation": {"type": "integer", "minimum": 1, "default": 1},
        "groups": {"type": "integer", "minimum": 1, "default": 1},
        "padding_mode": {"enum": list(PADDING_MODES), "default": "zeros"},
        "flip_kernel": {"type": "boolean", "default": False,
                        "description": "true convolution: the kernel is reversed first"},
    }


# ---------------------------------------------------------------------------------------- the step


def _used(spec: Conv1dSpec) -> np.ndarray:
    return spec.weight[:, :, ::-1] if spec.flip_kernel else spec.weight


def _bias_internal(spec: Conv1dSpec):
    if spec.bias_form == "none":
        return None
    if spec.bias_form == "scalar":
        return spec.bias.reshape(1)
    if spec.bias_form == "untied" and spec.channels_last:
        return spec.bias.T
    return spec.bias


def _args(spec: Conv1dSpec) -> dict:
    return dict(stride=spec.stride, padding=spec.padding, dilation=spec.dilation,
                groups=spec.groups, padding_mode=spec.padding_mode)


def _forward(spec: Conv1dSpec, x):
    return conv1d_forward(x, _used(spec), _bias_internal(spec), **_args(spec))


def _grads(spec: Conv1dSpec, grad_weight, delta_out) -> dict:
    if spec.flip_kernel:
        grad_weight = grad_weight[:, :, ::-1]
    grads = {"kernel": _to_given(grad_weight, spec.kernel_form, spec.channels_last,
                                 spec.kernel.shape)}
    if spec.bias_form == "scalar":
        grads["bias"] = number_bias_grad(delta_out)
    elif spec.bias_form == "filter":
        grads["bias"] = delta_out.sum(axis=(0, 2))
    elif spec.bias_form == "untied":
        per_cell = delta_out.sum(axis=0)
        grads["bias"] = np.ascontiguousarray(per_cell.T if spec.channels_last else per_cell)
    return grads


def _backward(spec: Conv1dSpec, x, delta_out):
    delta_in, grad_weight, _ = conv1d_backward(x, _used(spec), delta_out, **_args(spec))
    return delta_in, _grads(spec, grad_weight, delta_out)


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _kernel_named(ex, spec: Conv1dSpec):
    from cnngrad.teach.explain import NamedCells

    form, last = spec.kernel_form, spec.channels_last

    class _KernelNamed(NamedCells):
        def shown(self, index):
            f, c, m = index
            if form == "1d":
                return (m,)
            if form == "in":
                return (m, c) if last else (c, m)
            if form == "out":
                return (m, f) if last else (f, m)
            return (m, c, f) if last else (f, c, m)

    return _KernelNamed("w", (True,) * 3, ex.base)


def _bias_named(ex, spec: Conv1dSpec):
    from cnngrad.teach.explain import NamedCells

    kind, last = spec.bias_form, spec.channels_last

    class _BiasNamed(NamedCells):
        def shown(self, index):
            f, i = index
            if kind == "scalar":
                return ()
            if kind == "filter":
                return (f,)
            return (i, f) if last else (f, i)

    return _BiasNamed("b", (True, True), ex.base)


def _geometry(layer: LayerTrace) -> dict:
    spec: Conv1dSpec = layer.spec
    n, c, length = layer.input.shape
    f, cg, k = spec.weight.shape
    return dict(spec=spec, n=n, c=c, length=length, f=f, cg=cg, fg=f // spec.groups, k=k,
                out=layer.output.shape[2], s=spec.stride, d=spec.dilation,
                left=spec.padding[0], padded=length + sum(spec.padding),
                mode=spec.padding_mode)


def _tap(spec: Conv1dSpec, m: int) -> int:
    """The kernel entry (as given) that slides at tap m (flip_kernel reverses the kernel)."""
    return spec.weight.shape[2] - 1 - m if spec.flip_kernel else m


def _input_factor(ex, layer, g, n, ch, pos):
    from cnngrad.teach.explain import Factor, scalar

    o = ex.map_named("o", layer.input.shape)
    src = padded_source(pos, g["length"], g["left"], g["mode"])
    at = pos - g["left"]
    if src is None:
        return Factor(o(n, ch, at), 0, note="padding: zero", zero_reason="o is zero padding")
    if src == at:
        return Factor(o(n, ch, at), scalar(layer.input[n, ch, src]))
    return Factor(o(n, ch, src), scalar(layer.input[n, ch, src]),
                  note=f"padding cell {o(n, ch, at)} copies {o(n, ch, src)} ({g['mode']})")


def _notes(ex, g) -> list[str]:
    spec = g["spec"]
    settings = []
    if spec.stride != 1:
        settings.append(f"stride {spec.stride}")
    if spec.dilation != 1:
        settings.append(f"dilation {spec.dilation}")
    if spec.padding != (0, 0):
        settings.append(f"padding (left, right) {spec.padding}"
                        + (f", {g['mode']}" if g["mode"] != "zeros" else " of zeros"))
    if spec.groups > 1:
        settings.append(f"{spec.groups} groups of {counted(g['cg'], 'input channel')} and "
                        f"{counted(g['fg'], 'filter')}")
    notes = ["conv1d settings: " + "; ".join(settings) + "."] if settings else []
    if spec.flip_kernel:
        notes.append("flip_kernel: the kernel as given is reversed before it slides, so tap m "
                     "uses w[k-1-m]; indices of w here are those of the kernel as given.")
    return notes


def output_conv1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _affine, scalar

    g = _geometry(layer)
    spec: Conv1dSpec = g["spec"]
    n, f, i = index
    group = f // g["fg"]
    x = ex.map_named("x", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
    wname = _kernel_named(ex, spec)
    terms = []
    for c in range(g["cg"]):
        ch = group * g["cg"] + c
        for m in range(g["k"]):
            gm = _tap(spec, m)
            factor = _input_factor(ex, layer, g, n, ch, i * g["s"] + m * g["d"])
            terms.append(ex.term(Factor(wname(f, c, gm), scalar(spec.weight[f, c, gm])), factor,
                                 note=factor.note))
    symbols = ex.layer_symbols(layer, w=f"{layer.name}'s kernel")
    bias_text = ""
    if spec.bias_form != "none":
        bname = _bias_named(ex, spec)
        value = _bias_internal(spec)
        value = value[f] if spec.bias_form != "untied" else value[f, i]
        terms.append(ex.term(Factor(bname(f, i), scalar(value))))
        bias_text = f" + {bname(f, i)}"
        symbols["b"] = f"{layer.name}'s bias ({spec.bias_form})"
    flip = spec.flip_kernel
    pos = _affine({"m": -g["d"] if flip else g["d"]},
                  i * g["s"] - g["left"] + (g["d"] * (g["k"] - 1) if flip else 0), ex.base)
    # one input channel per group (depthwise): c is 0, no sum over it
    c_text = "c" if g["cg"] > 1 else 0
    channel = _affine({"c": 1}, group * g["cg"], ex.base) if g["cg"] > 1 else group
    sums = ("Σ_c " if g["cg"] > 1 else "") + "Σ_m "
    rhs = f"{sums}{wname(f, c_text, 'm')}·{o(n, channel, pos)}{bias_text}"
    notes = [f"m runs over the kernel ({ex.range_text('m', g['k'])})"
             + (f", c over the {g['cg']} input channels the filter sees" if g["cg"] > 1
                else "") + "."] + _notes(ex, g)
    return ex.finish(path, title=f"{x(*index)}: one output cell of {layer.name}, the sum of "
                                   f"the kernel times the input window under it",
                     lhs=x(*index), rhs=rhs, terms=terms, symbols=symbols, notes=notes)


def delta_in_conv1d(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _affine, scalar

    g = _geometry(layer)
    spec: Conv1dSpec = g["spec"]
    n, ch, r = index
    group, c = divmod(ch, g["cg"])
    wname = _kernel_named(ex, spec)
    delta = ex.map_named("δ", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
    positions = [p for p in range(g["padded"])
                 if padded_source(p, g["length"], g["left"], g["mode"]) == r]
    found = []
    for f in range(group * g["fg"], (group + 1) * g["fg"]):
        for m in range(g["k"]):
            for pos in positions:
                i, rest = divmod(pos - m * g["d"], g["s"])
                if rest or not 0 <= i < g["out"]:
                    continue
                found.append((f, i, m, pos))
    found.sort()
    terms, pairs = [], []
    for f, i, m, pos in found:
        gm = _tap(spec, m)
        note = None
        if pos - g["left"] != r:
            note = (f"through padding cell {o(n, ch, pos - g['left'])}, which copies "
                    f"{o(*index)} ({g['mode']})")
        terms.append(ex.term(Factor(delta(n, f, i), scalar(layer.delta_out[n, f, i])),
                             Factor(wname(f, c, gm), scalar(spec.weight[f, c, gm])), note=note))
        pairs.append(f"{delta(n, f, i)}↔{wname(f, c, gm)}")
    lhs = f"dE/d{o(*index)}"
    flip = spec.flip_kernel
    i_text = _affine({"m": g["d"] if flip else -g["d"]},
                     r + g["left"] - (g["d"] * (g["k"] - 1) if flip else 0), ex.base, g["s"])
    f_sum = "Σ_f " if g["fg"] > 1 else ""
    f_index = "f" if g["fg"] > 1 else group * g["fg"]
    rhs = f"{f_sum}Σ_m {delta(n, f_index, i_text)}·{wname(f_index, c, 'm')}"
    # the rule and its count are the direct terms', as conv2d's
    direct = [t for t in found if t[3] - g["left"] == r]
    copied = [t for t in found if t[3] - g["left"] != r]
    if copied:  # as conv2d's: no one index rule
        rhs += f" + the same sum at each padded cell that copies {o(*index)}"
    taps = len({m for _, _, m, _ in direct})  # a term per filter: (f, m)
    # per filter, as taps: each filter's terms through padding cells, the same m and cell
    through = len({(m, pos) for _, _, m, pos in copied})
    notes = ["Only the m whose δ index is " + ("a whole number " if g["s"] > 1 else "")
             + f"inside the output of {g['out']} count ({taps} of them): input cell "
             f"{o(*index)} lies under kernel entry m of the window of x[i] exactly for those"
             + through_padding_words(through, g["fg"] > 1, "m")]
    if pairs and len(pairs) <= 64:
        notes.append("Which kernel entry meets which delta: " + ", ".join(pairs) + ".")
    if g["k"] > 1:
        full = ("the full convolution of δ (zeros inserted for a stride > 1, padded by "
                f"d·(k-1) on each side) with the {'sliding ' if flip else ''}kernel reversed")
        direct_words = "In the direct terms, as" if through else "As"
        if flip:  # the kernel slides reversed already: reversed back, it is the one given
            notes.append(f"{direct_words} the δ index goes up the kernel index goes up too: "
                         f"the input delta is {full}, the kernel as given (flip_kernel "
                         f"reversed it to slide) (see backward --show-steps).")
        else:
            notes.append(f"{direct_words} the δ index goes up the kernel index goes down: the "
                         f"input delta is {full} (see backward --show-steps).")
    if g["fg"] > 1:
        notes.append(f"f runs over the {counted(g['fg'], 'filter')} that read input channel "
                     f"{ch + ex.base}: every one of them sends delta back.")
    notes += _notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"), notes=notes)


def grad_conv1d(ex, path: TensorPath, layer: LayerTrace) -> Explanation:
    """A kernel entry's or a bias's gradient: a term per output cell it touched (N·L' for a
    kernel entry), given as columns so that only the terms listed are built."""
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns, _affine, scalar

    g = _geometry(layer)
    spec: Conv1dSpec = g["spec"]
    delta = ex.map_named("δ", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
    batched = ex.trace.layout.batched
    if path.param == "bias":
        bname = _bias_named(ex, spec)
        # the cells (n, f, i) the bias is added to, in that order
        if spec.bias_form == "scalar":
            values = layer.delta_out.reshape(-1)
            f, i = 0, 0

            def cell(position: int) -> tuple[int, ...]:
                return tuple(int(v) for v in np.unravel_index(position, layer.delta_out.shape))

            rhs = ("Σ_n " if batched else "") + f"Σ_i {delta('n', 0, 'i')}"
        elif spec.bias_form == "filter":
            (f,), i = path.index, 0
            values = layer.delta_out[:, f].reshape(-1)

            def cell(position: int) -> tuple[int, ...]:
                n, at = divmod(position, g["out"])
                return n, f, at

            rhs = ("Σ_n " if batched else "") + f"Σ_i {delta('n', f, 'i')}"
        else:
            i, f = path.index if spec.channels_last else path.index[::-1]
            values = layer.delta_out[:, f, i]

            def cell(position: int) -> tuple[int, ...]:
                return position, f, i

            rhs = ("Σ_n " if batched else "") + delta("n", f, i)

        def build_bias_term(position: int) -> Term:
            at = cell(position)
            return ex.term(Factor(delta(*at), scalar(layer.delta_out[at])))

        lhs = f"dE/d{bname(f, i)}"
        return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s bias", lhs=lhs,
                         rhs=rhs, terms=TermColumns([Column("δ", values)], build_bias_term),
                         symbols=ex.layer_symbols(layer, b=f"{layer.name}'s bias "
                                                             f"({spec.bias_form})"),
                         notes=["dx/db = 1 wherever the bias is added."])
    internal = _to_internal(np.arange(spec.kernel.size).reshape(spec.kernel.shape),
                            spec.kernel_form, spec.channels_last)
    f, c, gm = (int(v[0]) for v in np.nonzero(
        internal == np.ravel_multi_index(path.index, spec.kernel.shape)))
    m = _tap(spec, gm)
    ch = (f // g["fg"]) * g["cg"] + c
    wname = _kernel_named(ex, spec)

    def build(position: int) -> Term:  # (n, i) in that order
        n, i = divmod(position, g["out"])
        factor = _input_factor(ex, layer, g, n, ch, i * g["s"] + m * g["d"])
        return ex.term(Factor(delta(n, f, i), scalar(layer.delta_out[n, f, i])), factor,
                       note=factor.note)

    # the input cell under tap m of every output cell (a padding cell: the one it copies, or
    # a zero of its own), in one pass: as _input_factor reads them one by one
    sources = [padded_source(i * g["s"] + m * g["d"], g["length"], g["left"], g["mode"])
               for i in range(g["out"])]
    padding = np.broadcast_to(np.array([src is None for src in sources]),
                              (g["n"], g["out"]))
    o_values = layer.input[:, ch][:, [src or 0 for src in sources]].copy()
    o_values[padding] = 0
    reasons = np.full(padding.shape, None, dtype=object)
    reasons[padding] = "o is zero padding"
    terms = TermColumns([Column("δ", layer.delta_out[:, f].reshape(-1)),
                         Column("o", o_values.reshape(-1), reasons.reshape(-1))], build)
    lhs = f"dE/d{wname(f, c, gm)}"
    pos = _affine({"i": g["s"]}, m * g["d"] - g["left"], ex.base)
    rhs = ("Σ_n " if batched else "") + f"Σ_i {delta('n', f, 'i')}·{o('n', ch, pos)}"
    notes = [f"i runs over the output of {g['out']} ({ex.range_text('i', g['out'])}): "
             f"{wname(f, c, gm)} touched every output cell x[i] once, through the input cell "
             f"under it."] + _notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s kernel entry "
                                   f"{wname(f, c, gm)}", lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"), notes=notes)


# ------------------------------------------------------ textbook steps and slips: conv2d's, 1 row


def as_conv2d(spec: Conv1dSpec):
    """The same layer as a conv2d over one-row maps: (F, C/groups, 1, k), the bias internal."""
    from cnngrad.families.conv2d import Conv2dSpec

    bias = _bias_internal(spec)
    kind = spec.bias_form
    if kind == "scalar":
        bias, kind = bias.reshape(()), "scalar"
    elif kind == "untied":
        bias = bias[:, None, :]
    n, f, out = spec.out_shape
    weight = spec.weight[:, :, None, :]
    return Conv2dSpec(index=spec.index, name=spec.name, type="conv2d", where=spec.where,
                      in_shape=spec.in_shape[:2] + (1,) + spec.in_shape[2:],
                      out_shape=(n, f, 1, out), inputs=spec.inputs, kernel=weight,
                      weight=weight, bias=bias, bias_kind=kind, stride=(1, spec.stride),
                      padding=(0, 0) + tuple(spec.padding), dilation=(1, spec.dilation),
                      groups=spec.groups, padding_mode=spec.padding_mode,
                      flip_kernel=spec.flip_kernel)


def conv1d_textbook(spec: Conv1dSpec, x: np.ndarray, delta_out: np.ndarray,
                    layout: Layout | None = None) -> Textbook:
    """conv2d's textbook route on one-row maps: the input delta as the full convolution of
    the (zero-inserted, padded) delta with the reversed kernel, the kernel gradient as the
    padded input correlated with the delta.

    Parameters
    ----------
    spec : Conv1dSpec
    x : ndarray (N, C, L)
    delta_out : ndarray (N, F, L')

    Returns
    -------
    Textbook
        ``delta_in`` (N, C, L) and ``grads["kernel"]`` in the kernel's given shape.
    """
    from cnngrad.families.conv2d import conv_textbook
    from cnngrad.teach.steps import Textbook, one_row_steps

    book = conv_textbook(as_conv2d(spec), x[:, :, None, :], delta_out[:, :, None, :], layout,
                         one_axis=True)
    # already for the kernel as given (conv_textbook turns a flipped kernel's gradient back)
    grad = book.grads["kernel"][:, :, 0, :]
    return Textbook(steps=one_row_steps(book.steps), delta_in=book.delta_in[:, :, 0, :],
                    grads={"kernel": _to_given(grad, spec.kernel_form, spec.channels_last,
                                               spec.kernel.shape)})


def _flip_toggled(spec):
    return dataclasses.replace(spec, flip_kernel=not spec.flip_kernel) \
        if isinstance(spec, Conv1dSpec) else None


def _forward_flip(ctx: SlipContext) -> Trace | None:
    from cnngrad.teach.diagnose import rerun_problem

    if not any(isinstance(spec, Conv1dSpec) for spec in ctx.problem.layers):
        return None
    return rerun_problem(ctx.trace, layers=[_flip_toggled(s) or s for s in ctx.problem.layers])


def _sides_swapped(ctx: SlipContext) -> Trace | None:
    """Every uneven 1-D padding with its sides swapped (a "same" padding's extra cell on the
    left, where TensorFlow's rule puts it on the right); None when no padding is uneven."""
    from cnngrad.teach.diagnose import rerun_problem

    def uneven(spec) -> bool:
        return isinstance(spec, Conv1dSpec) and spec.padding[0] != spec.padding[1]
    if not any(uneven(spec) for spec in ctx.problem.layers):
        return None
    return rerun_problem(ctx.trace, layers=[
        dataclasses.replace(spec, padding=spec.padding[::-1]) if uneven(spec) else spec
        for spec in ctx.problem.layers])


def _strided(layer: LayerTrace) -> bool:
    return isinstance(layer.spec, Conv1dSpec) and layer.spec.stride != 1


def _undilated_backward(spec: Conv1dSpec, x, y, delta):
    """conv2d's "delta not dilated for the stride" slip on the one-row view."""
    from cnngrad.families.conv2d import _undilated_conv_backward

    view = as_conv2d(spec)
    delta_in, grads = _undilated_conv_backward(view, x[:, :, None, :], y[:, :, None, :],
                                               delta[:, :, None, :])
    weight_grad = grads["kernel"][:, :, 0, :]  # for the kernel as given already
    # _grads turns a flipped kernel's gradient around: hand it the one of the kernel used
    out = _grads(spec, weight_grad[:, :, ::-1] if spec.flip_kernel else weight_grad, delta)
    return delta_in[:, :, 0, :], out


def _with_bias(forms):
    return lambda layer: isinstance(layer.spec, Conv1dSpec) and layer.spec.bias_form in forms


def _bias_summed_backward(spec: Conv1dSpec, x, y, delta):
    """An untied bias's gradient taken as its filter's whole sum, at every position."""
    delta_in, grads = _backward(spec, x, delta)
    total = np.broadcast_to(delta.sum(axis=(0, 2))[:, None], delta.shape[1:])
    grads["bias"] = np.ascontiguousarray(total.T if spec.channels_last else total)
    return delta_in, grads


def _bias_averaged_backward(spec: Conv1dSpec, x, y, delta):
    """A shared bias's gradient averaged (np.mean) over the batch and the positions instead
    of summed."""
    delta_in, grads = _backward(spec, x, delta)
    grads["bias"] = grads["bias"] / (delta.size // delta.shape[1])
    return delta_in, grads


# --------------------------------------------------------------------------- the family


class Conv1d(LayerFamily):
    type = "conv1d"
    since = "1.1"  # contract v1.1
    weighted = True  # sums input × weight products, plus a bias
    kernel_spatial_first = True  # HWIO, k×I×O under "nhwc"
    spatial = 1
    fields = ("kernel", "bias", "stride", "padding", "dilation", "groups", "padding_mode",
              "flip_kernel")
    required = ("kernel",)
    param_labels = {"kernel": "dE/dw (kernel gradient)", "bias": "dE/db (bias gradient)"}
    # a 3-D kernel is drawn a C×k grid per filter (a 1-D map's grids hold its channels)
    param_axes = {"kernel": "f", "bias": "nc"}
    cast_fields = ("weight", "bias")

    def build(self, ctx, raw, head):
        return build_conv1d(ctx, raw, head)

    def param_grid(self, spec, key, array):
        """A kernel as given → grids per filter in the tables: under nhwc k×(C/groups)×F →
        F×(C/groups)×k."""
        if not spec.channels_last or key != "kernel" or array.ndim != 3:
            return array
        return np.transpose(array, (2, 1, 0))

    def work(self, spec):
        out, cells = shape_size(spec.out_shape), shape_size(spec.weight.shape[1:])
        return 3 * out * cells, f"{out:,} outputs × {cells:,} kernel cells"

    def steps_cells(self, spec):
        # the delta with zeros inserted and padded for the full convolution, the padded input
        n, c, length = spec.in_shape
        f, out_length = spec.out_shape[1:]
        k = spec.weight.shape[2]
        dilated = (out_length - 1) * spec.stride + 1 + 2 * spec.dilation * (k - 1)
        return n * max(f, c) * (dilated + length + sum(spec.padding))

    def schema_fields(self, ref):
        return schema_fields(ref)

    def summed_terms(self, spec):  # (cnngrad.kinks)
        return spec.weight[0].size + (spec.bias is not None)

    def forward(self, spec, inputs):
        return _forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _backward(spec, inputs[0], delta_out)
        return [delta_in], grads

    def replace_param(self, spec, key, value):
        new = super().replace_param(spec, key, value)
        if key == "kernel":
            new.weight = _to_internal(value, spec.kernel_form, spec.channels_last)
        return new

    def settings(self, spec):
        f, _, k = spec.weight.shape
        out = [("kernel", str(k)), ("filters", str(f))]
        if spec.stride != 1:
            out.append(("stride", str(spec.stride)))
        if any(spec.padding):
            out.append(("padding", sides_text(spec.padding)))
        if spec.dilation != 1:
            out.append(("dilation", str(spec.dilation)))
        if spec.groups != 1:
            out.append(("groups", str(spec.groups)))
        if spec.padding_mode != "zeros":
            out.append(("padding mode", spec.padding_mode))
        if spec.flip_kernel:
            out.append(("kernel", "flipped (true convolution)"))
        return out

    def convention(self, spec):
        if spec.flip_kernel:
            return "true convolution, the kernel reversed before it slides"
        return "cross-correlation, the kernel slid as given (not reversed)"

    def given_axes(self, spec, key, rank, channels_last=False):
        return kernel_axes(spec, key, rank, 1, channels_last)

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_conv1d(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_conv1d(ex, path, layer, index)
        return grad_conv1d(ex, path, layer)

    def textbook(self, layer, layout):
        return conv1d_textbook(layer.spec, layer.input, layer.delta_out, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace, replace_backward

        return [
            (15, Slip("conv1d_kernel_not_reversed",
                      "matches the 1-D kernel not reversed in the backward pass",
                      slip_in_trace("conv1d_kernel_not_reversed",
                                    replace_backward(self.type, _flip_toggled,
                                                     input_delta_only=True)))),
            (16, Slip("conv1d_convolution_kind",
                      "matches the 1-D convolution computed with the kernel reversed (true "
                      "convolution and cross-correlation swapped)",
                      slip_in_trace("conv1d_convolution_kind", _forward_flip))),
            (18, Slip("conv1d_padding_sides_swapped",
                      "matches the 1-D padding's left and right sides swapped (a \"same\" "
                      "padding's extra cell goes right)",
                      slip_in_trace("conv1d_padding_sides_swapped", _sides_swapped))),
            (17, Slip("conv1d_delta_not_dilated",
                      "matches the 1-D delta not dilated for the stride",
                      slip_in_trace("conv1d_delta_not_dilated",
                                    custom_backward(_strided, _undilated_backward)))),
            (52, Slip("conv1d_bias_summed",
                      "matches the untied bias summed instead of per position",
                      slip_in_trace("conv1d_bias_summed", custom_backward(
                            _with_bias(("untied",)), _bias_summed_backward)))),
            (53, Slip("conv1d_bias_averaged",
                      "matches the 1-D bias gradient averaged over the positions (and the "
                      "batch) instead of summed: each position adds its delta",
                      slip_in_trace("conv1d_bias_averaged", custom_backward(
                            _with_bias(("scalar", "filter")), _bias_averaged_backward)))),
        ]


CONV1D = Conv1d()
