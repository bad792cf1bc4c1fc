"""batchnorm2d and batchnorm1d: batch normalisation per channel (per feature), everything
cnngrad knows about them.  The numbers come from :mod:`cnngrad.layers.batchnorm`.

``batchnorm2d`` normalises each channel of a feature map over N, H, W (over N, L for a 1-D
map); ``batchnorm1d`` each feature of a vector over the batch N.  ``"train"`` uses the batch's
mean and biased variance (torch's training mode), ``"eval"`` the running statistics the
problem gives.  γ and β always have a gradient, given or not (default all 1 and all 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TYPE_CHECKING

import numpy as np

from cnngrad.errors import ProblemError, ShapeError, UsageError
from cnngrad.families.base import Head, LayerFamily
from cnngrad.layers import batchnorm
from cnngrad.problem import LayerSpec, shape_text

if TYPE_CHECKING:  # annotations only
    from cnngrad.network import LayerTrace, Trace
    from cnngrad.teach.diagnose import SlipContext
    from cnngrad.teach.explain import Explanation, TensorPath

VECTOR_FIELDS = ("gamma", "beta", "running_mean", "running_var")
DEFAULT_EPS = 1e-5


# ---------------------------------------------------------------------------------------- the spec


@dataclass
class BatchNormSpec(LayerSpec):
    gamma: np.ndarray = None  # (C,), all 1 when not given
    beta: np.ndarray = None  # (C,), all 0 when not given
    eps: float = DEFAULT_EPS
    mode: str = "train"
    running_mean: np.ndarray | None = None  # (C,), "eval" only
    running_var: np.ndarray | None = None  # (C,), "eval" only
    file: str | None = None  # for an error found while running (a constant channel, ε = 0)
    #: a common slip re-enacted by ``check`` ("unbiased"); never set from a problem file
    slip: str | None = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"gamma": self.gamma, "beta": self.beta}


# ------------------------------------------------------------------------------- reading a problem


def _vector(ctx, raw: dict, key: str, head: Head, channels: int, what: str) -> np.ndarray:
    at = head.at(key)
    value = ctx.tensor(raw[key], at)
    if value.shape != (channels,):
        got = "a number" if value.ndim == 0 else f"shape {shape_text(value.shape)}"
        raise ctx.error(at, f"expected a vector of {channels} (one per {what}), got {got}",
                        cls=ShapeError)
    return value


def _map_input_hint(head: Head) -> str | None:
    """For batchnorm1d reading a 2-D problem's input written as a matrix, N×K meant as N
    vectors: that input is one H×W map, and batchnorm2d would normalise it as one channel
    (another computation); how to write the N vectors instead.  None for any other map."""
    matrix = head.input_as_one_map()
    if matrix is None:
        return None
    rows, cols = matrix
    if rows == 1:  # one vector: train mode needs a batch, eval mode its running statistics
        return (f"a 2-D input is one 1×{cols} map, not a vector: give one vector of {cols} "
                f"as a list of {cols} numbers, with \"mode\": \"eval\" and its running_mean "
                f"and running_var (\"train\" needs a batch of N ≥ 2 vectors, N×1×1×{cols} "
                f"and a flatten before the batchnorm1d)")
    return (f"a 2-D input is one {rows}×{cols} map, not {rows} vectors: write {rows} vectors "
            f"of {cols} as {rows}×1×1×{cols} and put {{\"type\": \"flatten\"}} before the "
            f"batchnorm1d (batchnorm2d would normalise the map's {rows * cols} numbers as one "
            f"channel)")


def build_batchnorm(ctx, raw: dict, head: Head, vectors: bool) -> BatchNormSpec:
    kind, where, shape, layout = head.kind, head.where, head.in_shape, head.layout
    what = "feature" if vectors else "channel"
    if vectors and len(shape) != 2:
        raise ctx.error(where, f"batchnorm1d normalises vectors (K or N×K), but its input is "
                               f"a feature map of {shape_text(layout.display_shape(shape))}",
                        _map_input_hint(head) or "use batchnorm2d for feature maps (1-D maps "
                                                 "too)", cls=ShapeError)
    if not vectors and len(shape) == 2:
        raise ctx.error(where, f"batchnorm2d needs a feature map, but its input is a vector "
                               f"of {shape[1]}", "use batchnorm1d for vectors, or put it "
                                                 "before the flatten layer", cls=ShapeError)
    channels = shape[1]
    mode = ctx.choice(raw.get("mode", "train"), head.at("mode"), batchnorm.MODES, "mode")
    eps = DEFAULT_EPS
    if "eps" in raw:
        eps = float(ctx.number(raw["eps"], head.at("eps")))
        if not eps >= 0:
            raise ctx.error(head.at("eps"), f"eps must be ≥ 0 (it is added to the variance "
                                            f"under the square root), got {eps:g}")
    given = {key: _vector(ctx, raw, key, head, channels, what)
             for key in VECTOR_FIELDS if key in raw}
    if mode == "train":
        for key in ("running_mean", "running_var"):
            if key in given:
                raise ctx.error(head.at(key), f"{key} is used only with \"mode\": \"eval\"",
                                "\"train\" (the default) normalises with the batch's own mean "
                                "and variance; set \"mode\": \"eval\" to use running statistics")
        per_channel = int(np.prod(shape)) // channels
        if per_channel < 2:
            shown = shape_text(layout.display_shape(shape))
            need = ("a batch of N ≥ 2 (N vectors of K are an input N×1×1×K, then a "
                    "flatten layer)" if vectors else
                    "a batch or a map with more than one value per channel")
            raise ctx.error(where, f"{kind} in \"train\" mode has a single value per {what} "
                                   f"(its input is {shown}): the batch mean and variance need "
                                   f"{need}",
                            "use \"mode\": \"eval\" with running_mean and running_var")
    else:
        missing = [key for key in ("running_mean", "running_var") if key not in given]
        if missing:
            raise ctx.error(where, f"\"mode\": \"eval\" needs {' and '.join(missing)} "
                                   f"(vectors of {channels}, one per {what})",
                            "or use \"mode\": \"train\" to normalise with the batch's own "
                            "statistics")
        variance = given["running_var"]
        for c in range(channels):
            value = float(variance[c])
            if value < 0:
                raise ctx.cell_error(raw["running_var"], head.at("running_var"), (c,),
                                     f"a variance cannot be negative, got {value:g}")
            if value + eps <= 0:
                raise ctx.cell_error(raw["running_var"], head.at("running_var"), (c,),
                                     "running_var 0 with eps 0 divides by zero",
                                     "give eps > 0 (torch's default is 1e-5)")
    ones = np.ones(channels, dtype=object if ctx.exact else np.float64)
    gamma = given.get("gamma", ones)
    beta = given.get("beta", ones * 0)
    return BatchNormSpec(**head.spec_fields(), out_shape=shape, gamma=gamma, beta=beta,
                         eps=eps, mode=mode, running_mean=given.get("running_mean"),
                         running_var=given.get("running_var"), file=ctx.file)


# ---------------------------------------------------------------------------------------- the step


def _stats_args(spec: BatchNormSpec) -> dict:
    return dict(eps=spec.eps, mode=spec.mode, running_mean=spec.running_mean,
                running_var=spec.running_var)


def _check_constant_channels(spec: BatchNormSpec, x: np.ndarray) -> None:
    """With ε = 0 a channel whose values are all equal has σ² + ε = 0: say so, where."""
    if spec.eps > 0 or spec.mode != "train":
        return
    axes = (0,) + tuple(range(2, x.ndim))
    values = np.asarray(x, dtype=np.float64)
    flat = values.max(axis=axes) == values.min(axis=axes)
    if flat.any():
        channel = int(np.argmax(flat))
        raise ProblemError(f"{_unit(x)} {channel} of {spec.name}'s input is constant over the "
                           f"batch, so its variance is 0 and eps 0 divides by zero",
                           where=spec.where or spec.name, file=spec.file,
                           hint="give eps > 0 (torch's default is 1e-5)")


def _check_variance_finite(spec: BatchNormSpec, x: np.ndarray) -> None:
    """A batch variance that overflows the run's float dtype (its sum of M squared
    deviations: values near 1e154/√M and beyond in float64, 1.8e19/√M in float32) would turn
    x̂ into 0 and the report into quiet nonsense: say so, where (as an overflowing result)."""
    if spec.mode != "train":
        return
    given = np.asarray(x).dtype  # object (exact) and float64 runs: float64's range
    dtype = given if given in (np.float32, np.float16) else np.dtype(np.float64)
    values = np.asarray(x, dtype=np.float64)
    largest = float(np.finfo(dtype).max)
    axes = (0,) + tuple(range(2, values.ndim))
    cells = values.size // max(values.shape[1], 1)  # the M squares a channel's variance sums
    # a deviation is at most 2·max|x|: M of their squares far below the dtype's largest
    if not values.size or (2 * np.abs(values).max()) ** 2 * cells < largest / 4:
        return
    # the squares of the deviations summed as the run's kernel sums them, in its dtype
    with np.errstate(over="ignore", invalid="ignore"):
        deviations = values - values.mean(axis=axes, keepdims=True)
        squares = np.square(deviations).astype(dtype)
        var = squares.sum(axis=axes, dtype=dtype)
    if not np.isfinite(var).all():
        channel = int(np.argmin(np.isfinite(var)))
        raise ProblemError(f"the batch variance of {_unit(x)} {channel} of {spec.name}'s "
                           f"input overflows to infinity",
                           where=spec.where or spec.name, file=spec.file,
                           hint=f"{dtype.name} overflows beyond about {largest:.1e}: scale the "
                                f"numbers down"
                                + (" or drop --dtype float32" if dtype != np.float64 else ""))


def statistics(spec: BatchNormSpec, x: np.ndarray, ddof: int = 0):
    """(μ, σ², 1/√(σ² + ε), x̂) per channel of the internal input x (N, C, ...), float64;
    ``ddof=1`` for the unbiased variance (a slip)."""
    x = np.asarray(x, dtype=np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if spec.mode == "train":
        mean = x.mean(axis=axes)
        centred = x - mean.reshape(shape)
        count = x.size // x.shape[1]
        var = (centred * centred).sum(axis=axes) / (count - ddof)
    else:
        mean = np.asarray(spec.running_mean, dtype=np.float64)
        var = np.asarray(spec.running_var, dtype=np.float64)
        centred = x - mean.reshape(shape)
    inv_std = 1 / np.sqrt(var + spec.eps)
    return mean, var, inv_std, centred * inv_std.reshape(shape)


def _general_forward(spec: BatchNormSpec, x: np.ndarray, ddof: int) -> np.ndarray:
    _, _, _, x_hat = statistics(spec, x, ddof)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    gamma = np.asarray(spec.gamma, dtype=np.float64).reshape(shape)
    beta = np.asarray(spec.beta, dtype=np.float64).reshape(shape)
    return (gamma * x_hat + beta).astype(_dtype(x))


def general_backward(spec: BatchNormSpec, x: np.ndarray, delta: np.ndarray, ddof: int = 0,
                     through_stats: bool = True, averaged: bool = True,
                     through_mean: bool = True):
    """(δ_in, {gamma, beta}) with the variance over M − ddof values, with or without the
    paths through μ and σ² (or through μ alone), and with the sums of those paths averaged
    or not (slips re-enacted by ``check``; ddof 0 with both paths, averaged, is the
    engine's answer): dx = γ/√(σ² + ε)·(δ − Σδ/M − x̂·Σ(δ·x̂)/(M − ddof))."""
    _, _, inv_std, x_hat = statistics(spec, x, ddof)
    delta = np.asarray(delta, dtype=np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    sum_delta = delta.sum(axis=axes)
    sum_delta_x_hat = (delta * x_hat).sum(axis=axes)
    scale = (np.asarray(spec.gamma, dtype=np.float64) * inv_std).reshape(shape)
    if spec.mode == "train" and through_stats:
        # the slip of not averaging: the sums taken whole, as if M were 1
        mean_count, var_count = (count, count - ddof) if averaged else (1, 1)
        mean_path = sum_delta.reshape(shape) / mean_count if through_mean else 0.0
        delta_in = scale * (delta - mean_path
                            - x_hat * sum_delta_x_hat.reshape(shape) / var_count)
    else:
        delta_in = scale * delta
    dtype = _dtype(x)
    return delta_in.astype(dtype), {"gamma": sum_delta_x_hat.astype(dtype),
                                    "beta": sum_delta.astype(dtype)}


def _dtype(x: np.ndarray):
    return x.dtype if x.dtype.kind == "f" else np.float64


def _forward(spec: BatchNormSpec, x: np.ndarray) -> np.ndarray:
    _check_constant_channels(spec, x)
    _check_variance_finite(spec, x)
    if spec.slip == "unbiased":
        return _general_forward(spec, x, ddof=1)
    return batchnorm.batchnorm_forward(x, spec.gamma, spec.beta, **_stats_args(spec))


def _backward(spec: BatchNormSpec, x: np.ndarray, delta_out: np.ndarray):
    if spec.slip == "unbiased":
        return general_backward(spec, x, delta_out, ddof=1)
    delta_in, dgamma, dbeta = batchnorm.batchnorm_backward(x, spec.gamma, delta_out,
                                                           **_stats_args(spec))
    return delta_in, {"gamma": dgamma, "beta": dbeta}


# ------------------------------------------------------------- explanation rules (cnngrad explain)


def _over(layer: LayerTrace) -> str:
    return {2: "N", 3: "N, L", 4: "N, H, W"}[layer.input.ndim]


def _unit(x: np.ndarray) -> str:
    """What one normalised group is called: a feature of a vector, a channel of a map."""
    return "feature" if np.ndim(x) == 2 else "channel"


def _stat_notes(ex, layer: LayerTrace, c: int) -> list[str]:
    from cnngrad.teach.explain import short

    spec: BatchNormSpec = layer.spec
    mean, var, _, _ = statistics(spec, layer.input)
    ch = ex.ix(c)
    count = layer.input.size // layer.input.shape[1]
    if spec.mode == "train":
        return [f"μ{ch} = {short(mean[c])}: the mean of the {count} values of {_unit(layer.input)} "
                f"{c + ex.base} over {_over(layer)} (M = {count}).",
                f"σ²{ch} = {short(var[c])}: their biased variance, Σ (o - μ)² / M "
                f"(divided by M = {count}, not M - 1), as torch in training mode.",
                f"ε = {spec.eps:g}."]
    return [f"μ{ch} = {short(mean[c])} and σ²{ch} = {short(var[c])} are the running "
            f"statistics the problem gives (\"mode\": \"eval\"): constants.",
            f"ε = {spec.eps:g}."]


def _symbols(ex, layer: LayerTrace) -> dict[str, str]:
    unit = _unit(layer.input)
    return ex.layer_symbols(layer, γ=f"{layer.name}'s gamma (scale)",
                            β=f"{layer.name}'s beta (shift)",
                            μ=f"the {unit}'s mean", **{"σ²": f"the {unit}'s variance",
                                                       "x̂": "(o - μ)/√(σ² + ε)"})


def _x_hat_factor(ex, layer: LayerTrace, index, values) -> Any:
    from cnngrad.teach.explain import Factor, operand, short

    mean, var, inv_std, x_hat = values
    c = index[1]
    o = ex.map_named("o", layer.input.shape)(*index)
    ch = ex.ix(c)
    return Factor(f"x̂{ex.map_named('', layer.input.shape).index_text(index)}",
                  float(x_hat[index]),
                  detail=f"({o} - μ{ch})/√(σ²{ch} + ε) = ({short(float(layer.input[index]))}"
                         f" - {operand(mean[c])})/√({short(var[c])} + {layer.spec.eps:g})")


def output_batchnorm(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor

    spec: BatchNormSpec = layer.spec
    c = index[1]
    values = statistics(spec, layer.input)
    x = ex.map_named("x", layer.output.shape)(*index)
    ch = ex.ix(c)
    terms = [ex.term(Factor(f"γ{ch}", float(spec.gamma[c])), _x_hat_factor(ex, layer, index,
                                                                              values)),
             ex.term(Factor(f"β{ch}", float(spec.beta[c])))]
    return ex.finish(path, title=f"{x}: batch norm of {_unit(layer.input)} {c + ex.base}", lhs=x,
                     rhs=f"γ{ch}·x̂ + β{ch}", terms=terms, symbols=_symbols(ex, layer),
                     notes=_stat_notes(ex, layer, c))


def delta_in_batchnorm(ex, path: TensorPath, layer: LayerTrace, index) -> Explanation:
    from cnngrad.teach.explain import Factor, operand, short

    spec: BatchNormSpec = layer.spec
    c = index[1]
    mean, var, inv_std, x_hat = statistics(spec, layer.input)
    delta = np.asarray(layer.delta_out, dtype=np.float64)
    o = ex.map_named("o", layer.input.shape)(*index)
    d = ex.map_named("δ", layer.output.shape)(*index)
    ch = ex.ix(c)
    gamma = float(spec.gamma[c])
    lhs = f"dE/d{o}"
    scale = Factor(f"1/√(σ²{ch} + ε)", float(inv_std[c]),
                   detail=f"1/√({short(var[c])} + {spec.eps:g})")
    d_x_hat = Factor(f"dE/dx̂ = γ{ch}·{d}", gamma * float(delta[index]),
                     detail=f"{short(gamma)}·{operand(float(delta[index]))}",
                     zero_reason="δ = 0" if float(delta[index]) == 0 else "γ = 0")
    notes = _stat_notes(ex, layer, c)
    if spec.mode != "train":
        return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o}",
                         lhs=lhs, rhs=f"γ{ch}·{d}/√(σ²{ch} + ε)", terms=[ex.term(d_x_hat, scale)],
                         symbols=_symbols(ex, layer),
                         notes=notes + ["In eval mode μ and σ² are constants: only the direct "
                                        "path through x̂, one term."])
    count = layer.input.size // layer.input.shape[1]  # the channel's cells
    g = gamma * delta[(slice(None), c)]  # dE/dx̂ of the channel's cells
    centred = layer.input.astype(np.float64)[(slice(None), c)] - mean[c]
    sum_g_centred, sum_g = float((g * centred).sum()), float(g.sum())
    d_var = sum_g_centred * -0.5 * float(inv_std[c]) ** 3
    d_mean = -sum_g * float(inv_std[c])
    shifted = f"{short(var[c])} + {spec.eps:g}"
    centred_here = float(layer.input[index]) - float(mean[c])
    terms = [
        ex.term(d_x_hat, scale, note="directly, through x̂"),
        ex.term(Factor(f"dE/dσ²{ch}", d_var,
                       detail=f"-½·{operand(sum_g_centred)}·({shifted})^(-3/2)"),
                Factor(f"2({o} - μ{ch})/{count}", 2 * centred_here / count,
                       detail=f"2·{operand(centred_here)}/{count}"),
                note="through σ²"),
        ex.term(Factor(f"dE/dμ{ch}", d_mean, detail=f"-{operand(sum_g)}/√({shifted})"),
                Factor(f"1/{count}", 1 / count), note="through μ"),
    ]
    return ex.finish(path, title=f"{lhs}: the input delta of {layer.name} at {o}", lhs=lhs,
                     rhs=(f"dE/dx̂/√(σ²{ch} + ε) + dE/dσ²{ch}·2({o} - μ{ch})/M + "
                          f"dE/dμ{ch}/M"),
                     terms=terms, symbols=_symbols(ex, layer),
                     notes=notes + [f"o reaches E three ways: through its own x̂, through the "
                                    f"variance σ²{ch} and through the mean μ{ch} of its "
                                    f"{_unit(layer.input)} "
                                    f"(M = {count} values, {count} cells summed in dE/dσ² "
                                    f"and dE/dμ); together γ/√(σ² + ε)·(δ - Σδ/M - "
                                    f"x̂·Σ(δ·x̂)/M).",
                                    f"dE/dσ²{ch} = Σ dE/dx̂·(o - μ{ch})·(-½)(σ²{ch} + ε)^(-3/2) "
                                    f"and dE/dμ{ch} = -Σ dE/dx̂/√(σ²{ch} + ε), both summed over "
                                    f"the {_unit(layer.input)}'s values, with dE/dx̂ = γ·δ: "
                                    f"Σ dE/dx̂·(o - μ{ch}) = {short(sum_g_centred)} and "
                                    f"Σ dE/dx̂ = {short(sum_g)}, the two sums in the terms "
                                    f"below."])


def grad_batchnorm(ex, path: TensorPath, layer: LayerTrace) -> Explanation:
    from cnngrad.teach.explain import Column, Factor, Term, TermColumns

    spec: BatchNormSpec = layer.spec
    (c,) = path.index
    ch = ex.ix(c)
    values = statistics(spec, layer.input)
    delta = ex.map_named("δ", layer.output.shape)
    # the channel's cells (n, c, ...) in row-major order: a term per cell, built when shown
    cell_shape = (layer.input.shape[0],) + layer.input.shape[2:]
    deltas = np.asarray(layer.delta_out[:, c], dtype=np.float64).reshape(-1)

    def cell(position: int) -> tuple[int, ...]:
        n, *rest = (int(v) for v in np.unravel_index(position, cell_shape))
        return (n, c, *rest)

    def delta_factor(index: tuple[int, ...]) -> Factor:
        return Factor(delta(*index), float(layer.delta_out[index]))

    if path.param == "gamma":
        def build(position: int) -> Term:
            index = cell(position)
            return ex.term(delta_factor(index), _x_hat_factor(ex, layer, index, values))

        x_hat = values[3][:, c].reshape(-1)
        columns = [Column("δ", deltas), Column("x̂", x_hat)]
        lhs, rhs, why = f"dE/dγ{ch}", "Σ δ·x̂", f"γ{ch} multiplies x̂ in every cell of its {_unit(layer.input)}"
    elif path.param == "beta":
        def build(position: int) -> Term:
            return ex.term(delta_factor(cell(position)))

        columns = [Column("δ", deltas)]
        lhs, rhs, why = f"dE/dβ{ch}", "Σ δ", f"β{ch} is added to every cell of its {_unit(layer.input)}"
    else:
        raise UsageError(f"{layer.name} has no parameter {path.param!r}", where="PATH")
    return ex.finish(path, title=f"{lhs}: the gradient of {layer.name}'s {path.param}",
                     lhs=lhs, rhs=rhs, terms=TermColumns(columns, build),
                     symbols=_symbols(ex, layer),
                     notes=[f"{why}: the sum runs over its {len(deltas)} values "
                            f"({_over(layer)})."] + _stat_notes(ex, layer, c))


# ------------------------------------------------------------------- textbook steps (--show-steps)


def batchnorm_textbook(layer: LayerTrace, layout):
    """Batch norm's backward pass the textbook way: μ, σ², x̂, the sums, then δ_in."""
    from cnngrad.teach.steps import Textbook

    spec: BatchNormSpec = layer.spec
    x = layer.input
    mean, var, inv_std, x_hat = statistics(spec, x)
    delta = np.asarray(layer.delta_out, dtype=np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    count = x.size // x.shape[1]
    shown = (lambda a: layout.to_display(a)) if layout is not None else (lambda a: a)
    sum_delta = delta.sum(axis=axes)
    sum_delta_x_hat = (delta * x_hat).sum(axis=axes)
    scale = np.asarray(spec.gamma, dtype=np.float64) * inv_std
    over, unit = {2: "N", 3: "N, L", 4: "N, H, W"}[x.ndim], _unit(x)
    if spec.mode == "train":
        steps = [(f"μ: the mean of each {unit} over {over} (M = {count})", mean),
                 (f"σ²: the biased variance of each {unit}, Σ (o - μ)²/M", var)]
    else:
        steps = [("μ: running_mean (eval mode, a constant)", mean),
                 ("σ²: running_var (eval mode, a constant)", var)]
    steps.append(("x̂ = (o - μ)/√(σ² + ε)", shown(x_hat)))
    steps.append((f"dE/dβ = Σ δ per {unit}", sum_delta))
    steps.append((f"dE/dγ = Σ δ·x̂ per {unit}", sum_delta_x_hat))
    if spec.mode == "train":
        delta_in = scale.reshape(shape) * (delta - sum_delta.reshape(shape) / count
                                           - x_hat * sum_delta_x_hat.reshape(shape) / count)
        steps.append(("δ_in = γ/√(σ² + ε)·(δ - Σδ/M - x̂·Σ(δ·x̂)/M)", shown(delta_in)))
    else:
        delta_in = scale.reshape(shape) * delta
        steps.append(("δ_in = γ/√(σ² + ε)·δ (μ and σ² are constants)", shown(delta_in)))
    return Textbook(steps=steps, delta_in=delta_in,
                    grads={"gamma": sum_delta_x_hat, "beta": sum_delta})


# -------------------------------------------------------------------- common slips (cnngrad check)


def _train_layers(trace: Trace) -> list:
    return [layer for layer in trace.layers
            if isinstance(layer.spec, BatchNormSpec) and layer.spec.mode == "train"]


def _unbiased_rerun(ctx: SlipContext):
    from cnngrad.teach.diagnose import rerun_problem

    if not _train_layers(ctx.trace) or ctx.problem.exact:
        return None
    layers = [dataclasses.replace(spec, slip="unbiased")
              if isinstance(spec, BatchNormSpec) and spec.mode == "train" else spec
              for spec in ctx.problem.layers]
    return rerun_problem(ctx.trace, layers=layers)


def _is_train_batchnorm(layer) -> bool:
    return isinstance(layer.spec, BatchNormSpec) and layer.spec.mode == "train"


def _without_stat_paths(spec, x, y, delta):
    return general_backward(spec, x, delta, through_stats=False)


def _sums_not_averaged(spec, x, y, delta):
    return general_backward(spec, x, delta, averaged=False)


def _without_mean_path(spec, x, y, delta):
    return general_backward(spec, x, delta, through_mean=False)


def _is_batchnorm(layer) -> bool:
    return isinstance(layer.spec, BatchNormSpec)


def _parameters_averaged(spec, x, y, delta):
    """γ's and β's gradients divided by M, the values of a channel: np.mean for the sums
    (their δ·x̂ and δ summed over N, H and W); the input delta as it is."""
    delta_in, grads = general_backward(spec, x, delta)
    count = x.size // x.shape[1]
    return delta_in, {key: value / count for key, value in grads.items()}


# --------------------------------------------------------------------------- the families


def _amplification(spec: BatchNormSpec, x: np.ndarray, size: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, shaped to broadcast over ``x``: |γ|/√(σ² + ε), what x − μ is multiplied
    by, and the size of μ (the channel's mean of ``size`` in train mode, |running_mean| in
    eval mode)."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    axes = tuple(axis for axis in range(x.ndim) if axis != 1)
    if spec.mode == "train":
        var, centre = x.var(axis=axes), np.broadcast_to(size, x.shape).mean(axis=axes)
    else:
        var = np.asarray(spec.running_var, dtype=np.float64)
        centre = np.abs(np.asarray(spec.running_mean, dtype=np.float64))
    with np.errstate(all="ignore"):
        scale = 1 / np.sqrt(var + float(spec.eps))
    if spec.gamma is not None:
        scale = scale * np.abs(np.asarray(spec.gamma, dtype=np.float64))
    return scale.reshape(shape), centre.reshape(shape)


class _BatchNorm(LayerFamily):
    fields = ("gamma", "beta", "eps", "mode", "running_mean", "running_var")
    rational = False  # a square root
    since = "1.1"  # contract v1.1
    endless_decimals = "the batch norm's square root"  # √(σ² + ε)
    normalises_channels = True  # training mode takes each channel's batch mean away
    param_labels = {"gamma": "dE/dγ (gamma gradient)", "beta": "dE/dβ (beta gradient)"}
    param_axes = {"gamma": "nc", "beta": "nc"}
    cast_fields = ("gamma", "beta", "running_mean", "running_var")
    vectors = False

    def build(self, ctx, raw, head):
        return build_batchnorm(ctx, raw, head, self.vectors)

    def given_tensors(self, spec):
        # eps too: a float32 run that rounds a written 1e-50 to 0 divides by zero
        return {**{key: getattr(spec, key) for key in VECTOR_FIELDS
                   if getattr(spec, key) is not None}, "eps": np.asarray(spec.eps)}

    def mixes_batch(self, spec) -> bool:
        return spec.mode == "train"  # the batch's own mean and variance

    def schema_fields(self, ref):
        per = "feature" if self.vectors else "channel"
        vector = {"anyOf": [ref("rank1"), ref("npy_file")]}
        return {
            "gamma": {**vector, "description": f"scale, one per {per} (default all 1)"},
            "beta": {**vector, "description": f"shift, one per {per} (default all 0)"},
            "eps": {**ref("non_negative_number"), "default": DEFAULT_EPS,
                    "description": "added to the variance under the square root"},
            "mode": {"enum": list(batchnorm.MODES), "default": "train",
                     "description": "train: the batch's mean and biased variance; eval: "
                                    "running_mean and running_var"},
            "running_mean": {**vector, "description": f"one per {per}; \"eval\" only"},
            "running_var": {**vector, "description": f"one per {per}; \"eval\" only"},
        }

    def schema_rules(self):
        # "eval" needs both running statistics; "train" (the default) takes neither
        return {"if": {"properties": {"mode": {"const": "eval"}}, "required": ["mode"]},
                "then": {"required": ["running_mean", "running_var"]},
                "else": {"not": {"anyOf": [{"required": ["running_mean"]},
                                           {"required": ["running_var"]}]}}}

    def forward(self, spec, inputs):
        return _forward(spec, inputs[0])

    def backward(self, spec, inputs, output, delta_out):
        delta_in, grads = _backward(spec, inputs[0], delta_out)
        return [delta_in], grads

    def magnitude(self, spec, inputs, magnitudes, output):
        """(cnngrad.kinks) y = γ·(x − μ)/√(σ² + ε) + β: the terms of x − μ (x's and, for
        the batch mean, the channel's mean of theirs) scaled by |γ|/√(σ² + ε), plus |β| and
        the output's own rounding.  Its own size alone would hide that the batch norm of a
        channel 0.1, 0.2, 0.3 is −3.4e-16 at 0.2, not 0."""
        x = np.asarray(inputs[0], dtype=np.float64)
        size = np.asarray(magnitudes[0], dtype=np.float64)
        scale, centre = _amplification(spec, x, size)
        shift = 0 if spec.beta is None else np.abs(np.asarray(spec.beta, dtype=np.float64))
        return (scale * (size + centre) + np.reshape(shift, scale.shape if np.ndim(shift) else ())
                + np.abs(np.asarray(output, dtype=np.float64)))

    def amplified_rounding(self, spec, inputs, output):
        """(gradcheck) x − μ is rounded at the size of x and μ, then multiplied by
        |γ|/√(σ² + ε): up to 316·|γ| for a channel of equal values (σ² = 0, ε = 1e-5),
        where a central difference's noise is far above what E's own size suggests."""
        x = np.asarray(inputs[0], dtype=np.float64)
        scale, centre = _amplification(spec, x, np.abs(x))
        return scale * (np.abs(x) + centre)

    def settings(self, spec):
        out = [("mode", spec.mode)]
        if spec.eps != DEFAULT_EPS:
            out.append(("eps", f"{spec.eps:g}"))
        return out

    def explain(self, ex, what, path, layer, index):
        if what == "output":
            return output_batchnorm(ex, path, layer, index)
        if what == "delta_in":
            return delta_in_batchnorm(ex, path, layer, index)
        return grad_batchnorm(ex, path, layer)

    def textbook(self, layer, layout):
        return batchnorm_textbook(layer, layout)

    def slips(self):
        from cnngrad.teach.diagnose import Slip, custom_backward, slip_in_trace

        return [
            (50, Slip("batchnorm_unbiased_variance",
                      "matches batch norm with the unbiased variance (divided by M - 1 "
                      "instead of M)",
                      slip_in_trace("batchnorm_unbiased_variance", _unbiased_rerun))),
            (51, Slip("batchnorm_without_stat_paths",
                      "matches batch norm's backward pass without the paths through μ and σ² "
                      "(only γ/√(σ² + ε)·δ)",
                      slip_in_trace("batchnorm_without_stat_paths", custom_backward(
                            _is_train_batchnorm, _without_stat_paths)))),
            # verify's no_mean_term (where Σδ is 0 in every channel it is the right answer,
            # which a wrong one never matches)
            (52, Slip("batchnorm_without_mean_path",
                      "matches batch norm's input delta without the path through the batch "
                      "mean μ (no − Σδ/M term; the path through σ² kept)",
                      slip_in_trace("batchnorm_without_mean_path", custom_backward(
                            _is_train_batchnorm, _without_mean_path)))),
            (53, Slip("batchnorm_sums_not_averaged",
                      "matches batch norm's input delta with the sums over the batch not "
                      "divided by M (Σδ for Σδ/M, Σ(δ·x̂) for Σ(δ·x̂)/M)",
                      slip_in_trace("batchnorm_sums_not_averaged", custom_backward(
                            _is_train_batchnorm, _sums_not_averaged)))),
            # ranked before the losses' own (20–25): a γ gradient ÷ M was named "MSE
            # averaged over the elements" first where M is the output's size
            (19, Slip("batchnorm_parameters_averaged",
                      "matches γ's and β's gradients averaged over a channel's M values "
                      "(np.mean) instead of summed",
                      slip_in_trace("batchnorm_parameters_averaged", custom_backward(
                            _is_batchnorm, _parameters_averaged)))),
        ]


class BatchNorm2d(_BatchNorm):
    type = "batchnorm2d"


class BatchNorm1d(_BatchNorm):
    type = "batchnorm1d"
    vectors = True


BATCHNORM2D = BatchNorm2d()
BATCHNORM1D = BatchNorm1d()
