"""An independent reference for cnngrad's ``--format json`` result, computed with PyTorch autograd.

It reads a (valid) problem file of contract v1.1 and returns the same document cnngrad prints:
``{"loss": ..., "layers": [{"name", "type", "output", "delta_out", "delta_in", "grads"}]}``,
every tensor as nested lists in the shape the contract shows. It shares no code with cnngrad:
the problem is read with ``json`` and plain numpy, every layer is a torch.nn.functional call
(max pooling's ``ties: "split"``/``"all"``, which torch lacks, route its gradient by a matrix).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MAP2D = {"conv2d", "maxpool2d", "avgpool2d", "conv_transpose2d"}
MAP1D = {"conv1d", "maxpool1d", "avgpool1d"}


def _num(value) -> float:
    if isinstance(value, str):
        return float(Fraction(value))
    return float(value)


def _tensor(value, base: Path) -> np.ndarray:
    if isinstance(value, dict):
        if "npy" in value:
            return np.load(base / value["npy"]).astype(np.float64)
        files = value["csv"]
        files = [files] if isinstance(files, str) else files
        grids = [np.loadtxt(base / f, delimiter=",", ndmin=2) for f in files]
        return grids[0] if isinstance(value["csv"], str) else np.stack(grids)
    if isinstance(value, list):
        return np.array([_tensor(v, base) for v in value], dtype=np.float64) if value else \
            np.zeros((0,))
    return np.array(_num(value), dtype=np.float64)


def _pair(value, n=2):
    if isinstance(value, int):
        return (value,) * n
    return tuple(value)


def _t(array) -> torch.Tensor:
    return torch.tensor(np.ascontiguousarray(array, dtype=np.float64), dtype=torch.float64)


def _same_pads(size, k, s, d):
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _tie_routes(x, out_shape, size, stride, pad, ties) -> np.ndarray:
    """The matrix sending each input cell's share of each max-pool window's delta, for the
    ``ties`` rules torch lacks: ``"split"`` shares it equally among a window's tied maxima,
    ``"all"`` gives each the whole of it. Padded cells are −∞, so they never win."""
    route = np.zeros((int(np.prod(out_shape)), x.size))
    index = np.arange(x.size).reshape(x.shape)
    spatial = len(size)
    for o, where in enumerate(np.ndindex(*out_shape)):
        n, c, pos = where[0], where[1], where[2:]
        ranges = []
        for axis in range(spatial):
            start = pos[axis] * stride[axis] - pad[axis]
            lo, hi = max(start, 0), min(start + size[axis], x.shape[2 + axis])
            ranges.append(slice(lo, hi))
        window = x[(n, c, *ranges)]
        cells = index[(n, c, *ranges)]
        winners = cells[window == window.max()]
        route[o, winners] = 1.0 / len(winners) if ties == "split" else 1.0
    return route


class Oracle:
    def __init__(self, doc: dict, base: Path):
        self.doc, self.base = doc, base
        self.nhwc = doc.get("layout", "nchw") == "nhwc"
        layers = doc.get("layers")
        if layers is None:  # one-conv shorthand
            layers = [{"type": "conv2d", **{k: doc[k] for k in
                                            ("kernel", "bias", "stride", "padding", "dilation",
                                             "flip_kernel") if k in doc}}]
        self.layers = layers
        kinds = [layer["type"] for layer in layers]
        first_map = next((k for k in kinds if k in MAP1D | MAP2D), None)
        self.one_d = first_map in MAP1D
        raw = _tensor(doc["input"], base)
        self.input_rank = raw.ndim
        self.spatial = 1 if self.one_d else 2
        full = self.spatial + 2
        self.batched = raw.ndim == full
        x = raw
        if self.nhwc:
            # H×W (one channel) / H×W×C / N×H×W×C (1-D: L / L×C / N×L×C)
            if raw.ndim == self.spatial:
                x = x[None, None]
            elif raw.ndim == self.spatial + 1:
                x = np.moveaxis(x, -1, 0)[None]
            else:
                x = np.moveaxis(x, -1, 1)
        else:
            x = x.reshape((1,) * (full - raw.ndim) + raw.shape)
        self.x = x

    # -- shapes as shown ------------------------------------------------------------------
    def show(self, t: torch.Tensor) -> np.ndarray:
        a = t.detach().numpy()
        if a.ndim == 2:  # vectors
            return a if self.batched else a[0]
        if self.nhwc:
            a = np.moveaxis(a, 1, -1)
            if self.batched:
                return a
            a = a[0]
            if self.input_rank == self.spatial and a.shape[-1] == 1:
                return a[..., 0]
            return a
        if self.batched:
            return a
        a = a[0]
        if self.input_rank == self.spatial and a.shape[0] == 1:
            return a[0]
        return a

    def unshow(self, given: np.ndarray, like: torch.Tensor) -> torch.Tensor:
        """A map/vector given in display form (mask, target, delta) → internal."""
        shape = tuple(like.shape)
        a = np.asarray(given, dtype=np.float64)
        if len(shape) == 2:
            return _t(a.reshape(shape))
        if self.nhwc:
            nhwc_shape = (shape[0],) + shape[2:] + (shape[1],)
            return _t(np.moveaxis(a.reshape(nhwc_shape), -1, 1))
        return _t(a.reshape(shape))

    # -- parameters -----------------------------------------------------------------------
    def conv_kernel(self, k: np.ndarray, c_in: int, groups: int, spatial: int, transpose=False):
        """Given kernel → (torch layout (F, C/g, *k) or, transposed, (C_in, F/g, *k), and the
        function taking a gradient in torch layout back to the given shape)."""
        if k.ndim == spatial:
            return k[None, None], lambda g: g[0, 0]
        if k.ndim == spatial + 1:
            kk = np.moveaxis(k, -1, 0) if self.nhwc else k
            # first axis: C_in (several in, one out) or F (one-channel filters: one input
            # channel, or each group sees one, as a depthwise conv's F×k1×k2)
            several_in = c_in > 1 if transpose else c_in // groups > 1
            if transpose:
                internal = kk[:, None] if several_in else kk[None]
                back = (lambda g: g[:, 0]) if several_in else (lambda g: g[0])
            else:
                internal = kk[None] if several_in else kk[:, None]
                back = (lambda g: g[0]) if several_in else (lambda g: g[:, 0])
            if self.nhwc:
                return internal, lambda g, back=back: np.moveaxis(back(g), 0, -1)
            return internal, back
        if self.nhwc:  # HWIO (transpose: k1×k2×(F/g)×C_in)
            order = (spatial + 1, spatial) + tuple(range(spatial))
            inverse = tuple(range(2, 2 + spatial)) + (1, 0)
            return np.transpose(k, order), lambda g: np.transpose(g, inverse)
        return k, lambda g: g

    def run(self) -> dict:
        x0 = _t(self.x).requires_grad_(True)
        outputs = {"input": x0}
        records = []
        prev = "input"
        for index, layer in enumerate(self.layers):
            kind = layer["type"]
            counts = sum(1 for l in self.layers[:index + 1] if l["type"] == kind)
            name = layer.get("name", f"{kind}_{counts}")
            if kind in ("add", "concat"):
                sources = list(layer["inputs"])
            else:
                sources = [layer.get("input", prev)]
            ins = []
            for src in sources:
                view = outputs[src] * 1.0
                view.retain_grad()
                ins.append(view)
            params = {}
            y = self.step(kind, layer, ins, params)
            y.retain_grad()
            outputs[name] = y
            records.append((index, name, kind, sources, ins, y, params))
            prev = name
        out = records[-1][5]
        loss = None
        if "loss" in self.doc:
            loss = self.loss(self.doc["loss"], out)
            loss.backward(retain_graph=True)
        else:
            out.backward(self.unshow(_tensor(self.doc["delta"], self.base), out),
                         retain_graph=True)
        result = {"loss": None if loss is None else float(loss.detach()), "layers": []}
        for index, name, kind, sources, ins, y, params in records:
            if kind in ("add", "concat"):
                delta_in = {}
                for src, v in zip(sources, ins):
                    g = v.grad if v.grad is not None else torch.zeros_like(v)
                    shown = self.show(g)
                    delta_in[src] = delta_in.get(src, 0) + shown
                delta_in = {k: np.asarray(v).tolist() for k, v in delta_in.items()}
            else:
                g = ins[0].grad if ins[0].grad is not None else torch.zeros_like(ins[0])
                delta_in = self.show(g).tolist()
            g_out = y.grad if y.grad is not None else torch.zeros_like(y)
            grads = {}
            for key, (leaf, to_given) in params.items():
                grad = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
                grads[key] = np.asarray(to_given(grad.detach().numpy())).tolist()
            result["layers"].append({"index": index, "name": name, "type": kind,
                                     "output": self.show(y).tolist(),
                                     "delta_out": self.show(g_out).tolist(),
                                     "delta_in": delta_in, "grads": grads})
        return result

    def param(self, params, key, array, to_internal, to_given):
        leaf = _t(to_internal(array)).requires_grad_(True)
        params[key] = (leaf, to_given)
        return leaf

    def step(self, kind, layer, ins, params):
        x = ins[0]
        if kind in ("conv2d", "conv1d"):
            spatial = 2 if kind == "conv2d" else 1
            groups = layer.get("groups", 1)
            k_given = _tensor(layer["kernel"], self.base)
            c_in = x.shape[1]
            k_int, back = self.conv_kernel(k_given, c_in, groups, spatial)
            flip = layer.get("flip_kernel", False)
            axes = tuple(range(2, 2 + spatial))

            def to_internal(k, k_int=k_int, flip=flip):
                return np.flip(k_int, axis=axes).copy() if flip else k_int

            def to_given(g, flip=flip, back=back):
                return back(np.flip(g, axis=axes) if flip else g)

            w = self.param(params, "kernel", k_given, to_internal, to_given)
            stride = _pair(layer.get("stride", 1), spatial)
            dil = _pair(layer.get("dilation", 1), spatial)
            pad = layer.get("padding", 0)
            sizes = x.shape[2:]
            ks = w.shape[2:]
            if pad == "valid":
                pads = [(0, 0)] * spatial
            elif pad == "same":
                pads = [_same_pads(sizes[i], ks[i], stride[i], dil[i]) for i in range(spatial)]
            elif isinstance(pad, int):
                pads = [(pad, pad)] * spatial
            elif spatial == 1:
                pads = [(pad[0], pad[1])]
            elif len(pad) == 2:
                pads = [(pad[0], pad[0]), (pad[1], pad[1])]
            else:
                pads = [(pad[0], pad[1]), (pad[2], pad[3])]
            flat = []
            for before, after in reversed(pads):
                flat += [before, after]
            mode = layer.get("padding_mode", "zeros")
            xp = F.pad(x, flat, mode="constant" if mode == "zeros" else mode) if any(flat) else x
            conv = F.conv2d if spatial == 2 else F.conv1d
            y = conv(xp, w, None, stride=stride, dilation=dil, groups=groups)
            if "bias" in layer:
                b_given = _tensor(layer["bias"], self.base)
                y = y + self.conv_bias(params, b_given, y)
            return y
        if kind == "conv_transpose2d":
            groups = layer.get("groups", 1)
            k_given = _tensor(layer["kernel"], self.base)
            k_int, back = self.conv_kernel(k_given, x.shape[1], groups, 2, transpose=True)
            w = self.param(params, "kernel", k_given, lambda k: k_int, back)
            y = F.conv_transpose2d(x, w, None, stride=_pair(layer.get("stride", 1)),
                                   padding=_pair(layer.get("padding", 0)),
                                   output_padding=_pair(layer.get("output_padding", 0)),
                                   groups=groups, dilation=_pair(layer.get("dilation", 1)))
            if "bias" in layer:
                b_given = _tensor(layer["bias"], self.base)
                b = self.param(params, "bias", b_given,
                               lambda b: np.broadcast_to(b, (y.shape[1],)).copy()
                               if b.ndim == 0 else b,
                               lambda g, b_given=b_given: g.sum() if b_given.ndim == 0 else g)
                y = y + b.reshape((1, -1) + (1,) * (y.dim() - 2))
            return y
        if kind in ("maxpool2d", "avgpool2d", "maxpool1d", "avgpool1d"):
            spatial = 2 if kind.endswith("2d") else 1
            size = _pair(layer["size"], spatial)
            stride = _pair(layer.get("stride", layer["size"]), spatial)
            pad = _pair(layer.get("padding", 0), spatial)
            ceil = layer.get("ceil_mode", False)
            if kind.startswith("max"):
                pool = F.max_pool2d if spatial == 2 else F.max_pool1d
                y = pool(x, size, stride, pad, ceil_mode=ceil)
                ties = layer.get("ties", "first")
                if ties == "first":  # torch's own rule
                    return y
                route = _tie_routes(x.detach().numpy(), tuple(y.shape), size, stride, pad,
                                    ties)
                flat = x.reshape(-1) @ _t(route).T
                # the forward value is torch's; the gradient is route's transpose
                return y.detach() + (flat - flat.detach()).reshape(y.shape)
            pool = F.avg_pool2d if spatial == 2 else F.avg_pool1d
            return pool(x, size, stride, pad, ceil_mode=ceil,
                        count_include_pad=layer.get("count_include_pad", True))
        if kind == "relu":
            return F.relu(x)
        if kind == "leaky_relu":
            return F.leaky_relu(x, _num(layer.get("slope", 0.01)))
        if kind == "sigmoid":
            return torch.sigmoid(x)
        if kind == "tanh":
            return torch.tanh(x)
        if kind == "flatten":
            if self.nhwc and x.dim() > 2:
                return torch.flatten(torch.movedim(x, 1, -1), 1)
            return torch.flatten(x, 1)
        if kind == "dense":
            wg = _tensor(layer["weights"], self.base)
            w = self.param(params, "weights", wg, lambda a: a, lambda g: g)
            y = x @ w.T
            if "bias" in layer:
                b_given = _tensor(layer["bias"], self.base)
                # a number bias gets a number gradient (the contract's shape rule)
                b = self.param(params, "bias", b_given, lambda a: a,
                               lambda g, shape=b_given.shape: g.reshape(shape))
                y = y + b
            return y
        if kind in ("batchnorm2d", "batchnorm1d"):
            c = x.shape[1]
            gamma = _tensor(layer["gamma"], self.base) if "gamma" in layer else np.ones(c)
            beta = _tensor(layer["beta"], self.base) if "beta" in layer else np.zeros(c)
            g = self.param(params, "gamma", gamma, lambda a: a, lambda v: v)
            b = self.param(params, "beta", beta, lambda a: a, lambda v: v)
            mode = layer.get("mode", "train")
            eps = _num(layer.get("eps", 1e-5))
            if mode == "train":
                return F.batch_norm(x, None, None, g, b, training=True, eps=eps)
            rm = _t(_tensor(layer["running_mean"], self.base))
            rv = _t(_tensor(layer["running_var"], self.base))
            return F.batch_norm(x, rm, rv, g, b, training=False, eps=eps)
        if kind == "dropout":
            p = _num(layer["p"])
            mask = self.unshow(_tensor(layer["mask"], self.base), x)
            return x * mask / (1 - p)
        if kind == "softmax":
            return F.softmax(x, dim=-1)
        if kind == "log_softmax":
            return F.log_softmax(x, dim=-1)
        if kind == "global_avgpool":
            return x.mean(dim=tuple(range(2, x.dim())))
        if kind == "upsample":
            spatial = x.dim() - 2
            scale = _pair(layer["scale"], spatial)
            size = tuple(s * f for s, f in zip(x.shape[2:], scale))
            return F.interpolate(x, size=size, mode="nearest")
        if kind == "add":
            y = ins[0]
            for other in ins[1:]:
                y = y + other
            return y
        if kind == "concat":
            return torch.cat(ins, dim=1)
        raise ValueError(f"oracle: unknown layer {kind}")

    def conv_bias(self, params, b_given, y):
        n_f = y.shape[1]
        spatial_shape = tuple(y.shape[2:])
        if b_given.ndim == 0:
            # a number bias gets a number gradient (np.ascontiguousarray makes the leaf 1-D)
            b = self.param(params, "bias", b_given, lambda a: a, lambda g: g.reshape(()))
            return b
        if b_given.ndim == 1 and b_given.shape[0] == n_f:
            b = self.param(params, "bias", b_given, lambda a: a, lambda g: g)
            return b.reshape((1, -1) + (1,) * len(spatial_shape))
        # untied
        if self.nhwc and b_given.ndim == len(spatial_shape) + 1:
            b = self.param(params, "bias", b_given, lambda a: np.moveaxis(a, -1, 0),
                           lambda g: np.moveaxis(g, 0, -1))
        else:
            b = self.param(params, "bias", b_given, lambda a: a.reshape((n_f,) + spatial_shape),
                           lambda g, shape=b_given.shape: g.reshape(shape))
        return b[None]

    def loss(self, spec, out):
        kind = spec["type"]
        target = spec.get("target")
        if kind == "mse":
            t = self.unshow(_tensor(target, self.base), out)
            red = spec.get("reduction", "half_sum")
            if red == "half_sum":
                return 0.5 * ((t - out) ** 2).sum()
            if red == "sum":
                return ((t - out) ** 2).sum()
            return ((t - out) ** 2).mean()
        if kind == "cross_entropy":
            t = _tensor(target, self.base)
            logits = out if out.dim() == 2 else out.reshape(out.shape[0], -1)
            if t.ndim == (1 if self.batched else 0):
                idx = torch.tensor(np.atleast_1d(t).astype(np.int64))
                return F.cross_entropy(logits, idx)
            return F.cross_entropy(logits, _t(t.reshape(logits.shape)))
        if kind in ("bce", "bce_with_logits"):
            t = self.unshow(_tensor(target, self.base), out)
            fn = F.binary_cross_entropy if kind == "bce" else F.binary_cross_entropy_with_logits
            return fn(out, t, reduction=spec.get("reduction", "mean"))
        if kind == "nll":
            t = _tensor(target, self.base)
            idx = torch.tensor(np.atleast_1d(t).astype(np.int64))
            return F.nll_loss(out if out.dim() == 2 else out.reshape(out.shape[0], -1), idx)
        raise ValueError(f"oracle: unknown loss {kind}")


def reference(path) -> dict:
    """The reference result of the problem file at ``path``."""
    path = Path(path)
    doc = json.loads(path.read_text())
    return Oracle(doc, path.parent).run()


def compare(ours, theirs, path="", rtol=1e-7, atol=1e-9) -> list[str]:
    """Differences between two result trees (nested lists/dicts of numbers), as messages."""
    problems = []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected an object, got {type(ours).__name__}"]
        for key in theirs:
            if key not in ours:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += compare(ours[key], theirs[key], f"{path}.{key}", rtol, atol)
        return problems
    if isinstance(theirs, list) and theirs and isinstance(theirs[0], dict):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            return [f"{path}: expected {len(theirs)} entries"]
        for i, (a, b) in enumerate(zip(ours, theirs)):
            problems += compare(a, b, f"{path}[{i}]", rtol, atol)
        return problems
    if isinstance(theirs, (str, bool)) or isinstance(ours, str):
        return [] if ours == theirs else [f"{path}: {ours!r} != {theirs!r}"]
    if theirs is None:
        return [] if ours is None else [f"{path}: expected null, got {ours!r}"]
    a = np.asarray(ours, dtype=np.float64)
    b = np.asarray(theirs, dtype=np.float64)
    if a.shape != b.shape:
        return [f"{path}: shape {a.shape} != {b.shape}"]
    if not np.allclose(a, b, rtol=rtol, atol=atol):
        worst = np.max(np.abs(a - b))
        return [f"{path}: differs (max abs {worst:.3g})"]
    return []


if __name__ == "__main__":
    import sys

    print(json.dumps(reference(sys.argv[1]), indent=1))
