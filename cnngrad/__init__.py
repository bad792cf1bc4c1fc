"""cnngrad: the gradients of a convolutional network, layer by layer, done by the numbers.

The layer kernels are importable as a library (float64, float32, or exact Fractions)::

    from cnngrad import conv2d_forward, conv2d_backward
    y = conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1, groups=1)
    dx, dw, db = conv2d_backward(x, w, delta, stride=1, padding=0, dilation=1, groups=1)
"""

from __future__ import annotations

__version__ = "1.1.0"

_API = {
    "conv2d_forward": "cnngrad.layers.conv",
    "conv2d_backward": "cnngrad.layers.conv",
    "maxpool2d_forward": "cnngrad.layers.pool",
    "maxpool2d_backward": "cnngrad.layers.pool",
    "avgpool2d_forward": "cnngrad.layers.pool",
    "avgpool2d_backward": "cnngrad.layers.pool",
    # contract v1.1
    "conv1d_forward": "cnngrad.layers.conv1d",
    "conv1d_backward": "cnngrad.layers.conv1d",
    "maxpool1d_forward": "cnngrad.layers.pool1d",
    "maxpool1d_backward": "cnngrad.layers.pool1d",
    "avgpool1d_forward": "cnngrad.layers.pool1d",
    "avgpool1d_backward": "cnngrad.layers.pool1d",
    "conv_transpose2d_forward": "cnngrad.layers.conv_transpose",
    "conv_transpose2d_backward": "cnngrad.layers.conv_transpose",
    "batchnorm_forward": "cnngrad.layers.batchnorm",
    "batchnorm_backward": "cnngrad.layers.batchnorm",
    "batchnorm2d_forward": "cnngrad.layers.batchnorm",
    "batchnorm2d_backward": "cnngrad.layers.batchnorm",
    "batchnorm1d_forward": "cnngrad.layers.batchnorm",
    "batchnorm1d_backward": "cnngrad.layers.batchnorm",
    "dropout_forward": "cnngrad.layers.dropout",
    "dropout_backward": "cnngrad.layers.dropout",
    "softmax_forward": "cnngrad.layers.softmax",
    "softmax_backward": "cnngrad.layers.softmax",
    "log_softmax_forward": "cnngrad.layers.softmax",
    "log_softmax_backward": "cnngrad.layers.softmax",
    "upsample_nearest_forward": "cnngrad.layers.upsample",
    "upsample_nearest_backward": "cnngrad.layers.upsample",
    "global_avgpool_forward": "cnngrad.layers.global_pool",
    "global_avgpool_backward": "cnngrad.layers.global_pool",
    "bce": "cnngrad.layers.losses",
    "bce_with_logits": "cnngrad.layers.losses",
    "nll": "cnngrad.layers.losses",
    "same_padding": "cnngrad.layers._common",
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
    # not `annotations`, the __future__ import's name: no part of the API
    return sorted((set(globals()) - {"annotations"}) | set(_API))
