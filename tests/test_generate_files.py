"""``cnngrad generate FILE.json``: every bundled sample as a recipe, kept numbers written as
read, ``--with-kinks`` on graphs, batches and channels-last maps, gradients that no draw can
make nonzero left unasked, and errors that say what failed."""

from __future__ import annotations

import json
import re
import shlex
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.errors import UsageError
from cnngrad.generate import STYLES, generate
from cnngrad.generate.jsontext import dumps
from cnngrad.network import run
from cnngrad.problem import build_problem
from cnngrad.tensorio import load_json_document
from cnngrad.teach.gradcheck import find_kinks

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def load(text: str):
    document = load_json_document(text.encode(), "problem.json")
    return build_problem(document, file="problem.json", base_dir=Path("."))


def kink_kinds(text: str) -> set[str]:
    kinks, _ = find_kinks(load(text))
    return {kink.kind for kink in kinks}


def write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- every sample


def test_the_samples_are_all_here():
    names = {path.name for path in SAMPLE_FILES}
    assert len(names) >= 13 and {"dropout-classifier.json", "dls-nhwc.json",
                                 "resnet-block.json"} <= names


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda path: path.stem)
def test_every_sample_generates_a_problem_that_backward_runs(sample, seed, tmp_path):
    out = tmp_path / "out"
    result = invoke("generate", sample, "--seed", seed, "-o", out)
    assert result.exit_code == 0, result.output
    problem = out / "problem.json"
    ran = invoke("backward", problem)
    assert ran.exit_code == 0, ran.output
    if seed == 1:  # the key passes (one seed: the suite stays fast)
        key = invoke("check", problem, out / "key.json")
        assert key.exit_code == 0, key.output


# --------------------------------------------------------------------------- kept numbers


@pytest.mark.parametrize("number, text", [
    (Decimal("0.5"), "0.5"), (Decimal("1E-7"), "1E-7"), (Decimal("-0.25"), "-0.25"),
    (Decimal("2.50"), "2.50")])
def test_a_number_kept_from_a_file_is_written_as_read(number, text):
    written = dumps({"p": number}, STYLES["int"])
    assert written == f'{{"p": {text}}}\n'
    assert json.loads(written)["p"] == float(number)
    assert dumps([number, 1], STYLES["fractions"]) == f"[{text}, 1]\n"


def test_dropout_keeps_its_p_and_mask(tmp_path):
    original = json.loads((SAMPLES / "dropout-classifier.json").read_text())
    for seed in (1, 2, 3):
        fresh = json.loads(generate(str(SAMPLES / "dropout-classifier.json"), seed).problem_text)
        dropout = fresh["layers"][3]
        assert dropout == original["layers"][3]
        assert fresh["layers"][0]["kernel"] != original["layers"][0]["kernel"]


@pytest.mark.parametrize("sample, shown", [
    # a dropout's p and mask are numbers the student computes with
    ("dropout-classifier.json", ["4. `dropout_1`: dropout\n",
                                 "**`dropout_1.p`** = 0.5",
                                 "|   | 0 | 1 | 2 | 3 |\n|--:|--:|--:|--:|--:|\n"
                                 "| **0** | 1 | 0 | 1 | 1 |\n| **1** | 0 | 1 | 1 | 0 |"]),
    # settings that change the output's size or values
    ("transposed-conv.json", ["conv_transpose2d (kernel 3×3, stride 2, padding 1, with bias, "
                              "output_padding 1)"]),
    ("unet-concat.json", ["3. `up`: upsample (scale 2)\n"]),
])
def test_a_sheet_gives_every_number_and_setting_kept_from_the_file(sample, shown):
    from cnngrad.generate import with_sheets

    exercise = with_sheets(generate(str(SAMPLES / sample), 1))
    for text in shown:
        assert text in exercise.texts["exercise.md"]


@pytest.mark.parametrize("sample, line", [
    ("dls-nhwc.json", "1. `conv2d_1`: conv2d (kernel 3×3×3×2, stride 2, padding top 0, "
                      "bottom 1, left 0, right 1, with bias)\n"),
    ("signal-conv1d.json", "1. `conv1d_1`: conv1d (kernel 3, stride 2, padding left 0, "
                           "right 1, with bias)\n"),
    ("multichannel.json", "1. `conv`: conv2d (kernel 2×3×3×3, stride 2, padding 1, with "
                          "bias)\n"),  # the same on every side: one number
], ids=["nhwc-same", "conv1d-same", "uniform"])
def test_a_sheet_names_the_side_of_each_padding_as_backward_does(sample, line):
    # "padding 0, 1, 0, 1" of a "same" padding named no side: which one gets the extra row?
    from cnngrad.generate import with_sheets

    exercise = with_sheets(generate(str(SAMPLES / sample), 3))
    assert line in exercise.texts["exercise.md"]
    padding = "padding " + line.split("padding ")[1].split(", with")[0]
    assert f", {padding}, with bias" in exercise.texts["exercise.tex"]


def test_a_sheet_words_uneven_strides_and_dilations_as_backward_does(tmp_path):
    # "stride 2, 1" and "dilation 1, 2" named no axis; backward writes 2×1 (rows × columns)
    from cnngrad.generate import with_sheets

    document = {"input": [[1, 2, 3, 4]] * 3,
                "layers": [{"type": "conv2d", "kernel": [[1, 1], [1, 1]], "stride": [2, 1],
                            "dilation": [1, 2], "padding": [1, 0]},
                           {"type": "maxpool2d", "size": [1, 2], "stride": [1, 2]}],
                "delta": [[1], [1]]}
    text = with_sheets(generate(str(write(tmp_path, document)), 1)).texts["exercise.md"]
    assert "conv2d (kernel 2×2, stride 2×1, padding 1×0, dilation 1×2)" in text
    assert "maxpool2d (window 1×2, stride 1×2)" in text


def test_a_sheet_states_a_loss_s_reduction_and_a_layer_s_written_settings(tmp_path):
    from cnngrad.generate import with_sheets

    document = {"input": [[1, 2, 0], [3, 1, 2], [0, 1, 1]],
                "layers": [{"type": "conv2d", "kernel": [[1, -1], [2, 1]], "bias": 0.5,
                            "padding_mode": "circular", "padding": 1, "dilation": 2},
                           {"type": "flatten"}, {"type": "leaky_relu", "slope": 0.05},
                           {"type": "sigmoid"}],
                "loss": {"type": "bce", "target": [1, 0, 1, 0, 1, 0, 1, 0, 1],
                         "reduction": "sum"}}
    exercise = with_sheets(generate(str(write(tmp_path, document)), 1))
    text = exercise.texts["exercise.md"]
    assert ("1. `conv2d_1`: conv2d (kernel 2×2, padding 1, with bias, padding_mode circular, "
            "dilation 2)\n") in text
    assert "**`leaky_relu_1.slope`** = 0.05" in text  # kept, not drawn: as written
    assert ("The loss is bce: −[t·log y + (1 − t)·log(1 − y)] for every element, each log "
            "clamped at −100; E is their sum (reduction sum).") in text
    assert r"\text{leaky\_relu\_1.slope} = 0.05" in exercise.texts["exercise.tex"]


def target_cells(sheet: str) -> list[str]:
    """The cells of the loss target's table on a Markdown exercise sheet."""
    table = sheet.split("**`loss.target`**", 1)[1].split("\n\n", 2)[1]
    return [cell.strip() for row in table.splitlines()[2:]
            for cell in row.strip("|").split("|")[1:]]


@pytest.mark.parametrize("sample", ["dls-nhwc.json", "batched-cross-entropy.json",
                                    "dropout-classifier.json"])
