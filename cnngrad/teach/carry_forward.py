"""Error carried forward: what a student's own upstream answers imply one step downstream.

A wrong answer is "carried forward" when it is right for the value the engine computes from
the student's own answers one step upstream (contract v1.1, "Grading"):

- a layer's ``delta_in`` and ``grads``: the layer's step run backward on the student's
  ``delta_out`` of that layer (or ``delta_in`` of the layer that reads it) and the student's
  value of the layer's input (the previous layer's ``output``; the problem's input for the
  first layer);
- a layer's ``output``: the step run forward on the student's value of its input;
- a layer's ``delta_out``: the ``delta_in`` of the layer that reads it, as above; for the
  last layer, the loss's gradient at the student's output of that layer;
- ``loss``: the loss of the student's output of the last layer.

A tensor the student did not answer stands in with what their answers further upstream
imply, else with its true value, cell by cell.  Nothing is
carried forward unless one of the upstream answers used has a wrong cell: a student whose
upstream answers are right is judged against the true value alone.  The layer's step is the
one the engine runs, asked of the layer registry (:func:`run_step`: its family's ``forward``
and ``backward``; the loss's family for the loss); no slip or layer type is special-cased
here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.errors import CnnGradError
from cnngrad.families import layer_family, loss_family
from cnngrad.network import LayerTrace, Trace

__all__ = ["Implied", "StudentValues", "implied_value", "run_step", "run_loss"]


def run_step(spec, x: np.ndarray, delta_out: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray | None, dict | None]:
    """One layer's step on given values, asked of its family in the layer registry: the one
    place this module runs a layer (one input: the layers of contract v1 read one each).

    Parameters
    ----------
    spec : LayerSpec
    x : ndarray, the layer's input in internal layout ((N, C, H, W) or (N, K))
    delta_out : ndarray shaped as the output (internal), optional

    Returns
    -------
    output : ndarray (internal)
    delta_in : ndarray shaped as ``x``, or None without ``delta_out``
    grads : dict (each parameter's gradient as the parameter was given), or None
    """
    family = layer_family(spec.type)
    output = family.forward(spec, [x])
    if delta_out is None:
        return output, None, None
    (delta_in,), grads = family.backward(spec, [x], output, delta_out)
    return output, delta_in, grads


def run_loss(problem, output: np.ndarray) -> tuple[Any, np.ndarray]:
    """The loss and dE/d(output) at a given output of the last layer (internal layout);
    the problem has a loss (a given ``delta`` implies nothing)."""
    return loss_family(problem.loss.type).loss_and_delta(problem.loss, output)


@dataclass(frozen=True)
class Implied:
    """A tensor as the student's own upstream answers imply it."""

    value: np.ndarray  # display shape, the dtype of the trace
    sources: tuple[str, ...]  # the upstream paths whose answers had a wrong cell


class StudentValues:
    """The student's value of any tensor: their answered cells; where they answered
    nothing, what their answers further upstream imply; else the true value."""

    def __init__(self, trace: Trace, answers: Mapping[str, Any]) -> None:
        self.trace = trace
        self.answers = answers  # path -> TensorCheck (answered, right, given, truth)
        self._implied: dict[str, Implied | None] = {}
        self.index = {layer.name: i for i, layer in enumerate(trace.layers)}

    # -- the student's values ------------------------------------------------

    def value(self, paths: tuple[str, ...], truth_shown: np.ndarray,
              internal_shape: tuple[int, ...] | None) -> tuple[np.ndarray, list[str]]:
        """The first path's answered cells win, then the next path's, then what the
        student's upstream answers imply for the first path, then the truth; and the paths
        whose answers (used here or upstream) have a wrong cell."""
        fallback = self.implied(paths[0])
        if fallback is not None and fallback.value.shape == np.shape(truth_shown):
            value = np.array(fallback.value, copy=True)
            wrong_sources = list(fallback.sources)
        else:
            value = np.array(truth_shown, copy=True)
            wrong_sources = []
        exact = value.dtype == object
        filled = np.zeros(value.shape, dtype=bool)
        for path in paths:
            check = self.answers.get(path)
            if check is None or check.truth.shape != value.shape:
                continue
            take = check.answered & ~filled
            if not take.any():
                continue
            if value.ndim == 0:
                given = check.given[()]
                value = np.array(given if exact else float(given),
                                 dtype=object if exact else value.dtype)
            else:
                given = check.given[take]
                value[take] = given if exact else np.array([float(g) for g in given])
            filled |= take
            if (check.answered & ~check.right)[take].any() and path not in wrong_sources:
                wrong_sources.append(path)
        if filled.all():  # every cell answered: nothing came from further upstream
            wrong_sources = [path for path in wrong_sources if path in paths]
        if internal_shape is not None:
            value = self.trace.layout.to_internal(value, internal_shape)
        return value, wrong_sources

    def input_of(self, index: int) -> tuple[np.ndarray, list[str]]:
        layer = self.trace.layers[index]
        if index == 0:
            return layer.input, []
        previous = self.trace.layers[index - 1]
        return self.value((f"{previous.name}.output",), self.trace.shown(previous.output),
                          previous.output.shape)

    def delta_out_of(self, index: int) -> tuple[np.ndarray, list[str]]:
        layer = self.trace.layers[index]
        paths = [f"{layer.name}.delta_out"]
        reader = _reader(self.trace, index)
        if reader is not None:
            paths.append(f"{reader.name}.delta_in")
        return self.value(tuple(paths), self.trace.shown(layer.delta_out),
                          layer.delta_out.shape)

    def last_output(self) -> tuple[np.ndarray, list[str]]:
        last = self.trace.layers[-1]
        return self.value((f"{last.name}.output",), self.trace.shown(last.output),
                          last.output.shape)

    # -- one step downstream -------------------------------------------------

    def implied(self, path: str) -> Implied | None:
        """What the student's answers imply at ``path`` (None: nothing upstream is wrong,
        or the step cannot be run on the student's values)."""
        if path not in self._implied:
            self._implied[path] = None  # a cycle cannot happen; this guards it anyway
            try:
                # a student's value may overflow a sigmoid or break a loss's domain: then
                # nothing is carried forward, and no warning escapes
                with np.errstate(all="ignore"):
                    self._implied[path] = self._compute(path)
            except (CnnGradError, ArithmeticError, ValueError):
                self._implied[path] = None
        return self._implied[path]

    def _compute(self, path: str) -> Implied | None:
        trace = self.trace
        if path == "loss":
            if trace.problem.loss is None:
                return None
            output, sources = self.last_output()
            if not sources:
                return None
            loss, _ = run_loss(trace.problem, output)
            return Implied(np.asarray(_scalar(loss, trace)), tuple(sources))
        name, _, rest = path.partition(".")
        index = self.index.get(name)
        if index is None:
            return None
        kind, _, key = rest.partition(".")
        if kind == "delta_out":
            reader = _reader(trace, index)
            if reader is not None:
                return self.implied(f"{reader.name}.delta_in")
            if trace.problem.loss is None:
                return None
            output, sources = self.last_output()
            if not sources:
                return None
            _, delta = run_loss(trace.problem, output)
            return Implied(trace.shown(np.asarray(delta)), tuple(sources))
        layer = trace.layers[index]
        if kind not in ("output", "delta_in", "grads"):
            return None
        x, sources = self.input_of(index)
        if kind == "output":
            if not sources:
                return None
            output, _, _ = run_step(layer.spec, x)
            return Implied(trace.shown(output), tuple(sources))
        delta_out, delta_sources = self.delta_out_of(index)
        sources = sources + [s for s in delta_sources if s not in sources]
        if not sources:
            return None
        _, delta_in, grads = run_step(layer.spec, x, delta_out.astype(layer.delta_out.dtype,
                                                                       copy=False))
        value = trace.shown(delta_in) if kind == "delta_in" else grads.get(key)
        if value is None:
            return None
        return Implied(np.asarray(value), tuple(sources))


def _reader(trace: Trace, index: int) -> LayerTrace | None:
    """The layer that reads layer ``index``'s output (the next one in a chain)."""
    return trace.layers[index + 1] if index + 1 < len(trace.layers) else None


def implied_value(trace: Trace, path: str, answers: Mapping[str, Any]) -> Implied | None:
    """The value of ``path`` recomputed from the student's answers one step upstream.

    Parameters
    ----------
    trace : Trace
        The true computation.
    path : str
        A tensor path (no element index).
    answers : mapping path → TensorCheck
        The student's checked answers (``answered``, ``right`` and ``given`` arrays).

    Returns
    -------
    Implied, or None when no upstream answer used has a wrong cell, or the path has no
    upstream step (``updated.*``; a ``delta_out`` given by the problem).
    """
    return StudentValues(trace, answers).implied(path)


def _scalar(value, trace: Trace):
    if isinstance(value, Fraction) or isinstance(trace.loss, Fraction):
        return Fraction(value)
    return float(value)
