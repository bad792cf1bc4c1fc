"""Every test starts from the same terminal: no width, a terminal type that shows colours,
and no colour forced.

A table is laid out for ``COLUMNS`` when it is set (a terminal's width), else for a file's
120 columns; a shell that exports ``COLUMNS``, or a test runner's workers that inherit it,
would otherwise change what the width-sensitive tests see.  A test that wants a width sets
it itself (``monkeypatch.setenv("COLUMNS", "80")`` or ``env={"COLUMNS": "80"}``).  Likewise
``TERM=dumb`` (Rich then ignores a width given without a height and shows no colours) and
``FORCE_COLOR`` (colours in a pipe, a child pytest's report too): a test that wants them
sets them.
"""

import pytest


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for forcing in ("FORCE_COLOR", "PY_COLORS", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(forcing, raising=False)
