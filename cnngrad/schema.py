"""A JSON Schema (draft 2020-12) of the problem format, for editors and validators.

``cnngrad schema`` prints :func:`problem_schema`.  Save it and point an editor at it for your
problem files (VS Code: the ``json.schemas`` setting; a ``"$schema"`` key inside a problem is
not possible, since unknown keys are errors) and it completes keys and flags typos as you type.  The schema checks the document's form:
keys, layer types and their fields, the TENSOR forms and ranks, number syntax.  What only the
numbers can tell (shapes that fit together, a class index in range, a CSV file that exists) is
left to ``cnngrad`` itself, whose errors name the JSON path.

Each layer type's and loss's fields come from its family (:mod:`cnngrad.families`), the same
object the builder validates with, so the schema cannot disagree with the parser: the tests
check that every field is described.
"""

from __future__ import annotations

from typing import Any

from cnngrad.families import LAYERS, LOSSES, SHORTHAND, layer_family, loss_family
from cnngrad.file_kinds import INDEX_TEXT, NAME_TEXT, PATH_TEXT
from cnngrad.problem import LAYOUTS, SHORTHAND_KEYS
from cnngrad.teach.grading import DEFAULT_MIN_DECIMALS

SCHEMA_ID = "urn:cnngrad:problem:1"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# The patterns spell their classes out: \s and \d mean other characters in JSON Schema's
# regular expressions (ECMA-262: \s has U+FEFF but not U+001C or U+0085) than in Python's.
#: What cnngrad strips around a number or a path: Python's whitespace (str.isspace)
SPACE = r"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
#: What it takes inside a fraction ("1 / 3") or an element index ("[0, 1]"): ASCII spaces
ASCII_SPACE = r"[\t-\r ]"
# tensorio's number syntax: a decimal ("0.51", "2e-3") or a fraction ("-1/3"), spaces around
_UNSIGNED_DECIMAL = r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_DENOMINATOR = r"[0-9]*[1-9][0-9]*"  # "1/0" is an error
DECIMAL_PATTERN = rf"[+-]?{_UNSIGNED_DECIMAL}"
FRACTION_PATTERN = rf"[+-]?[0-9]+{ASCII_SPACE}*/{ASCII_SPACE}*[+-]?{_DENOMINATOR}"
NUMBER_STRING_PATTERN = rf"^{SPACE}*(?:{DECIMAL_PATTERN}|{FRACTION_PATTERN}){SPACE}*$"
# the same without a minus sign (a value ≥ 0: "-0" too is refused), and a zero's forms
NON_NEGATIVE_STRING_PATTERN = (
    rf"^{SPACE}*(?:\+?{_UNSIGNED_DECIMAL}"
    rf"|\+?[0-9]+{ASCII_SPACE}*/{ASCII_SPACE}*\+?{_DENOMINATOR}"
    rf"|-[0-9]+{ASCII_SPACE}*/{ASCII_SPACE}*-{_DENOMINATOR}){SPACE}*$")  # "-1/-3" is 1/3
ZERO_STRING_PATTERN = (rf"^{SPACE}*[+-]?(?:0+\.?0*|\.0+)(?:[eE][+-]?[0-9]+)?{SPACE}*$"
                       rf"|^{SPACE}*[+-]?0+{ASCII_SPACE}*/")
# a decimal without an exponent whose whole part is 1 or more ("1", "2.5"): what the schema
# can tell is not below 1 (an exponent's or a fraction's value is cnngrad's to judge)
AT_LEAST_ONE_STRING_PATTERN = rf"^{SPACE}*\+?0*[1-9][0-9]*(?:\.[0-9]*)?{SPACE}*$"
#: a zero written with a minus sign ("-0", "-0.0", "-0/3"): a value ≥ 0, as cnngrad reads it
_NEGATIVE_ZERO = {"type": "string", "allOf": [{"pattern": NUMBER_STRING_PATTERN},
                                               {"pattern": ZERO_STRING_PATTERN}]}
# JSON Schema's $ is the end (ECMA-262); Python's matches before a last newline too, which
# the lookahead refuses ("conv\n" is no name)
NAME_PATTERN = rf"^{NAME_TEXT}$(?!\n)"
#: A grading block's points key: a dotted path and its element index, as check reads one.
_INDEX_PATTERN = INDEX_TEXT.pattern.replace(r"\s", ASCII_SPACE).replace(r"\d", "[0-9]")  # re.ASCII
POINTS_PATH_PATTERN = rf"^{SPACE}*{PATH_TEXT.pattern}{SPACE}*(?:{_INDEX_PATTERN})?{SPACE}*$"

