"""cnngrad: the gradients of a convolutional network, layer by layer, done by the numbers.

The layer kernels are importable as a library (float64, float32, or exact Fractions)::

    from cnngrad import conv2d_forward, conv2d_backward
    y = conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1)
    dx, dw, db = conv2d_backward(x, w, delta, stride=1, padding=0, dilation=1, groups=1)
"""

from __future__ import annotations

__version__ = "1.0.0"

_API = {
    "conv2d_forward": "cnngrad.layers.conv",
    "conv2d_backward": "cnngrad.layers.conv",
    "maxpool2d_forward": "cnngrad.layers.pool",
    "maxpool2d_backward": "cnngrad.layers.pool",
    "avgpool2d_forward": "cnngrad.layers.pool",
    "avgpool2d_backward": "cnngrad.layers.pool",
    "global_avgpool_forward": "cnngrad.layers.global_pool",
    "global_avgpool_backward": "cnngrad.layers.global_pool",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # the kernels load on first use, so `cnngrad --version` and --help stay instant
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'cnngrad' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names too, so that dir(cnngrad), tab completion and help(cnngrad) list them
    return sorted(set(globals()) | set(_API))
