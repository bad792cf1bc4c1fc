"""The ``--format json`` result, exactly as the contract describes it."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np

from cnngrad import __version__
from cnngrad.network import Trace
from cnngrad.render.numbers import json_number


def to_jsonable(value):
    """ndarray/scalar → nested lists of JSON numbers (``"p/q"`` strings when exact)."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return _nested(value)
        return value.tolist()
    if isinstance(value, (Fraction, int, float, np.floating, np.integer)):
        return json_number(value)
    raise TypeError(f"cannot put {type(value).__name__} into JSON")


def _nested(array):
    # iterating a 1-D object array yields its elements (Fractions), not 0-d arrays
    if not isinstance(array, np.ndarray):
        return _exact_number(array)
    if array.ndim == 0:
        return _exact_number(array.item())
    return [_nested(sub) for sub in array]


def _exact_number(value):
    # exact arrays hold the int 0 the engine starts sums from: still exact, so "0" like "p/q"
    if isinstance(value, int) and not isinstance(value, bool):
        value = Fraction(value)
    return json_number(value)


def result_dict(trace: Trace, *, include_backward: bool = True) -> dict:
    """The contract's result object."""
    layers = []
    for layer in trace.layers:
        entry = {
            "index": layer.index,
            "name": layer.name,
            "type": layer.type,
            "output": to_jsonable(trace.shown(layer.output)),
        }
        if include_backward:
            entry["delta_out"] = to_jsonable(trace.shown(layer.delta_out))
            if isinstance(layer.delta_in, dict):  # add/concat: one delta per input
                entry["delta_in"] = {source: to_jsonable(trace.shown(value))
                                     for source, value in layer.delta_in.items()}
            else:
                entry["delta_in"] = to_jsonable(trace.shown(layer.delta_in))
            entry["grads"] = {key: to_jsonable(grad) for key, grad in layer.grads.items()}
            updated = trace.updated(layer)
            if trace.lr is not None:
                entry["updated"] = {key: to_jsonable(value) for key, value in updated.items()}
        layers.append(entry)
    return {
        "cnngrad": __version__,
        "title": trace.problem.title,
        "loss": to_jsonable(trace.loss),
        "layers": layers,
    }


def render_json(trace: Trace, *, include_backward: bool = True) -> str:
    return dumps(result_dict(trace, include_backward=include_backward)) + "\n"


def dumps(value, indent: int = 0) -> str:
    """JSON with objects indented and each innermost row of numbers on one line, so a matrix
    reads as a matrix; numbers keep full float64 precision (``repr``)."""
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad}  {json.dumps(key)}: {dumps(item, indent + 1)}' for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(item, (list, dict)) for item in value):
            return "[" + ", ".join(json.dumps(item, allow_nan=False) for item in value) + "]"
        items = [pad + "  " + dumps(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)
