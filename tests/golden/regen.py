"""Write the golden outputs again: ``python tests/golden/regen.py``.

Run it only after a change of output made on purpose, then read ``git diff tests/golden``:
every changed byte is there to see.  It rewrites ``cases.json`` (the list of cases) and
``expected/`` (one file per case) and deletes the files of cases that no longer exist.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases import (EXPECTED, HERE, PROBLEMS, base_cases, ensure_pinned,  # noqa: E402
                   explain_cases, run, write)


def main() -> None:
    cases = base_cases()
    listing = {}
    for problem in PROBLEMS:
        record = run(["explain", problem])
        listing[problem] = record.split("--- stdout\n", 1)[1].split("--- stderr\n", 1)[0]
    cases.update(explain_cases(listing))
    (HERE / "cases.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    EXPECTED.mkdir(exist_ok=True)
    for old in EXPECTED.glob("*.txt"):
        if old.stem not in cases:
            old.unlink()
    write(cases, EXPECTED)
    print(f"{len(cases)} golden outputs written to {EXPECTED}")


if __name__ == "__main__":
    ensure_pinned(sys.argv)  # the digits of every x86-64 machine (see cases.py)
    main()
