"""A JSON Schema (draft 2020-12) of the problem format, for editors and validators.

``cnngrad schema`` prints :func:`problem_schema`.  Save it and point an editor at it for your
problem files (VS Code: the ``json.schemas`` setting; a ``"$schema"`` key inside a problem is
not possible, since unknown keys are errors) and it completes keys and flags typos as you type.  The schema checks the document's form:
keys, layer types and their fields, the TENSOR forms and ranks, number syntax.  What only the
numbers can tell (shapes that fit together, a class index in range, a CSV file that exists) is
left to ``cnngrad`` itself, whose errors name the JSON path.

The tables the builder uses are :mod:`cnngrad.problem`'s own (``LAYER_FIELDS``,
``LOSS_FIELDS``, ``SHORTHAND_KEYS``…), so a new layer field cannot be forgotten here: the tests
check that every field is described.
"""

from __future__ import annotations

from typing import Any

from cnngrad.problem import (LAYER_FIELDS, LOSS_FIELDS, MSE_REDUCTIONS, PADDING_MODES,
                             SHORTHAND_KEYS, TIE_RULES)

SCHEMA_ID = "urn:cnngrad:problem:1"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# tensorio's number syntax: a decimal ("0.51", "2e-3") or a fraction ("-1/3"), spaces around
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
FRACTION_PATTERN = r"[+-]?[0-9]+\s*/\s*[+-]?[0-9]+"
NUMBER_STRING_PATTERN = rf"^\s*(?:{DECIMAL_PATTERN}|{FRACTION_PATTERN})\s*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"

