"""``python -m cnngrad`` and the ``cnngrad`` program: :func:`cnngrad.cli.main`, with a Ctrl-C
while the command line is still being imported (typer, Rich: the first tenth of a second)
ending as any other Ctrl-C does, one line and exit code 130, not a traceback."""

import sys


def run() -> None:
    try:
        from cnngrad.cli import main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    main()


if __name__ == "__main__":
    run()
