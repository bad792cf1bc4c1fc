"""Calling styles: how a case becomes the user's call, and cnngrad's answers the user's layout.

* ``plain``: the op's documented signature (:attr:`cnngrad.verify.ops.Op.signature`), tensors
  channels-first (``--layout nchw``) or channels-last (``--layout nhwc``), arguments by
  position — or by the keyword names ``--arg`` gives.
* ``cs231n``: Stanford CS231n's layer functions: ``conv_forward_naive(x, w, b, conv_param)
  -> (out, cache)`` and ``conv_backward_naive(dout, cache) -> (dx, dw, db)`` with
  ``cache = (x, w, b, conv_param)``, ``conv_param = {'stride', 'pad'}``; the pooling ones with
  ``pool_param = {'pool_height', 'pool_width', 'stride'}``; ``affine_backward(dout, cache)``
  with ``cache = (x, w, b)``, w (in, out); ``softmax_loss(x, y) -> (loss, dx)``;
  ``spatial_batchnorm_backward(dout, cache)`` with the cache of the user's own forward.
* ``dls``: the Deep Learning Specialization's: ``conv_forward(A_prev, W, b, hparameters)
  -> (Z, cache)``, ``conv_backward(dZ, cache) -> (dA_prev, dW, db)`` with ``cache = (A_prev, W,
  b, hparameters)``, A_prev (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C),
  ``hparameters = {"stride", "pad"}``; ``pool_forward(A_prev, hparameters, mode)`` and
  ``pool_backward(dA, cache, mode)`` with ``cache = (A_prev, hparameters)``,
  ``hparameters = {"f", "stride"}``; ``linear_backward(dZ, cache)`` with examples as columns.

A backward call whose cache the user's forward builds gets that forward (``--forward``); else
cnngrad builds the cache as the assignment's forward does.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnngrad.verify.ops import Case, Op

__all__ = ["STYLES", "Style", "ResultError"]


class ResultError(Exception):
    """What the user's function returned cannot be read as the op's outputs."""


@dataclass(frozen=True)
class Call:
    """The user's function(s) bound to one case: ``run()`` returns what the function returned."""

    run: Callable[[], object]
    shown: str  # how the call reads: "conv_backward(dZ, cache)"
    #: the arrays the call hands over, each by the name the call gives it: a function that
    #: changes one in place is told (a network still needs its x, its weights, its delta)
    arrays: tuple[tuple[str, np.ndarray], ...] = ()


def _handing(call: Call, arrays: dict, names: dict) -> Call:
    """``call`` with ``arrays`` (cnngrad's name → the array passed) under the names the
    style's call gives them (``names``: cnngrad's name → the call's; others as they are)."""
    handed = tuple((names.get(name, name), array) for name, array in arrays.items()
                   if isinstance(array, np.ndarray))
    return dataclasses.replace(call, arrays=handed)


def _tuple_of(raw, count: int, what: str) -> tuple:
    if not isinstance(raw, (tuple, list)):
        raise ResultError(f"returned {_kind(raw)}; expected a tuple of {count} ({what})")
    if len(raw) != count:
        # (a, b, c) inside another tuple: return (a, b, c), not ((a, b, c),)
        nested = (f" — its one value is the tuple of {count}: return that tuple itself"
                  if len(raw) == 1 and isinstance(raw[0], (tuple, list))
                  and len(raw[0]) == count else "")
        raise ResultError(f"returned {_tuple_text(len(raw))}; expected {count} ({what})"
                          f"{nested}")
    return tuple(raw)


def _tuple_text(length: int) -> str:
    """``a tuple of 3 values``, ``a tuple of 1 value``, ``an empty tuple``."""
    if length == 0:
        return "an empty tuple"
    return f"a tuple of {length} value{'' if length == 1 else 's'}"


def _kind(raw) -> str:
    if raw is None:
        return "None"
    if isinstance(raw, np.ndarray):
        return f"one array of shape {raw.shape}"
    if isinstance(raw, (tuple, list)):
        return f"{a_name(raw)} of {len(raw)} values"
    return a_name(raw)


def a_name(value) -> str:
    """``value``'s type with its article: "a float", "an int", "an ndarray"."""
    from cnngrad.errors import with_article

    return with_article(type(value).__name__)


