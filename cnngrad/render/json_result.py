"""The ``--format json`` result, exactly as the contract describes it.

Objects are indented and each innermost row of numbers is one line, so a matrix reads as a
matrix.  Numbers are the shortest text that reads back as the same float64 (``0.1``,
``0.30000000000000004``, ``1.5e-7``, ``1e16``: an exponent below 1e-5 and from 1e16 on, as
``orjson`` writes them); exact results (``--exact``) are strings ``"p/q"``.

The result is written as a stream of pieces (:func:`iter_json`): a big tensor is formatted a
block of rows at a time by ``orjson`` (whole arrays in one call, at memory speed), a small one
by the same rules in Python, so a small problem never pays for importing ``orjson`` and the
memory needed stays a small multiple of one block, whatever the size of the result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from cnngrad import __version__
from cnngrad.network import Trace
from cnngrad.render.numbers import json_number

# a tensor with at least this many numbers is formatted by orjson; below it, orjson's import
# (about 8 ms) costs more than it saves
ORJSON_FROM_ELEMENTS = 4096
# numbers formatted per orjson call: the working memory is a few times this many bytes × 25
BLOCK_ELEMENTS = 1 << 16


def float_text(value: float) -> str:
    """A float as the JSON number cnngrad writes: the shortest round-trip digits (``repr``'s),
    positional from 1e-5 up to 1e16, otherwise ``<mantissa>e<exponent>`` (``1.5e-7``,
    ``1e16``) — orjson's rules, so small and big tensors read the same."""
    text = float.__repr__(value)  # np.float64's own repr would say np.float64(…)
    if "e" not in text:
        if text in ("nan", "inf", "-inf"):
            raise ValueError("Out of range float values are not JSON compliant")
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if power == -5:  # 1e-5 ≤ |value| < 1e-4: positional, as orjson writes it
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{mantissa.lstrip('-').replace('.', '')}"
    return f"{mantissa}e{power}"


def scalar_text(value) -> str:
    """A JSON scalar (number, string, bool, None) as cnngrad writes it."""
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, np.floating):
        return float_text(float(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return _STRICT.encode(value)


#: ``json.dumps(value, allow_nan=False)`` builds an encoder at every call (its options differ
#: from the default's); one built once: a short string in 65 ns instead of 700, null in 0.73
#: µs instead of 1.42 (timeit); a check report of 65,536 wrong cells as JSON, 2.3 → 2.0 s
_STRICT = json.JSONEncoder(allow_nan=False)


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


def _layer_entries(trace: Trace, include_backward: bool):
    """(layer, its result entries in the contract's order) — arrays are left as arrays."""
    for layer in trace.layers:
        entry = {
            "index": layer.index,
            "name": layer.name,
            "type": layer.type,
            "output": trace.shown(layer.output),
        }
        if include_backward:
            entry["delta_out"] = trace.shown(layer.delta_out)
            if isinstance(layer.delta_in, dict):  # add/concat: one delta per input
                entry["delta_in"] = {source: trace.shown(value)
                                     for source, value in layer.delta_in.items()}
            else:
                entry["delta_in"] = trace.shown(layer.delta_in)
            entry["grads"] = dict(layer.grads)
            if trace.lr is not None:
                entry["updated"] = trace.updated(layer)
        yield entry


def iter_json(trace: Trace, *, include_backward: bool = True) -> Iterator[str]:
    """The result as pieces of text whose concatenation is :func:`render_json`'s; each layer's
    ``updated`` parameters are computed only when they are written."""
    yield "{\n"
    yield f'  "cnngrad": {scalar_text(__version__)},\n'
    yield f'  "title": {scalar_text(trace.problem.title)},\n'
    yield '  "loss": '
    yield from _iter_value(trace.loss, 1)
    yield ',\n  "layers": '
    if not trace.layers:
        yield "[]\n}\n"
        return
    yield "[\n"
    for position, entry in enumerate(_layer_entries(trace, include_backward)):
        if position:
            yield ",\n"
        yield "    "
        yield from _iter_value(entry, 2)
    yield "\n  ]\n}\n"


def render_json(trace: Trace, *, include_backward: bool = True) -> str:
    return "".join(iter_json(trace, include_backward=include_backward))


def dumps(value, indent: int = 0) -> str:
    """JSON with objects indented and each innermost row of numbers on one line, so a matrix
    reads as a matrix; numbers keep full float64 precision.  ``value`` may hold ndarrays."""
    return "".join(_iter_value(value, indent))


def _iter_value(value, indent: int) -> Iterator[str]:
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        yield "{\n"
        for position, (key, item) in enumerate(value.items()):
            yield (",\n" if position else "") + f"{pad}  {json.dumps(key)}: "
            yield from _iter_value(item, indent + 1)
        yield "\n" + pad + "}"
    elif isinstance(value, np.ndarray):
        yield from _iter_array(value, indent)
    elif isinstance(value, (list, tuple)):
        if all(not isinstance(item, (list, tuple, dict, np.ndarray)) for item in value):
            yield "[" + ", ".join(map(_plain_scalar, value)) + "]"
            return
        yield "[\n"
        for position, item in enumerate(value):
            yield (",\n" if position else "") + pad + "  "
            yield from _iter_value(item, indent + 1)
        yield "\n" + pad + "]"
    else:
        yield _plain_scalar(value)


def _plain_scalar(value) -> str:
    if isinstance(value, Fraction):
        return scalar_text(json_number(value))
    return scalar_text(value)


def _iter_array(array: np.ndarray, indent: int) -> Iterator[str]:
    """An ndarray as nested JSON lists: fast and streamed for numbers, element by element for
    exact (object) arrays."""
    if array.dtype == object or array.dtype.kind not in "fi" or array.size == 0:
        yield from _iter_value(to_jsonable(array), indent)
        return
    if array.ndim == 0:
        yield _plain_scalar(array.item())
        return
    rows = _row_writer(array.size, array.dtype)
    if array.ndim == 1:
        # a long vector is one row: its numbers go out a block at a time
        yield "["
        for start in range(0, array.size, BLOCK_ELEMENTS):
            if start:
                yield ", "
            yield from rows(array[np.newaxis, start:start + BLOCK_ELEMENTS], "", bare=True)
        yield "]"
        return
    yield from _iter_blocks(array, indent, rows)


def _iter_blocks(array: np.ndarray, indent: int, rows) -> Iterator[str]:
    pad = "  " * indent
    inner = pad + "  "
    yield "[\n" + inner
    if array.ndim == 2:
        yield from rows(array, ",\n" + inner)
    else:
        for position, sub in enumerate(array):
            if position:
                yield ",\n" + inner
            yield from _iter_blocks(sub, indent + 1, rows)
    yield "\n" + pad + "]"


def _row_writer(size: int, dtype: np.dtype):
    """A function (2-D block, separator) → pieces: the block's rows ``[a, b]`` joined by the
    separator, a bounded number of rows per piece."""
    orjson = None
    if size >= ORJSON_FROM_ELEMENTS:
        try:
            import orjson  # only for big tensors: its import costs start-up
        except ImportError:  # pragma: no cover - orjson is a dependency
            orjson = None
    floating = dtype.kind == "f"
    target = np.float64 if floating else np.int64

    def rows(block: np.ndarray, separator: str, bare: bool = False) -> Iterator[str]:
        count, width = block.shape
        step = max(1, BLOCK_ELEMENTS // max(width, 1))
        for start in range(0, count, step):
            chunk = block[start:start + step]
            if floating and not np.isfinite(chunk).all():
                raise ValueError("Out of range float values are not JSON compliant")
            if start:
                yield separator
            if orjson is not None:
                # float32 is widened first: its values, not its shortest float32 digits.  As
                # Python numbers: orjson 3.12 and 3.13's own numpy writer (OPT_SERIALIZE_NUMPY)
                # corrupts memory and aborts the process on some 2-D float64 blocks
                # (tests/data/orjson-abort-block.npy); its list writer costs 12 ns a number more
                compact = orjson.dumps(chunk.astype(target, copy=False).tolist())
                text = compact[2:-2] if bare else compact[1:-1]
                # orjson ≥ 3.9 writes 1e+16 where older ones wrote 1e16: one style whatever
                # the version, the one float_text writes for small tensors
                text = text.replace(b"e+", b"e").replace(b",", b", ")
                if not bare and len(chunk) > 1:
                    text = text.replace(b"], [", b"]," + separator[1:].encode() + b"[")
                yield text.decode("ascii")
            else:
                number = float_text if floating else str
                lines = (", ".join(map(number, row)) for row in chunk.tolist())
                yield next(lines) if bare else separator.join(f"[{line}]" for line in lines)

    return rows
