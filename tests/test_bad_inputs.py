"""Bad input never crashes cnngrad, and nothing is lost.

A corpus of malformed problems, each run through the command line (``cnngrad backward``,
table and JSON): every one must exit 2 with one line ``error: <file>: <where>: <what>`` (what
to do about it, if anything, on the same line after ``; hint: ``), no traceback, in well under
a second.  Then resource limits
(a padding of 10⁹ fails in milliseconds; ``--max-elements`` raises the limit; what the
engine allocates is what the checks bounded), ``-o`` safety (atomic, never over an input
file), and a hypothesis search for any exception other than a ProblemError.
"""

from __future__ import annotations

import codecs
import copy
import io
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.errors import (CnnGradError, ExactUnsupportedError, ProblemError, ResourceError,
                            closest)
from cnngrad.families import LAYERS, layer_fields
from cnngrad.layers._common import pool_output_size
from cnngrad.problem import SHORTHAND_KEYS, TOP_KEYS_LAYERS, _Builder, build_problem

LAYER_FIELDS = layer_fields()
#: the layer types as every message lists them: sorted, whatever the slip
ALLOWED_TYPES = "allowed: " + ", ".join(sorted(LAYERS))

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
runner = CliRunner()

#: Wall-clock budget of one bad input through the CLI (in-process; start-up not included).
BUDGET = 1.0
DROP = object()  # a key to remove
FOLDER = object()  # a file entry that is a folder

# ------------------------------------------------------------------ the documents mutated

SHORT = {
    "input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
    "kernel": [[1, 0], [0, 1]],
    "delta": [[1, 0], [0, 1]],
}

NET = {
    "input": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
    "layers": [
        {"type": "conv2d", "kernel": [[1, 0], [0, 1]]},  # 3×3
        {"type": "relu"},
        {"type": "maxpool2d", "size": 2, "stride": 1},  # 2×2
        {"type": "flatten"},  # 4
        {"type": "dense", "weights": [[1, 0, 0, 1], [0, 1, 1, 0]]},  # 2
    ],
    "loss": {"type": "cross_entropy", "target": 1},
}

RGB = [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]] * 3  # 3 channels of 3×3