class Style:
    """The plain style; the assignment styles override what differs."""

    name = "plain"
    layout: str | None = None  # a layout the style implies
    words = "the op's own signature"

    def supports(self, op: Op) -> bool:
        return True

    def needs_forward(self, op: Op) -> bool:
        """Whether ``op``'s cache is the user's own forward's (``--forward`` required)."""
        return self.forward_name(op) is not None

    def forward_name(self, op: Op) -> str | None:
        """The name the assignment gives the forward function whose cache ``op`` takes, when
        that cache is the user's own; None when cnngrad builds it."""
        return None

    def accepts(self, op: Op, case: Case) -> bool:
        # the plain pooling signature takes one int window size: square windows
        return case.square or not op.name.startswith(("maxpool", "avgpool"))

    def signature(self, op: Op) -> str:
        return op.signature

    def skip_words(self, op: Op) -> str:
        """Why some cases of ``op`` are not run in this style."""
        return "non-square windows: the window size is one int"

    def tensor(self, op: Op, name: str, array: np.ndarray, case: Case, layout: str):
        """cnngrad's array (its layout) as the user's call passes or returns it."""
        perm = op.channels_last.get(name) if layout == "nhwc" else None
        return np.ascontiguousarray(array.transpose(perm)) if perm else array

    def shown(self, op: Op, name: str) -> str:
        """The name the style's signature gives cnngrad's array ``name`` (an input ``x``,
        ``w``, ``delta``; an output ``dx``, ``dw``, ``db``, ``y``), as the report calls it."""
        return name

    def slip_words(self, op: Op, slip: str, words: str) -> str:
        """A slip's description (in cnngrad's names) in the style's words."""
        return words

    def axes(self, op: Op, name: str, layout: str) -> tuple[str, ...]:
        names = op.axes.get(name, ())
        perm = op.channels_last.get(name) if layout == "nhwc" else None
        return tuple(names[i] for i in perm) if perm else names

    def bind(self, fn, op: Op, case: Case, layout: str, keywords: dict, forward) -> Call:
        values = []
        for name in op.inputs:
            if name in case.arrays:
                values.append(self.tensor(op, name, case.arrays[name].copy(), case, layout))
            else:
                values.append(case.params[name])
        arrays = dict(zip(op.inputs, values))
        if keywords:
            kwargs = {keywords.get(name, name): value for name, value in zip(op.inputs, values)}
            shown = ", ".join(f"{keywords.get(n, n)}={n}" for n in op.inputs)
            return _handing(Call(lambda: fn(**kwargs), f"{_name(fn)}({shown})"), arrays,
                            keywords)
        return _handing(Call(lambda: fn(*values), f"{_name(fn)}({', '.join(op.inputs)})"),
                        arrays, {})

    def unpack(self, op: Op, raw) -> dict:
        if op.single:
            if isinstance(raw, tuple):
                hint = (" — an (out, cache) pair? return out alone here; --style cs231n "
                        "or dls calls the courses' forward functions, which return both") \
                    if len(raw) == 2 and op.name.endswith("_forward") else \
                    " — return the array itself, not a tuple holding it" \
                    if len(raw) == 1 and isinstance(raw[0], np.ndarray) else ""
                raise ResultError(f"returned {_tuple_text(len(raw))}; expected one array "
                                  f"({self.shown(op, op.outputs[0])}){hint}")
            return {op.outputs[0]: raw}
        return dict(zip(op.outputs, _tuple_of(raw, len(op.outputs),
                                              ", ".join(self.shown(op, n) for n in op.outputs))))


def _name(fn) -> str:
    return getattr(fn, "__name__", "function")


def _first_of_pair(raw, what: str):
    """A forward function's output from ``(out, cache)``: a bare array is refused, as the
    course's backward function needs the cache (it fails there, given as --forward)."""
    if isinstance(raw, (tuple, list)):
        if len(raw) != 2:
            raise ResultError(f"returned {_tuple_text(len(raw))}; expected ({what}, "
                              "cache)")
        return raw[0]
    raise ResultError(f"returned {_kind(raw)}; expected ({what}, cache): the backward "
                      "function needs the cache")


