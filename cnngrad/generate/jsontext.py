"""Problem and answers files as JSON text a person reads: one matrix row a line, every number
written exactly (no float ever passes through), the same bytes on every machine.

Drawn numbers are Fractions; a number kept from a problem file (a dropout's ``p``, a leaky
ReLU's slope, an ``eps``) is the :class:`~decimal.Decimal` the file was read as, and is
written back as the file wrote it."""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np

from cnngrad.generate.numbers import Style

INDENT = "  "
#: An object of plain values is written on one line when it fits in this many characters.
LINE = 80


def dumps(document: Any, style: Style) -> str:
    """``document`` as JSON text.

    Tensors are numpy object arrays of Fractions (written with ``style.text``); ``None``
    inside a tensor is JSON ``null`` (a blank cell of an answers template); dicts, lists,
    strings, ints, bools and Fractions as usual."""
    return _value(document, style, 0) + "\n"


def _value(value: Any, style: Style, depth: int) -> str:
    pad, inner = INDENT * depth, INDENT * (depth + 1)
    if isinstance(value, np.ndarray):
        return _tensor(value, style, depth)
    if isinstance(value, dict):
        if not value:
            return "{}"
        if all(_scalar(v) for v in value.values()):  # {"type": "relu"}: one line if it fits
            line = "{" + ", ".join(f"{json.dumps(key, ensure_ascii=False)}: "
                                   f"{_value(v, style, depth)}" for key, v in value.items()) + "}"
            if len(pad) + len(line) <= LINE:
                return line
        items = [f"{inner}{json.dumps(key, ensure_ascii=False)}: {_value(v, style, depth + 1)}"
                 for key, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if all(_scalar(v) for v in value):
            return "[" + ", ".join(_value(v, style, depth) for v in value) + "]"
        items = [inner + _value(v, style, depth + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if value is None or isinstance(value, (bool, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, Fraction)):
        return style.text(Fraction(value))
    if isinstance(value, Decimal) and value.is_finite():
        return str(value)  # exactly the decimal as read: 0.5, 1E-7 (both JSON numbers)
    raise TypeError(f"cannot write {type(value).__name__} into a problem file")


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, str, int, Fraction, Decimal))


def _cell(value: Any, style: Style) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):  # already a token (a rounded decimal of an answers key)
        return value
    return style.text(Fraction(value))


def _tensor(array: np.ndarray, style: Style, depth: int) -> str:
    if array.ndim == 0:
        return _cell(array[()], style)
    if array.ndim == 1:
        return "[" + ", ".join(_cell(v, style) for v in array) + "]"
    inner = INDENT * (depth + 1)
    rows = [inner + _tensor(sub, style, depth + 1) for sub in array]
    return "[\n" + ",\n".join(rows) + "\n" + INDENT * depth + "]"
