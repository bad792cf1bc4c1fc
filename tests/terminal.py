"""A command run on a pseudo-terminal of a given width and type, as a user's terminal runs it:
the tests of what cnngrad draws only on a terminal (colours, the width, progress bars)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAS_PTY = hasattr(os, "openpty")


def on_a_terminal(args, *, term: str = "xterm-256color", width: int = 80,
                  streams: tuple[str, ...] = ("stdout", "stderr")) -> tuple[int, bytes]:
    """Run ``python -m cnngrad ARGS`` with ``streams`` on a ``width``-column terminal of type
    ``term`` (the others to /dev/null); its exit code and every byte the terminal got.  The
    test's own COLUMNS, LINES, NO_COLOR and FORCE_COLOR are not passed on."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, width, 0, 0))
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")}
    env.update(TERM=term, PYTHONPATH=str(ROOT))
    ends = {name: slave if name in streams else subprocess.DEVNULL
            for name in ("stdout", "stderr")}
    process = subprocess.Popen([sys.executable, "-m", "cnngrad", *map(str, args)], cwd=ROOT,
                               env=env, stdin=slave, close_fds=True, **ends)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=60), b"".join(chunks)
