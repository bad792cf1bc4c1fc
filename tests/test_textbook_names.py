"""The names a textbook gives the tensors of a backprop exercise, read into dotted paths."""

from __future__ import annotations

import pytest

from cnngrad.teach.textbook_names import textbook_hint, textbook_paths

KNOWN = ["loss", "conv2d_1.output", "conv2d_1.delta_out", "conv2d_1.delta_in",
         "conv2d_1.grads.kernel", "conv2d_1.grads.bias", "bn_1.delta_in", "bn_1.grads.gamma",
         "bn_1.grads.beta", "dense_1.delta_in", "dense_1.grads.weights", "dense_1.grads.bias"]
#: a residual block: the add layer's delta is one per input
MERGED = ["conv_a.delta_in", "conv_a.grads.kernel", "skip.delta_in.conv_a",
          "skip.delta_in.input", "dw_1.output", "dw_1.delta_in", "dw_1.grads.kernel"]


@pytest.mark.parametrize("name, what, paths", [
    ("dW", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dE/dW", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dL_dK", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("W_grad", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dW1", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("grad_bias", "a bias gradient", ["conv2d_1.grads.bias", "dense_1.grads.bias"]),
    ("dense_1.db", "a bias gradient", ["dense_1.grads.bias"]),
    ("dJ_dW", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dC/dw", "a weight gradient", ["conv2d_1.grads.kernel", "dense_1.grads.weights"]),
    ("dX", "an input delta", ["conv2d_1.delta_in", "bn_1.delta_in", "dense_1.delta_in"]),
    ("dA_prev", "an input delta", ["conv2d_1.delta_in", "bn_1.delta_in", "dense_1.delta_in"]),
    ("dinputs", "an input delta", ["conv2d_1.delta_in", "bn_1.delta_in", "dense_1.delta_in"]),
    ("conv2d_1.dx", "an input delta", ["conv2d_1.delta_in"]),
])
def test_a_textbook_name_reads_as_its_paths(name, what, paths):
    assert textbook_paths(name, KNOWN) == (what, paths)


@pytest.mark.parametrize("name", ["delta", "comment", "dz", "grad", "dense_2.dW", "conv2d_1.W",
                                  "student", "d", "", "data", "conv2d_1.delta_ni",
                                  "conv2d_1.grads.kernal", "dense", "bias"])
def test_other_names_are_not_read(name):
    assert textbook_paths(name, KNOWN) is None
    assert textbook_hint(name, KNOWN) is None


@pytest.mark.parametrize("name", ["bn_1.db", "bn_1.dW"])
def test_a_layer_without_such_a_tensor_is_left_to_the_closest_paths(name):
    # batch norm's bias is beta: "no layer here has one" would be wrong, closest: says more
    assert textbook_paths(name, KNOWN) is None


def test_a_merge_layers_delta_per_input_is_an_input_delta():
    assert textbook_paths("dx", MERGED) == ("an input delta", [
        "conv_a.delta_in", "skip.delta_in.conv_a", "skip.delta_in.input", "dw_1.delta_in"])
    assert textbook_paths("skip.dx", MERGED) == ("an input delta", [
        "skip.delta_in.conv_a", "skip.delta_in.input"])


def test_a_layers_own_name_is_not_read_as_a_textbooks():
    assert textbook_paths("dw_1", MERGED) is None
    assert textbook_paths("dW", MERGED) == ("a weight gradient",
                                            ["conv_a.grads.kernel", "dw_1.grads.kernel"])


def test_a_name_with_no_tensor_of_its_kind_says_so():
    assert textbook_hint("db", ["conv2d_1.grads.kernel"]) == \
        "db reads as a bias gradient, and no layer here has one"
    assert textbook_hint("conv2d_1.db", ["conv2d_1.grads.kernel"]) is None


def test_more_than_four_paths_are_shortened():
    known = [f"relu_{i}.delta_in" for i in range(1, 7)]
    assert textbook_hint("dx", known) == (
        "dx reads as an input delta, one of relu_1.delta_in, relu_2.delta_in, relu_3.delta_in, "
        "relu_4.delta_in, ...")


@pytest.mark.parametrize("pair, text", [
    ((2, 2), "every 2nd entry"),            # was "every 2-th entry"
    ((3, 3), "every 3rd entry"),
    ((2, 3), "every 2nd row and every 3rd column"),
    ((1, 2), "every row and every 2nd column"),
    ((11, 11), "every 11th entry"),
    ((21, 22), "every 21st row and every 22nd column"),
])
def test_a_steps_caption_counts_cells_in_words(pair, text):
    from cnngrad.problem import every_text

    assert every_text(pair) == text
