"""conv_transpose2d: a 2-D transposed convolution (as torch.nn.functional.conv_transpose2d),
everything cnngrad knows about it: fields and validation, schema, step, explanation rules,
textbook steps (a convolution over the zero-inserted, padded input) and slips.

The numbers come from :mod:`cnngrad.layers.conv_transpose`.  The kernel is held internally
in torch's layout (C_in, F/groups, k1, k2); the kernel as given (k1×k2, C_in×k1×k2, F×k1×k2,
or TensorFlow's k1×k2×(F/groups)×C_in under ``"layout": "nhwc"``) is converted on the way
in, and its gradient back to exactly that shape.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnngrad.errors import ShapeError, join_path
from cnngrad.families.base import (Head, LayerFamily, check_groups, counted, kernel_axes,
                                   number_bias_grad, read_bias, read_kernel2d, shape_size,
                                   working_buffer)
from cnngrad.layers.conv_transpose import conv_transpose2d_backward, conv_transpose2d_forward
from cnngrad.problem import LayerSpec, every_text, pair_text, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.problem import Layout
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, TensorPath
    from cnngrad.teach.steps import Step, Textbook


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class ConvTranspose2dSpec(LayerSpec):
    kernel: np.ndarray = None  # as given
    weight: np.ndarray = None  # (C_in, F/groups, kh, kw), torch's layout
    kernel_form: str = "4d"  # 2d | in (C_in×k1×k2, one out) | out (F×k1×k2, one in) | 4d
    channels_last: bool = False  # the kernel was given in TensorFlow's order
    bias: np.ndarray | None = None  # as given
    #: none | scalar | filter (not conv2d's bias_kind: conv2d's bias slips look for that)
    bias_form: str = "none"
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    output_padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    #: a slip only (check): the kernel used without the 180° rotation of the textbook route
    unflipped: bool = False

    @property
    def params(self) -> dict[str, np.ndarray]:
        out = {"kernel": self.kernel}
        if self.bias is not None:
            out["bias"] = self.bias
        return out


def _to_internal(kernel: np.ndarray, form: str, channels_last: bool) -> np.ndarray:
    """The kernel as given → (C_in, F/groups, kh, kw)."""
    if form == "2d":
        return kernel.reshape((1, 1) + kernel.shape)
    if form in ("in", "out"):
        k3 = np.moveaxis(kernel, -1, 0) if channels_last else kernel
        return k3[:, None] if form == "in" else k3[None]
    if channels_last:  # k1×k2×(F/groups)×C_in (TensorFlow's conv2d_transpose filter)
        return np.transpose(kernel, (3, 2, 0, 1))
    return kernel


def _to_given(grad: np.ndarray, form: str, channels_last: bool, shape) -> np.ndarray:
    """A (C_in, F/groups, kh, kw) gradient → the kernel's given shape."""
    if form == "2d":
        return np.ascontiguousarray(grad).reshape(shape)
    if form in ("in", "out"):
        k3 = grad[:, 0] if form == "in" else grad[0]
        return np.ascontiguousarray(np.moveaxis(k3, 0, -1) if channels_last else k3)
    if channels_last:
        return np.ascontiguousarray(np.transpose(grad, (2, 3, 1, 0)))
    return np.ascontiguousarray(grad)


# ------------------------------------------------------------------------------- reading a problem


def _channels_last(layout) -> bool:
    return bool(getattr(layout, "channels_last", False))