@pytest.mark.parametrize("numbers", ["1dp", "fractions"])
def test_a_class_index_target_is_a_whole_number_said_to_be_a_class_index(sample, numbers):
    # "0.0 | 1.0" read as a one-hot row of two classes, where it was two samples' classes
    from cnngrad.generate import with_sheets

    exercise = with_sheets(generate(str(SAMPLES / sample), 3, numbers=numbers))
    sheet = exercise.texts["exercise.md"]
    assert ("The target: the class index of each sample, in the batch's order (a class 0 "
            "to 2):") in sheet
    cells = target_cells(sheet)
    assert len(cells) == 2 and all(cell in ("0", "1", "2") for cell in cells)
    assert "The target: the class index of each sample" in exercise.texts["exercise.tex"]


def test_one_sample_s_class_index_is_said_without_a_batch(tmp_path):
    from cnngrad.generate import with_sheets

    document = {"input": [[1, 2], [3, 0]],
                "layers": [{"type": "flatten"},
                           {"type": "dense", "weights": [[1, 0, 1, 0], [0, 1, 0, 1]],
                            "bias": [0, 0]}],
                "loss": {"type": "cross_entropy", "target": 1}}
    sheet = with_sheets(generate(str(write(tmp_path, document)), 1)).texts["exercise.md"]
    assert "The target: the class index (a class 0 to 1):" in sheet
    assert "**`loss.target`** = 0\n" in sheet or "**`loss.target`** = 1\n" in sheet


#: A network whose last layer gives 2 outputs per sample, for each loss to read.
TWO_OUTPUTS = [{"type": "flatten"},
               {"type": "dense", "weights": [[1, 0, 1, 0], [0, 1, 0, 1]], "bias": [0, 0]}]


@pytest.mark.parametrize("batched, layers, loss, says", [
    (True, [], {"type": "cross_entropy", "target": [1, 0]},
     "The loss is cross_entropy: p = softmax(y) of each sample's output y, then −Σ t·log p "
     "(t: the one-hot vector of the class index, so E = −log p[class]); E is the mean over "
     "the batch."),
    (False, [], {"type": "cross_entropy", "target": [0.5, 0.5]},
     "The loss is cross_entropy: p = softmax(y) of the output y, then E = −Σ t·log p."),
    (True, [{"type": "log_softmax"}], {"type": "nll", "target": [1, 0]},
     "The loss is nll: −y[t], the output y (log-probabilities) at the class index t of each "
     "sample; E is the mean over the batch."),
    (False, [{"type": "log_softmax"}], {"type": "nll", "target": 1},
     "The loss is nll: E = −y[t], the output y (log-probabilities) at the class index t."),
    (False, [{"type": "sigmoid"}], {"type": "bce", "target": [1, 0]},
     "The loss is bce: −[t·log y + (1 − t)·log(1 − y)] for every element, each log clamped "
     "at −100; E is their mean (reduction mean)."),
    (False, [], {"type": "bce_with_logits", "target": [1, 0]},
     "The loss is bce_with_logits: s = sigmoid(y) of the output y, −[t·log s + (1 − t)·"
     "log(1 − s)] for every element, computed stably (no log clamped); E is their mean "
     "(reduction mean)."),
    (False, [], {"type": "mse", "target": [1, 0]}, "The loss is mse: E = ½ Σ (t − y)²."),
    (False, [], {"type": "mse", "target": [1, 0], "reduction": "sum"},
     "The loss is mse: E = Σ (t − y)²."),
    (False, [], {"type": "mse", "target": [1, 0], "reduction": "mean"},
     "The loss is mse: E = the mean of (t − y)² over all elements."),
], ids=["cross_entropy-batch", "cross_entropy-one", "nll-batch", "nll-one", "bce",
        "bce_with_logits", "mse-half_sum", "mse-sum", "mse-mean"])
def test_a_sheet_gives_its_loss_s_formula(batched, layers, loss, says, tmp_path):
    # "The loss is cross_entropy." left a student to guess the softmax and the batch mean
    from cnngrad.generate import with_sheets

    image = [[1, 2], [3, 0]]
    document = {"input": [[image], [image]] if batched else image,
                "layers": TWO_OUTPUTS + layers, "loss": loss}
    exercise = with_sheets(generate(str(write(tmp_path, document)), 1))
    assert says in exercise.texts["exercise.md"]
    assert "The loss is " + says.split(" ")[3].replace("_", r"\_") in \
        exercise.texts["exercise.tex"]


#: whole answers, but a 3-wide average pool's thirds between them (found by a new user)
THIRDS_BETWEEN_WHOLE_ANSWERS = {
    "input": [[0.3, -0.4, -1.4, 0.3, 2.8, -0.4, -1.7, 0.1, 2.5],
              [-0.7, 0.8, 2.5, -1.0, 1.9, 0.2, -2.2, -2.7, 2.6]],
    "layers": [{"type": "conv1d",
                "kernel": [[[-0.2, -0.3, 2.5], [0.4, 0.0, -1.3]],
                           [[1.5, -1.5, -0.2], [1.6, 0.6, -2.2]]],
                "bias": [-1.8, 1.2],
                "stride": 2,
                "padding": "same",
                "dilation": 1},
               {"type": "maxpool1d", "size": 2, "stride": 1}, {"type": "upsample", "scale": 2},
               {"type": "avgpool1d", "size": 3, "stride": 2, "padding": 1},
               {"type": "conv1d",
                "kernel": [[[1.4, -2.4]], [[3.0, -2.2]]],
                "groups": 2,
                "dilation": 2,
                "padding_mode": "reflect",
                "padding": 2}],
    "delta": [[3, 1.5, 1, -0.5, -0.5, -2], [1.5, 3, -1, 1.5, -2, 2]],
}


def test_a_file_averaging_thirds_is_worked_in_fractions_that_add_up(tmp_path):
    # its avgpool1d averages 3 cells: int answers would hide thirds (the key's 0 decimals
    # printed o[1,2] = 2/3 as 1: "(-3) × 1 = -2"), so int numbers are refused when asked
    # for, and fractions are the file's default
    from cnngrad.errors import UsageError
    from cnngrad.generate import with_sheets

    path = str(write(tmp_path, THIRDS_BETWEEN_WHOLE_ANSWERS))
    for asked in ("int", "1dp", "2dp"):
        with pytest.raises(UsageError, match="avgpool1d_1 averages 3 cells: no decimal is "):
            generate(path, 1, numbers=asked)
    exercise = with_sheets(generate(path, 1))
    assert exercise.texts == with_sheets(generate(path, 1, numbers="fractions")).texts
    assert exercise.title.endswith(f"(cnngrad generate {shlex.quote(path)} --seed 1)")
    for sheet in ("solution.md", "solution.tex"):
        text = exercise.texts[sheet].replace("\\frac{", "").replace("}{", "/")
        products = re.findall(r"= \(?(-?[\d/]+)\)? × \(?(-?[\d/]+)\)? = (-?[\d/]+)", text)
        assert any("/3" in factor or "/9" in factor for _, factor, _ in products), products
        for left, right, product in products:  # every product adds up as written
            assert Fraction(left) * Fraction(right) == Fraction(product)


# --------------------------------------------------------------------------- --with-kinks


