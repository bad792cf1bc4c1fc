"""``cnngrad verify`` as a user runs it: the samples' verdicts, reports of functions that
raise, return the wrong thing or never return, usage errors, JSON, the pytest helper, and
the battery itself."""

from __future__ import annotations

import json
import re
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.verify.ops import OPS

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "verify"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, ["verify", *[str(a) for a in args]])


def sample(name: str) -> str:
    return f"{SAMPLES / name}.py:conv2d_backward"


def user_file(tmp_path: Path, source: str, name: str = "student.py") -> Path:
    path = tmp_path / name
    path.write_text("import numpy as np\nimport time\n\n" + textwrap.dedent(source),
                    encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the samples


def test_the_right_sample_passes():
    result = invoke(sample("conv_right"), "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output
    assert "PASS  all 15 cases agree" in result.stdout
    assert "FAIL" not in result.stdout


@pytest.mark.parametrize("name, slip, words", [
    ("conv_no_rotation", "kernel_not_rotated", "kernel's 180° rotation left out of the full correlation"),
    ("conv_stride_ignored", "delta_not_dilated", "delta not dilated for stride 2"),
])
def test_the_wrong_samples_fail_with_their_slip_named(name, slip, words):
    result = invoke(sample(name), "--op", "conv2d_backward")
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"[{slip}]" in out and words in " ".join(out.split())
    assert "Slip:   dx matches" in out
    assert "got − expected" in out  # the diff grid of the smallest failing case
    report = json.loads(invoke(sample(name), "--op", "conv2d_backward", "--format",
                               "json").stdout)
    assert report["ok"] is False
    assert [(s["output"], s["name"]) for s in report["slips"]] == [("dx", slip)]
    first = report["first_failure"]
    assert first["output"] == "dx" and np.shape(first["got"]) == np.shape(first["expected"])
    # smallest first: no case before the first failure fails
    statuses = [c["status"] for c in report["cases"]]
    assert statuses.index("mismatch") == first["case"] - 1


@pytest.mark.parametrize("db, words, slip", [
    # summed over the batch only, one value per position
    ("delta.sum(axis=0)", "the bias gradient per position instead of summed over them",
     "bias_per_position"),
    # not summed at all
    ("delta", "the upstream delta itself: the bias gradient is that delta summed over the "
     "batch and every position, one number per filter", "bias_not_summed"),
])
def test_a_slip_in_every_failing_case_counts_every_failing_case(tmp_path, db, words, slip):
    # all 15 cases fail, and the slip explains the 15th (the largest) as well as the others
    path = user_file(tmp_path, f"""
        from cnngrad.layers.conv import conv2d_backward as library_backward

        def conv_backward(x, w, delta, stride, padding):
            dx, dw, _ = library_backward(x, w, delta, stride, padding)
            return dx, dw, {db}
        """)
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward")
    assert result.exit_code == 1
    assert "FAIL  15 of 15 cases fail, 0 pass." in result.stdout
    assert (f"Slip: db matches {words} — in 15 of 15 failing cases [{slip}]"
            in " ".join(result.stdout.split()))
    report = json.loads(invoke(f"{path}:conv_backward", "--op", "conv2d_backward",
                               "--format", "json").stdout)
    assert [(s["name"], s["matched"], s["of"]) for s in report["slips"]] == [(slip, 15, 15)]


def test_a_kernel_gradient_in_the_other_layout_names_its_axis_order(tmp_path):
    # channels-last problem, dw handed back channels-first: (F, C, kh, kw), not the order the
    # smallest case (C = F = 1) cannot tell from it
    shutil.copy(SAMPLES / "conv_right.py", tmp_path / "conv_right.py")
    module = user_file(tmp_path, """
        from conv_right import conv2d_backward as nchw_backward

        def conv_backward(x, w, delta, stride, padding):
            dx, dw, db = nchw_backward(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1),
                                       delta.transpose(0, 3, 1, 2), stride, padding)
            return dx.transpose(0, 2, 3, 1), dw, db
        """, name="nhwc_student.py")
    report = json.loads(invoke(f"{module}:conv_backward", "--op", "conv2d_backward",
                               "--layout", "nhwc", "-f", "json").stdout)
    [slip] = [s for s in report["slips"] if s["output"] == "dw"]
    assert slip["name"] == "channel_order"
    assert "order (F, C, kh, kw) instead of (kh, kw, C, F)" in slip["description"]


def test_the_stride_sample_fails_only_where_the_stride_is_more_than_one():
    report = json.loads(invoke(sample("conv_stride_ignored"), "--op", "conv2d_backward",
                               "-f", "json").stdout)
    for case in report["cases"]:
        assert (case["status"] == "pass") == (case["params"]["stride"] == 1), case


def test_json_report_layout():
    result = invoke(sample("conv_right"), "--op", "conv2d_backward", "--format", "json",
                    "--seed", "7")
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["seed"] == 7 and report["layout"] == "nchw"
    assert report["summary"] == {"cases": 15, "failed": 0, "passed": 15, "not_run": 0,
                                 "skipped": 0}
    assert report["first_failure"] is None and report["slips"] == []
    assert report["cases"][0]["shapes"]["x"] == [1, 1, 3, 3]


# --------------------------------------------------------------------------- bad functions

BAD = """
def helper(x):
    return x[10, 10, 10, 10]

def raises(x, w, delta, stride, padding):
    return helper(x)

def wrong_shape(x, w, delta, stride, padding):
    return np.zeros((2, 2)), np.zeros(w.shape), np.zeros(w.shape[0])

def two_values(x, w, delta, stride, padding):
    return np.zeros(x.shape), np.zeros(w.shape)

def with_nan(x, w, delta, stride, padding):
    dx = np.zeros(x.shape)
    dx[0, 0, 0, 0] = np.nan
    return dx, np.zeros(w.shape), np.zeros(w.shape[0])

def slow(x, w, delta, stride, padding):
    time.sleep(1)

def forever(x, w, delta, stride, padding):
    while True:
        pass

def nothing(x, w, delta, stride, padding):
    print("debugging output")

def words(x, w, delta, stride, padding):
    return "dx", "dw", "db"

def a_number(x, w, delta, stride, padding):
    return 5

def strings(x, w, delta, stride, padding):
    return np.zeros(x.shape).astype(str), np.zeros(w.shape), np.zeros(w.shape[0])

def objects(x, w, delta, stride, padding):
    return np.zeros(x.shape), np.zeros(w.shape), np.array([None] * w.shape[0])

def complex_parts(x, w, delta, stride, padding):
    import numpy as np
    return np.zeros(np.shape(x)) + 1j, np.zeros(np.shape(w)), np.zeros(np.shape(w)[:1])


def wrapped_once_more(x, w, delta, stride, padding):
    import numpy as np
    return ((np.zeros(np.shape(x)), np.zeros(np.shape(w)), np.zeros(np.shape(w)[:1])),)


def empty(x, w, delta, stride, padding):
    return ()
"""


@pytest.mark.parametrize("function, expected", [
    ("raises", "raised IndexError: index 10 is out of bounds"),
    ("wrong_shape", "dx has shape (2, 2); expected (1, 1, 3, 3) (N, C, H, W)"),
    ("two_values", "returned a tuple of 2 values; expected 3 (dx, dw, db)"),
    ("with_nan", "dx holds nan at [0, 0, 0, 0]"),
    ("slow", "did not return within 0.2 s"),
    ("nothing", "returned None; expected a tuple of 3 (dx, dw, db)"),
    ("words", "dx is a str, not an array of numbers"),
    ("a_number", "returned an int; expected a tuple of 3 (dx, dw, db)"),
    ("strings", "dx is an array of strings (<U32), not of numbers"),
    ("objects", "db is an array of Python objects (object), not of numbers"),
    ("complex_parts", "dx is an array of complex numbers (complex128), not of real ones"),
    ("wrapped_once_more", "returned a tuple of 1 value; expected 3 (dx, dw, db) — its one "
                          "value is the tuple of 3: return that tuple itself"),
    ("empty", "returned an empty tuple; expected 3 (dx, dw, db)"),
])
def test_a_bad_function_gets_a_clear_report(tmp_path, function, expected):
    path = user_file(tmp_path, BAD)
    result = invoke(f"{path}:{function}", "--op", "conv2d_backward", "--timeout", "0.2")
    assert result.exit_code == 1, result.output
    assert expected in " ".join(result.stdout.split())  # however the report wraps it
    assert "Traceback" not in result.stderr
    assert "FAIL" in result.stdout and "PASS" not in result.stdout


def test_an_array_in_a_tuple_of_one_is_told_to_come_out_of_it(tmp_path):
    path = tmp_path / "pool.py"
    path.write_text("from cnngrad.layers.pool import maxpool2d_backward\n\n\n"
                    "def f(x, delta, size, stride, padding):\n"
                    "    return (maxpool2d_backward(x, delta, size, stride, padding),)\n")
    result = invoke(f"{path}:f", "--op", "maxpool2d_backward")
    assert result.exit_code == 1, result.output
    assert ("returned a tuple of 1 value; expected one array (dx) — return the array "
            "itself, not a tuple holding it") in " ".join(result.stdout.split())
    # no array inside: nothing to take out of it
    path.write_text("def f(x, delta, size, stride, padding):\n    return (None,)\n")
    result = invoke(f"{path}:f", "--op", "maxpool2d_backward")
    assert "returned a tuple of 1 value; expected one array (dx)" in result.stdout
    assert "return the array itself" not in result.stdout


NO_GRID = """
def library(x, w, delta, stride, padding):
    from cnngrad import conv2d_backward
    return conv2d_backward(x, w, delta, stride, padding)

def one_row_short(x, w, delta, stride, padding):
    dx, dw, db = library(x, w, delta, stride, padding)
    return dx[:, :, :-1], dw, db

def a_corner_short(x, w, delta, stride, padding):
    dx, dw, db = library(x, w, delta, stride, padding)
    return dx[:, :, :-1, :-1], dw, db

def one_image(x, w, delta, stride, padding):
    dx, dw, db = library(x, w, delta, stride, padding)
    return dx[0, 0], dw, db

def dx_none(x, w, delta, stride, padding):
    return (None,) + library(x, w, delta, stride, padding)[1:]

def first_raises(x, w, delta, stride, padding):
    if x.size == 9 and w.size == 1:
        raise ValueError("not yet")
    dx, dw, db = library(x, w, delta, stride, padding)
    return 1.5 * dx, dw, db

def a_third_off(x, w, delta, stride, padding):
    dx, dw, db = library(x, w, delta, stride, padding)
    return 1.5 * dx, dw, db
"""


@pytest.mark.parametrize("function, lines", [
    ("one_row_short", [
        "Slip:   no known slip matches: dx's H is 2 where cnngrad's is 3: check the size",
        "        your code gives that axis, smallest case first"]),
    ("a_corner_short", [
        "Slip:   no known slip matches: dx's H and W are (2, 2) where cnngrad's are",
        "        (3, 3): check the sizes your code gives those axes, smallest case first"]),
    ("one_image", [
        "Slip:   no known slip matches: dx has shape (3, 3) where cnngrad's is",
        "        (1, 1, 3, 3): check the shape your code gives it, smallest case first"]),
    ("dx_none", [
        "Slip:   no known slip matches: return dx as an array of numbers (see above),",
        "        then run again"]),
    ("first_raises", [
        "Slip:   no known slip matches: start with the smallest failing case; the later",
        "        ones with wrong values are listed above"]),
    ("a_third_off", [
        "Slip:   no known slip matches: compare the grid above with your code, smallest",
        "        case first"]),
])
def test_no_slip_says_what_to_compare_with_what_is_shown(tmp_path, function, lines):
    # "the grid above" only where a grid is shown above; else the shapes, or the value
    path = user_file(tmp_path, NO_GRID)
    result = invoke(f"{path}:{function}", "--op", "conv2d_backward")
    assert result.exit_code == 1, result.output
    out = result.stdout.splitlines()
    assert out[out.index(lines[0]):] == lines
    assert ("got − expected" in result.stdout) == (function == "a_third_off")


@pytest.mark.parametrize("name", ["partial_one", "a_lambda", "an_object"])
def test_a_function_without_a_name_of_its_own_is_reported_by_the_name_typed(tmp_path, name):
    """A functools.partial or an object with __call__ was "? on 14 cases"."""
    shutil.copy(SAMPLES / "conv_right.py", tmp_path / "conv_right.py")
    path = user_file(tmp_path, """
        import functools
        from conv_right import conv2d_backward

        partial_one = functools.partial(conv2d_backward)
        a_lambda = lambda x, w, delta, stride, padding: conv2d_backward(x, w, delta, stride,
                                                                        padding)

        class Layer:
            def __call__(self, x, w, delta, stride, padding):
                return conv2d_backward(x, w, delta, stride, padding)

        an_object = Layer()
        """)
    result = invoke(f"{path}:{name}", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"cnngrad verify conv2d_backward: {name} on 15 cases (seed 0)")
    report = json.loads(invoke(f"{path}:{name}", "--op", "conv2d_backward", "-f", "json").stdout)
    assert report["function"] == name


def test_verify_op_names_a_partial_by_its_function_and_an_object_by_its_class():
    import functools

    from cnngrad import conv2d_backward
    from cnngrad.verify import run_battery

    class Layer:
        def __call__(self, *args):
            return conv2d_backward(*args)

    assert run_battery(functools.partial(conv2d_backward), "conv2d_backward").function == \
        "conv2d_backward"
    assert run_battery(Layer(), "conv2d_backward").function == "Layer"


def test_a_small_difference_shows_in_the_grids_got_and_expected():
    from cnngrad import conv2d_forward
    from cnngrad.testing import verify_op

    def conv_off_by_a_thousandth(x, w, b, stride, padding):
        return conv2d_forward(x, w, b, stride=stride, padding=padding) + 1e-3

    with pytest.raises(AssertionError) as raised:
        verify_op(conv_off_by_a_thousandth, "conv2d_forward")
    # at 4 significant digits the got of 10.001 read 10, as the expected did
    assert """
  y[0, 0, :, :]
  got                      ┆ expected                 ┆ got − expected
   10.001   4.001   1.001  ┆      10       4       1  ┆   0.001   0.001   0.001
   -4.999  -4.999 -10.999  ┆      -5      -5     -11  ┆   0.001   0.001   0.001
  -10.999 -10.999  -7.999  ┆     -11     -11      -8  ┆   0.001   0.001   0.001
""" in str(raised.value)


def test_pytest_shows_the_report_not_verify_ops_source(tmp_path):
    (tmp_path / "test_mine.py").write_text(textwrap.dedent("""\
        from cnngrad import conv2d_forward
        from cnngrad.testing import verify_op

        def my_conv(x, w, b, stride, padding):
            return conv2d_forward(x, w, b, stride=stride, padding=padding) * 2

        def test_my_conv():
            verify_op(my_conv, "conv2d_forward")
        """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                          "--color=no", str(tmp_path / "test_mine.py")],
                         capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert run.returncode == 1
    assert 'verify_op(my_conv, "conv2d_forward")' in run.stdout
    # the short summary's one line is the verdict (the message began with a blank line)
    assert re.search(r"FAILED .*test_my_conv - AssertionError: FAIL +\d+ of \d+ cases fail",
                     run.stdout), run.stdout
    assert "Smallest failing case: 1, 1×1 kernel" in run.stdout
    assert "def verify_op" not in run.stdout and "_check_settings" not in run.stdout


def test_a_grid_within_the_tolerances_keeps_its_four_digits():
    from cnngrad.verify.report import _grid_digits

    # 1 + 1e-9 is inside rtol 1e-5: its extra digits would only be noise
    assert _grid_digits([(1.0 + 1e-9, 1.0), (10.001, 10.001)], 1e-5, 1e-6) == 4
    assert _grid_digits([(10.001, 10.0)], 1e-5, 1e-6) == 5
    assert _grid_digits([(1.0 + 1e-4, 1.0)], 1e-5, 1e-6) == 5
    assert _grid_digits([(float("inf"), 1.0)], 1e-5, 1e-6) == 4


def test_an_exception_without_a_message_has_no_colon_over_nothing(tmp_path):
    """A bare assert read "raised AssertionError:", a colon with nothing after it."""
    path = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            assert x.shape == delta.shape
        """)
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 1, result.output
    assert "   2  RAISED  2×2 kernel\n          raised AssertionError\n" in result.stdout
    top = user_file(tmp_path, "assert False\n", "asserts_on_import.py")
    result = invoke(f"{top}:f", "--op", "conv2d_backward")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: MODULE:FUNCTION: importing {top} raised AssertionError")


def test_a_raise_shows_the_users_traceback_not_cnngrads(tmp_path):
    path = user_file(tmp_path, BAD)
    out = invoke(f"{path}:raises", "--op", "conv2d_backward").stdout
    assert "raises raised (your code's traceback):" in out
    assert f'File "{path}", line 9, in raises' in out
    assert f'File "{path}", line 6, in helper' in out
    assert "cnngrad" not in out.split("your code's traceback")[1].split("Slip")[0] \
        .replace("cnngrad verify", "")


def test_a_traceback_fits_the_report_s_width_and_names_libraries_by_their_import(tmp_path):
    # numpy's frames showed the whole site-packages path, lines of 120 characters
    path = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            np.argmax(np.zeros(0))
        """)
    out = invoke(f"{path}:f", "--op", "conv2d_backward").stdout
    shown = out.split("your code's traceback")[1].split("Slip")[0]
    assert 'File "numpy/' in shown
    assert "ValueError: attempt to get argmax of an empty sequence" in " ".join(shown.split())
    short = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            raise ValueError("a message long enough to run past the eighty columns of the "
                             "report, as numpy's messages about gufunc signatures do")
        """, "long_message.py")
    out = invoke(f"{short}:f", "--op", "conv2d_backward").stdout
    assert max(len(line) for line in out.splitlines()
               if not line.lstrip().startswith('File "')) <= 80
    assert "as numpy's messages about gufunc signatures do" in " ".join(out.split())
    # a line of code folded: the ^ markers under it would point at other columns
    folded = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            return np.zeros(3) + np.zeros(4) + x.sum() * w.sum() * delta.sum() * stride + padding
        """, "long_line.py")
    out = invoke(f"{folded}:f", "--op", "conv2d_backward").stdout
    shown = out.split("your code's traceback")[1].split("Slip")[0]
    code = [line for line in shown.splitlines() if "np.zeros(3) + np.zeros(4)" in line]
    assert code and not any(set(line.strip()) <= set("^~") for line in shown.splitlines()
                            if line.strip())


def test_a_timeout_stops_the_battery(tmp_path):
    path = user_file(tmp_path, BAD)
    report = json.loads(invoke(f"{path}:slow", "--op", "conv2d_backward", "--timeout", "0.1",
                               "-f", "json").stdout)
    statuses = [case["status"] for case in report["cases"]]
    assert statuses[0] == "timeout" and set(statuses[1:]) == {"not_run"}
    assert report["summary"]["not_run"] == len(statuses) - 1


def test_an_endless_loop_is_stopped_after_its_timeout(tmp_path):
    import threading
    import time

    path = user_file(tmp_path, BAD)
    result = invoke(f"{path}:forever", "--op", "conv2d_backward", "--timeout", "0.1")
    assert result.exit_code == 1 and "did not return within 0.1 s" in result.stdout
    deadline = time.monotonic() + 5
    while any(t.name == "cnngrad-verify-call" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the abandoned call is still running"
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["file", "module"])
def test_an_import_that_never_returns_is_given_up_with_a_hint(tmp_path, monkeypatch, how):
    """A training loop left at the module's top level: verify waited for ever (--timeout
    bounded the calls only)."""
    from cnngrad.verify import load

    monkeypatch.setattr(load, "IMPORT_SECONDS", 0.6)
    monkeypatch.setattr(load, "SLOW_IMPORT_SECONDS", 0.2)
    name = f"trains_at_import_{how}"
    path = user_file(tmp_path, """
        while True:  # the epochs
            pass

        def f(x, w, delta, stride, padding):
            return None
        """, f"{name}.py")
    monkeypatch.chdir(tmp_path)
    shown = str(path) if how == "file" else name
    result = invoke(f"{shown}:f", "--op", "conv2d_backward", "--timeout", "0.1")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"note: importing {shown}: still running after 0.2 s (its top level runs at import; "
        "given up after 0.6 s)",
        f"error: MODULE:FUNCTION: importing {shown} did not finish within 0.6 s; hint: its "
        "top level runs when verify imports it: put a training loop, a plot or an input() "
        'under if __name__ == "__main__":, or raise --timeout past 0.6 s for an import that '
        'takes longer']
    # stopped, not left running: the module imports afresh (and stops again)
    assert invoke(f"{shown}:f", "--op", "conv2d_backward", "--timeout", "0.1").exit_code == 2


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no alarm to stop an import")
@pytest.mark.parametrize("top", [
    # a bare except: around the epochs caught the alarm's exception, and verify waited for
    # ever (the worker thread before it had been left behind instead)
    "while True:\n    try:\n        time.sleep(0.05)\n    except:  # noqa: E722\n        pass",
    # the module takes the alarm for itself
    "import signal\nsignal.alarm(0)\ntime.sleep(60)",
    "import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\ntime.sleep(60)",
    # a thread of its own, which kept the process from ending after the error
    "import threading\nthreading.Thread(target=time.sleep, args=(600,)).start()\n"
    "time.sleep(60)",
    # sys.stderr taken for itself, where the error line went
    "import io, sys\nsys.stderr = io.StringIO()\nwhile True:\n    try:\n"
    "        time.sleep(0.05)\n    except BaseException:\n        pass",
])
def test_an_import_that_keeps_running_however_it_does_is_given_up(tmp_path, top):
    path = user_file(tmp_path, top + """

def f(x, w, delta, stride, padding):
    return None
""")
    root = Path(__file__).resolve().parent.parent
    script = ("import sys\nfrom cnngrad.verify import load\nload.IMPORT_SECONDS = 1.0\n"
              "load.SLOW_IMPORT_SECONDS = 0.3\nfrom cnngrad.cli import main\n"
              f"sys.argv = ['cnngrad', 'verify', {str(path) + ':f'!r}, '--op', "
              "'conv2d_backward', '--timeout', '0.1']\nmain()\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        f"error: MODULE:FUNCTION: importing {path} did not finish within 1 s; hint: ")


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no alarm")
def test_the_callers_alarm_and_the_modules_handler_are_left_as_they_were(tmp_path):
    # the import's alarm cancelled a caller's pending timer, and put the default handler in
    # place of one the module had installed (its function's alarm then killed the process)
    from cnngrad.verify import load_function

    plain = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            return None
        """, "plain_module.py")
    own = user_file(tmp_path, """
        import signal

        def _rang(signum, frame):
            pass

        signal.signal(signal.SIGALRM, _rang)

        def f(x, w, delta, stride, padding):
            return None
        """, "own_alarm.py")
    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGALRM, mine)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        load_function(f"{plain}:f")
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 25 < signal.getitimer(signal.ITIMER_REAL)[0] <= 30
        load_function(f"{own}:f")
        assert signal.getsignal(signal.SIGALRM).__name__ == "_rang"  # the module's own
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def test_a_module_that_installs_a_signal_handler_at_its_top_is_imported(tmp_path):
    # imported on a worker thread, it raised "signal only works in main thread"
    path = user_file(tmp_path, """
        import signal

        from cnngrad import conv2d_backward

        signal.signal(signal.SIGINT, signal.getsignal(signal.SIGINT))

        def f(x, w, delta, stride, padding):
            return conv2d_backward(x, w, delta, stride, padding)
        """)
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("signal_name, code, last_line", [
    ("SIGINT", 130, "error: interrupted"), ("SIGTERM", -15, None)])  # -15: ended by it
def test_a_signal_during_the_import_is_the_commands_not_the_modules_error(
        tmp_path, signal_name, code, last_line):
    """Ctrl-C while the module's top level ran was "importing x.py raised
    KeyboardInterrupt", exit 2, and SIGTERM a traceback of cnngrad's own exception."""
    import signal

    path = user_file(tmp_path, """
        import sys

        print("importing", file=sys.stderr, flush=True)
        time.sleep(30)

        def f(x, w, delta, stride, padding):
            return None
        """)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    process = subprocess.Popen([sys.executable, "-m", "cnngrad", "verify", f"{path}:f",
                                "--op", "conv2d_backward"], stderr=subprocess.PIPE, text=True,
                               stdout=subprocess.DEVNULL, cwd=tmp_path, env=env)
    try:
        assert process.stderr.readline() == "importing\n"
        process.send_signal(getattr(signal, signal_name))
        rest = process.communicate(timeout=30)[1]
    finally:
        process.kill()
    assert process.returncode == code
    assert "raised" not in rest and "Traceback" not in rest
    assert rest.splitlines()[-1:] == ([last_line] if last_line else [])


CLASS_METHODS = """
from cnngrad import conv2d_backward


class Layer:
    unset = None
    size = 3

    @staticmethod
    def backward(x, w, delta, stride, padding):
        return conv2d_backward(x, w, delta, stride, padding)

    @classmethod
    def from_class(cls, x, w, delta, stride, padding):
        return conv2d_backward(x, w, delta, stride, padding)

    def method(self, x, w, delta, stride, padding):
        return conv2d_backward(x, w, delta, stride, padding)


layer = Layer()
"""


@pytest.mark.parametrize("name", ["Layer.backward", "Layer.from_class", "layer.method"])
def test_a_static_or_class_method_or_an_instances_method_is_verified_by_its_dotted_name(
        tmp_path, name):
    # "no function 'Layer.backward' ...; hint: did you mean 'Layer'?"
    path = user_file(tmp_path, CLASS_METHODS)
    result = invoke(f"{path}:{name}", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name, said", [
    ("Layer.method", "'Layer.method' is a method of Layer: called without an instance of "
                     "Layer, its first argument would be taken for self; hint: make it a "
                     "@staticmethod, or verify a function that calls it: def method(*args): "
                     "return Layer().method(*args)"),
    ("Layer.backwrd", "no 'backwrd' in Layer; hint: did you mean 'Layer.backward'?"),
    ("Layer.nothing_like_it", "no 'nothing_like_it' in Layer; hint: Layer has: backward, "
                              "from_class, method"),
    # there, but no function (None was said to be missing)
    ("Layer.unset", "not a function: 'Layer.unset' is None"),
    ("Layer.size", "not a function: 'Layer.size' is an int"),
])
def test_a_dotted_name_that_cannot_be_called_says_why(tmp_path, name, said):
    path = user_file(tmp_path, CLASS_METHODS)
    result = invoke(f"{path}:{name}", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert result.stderr == f"error: MODULE:FUNCTION: {said}\n"


SHAPES = """
def conv_backward(x, w, delta, stride, padding):
    from cnngrad import conv2d_backward
    dx, dw, db = conv2d_backward(x, w, delta, stride, padding)
    return dx, dw, db.reshape(-1, 1)
"""


def test_a_per_filter_gradient_may_have_extra_axes_of_length_1(tmp_path):
    path = user_file(tmp_path, SHAPES)
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output


def test_the_users_prints_stay_off_the_json(tmp_path):
    path = user_file(tmp_path, BAD)
    result = invoke(f"{path}:nothing", "--op", "conv2d_backward", "-f", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ok"] is False
    assert "debugging output" in result.stderr


@pytest.mark.parametrize("how", ["file", "module"])
def test_a_print_at_the_modules_top_level_stays_off_the_json(tmp_path, monkeypatch, how):
    source = ("import numpy as np\nprint('loading my layers')\n\n"
              "def f(x, w, delta, stride, padding):\n    return None\n")
    name = f"toplevel_print_{how}"
    (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    target = f"{tmp_path / name}.py:f" if how == "file" else f"{name}:f"
    result = invoke(target, "--op", "conv2d_backward", "-f", "json")
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["ok"] is False
    assert "loading my layers" in result.stderr


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    """The command in a process of its own: what it imports, and how it exits, are its own."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "cnngrad", "verify", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=cwd, env=env)


@pytest.mark.parametrize("neighbour", ["json.py", "csv.py", "secrets.py"])
def test_a_file_named_as_a_standard_module_beside_the_users_does_not_break_the_report(
        tmp_path, neighbour):
    """The user's folder is on sys.path only while their code runs: a json.py beside it
    used to take the place of the json module the report is written with (internal error)."""
    folder = tmp_path / "hw"
    folder.mkdir()
    shutil.copy(SAMPLES / "conv_no_rotation.py", folder / "conv_no_rotation.py")
    (folder / neighbour).write_text("raise RuntimeError('not the standard module')\n",
                                    encoding="utf-8")
    result = run_cli(folder / "conv_no_rotation.py:conv2d_backward", "--op",
                     "conv2d_backward", "-f", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    assert json.loads(result.stdout)["slips"][0]["name"] == "kernel_not_rotated"


def test_the_users_file_named_as_a_standard_module_is_verified(tmp_path):
    """json.py was imported as the module json, which the JSON report then got."""
    shutil.copy(SAMPLES / "conv_right.py", tmp_path / "json.py")
    result = run_cli(tmp_path / "json.py:conv2d_backward", "--op", "conv2d_backward",
                     "-f", "json", cwd=Path(__file__).resolve().parent)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["passed"] == 15


def test_a_neighbour_imported_inside_the_function_is_still_found(tmp_path):
    (tmp_path / "helpers_late.py").write_text("def zero(a):\n    return a * 0\n",
                                              encoding="utf-8")
    path = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            from helpers_late import zero
            return zero(x), zero(w), zero(w[:, 0, 0, 0])
        """)
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 1, result.output
    assert "RAISED" not in result.stdout and "FAIL" in result.stdout


def test_os_exit_in_the_function_is_reported_not_a_silent_exit_0(tmp_path):
    """os._exit(0) ended cnngrad's process with status 0 and no report: a pass in CI."""
    path = user_file(tmp_path, """
        import os

        def f(x, w, delta, stride, padding):
            os._exit(0)
        """)
    result = run_cli(f"{path}:f", "--op", "conv2d_backward", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "   1  RAISED  1×1 kernel\n          raised SystemExit: 0\n" in result.stdout
    assert "FAIL  15 of 15 cases fail, 0 pass." in result.stdout
    assert "os._exit(0)" in result.stdout  # the user's line, in their traceback


def test_a_call_abandoned_inside_a_blas_matmul_does_not_keep_the_command_from_exiting(
        tmp_path):
    """OpenBLAS's exit handler waited for ever for the abandoned call's matmul: the report
    was written, and the process never ended."""
    path = user_file(tmp_path, """
        def f(x, w, delta, stride, padding):
            a = np.ones((3000, 3000))
            while True:
                a = a @ a
        """)
    result = run_cli(f"{path}:f", "--op", "conv2d_backward", "--timeout", "0.5",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "   1  TIMEOUT 1×1 kernel" in result.stdout
    assert "FAIL  1 of 15 cases fail, 0 pass, 14 not run." in result.stdout


def test_an_os_chdir_at_the_modules_top_stays_the_users_and_o_writes_where_run(
        tmp_path, monkeypatch):
    """A module that moved the working folder at import (as a notebook's code may) took the
    command with it: -o report.txt was written in the folder it moved to."""
    shutil.copy(SAMPLES / "conv_right.py", tmp_path / "conv_right.py")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "scale.txt").write_text("1\n", encoding="utf-8")
    (tmp_path / "run").mkdir()
    path = user_file(tmp_path, """
        import os

        from conv_right import conv2d_backward

        os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))


        def f(x, w, delta, stride, padding):
            with open("scale.txt") as file:  # read from the folder the module moved to
                scale = float(file.read())
            dx, dw, db = conv2d_backward(x, w, delta, stride, padding)
            return dx * scale, dw, db
        """)
    monkeypatch.chdir(tmp_path / "run")
    result = invoke(f"{path}:f", "--op", "conv2d_backward", "-o", "report.txt")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "report.txt").read_text(encoding="utf-8").splitlines()[-1] == (
        "PASS  all 15 cases agree with cnngrad (rtol 1e-05, atol 1e-06).")
    assert not (tmp_path / "data" / "report.txt").exists()
    assert os.getcwd() == str(tmp_path / "run")


def test_a_child_the_function_forks_still_ends_with_its_own_exit_code(tmp_path):
    """os._exit is refused in cnngrad's process only: a forked child (multiprocessing) ends
    with it, and raising there lost the child's exit code (0 for 7)."""
    shutil.copy(SAMPLES / "conv_right.py", tmp_path / "conv_right.py")
    path = user_file(tmp_path, """
        import multiprocessing
        import sys
        import warnings

        from conv_right import conv2d_backward


        def child():
            sys.exit(7)


        def f(x, w, delta, stride, padding):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fork in a process with threads
                process = multiprocessing.get_context("fork").Process(target=child)
                process.start()
                process.join()
            if process.exitcode != 7:
                raise RuntimeError(f"the child's exit code is {process.exitcode}")
            return conv2d_backward(x, w, delta, stride, padding)
        """)
    result = run_cli(f"{path}:f", "--op", "conv2d_backward", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS  all 15 cases agree" in result.stdout


def test_os_exit_at_the_modules_top_level_is_an_import_error(tmp_path):
    user_file(tmp_path, """
        import os
        os._exit(0)
        """)
    result = run_cli("student.py:f", "--op", "conv2d_backward", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: MODULE:FUNCTION: importing student.py raised SystemExit: 0")
    assert result.stdout == ""


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("args, message", [
    (["x.py:f"], "--op: missing --op"),
    (["x.py:f", "--op", "conv2d_backwards"], "did you mean 'conv2d_backward'"),
    (["nocolon", "--op", "conv2d_backward"], "expected MODULE:FUNCTION"),
    # was "no module named 'x.py:f'"
    (["x.py:f:g", "--op", "conv2d_backward"],
     "error: MODULE:FUNCTION: expected MODULE:FUNCTION, one colon, got 'x.py:f:g'; hint: one "
     "function per option: x.py:f"),
    (["missing.py:f", "--op", "conv2d_backward"], "no such file: missing.py"),
    (["no_such_module_anywhere:f", "--op", "conv2d_backward"], "no module named"),
    (["x.py:f", "--op", "conv1d_backward", "--style", "cs231n"], "the cs231n style has no "
                                                                 "conv1d_backward"),
    (["x.py:f", "--op", "conv2d_backward", "--style", "dls", "--layout", "nchw"],
     "the dls style is nhwc"),
    (["x.py:f", "--op", "conv2d_backward", "--arg", "x"], "expected NAME=KEYWORD"),
    (["x.py:f", "--op", "conv2d_backward", "--arg", "dz=dZ"], "has no argument 'dz'"),
    (["x.py:f", "--op", "conv2d_backward", "--ties", "last"], "--ties: unknown value"),
    # accepted and ignored, as --ties of a conv is not
    (["x.py:f", "--op", "softmax_cross_entropy_backward", "--layout", "nhwc"],
     "--layout: softmax_cross_entropy_backward's arrays have no channel axis to lay out: "
     "--layout changes nothing"),
    (["x.py:f", "--op", "batchnorm1d_backward", "--layout", "nchw"], "no channel axis"),
    (["x.py:f", "--op", "conv2d_backward", "--timeout", "0"], "--timeout: must be more"),
    (["x.py:f", "--op", "conv2d_backward", "--timeout", "inf"], "--timeout: must be more than "
                                                                "0 and finite, got inf"),
    # finite, but past what a thread can be waited for: not called infinite
    (["x.py:f", "--op", "conv2d_backward", "--timeout", "1e300"],
     f"--timeout: must be at most {threading.TIMEOUT_MAX:.3g} s (the longest a call can be "
     "waited for), got 1e+300"),
    (["x.py:f", "--op", "conv2d_backward", "--timeout", "1e10"], "--timeout: must be at most"),
    (["x.py:f", "--op", "conv2d_backward", "--rtol", "nan"], "--rtol: must be a finite number "
                                                             "≥ 0, got nan"),
    (["x.py:f", "--op", "conv2d_backward", "--rtol", "-1"], "--rtol: must be a finite"),
    (["x.py:f", "--op", "conv2d_backward", "--atol", "inf"], "--atol: must be a finite number "
                                                             "≥ 0, got inf"),
    (["x.py:f", "--op", "conv2d_backward", "--seed", "-3"], "--seed: -3 is out of range: it takes at least 0"),
    (["x.py:f", "--op", "conv2d_backward", "--forward", "g"], "--forward builds the cache"),
    # ignored, it left the user believing their tie rule was checked
    (["x.py:f", "--op", "conv2d_backward", "--ties", "split"],
     "error: --ties: no tie rule changes conv2d_backward's answer: --ties is the rule of a max "
     "pool's gradient; hint: leave it out, or give it with --op maxpool2d_backward"),
    (["x.py:f", "--op", "avgpool2d_backward", "--ties", "first"], "no tie rule changes"),
    (["x.py:f", "--op", "maxpool2d_forward", "--ties", "all"], "no tie rule changes"),
])
def test_bad_usage_is_one_error_line_and_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_file_without_its_function_name_lists_the_functions_it_defines(tmp_path):
    path = tmp_path / "myconv.py"
    # read, not run: the file's own code would fail if it were imported
    path.write_text("raise SystemExit('never run')\n\ndef _pad(x):\n    return x\n\n\n"
                    "def helper(x):\n    return x\n\n\n"
                    "def conv_back(x, w, delta):\n    return x\n")
    result = invoke(str(path), "--op", "conv2d_backward")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().endswith(
        f"hint: name the function after a colon: {path}:conv_back (its functions: helper, "
        f"conv_back)"), result.stderr
    # a file of private helpers alone still gets them named
    path.write_text("def _conv_back(x, w, delta):\n    return x\n")
    result = invoke(str(path), "--op", "conv2d_backward")
    assert result.stderr.strip().endswith(f"{path}:_conv_back (its functions: _conv_back)")


def test_a_module_that_does_not_import_shows_its_own_traceback(tmp_path):
    path = user_file(tmp_path, "def f(:\n    pass\n")
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert "SyntaxError" in result.stderr and str(path) in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error:")
    path = user_file(tmp_path, "raise RuntimeError('no GPU here')\n", "crashes.py")
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert 'crashes.py", line 4, in <module>' in result.stderr
    assert "importing" in result.stderr and "RuntimeError: no GPU here" in result.stderr


@pytest.mark.parametrize("source, neighbour, last", [
    ("def f(:\n    pass\n", None, "SyntaxError: "),
    ("import no_such_module_of_theirs\n", None,
     "ModuleNotFoundError: No module named 'no_such_module_of_theirs'"),
    ("import helper_of_theirs\n", "x = 1 +\n", "SyntaxError: invalid syntax"),
    ("import helper_of_theirs\n", "raise ImportError('half done')\n", "ImportError: half done"),
])
@pytest.mark.parametrize("by_name", [False, True])
def test_an_import_failure_shows_only_the_users_frames(tmp_path, monkeypatch, source,
                                                       neighbour, last, by_name):
    # the import system's frames (<frozen importlib._bootstrap>, importlib/__init__.py) are
    # the machinery that ran the import, not the user's code
    path = user_file(tmp_path, source, "theirs_broken.py")
    if neighbour is not None:
        (tmp_path / "helper_of_theirs.py").write_text(neighbour)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    target = "theirs_broken:f" if by_name else f"{path}:f"
    result = invoke(target, "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert "frozen" not in result.stderr and "importlib" not in result.stderr
    assert "cnngrad" not in result.stderr.replace(str(tmp_path), "")
    lines = result.stderr.replace(str(tmp_path) + "/", "").rstrip().splitlines()
    assert lines[-1].startswith("error: MODULE:FUNCTION: importing theirs_broken")
    assert last in lines[-2]
    assert 'theirs_broken.py", line' in result.stderr
    if neighbour is not None:
        assert 'helper_of_theirs.py", line 1' in result.stderr


@pytest.mark.parametrize("target, shown", [
    ("hw:conv_backward", "hw"), ("hw/:conv_backward", "hw"), ("./hw:conv_backward", "./hw"),
])
def test_a_folder_named_for_the_module_says_so_and_names_its_files(tmp_path, monkeypatch,
                                                                   target, shown):
    """A folder was "no such file" (with a slash) or, imported as a namespace package,
    "no function 'conv_backward' in None"."""
    (tmp_path / "hw").mkdir()
    for name in ("layers.py", "utils.py"):
        (tmp_path / "hw" / name).write_text("x = 1\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke(target, "--op", "conv2d_backward")
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: MODULE:FUNCTION: {shown} is a folder, not a Python file; hint: name a Python "
        f"file in it: {shown}/layers.py:conv_backward (its files: layers.py, utils.py)\n")


def test_an_empty_folder_named_for_the_module_says_it_holds_no_python_file(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke(f"{tmp_path / 'empty'}:f", "--op", "conv2d_backward")
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: MODULE:FUNCTION: {tmp_path / 'empty'} is a folder, not a "
                             "Python file; hint: it holds no Python file\n")


@pytest.mark.parametrize("name, source, raised", [
    ("hw_relative", "from .layers import *\n",
     "ImportError: attempted relative import with no known parent package"),
    ("hw_absolute", "from hw_absolute.layers import *\n",
     "ModuleNotFoundError: No module named 'hw_absolute'"),
])
def test_a_file_of_a_package_that_imports_the_package_is_named_as_its_module(
        tmp_path, monkeypatch, name, source, raised):
    """CS231n's cs231n/layer_utils.py (from .layers import *) failed to import as a file,
    with no word on the module name that imports it."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    shutil.copy(SAMPLES / "conv_right.py", package / "layers.py")
    (package / "layer_utils.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = invoke(f"{name}/layer_utils.py:conv2d_backward", "--op", "conv2d_backward")
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: MODULE:FUNCTION: importing {name}/layer_utils.py raised {raised}; hint: "
        f"{name}/layer_utils.py is part of the package {name}: name it as a module, from the "
        f"folder that holds {name}: {name}.layer_utils:conv2d_backward")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke(f"{name}.layer_utils:conv2d_backward", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output


def test_a_missing_function_suggests_the_close_one(tmp_path):
    path = user_file(tmp_path, "def conv_backward(x, w, d, s, p):\n    pass\n")
    result = invoke(f"{path}:conv_bakward", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert "no function 'conv_bakward'" in result.stderr
    assert "did you mean 'conv_backward'?" in result.stderr


def test_a_missing_function_lists_the_module_s_functions_and_how_many_more(tmp_path):
    path = user_file(tmp_path, "".join(f"def part_{k:02}():\n    pass\n" for k in range(11)))
    result = invoke(f"{path}:zzz", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert ("hint: its functions: part_00, part_01, part_02, part_03, part_04, part_05, "
            "part_06, part_07, … (3 more)") in result.stderr


def test_the_api_refuses_a_negative_seed():
    from cnngrad.verify import run_battery

    with pytest.raises(ValueError, match="seed must be ≥ 0, got -1"):
        run_battery(lambda *args: None, "conv2d_backward", seed=-1)


def test_cs231n_batchnorm_needs_the_users_forward(tmp_path):
    path = user_file(tmp_path, "def spatial_batchnorm_backward(dout, cache):\n    pass\n")
    result = invoke(f"{path}:spatial_batchnorm_backward", "--op", "batchnorm2d_backward",
                    "--style", "cs231n")
    assert result.exit_code == 2 and "--forward" in result.stderr


# --------------------------------------------------------------------------- arguments


KEYWORDS = """
def conv_backward(*, A_prev, W, dZ, s, pad):
    x, w, delta, stride, padding = A_prev, W, dZ, s, pad
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(delta.shape[2]):
        for j in range(delta.shape[3]):
            r, q = i * stride, j * stride
            dw += np.einsum("nf,nchw->fchw", delta[:, :, i, j], xp[:, :, r:r + kh, q:q + kw])
            dxp[:, :, r:r + kh, q:q + kw] += np.einsum("nf,fchw->nchw", delta[:, :, i, j], w)
    return dxp[:, :, padding:padding + h, padding:padding + width], dw, delta.sum((0, 2, 3))
"""


def test_arg_passes_every_argument_by_the_users_keyword(tmp_path):
    path = user_file(tmp_path, KEYWORDS)
    args = ["--arg", "x=A_prev", "--arg", "w=W", "--arg", "delta=dZ", "--arg", "stride=s",
            "--arg", "padding=pad"]
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward", *args)
    assert result.exit_code == 0, result.output
    # padding left under cnngrad's name, which the function has no parameter for: said once,
    # before any case runs (it was a TypeError in every case)
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward", *args[:-2])
    assert result.exit_code == 2
    assert "has no parameter 'padding' for padding; hint: name yours: --arg padding=pad" \
        in result.output


def test_arg_renaming_what_the_function_already_calls_so_is_told_to_go(tmp_path):
    # "hint: name yours: --arg x=x", though x was the function's own name all along
    result = invoke(sample("conv_right"), "--op", "conv2d_backward", "--arg", "x=A_prev")
    assert result.exit_code == 2, result.output
    assert result.stderr == ("error: --arg: with --arg every argument is passed by keyword, "
                             "and your function has no parameter 'A_prev' for x; hint: your "
                             "function calls it x already: drop --arg x=A_prev\n")

    from cnngrad.testing import verify_op

    def conv_backward(x, w, delta, stride, padding):
        return None

    with pytest.raises(ValueError, match="fn calls it 'x' already: drop 'x' from args"):
        verify_op(conv_backward, "conv2d_backward", args={"x": "A_prev"})


def test_arg_giving_the_weights_parameter_for_x_says_the_two_are_crossed(tmp_path):
    # "--arg x=W" beside a parameter W for w: the hint was "name yours: --arg w=X", crossing
    # them for good
    path = user_file(tmp_path, """
def dense_mine(X, W, dY):
    return None
""")
    result = invoke(f"{path}:dense_mine", "--op", "dense_backward", "--arg", "x=W")
    assert result.exit_code == 2, result.output
    assert result.stderr == ("error: --arg: with --arg every argument is passed by keyword, "
                             "and your function has no parameter 'w' for w; hint: W looks like "
                             "w, and --arg x=W passes it as x: give --arg x=X instead\n")

    from cnngrad.testing import verify_op

    def dense_mine(X, W, dY):
        return None

    with pytest.raises(ValueError, match="W looks like w, and 'x': 'W' in args passes it as x: "
                                         "give 'x': 'X' instead"):
        verify_op(dense_mine, "dense_backward", args={"x": "W"})


CS231N = """
def conv_forward_naive(x, w, b, conv_param):
    return None, ("my cache", x, w, b, conv_param)

def conv_backward_naive(dout, cache):
    tag, x, w, b, conv_param = cache  # the cache of the forward above, not the default one
    stride, pad = conv_param["stride"], conv_param["pad"]
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            r, q = i * stride, j * stride
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], xp[:, :, r:r + kh, q:q + kw])
            dxp[:, :, r:r + kh, q:q + kw] += np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
    h, width = x.shape[2:]
    return dxp[:, :, pad:pad + h, pad:pad + width], dw, dout.sum((0, 2, 3))
"""


def test_forward_builds_the_cache_from_the_same_module(tmp_path):
    path = user_file(tmp_path, CS231N)
    result = invoke(f"{path}:conv_backward_naive", "--op", "conv2d_backward", "--style",
                    "cs231n", "--forward", "conv_forward_naive")
    assert result.exit_code == 0, result.output
    assert "style     cs231n: " in result.stdout
    result = invoke(f"{path}:conv_backward_naive", "--op", "conv2d_backward", "--style",
                    "cs231n")  # cnngrad's cache (x, w, b, conv_param): 4 values, not 5
    assert result.exit_code == 1 and "raised ValueError" in result.stdout


@pytest.mark.parametrize("forward", ["conv_forward_naive", "{path}:conv_forward_naive"])
def test_a_missing_forward_is_never_said_to_be_the_function_verified(tmp_path, forward):
    # the closest name to conv_forward_naive is conv_backward_naive, the function verified:
    # passing it as its own forward cannot work, so the other functions are listed instead
    path = user_file(tmp_path, """
        def conv_backward_naive(dout, cache):
            pass

        def affine_backward(dout, cache):
            pass

        def softmax_loss(x, y):
            pass
        """, name="cs.py")
    result = invoke(f"{path}:conv_backward_naive", "--op", "conv2d_backward", "--style",
                    "cs231n", "--forward", forward.format(path=path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: --forward: no function 'conv_forward_naive' in {path}; "
        "hint: its other functions: affine_backward, softmax_loss"]


@pytest.mark.parametrize("forward", ["conv_backward_naive", "{path}:conv_backward_naive"])
def test_the_function_verified_named_as_its_own_forward_is_a_usage_error(tmp_path, forward):
    path = user_file(tmp_path, CS231N)
    result = invoke(f"{path}:conv_backward_naive", "--op", "conv2d_backward", "--style",
                    "cs231n", "--forward", forward.format(path=path))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        "error: --forward: 'conv_backward_naive' is the function verified, not its forward; "
        "hint: name the forward function whose cache it takes: conv_forward_naive"]
    assert result.stdout == ""


@pytest.mark.parametrize("which", ["function", "forward"])
def test_the_report_never_overwrites_the_users_own_code(tmp_path, which):
    path = user_file(tmp_path, CS231N, name="layers.py")
    forward = tmp_path / "forward.py"
    forward.write_text(CS231N, encoding="utf-8")
    target = path if which == "function" else forward
    before = target.read_bytes()
    result = invoke(f"{path}:conv_backward_naive", "--op", "conv2d_backward", "--style",
                    "cs231n", "--forward", f"{forward}:conv_forward_naive", "-o", target)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: {target}: --output: refusing to overwrite the file of your function; "
        "hint: give another file name, such as report.txt"]
    assert target.read_bytes() == before


def test_a_missing_forward_still_suggests_a_close_name_that_is_not_verified(tmp_path):
    path = user_file(tmp_path, """
        def spatial_batchnorm_forward(x, gamma, beta, bn_param):
            pass

        def spatial_batchnorm_backward(dout, cache):
            pass
        """)
    result = invoke(f"{path}:spatial_batchnorm_backward", "--op", "batchnorm2d_backward",
                    "--style", "cs231n", "--forward", "spatial_batchnorm_forwrd")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.endswith("; hint: did you mean 'spatial_batchnorm_forward'?")


def test_an_importable_module_name(tmp_path, monkeypatch):
    user_file(tmp_path, KEYWORDS, "verify_user_module_xyz.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    result = invoke("verify_user_module_xyz:conv_backward", "--op", "conv2d_backward",
                    "--arg", "x=A_prev", "--arg", "w=W", "--arg", "delta=dZ",
                    "--arg", "stride=s", "--arg", "padding=pad")
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- the helper


def test_verify_op_passes_a_right_function_and_raises_the_report_for_a_wrong_one():
    from cnngrad.testing import verify_op
    from cnngrad.verify import load_function

    right, _ = load_function(sample("conv_right"))
    report = verify_op(right, "conv2d_backward")
    assert report.ok and len(report.results) == 15
    wrong, _ = load_function(sample("conv_no_rotation"))
    with pytest.raises(AssertionError) as caught:
        verify_op(wrong, "conv2d_backward")
    message = str(caught.value)
    assert "FAIL" in message and "[kernel_not_rotated]" in message
    assert "got − expected" in message


@pytest.mark.parametrize("args, line", [
    # the last --arg of a name won, and two arguments under one keyword lost one of them:
    # every case RAISED a TypeError (exit 1), the calls line showing "w=x, w=w"
    (["--arg", "x=A_prev", "--arg", "x=X"],
     "error: --arg: x is renamed twice: x=A_prev and x=X; hint: give --arg x=... once\n"),
    (["--arg", "x=w"],
     "error: --arg: x and w would both be passed as 'w', and one of them lost; hint: give w "
     "a keyword of its own: --arg w=...\n"),
    (["--arg", "x=A", "--arg", "delta=A"],
     "error: --arg: x and delta would both be passed as 'A', and one of them lost; hint: "
     "give x a keyword of its own: --arg x=...\n"),
])
def test_two_keywords_for_one_argument_or_one_for_two_are_refused(args, line):
    result = invoke(sample("conv_right"), "--op", "conv2d_backward", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr == line and result.stdout == ""


def test_the_same_rename_given_twice_is_no_error():
    result = invoke(sample("conv_right"), "--op", "conv2d_backward", "--arg", "x=x",
                    "--arg", "x=x")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("kwargs, message", [
    ({"op": "conv3d_backward"}, "unknown op"),
    ({"op": "conv2d_backward", "style": "keras"}, "unknown style"),
    ({"op": "conv1d_backward", "style": "dls"}, "has no conv1d_backward"),
    ({"op": "conv2d_backward", "layout": "chwn"}, "unknown layout"),
    ({"op": "maxpool2d_backward", "ties": "last"}, "unknown tie rule"),
    ({"op": "batchnorm2d_backward", "style": "cs231n"}, "forward="),
])
def test_verify_op_refuses_bad_settings(kwargs, message):
    from cnngrad.testing import verify_op

    with pytest.raises(ValueError, match=message):
        verify_op(lambda *a: None, **kwargs)


def _forward(*args):
    return None


@pytest.mark.parametrize("fn, kwargs, message", [
    # what the command refuses, refused by the helper too rather than run into 14 RAISED
    # cases, a numpy TypeError, or a pass that means nothing
    (None, {}, "fn must be your function itself, got None"),
    ("layers.py:conv_backward", {}, r"not its name"),
    (_forward, {"style": "cs231n", "forward": "conv_forward_naive"},
     "forward must be your forward function itself"),
    (_forward, {"forward": _forward}, "cs231n and dls styles"),
    (_forward, {"style": "cs231n", "layout": "nhwc"}, "the cs231n style is nchw"),
    (_forward, {"args": {"X": "x"}}, "conv2d_backward has no argument 'X'"),
    (_forward, {"args": ["x=X"]}, "args must be a dict"),
    (_forward, {"style": "dls", "args": {"x": "A_prev"}}, "plain signature"),
    (_forward, {"args": {"x": "w"}}, "args passes x and w both as 'w': give each argument a "
                                     "keyword of its own"),
    (_forward, {"seed": "a"}, "seed must be an int ≥ 0"),
    (_forward, {"seed": -1}, "seed must be an int ≥ 0"),
    (_forward, {"timeout": 0}, "timeout must be more than 0"),
    (_forward, {"rtol": "1e-5"}, "rtol must be a number"),
    (_forward, {"rtol": -1}, "rtol must be a finite number ≥ 0"),
    (_forward, {"atol": float("inf")}, "atol must be a finite number ≥ 0"),
    # --ties is refused for an op without ties: ran, it looked like the rule was checked
    (_forward, {"ties": "all"}, "no tie rule changes conv2d_backward's answer: ties= is the "
                                "rule of a max pool's gradient"),
    (_forward, {"ties": "first"}, "no tie rule changes conv2d_backward's answer"),
])
def test_verify_op_refuses_what_the_command_refuses(fn, kwargs, message):
    from cnngrad.testing import verify_op

    with pytest.raises(ValueError, match=message):
        verify_op(fn, "conv2d_backward", **kwargs)


# --------------------------------------------------------------------------- the battery


def test_the_command_lists_every_op_and_style():
    from cnngrad.cli.verify import LAYOUTS, OP_NAMES, STYLE_NAMES, TIE_RULES
    from cnngrad.layers._common import TIE_RULES as KERNEL_TIE_RULES
    from cnngrad.problem import LAYOUTS as PROBLEM_LAYOUTS
    from cnngrad.verify.ops import OPS
    from cnngrad.verify.styles import STYLES

    assert OP_NAMES == tuple(OPS) and STYLE_NAMES == tuple(STYLES)
    assert LAYOUTS == PROBLEM_LAYOUTS and TIE_RULES == KERNEL_TIE_RULES
    help_text = runner.invoke(app, ["verify", "--help"]).stdout
    for op in OPS.values():
        assert op.signature.split("(")[0] in help_text


@pytest.mark.parametrize("name", ["conv2d_backward", "maxpool2d_backward", "conv1d_backward",
                                  "softmax_cross_entropy_backward"])
def test_the_battery_is_seeded_and_smallest_first(name):
    from cnngrad.verify.ops import OPS, battery

    op = OPS[name]
    first, again, other = battery(op, 0), battery(op, 0), battery(op, 1)
    assert [c.index for c in first] == list(range(1, len(first) + 1))
    for a, b in zip(first, again):
        assert all(np.array_equal(a.arrays[k], b.arrays[k]) for k in a.arrays)
    assert any(not np.array_equal(a.arrays[k], b.arrays[k])
               for a, b in zip(first, other) for k in a.arrays)
    # the case of values float16 cannot hold comes last, whatever its size
    sizes = [(c.fine, sum(c.arrays[k].size for k in op.shown_arrays)) for c in first]
    assert sizes == sorted(sizes)
    assert [c.fine for c in first] == [False] * (len(first) - 1) + [name != "softmax_"
                                                                    "cross_entropy_backward"]


def test_the_conv_battery_reaches_every_corner():
    from cnngrad.verify.ops import OPS, battery

    cases = battery(OPS["conv2d_backward"])
    kernels = {c.arrays["w"].shape[2:] for c in cases}
    assert (1, 1) in kernels and any(kh != kw for kh, kw in kernels)
    strides = {c.params["stride"] for c in cases}
    assert {1, 2, 3} <= strides
    leftover = [c for c in cases if c.params["stride"] > 1 and
                (c.arrays["x"].shape[2] + 2 * c.params["padding"] - c.arrays["w"].shape[2])
                % c.params["stride"]]
    assert {c.params["stride"] for c in leftover} == {2, 3}
    assert {c.arrays["x"].shape[0] for c in cases} == {1, 2, 3}
    assert any(c.arrays["x"].shape[1] > 1 and c.arrays["w"].shape[0] > 1 for c in cases)
    assert any(c.params["padding"] for c in cases)


def test_every_op_has_a_case_of_non_whole_values_in_every_style():
    # whole numbers alone pass code that truncates to int: each style must get one case
    # whose inputs have fractions
    from cnngrad.verify.ops import OPS, battery
    from cnngrad.verify.styles import STYLES

    def fractions(case):
        return any(a.dtype.kind == "f" and not np.array_equal(a, np.round(a))
                   for a in case.arrays.values())

    without = [(name, style.name) for name, op in OPS.items() for style in STYLES.values()
               if style.supports(op)
               and not any(fractions(c) for c in battery(op) if style.accepts(op, c))]
    assert without == []


def test_pool_ties_are_where_the_battery_says():
    from cnngrad.layers.pool import maxpool2d_tied_windows
    from cnngrad.verify.ops import OPS, battery

    cases = battery(OPS["maxpool2d_backward"])
    for case in cases:
        tied = maxpool2d_tied_windows(case.arrays["x"], *(case.params[k] for k in
                                                          ("size", "stride", "padding")))
        assert tied.any() == ("ties" in case.corner), case.corner


def test_conv1d_and_conv_transpose_batteries_have_dilation_and_asymmetric_padding():
    from cnngrad.verify.ops import OPS, battery

    conv1d = battery(OPS["conv1d_backward"])
    assert any(c.params["dilation"] > 1 for c in conv1d)
    assert any(c.params["padding"][0] != c.params["padding"][1] for c in conv1d)
    conv_t = battery(OPS["conv_transpose2d_backward"])
    assert any(c.params["dilation"] > 1 for c in conv_t)
    assert any(c.params["output_padding"] > 0 for c in conv_t)


#: The settings a case may leave out of its label: PyTorch's defaults.  A pool's window has
#: no default, so its label always names it.
SETTINGS_LEFT_UNSAID = {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1,
                        "eps": 1e-5}


def setting_words(key, value) -> str:
    if key == "size":  # "2×3 window", or "3×3 windows" in a plural label
        kh, kw = value if isinstance(value, tuple) else (value, value)
        return f"{kh}×{kw} window"
    if isinstance(value, tuple):  # conv1d's (left, right) padding
        return f"{key} ({value[0]}, {value[1]})"
    return f"{key.replace('_', ' ')} {value}"


def test_every_case_label_names_every_setting_not_left_at_its_default():
    from cnngrad.verify.ops import OPS, battery

    unsaid = []
    for name, op in OPS.items():
        for case in battery(op):
            for key, value in case.params.items():
                if key in SETTINGS_LEFT_UNSAID and np.all(np.asarray(value) ==
                                                          SETTINGS_LEFT_UNSAID[key]):
                    continue
                if setting_words(key, value) not in case.corner:
                    unsaid.append((name, case.index, case.corner, key, value))
    assert unsaid == []


def test_the_conv_transpose_label_with_output_padding_and_dilation_says_both():
    from cnngrad.verify.ops import OPS, battery

    case = battery(OPS["conv_transpose2d_backward"])[8]
    assert case.params == {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 2}
    assert case.corner == "2 channels in, 3 out, stride 2, padding 1, output padding 1, " \
                          "dilation 2"


# --------------------------------------------------------------------------- docs and bench

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["conv_right", "conv_stride_ignored"])
def test_the_docs_show_the_real_output(name):
    docs = (ROOT / "docs" / "verify.md").read_text(encoding="utf-8")
    command = f"$ cnngrad verify samples/verify/{name}.py:conv2d_backward --op conv2d_backward"
    shown = docs.split(command + "\n", 1)[1].split("```", 1)[0]
    out = invoke(sample(name), "--op", "conv2d_backward").stdout
    assert shown == out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if name == "conv_stride_ignored":
        tail = readme.split(command + "\n", 1)[1].split("...\n", 1)[1].split("```", 1)[0]
        assert out.endswith(tail)


def _documented_slips() -> dict[str, set[str]]:
    """verify.md's table of slips: op (or op family) -> the names in backticks of its row,
    "bias slips" standing for the eight bias slips."""
    import re

    docs = (ROOT / "docs" / "verify.md").read_text(encoding="utf-8")
    bias = {"bias_forgotten", "bias_not_summed_over_batch", "bias_first_image_only",
            "bias_last_image_only", "bias_per_position", "bias_averaged",
            "summed_over_other_axes", "bias_not_summed"}
    rows = {}
    for line in docs.split("| op | slips named |", 1)[1].split("\n\n", 1)[0].splitlines():
        cells = line.split(" | ")
        if len(cells) == 2 and cells[0].startswith("| "):
            names = set(re.findall(r"`(\w+)`", cells[1]))
            rows[cells[0][2:]] = names | (bias if "bias slips" in cells[1] else set())
    return rows


@pytest.mark.parametrize("op_name", sorted(OPS))
def test_every_slip_an_op_can_name_is_in_the_docs_table(op_name):
    # conv2d_backward's stride_ignored (in dw) was named by verify and missing from the table
    from cnngrad.verify.ops import Options, battery

    op = OPS[op_name]
    named = {alternative.name for case in battery(op)
             for alternative in op.slips(case, Options(), op.reference(case, Options()))}
    rows = _documented_slips()
    row = rows.get(op_name) or rows[op_name.rsplit("_", 1)[0]]  # avgpool2d: both directions
    assert named and named <= row, sorted(named - row)


def test_the_bench_times_every_op(capsys):
    from cnngrad.cli.bench import verify_bench
    from cnngrad.verify.ops import OPS

    assert verify_bench(["--repeat", "1"]) in (0, 1)  # 1: a battery over 2 s, a busy machine
    out = capsys.readouterr().out
    for name in OPS:
        assert f"\n{name} " in out
    assert out.count(" pass\n") == len(OPS) + 1 and out.count(" fail\n") == 1


# --------------------------------------------------------------------------- the references


def test_conv1d_by_taps_is_the_reference():
    from cnngrad.verify.ops import OPS, Options, battery, conv1d_backward_taps

    for case in battery(OPS["conv1d_backward"]):
        a, p = case.arrays, case.params
        truth = OPS["conv1d_backward"].reference(case, Options())
        dx, dw, _ = conv1d_backward_taps(a["x"], a["w"], a["delta"], p["stride"],
                                         p["padding"], p["dilation"])
        np.testing.assert_allclose(dx, truth["dx"], atol=1e-12)
        np.testing.assert_allclose(dw, truth["dw"], atol=1e-12)


def test_the_slip_formulas_at_the_right_settings_are_the_reference():
    from cnngrad.layers.conv import conv2d_forward
    from cnngrad.verify.ops import OPS, Options, batchnorm_backward_formula, battery

    for case in battery(OPS["conv_transpose2d_backward"]):
        a, p = case.arrays, case.params
        truth = OPS["conv_transpose2d_backward"].reference(case, Options())
        dx = conv2d_forward(a["delta"], a["w"], None, p["stride"], p["padding"],
                            p["dilation"])
        np.testing.assert_allclose(dx, truth["dx"], atol=1e-12)
    for case in battery(OPS["batchnorm2d_backward"]):
        a = case.arrays
        truth = OPS["batchnorm2d_backward"].reference(case, Options())
        ours = batchnorm_backward_formula(a["x"], a["gamma"], a["delta"], 1e-5)
        for mine, reference in zip(ours, truth.values()):
            np.testing.assert_allclose(mine, reference, atol=1e-10)


def test_the_references_agree_with_torch():
    torch = pytest.importorskip("torch")
    from cnngrad.verify.ops import OPS, Options, battery

    for case in battery(OPS["conv_transpose2d_backward"]):
        a, p = case.arrays, case.params
        x = torch.tensor(a["x"], requires_grad=True)
        w = torch.tensor(a["w"], requires_grad=True)
        b = torch.tensor(a["b"], requires_grad=True)
        y = torch.nn.functional.conv_transpose2d(x, w, b, p["stride"], p["padding"],
                                                 p["output_padding"], 1, p["dilation"])
        y.backward(torch.tensor(a["delta"]))
        truth = OPS["conv_transpose2d_backward"].reference(case, Options())
        for reference, theirs in zip(truth.values(), (x.grad, w.grad, b.grad)):
            np.testing.assert_allclose(reference, theirs.numpy(), atol=1e-9)
    for case in battery(OPS["batchnorm2d_backward"]):
        a = case.arrays
        x = torch.tensor(a["x"], requires_grad=True)
        gamma = torch.tensor(a["gamma"], requires_grad=True)
        beta = torch.tensor(a["beta"], requires_grad=True)
        y = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True,
                                           eps=1e-5)
        y.backward(torch.tensor(a["delta"]))
        truth = OPS["batchnorm2d_backward"].reference(case, Options())
        for reference, theirs in zip(truth.values(), (x.grad, gamma.grad, beta.grad)):
            np.testing.assert_allclose(reference, theirs.numpy(), atol=1e-9)


def test_the_softmax_reference_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from cnngrad.verify.ops import OPS, Options, battery

    for case in battery(OPS["softmax_cross_entropy_backward"]):
        logits = torch.tensor(case.arrays["logits"], requires_grad=True)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(case.arrays["labels"]))
        loss.backward()
        truth = OPS["softmax_cross_entropy_backward"].reference(case, Options())
        np.testing.assert_allclose(truth["loss"], loss.item(), rtol=1e-12)
        np.testing.assert_allclose(truth["dx"], logits.grad.numpy(), atol=1e-12)


def test_a_call_that_does_not_fit_the_signature_says_so():
    path = Path(__file__).parent / "test_verify_students.py"
    result = invoke(f"{path}:dls_conv_backward", "--op", "conv2d_backward")
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "takes 2 positional arguments but 5 were given" in out
    assert "pick --style cs231n or dls" in out
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("style, advice", [
    ("cs231n", "see its signature in --help, pick --style dls, or pick --style plain and "
               "rename arguments with --arg"),
    ("dls", "see its signature in --help, pick --style cs231n, or pick --style plain and "
            "rename arguments with --arg"),
])
def test_a_call_that_does_not_fit_names_only_the_other_styles(tmp_path, style, advice):
    # a signature of five arguments called in the cs231n or dls style: never "pick" the
    # style picked
    path = user_file(tmp_path, "def conv_backward(a, b, c, d, e):\n    return a, b, c\n")
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward", "--style", style)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert f"the call does not fit your function: {advice}" in out, out
    assert f"--style {style}" not in out


@pytest.mark.parametrize("style", ["cs231n", "dls"])
def test_a_plain_signature_called_in_a_course_style_is_sent_to_the_plain_style(style):
    # its parameters are the plain call's arguments, by name and in order: the one advice
    # that fits, said once (every case raised the same TypeError, 13 times over)
    path = Path(__file__).parent / "test_verify_students.py"
    result = invoke(f"{path}:conv_backward_nchw", "--op", "conv2d_backward", "--style", style)
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert ("the call does not fit your function: your function takes the plain style's "
            "arguments (x, w, delta, stride, padding): pick --style plain") in out, out
    # said in case 1's line, and again under "Smallest failing case": not once a case
    assert out.count("does not fit your function") == 2
    assert "2 RAISED 2×2 kernel the same as case 1" in out


@pytest.mark.parametrize("signature, plain", [
    ("x, w, delta, stride, padding, *, verbose", False),  # plain would miss verbose too
    ("x, w, delta, stride, padding, *, verbose=False", True),
    ("x, w, delta, stride, padding, /", True),  # by position: no --arg needed
    ("x, w, delta, stride, padding, verbose=False", True),
    ("x, w, delta, stride, padding, *args, **kwargs", True),
    ("w, x, delta, stride, padding", False),  # the names in another order
    ("x, w, delta, stride", False),
])
def test_the_plain_style_is_advised_only_where_its_call_fits(tmp_path, signature, plain):
    path = user_file(tmp_path, f"def conv_backward({signature}):\n    return None\n")
    result = invoke(f"{path}:conv_backward", "--op", "conv2d_backward", "--style", "cs231n")
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert ("pick --style plain" in out and "pick --style plain and rename" not in out) \
        == plain, out


def test_the_plain_style_advised_with_a_forward_given_says_to_leave_it_out():
    path = Path(__file__).parent / "test_verify_students.py"
    result = invoke(f"{path}:conv_backward_nchw", "--op", "conv2d_backward", "--style",
                    "cs231n", "--forward", "conv_forward_nchw")
    out = " ".join(result.stdout.split())
    assert "pick --style plain and leave --forward out" in out, out


def test_a_rename_of_a_name_the_function_has_is_told_to_go_whatever_its_place(tmp_path):
    # def e(w, x, ...) with --arg x=A_prev --arg w=W was hinted "--arg x=w": x's array as w
    path = user_file(tmp_path, "def e(w, x, delta, stride, padding):\n    return None\n")
    result = invoke(f"{path}:e", "--op", "conv2d_backward", "--arg", "x=A_prev", "--arg",
                    "w=W")
    assert result.exit_code == 2
    assert result.stderr.endswith("hint: your function calls it x already: drop --arg "
                                  "x=A_prev\n"), result.stderr


def test_a_call_that_does_not_fit_leaves_out_styles_without_the_op():
    from cnngrad.verify.ops import OPS
    from cnngrad.verify.runner import _misfit_hint
    from cnngrad.verify.styles import STYLES

    # no assignment style has conv1d_backward; only cs231n has softmax's
    assert _misfit_hint(OPS["conv1d_backward"], STYLES["plain"]) == \
        "see its signature in --help or rename arguments with --arg"
    assert _misfit_hint(OPS["softmax_cross_entropy_backward"], STYLES["cs231n"]) == \
        "see its signature in --help or pick --style plain and rename arguments with --arg"


def test_table_is_the_human_format_and_text_its_other_name():
    table = invoke(sample("conv_right"), "--op", "conv2d_backward", "-f", "table")
    text = invoke(sample("conv_right"), "--op", "conv2d_backward", "--format", "text")
    default = invoke(sample("conv_right"), "--op", "conv2d_backward")
    assert table.exit_code == text.exit_code == default.exit_code == 0, table.output
    assert "PASS  all 15 cases agree" in table.stdout
    assert table.stdout == text.stdout == default.stdout
    help_text = " ".join(runner.invoke(app, ["verify", "--help"]).stdout.split())
    assert "table (the report for people; text is another name for it) or json" in help_text
    assert "[default: from -o's suffix (.json, .txt), else table]" in help_text


def test_a_missing_bundled_verify_sample_says_where_it_is(tmp_path, monkeypatch):
    # an installed cnngrad run outside a checkout: the help's samples/verify/... is not there
    from cnngrad.bundled import samples_dir

    monkeypatch.chdir(tmp_path)
    result = invoke("samples/verify/conv_right.py:conv2d_backward", "--op", "conv2d_backward")
    assert result.exit_code == 2
    assert "no such file: samples/verify/conv_right.py" in result.output
    hint = 'hint: conv_right.py ships with cnngrad: `cp "$(cnngrad samples --path)/verify/' \
        'conv_right.py" .` copies it here'
    assert hint in result.output
    # the hint's copy (the folder `cnngrad samples --path` prints) makes it run
    folder = runner.invoke(app, ["samples", "--path"]).stdout.strip()
    assert Path(folder) == samples_dir()
    shutil.copy(Path(folder) / "verify" / "conv_right.py", tmp_path)
    again = invoke("conv_right.py:conv2d_backward", "--op", "conv2d_backward")
    assert again.exit_code == 0, again.output
    # a file that is not a bundled sample gets no such hint
    other = invoke("samples/verify/mine.py:conv2d_backward", "--op", "conv2d_backward")
    assert other.exit_code == 2 and "ships with cnngrad" not in other.output


@pytest.mark.parametrize("op", ["conv2d_forward", "maxpool2d_forward", "avgpool2d_forward"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_forward_ops_layout_line_names_its_output_not_a_delta(op, layout):
    from cnngrad.verify.ops import OPS

    words = OPS[op].layout_words[layout]
    assert "delta" not in words and "-> y (N, " in words
    assert ("b (F,)" in words) == op.startswith("conv")


def test_the_report_fits_a_terminal_narrower_than_80_columns():
    # laid out for 80 columns whatever the width: a 60-column terminal folded every line,
    # the three grids side by side and the slip's words cut anywhere
    args = ["verify", sample("conv_stride_ignored"),
            "--op", "conv2d_backward"]
    narrow = runner.invoke(app, args, env={"COLUMNS": "60"})
    assert narrow.exit_code == 1
    lines = narrow.output.splitlines()
    assert max(len(line) for line in lines) <= 60
    assert "  got" in lines and "  got − expected" in lines  # the grids one under the other
    assert "Slip:   dx matches delta not dilated for stride 2 (the" in lines
    # a pipe or a file keeps the 80-column report, however wide COLUMNS says it may be
    wide = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert max(len(line) for line in wide.output.splitlines()) == 78
    assert "  got                  ┆ expected             ┆ got − expected" in \
        wide.output.splitlines()


@pytest.mark.parametrize("op", ["relu_backward", "sigmoid_backward", "leaky_relu_backward",
                                "tanh"])
def test_an_activation_op_is_told_where_its_derivative_is_shown(op):
    # the nearest name by spelling, dense_backward for relu_backward, would mislead
    result = runner.invoke(app, ["verify", "x.py", "--op", op])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"error: --op: unknown value '{op}'; hint: verify holds layers")
    assert "did you mean" not in line and "cnngrad backward and cnngrad explain" in line


@pytest.mark.parametrize("op, kind, words", [
    ("upsample_backward", "upsample", "layer type"),
    ("flatten_backward", "flatten", "layer type"),
    ("upsample_nearest_backward", "upsample", "layer type"),
    ("global_avgpool_backward", "global_avgpool", "layer type"),
    ("maxpool1d_backward", "maxpool1d", "layer type"),
    ("Dropout", "dropout", "layer type"),
    ("mse_backward", "mse", "loss"),
])
def test_a_layer_type_without_an_op_is_told_what_verify_checks(op, kind, words):
    # "did you mean 'dense_backward'?" for upsample_backward and flatten_backward misled
    result = runner.invoke(app, ["verify", "x.py", "--op", op])
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert line.startswith(f"error: --op: unknown value '{op}'; hint: verify has no op for "
                           f"{kind}, a {words} of the problem format: cnngrad backward and "
                           "cnngrad explain show its backward for a problem")
    assert line.endswith("verify checks: " + ", ".join(OPS))
    assert "did you mean" not in line


@pytest.mark.parametrize("op, alone", [
    ("softmax_loss", "softmax"), ("softmax_backward", "softmax"), ("softmax", "softmax"),
    ("log_softmax_backward", "log_softmax"),  # was told "softmax alone is a layer type"
])
def test_a_softmax_op_is_told_the_op_with_its_loss(op, alone):
    # CS231n's softmax_loss was told "verify has no op for softmax"
    result = runner.invoke(app, ["verify", "x.py", "--op", op])
    assert result.exit_code == 2
    assert result.output == (f"error: --op: unknown value '{op}'; hint: softmax with its "
                             "cross-entropy loss is softmax_cross_entropy_backward (the loss "
                             "and its gradient as CS231n's softmax_loss returns them); "
                             f"{alone} alone is a layer type, which cnngrad backward and "
                             "cnngrad explain show for a problem\n")


@pytest.mark.parametrize("target, op, hint", [
    # the function's own name says which pass: conv2d was offered conv2d_forward
    ("x.py:conv2d_backward", "conv2d", "--op conv2d_backward, as your function "
                                       "conv2d_backward says"),
    ("x.py:maxpool_forward", "MaxPool2d", "--op maxpool2d_forward, as your function "
                                          "maxpool_forward says"),
    ("x.py:mine", "conv2d", "conv2d_forward or conv2d_backward"),
    ("x.py:mine", "dense", "dense_backward"),
    ("x.py:conv_backward_naive", "conv2d", "--op conv2d_backward, as your function "
                                           "conv_backward_naive says"),
    # no function named (no colon): a file's name says nothing of the pass
    ("my_backward.py", "conv2d", "conv2d_forward or conv2d_backward"),
    ("x.py:backwards_compatible_conv", "conv2d", "conv2d_forward or conv2d_backward"),
])
def test_a_layer_named_without_its_pass_is_told_the_ops(target, op, hint):
    result = runner.invoke(app, ["verify", target, "--op", op])
    assert result.exit_code == 2
    assert result.output == (f"error: --op: unknown value '{op}'; hint: the op names the pass "
                             f"too: {hint}\n")


def test_a_name_that_only_begins_an_op_is_offered_the_nearest():
    # conv was told "--op conv_transpose2d_backward, as your function conv_backward says"
    result = runner.invoke(app, ["verify", "x.py:conv_backward", "--op", "conv"])
    assert result.exit_code == 2
    assert "the op names the pass too" not in result.output and "allowed:" in result.output


def test_a_misspelt_op_is_still_offered_the_nearest():
    result = runner.invoke(app, ["verify", "x.py", "--op", "dense_backwrd"])
    assert result.exit_code == 2
    assert "did you mean 'dense_backward'?" in result.output


@pytest.mark.parametrize("op", ["batchnorm_backward", "batchnorm_backward_alt", "BatchNorm",
                                "batch_norm_forward", "spatial_batchnorm_backward"])
def test_cs231ns_batch_norm_names_are_told_their_op(op):
    # the nearest name by spelling, batchnorm2d_backward, is for maps only
    result = runner.invoke(app, ["verify", "x.py", "--op", op])
    assert result.exit_code == 2
    hint = ("batchnorm2d_backward, for maps (N, C, H, W)" if op.startswith("spatial") else
            "batchnorm1d_backward for vectors (N, D), CS231n's batchnorm_backward; "
            "batchnorm2d_backward for maps (N, C, H, W), its spatial_batchnorm_backward")
    assert result.output == f"error: --op: unknown value '{op}'; hint: {hint}\n"


def test_forward_with_the_plain_style_says_which_style_takes_it():
    result = runner.invoke(app, ["verify", "x.py:f", "--op", "batchnorm1d_backward",
                                 "--forward", "batchnorm_forward"])
    assert result.exit_code == 2
    # dls has no batch norm: only the style that has it is named
    assert result.output == ("error: --forward: --forward builds the cache of the cs231n and "
                             "dls styles; hint: add --style cs231n for a backward that takes "
                             "(dout, cache)\n")
    conv = runner.invoke(app, ["verify", "x.py:f", "--op", "conv2d_backward", "--forward",
                               "conv_forward"])
    assert conv.output.endswith("hint: add --style cs231n or --style dls for a backward that "
                                "takes (dout, cache)\n")


def test_an_op_that_only_begins_like_an_activation_gets_the_usual_hint():
    result = runner.invoke(app, ["verify", "x.py", "--op", "reluctant"])
    assert result.exit_code == 2
    assert "verify holds layers" not in result.output and "allowed:" in result.output


@pytest.mark.parametrize("op", ["maxpool2d_backward", "avgpool2d_backward"])
def test_the_header_repeats_the_options_an_op_declares(tmp_path, op):
    # the op table says which declared options its answer depends on: a max pool's tie rule
    path = user_file(tmp_path, f"""
        from cnngrad import {op} as ours

        def {op}(x, delta, size, stride, padding):
            return ours(x, delta, size, stride, padding)
        """)
    result = invoke(f"{path}:{op}", "--op", op, "--ties", "split")
    assert OPS[op].header_options == (("ties",) if op.startswith("max") else ())
    if op.startswith("avg"):  # an option the answer does not depend on: refused, not ignored
        assert result.exit_code == 2 and "no tie rule changes" in result.output
        result = invoke(f"{path}:{op}", "--op", op)
    assert result.output.startswith(f"cnngrad verify {op}: "), result.output  # ran (ours
    # takes the first of tied maxima: under --ties split the tie cases fail, exit 1)
    assert ("  ties      split (--ties)\n" in result.output) == op.startswith("max")


@pytest.mark.parametrize("settings", [{"layout": "NHWC"}, {"ties": "First"},
                                      {"style": "Plain"}])
def test_verify_op_reads_its_settings_in_any_case(settings):
    from cnngrad import conv2d_forward
    from cnngrad.testing import verify_op

    def my_conv(x, w, b, stride, padding):
        if settings.get("layout"):  # channels last: as the battery gives it
            y = conv2d_forward(x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1), b,
                               stride=stride, padding=padding)
            return y.transpose(0, 2, 3, 1)
        return conv2d_forward(x, w, b, stride=stride, padding=padding)

    if "ties" in settings:  # a tie rule is a max pool's
        from cnngrad import maxpool2d_backward

        def my_pool(x, delta, size, stride, padding):
            return maxpool2d_backward(x, delta, size, stride=stride, padding=padding)

        assert verify_op(my_pool, "MAXPOOL2D_BACKWARD", **settings).ok
        return
    assert verify_op(my_conv, "CONV2D_FORWARD", **settings).ok



def conv_backward_own_keywords(*, A_prev, W, dZ, s, pad):
    from cnngrad import conv2d_backward

    return conv2d_backward(A_prev, W, dZ, stride=s, padding=pad)


def test_an_argument_the_function_has_no_parameter_for_is_said_once(tmp_path):
    # --arg passes every argument by keyword: stride, left under cnngrad's name, made every
    # case raise "unexpected keyword argument 'stride'"
    from cnngrad.testing import verify_op

    source = tmp_path / "mine.py"
    source.write_text(textwrap.dedent("""\
        from cnngrad import conv2d_backward

        def conv_backward(*, A_prev, W, dZ, s, pad):
            return conv2d_backward(A_prev, W, dZ, stride=s, padding=pad)
        """))
    renamed = ["--arg", "x=A_prev", "--arg", "w=W", "--arg", "delta=dZ", "--arg", "padding=pad"]
    result = run_cli(f"{source}:conv_backward", "--op", "conv2d_backward", *renamed,
                     cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("error: --arg: with --arg every argument is passed by keyword, and "
                             "your function has no parameter 'stride' for stride; hint: name "
                             "yours: --arg stride=s\n")
    assert run_cli(f"{source}:conv_backward", "--op", "conv2d_backward", *renamed, "--arg",
                   "stride=s", cwd=tmp_path).returncode == 0
    args = {"x": "A_prev", "w": "W", "delta": "dZ", "padding": "pad"}
    with pytest.raises(ValueError, match="fn has no parameter 'stride' for stride; add "
                                         "'stride': 's' to args"):
        verify_op(conv_backward_own_keywords, "conv2d_backward", args=args)
    assert verify_op(conv_backward_own_keywords, "conv2d_backward",
                     args={**args, "stride": "s"}).ok


def test_arg_with_a_function_of_positional_arguments_only_says_to_drop_it(tmp_path):
    source = tmp_path / "mine.py"
    source.write_text(textwrap.dedent("""\
        from cnngrad import conv2d_backward

        def by_position(*args):
            return conv2d_backward(*args)

        def positional_only(x, w, delta, stride, padding, /):
            return conv2d_backward(x, w, delta, stride, padding)
        """))
    for name in ("by_position", "positional_only"):
        result = run_cli(f"{source}:{name}", "--op", "conv2d_backward", "--arg", "x=A_prev",
                         cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.rstrip().endswith(
            "hint: it takes its arguments by position only: drop --arg"), result.stderr
        assert run_cli(f"{source}:{name}", "--op", "conv2d_backward",
                       cwd=tmp_path).returncode == 0


def test_a_torch_tensor_that_still_requires_grad_is_read_as_its_values(tmp_path):
    # "dx is not an array (RuntimeError: Can't call numpy() on Tensor that requires grad"
    pytest.importorskip("torch")
    path = user_file(tmp_path, """
        import torch
        import torch.nn.functional as F

        def f(x, w, delta, stride, padding):
            x = torch.tensor(x, requires_grad=True)
            w = torch.tensor(w, requires_grad=True)
            y = F.conv2d(x, w, stride=stride, padding=padding)
            y.backward(torch.tensor(delta))
            # still in the graph: an output computed from a tensor that requires grad, and
            # one as a list of such tensors
            db = torch.tensor(delta).sum(dim=(0, 2, 3)).requires_grad_()
            dw = [row * w.sum() / w.sum() for row in w.grad]
            return x.grad * w.sum() / w.sum(), dw, db
        """)
    result = invoke(f"{path}:f", "--op", "conv2d_backward")
    assert result.exit_code == 0, result.output