def _apply(doc: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if value is DROP:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def short(**changes) -> dict:
    """The one-conv shorthand with top-level keys changed (DROP removes one)."""
    return _apply(copy.deepcopy(SHORT), changes)


def net(**changes) -> dict:
    """The five-layer network with top-level keys changed."""
    return _apply(copy.deepcopy(NET), changes)


def layer(index: int, **changes) -> dict:
    """The network with the fields of layers[index] changed."""
    doc = copy.deepcopy(NET)
    _apply(doc["layers"][index], changes)
    return doc


def conv(delta_shape=None, input=None, **fields) -> dict:
    """One conv2d layer with the given fields, delta given (zeros of delta_shape)."""
    doc = {"input": input if input is not None else SHORT["input"],
           "layers": [dict({"type": "conv2d", "kernel": [[1, 0], [0, 1]]}, **fields)],
           "delta": np.zeros(delta_shape or (2, 2)).tolist()}
    return doc


def pool(kind="maxpool2d", delta_shape=(1, 1), **fields) -> dict:
    """One pooling layer over the 3×3 input (size 2: a 1×1 output), delta given."""
    doc = {"input": SHORT["input"], "layers": [dict({"type": kind, "size": 2}, **fields)],
           "delta": np.zeros(delta_shape).tolist()}
    _apply(doc["layers"][0], {k: v for k, v in fields.items() if v is DROP})
    return doc


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# ------------------------------------------------------------------ the corpus


@dataclass
class Bad:
    doc: object  # dict (dumped as JSON), str or bytes (written as is), None (no file)
    where: str | re.Pattern | None  # exact location after "<file>: ", or None for none
    what: str | re.Pattern  # a key word of the message, or a pattern searched in it
    hint: str | None = None  # a key word of the hint (after '; hint: ')
    files: dict = field(default_factory=dict)  # CSV/NPY files beside the problem
    file: str | None = "bad.json"  # the file the message names (None: no file)
    args: tuple = ()  # extra command-line arguments


def bad(id: str, doc, where, what, **kw):
    return pytest.param(Bad(doc, where, what, **kw), id=id)


def _deep(depth: int) -> str:
    return '{"input": ' + "[" * depth + "1" + "]" * depth + ', "kernel": 1, "delta": 1}'


_RANDOM_BYTES = np.random.default_rng(3).bytes(3 * 2**20)
_LINE_COL = re.compile(r"line \d+, column \d+")

# each integer option: (JSON path, how to build a document with that option set to a value)
INT_OPTIONS = {
    "stride": ("stride", lambda v: short(stride=v)),
    "dilation": ("dilation", lambda v: short(dilation=v)),
    "groups": ("layers[0].groups", lambda v: conv(groups=v)),
    "size": ("layers[0].size", lambda v: pool(size=v)),
    "pool-stride": ("layers[0].stride", lambda v: pool(stride=v)),
}
INT_BAD_VALUES = {
    "zero": (0, "expected an integer ≥ 1, got 0"),
    "negative": (-1, "expected an integer ≥ 1, got -1"),
    "fraction": (Decimal("1.5"), "got 1.5"),
    "string": ("2", "got '2'"),
    "list3": ([1, 2, 3], "got a list of 3"),
    "true": (True, "got true"),
    "null": (None, "got null"),
    "object": ({}, "got an object"),
}


def _int_option_cases():
    for option, (where, make) in INT_OPTIONS.items():
        for label, (value, what) in INT_BAD_VALUES.items():
            if option == "groups" and label == "list3":
                what = "got a list"
            # a number in quotes: the hint says to drop them
            hint = "drop the quotes: write 2, a number, not a string" if label == "string" \
                else None
            yield bad(f"{option}-{label}", make(value), where, what, hint=hint)


def _dumps(doc) -> str:
    return json.dumps(doc, default=lambda d: float(d) if isinstance(d, Decimal) else d)


CORPUS = [
    # --- files that are not JSON text
    bad("empty-file", "", "line 1, column 1", "empty file"),
    bad("whitespace-only", " \n\t\n", "line 3, column 1", "empty file"),
    bad("random-3MB", _RANDOM_BYTES, _LINE_COL, "(binary file?)"),
    bad("latin-1", '{"title": "café"}'.encode("latin-1"), "line 1, column 15", "not UTF-8"),
    bad("utf-16", '{"input": 1}'.encode("utf-16"), "line 1, column 1", "UTF-16"),
    # UTF-32's little-endian byte order mark begins with UTF-16's: named as what it is
    bad("utf-32", '{"input": 1}'.encode("utf-32"), "line 1, column 1", "(it is UTF-32;"),
    bad("utf-32-be", codecs.BOM_UTF32_BE + '{"input": 1}'.encode("utf-32-be"),
        "line 1, column 1",
        "(it is UTF-32;"),
    # no byte order mark: every other byte 0 around ASCII is UTF-16 (either order), not binary
    bad("utf-16-le-no-mark", '{"input": 1}'.encode("utf-16-le"), "line 1, column 1",
        "(it looks like UTF-16 without a byte order mark; save it as UTF-8)"),
    bad("utf-16-be-no-mark", '{"input": 1}'.encode("utf-16-be"), "line 1, column 1",
        "(it looks like UTF-16 without a byte order mark"),
    bad("one-nul", b"\0", "line 1, column 1", "(binary file?)"),
    # after a BOM: column 9 (three bytes early) and "binary file?" (the BOM's bytes)
    bad("latin-1-after-a-bom", b'\xef\xbb\xbf{"input": "\xe9"}', "line 1, column 12",
        "(byte 0xE9 is 'é' in Latin-1 or Windows-1252"),
    # two images written N×H×W are read as two channels: the hint names both readings
    # a fraction of decimals: integer over integer only
    bad("fraction-of-decimals", {"input": [["1.5/2", 1]], "kernel": [[1]], "delta": [[1, 1]]},
        "input[0][0]", "'1.5/2' is not a number",
        hint='a fraction is a whole number over a whole number, "-1/3" (or give a decimal)'),
    # a loss listed as the last layer (as a Keras model does), a layer by its long name
    bad("loss-as-a-layer", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "conv2d", "kernel": [[1]]}, {"type": "CrossEntropyLoss"}], "delta": [[1]]},
        "layers[1].type", "unknown layer type 'CrossEntropyLoss'",
        hint='cross_entropy is a loss: give it after the layers, "loss": {"type": '
             '"cross_entropy", "target": ...}'),
    bad("convolution-as-a-type", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "convolution", "kernel": [[1]]}], "delta": [[1]]},
        "layers[0].type", "unknown layer type 'convolution'", hint="did you mean 'conv2d'?"),
    # a bias vector with axes of 1 around it: DLS's (1, 1, 1, F), a column n×1
    bad("dls-bias-of-rank-4",
        {"layout": "nhwc", "input": np.ones((1, 3, 3, 1)).tolist(),
         "layers": [{"type": "conv2d", "kernel": np.ones((2, 2, 1, 2)).tolist(),
                     "bias": [[[[0.5, -0.5]]]]}],
         "delta": np.ones((1, 2, 2, 2)).tolist()},
        "layers[0].bias", "expected a tensor of rank 0 to 3, got rank 4 (1×1×1×2)",
        hint="give it as a vector of 2: 1×1×1×2 holds one with axes of 1 around it (numpy: "
             "b.reshape(-1))"),
    bad("dense-bias-as-a-column",
        {"input": [0.1, 0.2], "layers": [{"type": "dense", "weights": [[1, 2], [3, 4], [5, 6]],
                                          "bias": [[0], [0.1], [-0.1]]}],
         "delta": [1, 1, 1]},
        "layers[0].bias", "expected a tensor of rank 0 to 1, got rank 2 (3×1)",
        hint="give it as a vector of 3: 3×1 holds one with axes of 1 around it (numpy: "
             "b.reshape(-1))"),
    # a delta of another layer's shape, or channels-first in a channels-last problem
    bad("delta-of-an-earlier-layer",
        {"input": [[1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 3, 4], [5, 6, 7, 8]],
         "layers": [{"type": "conv2d", "kernel": [[1, -1], [0, 1]]},
                    {"type": "maxpool2d", "size": 2, "stride": 1}],
         "delta": [[1, 1, 1], [1, 1, 1], [1, 1, 1]]},
        "delta", "expected shape 2×2 (the output of maxpool2d_1), got 3×3",
        hint="3×3 is the output of conv2d_1: the delta is dE/d(output) of the last layer, "
             "maxpool2d_1; to start the backward pass at conv2d_1, drop the layers after it"),
    bad("unbatched-delta-channels-first-in-nhwc",
        {"layout": "nhwc", "input": np.ones((3, 4, 2)).tolist(),
         "layers": [{"type": "conv2d", "kernel": np.ones((2, 2, 2, 2)).tolist()}],
         "delta": np.ones((2, 2, 3)).tolist()},
        "delta", "expected shape 2×3×2 (the output of conv2d_1), got 2×2×3",
        hint='the problem is channels-last ("layout": "nhwc"): give the delta as 2×3×2, its '
             "channels on the last axis"),
    bad("conv-bias-as-a-column",
        {"input": [[1, 2], [3, 4]], "layers": [{"type": "conv2d",
                                                "kernel": [[[1]], [[2]]], "bias": [[0.1], [0.2]]}],
         "delta": [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]},
        "layers[0].bias", "bias of shape 2×1 does not fit 2 filter(s) with output 2×2",
        hint="give it as a vector of 2: 2×1 holds one with axes of 1 around it (numpy: "
             "b.reshape(-1))"),
    bad("delta-channels-first-in-nhwc",
        {"layout": "nhwc", "input": np.ones((1, 4, 4, 2)).tolist(),
         "layers": [{"type": "conv2d", "kernel": np.ones((2, 2, 2, 2)).tolist()}],
         "delta": np.ones((1, 2, 3, 3)).tolist()},
        "delta", "expected shape 1×3×3×2 (the output of conv2d_1), got 1×2×3×3",
        hint='the problem is channels-last ("layout": "nhwc"): give the delta as 1×3×3×2, its '
             "channels on the last axis"),
    bad("images-without-a-channel-axis",
        {"input": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 0, 1], [0, 1, 0], [1, 0, 1]]],
         "layers": [{"type": "conv2d", "kernel": [[1, -1], [0, 1]]}],
         "delta": [[[1, 1], [1, 1]]]},
        "layers[0].kernel", "a 2-D kernel is one filter over one channel, but the input has 2 "
        "channels", hint="give a 2×2×2 kernel (channels × rows × cols); or, if the input's 2 "
        "are images of one channel, write it N×C×H×W: 2×1×3×3"),
    # a title saved as Latin-1 / Windows-1252 (Notepad, Excel) is text in another encoding
    bad("latin-1-title", b'{"title": "caf\xe9", "input": 1}', "line 1, column 15",
        "not UTF-8 text (byte 0xE9 is 'é' in Latin-1 or Windows-1252: save the file as UTF-8)"),
    bad("stray-byte", b'{"input": 1\xff}', "line 1, column 12", "not UTF-8 text (binary file?)"),
    # NumPy's own files where text is expected: named, not "binary file?"
    bad("npy-as-problem", b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", "line 1, column 1",
        "is a NumPy .npy file, not text", hint='a problem file names it as {"npy": FILE}'),
    bad("npz-as-problem", b"PK\x03\x04\x14\x00\x00\x00", "line 1, column 1",
        "is a zip archive (a NumPy .npz, a spreadsheet workbook?), not text",
        hint='save a spreadsheet as CSV; give an array saved by numpy.save as {"npy": FILE}'),
    # binary bytes past ASCII in a run are no Latin-1 text
    bad("pdf-bytes", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "line 2, column 2",
        "not UTF-8 text (binary file?)"),
    # an empty key is placed at the object that holds it, not at "layers[0]."
    bad("empty-layer-key", json.dumps({"input": [[1, 2], [3, 4]],
                                       "layers": [{"type": "relu", "": 2}],
                                       "delta": [[1, 1], [1, 1]]}).encode(),
        "layers[0]", "unknown key '' in a relu layer"),
    bad("empty-top-level-key", json.dumps(dict(SHORT, **{"": 2})).encode(),
        "top level", "unknown key ''"),
    bad("nuls", b"\0\0\0\0", "line 1, column 1", "(binary file?)"),
    # one byte order mark is read past; a second (a file converted twice) is named as such,
    # not in Python's words ("decode using utf-8-sig")
    bad("two-byte-order-marks", b"\xef\xbb\xbf" * 2 + json.dumps(SHORT).encode(),
        "line 1, column 1", "a second byte order mark (U+FEFF", hint="remove it"),
    bad("nul-byte", b'{"input": \x00}', "line 1, column 11", "not text: a NUL byte"),
    bad("truncated", '{"input": [[1, 2], [3', "line 1, column 22", "ends too early"),
    bad("truncated-string", '{"input": [[1, 2]], "tit', "line 1, column 21", "unterminated"),
    bad("truncated-key", '{"input"', "line 1, column 9", "ends too early"),
    # cut inside a number: truncation, not a number that needs digits after its point
    bad("truncated-after-a-point", '{"input": [[1.', "line 1, column 14", "ends too early"),
    bad("truncated-in-an-exponent", '{"input": [[1.5e-', "line 1, column 16",
        "ends too early"),
    bad("truncated-after-a-minus", '{"input": [[-', "line 1, column 13", "ends too early"),
    # a slip before the end keeps its own hint, whole numbers left after it or not
    bad("truncated-after-a-missing-comma", '{"input": [[1, 2 3', "line 1, column 18",
        "expecting ',' delimiter", hint="a ',' missing between 2 and the value after it?"),
    bad("truncated-after-a-leading-zero", '{"input": [[1, 05', "line 1, column 17",
        "expecting ',' delimiter", hint="no leading zeros"),
    bad("truncated-after-a-bare-point", '{"input": [[1, .5', "line 1, column 16",
        "expecting a value", hint="start with a digit"),
    bad("single-quotes", "{'input': 1}", "line 1, column 2", "double quotes",
        hint="double quotes"),
    bad("trailing-comma", '{"input": [1, 2,]}', "line 1, column 17", "expecting a value",
        hint="comma"),
    bad("comment", '{"input": 1 // the image\n}', "line 1, column 13", "delimiter"),
    # a value starting a line after one that ends without its comma
    bad("comma-missing-at-line-end", '{"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],\n'
        ' "kernel": [[0.5, 0], [0, 1]]\n "delta": [[1, 0], [0, 1]]}', "line 3, column 2",
        "expecting ',' delimiter", hint="a ',' missing at the end of line 2?"),
    bad("comma-missing-before-blank-lines", '{"input": [[1, 2],\r\n\r\n  [3, 4]\r\n\r\n'
        '  [5, 6]]}', "line 5, column 3", "expecting ',' delimiter",
        hint="a ',' missing at the end of line 3?"),
    # old Mac line ends (a lone CR): lines as an editor shows them, not all of it line 1
    bad("comma-missing-cr-line-ends", '{\r"input": [[1, 2], [3, 4]],\r"kernel": [[1]] '
        '"delta": [[1, 1], [1, 1]]}', "line 3, column 17", "expecting ',' delimiter"),
    bad("comma-missing-at-cr-line-end", '{\r"input": [[1, 2], [3, 4]],\r"kernel": [[1]]\r'
        '"delta": [[1, 1], [1, 1]]}', "line 4, column 1", "expecting ',' delimiter",
        hint="a ',' missing at the end of line 3?"),
    bad("nan-after-cr-line-ends", '{\r"input": [[1, 2], [3, NaN]],\r"kernel": [[1]], '
        '"delta": [[1, 1], [1, 1]]}', "input[1][1]", "NaN is not allowed (JSON numbers must "
        "be finite), at line 2, column 23"),
    bad("extra-data", '{"input": 1} {"input": 2}', "line 1, column 14", "extra data"),
    bad("python-literal", '{"input": True}', "line 1, column 11", "expecting a value"),
    bad("control-char", '{"title": "a\tb"}', "line 1, column 13", "control character"),
    # --- JSON that is not an object
    bad("top-list", "[1, 2, 3]", "top level", "must be a JSON object"),
    bad("top-string", '"hello"', "top level", "got a string"),
    bad("top-number", "42", "top level", "got a number"),
    bad("top-null", "null", "top level", "got null"),
    bad("top-true", "true", "top level", "got a boolean"),
    bad("top-empty-object", "{}", "top level", "missing key 'input'"),
    bad("top-only-title", '{"title": "x"}', "top level", "missing key 'input'"),
    # --- numbers JSON allows in Python but not here
    # the contract's <where> is a JSON path: the constant's, with its line and column in
    # the message (json.dump writes float("nan") as NaN)
    bad("NaN", '{"input": NaN, "kernel": 1, "delta": 1}', "input", "NaN"),
    bad("Infinity", '{"input": [[1, Infinity]], "kernel": 1, "delta": 1}',
        "input[0][1]", "line 1, column 16"),
    bad("minus-Infinity", '{"input": -Infinity}', "input", "Infinity"),
    bad("NaN-in-a-layer", '{"input": [[1]], "layers": [{"type": "conv2d", "kernel": [[NaN]]}],'
        ' "delta": [[1]]}', "layers[0].kernel[0][0]", "NaN is not allowed"),
    bad("overflow-1e999", '{"input": [[1, 1e999]], "kernel": 1, "delta": 1}', "input[0][1]",
        "too large"),
    bad("underflow-1e-999", '{"input": [[1e-999, 1]], "kernel": 1, "delta": 1}', "input[0][0]",
        "1e-999 is too small"),  # as written, not Decimal's 1E-999
    bad("overflow-1e999-shown", '{"input": [[1, 1e999]], "kernel": 1, "delta": 1}',
        "input[0][1]", "1e+999 is too large"),
    bad("overflow-int", '{"input": [[1, 1' + "0" * 400 + ']], "kernel": 1, "delta": 1}',
        "input[0][1]", "too large"),
    bad("int-5000-digits", '{"input": 1' + "0" * 5000 + "}", "input",
        "thousands of digits"),
    bad("exponent-out-of-range", '{"input": [[1, 1e99999999999999999999]], "kernel": 1, '
        '"delta": 1}', "input[0][1]", "out of range, at line 1, column 16"),
    bad("exponent-1e999999999", '{"input": [[1e999999999]], "kernel": 1, "delta": 1}',
        "input[0][0]", "too large"),
    bad("duplicate-key", '{"input": 1, "kernel": 1, "input": 2, "delta": 1}', "input",
        "duplicate key"),
    bad("whole-number-past-2-63", '{"input": [[1, 2], [3, 4]], "kernel": [[1]], "stride": '
        '99999999999999999999, "delta": [[1, 1], [1, 1]]}', "stride",
        "too large (at most 9,223,372,036,854,775,807)"),
    # --- nesting deep enough to hit recursion limits
    bad("nested-1e5-lists", "[" * 100_000 + "]" * 100_000, "line 1, column 65", "nesting"),
    bad("nested-1e5-unclosed", "[" * 100_000, "line 1, column 65", "nesting"),
    bad("nested-1e5-in-input", _deep(100_000), "line 1, column 74", "nesting"),
    bad("nested-objects", '{"a": ' * 5000 + "1" + "}" * 5000, "line 1, column 385", "nesting"),
    bad("nested-rank-60", _deep(60), "input", "rank 2 to 4"),
    # --- missing and conflicting keys
    bad("missing-input", short(input=DROP), "top level", "missing key 'input'"),
    bad("missing-loss-and-delta", short(delta=DROP), "top level", "'loss' or 'delta'"),
    bad("loss-and-delta", net(delta=[0, 0]), "delta", "either 'loss' or 'delta'"),
    bad("kernel-and-layers", short(layers=NET["layers"]), "kernel", "not both"),
    bad("no-layers-no-kernel", {"input": [[1]], "delta": [[1]]}, "top level",
        "missing key 'layers'"),
    bad("layers-empty", net(layers=[]), "layers", "no layers"),
    bad("layers-object", net(layers={"type": "relu"}), "layers", "expected a list"),
    bad("layer-a-string", net(layers=["relu"]), "layers[0]", "must be an object"),
    bad("layer-no-type", layer(1, type=DROP), "layers[1]", "no 'type'", hint=ALLOWED_TYPES),
    bad("title-number", short(title=3), "title", "expected a string"),
    # --- unknown keys and layer types, with the closest known name
    bad("unknown-top-key", short(kernal=[[1]]), "kernal", "unknown key 'kernal'",
        hint="did you mean 'kernel'"),
    bad("unknown-inputs", short(inputs=1), "inputs", "unknown key", hint="'input'"),
    # a layer that reads itself, by its given or its default name
    bad("reads-itself", layer(0, name="c", input="c"), "layers[0].input",
        "'c' is this layer itself"),
    bad("reads-itself-by-default-name", layer(1, input="relu_1"), "layers[1].input",
        "'relu_1' is this layer itself"),
    # another tool's or textbook's name for a field: the one cnngrad reads
    bad("synonym-filters", conv(filters=[[1]]), "layers[0].filters", "unknown key 'filters'",
        hint="did you mean 'kernel'"),
    bad("synonym-weights-on-conv", conv(weights=[[1]]), "layers[0].weights",
        "it is a field of dense", hint="did you mean 'kernel'"),
    bad("synonym-kernel-on-dense", layer(4, kernel=[[1]]), "layers[4].kernel",
        "it is a field of conv2d", hint="did you mean 'weights'"),
    bad("synonym-labels", net(loss={"type": "cross_entropy", "labels": 1}), "loss.labels",
        "unknown key 'labels'", hint="did you mean 'target'"),
    bad("unknown-key-newline", short(**{"ker\nnal": 1}), "ker\\nnal",
        "unknown key 'ker\\nnal'", hint="did you mean 'kernel'"),
    bad("unknown-key-terminal-escape", short(**{"\x1b[2Jx": 1}), "\\x1b[2Jx", "unknown key"),
    bad("unknown-key-10k-chars", short(**{"k" * 10_000: 1}), "k" * 10_000, "unknown key 'kkk"),
    bad("conv-field-in-shorthand", short(groups=1), "groups", "unknown key",
        hint="conv2d layer field"),
    bad("shorthand-field-without-kernel", net(stride=2), "stride", "unknown key",
        hint="shorthand"),
    bad("layer-type-conv", layer(0, type="conv"), "layers[0].type", "unknown layer type 'conv'",
        hint=f"did you mean 'conv2d'? ({ALLOWED_TYPES})"),
    bad("layer-type-conv3d", layer(0, type="conv3d"), "layers[0].type",
        "unknown layer type 'conv3d'", hint=f"did you mean 'conv2d'? ({ALLOWED_TYPES})"),
    bad("layer-type-maxpool", layer(2, type="max_pool"), "layers[2].type", "unknown layer type",
        hint="'maxpool2d'"),
    # another framework's name for a type names that type, not the closest spelling
    # ('linear' is spelt like leaky_relu, 'ce' like bce)
    bad("layer-type-torch-linear", layer(4, type="nn.Linear"), "layers[4].type",
        "unknown layer type 'nn.Linear'", hint=f"did you mean 'dense'? ({ALLOWED_TYPES})"),
    bad("layer-type-keras-transpose", layer(0, type="Conv2DTranspose"), "layers[0].type",
        "unknown layer type", hint="did you mean 'conv_transpose2d'?"),
    bad("loss-type-ce", net(loss={"type": "ce", "target": 1}), "loss.type",
        "unknown loss type 'ce'", hint="did you mean 'cross_entropy'?"),
    bad("loss-type-torch-bce", net(loss={"type": "BCELoss", "target": [0, 1]}), "loss.type",
        "unknown loss type 'BCELoss'", hint="did you mean 'bce'?"),
    bad("layer-type-number", layer(1, type=3), "layers[1].type", "unknown layer type 3",
        hint=ALLOWED_TYPES),  # the same list, in the same order, as for a misspelt name
    bad("layer-key-kernal", layer(0, kernal=[[1]]), "layers[0].kernal", "unknown key 'kernal'",
        hint="did you mean 'kernel'"),
    bad("dense-weight", layer(4, weight=[[1]]), "layers[4].weight", "unknown key",
        hint="'weights'"),
    # Keras' Dense(..., activation="sigmoid"): an activation is a layer of its own
    bad("dense-activation", layer(4, activation="sigmoid"), "layers[4].activation",
        "unknown key 'activation' in a dense layer",
        hint='an activation is a layer of its own: add {"type": "sigmoid"} after it'),
    bad("conv-activation", layer(0, activation="tanh"), "layers[0].activation",
        "unknown key 'activation' in a conv2d layer",
        hint='an activation is a layer of its own: add {"type": "tanh"} after it'),
    bad("dense-activation-capitalised", layer(4, activation="ReLU"), "layers[4].activation",
        "unknown key 'activation' in a dense layer",
        hint='an activation is a layer of its own: add {"type": "relu"} after it'),
    # ...and there already: adding another would apply it twice
    bad("conv-activation-and-its-layer", layer(0, activation="relu"), "layers[0].activation",
        "unknown key 'activation'", hint='an activation is a layer of its own, and the next '
                                         'layer is {"type": "relu"} already: remove the key'),
    # ...or the layer is that activation itself
    bad("relu-activation-relu", layer(1, activation="relu"), "layers[1].activation",
        "unknown key 'activation' in a relu layer",
        hint="this relu layer is that activation itself: remove the key"),
    bad("dense-activation-softmax", layer(4, activation="softmax"), "layers[4].activation",
        "unknown key 'activation'", hint="(none before a cross_entropy loss, which applies "
                                         "the softmax itself)"),
    bad("dense-activation-linear", layer(4, activation="linear"), "layers[4].activation",
        "unknown key 'activation'", hint="remove it (no activation"),
    bad("dense-activation-unknown", layer(4, activation="gelu"), "layers[4].activation",
        "unknown key 'activation'", hint='add one after it, {"type": ...} with one of '
                                         'leaky_relu, log_softmax, relu, sigmoid, softmax, tanh'),
    bad("shorthand-activation", short(activation="tanh"), "activation",
        "unknown key 'activation'", hint='give "layers": [{"type": "conv2d", "kernel": ...}, '
                                         '{"type": "tanh"}]'),
    bad("relu-slope", layer(1, slope=0.1), "layers[1].slope",
        "unknown key 'slope' in a relu layer: it is a field of leaky_relu", hint="allowed:"),
    # a field of another layer type is named as such, not matched to a look-alike ('type')
    bad("avgpool-ties", pool("avgpool2d", ties="first"), "layers[0].ties",
        "it is a field of maxpool2d and maxpool1d", hint="allowed: ceil_mode"),
    bad("maxpool-count-include-pad", pool(count_include_pad=False),
        "layers[0].count_include_pad", "it is a field of avgpool2d and avgpool1d"),
    bad("dense-kernel", layer(4, kernel=[[1]]), "layers[4].kernel",
        "unknown key 'kernel' in a dense layer: it is a field of conv2d, conv1d and "
        "conv_transpose2d", hint="allowed: bias"),
    # not "did you mean 'padding'?": padding_mode is a field of its own, of another type
    bad("pool-padding-mode", pool(padding_mode="reflect"), "layers[0].padding_mode",
        "it is a field of conv2d", hint="allowed: ceil_mode, input, name, padding"),
    bad("loss-type-unknown", net(loss={"type": "crossentropy", "target": 1}), "loss.type",
        "unknown loss type", hint="'cross_entropy'"),
    bad("loss-key-targets", net(loss={"type": "cross_entropy", "targets": 1}), "loss.targets",
        "unknown key", hint="'target'"),
    # a field of another loss type, as for layers: cross_entropy always averages
    bad("cross-entropy-reduction",
        net(loss={"type": "cross_entropy", "target": 1, "reduction": "sum"}),
        "loss.reduction", "unknown key 'reduction' in a cross_entropy loss: it is a field of "
        "mse, bce and bce_with_logits", hint="allowed: target, type"),
    bad("loss-no-type", net(loss={"target": 1}), "loss", "no 'type'"),
    bad("loss-no-target", net(loss={"type": "cross_entropy"}), "loss", "no 'target'"),
    bad("loss-a-string", net(loss="mse"), "loss", "expected an object"),
    bad("mse-reduction", net(loss={"type": "mse", "target": [0, 0], "reduction": "average"}),
        "loss.reduction", "unknown reduction 'average'"),
    bad("padding-mode", conv(padding_mode="reflection"), "layers[0].padding_mode",
        "unknown padding mode", hint="'reflect'"),
    bad("ties", pool(ties="random"), "layers[0].ties", "unknown tie rule 'random'"),
    bad("flip-kernel-1", short(flip_kernel=1), "flip_kernel", "expected true or false"),
    bad("ceil-mode-string", pool(ceil_mode="yes"), "layers[0].ceil_mode", "true or false"),
    bad("count-include-pad", pool("avgpool2d", count_include_pad="true"),
        "layers[0].count_include_pad", "true or false"),
    bad("name-duplicate", net(layers=copy.deepcopy([{**NET["layers"][0], "name": "a"},
                                                    {"type": "relu", "name": "a"},
                                                    *NET["layers"][2:]])),
        "layers[1].name", "layer name 'a' is used twice (also at layers[0])",
        hint='layer names are unique, dotted paths name layers by them: give one of them '
             'another "name"'),
    bad("name-is-a-default-name", layer(1, name="conv2d_1"), "layers[1].name",
        "layer name 'conv2d_1' is already the default name of layers[0]",
        hint='give one of them another "name"'),
    bad("default-name-is-a-name", net(layers=copy.deepcopy([{"type": "relu", "name": "relu_2"},
                                                            {"type": "relu"}, *NET["layers"]])),
        "layers[1]", "its default name 'relu_2' is already the name of layers[0]",
        hint='give one of them another "name"'),
    bad("name-null", layer(1, name=None), "layers[1].name", "bad layer name null",
        hint='leave "name" out for the default, '),
    bad("name-with-dot", layer(1, name="a.b"), "layers[1].name", "bad layer name"),
    # the character at fault is named; "letters" are ASCII ones (é is a letter, not allowed)
    bad("name-non-ascii-letter", layer(1, name="étage"), "layers[1].name",
        "bad layer name 'étage': 'é' is not allowed in a name", hint="ASCII letters (A-Z, a-z)"),
    bad("name-starts-with-minus", layer(1, name="-conv"), "layers[1].name",
        "bad layer name '-conv': it must not start with '-'"),
    bad("name-with-space", layer(1, name="my conv"), "layers[1].name",
        "bad layer name 'my conv': ' ' is not allowed in a name"),
    bad("tensor-ref-typo", short(kernel={"cvs": "k.csv"}), "kernel.cvs", "unknown key",
        hint="'csv'"),
    bad("tensor-ref-empty", short(kernel={}), "kernel", "empty object"),
    bad("tensor-ref-both", short(kernel={"csv": "k.csv", "npy": "k.npy"}), "kernel",
        "either 'csv' or 'npy'"),
    # --- ragged, empty, wrong-rank tensors
    bad("ragged-row", short(input=[[1, 2, 3], [4, 5], [7, 8, 9]]), "input[1]",
        "row has 2 elements, expected 3"),
    bad("ragged-depth", short(input=[[1, [2]], [3, 4]]), "input[0][1]", "nesting is uneven"),
    bad("ragged-3d", short(input=[[[1, 2]], [[1, 2], [3, 4]]]), "input[1]", "has 2"),
    bad("empty-input", short(input=[]), "input", "empty tensor"),
    bad("empty-row", short(input=[[]]), "input[0]", "empty tensor"),
    bad("input-rank-1", short(input=[1, 2, 3]), "input", "rank 2 to 4"),
    # a vector input in a network with a map layer (a vector is an input only where no layer
    # works on maps): written as one row, whichever layer reads it first
    bad("input-vector-for-dense", {"input": [1, 2, 3], "layers": [
        {"type": "dense", "weights": [[1, 1, 1]]},
        {"type": "conv2d", "input": "input", "kernel": [[1]]}], "delta": [1]}, "input",
        "rank 2 to 4",
        hint='write the vector as one row, [[…]] (an input is a map: H×W, C×H×W or N×C×H×W), '
             'and put {"type": "flatten"} before dense_1'),
    bad("input-vector-for-flatten", {"input": [1, 2, 3], "layers": [
        {"type": "flatten"}, {"type": "dense", "weights": [[1, 1, 1]]},
        {"type": "maxpool2d", "input": "input", "size": 1}], "delta": [1]},
        "input", "rank 2 to 4", hint="write the vector as one row, [[…]] (an input is a map: "
                                     "H×W, C×H×W or N×C×H×W), which the flatten layer makes"),
    # a map layer after a dense one in a chain: no input makes it valid, and that is said
    bad("input-vector-then-pool-after-dense", {"input": [1, 2, 3, 4], "layers": [
        {"type": "dense", "weights": [[1, 1, 1, 1]] * 4}, {"type": "maxpool2d", "size": 2}],
        "delta": [1]}, "input", "rank 2 to 4",
        hint="maxpool2d_1 reads maps but comes after dense_1, whose output is a vector: a "
             "network's map layers come before its flatten and dense layers"),
    # a vector input (no map layer) fed to a layer that needs a map
    bad("vector-input-to-upsample", {"input": [1, 2, 3], "layers": [
        {"type": "upsample", "scale": 2}], "delta": [1, 1, 1, 1, 1, 1]}, "layers[0]",
        "upsample needs a feature map, but its input is a vector of 3",
        hint="the problem's input is a vector; a map is H×W, C×H×W or N×C×H×W (a 1-D map L, "
             "C×L or N×C×L once a conv1d, maxpool1d or avgpool1d reads it)"),
    bad("input-rank-5", short(input=[[[[[1]]]]]), "input", "rank 2 to 4"),
    bad("input-scalar", short(input=3), "input", "rank 2 to 4"),
    bad("input-string", short(input="abc"), "input", "not a number"),
    bad("input-null", short(input=None), "input", "got null"),
    bad("kernel-rank-1", short(kernel=[1, 2]), "kernel", "rank 2 to 4",
        hint="a k1×k2 kernel is a list of rows, e.g. [[1, 0], [0, -1]] for 2×2"),
    # a flat kernel of a square count: the square written out
    bad("kernel-flat-square", short(kernel=[1, 0, 0, 1]), "kernel",
        "expected a tensor of rank 2 to 4, got rank 1 (4)",
        hint="a k1×k2 kernel is a list of rows: as 2×2, [[1, 0], [0, 1]]"),
    bad("kernel-flat-square-fractions", short(kernel=["1/3", Decimal("0.5"), -1, 2]),
        "kernel", "got rank 1 (4)",
        hint='a k1×k2 kernel is a list of rows: as 2×2, [["1/3", 0.5], [-1, 2]]'),
    bad("kernel-flat-square-long", short(kernel=[0.125] * 25), "kernel", "got rank 1 (25)",
        hint="a k1×k2 kernel is a list of rows: as 5×5, 5 rows of 5 numbers, [[…], …]"),
    bad("kernel-flat-npy", short(kernel={"npy": "k.npy"}), "kernel", "got rank 1 (4)",
        hint="a k1×k2 kernel is a list of rows, e.g.", files={"k.npy": np.ones(4)}),
    # the file that holds the wrong rank is named, as its other errors name it
    bad("input-five-axes-npy", short(input={"npy": "o.npy"}), "input",
        "got rank 5 (1×1×1×5×5) in o.npy", files={"o.npy": np.ones((1, 1, 1, 5, 5))}),
    bad("conv-transpose-kernel-flat", {"input": [[1, 2], [3, 4]], "layers": [
        {"type": "conv_transpose2d", "kernel": [1, 2, 3, 4]}], "delta": [[1]]},
        "layers[0].kernel", "got rank 1 (4)",
        hint="a k1×k2 kernel is a list of rows: as 2×2, [[1, 2], [3, 4]]"),
    bad("kernel-empty", short(kernel=[[]]), "kernel[0]", "empty tensor"),
    bad("dense-weights-rank-1", layer(4, weights=[1, 2, 3, 4]), "layers[4].weights",
        "rank 2", hint="one output's weights are one row of the out×in matrix"),
    bad("dense-weights-flat-two-rows", layer(4, weights=[1, 0, 0, 1, 0, 1, 1, 0]),
        "layers[4].weights", "got rank 1 (8)", hint="out×in (as torch.nn.Linear): 2 rows of 4"),
    bad("dense-weights-flat-ragged", layer(4, weights=[1, 0, 0, 1, 0, 1]),
        "layers[4].weights", "got rank 1 (6)", hint="a row of 4 per output"),
    # --- elements that are not numbers
    bad("cell-abc", short(input=[[1, 2, 3], ["abc", 5, 6], [7, 8, 9]]), "input[1][0]",
        "'abc' is not a number"),
    bad("cell-true", short(input=[[True, 2, 3], [4, 5, 6], [7, 8, 9]]), "input[0][0]",
        "true is not a number"),
    bad("cell-null", short(kernel=[[1, None], [0, 1]]), "kernel[0][1]", "null is not a number"),
    # a long run of digits that ends in something else: refused in one pass (a decimal
    # pattern that backtracked took time quadratic in the run: 49 s for 40,000 digits)
    bad("cell-long-digit-run", short(kernel=[[1, "1" * 200_000 + "x"], [0, 1]]),
        "kernel[0][1]", "is not a number"),
    bad("cell-long-fraction-run", short(kernel=[[1, "7" * 100_000 + "/" + "3" * 100_000 + "x"],
                                                [0, 1]]), "kernel[0][1]", "is not a number"),
    bad("csv-long-digit-run", short(kernel={"csv": "k.csv"}), "row 2, column 2",
        "is not a number", files={"k.csv": "1,0\n0," + "1" * 200_000 + "x\n"}, file="k.csv"),
    bad("cell-1/0", short(kernel=[[1, "1/0"], [0, 1]]), "kernel[0][1]", "division by zero"),
    bad("cell-nan", short(delta=[[1, 0], [0, "nan"]]), "delta[1][1]", "not a finite number"),
    bad("cell-inf", short(delta=[[1, 0], ["inf", 0]]), "delta[1][0]", "not a finite number"),
    bad("cell-minus-Infinity", short(delta=[["-Infinity", 0], [0, 0]]), "delta[0][0]",
        "not a finite"),
    bad("cell-decimal-comma", short(kernel=[["1,5", 0], [0, 1]]), "kernel[0][0]",
        "not a number", hint="decimal point"),
    # 1,000: a decimal comma or a thousands separator, the hint cannot know which
    bad("cell-comma-thousand", short(kernel=[["1,000", 0], [0, 1]]), "kernel[0][0]",
        "not a number", hint="a number has no comma: 1.000 with a dot as the decimal point, or "
                             "1000 without a thousands separator"),
    bad("cell-thousands", short(kernel=[["-2,500,000", 0], [0, 1]]), "kernel[0][0]",
        "not a number", hint="a number has no thousands separators: -2500000"),
    bad("cell-thousands-and-decimals", short(kernel=[["1,000.5", 0], [0, 1]]), "kernel[0][0]",
        "not a number", hint="a number has no thousands separators: 1000.5"),
    # a leading 0 groups no thousands: 0,001 is a decimal comma only
    bad("cell-decimal-comma-0", short(kernel=[["0,001", 0], [0, 1]]), "kernel[0][0]",
        "not a number", hint="use a dot as the decimal point"),
    # two numbers in one string, a comma between: the list they were meant to be
    bad("cell-two-numbers-comma", short(kernel=[["0.2,5", 0], [0, 1]]), "kernel[0][0]",
        "'0.2,5' is not a number", hint="one number per element: as a list, drop the quotes "
                                        "([0.2, 5])"),
    # fractions (and .5) are no bare JSON numbers: quoted each
    bad("cell-fraction-of-0-comma", short(kernel=[["1/0,2", 0], [0, 1]]), "kernel[0][0]",
        "'1/0,2' is not a number"),  # no list hint: 1/0 would be refused in turn
    bad("cell-two-fractions-comma", short(kernel=[["1/2,1/3", 0], [0, 1]]), "kernel[0][0]",
        "'1/2,1/3' is not a number", hint='one number per element: as a list, quote each '
                                          '(["1/2", "1/3"])'),
    bad("cell-object", short(kernel=[[{"csv": "k.csv"}, 0], [0, 1]]), "kernel[0][0]",
        "stand for a whole tensor"),
    bad("cell-empty-string", short(kernel=[["", 0], [0, 1]]), "kernel[0][0]", "empty string"),
    bad("slope-string", layer(1, type="leaky_relu", slope="abc"), "layers[1].slope",
        "not a number"),
    bad("slope-true", layer(1, type="leaky_relu", slope=True), "layers[1].slope",
        "not a number"),
    bad("slope-list", layer(1, type="leaky_relu", slope=[0.1]), "layers[1].slope",
        "expected a number, got a list"),
    bad("slope-1/0", layer(1, type="leaky_relu", slope="1/0"), "layers[1].slope",
        "division by zero"),
    bad("bias-string", short(bias="abc"), "bias", "'abc' is not a number"),
    bad("weights-empty", layer(4, weights=[]), "layers[4].weights", "empty tensor"),
    bad("reduction-null", net(loss={"type": "mse", "target": [0, 0], "reduction": None}),
        "loss.reduction", "unknown reduction null"),
    bad("layer-type-capitalised", layer(0, type="Conv2d"), "layers[0].type",
        "unknown layer type 'Conv2d'", hint="did you mean 'conv2d'"),
    # --- every integer option: zero, negative, fractional, a string, wrong length, a boolean
    *_int_option_cases(),
    bad("stride-pair-zero", short(stride=[1, 0]), "stride[1]", "≥ 1, got 0"),
    bad("stride-pair-string", short(stride=["2", 1]), "stride[0]", "got '2'",
        hint="drop the quotes: write 2"),
    bad("padding-pair-string", short(padding=[1, " 2 "]), "padding[1]", "≥ 0, got ' 2 '",
        hint="drop the quotes: write 2"),
    bad("stride-string-zero", short(stride="0"), "stride", "≥ 1, got '0'", hint=None),
    bad("upsample-scale-string", {"input": SHORT["input"], "layers": [
        {"type": "upsample", "scale": "2"}], "delta": np.zeros((6, 6)).tolist()},
        "layers[0].scale", "got '2'", hint="drop the quotes: write 2"),
    bad("conv-transpose-output-padding-string", {"input": SHORT["input"], "layers": [
        {"type": "conv_transpose2d", "kernel": [[1]], "stride": 2, "output_padding": "1.0"}],
        "delta": np.zeros((6, 6)).tolist()},
        "layers[0].output_padding", "got '1.0'", hint="drop the quotes: write 1"),
    bad("conv1d-padding-string", {"input": [[1, 2, 3]], "layers": [
        {"type": "conv1d", "kernel": [1, 1], "padding": "1"}], "delta": [[0, 0, 0, 0]]},
        "layers[0].padding", "unknown padding '1'", hint="drop the quotes: write 1"),
    bad("stride-empty-list", short(stride=[]), "stride", "list of 0"),
    bad("stride-1e999999999", '{"input": [[1]], "kernel": [[1]], "delta": [[1]], '
                              '"stride": 1e999999999}', "stride", "too large"),
    bad("stride-1e-999999999", '{"input": [[1]], "kernel": [[1]], "delta": [[1]], '
                               '"stride": 1e-999999999}', "stride", "expected an integer"),
    # its digits counted, not estimated from its bits ("about 399 digits")
    bad("stride-10^400", short(stride=10**400), "stride",
        "an integer of 401 digits is too large"),
    bad("stride-minus-10^399", short(stride=-10**399), "stride",
        "got a negative integer of 400 digits"),
    bad("stride-nan-string", short(stride="nan"), "stride", "got 'nan'"),
    bad("padding-negative", short(padding=-1), "padding", "≥ 0, got -1"),
    bad("padding-fraction", short(padding=Decimal("0.5")), "padding", "got 0.5"),
    bad("padding-string-number", short(padding="2"), "padding", "unknown padding '2'",
        hint="drop the quotes: write 2, a number, not a string"),
    bad("padding-SAME", short(padding="SAME"), "padding", "unknown padding 'SAME'",
        hint="did you mean 'same'"),
    bad("padding-list3", short(padding=[1, 1, 1]), "padding", "list of 3"),
    bad("padding-list4-negative", short(padding=[0, 0, 0, -1]), "padding[3]", "≥ 0, got -1"),
    bad("padding-true", short(padding=True), "padding", "got true"),
    bad("pool-padding-negative", pool(padding=-1), "layers[0].padding", "≥ 0"),
    bad("pool-padding-fraction", pool(padding=Decimal("0.5")), "layers[0].padding", "got 0.5"),
    bad("pool-padding-list4", pool(padding=[0, 0, 0, 0]), "layers[0].padding", "list of 4"),
    bad("pool-padding-same", pool(padding="same"), "layers[0].padding", "got 'same'",
        hint="'same' is a padding of conv2d and conv1d only; here give its size in numbers"),
    bad("pool-padding-valid", pool(padding="valid"), "layers[0].padding", "got 'valid'",
        hint="here give it as 0"),
    bad("pool-stride-same", pool(stride="same"), "layers[0].stride", "got 'same'"),
    bad("pool-no-size", pool(size=DROP), "layers[0]", "no 'size'"),
    # --- geometry that does not fit
    # "same" at any stride (contract v1.1): the output is ceil(H / s), so the delta must fit it
    bad("same-with-stride-2-delta", short(padding="same", stride=2, delta=[[1]]), "delta",
        "expected shape 2×2"),
    bad("same-with-stride-1e9", short(padding="same", stride=10**9), "delta",
        "expected shape 1×1"),
    bad("pool-padding-over-half", pool(padding=2), "layers[0].padding",
        "more than half the window", hint="at most 1"),
    bad("pool-padding-1e9", pool(padding=10**9), "layers[0].padding", "more than half"),
    # the element of a padding list that breaks the rule, as a type error would point at it
    bad("pool-padding-over-half-one-axis", pool(size=[3, 1], padding=[1, 1]),
        "layers[0].padding[1]", "padding 1 is more than half the window 3×1 along the columns",
        hint="at most 0 there (PyTorch's rule)"),
    bad("pool-padding-over-half-both-axes", pool(size=2, padding=[2, 2]), "layers[0].padding",
        "padding 2 is more than half the window 2×2", hint="at most 1 (PyTorch's rule)"),
    bad("reflect-padding-too-large-bottom", conv(padding=[0, 3, 0, 0], padding_mode="reflect"),
        "layers[0].padding[1]", "reflect padding of 3 (bottom) must be smaller than the input"),
    bad("reflect-padding-too-large-columns", conv(padding=[0, 3], padding_mode="reflect"),
        "layers[0].padding[1]", "reflect padding of 3 (left) must be smaller than the input"),
    bad("kernel-larger-than-input", short(kernel=np.ones((4, 4)).tolist()), "kernel",
        "the kernel spans 4×4, larger than the padded input 3×3",
        hint='at most 3×3 here, or "padding": 1 (each side) for this one'),
    bad("kernel-larger-than-input-rows", short(kernel=np.ones((6, 2)).tolist()), "kernel",
        "the kernel spans 6×2, larger than the padded input 3×3",
        hint='at most 3×3 here, or "padding": [2, 0] (each side) for this one'),
    bad("kernel-too-large-keeps-the-padding-that-fits", short(
        kernel=np.ones((5, 3)).tolist(), padding=[0, 0, 3, 3]), "kernel",
        "the kernel spans 5×3, larger than the padded input 3×9",
        hint='at most 3×9 here, or "padding": [1, 3] (each side) for this one'),
    bad("kernel-too-large-reflect", conv(kernel=np.ones((5, 5)).tolist(),
                                         padding_mode="reflect"), "layers[0].kernel",
        "the kernel spans 5×5, larger than the padded input 3×3",
        hint='at most 3×3 here, or "padding": 1 (each side) for this one'),
    bad("kernel-too-large-for-reflect-padding", conv(kernel=np.ones((9, 9)).tolist(),
                                                     padding_mode="reflect"),
        "layers[0].kernel", "the kernel spans 9×9, larger than the padded input 3×3",
        hint="at most 3×3 here (reflect padding of at most 2 a side cannot fit this one)"),
    bad("kernel-too-large-for-circular-padding", conv(kernel=np.ones((11, 11)).tolist(),
                                                      padding_mode="circular"),
        "layers[0].kernel", "larger than the padded input 3×3",
        hint="at most 3×3 here (circular padding of at most 3 a side cannot fit this one)"),
    bad("kernel-too-large-for-circular-padding-rows", conv(
        input=[[1, 2, 3]] * 5, kernel=[[1]] * 17, padding_mode="circular"), "layers[0].kernel",
        "the kernel spans 17×1, larger than the padded input 5×3",
        hint="at most 5×3 here (circular padding of at most 5 a side cannot fit this one)"),
    bad("dilated-kernel-too-large", short(dilation=3), "kernel",
        "the kernel spans 4×4 (with dilation), larger than the padded input 3×3",
        hint='at most 1×1 at this dilation here, or "padding": 1 (each side)'),
    bad("conv-input-written-as-a-vector", short(input=[1, 2, 3, 4]), "input",
        "expected a tensor of rank 2 to 4, got rank 1 (4)",
        hint="conv2d_1, the first layer that reads maps, reads 2-D ones: write the input as "
             "a map, H×W, C×H×W or N×C×H×W (H×W as rows: [[…], […]])"),
    bad("conv-input-written-as-a-vector-nhwc", dict(short(input=[1, 2, 3, 4]), layout="nhwc"),
        "input", "expected a tensor of rank 2 to 4, got rank 1 (4)",
        hint="write the input as a map, H×W, H×W×C or N×H×W×C (H×W as rows"),
    bad("map-layer-after-a-vector", {"input": [1, 2, 3, 4], "layers": [
        {"type": "relu"}, {"type": "flatten"}, {"type": "dense", "weights": [[1, 2, 3, 4]]},
        {"type": "conv2d", "kernel": [[1]]}], "delta": [[1]]}, "input", "got rank 1 (4)",
        hint="conv2d_1 reads maps but comes after flatten_1, whose output is a vector"),
    bad("dilation-1e9", short(dilation=10**9), "kernel", "spans 1000000001×1000000001"),
    bad("padding-1e9", short(padding=10**9), "padding", "over the limit",
        hint="--max-elements"),
    bad("padding-1e9-four-sides", short(padding=[10**9, 0, 0, 0]), "padding", "over the limit"),
    bad("pool-window-too-large", pool(size=4), "layers[0].size",
        "the window 4×4 is larger than the padded input 3×3",
        hint='at most 3×3 here, or "padding": 1 (each side) for this one, or "ceil_mode": '
             'true (one window hanging over the edge)'),
    # padding the 3×3 input for this window would pass --max-elements: not suggested
    bad("pool-size-1e9", pool(size=10**9), "layers[0].size", "larger than the padded input",
        hint='at most 3×3 here, or "ceil_mode": true'),
    bad("reflect-padding-too-large", conv(padding=3, padding_mode="reflect"),
        "layers[0].padding", "smaller than the input size 3"),
    bad("circular-padding-too-large", conv(padding=4, padding_mode="circular"),
        "layers[0].padding", "at most the input size 3"),
    # --- channels and groups
    bad("2d-kernel-3-channels", conv(input=RGB), "layers[0].kernel", "3 channels",
        hint="3×2×2"),
    bad("3d-kernel-wrong-channels", conv(input=RGB, kernel=np.ones((2, 2, 2)).tolist()),
        "layers[0].kernel", "must be 3×k1×k2"),
    bad("4d-kernel-wrong-channels", conv(input=RGB, kernel=np.ones((1, 2, 2, 2)).tolist()),
        "layers[0].kernel", "2 channels per filter, expected 3"),
    bad("groups-not-dividing-channels", conv(input=RGB, kernel=np.ones((2, 1, 2, 2)).tolist(),
                                             groups=2), "layers[0].groups",
        "does not divide the 3 input channels", hint="groups divides them: 1 or 3"),
    bad("groups-not-dividing-filters",
        conv(input=RGB * 2, kernel=np.ones((3, 3, 2, 2)).tolist(), groups=2),
        "layers[0].groups", "does not divide the 3 filters"),
    bad("groups-1e9", conv(groups=10**9), "layers[0].groups", "does not divide"),
    # --- bias, delta and target of the wrong shape (the expected one is named)
    bad("bias-vector-too-long", short(bias=[1, 2, 3]), "bias", "does not fit",
        hint="expected a number, a vector of 1, 2×2 (untied)"),
    bad("bias-scalar-two-filters",
        conv(kernel=np.ones((2, 2, 2)).tolist(), bias=1, delta_shape=(2, 2, 2)),
        "layers[0].bias", "needs one filter", hint="a vector of 2"),
    bad("bias-untied-wrong", short(bias=[[1, 2, 3], [4, 5, 6]]), "bias", "2×3 does not fit"),
    bad("delta-wrong-shape", short(delta=[[1, 2, 3], [4, 5, 6]]), "delta",
        "expected shape 2×2 (the output of conv2d_1), got 2×3"),
    bad("delta-scalar", short(delta=1), "delta", "expected shape 2×2"),
    bad("target-wrong-shape", net(loss={"type": "mse", "target": [0, 0, 0]}), "loss.target",
        "expected shape 2 (the output of dense_1), got 3"),
    bad("ce-target-wrong-shape", net(loss={"type": "cross_entropy", "target": [[0, 1]]}),
        "loss.target", "or probabilities of shape 2"),
    bad("ce-on-feature-map", {"input": SHORT["input"], "layers": [{"type": "relu"}],
                              "loss": {"type": "cross_entropy", "target": 0}}, "loss",
        "needs a vector output", hint="flatten"),
    bad("dense-weights-mismatch", layer(4, weights=[[1, 2, 3]]), "layers[4].weights",
        "expect an input of 3, but the input vector has 4", hint="out×4"),
    bad("dense-bias-mismatch", layer(4, bias=[1, 2, 3]), "layers[4].bias",
        "expected a vector of 2 or a number (one bias shared by every output), got 3"),
    bad("dense-no-weights", layer(4, weights=DROP), "layers[4]", "no 'weights'"),
    bad("conv-no-kernel", layer(0, kernel=DROP), "layers[0]", "no 'kernel'"),
    # --- layer order
    bad("dense-without-flatten", {"input": SHORT["input"],
                                  "layers": [{"type": "dense", "weights": [[1, 2, 3]]}],
                                  "delta": [0]}, "layers[0]", "needs a vector input",
        hint="or, for one vector of the map's 9 numbers, add a flatten layer before it and give "
             "weights 9 wide"),
    bad("pool-after-flatten", net(layers=NET["layers"][:4] + [{"type": "maxpool2d", "size": 2}]),
        "layers[4]", "needs a feature map", hint="before the flatten"),
    bad("conv-after-flatten", net(layers=NET["layers"][:4] + [{"type": "conv2d",
                                                               "kernel": [[1]]}]),
        "layers[4]", "needs a feature map"),
    # --- class index out of range
    bad("class-index-too-large", net(loss={"type": "cross_entropy", "target": 2}), "loss.target",
        "class index 2 out of range", hint=None),
    bad("class-index-negative", net(loss={"type": "cross_entropy", "target": -1}),
        "loss.target", "out of range"),
    bad("class-index-ignored", net(loss={"type": "cross_entropy", "target": -100}),
        "loss.target", "class index -100 out of range",
        hint="PyTorch's default ignore_index, -100, leaves a sample out of its loss; cnngrad "
             "has no ignore_index: give the sample's class"),
    bad("class-index-fraction", net(loss={"type": "cross_entropy", "target": Decimal("0.5")}),
        "loss.target", "class index 0.5 is not a whole number"),
    bad("class-index-batched", net(input=[[NET["input"]], [NET["input"]]],
                                   loss={"type": "cross_entropy", "target": [0, 7]}),
        "loss.target[1]", "class index 7 out of range"),
    # --- CSV and NPY files
    bad("csv-missing", short(kernel={"csv": "k.csv"}), "kernel.csv", "no such file 'k.csv'"),
    bad("csv-folder", short(kernel={"csv": "k.csv"}), "kernel.csv", "is a folder",
        files={"k.csv": FOLDER}),
    bad("csv-empty", short(kernel={"csv": "k.csv"}), "row 1", "empty file", files={"k.csv": ""},
        file="k.csv"),
    bad("csv-ragged", short(input={"csv": "x.csv"}), "row 2", "row has 2 cells, expected 3",
        files={"x.csv": "1,2,3\n4,5\n7,8,9\n"}, file="x.csv"),
    # a row with two separators: the cell that mixes them is named, not the right row
    # below it that the widths blamed
    bad("csv-mixed-separators-in-a-row", short(input={"csv": "x.csv"}), "row 1, column 2",
        "'2;3' is not a number: its numbers are separated by ';', the file's others by ','",
        hint="the same character", files={"x.csv": "1,2;3\n4,5,6\n"}, file="x.csv"),
    bad("csv-a-row-of-another-separator", short(input={"csv": "x.csv"}), "row 2, column 1",
        "'4,5,6' is not a number", files={"x.csv": "1;2;3\n4,5,6\n7;8;9\n"}, file="x.csv"),
    # a mixed cell that would not make its row as wide as another is not what made the
    # widths differ: the short row is named
    bad("csv-short-row-beside-a-mixed-one", short(input={"csv": "x.csv"}), "row 2",
        "row has 2 cells, expected 3", files={"x.csv": "1,2,3\n4,5\n7\t8,9,1\n"},
        file="x.csv"),
    bad("csv-header", short(input={"csv": "x.csv"}), "row 1, column 1", "header row",
        files={"x.csv": "a,b,c\n1,2,3\n4,5,6\n7,8,9\n"}, file="x.csv"),
    # 1,000: a decimal comma or a thousands separator, which is not known: both are said
    bad("csv-thousands-or-decimal", short(input={"csv": "x.csv"}), "row 1, column 1",
        "'1,000' is not a number", hint="1.000 with a dot as the decimal point, or 1000 without",
        files={"x.csv": '"1,000",1\n1,2\n'}, file="x.csv"),
    bad("csv-pipe-separated", short(input={"csv": "x.csv"}), "row 1, column 1",
        "'1|2|3' is not a number: its numbers are separated by '|'",
        hint="separate the cells with commas", files={"x.csv": "1|2|3\n4|5|6\n7|8|9\n"},
        file="x.csv"),
    bad("csv-bad-cell", short(input={"csv": "x.csv"}), "row 3, column 2", "'x' is not a number",
        files={"x.csv": "1,2,3\n4,5,6\n7,x,9\n"}, file="x.csv"),
    bad("csv-nan-cell", short(input={"csv": "x.csv"}), "row 2, column 3", "not a finite",
        files={"x.csv": "1,2,3\n4,5,nan\n7,8,9\n"}, file="x.csv"),
    bad("csv-empty-cell", short(input={"csv": "x.csv"}), "row 2, column 2", "empty cell",
        files={"x.csv": "1,2,3\n4,,6\n7,8,9\n"}, file="x.csv"),
    bad("csv-binary", short(input={"csv": "x.csv"}), "row 1, column 2", "not UTF-8",
        files={"x.csv": b"1,\xff,3\n"}, file="x.csv"),
    # old Mac line ends: the row an editor shows, as the file's other errors count them
    bad("csv-binary-cr-line-ends", short(input={"csv": "x.csv"}), "row 3, column 2",
        "not UTF-8", files={"x.csv": b"1,2,3\r4,5,6\r7,\xff,9\r"}, file="x.csv"),
    bad("csv-name-newline", short(kernel={"csv": "k\n.csv"}), "kernel.csv",
        "no such file 'k\\n.csv'"),
    # a Windows path: its backslash is part of a name here, or, single in JSON, an escape
    bad("csv-windows-path", short(input={"csv": "data\\x.csv"}), "input.csv",
        "no such file 'data\\x.csv'", hint="write the folders with '/': 'data/x.csv' exists",
        files={"data/x.csv": "1,2,3\n4,5,6\n7,8,9\n"}),
    bad("csv-windows-path-escaped", short(input={"csv": "data\new.csv"}), "input.csv",
        "no such file 'data\\new.csv'", hint="write the folders with '/': 'data/new.csv' "
        "exists (JSON reads \\n as a line break: a backslash starts an escape)",
        files={"data/new.csv": "1,2,3\n4,5,6\n7,8,9\n"}),
    bad("csv-windows-drive", short(input={"csv": "C:\\hw3\\x.csv"}), "input.csv",
        "no such file", hint="'C:' is a Windows drive: name the file with '/' between its "
                             "folders, relative to "),
    bad("json-windows-path", '{"input": {"csv": "C:\\Users\\x.csv"}}', "line 1, column 22",
        "invalid \\escape", hint="a backslash starts an escape in JSON (\\n, \\\"): write a "
                                  "path with '/' (or each backslash doubled, \\\\)"),
    bad("csv-name-nul", short(kernel={"csv": "k\x00.csv"}), "kernel.csv",
        "'k\\x00.csv' is not a valid file name"),
    bad("csv-name-number", short(kernel={"csv": 3}), "kernel.csv", "expected a CSV file name"),
    bad("csv-empty-list", short(input={"csv": []}), "input.csv", "empty list"),
    bad("csv-stack-mismatch", short(input={"csv": ["a.csv", "b.csv"]}), "input.csv[1]",
        "must have the same shape", files={"a.csv": "1,2\n3,4\n", "b.csv": "1,2,3\n"}),
    bad("csv-kernel-for-bias", short(bias={"csv": "b.csv"}), "bias", "does not fit",
        files={"b.csv": "1,2,3\n"}),
    bad("npy-missing", short(kernel={"npy": "k.npy"}), "kernel.npy", "no such file 'k.npy'"),
    bad("npy-folder", short(kernel={"npy": "k.npy"}), "kernel.npy", "is a folder",
        files={"k.npy": FOLDER}),
    bad("npy-object-array", short(kernel={"npy": "k.npy"}), "header", "Python objects",
        files={"k.npy": np.array([[1, "a"], [None, 2]], dtype=object)}, file="k.npy"),
    bad("npy-complex", short(kernel={"npy": "k.npy"}), "header", "complex numbers",
        files={"k.npy": np.ones((2, 2), dtype=complex)}, file="k.npy"),
    bad("npy-nan", short(kernel={"npy": "k.npy"}), "element [0,1]", "not a finite number",
        files={"k.npy": np.array([[1.0, np.nan], [0.0, 1.0]])}, file="k.npy"),
    bad("npy-empty", short(kernel={"npy": "k.npy"}), "header", "empty tensor",
        files={"k.npy": np.zeros((0, 2))}, file="k.npy"),
    bad("npy-not-npy", short(kernel={"npy": "k.npy"}), "header", "not a NumPy .npy file",
        files={"k.npy": "1,0\n0,1\n"}, file="k.npy"),
    bad("npy-truncated", short(kernel={"npy": "k.npy"}), "data", "truncated",
        files={"k.npy": _npy_bytes(np.ones((4, 4)))[:-40]}, file="k.npy"),
    bad("npy-rank-5", short(kernel={"npy": "k.npy"}), "kernel", "rank 2 to 4",
        files={"k.npy": np.ones((1, 1, 1, 2, 2))}),
    # --- results that overflow float64
    bad("overflow-result", short(input=[[1e300] * 3] * 3, kernel=[[1e300, 0], [0, 0]]),
        "conv2d_1.output", "overflows to infinity", hint="scale the numbers down"),
    # the output where the overflow starts, not a delta of an earlier layer it reached
    bad("overflow-where-it-starts", net(input=[[1, 2]], layers=[
        {"type": "flatten"}, {"type": "dense", "weights": [[1e308, 1e308]]},
        {"type": "dense", "weights": [[1], [1]]}], loss={"type": "mse", "target": [0, 0]}),
        "dense_1.output", "overflows to infinity"),
    bad("overflow-loss", net(input=[[1e200] * 4] * 4,
                             layers=[{"type": "flatten"}],
                             loss={"type": "mse", "target": [-1e200] * 16}),
        "loss", "overflows to infinity"),
    # --- a number that does not fit float32: named where it is written, not where it overflows
    bad("float32-input-cell", short(input=[[1, 2, 3], [4, 5e38, 6], [7, 8, 9]]), "input[1][1]",
        "5e+38 does not fit float32", hint="--dtype float64", args=("--dtype", "float32")),
    bad("float32-kernel-cell", conv(kernel=[[1, 0], [0, -1e39]]), "layers[0].kernel[1][1]",
        "-1e+39 does not fit float32", args=("--dtype", "float32")),
    bad("float32-shorthand-bias", short(bias=4e38), "bias", "4e+38 does not fit float32",
        args=("--dtype", "float32")),
    bad("float32-csv-input", short(input={"csv": "o.csv"}), "row 2, column 2",
        "does not fit float32", files={"o.csv": "1,2,3\n4,1e39,6\n7,8,9\n"},
        args=("--dtype", "float32"), file="o.csv"),
    bad("float32-delta", short(delta=[[0, 0], [0, 1e39]]), "delta[1][1]",
        "1e+39 does not fit float32", args=("--dtype", "float32")),
    bad("float32-bn-running-var", net(input=[[1, 2], [3, 4]], layers=[
        {"type": "flatten"}, {"type": "batchnorm1d", "mode": "eval",
                              "running_mean": [0, 0, 0, 0], "running_var": [1, 1e40, 1, 1]}],
        loss=DROP, delta=[0, 0, 0, 0]),
        "layers[1].running_var[1]", "1e+40 does not fit float32", args=("--dtype", "float32")),
    bad("float32-mse-target", net(input=[[1, 2], [3, 4]], layers=[{"type": "flatten"}],
                                  loss={"type": "mse", "target": [0, 0, -2e39, 0]}),
        "loss.target[2]", "-2e+39 does not fit float32", args=("--dtype", "float32")),
    # a bias of too many axes is told the forms the layer takes
    bad("conv-transpose-bias-grid", net(input=[[1, 2], [3, 4]], layers=[
        {"type": "conv_transpose2d", "kernel": [[1, 1], [1, 1]], "bias": [[1, 2, 3]] * 3}],
        loss=DROP, delta=[[1, 1, 1]] * 3), "layers[0].bias", "expected a tensor of rank 0 to 1",
        hint="expected a number or a vector of 1 (one bias per output channel)"),
    bad("dense-bias-grid", net(input=[1, 2], layers=[
        {"type": "dense", "weights": [[1, 1]], "bias": [[1]]}], loss=DROP, delta=[1]),
        "layers[0].bias", "expected a tensor of rank 0 to 1",
        hint="expected a vector of 1 or a number (one bias shared by every output)"),
    bad("conv2d-bias-rank-4", short(bias=[[[[1, 2]]]]), "bias", "expected a tensor of rank 0 to 3",
        hint="expected a number, a vector of 1, 2×2 (untied), 1×2×2 (untied)"),
    # float32 rounds these to 0, as float64 does 1e-400 (refused when read)
    bad("float32-underflow-input", short(input=[[1, 2, 3], [4, -1e-300, 6], [7, 8, 9]]),
        "input[1][1]", "-1e-300 is too small (float32 rounds it to 0)",
        hint="write 0 if you mean zero, or use --dtype float64", args=("--dtype", "float32")),
    bad("float32-underflow-csv-kernel", conv(kernel={"csv": "k.csv"}), "row 2, column 1",
        "1e-46 is too small (float32 rounds it to 0)", files={"k.csv": "1,0\n1e-46,1\n"},
        args=("--dtype", "float32"), file="k.csv"),
    # a batch norm's eps too: 0 in float32, it divided by zero in the kernel (an internal
    # error in eval mode, an overflow said in train mode)
    bad("float32-underflow-bn-eval-eps", net(input=[[[1, 2], [3, 4]]], layers=[
        {"type": "batchnorm2d", "mode": "eval", "running_mean": [0], "running_var": [0],
         "eps": 1e-50}], loss=DROP, delta=[[[1, 1], [1, 1]]]),
        "layers[0].eps", "1e-50 is too small (float32 rounds it to 0)",
        args=("--dtype", "float32")),
    bad("float32-underflow-bn-train-eps", net(input=[[[1, 1], [1, 1]]], layers=[
        {"type": "batchnorm2d", "eps": "1e-46"}], loss=DROP, delta=[[[1, 0], [0, 1]]]),
        "layers[0].eps", "1e-46 is too small (float32 rounds it to 0)",
        args=("--dtype", "float32")),
    # a leaky_relu's slope: 0 in float32, it cut the negative side with no word (exit 0)
    bad("float32-underflow-leaky-slope", net(input=[1, -2], layers=[
        {"type": "leaky_relu", "slope": 1e-50}], loss=DROP, delta=[1, 1]),
        "layers[0].slope", "1e-50 is too small (float32 rounds it to 0)",
        hint="write 0 if you mean zero, or use --dtype float64", args=("--dtype", "float32")),
    bad("float32-overflow-leaky-slope", net(input=[1, -2], layers=[
        {"type": "relu"}, {"type": "leaky_relu", "slope": 1e39}], loss=DROP, delta=[1, 1]),
        "layers[1].slope", "1e+39 does not fit float32", args=("--dtype", "float32")),
    # --- the command line
    bad("format-xml", short(), "--format", "unknown value 'xml'", args=("--format", "xml"),
        file=None, hint="allowed: "),
    bad("problem-missing", None, None, "no such file"),
    bad("problem-folder", FOLDER, None, "is a folder"),
    bad("lr-not-a-number", short(), "--lr", "'fast' is not a number", args=("--lr", "fast"),
        file=None),
    bad("dtype-float16", short(), "--dtype", "unknown value 'float16'",
        args=("--dtype", "float16"), file=None),
    bad("max-elements-too-small", short(), "input", "over the limit of 8",
        args=("--max-elements", "8"), hint="--max-elements"),
    # the input (9) fits; the conv's im2col (4 taps × 4 outputs) does not, and says so (it
    # said "one image's im2col buffer", which the help's "largest tensor" did not name)
    bad("max-elements-working-buffer", short(), "kernel",
        "the conv's working buffer for one image (im2col: 1 channel × 2×2 kernel taps × 2×2 "
        "outputs) would hold 16 elements, over the limit of 12",
        args=("--max-elements", "12"), hint="--max-elements"),
    bad("exact-sigmoid", layer(1, type="sigmoid"), "layers[1]", "not rational",
        args=("--exact",)),
]


