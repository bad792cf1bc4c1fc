"""Seeded random problems of contract v1.1, valid by construction, for comparing cnngrad with
an independent reference (tests/torch_oracle.py).

``problem(seed)`` returns ``(doc, files)``: the problem document and the side files it names
(``{"x.npy": array, "k.csv": matrix}``); ``write_problem`` saves both in a folder. Every layer
type and option the contract lists can be drawn, in chains and small graphs (a residual
``add``, a two-branch ``concat``), in both layouts, batched or not, 1-D or 2-D, ending in every
loss or a given delta. Shapes are tracked channels first ((N, C, *spatial) or (N, K)) and
converted to the form the contract shows only where a tensor is written into the document.

Values are random with four decimals: an exact tie or an exact zero at a kink, where cnngrad
decides on exact values and PyTorch on rounded floats, then only comes from structure (a ReLU's
zeros, upsampled copies), where both decide alike.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np

CONV_PAD_MODES = ("zeros", "reflect", "replicate", "circular")


class _Gen:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.files: dict[str, np.ndarray] = {}
        self.spatial = 1 if self.rng.random() < 0.3 else 2
        self.nhwc = self.rng.random() < 0.3
        rank_choice = self.rng.integers(0, 3)
        self.input_rank = self.spatial + int(rank_choice)
        self.batched = self.input_rank == self.spatial + 2
        self.layers: list[dict] = []
        self.counts: dict[str, int] = {}
        self.names: list[str] = []
        self.n_named = 0
        # small integers: exact ties and exact zeros that float arithmetic keeps exact too
        self.whole = self.rng.random() < 0.25

    # -- numbers --------------------------------------------------------------------------
    def r(self) -> float:
        if self.whole:
            return float(self.rng.integers(-3, 4))
        return float(self.rng.integers(0, 2 * 10**4 + 1) - 10**4) / 10**4

    def num(self, value: float):
        """A number as the document writes it: mostly a JSON number, sometimes a string."""
        roll = self.rng.random()
        if roll < 0.08:
            return f"{value:.4f}"
        if roll < 0.12 and not self.whole:
            q = int(self.rng.integers(1, 8))
            return f"{int(round(value * 10)) * 1}/{10 * q}" if q > 1 else f"{value:.4f}"
        return value

    def values(self, shape) -> np.ndarray:
        size = int(np.prod(shape)) if shape else 1
        if self.whole:
            return self.rng.integers(-3, 4, size=size).astype(np.float64).reshape(shape)
        flat = (self.rng.integers(0, 2 * 10**4 + 1, size=size) - 10**4) / 10**4
        return flat.reshape(shape)

    def lists(self, array: np.ndarray):
        """A tensor as nested lists, every element through ``num`` (strings allowed)."""
        array = np.asarray(array, dtype=np.float64)
        if array.ndim == 0:
            return self.num(float(array))
        return [self.lists(a) for a in array]

    def tensor(self, array: np.ndarray, allow_files: bool = True):
        """A tensor as the document writes it, now and then as a .npy or CSV file."""
        array = np.asarray(array, dtype=np.float64)
        roll = self.rng.random()
        if allow_files and roll < 0.05 and array.ndim >= 1:
            name = f"t{len(self.files)}.npy"
            self.files[name] = array
            return {"npy": name}
        if allow_files and roll < 0.1 and array.ndim == 2:
            name = f"t{len(self.files)}.csv"
            self.files[name] = array
            return {"csv": name}
        if allow_files and roll < 0.13 and array.ndim == 3 and not self.nhwc:
            names = []
            for grid in array:
                name = f"t{len(self.files)}.csv"
                self.files[name] = grid
                names.append(name)
            return {"csv": names}
        return self.lists(array)

    # -- shapes as shown --------------------------------------------------------------------
    def shown(self, array: np.ndarray) -> np.ndarray:
        """Channels-first (N, C, *sp) or (N, K) → the shape the contract shows."""
        a = np.asarray(array)
        if a.ndim == 2:
            return a if self.batched else a[0]
        if self.nhwc:
            a = np.moveaxis(a, 1, -1)
        if self.batched:
            return a
        a = a[0]
        if self.input_rank == self.spatial and a.shape[-1 if self.nhwc else 0] == 1:
            return a[..., 0] if self.nhwc else a[0]
        return a

    # -- layers ---------------------------------------------------------------------------
    def add_layer(self, spec: dict) -> str:
        kind = spec["type"]
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.rng.random() < 0.15:
            self.n_named += 1
            name = f"L{self.n_named}_{kind}"
            spec = {"name": name, **spec}
        else:
            name = f"{kind}_{self.counts[kind]}"
        self.layers.append(spec)
        self.names.append(name)
        return name

    def reads(self, spec: dict, source: str | None) -> dict:
        """``spec`` reading ``source`` explicitly (None: the previous layer, implicitly)."""
        if source is not None:
            return {**spec, "input": source}
        return spec

    def ints(self, values, n):
        """An integer option as an integer or a per-axis list."""
        values = tuple(values)
        if self.spatial == 1 or (values[0] == values[-1] and self.rng.random() < 0.6):
            return int(values[0])
        return [int(v) for v in values[:n]]

    def conv(self, shape, source=None, keep=False):
        """conv2d / conv1d; ``keep``: same channels and size (a residual branch)."""
        sp = self.spatial
        kind = "conv2d" if sp == 2 else "conv1d"
        n, c = shape[:2]
        sizes = list(shape[2:])
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        groups = int(self.rng.choice(divisors)) if self.rng.random() < 0.35 else 1
        if keep:
            f = c
            if f % groups:
                groups = 1
        else:
            f = groups * int(self.rng.integers(1, 3 if groups > 1 else 4))
        stride = [1] * sp if keep else [int(self.rng.integers(1, 4)) for _ in range(sp)]
        dil = [int(self.rng.integers(1, 3)) if self.rng.random() < 0.3 else 1 for _ in range(sp)]
        ks = []
        for i in range(sp):
            k_max = max(1, min(4, (sizes[i] + 2 - 1) // dil[i] + 1))
            ks.append(int(self.rng.integers(1, k_max + 1)))
        spec = {"type": kind}
        roll = self.rng.random()
        if keep or roll < 0.25:
            pad_kind = "same"
        elif roll < 0.35:
            pad_kind = "valid"
        elif roll < 0.55:
            pad_kind = "int"
        elif roll < 0.75:
            pad_kind = "per_side"
        else:
            pad_kind = "none"
        pads = []
        if pad_kind == "same":
            for i in range(sp):
                out = -(-sizes[i] // stride[i])
                total = max((out - 1) * stride[i] + dil[i] * (ks[i] - 1) + 1 - sizes[i], 0)
                pads.append((total // 2, total - total // 2))
            spec["padding"] = "same"
        elif pad_kind == "valid":
            pads = [(0, 0)] * sp
            spec["padding"] = "valid"
        elif pad_kind == "int":
            p = int(self.rng.integers(0, 3))
            pads = [(p, p)] * sp
            spec["padding"] = p
        elif pad_kind == "per_side":
            if sp == 1:
                pads = [(int(self.rng.integers(0, 3)), int(self.rng.integers(0, 3)))]
                spec["padding"] = list(pads[0])
            elif self.rng.random() < 0.5:
                rows, cols = (int(v) for v in self.rng.integers(0, 3, size=2))
                pads = [(rows, rows), (cols, cols)]
                spec["padding"] = [rows, cols]
            else:
                t, b, l, r = (int(v) for v in self.rng.integers(0, 3, size=4))
                pads = [(t, b), (l, r)]
                spec["padding"] = [t, b, l, r]
        else:
            pads = [(0, 0)] * sp
        # the kernel must fit the padded input
        for i in range(sp):
            padded = sizes[i] + sum(pads[i])
            while dil[i] * (ks[i] - 1) + 1 > padded:
                if ks[i] > 1:
                    ks[i] -= 1
                else:
                    dil[i] = 1
        if spec.get("padding") == "same":  # recompute: k or d may have shrunk
            pads = []
            for i in range(sp):
                out = -(-sizes[i] // stride[i])
                total = max((out - 1) * stride[i] + dil[i] * (ks[i] - 1) + 1 - sizes[i], 0)
                pads.append((total // 2, total - total // 2))
            if keep and any(sum(p) != dil[i] * (ks[i] - 1) for i, p in enumerate(pads)):
                return None
        outs = [(sizes[i] + sum(pads[i]) - dil[i] * (ks[i] - 1) - 1) // stride[i] + 1
                for i in range(sp)]
        if keep and outs != sizes:
            return None
        if any(o < 1 for o in outs):
            return None
        if any(sum(p) for p in pads) and self.rng.random() < 0.35:
            mode = str(self.rng.choice(CONV_PAD_MODES[1:]))
            ok = all(max(p) < sizes[i] if mode == "reflect" else max(p) <= sizes[i]
                     for i, p in enumerate(pads))
            if ok:
                spec["padding_mode"] = mode
        if any(s > 1 for s in stride):
            spec["stride"] = self.ints(stride, sp)
        elif self.rng.random() < 0.2:
            spec["stride"] = 1
        if any(d > 1 for d in dil):
            spec["dilation"] = self.ints(dil, sp)
        if groups > 1 or self.rng.random() < 0.1:
            spec["groups"] = groups
        if self.rng.random() < 0.2:
            spec["flip_kernel"] = bool(self.rng.random() < 0.7)
        kernel = self.values((f, c // groups, *ks))
        spec["kernel"] = self.tensor(self.kernel_given(kernel, c, f, groups))
        roll = self.rng.random()
        out_shape = (n, f, *outs)
        if roll < 0.3:
            spec["bias"] = self.tensor(self.values((f,)))
        elif roll < 0.4 and f == 1:
            spec["bias"] = self.num(self.r())
        elif roll < 0.55:
            untied = self.values((f, *outs))
            if self.nhwc:
                given = np.moveaxis(untied, 0, -1)
                if sp == 2 and f == 1 and self.rng.random() < 0.5:
                    given = untied[0]
            else:
                given = untied[0] if (sp == 2 and f == 1 and self.rng.random() < 0.5) \
                    else untied
            spec["bias"] = self.tensor(given)
        self.add_layer(self.reads(spec, source))
        return out_shape

    def kernel_form(self, c, f, groups) -> str:
        """One of the kernel forms the contract accepts for c channels and f filters: "full"
        always, "plain" (kh×kw) for one of each, "three" (C×k or F×k) without groups."""
        forms = ["full"]
        if c == 1 and f == 1:
            forms.append("plain")
        if groups == 1 and ((c > 1 and f == 1) or c == 1):
            forms.append("three")
        return str(self.rng.choice(forms))

    def kernel_given(self, kernel, c, f, groups):
        """A kernel in torch layout (F, C/g, *k) → one of the forms the contract accepts."""
        sp = self.spatial
        form = self.kernel_form(c, f, groups)
        if form == "plain":
            return kernel[0, 0]
        if form == "three":
            k3 = kernel[0] if c > 1 else kernel[:, 0]
            return np.moveaxis(k3, 0, -1) if self.nhwc else k3
        if self.nhwc:
            return np.transpose(kernel, tuple(range(2, 2 + sp)) + (1, 0))
        return kernel

    def conv_transpose(self, shape, source=None):
        n, c = shape[:2]
        sizes = list(shape[2:])
        divisors = [g for g in range(1, c + 1) if c % g == 0]
        groups = int(self.rng.choice(divisors)) if self.rng.random() < 0.3 else 1
        f = groups * int(self.rng.integers(1, 3))
        stride = [int(self.rng.integers(1, 4)) for _ in range(2)]
        dil = [int(self.rng.integers(1, 3)) if self.rng.random() < 0.3 else 1 for _ in range(2)]
        ks = [int(self.rng.integers(1, 4)) for _ in range(2)]
        pad = [int(self.rng.integers(0, 3)) for _ in range(2)]
        opad = [int(self.rng.integers(0, max(stride[i], dil[i]))) for i in range(2)]
        outs = [(sizes[i] - 1) * stride[i] - 2 * pad[i] + dil[i] * (ks[i] - 1) + opad[i] + 1
                for i in range(2)]
        if any(o < 1 for o in outs) or any(o > 12 for o in outs):
            return None
        spec = {"type": "conv_transpose2d"}
        if stride != [1, 1] or self.rng.random() < 0.1:
            spec["stride"] = self.ints(stride, 2)
        if pad != [0, 0]:
            spec["padding"] = self.ints(pad, 2)
        if opad != [0, 0]:
            spec["output_padding"] = self.ints(opad, 2)
        if dil != [1, 1]:
            spec["dilation"] = self.ints(dil, 2)
        if groups > 1:
            spec["groups"] = groups
        kernel = self.values((c, f // groups, *ks))
        form = self.kernel_form(c, f, groups)
        if form == "plain":
            given = kernel[0, 0]
        elif form == "three":
            given = kernel[:, 0] if c > 1 else kernel[0]
            given = np.moveaxis(given, 0, -1) if self.nhwc else given
        else:
            given = np.transpose(kernel, (2, 3, 1, 0)) if self.nhwc else kernel
        spec["kernel"] = self.tensor(given)
        roll = self.rng.random()
        if roll < 0.35:
            spec["bias"] = self.tensor(self.values((f,)))
        elif roll < 0.5 and f == 1:
            spec["bias"] = self.num(self.r())
        self.add_layer(self.reads(spec, source))
        return (n, f, *outs)

    def pool(self, shape, source=None):
        sp = self.spatial
        kind = ("max" if self.rng.random() < 0.5 else "avg") + ("pool2d" if sp == 2 else
                                                                 "pool1d")
        n, c = shape[:2]
        sizes = list(shape[2:])
        size = [int(self.rng.integers(1, min(4, sizes[i] + 1) + 1)) for i in range(sp)]
        stride = [int(self.rng.integers(1, 4)) for _ in range(sp)]
        pad = [int(self.rng.integers(0, size[i] // 2 + 1)) if self.rng.random() < 0.4 else 0
               for i in range(sp)]
        ceil = self.rng.random() < 0.4
        outs = []
        for i in range(sp):
            span = sizes[i] + 2 * pad[i] - size[i]
            if span < 0:
                return None
            o = (-(-span // stride[i]) if ceil else span // stride[i]) + 1
            if ceil and (o - 1) * stride[i] >= sizes[i] + pad[i]:
                o -= 1
            outs.append(o)
        spec = {"type": kind, "size": self.ints(size, sp)}
        default_stride = stride == size and self.rng.random() < 0.5
        if self.rng.random() < 0.3:  # the default stride: the size
            stride = size
            outs = []
            for i in range(sp):
                span = sizes[i] + 2 * pad[i] - size[i]
                o = (-(-span // stride[i]) if ceil else span // stride[i]) + 1
                if ceil and (o - 1) * stride[i] >= sizes[i] + pad[i]:
                    o -= 1
                outs.append(o)
        elif not default_stride:
            spec["stride"] = self.ints(stride, sp)
        if any(pad) or self.rng.random() < 0.1:
            spec["padding"] = self.ints(pad, sp)
        if ceil or self.rng.random() < 0.1:
            spec["ceil_mode"] = bool(ceil)
        if kind.startswith("avg") and self.rng.random() < 0.5:
            spec["count_include_pad"] = bool(self.rng.random() < 0.5)
        if kind.startswith("max") and self.rng.random() < 0.5:
            spec["ties"] = str(self.rng.choice(["first", "split", "all"]))
        self.add_layer(self.reads(spec, source))
        return (n, c, *outs)

    def upsample(self, shape, source=None):
        sp = self.spatial
        scale = [int(self.rng.integers(1, 4)) for _ in range(sp)]
        if self.rng.random() < 0.6 or sp == 1:
            scale = [scale[0]] * sp
        outs = [s * f for s, f in zip(shape[2:], scale)]
        if any(o > 12 for o in outs):
            return None
        self.add_layer(self.reads({"type": "upsample", "scale": self.ints(scale, sp)}, source))
        return (*shape[:2], *outs)

    def activation(self, shape, source=None):
        kind = str(self.rng.choice(["relu", "leaky_relu", "sigmoid", "tanh"]))
        spec = {"type": kind}
        if kind == "leaky_relu" and self.rng.random() < 0.6:
            spec["slope"] = self.num(float(self.rng.choice([0.1, 0.2, 0.01, 0.3, 1.5])))
        self.add_layer(self.reads(spec, source))
        return shape

    def batchnorm(self, shape, source=None):
        kind = "batchnorm1d" if len(shape) == 2 else "batchnorm2d"
        c = shape[1]
        per_channel = shape[0] * int(np.prod(shape[2:]))
        spec = {"type": kind}
        mode = "eval" if per_channel < 2 or self.rng.random() < 0.35 else "train"
        if mode == "eval" or self.rng.random() < 0.3:
            spec["mode"] = mode
        if self.rng.random() < 0.6:
            spec["gamma"] = self.tensor(self.values((c,)) * 2, allow_files=False)
        if self.rng.random() < 0.6:
            spec["beta"] = self.tensor(self.values((c,)), allow_files=False)
        if self.rng.random() < 0.4:
            spec["eps"] = float(self.rng.choice([1e-3, 0.1, 1e-5, 0.5]))
        if mode == "eval":
            spec["running_mean"] = self.tensor(self.values((c,)), allow_files=False)
            spec["running_var"] = self.tensor(np.abs(self.values((c,))) + 0.05,
                                              allow_files=False)
        self.add_layer(self.reads(spec, source))
        return shape

    def dropout(self, shape, source=None):
        p = self.rng.choice(["0", "0.25", "0.5", "1/3", "0.9"])
        mask = (self.rng.random(shape) < 0.6).astype(np.float64)
        p_given = p if self.rng.random() < 0.4 else float(Fraction(p))
        spec = {"type": "dropout", "p": p_given, "mask": self.shown(mask).tolist()}
        self.add_layer(self.reads(spec, source))
        return shape

    def dense(self, shape, source=None, out=None):
        k_in = shape[1]
        k_out = out or int(self.rng.integers(1, 5))
        spec = {"type": "dense", "weights": self.tensor(self.values((k_out, k_in)))}
        roll = self.rng.random()
        if roll < 0.5:
            spec["bias"] = self.tensor(self.values((k_out,)), allow_files=False)
        elif roll < 0.65:
            spec["bias"] = self.num(self.r())
        self.add_layer(self.reads(spec, source))
        return (shape[0], k_out)

    # -- a whole problem ----------------------------------------------------------------
    def map_step(self, shape, budget):
        """One map layer or block drawn at random; (new shape, budget left)."""
        roll = self.rng.random()
        if roll < 0.32:
            new = self.conv(shape)
        elif roll < 0.5:
            new = self.pool(shape)
        elif roll < 0.58 and self.spatial == 2:
            new = self.conv_transpose(shape)
        elif roll < 0.64:
            new = self.upsample(shape)
        elif roll < 0.76:
            new = self.activation(shape)
        elif roll < 0.82:
            new = self.batchnorm(shape)
        elif roll < 0.86:
            new = self.dropout(shape)
        elif roll < 0.93 and budget >= 2:
            return self.residual(shape), budget - 2
        elif budget >= 2:
            return self.concat_maps(shape), budget - 2
        else:
            new = self.activation(shape)
        return (new if new is not None else shape), budget - 1

    def current(self) -> str:
        return self.names[-1] if self.names else "input"

    def residual(self, shape):
        source = self.current()
        start = len(self.layers)
        shape_b = shape
        for _ in range(int(self.rng.integers(1, 3))):
            roll = self.rng.random()
            if roll < 0.5:
                new = self.conv(shape_b, keep=True)
            elif roll < 0.75 or len(shape) == 2:
                new = self.activation(shape_b)
            else:
                new = self.batchnorm(shape_b)
            if new is None:
                new = self.activation(shape_b)
            shape_b = new
        if len(self.layers) == start:
            return shape
        inputs = [self.current(), source]
        if self.rng.random() < 0.5:
            inputs.reverse()
        if self.rng.random() < 0.15:
            inputs.append(inputs[int(self.rng.integers(0, 2))])
        self.add_layer({"type": "add", "inputs": inputs})
        return shape

    def concat_maps(self, shape):
        source = self.current()
        first = self.conv(shape, keep=True) if self.rng.random() < 0.5 else None
        if first is None:
            first = self.activation(shape)
        a = self.current()
        b_shape = self.activation(shape, source=source) if self.rng.random() < 0.5 else None
        if b_shape is None:
            b_shape = self.conv(shape, source=source, keep=True)
        if b_shape is None:
            b_shape = self.activation(shape, source=source)
        b = self.current()
        self.add_layer({"type": "concat", "inputs": [a, b]})
        return (shape[0], first[1] + b_shape[1], *shape[2:])

    def vector_step(self, shape):
        roll = self.rng.random()
        if roll < 0.35:
            return self.dense(shape)
        if roll < 0.55:
            return self.activation(shape)
        if roll < 0.65:
            return self.batchnorm(shape)
        if roll < 0.72:
            return self.dropout(shape)
        if roll < 0.8:
            source = self.current()
            a = self.dense(shape)
            b = self.dense(shape, source=source, out=a[1] if self.rng.random() < 0.5 else None)
            if a[1] == b[1] and self.rng.random() < 0.5:
                self.add_layer({"type": "add", "inputs": [self.names[-2], self.names[-1]]})
                return a
            self.add_layer({"type": "concat", "inputs": [self.names[-2], self.names[-1]]})
            return (shape[0], a[1] + b[1])
        return self.activation(shape)

    def build(self) -> dict:
        sp = self.spatial
        n = int(self.rng.integers(1, 4)) if self.batched else 1
        if self.batched and self.rng.random() < 0.25:
            n = 1
        c = 1 if self.input_rank == sp else int(self.rng.integers(1, 4))
        sizes = [int(self.rng.integers(1, 8)) for _ in range(sp)]
        shape = (n, c, *sizes)
        x = self.values(shape)
        budget = int(self.rng.integers(1, 5))
        if sp == 1:  # a 1-D layer first decides how the input's axes are read
            shape = self.conv(shape) if self.rng.random() < 0.6 else self.pool(shape)
            shape = shape if shape is not None else (n, c, *sizes)
            if not self.layers:
                return None
            budget -= 1
        while budget > 0:
            shape, budget = self.map_step(shape, budget)
        if sp == 1 and not any(layer["type"] in ("conv1d", "maxpool1d", "avgpool1d")
                               for layer in self.layers):
            return None
        if self.rng.random() < 0.5:  # a vector head
            if self.rng.random() < 0.3:
                self.add_layer({"type": "global_avgpool"})
                shape = (shape[0], shape[1])
            else:
                self.add_layer({"type": "flatten"})
                shape = (shape[0], int(np.prod(shape[1:])))
            for _ in range(int(self.rng.integers(0, 3))):
                shape = self.vector_step(shape)
        if not self.layers:
            return None
        doc: dict = {}
        if self.rng.random() < 0.3:
            doc["title"] = "random"
        if self.nhwc or self.rng.random() < 0.1:
            doc["layout"] = "nhwc" if self.nhwc else "nchw"
        doc["input"] = self.tensor(self.shown(x))
        doc["layers"] = self.layers
        self.finish(doc, shape)
        return doc

    def finish(self, doc, shape):
        """A loss on the network's output, or its delta."""
        vector = len(shape) == 2
        roll = self.rng.random()
        last = self.layers[-1]["type"]
        if roll < 0.3:
            doc["delta"] = self.tensor(self.shown(self.values(shape)))
            return
        if roll < 0.45:
            loss = {"type": "mse", "target": self.tensor(self.shown(self.values(shape)))}
            if self.rng.random() < 0.7:
                loss["reduction"] = str(self.rng.choice(["half_sum", "sum", "mean"]))
        elif roll < 0.6 and vector:
            loss = {"type": "cross_entropy", "target": self.class_target(shape, soft=True)}
        elif roll < 0.7 and vector:
            if last != "log_softmax" and self.rng.random() < 0.7:
                self.add_layer({"type": "log_softmax"})
            loss = {"type": "nll", "target": self.class_target(shape, soft=False)}
        elif roll < 0.85:
            if last not in ("sigmoid", "softmax"):
                self.add_layer({"type": "sigmoid"} if not vector or self.rng.random() < 0.7
                               else {"type": "softmax"})
            loss = {"type": "bce", "target": self.tensor(self.shown(self.targets01(shape)))}
            if self.rng.random() < 0.6:
                loss["reduction"] = str(self.rng.choice(["mean", "sum"]))
        else:
            loss = {"type": "bce_with_logits",
                    "target": self.tensor(self.shown(self.targets01(shape)))}
            if self.rng.random() < 0.6:
                loss["reduction"] = str(self.rng.choice(["mean", "sum"]))
        doc["loss"] = loss

    def targets01(self, shape):
        t = np.round(self.rng.random(shape), 3)
        t[self.rng.random(shape) < 0.3] = 1.0
        t[self.rng.random(shape) < 0.2] = 0.0
        return t

    def class_target(self, shape, soft):
        n, k = shape
        if soft and self.rng.random() < 0.4:
            rows = []
            for _ in range(n):
                weights = [int(v) for v in self.rng.integers(0, 5, size=k)]
                if sum(weights) == 0:
                    weights[0] = 1
                total = sum(weights)
                rows.append([w if total == 1 else f"{w}/{total}" for w in weights])
            return rows if self.batched else rows[0]
        idx = [int(v) for v in self.rng.integers(0, k, size=n)]
        return idx if self.batched else idx[0]