# which tensor ranks each role accepts (as cnngrad.problem reads them)
RANKS = {
    "input": (2, 4),
    "kernel": (2, 4),
    "conv_bias": (0, 3),
    "weights": (2, 2),
    "dense_bias": (1, 1),
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


def _conv_fields() -> dict[str, dict]:
    return {
        "kernel": {**_ref("tensor_kernel"), "description":
                   "k1×k2, C_in×k1×k2 or F×k1×k2, or F×(C_in/groups)×k1×k2"},
        "bias": {**_ref("tensor_conv_bias"), "description":
                 "a number (one filter), a vector of F, or H'×W' / F×H'×W' (untied)"},
        "stride": {**_ref("int_pair"), "default": 1},
        "padding": {**_ref("conv_padding"), "default": 0},
        "dilation": {**_ref("int_pair"), "default": 1},
        "groups": {"type": "integer", "minimum": 1, "default": 1},
        "padding_mode": {"enum": list(PADDING_MODES), "default": "zeros"},
        "flip_kernel": {"type": "boolean", "default": False,
                        "description": "true convolution: the kernel is rotated 180° first"},
    }


def _pool_fields(kind: str) -> dict[str, dict]:
    fields = {
        "size": _ref("int_pair"),
        "stride": {**_ref("int_pair"), "description": "default: the size"},
        "padding": {**_ref("pool_padding"), "default": 0},
        "ceil_mode": {"type": "boolean", "default": False},
    }
    if kind == "maxpool2d":
        fields["ties"] = {"enum": list(TIE_RULES), "default": "first"}
    elif kind == "avgpool2d":
        fields["count_include_pad"] = {"type": "boolean", "default": True}
    else:
        raise ValueError(f"not a pooling layer: {kind!r}; allowed: maxpool2d, avgpool2d")
    return fields


def layer_field_schemas(kind: str) -> dict[str, dict]:
    """The schema of each field of a layer type (besides ``type`` and ``name``)."""
    if kind == "conv2d":
        return _conv_fields()
    if kind in ("maxpool2d", "avgpool2d"):
        return _pool_fields(kind)
    if kind == "leaky_relu":
        return {"slope": {**_ref("number"), "default": 0.01,
                          "description": "the derivative for x ≤ 0"}}
    if kind in ("relu", "sigmoid", "tanh", "flatten"):
        return {}
    if kind == "dense":
        return {"weights": {**_ref("tensor_weights"), "description": "out×in, as torch.nn.Linear"},
                "bias": _ref("tensor_dense_bias")}
    raise ValueError(f"unknown layer type {kind!r}; allowed: {', '.join(LAYER_FIELDS)}")


REQUIRED_LAYER_FIELDS = {"conv2d": ("kernel",), "maxpool2d": ("size",), "avgpool2d": ("size",),
                         "dense": ("weights",)}


def _layer(kind: str) -> dict:
    properties = {"type": {"const": kind}, "name": _ref("layer_name")}
    properties.update(layer_field_schemas(kind))
    return _closed(properties, ("type",) + REQUIRED_LAYER_FIELDS.get(kind, ()))


def _loss(kind: str) -> dict:
    if kind == "mse":
        properties = {"type": {"const": "mse"}, "target": _ref("tensor_target"),
                      "reduction": {"enum": list(MSE_REDUCTIONS), "default": "half_sum"}}
    elif kind == "cross_entropy":
        properties = {"type": {"const": "cross_entropy"}, "target": {
            **_ref("tensor_target"),
            "description": "a class index, one per sample, or probabilities"}}
    else:
        raise ValueError(f"unknown loss {kind!r}; allowed: {', '.join(LOSS_FIELDS)}")
    return _closed(properties, ("type", "target"))


def _grading() -> dict:
    """The ``grading`` block (read by ``cnngrad check`` only)."""
    non_negative = {"anyOf": [{"type": "number", "minimum": 0},
                              {"type": "string", "pattern": NUMBER_STRING_PATTERN}]}
    return _closed({
        "min_decimals": {"type": "integer", "minimum": 0, "maximum": 17,
                         "description": "a value written with fewer decimals is wrong"},
        "atol": {**non_negative, "description": "replaces the decimals rule with rtol"},
        "rtol": {**non_negative, "description": "replaces the decimals rule with atol"},
        "points": {"type": "object", "minProperties": 1,
                   "additionalProperties": {"anyOf": [
                       {"type": "number", "exclusiveMinimum": 0},
                       {"type": "string", "pattern": NUMBER_STRING_PATTERN}]},
                   "description": "required dotted paths and their points"},
        "carry_forward": {"type": "boolean",
                          "description": "a wrong answer right from the student's own "
                                         "upstream answers earns its points"},
    }, description="how cnngrad check grades answers to this problem")


def problem_schema() -> dict:
    """The JSON Schema of a problem file (contract v1), as a JSON-ready dict."""
    defs: dict[str, dict] = {
        "number": {"anyOf": [
            {"type": "number"},
            {"type": "string", "pattern": NUMBER_STRING_PATTERN},
        ], "description": 'a JSON number, or a string with a decimal or a fraction: "0.51", '
                          '"-1/3", "2e-3"'},
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
                          '"same" (stride 1 only)'},
        "pool_padding": {"anyOf": [
            {"type": "integer", "minimum": 0},
            {"type": "array", "items": {"type": "integer", "minimum": 0},
             "minItems": 2, "maxItems": 2},
        ], "description": "an integer or [rows, cols], at most half the window"},
        "layer_name": {"type": "string", "pattern": NAME_PATTERN, "not": {"const": "loss"},
                       "description": "unique; default <type>_<k>"},
    }
    for rank in range(5):
        defs[f"rank{rank}"] = _nested(rank)
    for role, (low, high) in RANKS.items():
        defs[f"tensor_{role}"] = _tensor(low, high)
    for kind in LAYER_FIELDS:
        defs[f"layer_{kind}"] = _layer(kind)
    defs["layer"] = {"oneOf": [_ref(f"layer_{kind}") for kind in LAYER_FIELDS]}
    for kind in LOSS_FIELDS:
        defs[f"loss_{kind}"] = _loss(kind)
    defs["loss"] = {"oneOf": [_ref(f"loss_{kind}") for kind in LOSS_FIELDS]}

    common = {
        "title": {"type": "string", "description": "shown in the report"},
        "input": {**_ref("tensor_input"), "description": "H×W, C×H×W or N×C×H×W"},
        "loss": _ref("loss"),
        "delta": {**_ref("tensor_delta"),
                  "description": "dE/d(output of the last layer), given directly"},
        "grading": _grading(),
    }
    layers_form = _closed({**common, "layers": {"type": "array", "minItems": 1,
                                                "items": _ref("layer")}},
                          ("input", "layers"), "the general form: a list of layers")
    conv = _conv_fields()
    shorthand_form = _closed({**common, **{key: conv[key] for key in SHORTHAND_KEYS}},
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