def write_files(folder: Path, files: dict) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)  # data/x.csv
        if content is FOLDER:
            path.mkdir()
        elif isinstance(content, np.ndarray):
            with open(path, "wb") as handle:
                np.save(handle, content, allow_pickle=True)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)


def write_problem(folder: Path, doc, name: str = "bad.json") -> Path:
    path = folder / name
    if doc is None:
        return path
    if doc is FOLDER:
        path.mkdir()
    elif isinstance(doc, bytes):
        path.write_bytes(doc)
    elif isinstance(doc, str):
        path.write_text(doc, encoding="utf-8")
    else:
        path.write_text(_dumps(doc), encoding="utf-8")
    return path


def check_error_output(output: str, case: Bad) -> str:
    """The CLI's output is one error line, its hint (if any) after ``; hint: `` on the same
    line; returns the line without the hint."""
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1, output
    line, _, hint = lines[0].partition("; hint: ")
    assert line.startswith("error: "), output
    rest = line[len("error: "):]
    if case.file is not None:
        assert rest.startswith(f"{case.file}: "), line
        rest = rest[len(case.file) + 2:]
    if isinstance(case.where, re.Pattern):
        match = case.where.match(rest)
        assert match and rest[match.end():].startswith(": "), line
    elif case.where is not None:
        assert rest.startswith(f"{case.where}: "), line
    else:
        assert not re.match(r"(line \d|row \d|[\w.\[\]-]+: )", rest), line
    if isinstance(case.what, re.Pattern):
        assert case.what.search(rest), line
    else:
        assert case.what in rest, line
    if case.hint is not None:
        assert case.hint in hint, output
    return line