def problem(seed: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The problem of ``seed`` and its side files."""
    attempt = 0
    while True:
        gen = _Gen(seed * 1000 + attempt)
        doc = gen.build()
        if doc is not None:
            return doc, gen.files
        attempt += 1


def shorthand(seed: int) -> dict:
    """A one-conv problem in the top-level shorthand (``kernel``, ``delta`` at the top)."""
    rng = np.random.default_rng(seed)
    gen = _Gen(seed)
    h, w = (int(v) for v in rng.integers(2, 7, size=2))
    k1, k2 = (int(rng.integers(1, min(h, 3) + 1)), int(rng.integers(1, min(w, 3) + 1)))
    doc = {"input": gen.lists(gen.values((h, w))), "kernel": gen.lists(gen.values((k1, k2)))}
    stride = [int(v) for v in rng.integers(1, 3, size=2)]
    if rng.random() < 0.5:
        doc["stride"] = stride
    else:
        stride = [1, 1]
    pads = [0, 0, 0, 0]
    if rng.random() < 0.5:
        pads = [int(v) for v in rng.integers(0, 2, size=4)]
        doc["padding"] = pads
    if rng.random() < 0.3:
        doc["flip_kernel"] = True
    outs = [(h + pads[0] + pads[1] - k1) // stride[0] + 1,
            (w + pads[2] + pads[3] - k2) // stride[1] + 1]
    if rng.random() < 0.5:
        doc["bias"] = gen.r()
    doc["delta"] = gen.lists(gen.values(outs))
    return doc


def document(seed: int) -> tuple[dict, dict[str, np.ndarray]]:
    """The problem of ``seed``: one in 17 is the one-conv shorthand, the rest ``problem``."""
    if seed % 17 == 16:
        return shorthand(seed), {}
    return problem(seed)


def write_problem(seed: int, folder: Path) -> Path:
    """The problem of ``seed`` saved as ``folder/p<seed>.json`` with its side files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    doc, files = document(seed)
    for name, array in files.items():
        if name.endswith(".npy"):
            np.save(folder / name, array)
        else:
            np.savetxt(folder / name, np.atleast_2d(array), delimiter=",", fmt="%.17g")
    path = folder / f"p{seed}.json"
    path.write_text(json.dumps(doc))
    return path


__all__ = ["document", "problem", "shorthand", "write_problem"]
