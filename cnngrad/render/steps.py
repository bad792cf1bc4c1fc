"""Textbook steps (:mod:`cnngrad.steps`) → a Rich renderable for a layer panel."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from cnngrad.render.numbers import DEFAULT_DECIMALS
from cnngrad.render.tables import tensor_view


def steps_view(steps: list, decimals: int = DEFAULT_DECIMALS, *,
               full: bool = False, base: int = 0) -> RenderableType:
    """The (caption, matrix) steps one under the other, numbered, under a heading; big
    matrices shortened unless ``full`` (:func:`cnngrad.render.tables.tensor_view`)."""
    parts: list[RenderableType] = [Text("steps: the textbook route (backward --show-steps)",
                                        style="bold underline")]
    for number, (caption, matrix) in enumerate(steps, start=1):
        parts.append(Text(""))
        parts.append(tensor_view(matrix, f"{number}. {caption}", decimals, full=full,
                                 base=base))
    return Group(*parts)


__all__ = ["steps_view"]