# which tensor ranks each role accepts (as cnngrad.problem reads them)
RANKS = {
    "input": (1, 4),
    "input_2d": (2, 4),  # the one-conv shorthand: a 2-D problem
    "kernel": (2, 4),
    "conv_bias": (0, 3),
    "weights": (2, 2),
    "dense_bias": (0, 1),
    "delta": (0, 4),
    "target": (0, 4),
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


def _nested(rank: int) -> dict:
    """Nested lists of exactly ``rank`` levels around numbers (rectangularity is cnngrad's to
    check: JSON Schema cannot)."""
    schema: dict = _ref("number")
    for _ in range(rank):
        schema = {"type": "array", "minItems": 1, "items": schema}
    return schema


def _tensor(low: int, high: int) -> dict:
    """A TENSOR of rank ``low``…``high``: inline lists, or a CSV / NPY file reference."""
    forms: list[dict] = [_ref(f"rank{rank}") for rank in range(low, high + 1)]
    if low <= 2 <= high:
        forms.append(_ref("csv_matrix"))
    if low <= 3 <= high:
        forms.append(_ref("csv_stack"))
    forms.append(_ref("npy_file"))
    return {"anyOf": forms}


def _closed(properties: dict, required: tuple[str, ...] = (), description: str = "") -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def layer_field_schemas(kind: str) -> dict[str, dict]:
    """The schema of each field of a layer type (besides ``type`` and ``name``)."""
    if kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; allowed: {', '.join(LAYERS)}")
    return layer_family(kind).schema_fields(_ref)


def _layer(kind: str) -> dict:
    properties = {"type": {"const": kind}, "name": _ref("layer_name")}
    if not layer_family(kind).reads_many:
        properties["input"] = {**_ref("source_name"), "description":
                               "the layer whose output it reads, or \"input\" (the "
                               "problem's input); default: the previous layer"}
    properties.update(layer_field_schemas(kind))
    # rules between fields (batch norm's running statistics with "eval" only)
    return {**_closed(properties, ("type",) + layer_family(kind).required),
            **layer_family(kind).schema_rules()}


def _loss(kind: str) -> dict:
    family = loss_family(kind)
    properties = {"type": {"const": kind}, **family.schema_fields(_ref)}
    return _closed(properties, ("type",) + family.required)


def _grading() -> dict:
    """The ``grading`` block (read by ``cnngrad check`` only)."""
    non_negative = _ref("non_negative_number")
    schema = _closed({
        "min_decimals": {"type": "integer", "minimum": 0, "maximum": 17,
                         "default": DEFAULT_MIN_DECIMALS,
                         "description": "a value written with fewer decimals is wrong"},
        "atol": {**non_negative, "description": "with rtol, replaces the decimals rule: right "
                                                "when |given − true| ≤ atol + rtol·|true|"},
        "rtol": {**non_negative, "description": "with atol, replaces the decimals rule: right "
                                                "when |given − true| ≤ atol + rtol·|true|"},
        "points": {"type": "object", "minProperties": 1,
                   "propertyNames": {"pattern": POINTS_PATH_PATTERN},
                   "additionalProperties": _ref("positive_number"),
                   "description": "required dotted paths and their points"},
        "carry_forward": {"type": "boolean", "default": False,
                          "description": "a wrong answer right from the student's own "
                                         "upstream answers earns its points"},
    }, description="how cnngrad check grades answers to this problem")
    # min_decimals belongs to the decimals rule, which atol/rtol replace: not both
    schema["not"] = {"required": ["min_decimals"],
                     "anyOf": [{"required": ["atol"]}, {"required": ["rtol"]}]}
    return schema


def problem_schema() -> dict:
    """The JSON Schema of a problem file (contract v1), as a JSON-ready dict."""
    defs: dict[str, dict] = {
        "number": {"anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": NUMBER_STRING_PATTERN},
        ], "description": 'a JSON number, or a string with a decimal or a fraction: "0.51", '
                          '"-1/3", "2e-3"'},
        "non_negative_number": {"anyOf": [
            {"type": "number", "minimum": 0},
            {"type": "string", "pattern": NON_NEGATIVE_STRING_PATTERN},
            _NEGATIVE_ZERO,
        ], "description": "a number ≥ 0, as a JSON number or a string"},
        "positive_number": {"anyOf": [
            {"type": "number", "exclusiveMinimum": 0},
            {"type": "string", "pattern": NON_NEGATIVE_STRING_PATTERN,
             "not": {"pattern": ZERO_STRING_PATTERN}},
        ], "description": "a number > 0, as a JSON number or a string"},
        "probability": {"anyOf": [
            {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
            {"type": "string", "pattern": NON_NEGATIVE_STRING_PATTERN,
             "not": {"pattern": AT_LEAST_ONE_STRING_PATTERN}},
            _NEGATIVE_ZERO,
        ], "description": "a number in [0, 1)"},
        "file_name": {"type": "string", "minLength": 1,
                      "description": "relative to the problem file's folder"},
        "csv_matrix": _closed({"csv": _ref("file_name")}, ("csv",), "a 2-D matrix from a CSV file"),
        "csv_stack": _closed({"csv": {"type": "array", "minItems": 1,
                                      "items": _ref("file_name")}}, ("csv",),
                             "2-D CSV matrices stacked along a new first axis (channels)"),
        "npy_file": _closed({"npy": _ref("file_name")}, ("npy",), "a NumPy .npy array file"),
        "int_pair": {"anyOf": [
            {"type": "integer", "minimum": 1},
            {"type": "array", "items": {"type": "integer", "minimum": 1},
             "minItems": 2, "maxItems": 2},
        ], "description": "an integer or [rows, cols]"},
        "conv_padding": {"anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 0},
             "minItems": 2, "maxItems": 2},
            {"type": "array", "items": {"type": "integer", "minimum": 0},
             "minItems": 4, "maxItems": 4},
            {"enum": ["valid", "same"]},
        ], "description": 'an integer, [rows, cols], [top, bottom, left, right], "valid" or '
                          '"same" (TensorFlow\'s rule at any stride)'},
        "pool_padding": {"anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 0},
             "minItems": 2, "maxItems": 2},
        ], "description": "an integer or [rows, cols], at most half the window"},
        "layer_name": {"type": "string", "pattern": NAME_PATTERN,
                       "not": {"enum": ["input"]},
                       "description": "unique; default <type>_<k>"},
        "source_name": {"type": "string", "pattern": NAME_PATTERN,
                        "description": "a layer listed before, or \"input\""},
    }
    for rank in range(5):
        defs[f"rank{rank}"] = _nested(rank)
    for role, (low, high) in RANKS.items():
        defs[f"tensor_{role}"] = _tensor(low, high)
    for kind in LAYERS:
        defs[f"layer_{kind}"] = _layer(kind)
    defs["layer"] = {"oneOf": [_ref(f"layer_{kind}") for kind in LAYERS]}
    for kind in LOSSES:
        defs[f"loss_{kind}"] = _loss(kind)
    defs["loss"] = {"oneOf": [_ref(f"loss_{kind}") for kind in LOSSES]}

    common = {
        "title": {"type": "string", "description": "shown in the report"},
        "layout": {"enum": list(LAYOUTS), "default": LAYOUTS[0],
                   "description": "nhwc: maps channels last (H×W×C, N×H×W×C), HWIO kernels"},
        "input": {**_ref("tensor_input"), "description": "H×W, C×H×W or N×C×H×W (nhwc: "
                                                          "H×W×C, N×H×W×C); 1-D: L, C×L, "
                                                          "N×C×L; with no map layer, also a "
                                                          "vector K"},
        "loss": _ref("loss"),
        "delta": {**_ref("tensor_delta"),
                  "description": "dE/d(output of the last layer), given directly"},
        "grading": _grading(),
    }
    layers_form = _closed({**common, "layers": {"type": "array", "minItems": 1,
                                                "items": _ref("layer")}},
                          ("input", "layers"), "the general form: a list of layers")
    conv = layer_field_schemas(SHORTHAND)
    shorthand_input = {**_ref("tensor_input_2d"), "description": common["input"]["description"]
                       .split("; 1-D")[0]}
    shorthand_form = _closed({**common, "input": shorthand_input,
                              **{key: conv[key] for key in SHORTHAND_KEYS}},
                             ("input", "kernel"), "the one-conv shorthand")
    return {
        "$schema": DRAFT,
        "$id": SCHEMA_ID,
        "title": "cnngrad problem",
        "description": "A problem for cnngrad: an input, layers (or the one-conv shorthand), "
                       "and a loss or the upstream delta.",
        "type": "object",
        "oneOf": [layers_form, shorthand_form],
        # exactly one of loss and delta
        "allOf": [{"oneOf": [{"required": ["loss"]}, {"required": ["delta"]}]}],
        "$defs": defs,
    }
