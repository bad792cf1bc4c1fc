"""The names a textbook gives the tensors of a backprop exercise, read into dotted paths."""

from __future__ import annotations

import pytest

from cnngrad.teach.textbook_names import textbook_hint, textbook_paths

KNOWN = ["loss", "conv2d_1.output", "conv2d_1.delta_out", "conv2d_1.delta_in",
         "conv2d_1.grads.kernel", "conv2d_1.grads.bias", "dense_1.delta_in",
         "dense_1.grads.weights", "dense_1.grads.bias"]


@pytest.mark.parametrize("name, what, paths", [
    ("dW", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dE/dW", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dL_dK", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("W_grad", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dW1", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("grad_bias", "a bias gradient", ["conv2d_1.grads.bias", "dense_1.grads.bias"]),
    ("dense_1.db", "a bias gradient", ["dense_1.grads.bias"]),
    ("dX", "an input delta", ["conv2d_1.delta_in", "dense_1.delta_in"]),
    ("dA_prev", "an input delta", ["conv2d_1.delta_in", "dense_1.delta_in"]),
    ("conv2d_1.dx", "an input delta", ["conv2d_1.delta_in"]),
])
def test_a_textbook_name_reads_as_its_paths(name, what, paths):
    assert textbook_paths(name, KNOWN) == (what, paths)


@pytest.mark.parametrize("name", ["delta", "comment", "dz", "grad", "dense_2.dW", "conv2d_1.W",
                                  "student", "d", ""])
def test_other_names_are_not_read(name):
    assert textbook_paths(name, KNOWN) is None
    assert textbook_hint(name, KNOWN) is None


def test_a_name_with_no_tensor_of_its_kind_says_so():
    assert textbook_hint("db", ["conv2d_1.grads.kernel"]) == \
        "db reads as a bias gradient, and no layer here has one"


def test_more_than_four_paths_are_shortened():
    known = [f"relu_{i}.delta_in" for i in range(1, 7)]
    assert textbook_hint("dx", known) == (
        "dx reads as an input delta; here each layer's has its own path: relu_1.delta_in, "
        "relu_2.delta_in, relu_3.delta_in, relu_4.delta_in, ...")