@pytest.fixture(scope="module", autouse=True)
def warm_up():
    """Import every module a run touches once, so the timings measure the work itself."""
    for args in (["backward", str(SAMPLES / "stackexchange.json")],
                 ["backward", str(SAMPLES / "stackexchange.json"), "--format", "json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output


def test_the_corpus_is_big_enough():
    assert len(CORPUS) >= 150


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("case", CORPUS)
def test_bad_input_is_one_line_and_exit_2(case: Bad, fmt, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, case.files)
    write_problem(tmp_path, case.doc)
    args = ["backward", "bad.json", *case.args]
    if fmt == "json" and "--format" not in args:
        args += ["--format", "json"]
    start = time.perf_counter()
    result = runner.invoke(app, args)
    elapsed = time.perf_counter() - start
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception), result.output  # SystemExit(2) only
    check_error_output(result.output, case)
    assert elapsed < BUDGET, f"{elapsed:.2f} s"


def test_space_separated_csv_is_not_called_a_header(tmp_path, monkeypatch):
    """numpy.savetxt's default separator is a space: read it (it was once called a header)."""
    monkeypatch.chdir(tmp_path)
    np.savetxt(tmp_path / "k.csv", np.eye(2))  # "1.000000000000000000e+00 0.0000..."
    write_problem(tmp_path, short(kernel={"csv": "k.csv"}))
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 0, result.output
    (tmp_path / "k.csv").write_text("1 0\n0 x\n")
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2
    check_error_output(result.output, Bad(None, "row 2, column 2", "'x' is not a number",
                                          file="k.csv"))


@pytest.mark.parametrize("bad_case", [pytest.param(c.values[0], id=c.id) for c in CORPUS[::4]
                                      if not c.values[0].args and not c.values[0].files
                                      and c.values[0].doc not in (None, FOLDER)])
def test_forward_and_stdin_say_the_same(bad_case, tmp_path, monkeypatch):
    """The forward command and a problem on standard input go through the same checks."""
    monkeypatch.chdir(tmp_path)
    path = write_problem(tmp_path, bad_case.doc)
    result = runner.invoke(app, ["forward", "bad.json"])
    assert result.exit_code == 2, result.output
    check_error_output(result.output, bad_case)
    result = runner.invoke(app, ["backward", "-"], input=path.read_bytes())
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(bad_case.doc, bad_case.where, bad_case.what,
                                          hint=bad_case.hint, file="<stdin>"))