@pytest.mark.parametrize("sample", [
    "batched-cross-entropy.json",  # a batch of 2, a bias per filter
    "unet-concat.json",  # a graph: conv → relu → upsample, concat with the input
    "dropout-classifier.json",  # a bias of one number
    "signal-conv1d.json",  # 1-D maps
])
def test_with_kinks_puts_a_relu_zero_into_a_file(sample, tmp_path):
    for seed in (1, 2):
        exercise = generate(str(SAMPLES / sample), seed, with_kinks=True)
        assert "relu_zero" in kink_kinds(exercise.problem_text)
        assert "with a ReLU input of exactly 0" in exercise.title
        # the problem still runs and its key passes
        out = tmp_path / f"{seed}"
        result = invoke("generate", SAMPLES / sample, "--seed", seed, "--with-kinks", "-o", out)
        assert result.exit_code == 0, result.output
        assert invoke("check", out / "problem.json", out / "key.json").exit_code == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_kinks_on_a_relu_read_by_a_max_pool_ties_maxima_instead(seed):
    # dls-nhwc.json: conv → relu → maxpool, channels last. A ReLU zero there changed no
    # answer (the pool takes a 0 only from a window of zeros, none of which passes δ back),
    # as for the network recipe: tied maxima are put in instead
    exercise = generate(str(SAMPLES / "dls-nhwc.json"), seed, with_kinks=True)
    kinds = kink_kinds(exercise.problem_text)
    assert "tie" in kinds and "relu_zero" not in kinds
    assert "with tied maxima" in exercise.title


def test_with_kinks_keeps_a_leaky_relu_zero_before_a_max_pool(tmp_path):
    # a leaky ReLU's other outputs in a window may be negative, so its 0 can be the window's
    # maximum and take δ: unlike a ReLU's, that zero is worth putting in
    document = {"input": [[1, 2, 0, 1], [0, 1, 3, 2], [2, 2, 1, 0], [1, 0, 2, 1]],
                "layers": [{"type": "conv2d", "kernel": [[1, 2], [2, 1]], "bias": 1},
                           {"type": "leaky_relu", "slope": 0.1},
                           {"type": "maxpool2d", "size": 3}],
                "loss": {"type": "mse", "target": [[1]]}}
    exercise = generate(str(write(tmp_path, document)), 1, with_kinks=True)
    assert "relu_zero" in kink_kinds(exercise.problem_text)


def test_with_kinks_on_a_file_without_a_bias_before_its_relu_says_why():
    result = invoke("generate", SAMPLES / "resnet-block.json", "--seed", 1, "--with-kinks")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: --with-kinks: no ReLU input of resnet-block.json can be "
                               "put at exactly 0")
    assert "relu_a reads bn_a (batchnorm2d); relu_out reads skip (add)" in lines[0]
    assert "no ReLU and no max pool" not in result.stderr
    assert len(lines) == 1 and "; hint: " in lines[0]


@pytest.mark.parametrize("layers, says", [
    ([{"type": "conv2d", "kernel": [[1, 2], [2, 1]]}, {"type": "relu"}],
     "relu_1 reads conv2d_1 (no bias)"),
    ([{"type": "relu"}, {"type": "conv2d", "kernel": [[1, 2], [2, 1]]}],
     "relu_1 reads the input"),
    ([{"type": "conv2d", "kernel": [[1, 2], [2, 1]], "bias": 1}, {"type": "tanh"},
      {"type": "conv2d", "kernel": [[1]], "bias": 1}, {"type": "relu"}],
     "relu_1 reads conv2d_2 (after tanh_1, tanh)"),
])
def test_each_relu_says_why_it_cannot_take_a_kink(layers, says, tmp_path):
    document = {"input": [[1, 2, 0], [0, 1, 3], [2, 2, 1]], "layers": layers,
                "loss": {"type": "mse", "target": [[1, 0], [0, 1]]}}
    with pytest.raises(UsageError) as caught:
        generate(str(write(tmp_path, document)), 1, with_kinks=True)
    assert caught.value.where == "--with-kinks" and says in caught.value.what


@pytest.mark.parametrize("sample, title", [
    ("pool-ties.json", "pool-ties.json with fresh numbers: maxpool2d, given δ"),
    ("stackexchange-csv.json", "stackexchange-csv.json with fresh numbers: conv2d, given δ"),
    ("dls-nhwc.json", "dls-nhwc.json with fresh numbers: conv2d → relu → maxpool2d → flatten "
                      "→ dense, cross_entropy loss"),
    ("resnet-block.json", "resnet-block.json with fresh numbers: a graph of conv2d, "
                          "batchnorm2d, relu, conv2d, batchnorm2d, add, relu; mse loss"),
], ids=["pool-ties", "stackexchange-csv", "dls-nhwc", "resnet-block"])
def test_a_file_s_problem_is_titled_by_the_file_and_its_layers(sample, title):
    # "fresh numbers for “Max pool with tied maxima: ...”" over a draw without ties, and
    # "(the same numbers as stackexchange.json)" over other numbers: the file's own title
    # makes claims about numbers that fresh ones need not keep
    exercise = generate(str(SAMPLES / sample), 3)
    # the command names the file as given, its folder too: run again, it draws the same
    assert exercise.title == f"{title} (cnngrad generate {shlex.quote(str(SAMPLES / sample))} " \
                             f"--seed 3)"
    assert json.loads((SAMPLES / sample).read_text())["title"] not in exercise.title
    variant = generate(str(SAMPLES / sample), 3, quiet_title=True)  # a class's
    assert variant.title == title