def build_conv_transpose2d(ctx, raw: dict, head: Head) -> ConvTranspose2dSpec:
    where, kind, shape = head.where, head.kind, head.in_shape
    n, c_in, h, w = ctx.need_map(shape, where, kind)
    f = head.at
    if "kernel" not in raw:
        raise ctx.error(where, "conv_transpose2d layer has no 'kernel'")
    kernel = read_kernel2d(ctx, raw["kernel"], f("kernel"))
    ctx.check_size(kernel.size, f("kernel"), "the kernel")
    groups = ctx.integer(raw.get("groups", 1), f("groups"))
    stride = ctx.int_pair(raw.get("stride", 1), f("stride"))
    dilation = ctx.int_pair(raw.get("dilation", 1), f("dilation"))
    padding = ctx.int_pair(raw.get("padding", 0), f("padding"), 0)
    output_padding = ctx.int_pair(raw.get("output_padding", 0), f("output_padding"), 0)
    last = _channels_last(head.layout)
    check_groups(ctx, groups, c_in, f("groups"))
    form = _kernel_form(ctx, kernel, c_in, groups, last, f("kernel"))
    weight = _to_internal(kernel, form, last)
    _, f_group, kh, kw = weight.shape
    n_filters = f_group * groups
    for axis, (op, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op >= max(s, d):
            raise ctx.error(join_path(f("output_padding"), axis) if isinstance(
                raw.get("output_padding"), list) else f("output_padding"),
                f"output_padding {op} must be smaller than the stride {s} or the dilation "
                f"{d} (along the {'rows' if axis == 0 else 'columns'})",
                f"allowed: 0…{max(s, d) - 1} (PyTorch's rule)", cls=ShapeError)
    h_out, w_out = ((size - 1) * s - 2 * p + d * (k - 1) + op + 1
                    for size, s, p, d, k, op in zip((h, w), stride, padding, dilation,
                                                    (kh, kw), output_padding))
    if h_out < 1 or w_out < 1:
        written = raw.get("padding")  # as given: 3, or [3, 1]
        raise ctx.error(f("padding"), f"padding {written} crops the whole output (it "
                                       f"would be {h_out}×{w_out})",
                        "H' = (H − 1)·s − 2p + d·(k − 1) + output_padding + 1 must be ≥ 1",
                        cls=ShapeError)
    # named by what makes the output large: the stride's spread of the input, or the
    # kernel's (dilated) reach
    spread = max((size - 1) * s for size, s in zip((h, w), stride))
    reach = max(d * (k - 1) for d, k in zip(dilation, (kh, kw)))
    large = ("stride" if max(stride) > 1 and spread >= reach else
             "dilation" if max(dilation) > 1 and reach > spread else "kernel")
    ctx.check_size(n * n_filters * h_out * w_out, f(large), "the output")
    ctx.check_size(c_in * kh * kw * h * w, f("kernel"),
                   working_buffer("image", "col2im", c_in, f"{kh}×{kw} kernel taps",
                                  f"{h}×{w} inputs"))
    bias, bias_form = None, "none"
    if "bias" in raw:
        expected = "expected " + ("a number or " if n_filters == 1 else "") + \
            f"a vector of {n_filters} (one bias per output channel)"
        bias = read_bias(ctx, raw["bias"], f("bias"), 1, n_filters, expected)
        if bias.ndim == 0:
            if n_filters != 1:
                raise ctx.error(f("bias"), f"a single-number bias needs one output channel, "
                                            f"this layer has {n_filters}",
                                f"give a vector of {n_filters}", cls=ShapeError)
            bias_form = "scalar"
        elif bias.shape == (n_filters,):
            bias_form = "filter"
        else:
            raise ctx.error(f("bias"), f"bias of shape {shape_text(bias.shape)} does not fit "
                                        f"{n_filters} output channel(s)", expected,
                            cls=ShapeError)
    return ConvTranspose2dSpec(**head.spec_fields(), out_shape=(n, n_filters, h_out, w_out),
                               kernel=kernel, weight=weight, kernel_form=form,
                               channels_last=last, bias=bias, bias_form=bias_form,
                               stride=stride, padding=padding, output_padding=output_padding,
                               dilation=dilation, groups=groups)


def _kernel_form(ctx, kernel, c_in: int, groups: int, last: bool, where: str) -> str:
    """Contract: k1×k2 (one channel in and out); C_in×k1×k2 (C_in > 1 in, one out per group:
    torch's C_in×1×k1×k2, so with groups=C_in a depthwise kernel); F×k1×k2 (one in, F out);
    C_in×(F/groups)×k1×k2 (nhwc: k1×k2×C_in, k1×k2×F, k1×k2×(F/groups)×C_in)."""
    four = "k1×k2×(F/groups)×C_in" if last else "C_in×(F/groups)×k1×k2"
    if kernel.ndim == 2:
        if c_in != 1:
            raise ctx.error(where, f"a 2-D kernel is one channel in and one out, but the input "
                                    f"has {c_in} channels",
                            f"give {'k1×k2×' + str(c_in) if last else str(c_in) + '×k1×k2'} "
                            f"(one output channel) or {four}", cls=ShapeError)
        return "2d"
    if kernel.ndim == 3:
        first = kernel.shape[-1] if last else kernel.shape[0]
        if c_in == 1:
            return "out"
        if first == c_in:
            return "in"
        raise ctx.error(where, f"a 3-D kernel over a {c_in}-channel input must be "
                                f"{'k1×k2×' + str(c_in) if last else str(c_in) + '×k1×k2'} "
                                f"(one output channel), got {shape_text(kernel.shape)}",
                        f"for several output channels give {four}", cls=ShapeError)
    first = kernel.shape[3] if last else kernel.shape[0]
    if first != c_in:
        raise ctx.error(where, f"kernel has {first} input channels, the input has {c_in}",
                        f"expected {four} with C_in = {c_in}", cls=ShapeError)
    return "4d"


# ------------------------------------------------------------------------------------- JSON Schema


def _tensor_schema(ranks, description: str, ref) -> dict:
    forms = [ref(f"rank{r}") for r in ranks]
    if 2 in ranks:
        forms.append(ref("csv_matrix"))
    if 3 in ranks:
        forms.append(ref("csv_stack"))
    forms.append(ref("npy_file"))
    return {"anyOf": forms, "description": description}


def _pair_schema(minimum: int, description: str) -> dict:
    return {"anyOf": [
        {"type": "integer", "minimum": minimum},
        {"type": "array", "items": {"type": "integer", "minimum": minimum},
         "minItems": 2, "maxItems": 2},
    ], "description": description}


def schema_fields(ref) -> dict[str, dict]:
    return {
        "kernel": _tensor_schema((2, 3, 4), "k1×k2, C_in×k1×k2 (one out), F×k1×k2 (one in), "
                                            "or C_in×(F/groups)×k1×k2 (nhwc: "
                                            "k1×k2×(F/groups)×C_in)", ref),
        "bias": _tensor_schema((0, 1), "a number (one output channel) or a vector of F", ref),
        "stride": {**ref("int_pair"), "default": 1},
        "padding": {**_pair_schema(0, "an integer or [rows, cols]: cropped from each side"),
                    "default": 0},
        "output_padding": {**_pair_schema(0, "an integer or [rows, cols], each smaller than "
                                             "the stride or the dilation"), "default": 0},
        "dilation": {**ref("int_pair"), "default": 1},
        "groups": {"type": "integer", "minimum": 1, "default": 1},
    }


# ---------------------------------------------------------------------------------------- the step


def _used_weight(spec: ConvTranspose2dSpec) -> np.ndarray:
    return spec.weight[:, :, ::-1, ::-1] if spec.unflipped else spec.weight


def _args(spec: ConvTranspose2dSpec) -> dict:
    return dict(stride=spec.stride, padding=spec.padding, output_padding=spec.output_padding,
                dilation=spec.dilation, groups=spec.groups)


def _bias_vector(spec: ConvTranspose2dSpec):
    if spec.bias_form == "none":
        return None
    return spec.bias.reshape(1) if spec.bias_form == "scalar" else spec.bias


def _forward(spec: ConvTranspose2dSpec, x: np.ndarray) -> np.ndarray:
    return conv_transpose2d_forward(x, _used_weight(spec), _bias_vector(spec), **_args(spec))


def _backward(spec: ConvTranspose2dSpec, x, delta_out):
    delta_in, grad_weight, grad_bias = conv_transpose2d_backward(x, _used_weight(spec),
                                                                 delta_out, **_args(spec))
    if spec.unflipped:
        grad_weight = grad_weight[:, :, ::-1, ::-1]
    grads = {"kernel": _to_given(grad_weight, spec.kernel_form, spec.channels_last,
                                 spec.kernel.shape)}
    if spec.bias_form == "scalar":
        grads["bias"] = number_bias_grad(delta_out)
    elif spec.bias_form == "filter":
        grads["bias"] = grad_bias
    return delta_in, grads


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _kernel_named(ex, spec: ConvTranspose2dSpec):
    """Names kernel entries by their internal index (c, f, m, q), shown as the kernel was
    given (its axes, its order)."""
    from cnngrad.teach.explain import NamedCells

    form, last = spec.kernel_form, spec.channels_last

    class _KernelNamed(NamedCells):
        def shown(self, index):
            c, f, m, q = index
            if form == "2d":
                return (m, q)
            if form == "in":
                return (m, q, c) if last else (c, m, q)
            if form == "out":
                return (m, q, f) if last else (f, m, q)
            return (m, q, f, c) if last else (c, f, m, q)

    return _KernelNamed("w", (True,) * 4, ex.base)


def _geometry(layer: LayerTrace) -> dict:
    spec: ConvTranspose2dSpec = layer.spec
    c_in, fg, kh, kw = spec.weight.shape
    return dict(spec=spec, n=layer.input.shape[0], c=c_in, h=layer.input.shape[2],
                w=layer.input.shape[3], cg=c_in // spec.groups, fg=fg, kh=kh, kw=kw,
                h_out=layer.output.shape[2], w_out=layer.output.shape[3],
                sh=spec.stride[0], sw=spec.stride[1], ph=spec.padding[0], pw=spec.padding[1],
                dh=spec.dilation[0], dw=spec.dilation[1])


def _notes(ex, g: dict) -> list[str]:
    spec = g["spec"]
    settings = [f"stride {pair_text(spec.stride)}"]
    if spec.padding != (0, 0):
        settings.append(f"padding {pair_text(spec.padding)} (cropped from each side of the "
                        f"full output)")
    if spec.output_padding != (0, 0):
        settings.append(f"output_padding {pair_text(spec.output_padding)} (extra rows/columns "
                        f"at the bottom/right)")
    if spec.dilation != (1, 1):
        settings.append(f"dilation {pair_text(spec.dilation)}")
    if spec.groups > 1:
        settings.append(f"{spec.groups} groups of {counted(g['cg'], 'input channel')} and "
                        f"{counted(g['fg'], 'output channel')}")
    return ["transposed conv settings: " + "; ".join(settings) + ".",
            "Forward, every input cell o[a,b] scatters o[a,b]·w[m,n] onto output cell "
            "x[a·s−p+m·d, b·s−p+n·d]" + (" (indices counted from 0 in this rule)"
                                          if ex.base else "") +
            ": the transposed convolution is the backward pass of a "
            "convolution with the same kernel, stride and padding."]


def output_conv_transpose(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, NamedCells, _affine, scalar

    g = _geometry(layer)
    spec: ConvTranspose2dSpec = g["spec"]
    n, f, i, j = index
    group, fl = divmod(f, g["fg"])
    x = ex.map_named("x", layer.output.shape)
    o = ex.map_named("o", layer.input.shape)
    wname = _kernel_named(ex, spec)
    terms, pairs, taps = [], [], set()
    for c in range(group * g["cg"], (group + 1) * g["cg"]):
        for m in range(g["kh"]):
            a, rest_a = divmod(i + g["ph"] - m * g["dh"], g["sh"])
            if rest_a or not 0 <= a < g["h"]:
                continue
            for q in range(g["kw"]):
                b, rest_b = divmod(j + g["pw"] - q * g["dw"], g["sw"])
                if rest_b or not 0 <= b < g["w"]:
                    continue
                terms.append(ex.term(Factor(wname(c, fl, m, q), scalar(spec.weight[c, fl, m, q])),
                                     Factor(o(n, c, a, b), scalar(layer.input[n, c, a, b]))))
                pairs.append(f"{wname(c, fl, m, q)}↔{o(n, c, a, b)}")
                taps.add((m, q))  # a term per input channel: (c, m, n)
    symbols = ex.layer_symbols(layer, w=f"{layer.name}'s kernel")
    bias_text = ""
    if spec.bias_form != "none":
        bname = NamedCells("b", (spec.bias_form == "filter",), ex.base)
        terms.append(ex.term(Factor(bname(f), scalar(_bias_vector(spec)[f]))))
        bias_text = f" + {bname(f)}"
        symbols["b"] = f"{layer.name}'s bias"
    row = _affine({"m": -g["dh"]}, i + g["ph"], ex.base, g["sh"])
    col = _affine({"n": -g["dw"]}, j + g["pw"], ex.base, g["sw"])
    c_text = "c" if g["cg"] > 1 else group * g["cg"]
    sums = ("Σ_c " if g["cg"] > 1 else "") + "Σ_m Σ_n "
    rhs = f"{sums}{wname(c_text, fl, 'm', 'n')}·{o(n, c_text, row, col)}{bias_text}"
    notes = [f"Only the kernel entries (m, n) whose input row and column are whole numbers "
             f"inside the {g['h']}×{g['w']} input count ({len(taps)} of them)."]
    if pairs and len(pairs) <= 64:
        notes.append("Which kernel entry meets which input cell: " + ", ".join(pairs) + ".")
    notes += _notes(ex, g)
    return ex.finish(path, title=f"{x(*index)}: one output cell of {layer.name}, the sum of "
                                   f"the input cells that scatter onto it",
                     lhs=x(*index), rhs=rhs, terms=terms, symbols=symbols, notes=notes)


def delta_in_conv_transpose(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, _affine, scalar

    g = _geometry(layer)
    spec: ConvTranspose2dSpec = g["spec"]
    n, c, a, b = index
    group = c // g["cg"]
    o = ex.map_named("o", layer.input.shape)
    delta = ex.map_named("δ", layer.output.shape)
    wname = _kernel_named(ex, spec)
    terms, pairs = [], []
    for fl in range(g["fg"]):
        f = group * g["fg"] + fl
        for m in range(g["kh"]):
            i = a * g["sh"] - g["ph"] + m * g["dh"]
            if not 0 <= i < g["h_out"]:
                continue
            for q in range(g["kw"]):
                j = b * g["sw"] - g["pw"] + q * g["dw"]
                if not 0 <= j < g["w_out"]:
                    continue
                terms.append(ex.term(Factor(delta(n, f, i, j), scalar(layer.delta_out[n, f, i, j])),
                                     Factor(wname(c, fl, m, q), scalar(spec.weight[c, fl, m, q]))))
                pairs.append(f"{wname(c, fl, m, q)}↔{delta(n, f, i, j)}")
    lhs = f"dE/d{o(*index)}"
    row = _affine({"m": g["dh"]}, a * g["sh"] - g["ph"], ex.base)
    col = _affine({"n": g["dw"]}, b * g["sw"] - g["pw"], ex.base)
    # δ's channel is the group's first output channel + f (f counts the kernel's filters)
    f_text = _affine({"f": 1}, group * g["fg"], ex.base) if g["fg"] > 1 else group * g["fg"]
    rhs = (("Σ_f " if g["fg"] > 1 else "") + f"Σ_m Σ_n {delta(n, f_text, row, col)}·"
           f"{wname(c, 'f' if g['fg'] > 1 else 0, 'm', 'n')}")
    # with several filters a group, the pairs counted are (f, m, n), not kernel positions
    per = "filter f and kernel entry (m, n)" if g["fg"] > 1 else "kernel entry (m, n)"
    notes = [f"{o(*index)} was scattered onto the output cells x[{row},{col}], once per {per} "
             f"that lands inside the {g['h_out']}×{g['w_out']} output "
             f"({len(pairs)} of them); each sends back its δ times that kernel entry. "
             f"So the input delta is an ordinary (strided) cross-correlation of δ with the "
             f"kernel, not rotated."]
    if pairs and len(pairs) <= 64:
        notes.append("Which kernel entry meets which delta: " + ", ".join(pairs) + ".")
    notes += _notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o(*index)}",
                     lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"), notes=notes)


def grad_conv_transpose(ex, path: TensorPath, layer: LayerTrace) -> Explanation:
    """A kernel entry's or a bias's gradient: a term per input cell it carried (per output
    cell of its channel for a bias), given as columns so that only the terms listed are
    built."""
    from cnngrad.teach.explain import (Column, Factor, NamedCells, Term, TermColumns, _affine,
                                       scalar)

    g = _geometry(layer)
    spec: ConvTranspose2dSpec = g["spec"]
    o = ex.map_named("o", layer.input.shape)
    delta = ex.map_named("δ", layer.output.shape)
    batched = ex.trace.layout.batched
    if path.param == "bias":
        bname = NamedCells("b", (spec.bias_form == "filter",), ex.base)
        f = path.index[0] if spec.bias_form == "filter" else 0
        fs = [f] if spec.bias_form == "filter" else list(range(g["fg"] * spec.groups))
        # the cells (n, f, i, j) of the channels the bias is added to, in that order
        cells_shape = (g["n"], len(fs), g["h_out"], g["w_out"])

        def build_bias_term(position: int) -> Term:
            n, k, i, j = (int(v) for v in np.unravel_index(position, cells_shape))
            return ex.term(Factor(delta(n, fs[k], i, j),
                                  scalar(layer.delta_out[n, fs[k], i, j])))

        terms = TermColumns([Column("δ", layer.delta_out[:, fs].reshape(-1))],
                            build_bias_term)
        lhs = f"dE/d{bname(f)}"
        return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s bias", lhs=lhs,
                         rhs=("Σ_n " if batched else "") + f"Σ_i Σ_j {delta('n', f, 'i', 'j')}",
                         terms=terms, symbols=ex.layer_symbols(layer, b=f"{layer.name}'s bias"),
                         notes=["dx/db = 1 for every cell of the output channel the bias is "
                                "added to."])
    # the given index → internal (c, f, m, q)
    internal = _to_internal(np.arange(spec.kernel.size).reshape(spec.kernel.shape),
                            spec.kernel_form, spec.channels_last)
    c, fl, m, q = (int(v[0]) for v in np.nonzero(
        internal == np.ravel_multi_index(path.index, spec.kernel.shape)))
    f = (c // g["cg"]) * g["fg"] + fl
    wname = _kernel_named(ex, spec)
    # the input rows and columns this entry carries inside the output, and where to
    rows = [(a, a * g["sh"] - g["ph"] + m * g["dh"]) for a in range(g["h"])]
    rows = [(a, i) for a, i in rows if 0 <= i < g["h_out"]]
    cols = [(b, b * g["sw"] - g["pw"] + q * g["dw"]) for b in range(g["w"])]
    cols = [(b, j) for b, j in cols if 0 <= j < g["w_out"]]
    cells_shape = (g["n"], len(rows), len(cols))

    def build(position: int) -> Term:  # (n, a, b) in that order
        n, ra, cb = (int(v) for v in np.unravel_index(position, cells_shape))
        (a, i), (b, j) = rows[ra], cols[cb]
        return ex.term(Factor(o(n, c, a, b), scalar(layer.input[n, c, a, b])),
                       Factor(delta(n, f, i, j), scalar(layer.delta_out[n, f, i, j])))

    def cells_of(maps: np.ndarray, first: list[int], second: list[int]) -> np.ndarray:
        return maps[:, first][:, :, second].reshape(-1)

    terms = TermColumns(
        [Column("o", cells_of(layer.input[:, c], [a for a, _ in rows], [b for b, _ in cols])),
         Column("δ", cells_of(layer.delta_out[:, f], [i for _, i in rows],
                              [j for _, j in cols]))], build)
    lhs = f"dE/d{wname(c, fl, m, q)}"
    row = _affine({"a": g["sh"]}, m * g["dh"] - g["ph"], ex.base)
    col = _affine({"b": g["sw"]}, q * g["dw"] - g["pw"], ex.base)
    rhs = (("Σ_n " if batched else "") + f"Σ_a Σ_b {o('n', c, 'a', 'b')}·"
           f"{delta('n', f, row, col)}")
    notes = [f"a, b run over the {g['h']}×{g['w']} input: {wname(c, fl, m, q)} carried every "
             f"input cell o[a,b] to the output cell x[{row},{col}] (when that cell is inside "
             f"the output), so it collects o[a,b] times that cell's δ."]
    notes += _notes(ex, g)
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s kernel entry "
                                   f"{wname(c, fl, m, q)}", lhs=lhs, rhs=rhs, terms=terms,
                     symbols=ex.layer_symbols(layer, w=f"{layer.name}'s kernel"), notes=notes)


# ------------------------------------------------------------------- textbook steps (--show-steps)


def _place(matrix: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Pad (positive) or crop (negative) each side of a matrix."""
    from cnngrad.teach.steps import zero_pad

    out = zero_pad(matrix, max(top, 0), max(bottom, 0), max(left, 0), max(right, 0))
    rows, cols = out.shape
    return out[max(-top, 0):rows - max(-bottom, 0), max(-left, 0):cols - max(-right, 0)]


def conv_transpose_textbook(spec: ConvTranspose2dSpec, x: np.ndarray, delta_out: np.ndarray,
                            layout: Layout | None = None) -> Textbook:
    """A transposed convolution as an ordinary convolution over the zero-inserted, padded
    input, and its backward pass in the same picture.

    Parameters
    ----------
    spec : ConvTranspose2dSpec
    x : ndarray (N, C_in, H, W)
    delta_out : ndarray (N, F, H', W')
    layout : Layout, optional

    Returns
    -------
    Textbook
        ``delta_in`` (N, C_in, H, W) and ``grads["kernel"]`` in the kernel's given shape.

    Notes
    -----
    Z = the input with s − 1 zeros between its cells, padded by d·(k − 1) − p on the
    top/left and d·(k − 1) − p + output_padding on the bottom/right (a negative amount
    crops); the output is the valid correlation of Z with the kernel dilated and rotated
    180°.  Backward: dE/dZ is the full correlation of δ with the dilated kernel (not
    rotated), and δ_in its cells where the input sits; dE/dw is Z correlated with δ,
    rotated back 180° (every d-th entry with dilation).
    """
    from cnngrad.teach.steps import (Textbook, StepLabels, _zeros, correlate_valid, dilate,
                                     insert_zeros, zero_pad)

    label = StepLabels(layout)
    n_count, c_count, h, w = x.shape
    _, fg, kh, kw = spec.weight.shape
    f_count = delta_out.shape[1]
    cg = c_count // spec.groups
    (sh, sw), (ph, pw), (oh, ow), (dh, dw) = (spec.stride, spec.padding, spec.output_padding,
                                              spec.dilation)
    kh_eff, kw_eff = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    sides = (kh_eff - 1 - ph, kh_eff - 1 - ph + oh, kw_eff - 1 - pw, kw_eff - 1 - pw + ow)
    like = delta_out if delta_out.dtype == object else np.empty(0, np.result_type(delta_out, x))
    steps: list[Step] = []
    used = spec.weight[:, :, ::-1, ::-1] if spec.unflipped else spec.weight
    dilated = {}
    for c in range(c_count):
        for fl in range(fg):
            kernel = used[c, fl]
            tag = label(c=(c, c_count), f=(fl, fg))
            if (dh, dw) != (1, 1):
                kernel = dilate(kernel, (dh, dw))
                steps.append((f"kernel dilated{tag}: {dh - 1}×{dw - 1} zeros between taps",
                              kernel))
            dilated[c, fl] = kernel
            steps.append((f"kernel rotated 180°{tag} (the transposed conv slides it flipped)",
                          kernel[::-1, ::-1]))
    delta_in = _zeros(x.shape, like)
    grad = _zeros(spec.weight.shape, like)
    where = ", ".join(f"{abs(amount)} {side}" + (" cropped" if amount < 0 else "")
                      for amount, side in zip(sides, ("top", "bottom", "left", "right")))
    for n in range(n_count):
        for c in range(c_count):
            tag = label(n, c=(c, c_count))
            z = x[n, c]
            if (sh, sw) != (1, 1):
                z = insert_zeros(z, (sh, sw))
                steps.append((f"input{tag} with zeros inserted: {sh - 1} between rows, "
                              f"{sw - 1} between columns", z))
            z = _place(z, *sides)
            steps.append((f"Z{tag}: that padded by d·(k−1)−p (+output_padding): {where}", z))
            group = c // cg
            for fl in range(fg):
                f = group * fg + fl
                ftag = label(n, c=(c, c_count), f=(f, f_count))
                part = correlate_valid(z, dilated[c, fl][::-1, ::-1])
                steps.append((f"Z{tag} ⋆ rotated kernel: output channel {f}'s part (no bias)",
                              part))
                # backward, same picture: dE/dZ = full correlation of δ with the kernel
                full = correlate_valid(zero_pad(delta_out[n, f], kh_eff - 1, kh_eff - 1,
                                                kw_eff - 1, kw_eff - 1), dilated[c, fl])
                steps.append((f"dE/dZ{ftag}: δ padded by d·(k−1), ⋆ the kernel (not rotated)",
                              full))
                inserted = _unplace(full, sides, ((h - 1) * sh + 1, (w - 1) * sw + 1), like)
                delta_in[n, c] = delta_in[n, c] + inserted[::sh, ::sw]
                corr = correlate_valid(z, delta_out[n, f])[::-1, ::-1]
                grad[c, fl] = grad[c, fl] + corr[::dh, ::dw]
                steps.append((f"dE/dw{ftag} = (Z ⋆ δ) rotated 180°"
                              + (f", {every_text((dh, dw))} (dilation)"
                                 if (dh, dw) != (1, 1) else ""), corr[::dh, ::dw]))
            summed = ", summed over the output channels" if fg > 1 else ""
            steps.append((f"δ_in{tag}: dE/dZ where the input's cells sit "
                          f"({every_text((sh, sw))}){summed}", delta_in[n, c]))
    if n_count > 1:
        for c in range(c_count):
            for fl in range(fg):
                tag = label(c=(c, c_count), f=(c // cg * fg + fl, f_count))
                steps.append((f"dE/dw{tag}: summed over the batch", grad[c, fl]))
    if spec.unflipped:
        grad = grad[:, :, ::-1, ::-1]
    grads = {"kernel": _to_given(grad, spec.kernel_form, spec.channels_last, spec.kernel.shape)}
    return Textbook(steps=steps, delta_in=delta_in, grads=grads)


def _unplace(full: np.ndarray, sides, shape, like) -> np.ndarray:
    """Undo :func:`_place`: the gradient of the padded/cropped matrix → the matrix's own
    (cropped cells get nothing)."""
    from cnngrad.teach.steps import _zeros

    top, bottom, left, right = sides
    out = _zeros(shape, like)
    rows, cols = shape
    # full covers rows max(top,0)… of the padded-then-cropped matrix
    r0, c0 = max(-top, 0), max(-left, 0)
    r1, c1 = rows - max(-bottom, 0), cols - max(-right, 0)
    out[r0:r1, c0:c1] = full[max(top, 0):max(top, 0) + r1 - r0,
                             max(left, 0):max(left, 0) + c1 - c0]
    return out


# -------------------------------------------------------------------- common slips (cnngrad check)


def _unflip(spec):
    return dataclasses.replace(spec, unflipped=True) \
        if isinstance(spec, ConvTranspose2dSpec) else None


def _forward_unflipped(ctx: SlipContext) -> Trace | None:
    from cnngrad.teach.diagnose import rerun_problem

    layers = [_unflip(spec) or spec for spec in ctx.problem.layers]
    if not any(isinstance(spec, ConvTranspose2dSpec) for spec in layers):
        return None
    return rerun_problem(ctx.trace, layers=layers)


# --------------------------------------------------------------------------- the family


class ConvTranspose2d(LayerFamily):
    type = "conv_transpose2d"
    since = "1.1"  # contract v1.1
    weighted = True  # sums input × weight products, plus a bias
    kernel_spatial_first = True  # HWIO, k×I×O under "nhwc"
    other_names = ("convtranspose2d", "conv2dtranspose", "deconv2d", "deconv", "deconvolution",
                   "transposedconv2d")
    spatial = 2
    fields = ("kernel", "bias", "stride", "padding", "output_padding", "dilation", "groups")
    required = ("kernel",)
    param_labels = {"kernel": "dE/dw (kernel gradient)", "bias": "dE/db (bias gradient)"}
    param_axes = {"kernel": "cf", "bias": "nc"}
    cast_fields = ("weight", "bias")

    def build(self, ctx, raw, head):
        return build_conv_transpose2d(ctx, raw, head)

    def work(self, spec):
        ins, cells = shape_size(spec.in_shape), shape_size(spec.weight.shape[1:])
        return 3 * ins * cells, f"{ins:,} inputs × {cells:,} kernel cells"

    def steps_cells(self, spec):
        # the input with zeros inserted and padded for the convolution, and the delta
        n, c, h, w = spec.in_shape
        f, ho, wo = spec.out_shape[1:]
        kh, kw = spec.weight.shape[2:]
        (sh, sw), (dh, dw) = spec.stride, spec.dilation
        rows = (h - 1) * sh + 1 + 2 * dh * (kh - 1) + spec.output_padding[0]
        cols = (w - 1) * sw + 1 + 2 * dw * (kw - 1) + spec.output_padding[1]
        return n * max(c, f) * (rows * cols + ho * wo)

    def schema_fields(self, ref):
        return schema_fields(ref)

    def summed_terms(self, spec):  # at most: every tap of every channel of its group
        return spec.weight.shape[0] // spec.groups * spec.weight[0, 0].size + \
            (spec.bias is not None)

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

    def param_grid_axes(self, spec, key):
        # a 3-D kernel is C_in×k1×k2 (one channel out: its grids are the input channels)
        # or F×k1×k2 (one in: the output channels)
        if key == "kernel" and spec.kernel_form == "in":
            return "c"
        return super().param_grid_axes(spec, key)

    def param_grid(self, spec, key, array):
        """A kernel as given → grids per (input channel, output channel) in the tables: under
        nhwc k1×k2×C → C×k1×k2 and k1×k2×(F/groups)×C_in → C_in×(F/groups)×k1×k2."""
        if not spec.channels_last or key != "kernel" or array.ndim < 3:
            return array
        if array.ndim == 3:
            return np.moveaxis(array, -1, 0)
        return np.transpose(array, (3, 2, 0, 1))

    def settings(self, spec):
        c_in, fg, kh, kw = spec.weight.shape
        out = [("kernel", f"{kh}×{kw}"), ("channels", f"{c_in} in, {fg * spec.groups} out"),
               ("stride", pair_text(spec.stride))]
        if any(spec.padding):
            out.append(("padding", pair_text(spec.padding)))
        if any(spec.output_padding):
            out.append(("output padding", pair_text(spec.output_padding)))
        if spec.dilation != (1, 1):
            out.append(("dilation", pair_text(spec.dilation)))
        if spec.groups != 1:
            out.append(("groups", str(spec.groups)))
        return out

    def convention(self, spec):
        cropped = ", then the padding cropped from each side" if any(spec.padding) else ""
        return ("each input cell adds the kernel as given, times its value, into the output, "
                f"windows a stride apart{cropped} (torch's conv_transpose2d)")

    def given_axes(self, spec, key, rank, channels_last=False):
        if channels_last:  # TensorFlow's k1×k2×(F/groups)×C_in: output channels down
            return kernel_axes(spec, key, rank, 2, True,
                               across=("output channels", "input channels"))
        if key != "kernel" or rank <= 2:
            return ""
        # torch's C_in×(F/groups)×k1×k2: the input channel first
        group = " of its group" if spec.groups > 1 else ""
        if rank == 4:
            return f"[c,f] is what input channel c adds into output channel f{group}"
        return ("[f] is what the input adds into output channel f" if spec.weight.shape[0] == 1
                else "[c] is what input channel c adds into the output")

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_conv_transpose(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_conv_transpose(ex, path, layer, index)
        return grad_conv_transpose(ex, path, layer)

    def textbook(self, layer, layout):
        return conv_transpose_textbook(layer.spec, layer.input, layer.delta_out, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, slip_in_trace, replace_backward

        return [
            (13, Slip("transposed_kernel_not_flipped",
                      "matches the transposed conv's backward pass with the kernel rotated "
                      "180° (δ correlated with the flipped kernel)",
                      slip_in_trace("transposed_kernel_not_flipped",
                                    replace_backward(self.type, _unflip,
                                                     input_delta_only=True)))),
            (14, Slip("transposed_forward_not_flipped",
                      "matches the transposed conv as a convolution over the zero-inserted "
                      "input with the kernel not flipped",
                      slip_in_trace("transposed_forward_not_flipped", _forward_unflipped))),
        ]


CONV_TRANSPOSE2D = ConvTranspose2d()
