"""Every test starts from the same terminal width: none.

A table is laid out for ``COLUMNS`` when it is set (a terminal's width), else for a file's
120 columns; a shell that exports ``COLUMNS``, or a test runner's workers that inherit it,
would otherwise change what the width-sensitive tests see.  A test that wants a width sets
it itself (``monkeypatch.setenv("COLUMNS", "80")`` or ``env={"COLUMNS": "80"}``).
"""

import pytest


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