def test_a_files_title_command_runs_again_from_where_it_was_given(tmp_path, monkeypatch):
    # the file's folder and a quote in its name: "cnngrad generate my prob's.json" lost the
    # folder and broke the shell's quoting
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "my prob's.json").write_text(
        (SAMPLES / "multichannel.json").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exercise = generate("sub/my prob's.json", 9, numbers="2dp")
    command = exercise.title[exercise.title.index("(cnngrad generate ") + 1:-1]
    words = shlex.split(command)
    assert words[:3] == ["cnngrad", "generate", "sub/my prob's.json"]
    again = generate(words[2], int(words[words.index("--seed") + 1]),
                     numbers=words[words.index("--numbers") + 1])
    assert again.problem_text == exercise.problem_text


def test_maxpool_with_kinks_is_titled_by_its_ties():
    plain = generate("maxpool", 5)
    kinked = generate("maxpool", 5, with_kinks=True)
    assert "tie" not in kink_kinds(plain.problem_text)
    assert "no ties" in plain.title
    assert "tie" in kink_kinds(kinked.problem_text)
    assert "no ties" not in kinked.title and "with tied maxima" in kinked.title
    assert "no ties" not in json.loads(kinked.problem_text)["title"]
    quiet = generate("maxpool", 5, with_kinks=True, quiet_title=True)  # a class variant
    assert quiet.title.startswith("max pooling with tied maxima")


# --------------------------------------------------------------------------- what is asked


@pytest.mark.parametrize("numbers", list(STYLES))
def test_channels_last_sample_generates_in_every_style(numbers):
    for seed in (1, 2):
        exercise = generate(str(SAMPLES / "dls-nhwc.json"), seed, numbers=numbers)
        # one number added to every logit of a cross-entropy: its gradient is always 0
        assert "dense_1.grads.bias" not in exercise.asked
        assert "conv2d_1.grads.bias" in exercise.asked
        document = json.loads(exercise.problem_text)
        assert document["layout"] == "nhwc"
        assert np.shape(document["input"]) == (2, 4, 4, 3)


def test_a_bias_before_a_batch_norm_or_a_softmax_is_not_asked(tmp_path):
    document = {
        "input": [[[[1, 2, 0], [0, 1, 3], [2, 2, 1]]], [[[0, 1, 2], [3, 1, 0], [1, 0, 2]]]],
        "layers": [{"type": "conv2d", "kernel": [[[[1, -1], [2, 1]]], [[[-1, 1], [1, 2]]]],
                    "bias": [1, -1]},
                   {"type": "batchnorm2d"}, {"type": "flatten"},
                   {"type": "dense", "weights": [[1, -1] * 4, [2, 1] * 4], "bias": 1},
                   {"type": "softmax"}],
        "loss": {"type": "mse", "target": [[1, 0], [0, 1]]}}
    exercise = generate(str(write(tmp_path, document)), 3)
    assert "conv2d_1.grads.bias" not in exercise.asked
    assert "dense_1.grads.bias" not in exercise.asked
    assert {"conv2d_1.grads.kernel", "dense_1.grads.weights",
            "batchnorm2d_1.grads.beta"} <= set(exercise.asked)


def test_a_per_output_bias_before_cross_entropy_is_asked():
    exercise = generate(str(SAMPLES / "batched-cross-entropy.json"), 1)
    assert "dense_1.grads.bias" in exercise.asked


# --------------------------------------------------------------------------- no draw


@pytest.mark.parametrize("before, through", [
    ([], ""),
    # layers without weights keep the drawn values at or above 0 too
    ([{"type": "maxpool2d", "size": 2, "stride": 1}, {"type": "upsample", "scale": 1}],
     " through maxpool2d_1, upsample_1"),
])
def test_no_friendly_draw_says_what_failed_and_what_to_change(tmp_path, before, through):
    # a ReLU on drawn inputs (never negative): its inputs are never on both sides of 0
    document = {"input": [[1, 2, 0], [3, 4, 1], [0, 1, 2]],
                "layers": [*before, {"type": "relu"}],
                "delta": [[1, -1], [2, 1]] if before else [[1, -1, 1], [2, 1, 1], [1, 1, 1]]}
    result = invoke("generate", write(tmp_path, document), "--seed", 1)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    error, _, hint = line.partition("; hint: ")
    assert error.startswith("error: RECIPE: no hand-friendly problem.json problem in 400 "
                            "draws with --numbers int")
    assert error.endswith(f"the inputs of relu_1 were all on one side of 0 (it reads the "
                          f"problem's input{through}, and drawn inputs are never below 0), "
                          f"in 400)")
    # no style or seed can help (the hint once said to try them)
    assert hint == ("put a conv or dense layer before relu_1 in the file; no --numbers style "
                    "or --seed draws an input below 0")


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_a_relu_of_one_input_is_drawn_above_0(tmp_path, seed):
    # one input cannot be on both sides of 0 (no seed or style could give that): it is drawn
    # above 0, so that the ReLU passes the gradient back
    document = {"input": [[0.1, 0.2], [0.3, 0.4]],
                "layers": [{"type": "conv2d", "kernel": [[1, 1], [-1, 0]]}, {"type": "relu"}],
                "delta": [[1]]}
    exercise = generate(str(write(tmp_path, document)), seed)
    drawn = exercise.document
    x, kernel = np.asarray(drawn["input"], float), np.asarray(drawn["layers"][0]["kernel"], float)
    assert (x * kernel).sum() > 0  # the ReLU's one input: the 2×2 kernel over the 2×2 input


#: Of each sample with several filters or output units: the axis of each asked gradient (as
#: the file gives it) that runs over them (a bias: one per filter; HWIO: filters last).
UNIT_AXES = {
    "batched-cross-entropy": {"conv2d_1.grads.kernel": 0, "conv2d_1.grads.bias": 0,
                              "dense_1.grads.weights": 0, "dense_1.grads.bias": 0},
    "dls-nhwc": {"conv2d_1.grads.kernel": 3, "conv2d_1.grads.bias": 0,
                 "dense_1.grads.weights": 0},
    "unet-concat": {"down.grads.kernel": 0, "down.grads.bias": 0},
    "resnet-block": {"conv_a.grads.kernel": 0, "conv_b.grads.kernel": 0,
                     "bn_a.grads.gamma": 0, "bn_a.grads.beta": 0,
                     "bn_b.grads.gamma": 0, "bn_b.grads.beta": 0},
    "multichannel": {"conv.grads.kernel": 0, "conv.grads.bias": 0},
    "dropout-classifier": {"dense_1.grads.weights": 0, "dense_1.grads.bias": 0},
}


def dead_units(exercise) -> list[str]:
    """What a dead filter would leave: an asked gradient that is 0 over a whole filter or
    output unit, or a ReLU channel (of 4 cells or more) whose inputs are all on one side."""
    dead = []
    for path, axis in UNIT_AXES[exercise.recipe.removesuffix(".json")].items():
        grad = np.asarray(exercise.truth[path], dtype=float)
        dead += [f"{path} unit {unit}" for unit in range(grad.shape[axis])
                 if not np.take(grad, unit, axis=axis).any()]
    trace = run(load(exercise.problem_text))
    for layer in trace.layers:
        if layer.type == "relu" and layer.input.shape[1] > 1 and \
                layer.input.size // layer.input.shape[1] >= 4:
            for channel in range(layer.input.shape[1]):
                x = layer.input[:, channel]
                if not ((x > 0).any() and (x < 0).any()):
                    dead.append(f"{layer.name} channel {channel}")
    return dead


@pytest.mark.parametrize("sample", sorted(UNIT_AXES))
def test_every_filter_and_unit_of_a_file_s_problem_is_alive(sample):
    # batched-cross-entropy seeds 1, 2, 3, 5, 7, 9 drew a filter whose every conv output was
    # below 0 in both images: its kernel and bias gradients were 0 (a student who forgot to
    # divide by the batch still earned them); each filter is held to the rule now
    for seed in range(30):
        exercise = generate(str(SAMPLES / f"{sample}.json"), seed)
        assert dead_units(exercise) == [], (sample, seed)


def test_a_dead_filter_of_the_ta_s_report_is_drawn_again(tmp_path):
    # cnngrad samples batched-cross-entropy; cnngrad generate it --seed 3 -o batch
    source = tmp_path / "bce_src.json"
    source.write_text((SAMPLES / "batched-cross-entropy.json").read_text(encoding="utf-8"),
                      encoding="utf-8")
    assert invoke("generate", source, "--seed", 3, "-o", tmp_path / "batch").exit_code == 0
    key = json.loads((tmp_path / "batch" / "key.json").read_text(encoding="utf-8"))
    kernel = np.asarray(key["conv2d_1.grads.kernel"], dtype=float)
    assert all(kernel[f].any() for f in range(2)) and all(key["conv2d_1.grads.bias"])


def test_a_loss_beyond_its_decimals_most_often_is_said_once_with_why():
    # the reason that failed most draws is the loss's decimals itself: why follows it in
    # place ("most often: loss needed more …, in 385: a squared error …"), not repeated
    with pytest.raises(UsageError) as caught:
        generate(str(SAMPLES / "unet-concat.json"), 1, numbers="1dp")
    what = caught.value.what
    assert what.count("needed more than 3 decimals") == 1, what
    assert what.endswith("(most often: loss needed more than 3 decimals, in 385: a squared "
                         "error has up to twice the decimals of the output it squares, which "
                         "the 3 promised by --numbers 1dp do not count)")


def test_a_squared_error_loss_beyond_the_decimals_promised_is_named_with_what_works():
    # the MSE loss squares the output: with 2 decimals per number it needs more than the 4
    # decimals promised, which only draws with few-decimal outputs keep; seed 3 has none
    with pytest.raises(UsageError) as caught:
        generate(str(SAMPLES / "signal-conv1d.json"), 3, numbers="2dp")
    assert caught.value.what == (
        "no hand-friendly signal-conv1d.json problem in 400 draws with --numbers 2dp (most "
        "often: the inputs of relu_1 were all on one side of 0, in 234); the loss needed more "
        "than 4 decimals in 166 (a squared error has up to twice the decimals of the output it "
        "squares, which the 4 promised by --numbers 2dp do not count)")
    assert caught.value.hint == (
        "use --numbers int or fractions (exact whatever the decimals), or another --seed; a "
        "problem file keeps its own sizes and layers, so to change them edit the file")
    for numbers in ("int", "fractions"):  # what the hint says works
        generate(str(SAMPLES / "signal-conv1d.json"), 3, numbers=numbers)


def test_a_folder_given_as_the_recipe_is_named_a_folder(tmp_path, monkeypatch):
    # it was "unknown recipe 'class'", with the list of recipes
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class").mkdir()
    (tmp_path / "seed").mkdir()  # a recipe's name stays the recipe
    result = invoke("generate", "class", "--seed", 1)
    assert result.exit_code == 2
    assert result.stderr == ("error: class: RECIPE: a folder is not a recipe; hint: a recipe is "
                             "a name (cnngrad generate --list) or a problem file (.json); to "
                             "write into a folder, give -o DIR\n")
    assert invoke("generate", "seed", "--seed", 1).exit_code == 0


@pytest.mark.parametrize("option, line", [
    (["--input", "3x3"], "error: --input: a problem file keeps its own sizes; hint: edit the "
                         "file's shapes, or use a recipe (cnngrad generate --list) that takes "
                         "--input"),
    # neither is a size: it was told to edit the file's shapes
    (["--ties", "all"], "error: --ties: a problem file keeps its max pools' tie rules; hint: "
                        "edit a maxpool layer's \"ties\", or use a recipe (cnngrad generate "
                        "--list) that takes --ties"),
    (["--bias"], "error: --bias: a problem file keeps its convs' biases; hint: edit a conv "
                 "layer's \"bias\", or use a recipe (cnngrad generate --list) that takes --bias"),
])
def test_a_size_option_for_a_file_hints_what_to_do_instead(option, line):
    result = invoke("generate", SAMPLES / "dls-nhwc.json", "--seed", 1, *option)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line]


