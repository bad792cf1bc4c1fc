"""``cnngrad generate``: fresh practice and exam problems with nice numbers, and their keys.

``generate(recipe, seed)`` draws a problem from a recipe (:mod:`.recipes`) and a seed
(:mod:`.draw`) in a number style (:mod:`.numbers`), keeps it only when it is hand-friendly
(:mod:`.make`), and lays out the problem file with its ``grading`` block, the key, the answers
template and the exercise and solution sheets (:mod:`.sheets`).  :mod:`.exam` makes one
variant per student of a roster, with a manifest that ``cnngrad check --manifest`` grades by.
"""

from __future__ import annotations

from cnngrad.generate.make import Exercise, generate, with_sheets
from cnngrad.generate.numbers import STYLES
from cnngrad.generate.recipes import RECIPES

__all__ = ["Exercise", "RECIPES", "STYLES", "generate", "with_sheets"]