def test_quick_mode_windows_path_names_the_file_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_files(tmp_path, {"data/x.csv": "1,2,3\n4,5,6\n7,8,9\n"})
    result = runner.invoke(app, ["backward", "--input", "data\\x.csv", "--kernel", "[[1]]",
                                 "--delta", "[[1, 1, 1], [1, 1, 1], [1, 1, 1]]"])
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(None, "--input", "no such file 'data\\x.csv'",
                                          hint="write the folders with '/': 'data/x.csv' "
                                               "exists", file=None))


def test_csv_unreadable(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k.csv").write_text("1,0\n0,1\n")
    (tmp_path / "k.csv").chmod(0)
    write_problem(tmp_path, short(kernel={"csv": "k.csv"}))
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2
    check_error_output(result.output, Bad(None, "kernel.csv", "permission denied"))


@pytest.mark.parametrize("option", ["stride", "dilation", "padding"])
def test_huge_options_that_are_valid_run_fast(option, tmp_path, monkeypatch):
    """A stride of 10⁹ is legal (one window); a 1×1 kernel ignores a dilation of 10⁹; a
    padding of 10⁹ with --max-elements raised is still refused before any allocation
    would be attempted beyond the machine (it is over the raised limit too)."""
    monkeypatch.chdir(tmp_path)
    doc = {"stride": short(stride=10**9, delta=[[0]]),
           "dilation": short(kernel=[[2]], dilation=10**9, delta=np.zeros((3, 3)).tolist()),
           "padding": short(padding=10**9)}[option]
    write_problem(tmp_path, doc)
    start = time.perf_counter()
    result = runner.invoke(app, ["backward", "bad.json", "--format", "json",
                                 "--max-elements", str(10**12)])
    elapsed = time.perf_counter() - start
    assert elapsed < BUDGET
    if option == "padding":
        assert result.exit_code == 2
        check_error_output(result.output, Bad(None, "padding", "over the limit of "
                                                               "1,000,000,000,000"))
    else:
        assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ a real process


SUBPROCESS_CASES = {
    "truncated.json": '{"input": [[1, 2], [3',
    "nan.json": '{"input": [[NaN]], "kernel": [[1]], "delta": [[1]]}',
    "deep.json": "[" * 100_000,
    "padding.json": _dumps(short(padding=10**9)),
    "layer-type.json": _dumps(layer(0, type="conv")),
    "overflow.json": _dumps(short(input=[[1e300] * 3] * 3, kernel=[[1e300, 0], [0, 0]])),
}


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("name", sorted(SUBPROCESS_CASES))
def test_real_process_prints_one_line(name, fmt, tmp_path):
    (tmp_path / name).write_text(SUBPROCESS_CASES[name])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnngrad", "backward", name, "--format", fmt],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    elapsed = time.perf_counter() - start
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith(f"error: {name}: "), done.stderr
    # a refused input never reaches the work it asks for (10⁹ padding, 10⁵ nested lists): a
    # loose bound, since a busy 2-core machine starts Python + numpy in well over a second
    assert elapsed < 10 * BUDGET, f"{elapsed:.2f} s including start-up"


def test_real_process_missing_file_and_bad_format(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for args, first in ((["backward", "nope.json"], "error: nope.json: no such file"),
                        (["backward", str(SAMPLES / "stackexchange.json"), "--format", "xml"],
                         "error: --format: unknown value 'xml'")):
        done = subprocess.run([sys.executable, "-m", "cnngrad", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert done.stderr.splitlines()[0] == first or \
            done.stderr.splitlines()[0].startswith(first), done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 2


@pytest.mark.parametrize("exception, what", [
    (ValueError("something\nunexpected"), "internal error (ValueError: something unexpected)"),
    (RecursionError("deep"), "nested too deeply"),
    (MemoryError(), "out of memory"),
    (ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger than the maximum "
                "possible size."), "out of memory"),
])
def test_any_other_exception_is_still_one_line(exception, what, tmp_path, monkeypatch):
    """A bug or the machine's limits: still exit 2 and one line naming the problem file."""
    import cnngrad.network

    def broken(*args, **kwargs):
        raise exception

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cnngrad.network, "run", broken)
    write_problem(tmp_path, short())
    result = runner.invoke(app, ["backward", "bad.json"])
    assert result.exit_code == 2
    check_error_output(result.output, Bad(None, None, what))
    result = runner.invoke(app, ["backward", "bad.json", "--debug"])
    assert result.exit_code == 2  # a bug: the traceback, and bad input's exit code
    assert "Traceback" in result.output and type(exception).__name__ in result.output


def test_far_past_the_address_space_is_out_of_memory(tmp_path, monkeypatch):
    """With --max-elements raised beyond reason, numpy refuses the allocation: one line."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNGRAD_MAX_WORK", "inf")  # past the work budget too
    write_problem(tmp_path, {"input": SHORT["input"], "delta": [[1]],
                             "layers": [{"type": "conv2d", "kernel": [[1]], "padding": 10**9},
                                        {"type": "maxpool2d", "size": 2 * 10**9 + 3}]})
    start = time.perf_counter()
    result = runner.invoke(app, ["backward", "bad.json", "--max-elements", str(10**21)])
    assert time.perf_counter() - start < BUDGET
    assert result.exit_code == 2
    check_error_output(result.output, Bad(None, None, "out of memory",
                                          hint="lower --max-elements"))


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    """``cnngrad backward big.json | head``: the closed pipe ends cnngrad quietly."""
    np.save(tmp_path / "x.npy", np.ones((200, 200)))
    write_problem(tmp_path, {"input": {"npy": "x.npy"}, "kernel": [[1]],
                             "delta": {"npy": "x.npy"}}, "big.json")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, "-m", "cnngrad", "backward", "big.json",
                                "--format", "json"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(100).startswith(b"{")
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=30) == 0, stderr
    assert stderr == ""


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, short(padding=-1))
    result = runner.invoke(app, ["backward", "bad.json", "--debug"])
    # the contract: exit 2 for bad input, never a traceback unless --debug shows one
    assert result.exit_code == 2
    assert "Traceback" in result.output and "ProblemError" in result.output


# ------------------------------------------------------------------ resource limits


def _sizes_checked(doc, max_elements=10**8) -> dict[str, int]:
    """Every size build_problem checks against the limit, by what it is."""
    seen: dict[str, int] = {}
    original = _Builder.check_size

    def record(self, elements, where, what):
        seen[f"{where}: {what}"] = max(elements, seen.get(f"{where}: {what}", 0))
        return original(self, elements, where, what)

    _Builder.check_size = record
    try:
        build_problem(doc, file="p.json", base_dir=Path("."), max_elements=max_elements)
    finally:
        _Builder.check_size = original
    return seen


def test_huge_padding_fails_fast():
    for value in (10**9, [10**9, 10**9], [0, 10**9, 0, 0]):
        start = time.perf_counter()
        with pytest.raises(ResourceError, match="padded input") as info:
            build_problem(short(padding=value), file="p.json", base_dir=Path("."))
        assert time.perf_counter() - start < 0.2
        assert info.value.where == "padding"
    start = time.perf_counter()
    with pytest.raises(ProblemError, match="spans"):
        build_problem(short(dilation=10**9), file="p.json", base_dir=Path("."))
    assert time.perf_counter() - start < 0.2


@pytest.mark.parametrize("doc, hint", [
    (short(dilation=3), 'at most 1×1 at this dilation here, or "padding": 1 (each side) for '
                        'this one'),
    # the padding that would fit the kernel (10⁹ a side) passes --max-elements: left out
    (short(dilation=10**9), "at most 1×1 at this dilation here"),
    ({"input": [[1, 2, 3]], "layers": [{"type": "conv1d", "kernel": [1, 1],
                                         "dilation": 10**9}], "delta": [[1]]},
     "at most 1 long at this dilation here"),
])
def test_a_kernel_too_large_suggests_only_a_padding_within_the_limit(doc, hint):
    with pytest.raises(ProblemError) as info:
        build_problem(doc, file="p.json", base_dir=Path("."))
    assert info.value.hint == f"a kernel must fit in the padded input it slides over: {hint}"


@pytest.mark.parametrize("what, doc", [
    ("the input", short(stride=2, delta=[[0]])),
    ("the padded input", short(padding=40, stride=2, delta=np.zeros((41, 41)).tolist())),
    ("output of conv2d_1", short(kernel=np.ones((30, 1, 1)).tolist(), stride=2,
                                 delta=np.zeros((30, 2, 2)).tolist())),
    ("im2col", {"input": np.zeros((2, 8, 8)).tolist(),
                "layers": [{"type": "conv2d", "kernel": np.ones((1, 2, 4, 4)).tolist()}],
                "delta": np.zeros((1, 5, 5)).tolist()}),
    ("padded delta", {"input": np.zeros((2, 2, 2)).tolist(),
                      "layers": [{"type": "conv2d", "kernel": np.zeros((4, 2, 2, 2)).tolist(),
                                  "padding": 10, "dilation": 21}],
                      "delta": np.zeros((4, 1, 1)).tolist()}),
    ("the padded input", pool(padding=1, size=2, stride=1, delta_shape=(4, 4))),
    ("output of dense_1", {"input": np.ones((5, 1, 1, 1)).tolist(),
                           "layers": [{"type": "flatten"},
                                      {"type": "dense", "weights": np.ones((40, 1)).tolist()}],
                           "delta": np.zeros((5, 40)).tolist()}),
    ("the weights", {"input": [[1, 2], [3, 4]],
                     "layers": [{"type": "flatten"},
                                {"type": "dense", "weights": np.ones((40, 4)).tolist()}],
                     "delta": [0] * 40}),
    ("the kernel", short(kernel=np.ones((5, 3, 3)).tolist(), stride=2,
                         delta=np.zeros((5, 1, 1)).tolist())),
])
def test_each_size_check_trips_and_max_elements_raises_it(what, doc):
    sizes = _sizes_checked(doc)
    largest = max(sizes.values())
    key = max((k for k in sizes if what in k), key=lambda k: sizes[k])
    if sizes[key] < largest:
        pytest.fail(f"{what} is not the largest checked size: {sizes}")
    with pytest.raises(ResourceError) as info:
        build_problem(doc, file="p.json", base_dir=Path("."), max_elements=largest - 1)
    assert what in info.value.what and "--max-elements" in info.value.hint
    build_problem(doc, file="p.json", base_dir=Path("."), max_elements=largest)


def _pool_doc(kind: str, length: int, **fields) -> dict:
    """A ``kind`` pool over a length×length map (2-D) or a signal of ``length`` (1-D), its
    delta of the output's shape (1×1 where there is no output)."""
    row = list(range(length))
    out = max(1, pool_output_size(length, fields.get("padding", 0), fields["size"],
                                  fields.get("stride", fields["size"]),
                                  fields.get("ceil_mode", False)))
    delta = [[1] * out] * out if kind.endswith("2d") else [1] * out
    return {"input": [row] * length if kind.endswith("2d") else row,
            "layers": [{"type": kind, **fields}], "delta": delta}


@pytest.mark.parametrize("kind", ["maxpool2d", "avgpool2d", "maxpool1d", "avgpool1d"])
@pytest.mark.parametrize("length, size, stride, padding, fixes", [
    # the padding each side that fits, and ceil_mode where a window's one output hangs over
    (3, 4, None, 0, '"padding": 1 (each side) for this one, or "ceil_mode": true'),
    (3, 6, 3, 0, '"padding": 2 (each side) for this one'),  # ceil(-3/3) + 1 = 0 outputs
    (3, 6, 1, 0, '"padding": 2 (each side) for this one'),
    (2, 7, None, 1, '"padding": 3 (each side) for this one, or "ceil_mode": true'),
    (1, 3, 3, 0, '"padding": 1 (each side) for this one, or "ceil_mode": true'),
    (1, 3, 2, 0, '"padding": 1 (each side) for this one'),  # ceil(-2/2) + 1 = 0 outputs
])
def test_a_pooling_window_too_large_hints_what_fits_and_each_fix_runs(
        kind, length, size, stride, padding, fixes):
    fields = {"size": size, "padding": padding, **({"stride": stride} if stride else {})}
    padded = length + 2 * padding
    with pytest.raises(ProblemError) as info:
        build_problem(_pool_doc(kind, length, **fields), file="p.json", base_dir=Path("."))
    error = info.value
    across = f"{padded}×{padded}" if kind.endswith("2d") else f"{padded}"
    window = f"{size}×{size}" if kind.endswith("2d") else f"{size}"
    assert (error.where, error.what) == (
        "layers[0].size", f"the window {window} is {'larger' if kind.endswith('2d') else 'longer'}"
                          f" than the padded input {across}")
    assert error.hint == (f"a window must fit in the padded input it slides over: at most "
                          f"{across} here, or {fixes}" + (
                              " (one window hanging over the edge)" if "ceil" in fixes else ""))
    # every fix named builds (padding within half the window, one output or more)
    suggested = int(re.search(r'"padding": (\d+)', fixes).group(1))
    for fix in [{"padding": suggested}] + ([{"ceil_mode": True}] if "ceil" in fixes else []):
        build_problem(_pool_doc(kind, length, **{**fields, **fix}), file="p.json",
                      base_dir=Path("."))


def test_a_pooling_window_too_large_along_one_axis_keeps_the_others_padding():
    doc = {"input": [[1, 2, 3, 4, 5, 6, 7]], "layers": [
        {"type": "maxpool2d", "size": [3, 9], "stride": [1, 2], "padding": [1, 0]}],
        "delta": [[1]]}
    with pytest.raises(ProblemError) as info:
        build_problem(doc, file="p.json", base_dir=Path("."))
    # columns: (9 − 7) / 2 = 1 each side; rows keep their 1; stride 2 leaves ceil_mode out
    assert info.value.hint.endswith('at most 3×7 here, or "padding": 1 (each side) for this one')
    doc["input"] = [[1, 2, 3, 4, 5, 6, 7]] * 2
    doc["layers"][0].update(size=[5, 3], padding=[0, 1])
    with pytest.raises(ProblemError) as info:
        build_problem(doc, file="p.json", base_dir=Path("."))
    assert info.value.hint.endswith('"padding": [2, 1] (each side) for this one')
    doc["layers"][0]["padding"] = [2, 1]
    doc["delta"] = [[1] * 4] * 2  # (2 + 4 − 5) + 1 rows, (7 + 2 − 3) / 2 + 1 columns
    build_problem(doc, file="p.json", base_dir=Path("."))


@pytest.mark.parametrize("fields, where", [
    ({"kernel": [[1]], "stride": 100000}, "layers[0].stride"),
    ({"kernel": [[1, 1], [1, 1]], "dilation": 100000}, "layers[0].dilation"),
    ({"kernel": np.ones((1, 1, 40, 40)).tolist()}, "layers[0].kernel"),
    # many filters, no stride written: the kernel, which gives them
    ({"kernel": np.ones((1, 500, 1, 1)).tolist()}, "layers[0].kernel"),
])
def test_a_transposed_convs_output_too_large_names_what_makes_it_so(fields, where):
    # the kernel was blamed for a 1×1 kernel's output spread by a stride of 100000
    doc = {"input": [[1, 2], [3, 4]], "layers": [{"type": "conv_transpose2d", **fields}],
           "delta": [[1]]}
    with pytest.raises(ResourceError) as info:
        # over 41×41 = 1681 output cells, not over the 40×40 kernel's 1600
        build_problem(doc, file="p.json", base_dir=Path("."), max_elements=1650)
    assert (info.value.where, info.value.what.partition(" would")[0]) == (where, "the output")


def test_max_elements_option_raises_the_limit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_problem(tmp_path, short(padding=10, dilation=20, delta=np.zeros((3, 3)).tolist()))
    # padded input 23×23 = 529 elements, output 3×3; the backward pass pads the delta by
    # 20 per side: 43×43 = 1849
    result = runner.invoke(app, ["backward", "bad.json", "--max-elements", "1000"])
    assert result.exit_code == 2
    check_error_output(result.output, Bad(None, "kernel", "padded delta of the backward pass "
                                                          "would hold 1,849 elements"))
    result = runner.invoke(app, ["backward", "bad.json", "--max-elements", "1849",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output


ENGINE_PROBLEMS = {
    "padded-conv": short(padding=150, delta=np.zeros((302, 302)).tolist()),
    "dilated-two-channels": {"input": np.ones((2, 2, 2)).tolist(),
                             "layers": [{"type": "conv2d",
                                         "kernel": np.ones((4, 2, 2, 2)).tolist(),
                                         "padding": 300, "dilation": 601}],
                             "delta": np.ones((4, 1, 1)).tolist()},
    "strided-reflect": {"input": np.ones((3, 300, 300)).tolist(),
                        "layers": [{"type": "conv2d", "kernel": np.ones((2, 3, 3, 3)).tolist(),
                                    "stride": 2, "padding": 2, "padding_mode": "reflect"}],
                        "delta": np.ones((2, 151, 151)).tolist()},
    "pool": {"input": np.ones((300, 300)).tolist(),
             "layers": [{"type": "maxpool2d", "size": 3, "stride": 1, "padding": 1},
                        {"type": "avgpool2d", "size": 2, "stride": 1}],
             "delta": np.ones((299, 299)).tolist()},
}


@pytest.mark.parametrize("name", sorted(ENGINE_PROBLEMS))
def test_engine_memory_is_bounded_by_the_checked_sizes(name):
    """What the engine holds at its peak is a small multiple of the sizes build_problem
    checked (plus two 4 MB im2col tiles): nothing escapes the estimate.  (Without the check
    of the padded delta, "dilated-two-channels" holds 8× its padded input and fails.)"""
    from cnngrad.network import run

    doc = ENGINE_PROBLEMS[name]
    sizes = _sizes_checked(doc)
    problem = build_problem(doc, file="p.json", base_dir=Path("."))
    tracemalloc.start()
    try:
        run(problem)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bound = 8 * 4 * sum(sizes.values()) + 2 * 4 * 2**20
    assert peak <= bound, f"peak {peak:,} bytes > {bound:,} (sizes {sizes})"


# ------------------------------------------------------------------ -o never loses anything


def _run_o(tmp_path, doc, output, *extra):
    write_problem(tmp_path, doc, "p.json")
    return runner.invoke(app, ["backward", "p.json", "-o", str(output), "--format", "json",
                               *extra])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_output_error_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run_o(tmp_path, short(padding=-1), "out.json")
    assert result.exit_code == 2
    assert not (tmp_path / "out.json").exists()
    assert _leftovers(tmp_path) == []


def test_output_error_leaves_an_existing_file_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.json").write_text("precious")
    for doc in (short(padding=-1), short(input=[[1e300] * 3] * 3, kernel=[[1e300, 0], [0, 0]])):
        result = _run_o(tmp_path, doc, "out.json")
        assert result.exit_code == 2, result.output
        assert (tmp_path / "out.json").read_text() == "precious"
    assert _leftovers(tmp_path) == []


def test_output_failed_write_cleans_up(tmp_path, monkeypatch):
    """A write that fails half way (a full disk) is one error line, the old file intact."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.json").write_text("precious")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    result = _run_o(tmp_path, short(), "out.json")
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(None, "--output", "No space left on device",
                                          file="out.json"))
    assert (tmp_path / "out.json").read_text() == "precious"
    assert _leftovers(tmp_path) == []


def test_output_success_replaces_atomically(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out.json").write_text("old")
    result = _run_o(tmp_path, short(), "out.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out.json").read_text())["layers"][0]["name"] == "conv2d_1"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("target", ["p.json", "./p.json", "k.csv", "sub/../k.csv", "k.npy",
                                    "link.csv", "hard.csv"])
def test_output_over_an_input_file_is_refused(target, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "k.csv").write_text("1,0\n0,1\n")
    np.save(tmp_path / "k.npy", np.ones((2, 2)))
    (tmp_path / "link.csv").symlink_to(tmp_path / "k.csv")
    os.link(tmp_path / "k.csv", tmp_path / "hard.csv")
    doc = short(kernel={"csv": "k.csv"}, input={"npy": "k.npy"}, delta=[[0]])
    write_problem(tmp_path, doc, "p.json")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    # -o k.npy alone is refused for its suffix (-o writes text); --format json would write it
    forced = ["--format", "json"] if target.endswith(".npy") else []
    result = runner.invoke(app, ["backward", "p.json", "-o", target, *forced])
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(None, "--output", "refusing to overwrite",
                                          file=str(Path(target))))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_output_that_is_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    result = _run_o(tmp_path, short(), "out")
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(None, "--output", "is a folder", file="out"))
    assert list((tmp_path / "out").iterdir()) == []


def test_output_into_a_missing_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _run_o(tmp_path, short(), "no/such/folder/out.json")
    assert result.exit_code == 2, result.output
    check_error_output(result.output, Bad(None, "--output", "does not exist",
                                          file="no/such/folder/out.json"))
    assert not (tmp_path / "no").exists()


# ------------------------------------------------------------------ hypothesis

LAYER_TYPES = tuple(LAYER_FIELDS)
ALL_FIELDS = sorted({f for fields in LAYER_FIELDS.values() for f in fields})
JUNK_STRINGS = ("same", "valid", "zeros", "reflect", "replicate", "circular", "first", "split",
                "all", "mse", "sum", "mean", "half_sum", "2", "1/2", "1/0", "nan", "abc", "")

junk = st.one_of(
    st.integers(-1, 4),
    st.sampled_from([Decimal("1.5"), Decimal("2.0"), Decimal("-0.5"), Decimal("1E+400"),
                     Decimal("1E-400"), 10**30, 10**400]),
    st.sampled_from(JUNK_STRINGS),
    st.booleans(),
    st.none(),
    st.lists(st.integers(-1, 3), max_size=5),
    st.just({}),
)
leaf = st.one_of(st.integers(-3, 3), st.sampled_from([Decimal("0.5"), Decimal("-1.25"),
                                                      "1/3", "0.1"]))


def mostly(valid, one_in: int = 8):
    """``valid`` most of the time, junk about once in ``one_in`` draws (the rare branch is
    the last value: hypothesis draws and shrinks towards 0 more often than uniformly)."""
    return st.integers(0, one_in - 1).flatmap(lambda i: junk if i == one_in - 1 else valid)


def rarely(draw, one_in: int) -> bool:
    return draw(st.integers(0, one_in - 1)) == one_in - 1


@st.composite
def tensors(draw, min_rank=0, max_rank=4, max_side=3):
    rank = draw(st.integers(min_rank, max_rank))
    shape = draw(st.lists(st.integers(1, max_side), min_size=rank, max_size=rank))
    values = draw(st.lists(leaf, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    if rarely(draw, 30) and values:  # now and then a bad element
        values[draw(st.integers(0, len(values) - 1))] = draw(junk)
    if rarely(draw, 30) and rank >= 2:  # or a ragged row
        nested = np.empty(len(values), dtype=object)
        nested[:] = values
        rows = nested.reshape(shape).tolist()
        rows[-1].append(0)
        return rows
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array.reshape(shape).tolist() if shape else values[0]


small_pair = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2))
FIELD_VALUES = {
    "kernel": mostly(tensors(2, 4, 2), 20), "weights": mostly(tensors(2, 2, 4), 20),
    "bias": mostly(tensors(0, 3, 3), 20),
    "stride": mostly(small_pair), "dilation": mostly(small_pair), "size": mostly(small_pair),
    "padding": mostly(st.one_of(st.integers(0, 2), st.sampled_from(["same", "valid"]),
                                st.lists(st.integers(0, 2), min_size=2, max_size=2),
                                st.lists(st.integers(0, 2), min_size=4, max_size=4))),
    "groups": mostly(st.sampled_from([1, 1, 1, 2, 3])),
    "padding_mode": st.sampled_from(["zeros", "reflect", "replicate", "circular", "bad"]),
    "flip_kernel": mostly(st.booleans()), "ceil_mode": mostly(st.booleans()),
    "ties": st.sampled_from(["first", "split", "all", "none"]),
    "count_include_pad": mostly(st.booleans()),
    "slope": mostly(leaf), "name": st.sampled_from(["a", "b", "c", "d", "loss", "1x", 3]),
    # graphs: what a layer reads
    "input": mostly(st.sampled_from(["input", "a", "b", "c", "relu_1", "conv2d_1"])),
    "inputs": mostly(st.lists(st.sampled_from(["input", "a", "b", "c", "relu_1"]),
                              min_size=0, max_size=3)),
}


@st.composite
def layers(draw):
    kind = draw(mostly(st.sampled_from(LAYER_TYPES), 20))
    fields = LAYER_FIELDS.get(kind, ()) if isinstance(kind, str) else ()
    raw = {"type": kind}
    for name in fields + ("name",):
        required = name in ("kernel", "weights", "size")
        if (required and not rarely(draw, 30)) or rarely(draw, 6 if name == "name" else 3):
            # a field without its own strategy here gets a small tensor
            raw[name] = draw(FIELD_VALUES.get(name, tensors(0, 3, 3)))
    if rarely(draw, 50):  # now and then a layer names what it reads
        raw["input"] = draw(FIELD_VALUES["input"])
    if rarely(draw, 30):  # a field of another layer type, or junk
        raw[draw(st.sampled_from(ALL_FIELDS + ["kernal", "junk"]))] = draw(junk)
    if rarely(draw, 50):
        raw.pop("type")
    return raw


@st.composite
def documents(draw):
    doc: dict = {"input": draw(mostly(tensors(2, 4, 4), 30))}
    if rarely(draw, 4):
        for key in SHORTHAND_KEYS:
            if key == "kernel" or draw(st.booleans()):
                doc[key] = draw(FIELD_VALUES[key])
    else:
        doc["layers"] = draw(st.lists(layers(), min_size=0 if rarely(draw, 30) else 1,
                                      max_size=5))
    ending = draw(st.sampled_from(["delta", "mse", "ce"] * 3 + ["both", "none"]))
    if ending in ("delta", "both"):
        doc["delta"] = draw(tensors(0, 4, 3))
    if ending in ("mse", "ce", "both"):
        loss = {"type": "mse" if ending != "ce" else "cross_entropy",
                "target": draw(st.one_of(st.integers(0, 3), tensors(0, 4, 3)))}
        if ending == "mse" and draw(st.booleans()):
            loss["reduction"] = draw(mostly(st.sampled_from(["half_sum", "sum", "mean"])))
        if rarely(draw, 20):
            loss[draw(st.sampled_from(["reduction", "target", "type", "weights"]))] = draw(junk)
        doc["loss"] = loss
    if rarely(draw, 20):
        doc[draw(st.sampled_from(TOP_KEYS_LAYERS + SHORTHAND_KEYS + ("junk", "kernal")))] = \
            draw(junk)
    return doc


def _fix_shapes(doc: dict, error: ProblemError) -> dict | None:
    """A copy of ``doc`` with the one shape ``error`` complains about made to fit (a delta, a
    target, dense weights, a conv kernel's channels, a bias), so the engine gets to run on
    many of the generated networks; None when the error is not about such a shape."""
    what, where = error.what, error.where or ""
    fixed = copy.deepcopy(doc)
    path = re.fullmatch(r"layers\[(\d+)\]\.(\w+)", where)
    raw = fixed["layers"][int(path.group(1))] if path else fixed

    def ones(*shape):
        return np.ones(shape, dtype=int).tolist()

    if where in ("delta", "loss.target"):
        match = re.search(r"(?:expected shape|probabilities of shape) ([\d×]+)", what)
        if not match:
            return None
        zeros = np.zeros([int(s) for s in match.group(1).split("×")]).tolist()
        if where == "delta":
            fixed["delta"] = zeros
        else:
            fixed["loss"]["target"] = zeros
    elif where.endswith("weights") and "the input vector has" in what:
        outputs = int(re.search(r"shape (\d+)×", what).group(1))
        raw["weights"] = ones(outputs, int(re.search(r"vector has (\d+)", what).group(1)))
    elif where.endswith("kernel") and "channel" in what:
        match = (re.search(r"the input has (\d+) channels", what)
                 or re.search(r"over a (\d+)-channel input", what))
        if match:
            raw["kernel"] = ones(int(match.group(1)), 2, 2)
        else:
            match = re.search(r"expected (\d+) \(input", what)
            if not match:
                return None
            raw["kernel"] = ones(1, int(match.group(1)), 1, 1)
            raw.pop("groups", None)
    elif where.endswith("bias") and "does not fit" in what:
        raw["bias"] = ones(int(re.search(r"fit (\d+) (?:filter|output channel)", what).group(1)))
    else:
        return None
    return fixed


def build_or_fix(doc: dict, exact: bool, base_dir: Path):
    """build_problem, fixing up to six shapes on the way; None when it stays an error."""
    for _ in range(6):
        try:
            return build_problem(doc, file="h.json", base_dir=base_dir, exact=exact)
        except ProblemError as error:
            doc = _fix_shapes(doc, error)
            if doc is None:
                return None
    return None


RAN: list[int] = []


# derandomized: the same 150 documents every run, so the count below cannot flake
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(doc=documents(), exact=st.booleans())
def test_random_documents_raise_only_problem_errors(doc, exact, tmp_path_factory):
    """build_problem raises a ProblemError or succeeds (anything else fails the test); when it
    succeeds the engine runs and its result renders (exact: or names what is not rational)."""
    from cnngrad.network import run
    from cnngrad.render.json_result import render_json

    problem = build_or_fix(doc, exact, tmp_path_factory.getbasetemp())
    if problem is None:
        return
    try:
        with np.errstate(all="ignore"):
            trace = run(problem)
    except ExactUnsupportedError:
        assert exact
        return
    RAN.append(1)
    render_json(trace)


def test_random_documents_reached_the_engine(tmp_path_factory):
    """The generator is not so wild that nothing ever runs (counted by the test above, run
    here when it has not run first: alone, or in a shuffled order)."""
    if not RAN:
        test_random_documents_raise_only_problem_errors(tmp_path_factory=tmp_path_factory)
    # a tenth of the documents at least: which 150 are drawn depends on hypothesis's release
    # (18 ran with 6.100, 25 with 6.120, 51 with 6.140, 41 with 6.155)
    assert len(RAN) >= 15, len(RAN)


def test_errors_are_cnngrad_errors():
    # the tree the CLI relies on: every problem error is a CnnGradError with exit code 2
    assert issubclass(ProblemError, CnnGradError) and ProblemError.exit_code == 2


@pytest.mark.parametrize("name, known, expected", [
    ("kernal", ["kernel", "stride"], "kernel"),
    ("SAME", ["same", "valid"], "same"),
    # a shortening is close however short (torch's scale_factor is cnngrad's scale)
    ("scale_factor", ["scale", "mode", "name"], "scale"),
    # a few shared letters are not: torch's inplace is neither name nor input
    ("inplace", ["input", "name", "type"], None),
    ("bias_attr", ["kernel", "stride"], None),
])
def test_closest_names_only_a_near_spelling(name, known, expected):
    assert closest(name, known) == expected


def test_a_result_or_an_answers_file_given_as_the_problem_is_named(tmp_path):
    # the two other JSON files a student holds: backward's own --format json result, and an
    # answers file for check; each is named, with the command that reads it
    problem = Path(__file__).parent.parent / "samples" / "stackexchange.json"
    runner = CliRunner()
    result = tmp_path / "result.json"
    made = runner.invoke(app, ["backward", str(problem), "-f", "json", "-o", str(result)])
    assert made.exit_code == 0, made.output
    answers = Path(__file__).parent.parent / "samples" / "answers" / "stackexchange-answers.json"
    for wrong_file, said in [
            (result, "this is cnngrad's own output (--format json), not a problem"),
            (answers, "this looks like an answers file (paths as keys): check it against its "
                      "problem with cnngrad check PROBLEM ANSWERS")]:
        run = runner.invoke(app, ["backward", str(wrong_file)])
        assert run.exit_code == 2
        assert said in run.stderr and len(run.stderr.strip().splitlines()) == 1
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"cnngrad_manifest": 1, "variants": []}')
    run = runner.invoke(app, ["backward", str(manifest)])
    assert run.exit_code == 2 and "hint: this is an exam manifest (generate --students), not a " \
        "problem: give it to cnngrad check --manifest" in run.stderr
    # a problem with a misspelt key keeps its closest-key hint, a dot in it or not
    for doc in ({"input": [[1.0]], "kernal": [[1.0]], "delta": [[1.0]]},
                {"kernel": [[1.0]], "input.csv": "x.csv", "delta": [[1.0]]}):
        with pytest.raises(ProblemError) as caught:
            build_problem(doc, file="p.json", base_dir=Path("."))
        assert "answers file" not in str(caught.value.hint)
        assert "did you mean" in str(caught.value.hint)
    # a document with an input is a problem, whatever else it holds
    with pytest.raises(ProblemError) as caught:
        build_problem({"input": [[1.0]], "cnngrad": "1.1.0", "layers": [], "delta": [[1.0]]},
                      file="p.json", base_dir=Path("."))
    assert caught.value.hint.startswith("allowed: ")


@pytest.mark.parametrize("read_keys_first", [False, True])
@pytest.mark.parametrize("made_by, said", [
    (["backward", "-f", "json"], "this is cnngrad's own output (--format json), not a problem"),
    (["forward", "-f", "json"], "this is cnngrad's own output (--format json), not a problem"),
    (["check", "-f", "json"], "this is a grade report (check --format json), not a problem"),
    (["check", "-f", "gradescope"],
     "this is a grade report (check --format gradescope), not a problem"),
])
def test_cnngrad_output_given_as_the_problem_is_named(made_by, said, read_keys_first, tmp_path,
                                                     monkeypatch):
    # the file kind is told from the top-level keys and their values' types alone, so a big
    # file, whose keys are read before its numbers, gets the same hint as a small one
    import cnngrad.cli.common as common

    samples = Path(__file__).parent.parent / "samples"
    files = [str(samples / "stackexchange.json")]
    if made_by[0] == "check":
        files.append(str(samples / "answers" / "stackexchange-answers.json"))
    output = tmp_path / "output.json"
    made = CliRunner().invoke(app, [made_by[0], *files, *made_by[1:], "-o", str(output)])
    assert made.exit_code == 0, made.output
    if read_keys_first:
        monkeypatch.setattr(common, "KEYS_FIRST_BYTES", 0)
        monkeypatch.setattr("cnngrad.problem.load_problem",
                            lambda *a, **k: pytest.fail("the keys alone should have told"))
    run = CliRunner().invoke(app, ["backward", str(output)])
    assert run.exit_code == 2
    assert f"hint: {said}: give the problem file" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


#: What a file that cannot be opened at all says: it has no inside to point into.
UNOPENED = ("no such file", "is a folder")


def test_every_error_about_a_file_s_content_says_where():
    """The contract's line is ``error: <file>: <where>: <what>``: a corpus case that names a
    file and is about its content has a where (``top level`` for a JSON document as a whole,
    ``line 1, column 1`` for text that is empty or not UTF-8, ``row 1`` for an empty CSV,
    ``header`` or ``data`` of a .npy), which :func:`check_error_output` matches exactly."""
    unplaced = [case.id for case in CORPUS if case.values[0].file is not None
                and case.values[0].where is None and case.values[0].what not in UNOPENED]
    assert unplaced == []


def test_a_markdown_file_given_as_the_problem_is_named_for_what_it_is(tmp_path):
    # "# Homework 3" read as JSON: the hint said JSON has no comments
    notes = tmp_path / "notes.md"
    notes.write_text("# Homework 3\n\nThe kernel is [[1, 0], [0, 1]].\n", encoding="utf-8")
    result = runner.invoke(app, ["backward", str(notes)])
    assert result.exit_code == 2
    assert result.output == (f"error: {notes}: line 1, column 1: expecting a value; hint: this "
                             f"is a Markdown file, not a problem file (JSON); cnngrad samples "
                             f"lists problems to start from\n")
    # a JSON file with a comment still gets the comment's hint
    commented = tmp_path / "p.json"
    commented.write_text("# my problem\n{}\n", encoding="utf-8")
    assert "JSON has no comments" in runner.invoke(app, ["backward", str(commented)]).output


def test_a_null_loss_beside_a_null_delta_asks_for_one(tmp_path):
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": [[1]], "loss": None,
                                   "delta": None}), encoding="utf-8")
    result = runner.invoke(app, ["backward", str(problem)])
    assert result.exit_code == 2
    assert result.output == (f"error: {problem}: top level: 'loss' and 'delta' are both null; "
                             f"give one of them; hint: a loss ({{\"type\": \"mse\", \"target\": "
                             f"...}}) or the delta at the last layer's output, and leave the "
                             f"other out\n")


@pytest.mark.parametrize("null, other, given", [
    ("loss", "delta", {"delta": [[1, 0], [0, 1]]}),
    ("delta", "loss", {"loss": {"type": "mse", "target": [[1, 0], [0, 1]]}}),
])
def test_a_null_loss_or_delta_beside_the_other_is_named(tmp_path, null, other, given):
    # {"loss": null, "delta": ...} said only "give either 'loss' or 'delta', not both"
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": [[1]], null: None,
                                   **given}), encoding="utf-8")
    result = runner.invoke(app, ["backward", str(problem)])
    assert result.exit_code == 2
    assert result.output == (f"error: {problem}: {null}: '{null}' is null; give either 'loss' "
                             f"or 'delta', not both; hint: leave '{null}' out: the problem "
                             f"gives '{other}'\n")


@pytest.mark.parametrize("layers, kernel, where, what", [
    (None, [[1]], "layers", "'layers' is null; give either 'layers' or the one-conv shorthand "
                            "'kernel', not both; hint: leave 'layers' out: the problem gives "
                            "'kernel'"),
    ([{"type": "relu"}], None, "kernel", "'kernel' is null; give either 'layers' or the "
                                         "one-conv shorthand 'kernel', not both; hint: leave "
                                         "'kernel' out: the problem gives 'layers'"),
    (None, None, "top level", "'layers' and 'kernel' are both null; give one of them"),
])
def test_a_null_layers_or_kernel_beside_the_other_is_named(tmp_path, layers, kernel, where,
                                                            what):
    # {"kernel": ..., "layers": null} was blamed on the kernel: "not both"
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2], [3, 4]], "kernel": kernel,
                                   "layers": layers, "delta": [[1, 0], [0, 1]]}),
                       encoding="utf-8")
    result = runner.invoke(app, ["backward", str(problem)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {problem}: {where}: {what}"), result.output
    assert result.output.count("\n") == 1


def test_a_bias_of_too_high_a_rank_that_holds_no_vector_gets_no_reshape_hint(tmp_path):
    # but the forms the layer takes
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"input": [0.1, 0.2], "layers": [
        {"type": "dense", "weights": [[1, 2], [3, 4]], "bias": [[0, 1], [1, 0]]}],
        "delta": [1, 1]}))
    result = runner.invoke(app, ["backward", str(path)])
    assert result.exit_code == 2
    assert result.output == (f"error: {path}: layers[0].bias: expected a tensor of rank 0 to 1, "
                             f"got rank 2 (2×2); hint: expected a vector of 2 or a number (one "
                             f"bias shared by every output)\n")


@pytest.mark.parametrize("layers, offered", [
    ([{"type": "conv2d", "kernel": [[1]]}, {"type": "relu", "name": None}], True),
    # relu_1, the default, is another layer's name: leaving the key out would clash
    ([{"type": "conv2d", "kernel": [[1]], "name": "relu_1"}, {"type": "relu", "name": None}],
     False),
    ([{"type": "relu", "name": None}, {"type": "conv2d", "kernel": [[1]], "name": "relu_1"}],
     False),
])
def test_a_null_layer_name_is_told_of_the_default_only_when_it_is_free(tmp_path, layers,
                                                                       offered):
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1.0, 2.0]], "layers": layers, "delta": [[1, 1]]}))
    result = runner.invoke(app, ["backward", str(problem)])
    assert result.exit_code == 2 and "bad layer name null" in result.output
    assert ('leave "name" out for the default, relu_1' in result.output) == offered


def test_a_field_of_another_type_extending_an_allowed_key_is_no_misspelling_of_it(tmp_path):
    # "it is a field of conv2d and conv1d; hint: did you mean 'padding'?" contradicted itself
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2], [3, 4]],
                                   "layers": [{"type": "conv_transpose2d", "kernel": [[1]],
                                               "padding_mode": "zeros"}],
                                   "delta": [[1, 1], [1, 1]]}), encoding="utf-8")
    result = CliRunner().invoke(app, ["backward", str(problem)])
    assert result.exit_code == 2
    assert result.stderr.endswith(
        "layers[0].padding_mode: unknown key 'padding_mode' in a conv_transpose2d layer: it is "
        "a field of conv2d and conv1d; hint: allowed: bias, dilation, groups, input, kernel, "
        "name, output_padding, padding, stride, type\n")