# --------------------------------------------------------------------------- its grading block


def test_a_file_s_grading_block_is_kept_by_the_problems_drawn_from_it(tmp_path):
    source = json.loads((SAMPLES / "exam.json").read_text())["grading"]
    out = tmp_path / "fresh-exam"
    result = invoke("generate", SAMPLES / "exam.json", "--seed", 4, "-o", out)
    assert result.exit_code == 0, result.output
    assert "note:" not in result.stderr
    fresh = json.loads((out / "problem.json").read_text())
    assert fresh["grading"] == source  # min_decimals 3, its points, carry_forward
    assert list(fresh["grading"]["points"]) == list(source["points"])  # in the file's order
    # the key and the template answer the file's own paths
    key = json.loads((out / "key.json").read_text())
    template = json.loads((out / "answers-template.json").read_text())
    assert list(key) == list(template) == list(source["points"])
    # the problem validates and check grades it by the kept block
    graded = invoke("check", out / "problem.json", out / "key.json", "--format", "json")
    assert graded.exit_code == 0, graded.output
    report = json.loads(graded.stdout)
    assert report["carry_forward"] is True
    assert "at least 3 decimals" in report["rule"]
    assert report["files"][0]["points"] == report["files"][0]["max_points"] == 20
    sheet = (out / "exercise.md").read_text()
    assert "## Asked (20 points)" in sheet
    assert "Give every value rounded to 3 decimals" in sheet
    assert "carried forward" in sheet


def test_a_kept_carry_forward_marks_a_consistent_slip(tmp_path):
    out = tmp_path / "fresh"
    assert invoke("generate", SAMPLES / "exam.json", "--seed", 4, "-o", out).exit_code == 0
    answers = json.loads((out / "key.json").read_text())
    # a wrong sign in sigmoid_1.delta_in, and the dense bias's gradient (which is that delta)
    # computed from it: the bias is carried forward, the delta is wrong
    slip = [f"{-float(v):.4f}" for v in answers["sigmoid_1.delta_in"]]
    answers["sigmoid_1.delta_in"] = answers["dense_1.grads.bias"] = slip
    path = out / "slip.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    graded = invoke("check", out / "problem.json", path, "--format", "json")
    assert graded.exit_code == 1, graded.output
    row = json.loads(graded.stdout)["files"][0]
    paths = {entry["path"]: entry for entry in row["paths"]}
    assert paths["sigmoid_1.delta_in"]["points"] == 0
    assert paths["dense_1.grads.bias"]["points"] == 1  # carried forward: its points earned


