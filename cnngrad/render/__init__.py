"""Trace → text.  Renderers return strings or Rich renderables; they never print.

``FORMATS`` lists every ``--format`` value; each renderer module is imported only when used,
so the JSON path never pays for Rich.
"""

from __future__ import annotations

FORMATS = ("table", "json")