class CS231nStyle(Style):
    name = "cs231n"
    layout = "nchw"
    words = "CS231n's (dout, cache) layer functions"
    _OPS = {
        "conv2d_forward": "conv_forward_naive(x, w, b, conv_param) -> (out, cache)",
        "conv2d_backward": "conv_backward_naive(dout, cache) -> (dx, dw, db); "
                           "cache = (x, w, b, conv_param)",
        "maxpool2d_forward": "max_pool_forward_naive(x, pool_param) -> (out, cache)",
        "maxpool2d_backward": "max_pool_backward_naive(dout, cache) -> dx; "
                              "cache = (x, pool_param)",
        "dense_backward": "affine_backward(dout, cache) -> (dx, dw, db); cache = (x, w, b), "
                          "w (in, out)",
        "softmax_cross_entropy_backward": "softmax_loss(x, y) -> (loss, dx)",
        "batchnorm2d_backward": "spatial_batchnorm_backward(dout, cache) -> (dx, dgamma, "
                                "dbeta); cache from --forward spatial_batchnorm_forward(x, "
                                "gamma, beta, bn_param)",
        "batchnorm1d_backward": "batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta); "
                                "cache from --forward batchnorm_forward(x, gamma, beta, "
                                "bn_param)",
    }
    #: the ops whose cache is the user's own forward's (--forward), and that forward's name
    _FORWARDS = {"batchnorm2d_backward": "spatial_batchnorm_forward",
                 "batchnorm1d_backward": "batchnorm_forward"}

    def supports(self, op: Op) -> bool:
        return op.name in self._OPS

    def forward_name(self, op: Op) -> str | None:
        return self._FORWARDS.get(op.name)

    def accepts(self, op: Op, case: Case) -> bool:
        # pool_param has no padding; it has pool_height and pool_width: any window
        return not (op.name.startswith("maxpool") and case.padded)

    def signature(self, op: Op) -> str:
        return self._OPS[op.name]

    def shown(self, op: Op, name: str) -> str:
        # (out, cache) = conv_forward_naive(...); conv_backward_naive(dout, cache)
        return {"y": "out", "delta": "dout"}.get(name, name)

    def skip_words(self, op: Op) -> str:
        return "padding: pool_param has none"

    def tensor(self, op, name, array, case, layout):
        if op.name == "dense_backward" and name in ("w", "dw"):
            return array.T
        if op.name == "dense_backward" and name in ("x", "dx"):
            return array.reshape(_affine_x_shape(case))
        return array

    def axes(self, op, name, layout):
        names = op.axes.get(name, ())
        if op.name == "dense_backward" and name in ("w", "dw"):
            return names[::-1]
        return names

    #: the names CS231n's calls give cnngrad's arrays
    _NAMES = {"delta": "dout", "logits": "x", "labels": "y"}

    def bind(self, fn, op, case, layout, keywords, forward) -> Call:
        # as the user's call sees them: affine's w (in, out), its x of any shape
        a = {k: self.tensor(op, k, v, case, layout).copy() for k, v in case.arrays.items()}
        return _handing(self._bound(fn, op, case, a, forward), a, self._NAMES)

    def _bound(self, fn, op, case, a: dict, forward) -> Call:
        p, name = case.params, op.name
        if name.startswith("conv2d"):
            conv_param = {"stride": p["stride"], "pad": p["padding"]}
            if name == "conv2d_forward":
                return Call(lambda: fn(a["x"], a["w"], a["b"], conv_param),
                            f"{_name(fn)}(x, w, b, conv_param)")
            return self._backward(fn, forward, (a["x"], a["w"], a["b"], conv_param), a["delta"])
        if name.startswith("maxpool"):
            kh, kw = (p["size"], p["size"]) if isinstance(p["size"], int) else p["size"]
            pool_param = {"pool_height": kh, "pool_width": kw, "stride": p["stride"]}
            if name == "maxpool2d_forward":
                return Call(lambda: fn(a["x"], pool_param), f"{_name(fn)}(x, pool_param)")
            return self._backward(fn, forward, (a["x"], pool_param), a["delta"])
        if name == "dense_backward":
            return self._backward(fn, forward, (a["x"], a["w"], a["b"]), a["delta"])
        if name == "softmax_cross_entropy_backward":
            return Call(lambda: fn(a["logits"], a["labels"]), f"{_name(fn)}(x, y)")
        if name in self._FORWARDS:
            bn_param = {"mode": "train", "eps": p["eps"]}
            return self._backward(fn, forward, (a["x"], a["gamma"], a["beta"], bn_param),
                                  a["delta"])
        raise AssertionError(name)

    @staticmethod
    def _backward(fn, forward, inputs: tuple, delta: np.ndarray) -> Call:
        def run():
            cache = inputs if forward is None else _cache_of(forward(*inputs))
            return fn(delta, cache)

        return Call(run, f"{_name(fn)}(dout, cache)")

    def unpack(self, op, raw) -> dict:
        if op.name.endswith("_forward"):
            return {"y": _first_of_pair(raw, "out")}
        return super().unpack(op, raw)