def test_a_class_from_a_file_keeps_its_grading_block_and_says_one_variant(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nana\n", encoding="utf-8")
    out = tmp_path / "exam"
    result = invoke("generate", SAMPLES / "exam.json", "--seed", 4, "--students", roster,
                    "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote 1 variant to {out}: hand out students/" in result.stderr
    assert "variants" not in result.stderr
    source = json.loads((SAMPLES / "exam.json").read_text())["grading"]
    assert json.loads((out / "keys" / "ana" / "problem.json").read_text())["grading"] == source
    roster.write_text("id\nana\nben\n", encoding="utf-8")
    again = invoke("generate", "seed", "--seed", 4, "--students", roster, "-o",
                   tmp_path / "two")
    assert f"wrote 2 variants to {tmp_path / 'two'}: hand out students/" in again.stderr


def test_a_class_whose_one_variant_has_no_draw_names_the_student(tmp_path):
    # the single problem's error, with nobody named and "another --seed" as the way out,
    # which for a class of 40 redraws 40 variants, each of which may fail alike
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nann\ns07\n", encoding="utf-8")
    out = tmp_path / "exam"
    result = invoke("generate", SAMPLES / "signal-conv1d.json", "--numbers", "1dp", "--seed",
                    1, "--students", roster, "-o", out)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: RECIPE: student s07's variant (seed ")
    assert result.stderr.endswith("; every one of the 2 students' variants needs a "
                                  "hand-friendly draw, so for a class the style is the surer "
                                  "change\n")
    assert not out.exists()
    roster.write_text("id\ns07\n", encoding="utf-8")  # one student: no class to speak of
    alone = invoke("generate", SAMPLES / "signal-conv1d.json", "--numbers", "1dp", "--seed", 1,
                   "--students", roster, "-o", out)
    assert alone.exit_code == 2 and "student s07's variant" in alone.stderr
    assert "students' variants" not in alone.stderr


def test_a_grading_path_that_cannot_be_kept_is_told_and_the_others_kept(tmp_path):
    document = json.loads((SAMPLES / "exam.json").read_text())
    points = document["grading"]["points"]
    points["conv2d_1.updated.kernel"] = 1  # known only with --lr
    points["conv2d_1.grads.kernel[0,1]"] = 1  # an element is kept as an element
    result = invoke("generate", write(tmp_path, document), "--seed", 4, "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    [note] = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert note.startswith("note: grading.points.conv2d_1.updated.kernel (1 point) is not "
                           "kept: no such path")
    assert "only with --lr" in note
    kept = json.loads((tmp_path / "o" / "problem.json").read_text())["grading"]
    del points["conv2d_1.updated.kernel"]
    assert kept == document["grading"]
    # the whole kernel is asked too: the key and the template give that cell once
    key = json.loads((tmp_path / "o" / "key.json").read_text())
    assert "conv2d_1.grads.kernel" in key and "conv2d_1.grads.kernel[0,1]" not in key
    del points["conv2d_1.grads.kernel"]
    document["grading"]["points"] = points
    alone = generate(str(write(tmp_path, document)), 4)
    assert np.shape(json.loads(alone.texts["key.json"])["conv2d_1.grads.kernel[0,1]"]) == ()
    assert invoke("check", tmp_path / "o" / "problem.json", tmp_path / "o" / "key.json"
                  ).exit_code == 0


@pytest.mark.parametrize("tolerance, rule", [({"rtol": 0}, "0"), ({"atol": 0, "rtol": 0}, "0"),
                                             ({"atol": 1e-30}, "1e-30")])
def test_a_kept_tolerance_below_a_float_s_last_decimal_is_said_as_such(tmp_path, tolerance,
                                                                         rule):
    # the sheet said "rounded to 17 decimals or more … right within 0 of the true value",
    # as if a rounding could meet it; check's float allowance takes the value itself
    document = json.loads((SAMPLES / "exam.json").read_text())
    document["grading"] = {"points": document["grading"]["points"], **tolerance}
    out = tmp_path / "o"
    assert invoke("generate", write(tmp_path, document), "--seed", 1, "-o", out).exit_code == 0
    assert ("Give every value to 17 decimals, as many as a float holds (the sigmoid makes "
            "them endless). A value is right when |value − true value| ≤ " + rule + ": only "
            "the value itself, to the floats' precision, meets that.") in \
        (out / "exercise.md").read_text()
    assert invoke("check", out / "problem.json", out / "key.json").exit_code == 0


@pytest.mark.parametrize("tolerance, says", [
    ({"atol": 0.001}, "(or as a decimal rounded to 3 decimals or more). A value is right when "
                      "|value − true value| ≤ 0.001."),
    ({"rtol": 1e-5}, "(or as a decimal rounded to 6 decimals or more). A value is right when "
                     "|value − true value| ≤ 1e-05·|true value|."),
    ({"atol": 0}, "(or as a decimal to 17 decimals, as many as a float holds). A value is "
                  "right when |value − true value| ≤ 0: only the value itself"),
    # it was "rounded to 0 decimals or more"
    ({"atol": 0.6}, "(or as a decimal rounded to a whole number or finer). A value is right "
                    "when |value − true value| ≤ 0.6."),
])
def test_a_fractions_sheet_says_a_kept_tolerance(tmp_path, tolerance, says):
    # it offered "a decimal with 4 decimals", which rtol 1e-5 marked wrong in every cell
    document = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "layers": [
        {"type": "conv2d", "kernel": [[1, 2], [3, 4]]}, {"type": "avgpool2d", "size": 2}],
        "loss": {"type": "mse", "target": [[1]]},
        "grading": {**tolerance, "points": {"conv2d_1.grads.kernel": 1, "loss": 1}}}
    out = tmp_path / "o"
    assert invoke("generate", write(tmp_path, document), "--seed", 1, "--numbers",
                  "fractions", "-o", out).exit_code == 0
    sheet = " ".join((out / "exercise.md").read_text().split())
    assert 'Give every value as an exact fraction in double quotes such as "-2/3" ' + says \
        in sheet


def test_a_kept_tolerance_is_not_joined_by_min_decimals_and_the_key_meets_it(tmp_path):
    document = json.loads((SAMPLES / "exam.json").read_text())
    document["grading"] = {"atol": 0.00001, "points": {"loss": 1, "dense_1.delta_in": 2}}
    exercise = generate(str(write(tmp_path, document)), 4)
    grading = json.loads(exercise.problem_text)["grading"]
    assert grading == {"atol": 0.00001, "points": {"loss": 1, "dense_1.delta_in": 2}}
    key = json.loads(exercise.texts["key.json"])
    assert len(str(key["loss"]).split(".")[1]) >= 5  # 4 decimals would miss atol 1e-5
    out = tmp_path / "o"
    assert invoke("generate", tmp_path / "problem.json", "--seed", 4, "-o", out).exit_code == 0
    assert invoke("check", out / "problem.json", out / "key.json").exit_code == 0


@pytest.mark.parametrize("tolerance, decimals", [({"rtol": 1e-3}, 6), ({"atol": 0.05}, 1),
                                                 ({"atol": 0.001, "rtol": 1e-4}, 3)])
def test_answers_rounded_as_a_kept_tolerance_s_sheet_says_get_full_marks(tmp_path, tolerance,
                                                                          decimals):
    """The sheets asked for the generator's 4 decimals whatever the kept block said: under
    rtol 1e-3, answers rounded so lost 6 of 38 cells (a small value's 4 decimals are more
    than 0.1 % off), and the solution sheet asked for 4 and gave 5."""
    document = json.loads((SAMPLES / "exam.json").read_text())
    document["grading"] = {"points": document["grading"]["points"], **tolerance}
    out = tmp_path / "o"
    assert invoke("generate", write(tmp_path, document), "--seed", 1, "-o", out).exit_code == 0
    sheet = (out / "exercise.md").read_text()
    asked = re.search(r"Give every value rounded to (\d+) decimals? or more", sheet)
    assert asked, sheet
    assert int(asked[1]) == decimals
    rule = ("0.001·|true value|" if tolerance == {"rtol": 1e-3} else
            "0.05" if tolerance == {"atol": 0.05} else "0.001 + 0.0001·|true value|")
    assert f"A value is right when |value − true value| ≤ {rule}." in sheet
    solution = (out / "solution.md").read_text()
    assert f"rounded to {asked[1]} decimal" in solution
    given = re.search(r"The values below are given to (\d+) decimals", solution)
    assert given is None or int(given[1]) > int(asked[1])
    # the student rounds every true value to the decimals asked, as told
    result = json.loads(invoke("backward", out / "problem.json", "--format", "json").stdout)
    key = json.loads((out / "key.json").read_text())

    def value_at(path):
        node = result["layers"] if path != "loss" else result["loss"]
        if path == "loss":
            return node
        name, _, rest = path.partition(".")
        layer = next(item for item in result["layers"] if item["name"] == name)
        for part in rest.split("."):
            layer = layer[part]
        return layer

    answers = {path: np.round(np.asarray(value_at(path), dtype=float), int(asked[1])).tolist()
               for path in key}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    graded = invoke("check", out / "problem.json", tmp_path / "answers.json")
    assert graded.exit_code == 0, graded.output


def test_a_block_without_points_keeps_its_settings_and_gets_the_generator_s_points(tmp_path):
    document = json.loads((SAMPLES / "stackexchange.json").read_text())
    document["grading"] = {"carry_forward": True}
    exercise = generate(str(write(tmp_path, document)), 3)
    grading = json.loads(exercise.problem_text)["grading"]
    assert grading == {"min_decimals": 0, "carry_forward": True,
                       "points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 4}}


def test_an_always_zero_gradient_asked_by_the_file_does_not_stop_every_draw(tmp_path):
    document = json.loads((SAMPLES / "dls-nhwc.json").read_text())
    document["grading"] = {"min_decimals": 2, "points": {"dense_1.grads.bias": 1,
                                                         "conv2d_1.grads.kernel": 3}}
    exercise = generate(str(write(tmp_path, document)), 1)
    assert list(exercise.asked) == ["dense_1.grads.bias", "conv2d_1.grads.kernel"]
    assert all(float(v) == 0 for v in np.ravel(exercise.truth["dense_1.grads.bias"]))


def test_an_invalid_grading_block_in_the_file_is_exit_2_one_line(tmp_path):
    document = json.loads((SAMPLES / "exam.json").read_text())
    document["grading"] = {"min_decimals": 3, "atol": 0.01}
    result = invoke("generate", write(tmp_path, document), "--seed", 4)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ") and "grading.min_decimals" in line


def test_a_channels_last_sheet_says_how_to_read_its_maps():
    # the sheet of an "nhwc" file never said so: input[0,0] (a row of image 0) read as the
    # first channel of image 0
    from cnngrad.generate import with_sheets

    exercise = with_sheets(generate(str(SAMPLES / "dls-nhwc.json"), 3, numbers="1dp"))
    # a kernel's grids by its family: "rows, columns, input channels, filters" was said of
    # every kernel, a transposed conv's (output channels, then input channels) too
    sentence = ('E is the mean over the batch. The maps are channels last (layout "nhwc", as '
                "TensorFlow writes them): a map of several channels is H×W×C (N×H×W×C for a "
                "batch), so each of its tables below is one row of the map, each pixel's "
                "channels side by side. Every answer is in the same form. Kernels: "
                "conv2d_1.kernel[i,j] is the kernel's row i, column j: input channels down, "
                "filters across.\n")
    assert sentence in exercise.texts["exercise.md"]
    assert "channels last (layout" in exercise.texts["exercise.tex"]
    channels_first = with_sheets(generate(str(SAMPLES / "multichannel.json"), 3))
    assert "channels last" not in channels_first.texts["exercise.md"]


def test_an_element_or_a_delta_out_asked_by_a_grading_block_is_said_in_words(tmp_path):
    # the sheet's "what" column repeated the path: "| `conv2d_1.delta_in[1,1]` |
    # conv2d_1.delta_in[1,1] |"
    from cnngrad.generate import with_sheets

    document = json.loads((SAMPLES / "stackexchange.json").read_text(encoding="utf-8"))
    document["grading"] = {"min_decimals": 0, "points": {
        "conv2d_1.grads.kernel[0,1]": 2, "conv2d_1.delta_in[1,1]": 1,
        "conv2d_1.delta_out": 1, "conv2d_1.delta_in[2]": 3}}
    source = tmp_path / "elements.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    text = with_sheets(generate(str(source), 3)).texts["exercise.md"]
    assert ("| `conv2d_1.grads.kernel[0,1]` | the gradient of the kernel, dE/dw of conv2d_1: "
            "entry [0,1] | a number | 2 |\n") in text
    assert ("| `conv2d_1.delta_in[1,1]` | dE/d(input of conv2d_1), the delta passed back: "
            "entry [1,1] | a number | 1 |\n") in text
    assert ("| `conv2d_1.delta_out` | dE/d(output of conv2d_1), the delta that reaches it | "
            "4×4 | 1 |\n") in text
    # an index short of the tensor's rank names a row (it said "entry [2]" of five cells)
    assert ("| `conv2d_1.delta_in[2]` | dE/d(input of conv2d_1), the delta passed back: "
            "row [2] | 5 | 3 |\n") in text


@pytest.mark.parametrize("layers, said", [
    ([{"type": "conv2d", "kernel": [[1, -1], [2, 1]]}, {"type": "relu"}, {"type": "flatten"},
      {"type": "dense", "weights": [[1, 0, 1, 0], [0, 1, 0, 1]]}],
     ["conv2d_1: cross-correlation, the kernel slid as given (not rotated 180°). ",
      "relu_1: slope 0 at 0 (PyTorch's rule). ",
      "flatten_1: the map read channel after channel, each channel row by row (torch.flatten). ",
      "dense_1: output = W·input with W out×in (row k holds output k's weights). "]),
    ([{"type": "conv2d", "kernel": [[1, -1], [2, 1]], "flip_kernel": True},
      {"type": "conv2d", "kernel": [[1, 1], [1, -1]], "flip_kernel": True},
      {"type": "leaky_relu", "slope": 0.1}],
     ["conv2d_1, conv2d_2: true convolution, the kernel rotated 180° before it slides. ",
      "leaky_relu_1: slope 0.1 below 0 and at 0 (PyTorch's rule). "]),
    ([{"type": "conv1d", "kernel": [1, -1]}, {"type": "flatten"},
      {"type": "dense", "weights": [[1, 0], [0, 1]], "bias": [0, 1]}],
     ["flatten_1: the map read channel after channel, each channel's values in order "
      "(torch.flatten). ",
      "dense_1: output = W·input + b with W out×in (row k holds output k's weights). "]),
    ([{"type": "avgpool2d", "size": 2, "stride": 1, "padding": 1}],
     ["avgpool2d_1: a window over the padding averages its padded cells too, as zeros "
      "(count_include_pad). "]),
], ids=["correlation-dense", "flipped-twice", "1-D-bias", "padded-average"])
def test_a_sheet_states_the_conventions_a_hand_computation_would_guess(tmp_path, layers, said):
    # a student must not guess whether the kernel is rotated, how W is laid out, in which
    # order flatten reads, what relu'(0) is: the contract fixes each, the sheet says it
    from cnngrad.generate import with_sheets

    one_axis = layers[0]["type"] == "conv1d"
    delta = ([1, 0] if layers[-1]["type"] == "dense" else
             [[1] * 4] * 4 if layers[-1]["type"] == "avgpool2d" else [[1]])
    document = {"input": [1, 2, 0] if one_axis else [[1, 2, 0], [3, 1, 2], [0, 1, 1]],
                "layers": layers, "delta": delta}
    exercise = with_sheets(generate(str(write(tmp_path, document)), 1))
    sheet = " ".join(exercise.texts["exercise.md"].split("## Given")[0].split())
    for sentence in said:
        assert sentence in sheet + " "


def test_a_solution_sheet_whose_key_has_more_decimals_than_asked_says_so(tmp_path):
    # "Give every value rounded to 3 decimals" above a key of 4 read as a contradiction
    from cnngrad.generate import with_sheets

    document = {"input": [[1, 2, 0], [3, 1, 2], [0, 1, 1]],
                "layers": [{"type": "conv2d", "kernel": [[1, -1], [2, 1]]}, {"type": "flatten"},
                           {"type": "dense", "weights": [[1, 0, 1, 0]]}, {"type": "sigmoid"}],
                "loss": {"type": "mse", "target": [1]},
                "grading": {"min_decimals": 3}}
    exercise = with_sheets(generate(str(write(tmp_path, document)), 1))
    solution, sheet = exercise.texts["solution.md"], exercise.texts["exercise.md"]
    assert exercise.key_decimals == 4 and exercise.min_decimals == 3
    assert "Give every value rounded to 3 decimals" in sheet
    assert "The values below are given to 4 decimals, more than the answers need." in solution
    assert "The values below" not in sheet


def test_a_kept_min_decimals_of_0_is_raised_where_the_fresh_answers_are_not_whole(tmp_path):
    # a generated block's 0 (its answers came out whole), kept for fresh 2dp numbers, gave
    # full marks to every answer rounded to a whole number
    first = invoke("generate", "seed", "--seed", 7, "--numbers", "int", "-o", tmp_path / "a")
    assert first.exit_code == 0, first.output
    assert json.loads((tmp_path / "a" / "problem.json").read_text())["grading"][
        "min_decimals"] == 0
    out = tmp_path / "b"
    result = invoke("generate", tmp_path / "a" / "problem.json", "--seed", 1, "--numbers",
                    "2dp", "-o", out)
    assert result.exit_code == 0, result.output
    assert "note: grading.min_decimals 0 is raised to 4" in result.stderr
    fresh = json.loads((out / "problem.json").read_text())
    assert fresh["grading"]["min_decimals"] == 4
    key = json.loads((out / "key.json").read_text())
    rounded = {path: np.round(np.asarray(value, dtype=float)).tolist()
               for path, value in key.items()}
    (out / "rounded.json").write_text(json.dumps(rounded))
    graded = invoke("check", out / "problem.json", out / "rounded.json")
    assert graded.exit_code == 1, graded.output
    assert invoke("check", out / "problem.json", out / "key.json").exit_code == 0


@pytest.mark.parametrize("block, numbers, passed", [
    ({"atol": 0.5}, "1dp", 3), ({"atol": "1/2", "rtol": 0.01}, "1dp", 3),
    ({"atol": "1/3"}, "1dp", 2), ({"atol": 0.25, "rtol": "5e-7"}, "1dp", 2),
    ({"rtol": 1}, "int", 4), ({"atol": 0.5}, "int", 0), ({"atol": 0.001}, "1dp", 0)])
def test_a_kept_tolerance_that_passes_zeros_is_told(block, numbers, passed, tmp_path):
    # a file's atol of 0.5, kept for fresh 1dp numbers (0.17 … 0.58 at seed 1), gave marks
    # for leaving the cells at 0, silently; the note's count is check's own
    document = json.loads((SAMPLES / "stackexchange.json").read_text())
    document["grading"] = {**block, "points": {"conv2d_1.grads.kernel": 4}}
    out = tmp_path / "g"
    result = invoke("generate", write(tmp_path, document), "--seed", 1, "--numbers", numbers,
                    "-o", out)
    assert result.exit_code == 0, result.output
    key = json.loads((out / "key.json").read_text())["conv2d_1.grads.kernel"]
    assert 0 not in np.ravel(key)
    zeros = {"conv2d_1.grads.kernel": np.zeros(np.shape(key)).tolist()}
    (out / "zeros.json").write_text(json.dumps(zeros))
    graded = invoke("check", out / "problem.json", out / "zeros.json", "--format", "json")
    assert json.loads(graded.stdout)["right"] == passed
    told = re.search(r"marks an answer of 0 right in (\d+) of the 4 asked cells whose fresh",
                     " ".join(result.stderr.split()))
    assert (int(told.group(1)) if told else 0) == passed, result.stderr
    if passed:  # the tolerance as the block writes it, not its float to 6 digits
        written = ", ".join(f"{key} {block[key]}" for key in ("atol", "rtol") if key in block)
        assert f"the kept tolerance ({written}) marks" in result.stderr


@pytest.mark.parametrize("block, seed", [
    # a tensor and one of its elements: the note counted the element's cell twice (3 of 5)
    ({"atol": 0.5, "points": {"conv2d_1.grads.kernel": 4, "conv2d_1.grads.kernel[0,0]": 1}}, 1),
    # on the bound: 0.1 = 0.03 + 0.7·0.1 exactly, right as check judges it (floats said not)
    *[({"atol": 0.03, "rtol": 0.7,
        "points": {"conv2d_1.grads.kernel": 4, "conv2d_1.delta_in": 4}}, seed)
      for seed in (3, 6, 7)]])
def test_the_kept_tolerance_note_counts_as_check_grades_zeros(block, seed, tmp_path):
    document = json.loads((SAMPLES / "stackexchange.json").read_text())
    document["grading"] = block
    out = tmp_path / "g"
    result = invoke("generate", write(tmp_path, document), "--seed", seed, "--numbers", "1dp",
                    "-o", out)
    assert result.exit_code == 0, result.output
    key = json.loads((out / "key.json").read_text())
    template = json.loads((out / "answers-template.json").read_text())
    zeros = {path: np.zeros(np.shape(key[path])).tolist() for path in template}
    (out / "zeros.json").write_text(json.dumps(zeros))
    graded = json.loads(invoke("check", out / "problem.json", out / "zeros.json",
                               "--format", "json").stdout)
    nonzero = sum(int(np.count_nonzero(np.asarray(key[path], dtype=float))) for path in template)
    right_nonzero = graded["right"] - (graded["total"] - nonzero)  # every 0 is right
    told = re.search(r"marks an answer of 0 right in (\d+) of the (\d+) asked cells",
                     " ".join(result.stderr.split()))
    assert right_nonzero > 0
    assert told is not None, result.stderr
    assert (int(told.group(1)), int(told.group(2))) == (right_nonzero, nonzero)


def test_a_class_is_told_what_its_kept_tolerance_passes_over_all_its_variants(tmp_path):
    # the note was the first variant's alone ("2 of the 4"), for a class of three
    document = json.loads((SAMPLES / "stackexchange.json").read_text())
    document["grading"] = {"atol": 0.5, "points": {"conv2d_1.grads.kernel": 4}}
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nann\nbob\ncy\n")
    out = tmp_path / "class"
    result = invoke("generate", write(tmp_path, document), "--seed", 1, "--numbers", "1dp",
                    "--students", roster, "-o", out)
    assert result.exit_code == 0, result.output
    passed = cells = 0
    for student in ("ann", "bob", "cy"):
        key = json.loads((out / "keys" / student / "key.json").read_text())
        kernel = np.asarray(key["conv2d_1.grads.kernel"], dtype=float)
        zeros = out / f"{student}-zeros.json"
        zeros.write_text(json.dumps({"conv2d_1.grads.kernel": np.zeros(kernel.shape).tolist()}))
        graded = invoke("check", out / "students" / student / "problem.json", zeros,
                        "--format", "json")
        passed += json.loads(graded.stdout)["right"]
        cells += int(np.count_nonzero(kernel))
    assert passed > 0
    told = f"marks an answer of 0 right in {passed} of the {cells} asked cells whose fresh " \
           f"value is not 0, over the 3 variants"
    assert told in " ".join(result.stderr.split()), result.stderr


@pytest.mark.parametrize("numbers", ["int", "1dp", "2dp", "fractions", None])
@pytest.mark.parametrize("seed", [2, 5])
def test_a_batch_norm_key_is_the_same_with_epsilon_left_out(tmp_path, numbers, seed):
    # seed 2 drew a channel of variance 3: with ε = 1e-5 the key said -2.5773, without it
    # (as a hand computation leaves it out) -2.5774; three points lost for nothing
    out = tmp_path / "bn"
    args = ["generate", "batchnorm", "--seed", seed, "-o", out]
    result = invoke(*args, *(["--numbers", numbers] if numbers else []))
    assert result.exit_code == 0, result.output
    problem = json.loads((out / "problem.json").read_text())
    key = json.loads((out / "key.json").read_text())
    problem.pop("grading")
    problem["layers"][0]["eps"] = 0
    (tmp_path / "bare.json").write_text(json.dumps(problem))
    bare = json.loads(invoke("backward", tmp_path / "bare.json", "--format", "json").stdout)
    layer = bare["layers"][0]
    computed = {"batchnorm2d_1.output": layer["output"], "batchnorm2d_1.delta_in":
                layer["delta_in"], "batchnorm2d_1.grads.gamma": layer["grads"]["gamma"],
                "batchnorm2d_1.grads.beta": layer["grads"]["beta"]}
    for path, value in key.items():
        rounded = [float(Decimal(repr(float(v))).quantize(Decimal("0.0001"),
                                                          "ROUND_HALF_UP"))
                   for v in np.ravel(computed[path])]
        assert rounded == np.ravel(np.asarray(value, dtype=float)).tolist(), path


@pytest.mark.parametrize("sizes", [["--batch", 2, "--input", "1x1"],
                                   ["--batch", 1, "--input", "1x2"]])
def test_a_batch_norm_of_two_values_a_channel_is_refused_at_once(sizes):
    # its input delta is 0 but for ε whatever the draw: "try another --seed" led nowhere
    result = invoke("generate", "batchnorm", "--channels", 2, *sizes, "--seed", 1)
    assert result.exit_code == 2
    assert "with 2 values per channel the input delta is 0 whatever they are" in result.stderr
    assert "hint: give --batch 3 or a larger --input" in result.stderr


def test_a_large_batch_norm_is_drawn_even_where_epsilon_moves_most_draws(tmp_path):
    # 3 channels of 18 values: three draws in four moved with ε, and 400 draws found none
    result = invoke("generate", "batchnorm", "--seed", 10, "--numbers", "2dp", "--channels",
                    3, "--batch", 2, "--input", "3x3", "-o", tmp_path / "bn")
    assert result.exit_code == 0, result.output
