"""Command-line values read without pydantic, for start-up time.

Typer (0.2x) turns every option's text into its Python value through a pydantic
``TypeAdapter``, built on first use: importing pydantic and building the adapters costs more
than importing numpy, on every run, for options that are a plain ``str``, ``int``, ``float``
or ``Path``.  :class:`PlainValuesGroup` and :class:`PlainValuesCommand` (the app's group and
command classes) give each parameter of the command being run a :class:`PlainValues` reader:
it returns the values whose meaning is beyond doubt (``"json"`` for a ``str``, ``"6"`` for an
``int`` within its bounds, a ``Path`` to a file that does not exist yet) and hands anything
else — an out-of-range number, an existing path that typer must check, a spelling it accepts
in its own way — to typer's own reader, so every value means, and every error reads, exactly
what typer makes of it.

It relies on typer's lazy ``_runtime_param`` slot; a typer without it is left alone (its own
reading then applies: correct, only slower).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import typer.core

# only the canonical spellings: typer also takes " 7 ", "007", "1_000" (its reader decides)
_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_UNSURE = object()


class PlainValues:
    """A parameter's value reader (typer's ``RuntimeParam`` interface: ``coerce``):
    the plain cases here, everything else by typer's own reader, built only when needed."""

    def __init__(self, descriptor) -> None:
        self.descriptor = descriptor
        self.typer_reader = None

    def coerce(self, value, param, ctx):
        if value is None:  # as typer's own: nothing given, no default
            return () if param.multiple or param.nargs == -1 else None
        plain = plain_value(self.descriptor.annotation, self.descriptor.parameter_info, value)
        if plain is not _UNSURE:
            return plain
        if self.typer_reader is None:
            from typer._coercion import build_runtime_param

            self.typer_reader = build_runtime_param(self.descriptor)
        return self.typer_reader.coerce(value, param=param, ctx=ctx)


def plain_value(annotation, info, value):
    """``value`` as typer would read it for ``annotation`` when that is beyond doubt, else
    ``_UNSURE``."""
    if annotation is str:
        return value if isinstance(value, str) else _UNSURE
    if annotation == list[str]:  # several file names (check's ANSWERS...)
        plain = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return list(value) if plain else _UNSURE
    if annotation is int:
        if isinstance(value, str) and _INT.fullmatch(value):
            value = int(value)
        if type(value) is not int or info.clamp:
            return _UNSURE
        return value if _within(value, info) else _UNSURE
    if annotation is float:
        if isinstance(value, str) and _FLOAT.fullmatch(value):
            value = float(value)
        if type(value) is not float or not math.isfinite(value) or info.clamp:
            return _UNSURE
        return value if _within(value, info) else _UNSURE
    if annotation is Path:
        # a file not there yet (an -o target) needs no check; an existing one typer checks
        if (not isinstance(value, str) or value in ("", "-") or "\0" in value
                or info.path_type is not None or info.resolve_path or info.exists
                or os.path.lexists(value)):
            return _UNSURE
        return Path(value)
    return _UNSURE


def _within(value, info) -> bool:
    return ((info.min is None or value >= info.min) and
            (info.max is None or value <= info.max))


def plain_values(command, ctx) -> None:
    """Give each typer parameter of ``command`` (its help option too) a :class:`PlainValues`
    reader."""
    for param in command.get_params(ctx):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", _UNSURE) is not None:
            continue  # not typer's lazy reader (another typer), or already built
        param._runtime_param = PlainValues(descriptor)


class PlainValuesGroup(typer.core.TyperGroup):
    """The app's group class: reads its own options with :class:`PlainValues`."""

    def parse_args(self, ctx, args):
        plain_values(self, ctx)
        return super().parse_args(ctx, args)


class PlainValuesCommand(typer.core.TyperCommand):
    """Every command's class: reads its options with :class:`PlainValues`."""

    def parse_args(self, ctx, args):
        plain_values(self, ctx)
        return super().parse_args(ctx, args)
