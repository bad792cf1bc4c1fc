"""``cnngrad verify``: hold a from-scratch implementation of a layer to cnngrad's answers.

    from cnngrad.verify import run_battery, load_function
    report = run_battery(my_conv_backward, "conv2d_backward", layout="nhwc")
    report.ok, report.slips

The pieces: :mod:`~cnngrad.verify.ops` (the operations, their batteries, cnngrad's answers
and the slips' answers), :mod:`~cnngrad.verify.styles` (how a case becomes the user's call),
:mod:`~cnngrad.verify.runner` (calls under a timeout, comparison, diagnosis),
:mod:`~cnngrad.verify.report` (text and JSON).
"""

from __future__ import annotations

from cnngrad.verify.load import load_function
from cnngrad.verify.runner import Report, run_battery

__all__ = ["Report", "load_function", "run_battery"]