def _affine_x_shape(case: Case) -> tuple[int, ...]:
    """CS231n's affine layers take x of any shape (N, d_1, ..., d_k), reshaped to (N, D):
    an even D of 4 or more comes as (N, 2, D/2), so that a backward pass that never reshapes
    x (x.T @ dout) or never gives dx x's shape back fails as it does in the assignment."""
    n, fan_in = case.arrays["x"].shape
    return (n, 2, fan_in // 2) if fan_in >= 4 and fan_in % 2 == 0 else (n, fan_in)


def _cache_of(raw):
    if not isinstance(raw, (tuple, list)) or len(raw) != 2:
        raise ResultError(f"the forward function returned {_kind(raw)}; expected "
                          "(out, cache)")
    return raw[1]


def _dls_upstream(op: Op) -> str:
    """The name the Deep Learning Specialization gives the upstream delta: ``dA`` after a
    pool, ``dZ`` after a conv or a linear step."""
    return "dA" if op.name.startswith(("maxpool", "avgpool")) else "dZ"


class DLSStyle(Style):
    name = "dls"
    layout = "nhwc"
    words = "the Deep Learning Specialization's (dZ, cache) functions"
    _OPS = {
        "conv2d_forward": "conv_forward(A_prev, W, b, hparameters) -> (Z, cache)",
        "conv2d_backward": "conv_backward(dZ, cache) -> (dA_prev, dW, db); "
                           "cache = (A_prev, W, b, hparameters)",
        "maxpool2d_forward": "pool_forward(A_prev, hparameters, mode=\"max\") -> (A, cache)",
        "maxpool2d_backward": "pool_backward(dA, cache, mode=\"max\") -> dA_prev; "
                              "cache = (A_prev, hparameters)",
        "avgpool2d_forward": "pool_forward(A_prev, hparameters, mode=\"average\") -> "
                             "(A, cache)",
        "avgpool2d_backward": "pool_backward(dA, cache, mode=\"average\") -> dA_prev; "
                              "cache = (A_prev, hparameters)",
        "dense_backward": "linear_backward(dZ, cache) -> (dA_prev, dW, db); cache = (A_prev, "
                          "W, b), one example per column, dW and db averaged over the "
                          "examples",
    }

    def supports(self, op: Op) -> bool:
        return op.name in self._OPS

    def accepts(self, op: Op, case: Case) -> bool:
        # W is (f, f, ...) and pooling's hparameters have one f and no padding
        if op.name.startswith(("maxpool", "avgpool")):
            return case.square and not case.padded
        return case.square

    def signature(self, op: Op) -> str:
        return self._OPS[op.name]

    def shown(self, op: Op, name: str) -> str:
        # as the assignment's code names them: conv_backward(dZ, cache) -> (dA_prev, dW, db)
        if name == "y":
            return "Z" if op.name.startswith("conv2d") else "A"
        if name == "delta":
            return _dls_upstream(op)
        return {"x": "A_prev", "w": "W", "dx": "dA_prev", "dw": "dW"}.get(name, name)

    #: Slips whose words are the layout's own: linear_backward's examples are columns,
    #: Z = W·A_prev + b
    _SLIP_WORDS = {("dense_backward", "weights_transposed"):
                   "matches W·dZ where Wᵀ·dZ was needed (Z = W·A_prev + b, so dA_prev = "
                   "Wᵀ·dZ)"}

    def slip_words(self, op: Op, slip: str, words: str) -> str:
        if (op.name, slip) in self._SLIP_WORDS:
            return self._SLIP_WORDS[(op.name, slip)]
        # "ignored in dx (x read at ...)": the arrays as the course names them
        return re.sub(r"\b(dx|dw|x)\b", lambda m: self.shown(op, m.group(1)), words)

    def skip_words(self, op: Op) -> str:
        if op.name.startswith(("maxpool", "avgpool")):
            return "non-square windows and padding: hparameters hold one f and no padding"
        return "non-square kernels: W is (f, f, n_C_prev, n_C)"

    def tensor(self, op, name, array, case, layout):
        if op.name == "dense_backward":
            m = case.arrays["x"].shape[0]
            if name in ("x", "dx", "delta"):
                return np.ascontiguousarray(array.T)
            if name == "db":
                if array.ndim == 2:  # (N, out): a bias gradient per example, not summed
                    return np.ascontiguousarray(array.T) / m
                return array.reshape(-1, 1) / m
            if name == "b":
                return array.reshape(-1, 1)
            if name == "dw":
                return array / m
            return array
        if name in ("b", "db") and op.name.startswith("conv2d"):
            return array.reshape(1, 1, 1, -1)
        return super().tensor(op, name, array, case, "nhwc")

    def axes(self, op, name, layout):
        if op.name == "dense_backward" and name in ("x", "dx", "delta"):
            return op.axes[name][::-1]
        if name == "db" and op.name.startswith("conv2d"):
            return ("1", "1", "1", "F")
        return super().axes(op, name, "nhwc")

    def bind(self, fn, op, case, layout, keywords, forward) -> Call:
        t = {k: self.tensor(op, k, v.copy(), case, "nhwc") for k, v in case.arrays.items()}
        return _handing(self._bound(fn, op, case, t, forward), t,
                        {name: self.shown(op, name) for name in ("x", "w", "delta")})

    def _bound(self, fn, op, case, t: dict, forward) -> Call:
        p, name = case.params, op.name
        if name.startswith("conv2d"):
            hparameters = {"stride": p["stride"], "pad": p["padding"]}
            if name == "conv2d_forward":
                return Call(lambda: fn(t["x"], t["w"], t["b"], hparameters),
                            f"{_name(fn)}(A_prev, W, b, hparameters)")
            inputs = (t["x"], t["w"], t["b"], hparameters)
            return self._backward(fn, forward, inputs, t["delta"], {})
        if name.startswith(("maxpool", "avgpool")):
            mode = "max" if name.startswith("max") else "average"
            hparameters = {"f": p["size"], "stride": p["stride"]}
            if name.endswith("_forward"):
                return Call(lambda: fn(t["x"], hparameters, mode=mode),
                            f"{_name(fn)}(A_prev, hparameters, mode={mode!r})")
            return self._backward(fn, forward, (t["x"], hparameters), t["delta"],
                                  {"mode": mode}, upstream=_dls_upstream(op))
        if name == "dense_backward":
            return self._backward(fn, forward, (t["x"], t["w"], t["b"]), t["delta"], {})
        raise AssertionError(name)

    @staticmethod
    def _backward(fn, forward, inputs: tuple, delta: np.ndarray, extra: dict,
                  upstream: str = "dZ") -> Call:
        """The call of a backward function, shown with the name its signature gives the
        upstream delta (``dZ`` after a conv or a linear step, ``dA`` after a pool)."""
        def run():
            if forward is None:
                cache = inputs
            else:
                cache = _cache_of(forward(*inputs, **extra))
            return fn(delta, cache, **extra)

        mode = "".join(f", mode={v!r}" for v in extra.values())
        return Call(run, f"{_name(fn)}({upstream}, cache{mode})")

    def unpack(self, op, raw) -> dict:
        if op.name.endswith("_forward"):
            return {"y": _first_of_pair(raw, "Z" if op.name.startswith("conv") else "A")}
        return super().unpack(op, raw)


#: Every calling style by name.
STYLES: dict[str, Style] = {style.name: style for style in (Style(), CS231nStyle(), DLSStyle())}
