"""``cnngrad explain`` and ``backward --show-steps``: the worked example term by term, every kind
of path, and the proof that both are right: an explanation's total (the sum of terms built
from each layer's local rule) and the textbook route's final matrices equal the engine's
values, on the samples and on random problems, in float and in exact arithmetic."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnngrad.cli import app
from cnngrad.families.conv2d import conv_textbook
from cnngrad.families.pool2d import avgpool_textbook, maxpool_textbook
from cnngrad.network import run
from cnngrad.problem import Layout, _Builder, build_problem, load_problem
from cnngrad.render.explain import explanation_dict, explanation_text, term_parts
from cnngrad.teach.explain import (Column, Factor, Term, TermColumns, TermList, _affine,
                                   _Explainer, explain, known_paths, layer_explained,
                                   parse_path)
from cnngrad.teach.steps import correlate_valid, layer_textbook, trace_steps
from cnngrad.tensorio import load_json_document

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
WORKED = str(SAMPLES / "stackexchange.json")
NETWORK = str(SAMPLES / "stackexchange-network.json")
TIES = str(SAMPLES / "pool-ties.json")

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def problem_of(doc: dict, exact: bool = False):
    return build_problem(load_json_document(json.dumps(doc).encode(), "t.json"), file="t.json",
                         base_dir=Path("."), exact=exact)


def terms_of(explanation) -> list[tuple[str, str, str]]:
    return [term_parts(term) for term in explanation.terms]


def engine_value(trace, path: str):
    """The engine's number at a path with an element index (the report's value)."""
    name, _, index = path.partition("[")
    value = trace.tensor(name)
    if not index:
        return np.asarray(value).reshape(-1)[0] if np.ndim(value) else value
    indices = tuple(int(i) for i in index.rstrip("]").split(","))
    return np.asarray(value)[indices]


def assert_total_matches(explanation, engine, where: str) -> None:
    engine = engine.item() if isinstance(engine, np.generic) or (
        isinstance(engine, np.ndarray) and engine.ndim == 0) else engine
    if explanation.exact:
        assert isinstance(explanation.total, (Fraction, int)), where
        assert explanation.total == engine, (where, explanation.total, engine)
    else:
        assert explanation.total == pytest.approx(float(engine), rel=1e-9, abs=1e-12), where


# --------------------------------------------------------------------------- the worked example


def test_worked_example_kernel_gradient_term_by_term():
    explanation = explain(run(load_problem(WORKED)), "conv2d_1.grads.kernel[0,0]")
    assert explanation.formula == "dE/dw[0,0] = Σ_i Σ_j δ[i,j]·o[i,j]"
    assert terms_of(explanation) == [
        ("δ[0,2]·o[0,2]", "0.0686 × 0.88", "0.060368"),
        ("δ[1,1]·o[1,1]", "0.0364 × 0.62", "0.022568"),
        ("δ[2,1]·o[2,1]", "0.0467 × 0.2", "0.00934"),
        ("δ[3,3]·o[3,3]", "(-0.0681) × 0.7", "-0.04767"),
    ]
    assert (explanation.zero_terms, explanation.zero_reasons) == (12, {"δ = 0": 12})
    assert explanation.total == pytest.approx(0.0686 * 0.88 + 0.0364 * 0.62 + 0.0467 * 0.2
                                              - 0.0681 * 0.7, rel=1e-15)
    text = explanation_text(explanation)
    assert "+ 12 terms that are 0 (δ = 0)" in text
    # the explanation ends with its total
    assert text.rstrip().splitlines()[-1] == "dE/dw[0,0] = 0.044606   (4 nonzero terms + 12 zero)"


def test_worked_example_cli_prints_the_terms_and_ends_with_the_total():
    for fmt in ("text", "table"):
        result = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--format", fmt)
        assert result.exit_code == 0, result.output
        out = re.sub(r"\s+", " ", result.output)
        assert "δ[0,2]·o[0,2] = 0.0686 × 0.88 = 0.060368" in out
        assert "δ[3,3]·o[3,3] = (-0.0681) × 0.7 = -0.04767" in out
        assert "+ 12 terms that are 0 (δ = 0)" in out
        assert "dE/dw[0,0] = 0.044606" in out
        assert "\x1b[" not in result.output
        last = [line for line in result.output.splitlines() if line.strip("│╰─╯ ")][-1]
        assert "dE/dw[0,0] = 0.044606" in last


def test_worked_example_input_delta_cell_term_by_term():
    explanation = explain(run(load_problem(WORKED)), "conv2d_1.delta_in[1,2]")
    assert explanation.formula == "dE/do[1,2] = Σ_m Σ_n δ[1-m,2-n]·w[m,n]"
    # δ[i,j] meets w[1−i, 2−j]: read in δ's order the kernel comes backwards (rotated 180°)
    assert terms_of(explanation) == [("δ[0,2]·w[1,0]", "0.0686 × (-0.51)", "-0.034986"),
                                     ("δ[1,1]·w[0,1]", "0.0364 × 0.15", "0.00546")]
    assert explanation.zero_terms == 2
    assert explanation.total == pytest.approx(0.0686 * -0.51 + 0.0364 * 0.15, rel=1e-15)
    notes = " ".join(explanation.notes)
    assert "δ[0,1]↔w[1,1], δ[0,2]↔w[1,0], δ[1,1]↔w[0,1], δ[1,2]↔w[0,0]" in notes
    assert "δ[i,j] meets w[1-i,2-j]" in notes and "rotated 180°" in notes
    assert explanation_text(explanation).count("-0.029526") == 1



@pytest.mark.parametrize("doc, path, count, terms", [
    # two filters read the input: a term per (f, m, n), but only 2 kernel entries (m, n)
    ({"input": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
      "layers": [{"type": "conv2d", "kernel": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}],
      "delta": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]},
     "conv2d_1.delta_in[0,0,1]", "the 2×2 output count (2 of them)", 4),
    ({"input": [1, 2, 3, 4, 5],
      "layers": [{"type": "conv1d", "kernel": [[1, 2], [3, 4], [5, 6]]}],
      "delta": [[1, 2, 3, 4], [5, 6, 7, 8], [1, 1, 1, 1]]},
     "conv1d_1.delta_in[2]", "the output of 4 count (2 of them)", 6),
    # two input channels scatter onto the cell: a term per (c, m, n), 4 kernel entries
    ({"input": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
      "layers": [{"type": "conv_transpose2d", "kernel": [[[1, 3], [2, 1]], [[2, 1], [1, 2]]]}],
      "delta": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]},
     "conv_transpose2d_1.output[0,1,1]", "the 2×2 input count (4 of them)", 8),
])
def test_the_kernel_entries_counted_are_entries_not_terms(doc, path, count, terms):
    explanation = explain(run(problem_of(doc)), path)
    assert count in explanation.notes[0]
    assert len(explanation.terms) + explanation.zero_terms == terms

def test_exact_terms_are_fractions():
    explanation = explain(run(load_problem(WORKED, exact=True)), "conv2d_1.grads.kernel[0,0]")
    assert terms_of(explanation)[0] == ("δ[0,2]·o[0,2]", "343/5000 × 22/25", "3773/62500")
    assert explanation.total == (Fraction("0.0686") * Fraction("0.88") + Fraction("0.0364")
                                 * Fraction("0.62") + Fraction("0.0467") * Fraction("0.2")
                                 - Fraction("0.0681") * Fraction("0.7"))
    assert "dE/dw[0,0] = 22303/500000 = 0.044606" in explanation_text(explanation)
    doc = json.loads(invoke("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--exact",
                            "-f", "json").output)
    assert doc["total"] == "22303/500000" and doc["exact"] is True


@pytest.mark.parametrize("path, decimals, line", [
    # 1/8 is a tie: a half away from zero, as `backward --exact` writes it (a float's
    # formatting rounds the tie to even, 0.12)
    ("conv2d_1.grads.kernel[0,1]", 2, "dE/dw[0,1] = 1/8 ≈ 0.13"),
    # 3/10 at 17 decimals: the fraction's digits, not the float 0.29999999999999999's
    ("conv2d_1.grads.kernel[0,0]", 17, "dE/dw[0,0] = 3/10 = 0.30000000000000000"),
])
def test_the_decimal_beside_an_exact_total_is_the_fraction_rounded(path, decimals, line):
    doc = {"input": [[0.3, 0.125], [0.1, 0.2]], "kernel": [[1, 0], [0, 1]], "delta": [[1]]}
    text = explanation_text(explain(run(problem_of(doc, exact=True)), path), decimals)
    assert line in text

# --------------------------------------------------------------------------- each kind of layer


def test_maxpool_names_the_window_its_maximum_and_the_tie_rule():
    trace = run(load_problem(TIES))
    # window [[1, 3], [3, 0]]: a tie between o[0,1] and o[1,0]; 'first' picks o[0,1]
    lost = explain(trace, "maxpool2d_1.delta_in[1,0]")
    assert lost.terms == [] and lost.zero_reasons == {"tied, and rule 'first' picks o[0,1]": 1}
    assert "o[0,0]…o[1,1] = [1 3; 3 0]" in lost.notes[0]
    assert "its maximum 3 is at o[0,1], o[1,0] (a tie of 2; rule 'first')" in lost.notes[0]
    assert any("PyTorch" in note and "row-major" in note for note in lost.notes)
    won = explain(trace, "maxpool2d_1.delta_in[0,1]")
    assert terms_of(won) == [("δ[0,0]·∂x[0,0]/∂o[0,1]", "0.5 × 1", "0.5")]
    network = explain(run(load_problem(NETWORK)), "maxpool2d_1.delta_in[1,1]")
    assert "its maximum 0.3092 is at o[1,1]" in network.notes[0]


@pytest.mark.parametrize("doc, path, window, highest, tied", [
    # 0.1 + 0.2 is 0.3 as written, beside 0.30000000000000004 (a float past 6 decimals)
    ({"input": [[0.1, 0.2, 0.30000000000000004, 0]],
      "layers": [{"type": "conv2d", "kernel": [[1, 1]], "stride": [1, 2]},
                 {"type": "maxpool2d", "size": [1, 2]}], "delta": [[1]]},
     "maxpool2d_1.delta_in[0,1]", "[0.3 0.30000000000000004]", "0.30000000000000004", False),
    ({"input": [0.1, 0.2, 0.30000000000000004, 0],
      "layers": [{"type": "conv1d", "kernel": [1, 1], "stride": 2},
                 {"type": "maxpool1d", "size": 2}], "delta": [1]},
     "maxpool1d_1.delta_in[1]", "[0.3 0.30000000000000004]", "0.30000000000000004", False),
    # values that read alike and are alike keep their short text
    ({"input": [[0.3, 0.3, 0.2]], "layers": [{"type": "maxpool2d", "size": [1, 3]}],
      "delta": [[1]]}, "maxpool2d_1.delta_in[0,0]", "[0.3 0.3 0.2]", "0.3", True),
])
def test_a_window_maximum_never_reads_as_the_value_it_beats(doc, path, window, highest,
                                                            tied):
    note = explain(run(problem_of(doc)), path).notes[0]
    assert f"= {window}; its maximum {highest} is at" in note
    assert ("(a tie of 2" in note) is tied


@pytest.mark.parametrize("ties, share", [("split", Fraction(1, 2)), ("all", 1)])
def test_maxpool_tie_rules_split_and_all(ties, share):
    doc = json.loads(Path(TIES).read_text())
    doc["layers"][0]["ties"] = ties
    explanation = explain(run(problem_of(doc, exact=True)), "maxpool2d_1.delta_in[1,0]")
    (term,) = explanation.terms
    assert term.factors[1].value == share and explanation.total == Fraction(1, 2) * share


@pytest.mark.parametrize("include_pad, divisor", [(True, 4), (False, 1)])
def test_avgpool_names_the_divisor(include_pad, divisor):
    doc = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
           "layers": [{"type": "avgpool2d", "size": 2, "padding": 1,
                       "count_include_pad": include_pad}],
           "delta": [[1, 2], [3, 4]]}
    trace = run(problem_of(doc, exact=True))
    explanation = explain(trace, "avgpool2d_1.delta_in[0,0]")
    (term,) = explanation.terms
    assert term.factors[1].detail == f"1/{divisor}" and explanation.total == Fraction(1, divisor)
    assert f"divisor {divisor} = " in explanation.notes[0]
    forward = explain(trace, "avgpool2d_1.output[0,0]")
    # the window's 3 padding cells are zeros either way; only the divisor differs
    assert forward.total == Fraction(1, divisor) and forward.zero_reasons == {
        "o is zero padding": 3}


@pytest.mark.parametrize("kind, detail", [("relu", "o[0] = 0.4 > 0"),
                                          ("leaky_relu", "o[1] = -0.5 ≤ 0")])
def test_activation_shows_its_local_derivative(kind, detail):
    doc = {"input": [[0.4, -0.5]], "layers": [{"type": "flatten"}, {"type": kind}],
           "delta": [2, 3]}
    trace = run(problem_of(doc))
    index = 0 if detail.startswith("o[0]") else 1
    explanation = explain(trace, f"{kind}_1.delta_in[{index}]")
    assert explanation.terms[0].factors[1].note == detail
    assert any("local derivative" in note for note in explanation.notes)


def test_sigmoid_derivative_is_x_times_one_minus_x():
    trace = run(load_problem(NETWORK))
    explanation = explain(trace, "sigmoid_1.delta_in[1]")
    assert terms_of(explanation)[0][0] == "δ[1]·x[1]·(1 - x[1])"
    assert "σ'(o) = σ(o)·(1 - σ(o)) = x·(1 - x)" in explanation.notes[0]


def test_operand_brackets_a_negative_number():
    from cnngrad.teach.explain import operand

    assert [operand(v) for v in (0.5, -0.5, Fraction(-1, 3), -1e-9, 0, -0.0)] == [
        "0.5", "(-0.5)", "(-1/3)", "(-1.00000e-09)", "0", "0"]


def test_batch_norm_brackets_negative_factors():
    # the three paths of a batch-norm input delta, each negative number in brackets
    trace = run(load_problem(str(SAMPLES / "resnet-block.json")))
    explanation = explain(trace, "bn_a.delta_in[1,1,2]")
    assert terms_of(explanation) == [
        ("dE/dσ²[1]·2(o[1,1,2] - μ[1])/16",
         "(-½·(-0.148369)·(0.226685 + 1e-05)^(-3/2)) × 2·(-0.403737)/16", "-0.034686"),
        ("dE/dμ[1]·1/16", "(-(-1.936478)/√(0.226685 + 1e-05)) × 0.0625", "0.254198")]
    details = [f["detail"] for t in explanation_dict(explanation)["terms"]
               for f in t["factors"] if "detail" in f]
    assert details == ["-½·(-0.148369)·(0.226685 + 1e-05)^(-3/2)", "2·(-0.403737)/16",
                       "-(-1.936478)/√(0.226685 + 1e-05)"]
    (term,) = explain(trace, "bn_a.output[0,0,0]").terms
    assert term.factors[1].detail.endswith("= (-0.7216 - (-0.081156))/√(0.208757 + 1e-05)")


def test_activations_and_losses_bracket_negative_operands():
    doc = {"input": [[-0.5, 0.25]],
           "layers": [{"type": "flatten"}, {"type": "tanh"}, {"type": "leaky_relu"}],
           "loss": {"type": "mse", "target": [-0.75, 0.5]}}
    trace = run(problem_of(doc))
    tanh = explain(trace, "tanh_1.delta_in[0]").terms[0].factors[1]
    assert tanh.detail == "1 - (-0.462117)²"  # not 1 - -0.462117², which reads as 1 + 0.21
    leaky = explain(trace, "leaky_relu_1.output[0]").terms[0].factors[0]
    assert leaky.detail == "0.01·(-0.462117)"
    assert terms_of(explain(trace, "loss"))[0][1] == "0.5 × (-0.75 - (-0.004621))²"
    assert terms_of(explain(trace, "leaky_relu_1.delta_out[0]"))[0][1] == \
        "-0.004621 - (-0.75)"


#: two signs that meet: "--1.93", "- -0.08", "·-0.40", "× -0.5"
TWO_SIGNS = re.compile(r"--\d|[-+] -[\d½(]|[·×/] ?-[\d½(]")


#: every sample, and a problem with every layer type
EVERY_PROBLEM = [*sorted(str(p) for p in SAMPLES.glob("*.json")),
                 str(ROOT / "tests" / "golden" / "problems" / "every-layer.json")]


def every_explanation(problem: str, lr=None):
    """(path, explanation) for every path of ``problem``, at its first and last element."""
    trace = run(load_problem(problem), lr=lr)
    for name, shape in known_paths(trace).items():
        for index in {(0,) * len(shape), tuple(size - 1 for size in shape)}:
            path = name + (f"[{','.join(map(str, index))}]" if index else "")
            yield path, explain(trace, path)


@pytest.mark.parametrize("problem", EVERY_PROBLEM)
def test_no_explanation_writes_two_signs_together(problem):
    for path, explanation in every_explanation(problem):
        text = explanation_text(explanation) + json.dumps(explanation_dict(explanation),
                                                          ensure_ascii=False)
        assert not TWO_SIGNS.search(text), (path, TWO_SIGNS.search(text))


def test_loss_formula_and_terms():
    trace = run(load_problem(NETWORK))
    explanation = explain(trace, "loss")
    assert explanation.formula == "E = ½ Σ (t - y)²"
    assert terms_of(explanation)[0] == ("½·(t[0] - y[0])²", "0.5 × (1 - 0.689868)²",
                                        "0.048091")
    assert explanation.total == pytest.approx(trace.loss, rel=1e-12)
    delta = explain(trace, "sigmoid_1.delta_out[0]")
    assert terms_of(delta) == [("y[0] - t[0]", "0.689868 - 1", "-0.310132")]
    cross = explain(run(load_problem(str(SAMPLES / "batched-cross-entropy.json"))), "loss")
    assert cross.formula == "E = (1/2) Σ_n -Σ_k t[n,k]·log p[n,k]"
    assert cross.zero_reasons == {"t = 0": 4} and len(cross.terms) == 2


def test_delta_out_is_the_next_layers_input_delta():
    explanation = explain(run(load_problem(NETWORK)), "conv2d_1.delta_out[0,2]")
    assert explanation.formula == "δ[0,2] = dE/dx[0,2] = maxpool2d_1.delta_in[0,2]"


def test_flatten_names_the_position_it_came_from():
    trace = run(load_problem(NETWORK))
    explanation = explain(trace, "flatten_1.delta_in[1,0]")
    assert terms_of(explanation) == [("δ[2]", "", "-0.034312")]
    assert "k = c·H·W + h·W + w = 0·4 + 1·2 + 0 = 2" in explanation.notes[0]
    assert explain(trace, "flatten_1.output[2]").formula == "x[2] = o[1,0]"


def test_conv_padding_cells_are_named():
    doc = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
           "layers": [{"type": "conv2d", "kernel": [[1, 2], [3, 4]], "padding": [1, 0, 1, 0],
                       "padding_mode": "reflect", "stride": 2}],
           "delta": [[1, 10], [100, 1000]]}
    trace = run(problem_of(doc, exact=True))
    forward = explain(trace, "conv2d_1.output[0,0]")
    assert forward.terms[0].note == "padding cell o[-1,-1] copies o[1,1] (reflect)"
    assert forward.formula == "x[0,0] = Σ_m Σ_n w[m,n]·o[m-1,n-1]"
    backward = explain(trace, "conv2d_1.delta_in[1,1]")
    assert any("through padding cell" in (t.note or "") for t in backward.terms)
    zeros = dict(doc["layers"][0], padding_mode="zeros")
    explanation = explain(run(problem_of(dict(doc, layers=[zeros]))), "conv2d_1.output[0,0]")
    assert explanation.zero_reasons == {"o is zero padding": 3}


@pytest.mark.parametrize("doc, path, taps, through, filters", [
    ({"input": [[0.5, -1.2, 0.3, 0.8, -0.4]],
      "layers": [{"type": "conv1d", "kernel": [[[0.2, -0.5, 0.7]]], "padding": 1,
                  "padding_mode": "reflect"}],
      "delta": [[1.0, -0.5, 0.25, 2.0, -1.5]]}, "conv1d_1.delta_in[0,1]", 3, 1, 1),
    ({"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
      "layers": [{"type": "conv2d", "kernel": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "padding": 1,
                  "padding_mode": "reflect"}],
      "delta": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}, "conv2d_1.delta_in[1,1]", 9, 16, 1),
    # two filters: the counts are a filter's, as the (m, n) are ("the 32 terms" was both
    # filters' beside one filter's 9)
    ({"input": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
      "layers": [{"type": "conv2d", "kernel": [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
                                               [[[1, -1, 1], [-1, 2, -1], [1, -1, 1]]]],
                  "padding": 1, "padding_mode": "reflect"}],
      "delta": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 1, 1], [1, 1, 1], [1, 1, 1]]]},
     "conv2d_1.delta_in[0,1,1]", 9, 16, 2),
])
def test_the_index_rule_and_its_count_are_the_direct_terms_beside_a_padding_copy(
        doc, path, taps, through, filters):
    # "count (6 of them)" beside 8 terms, and "δ[f,i,j] meets w[f,0,2-i,1-j]" false for the
    # terms through a padded cell: both are said of the terms read directly now
    explanation = explain(run(problem_of(doc)), path)
    copies = [t for t in explanation.terms if "through padding cell" in (t.note or "")]
    assert len(explanation.terms) == filters * (taps + through)
    assert len(copies) == filters * through
    notes = " ".join(explanation.notes)
    assert f"count ({taps} of them)" in notes
    assert ("the term through a padding cell comes on top" if through == 1 else
            f"the {through} terms through padding cells come on top" if filters == 1 else
            f"; {through} terms a filter through padding cells come on top") in notes
    assert "In the direct terms, " in notes


def test_conv_groups_batches_and_untied_bias_use_display_indices():
    rng = np.random.default_rng(5)
    doc = {"input": rng.normal(size=(2, 2, 4, 4)).round(2).tolist(),
           "layers": [{"type": "conv2d", "kernel": rng.normal(size=(2, 1, 2, 2)).round(2).tolist(),
                       "groups": 2, "bias": rng.normal(size=(2, 3, 3)).round(2).tolist()}],
           "delta": rng.normal(size=(2, 2, 3, 3)).round(2).tolist()}
    trace = run(problem_of(doc))
    grad = explain(trace, "conv2d_1.grads.kernel[1,0,0,1]")
    assert grad.formula == "dE/dw[1,0,0,1] = Σ_n Σ_i Σ_j δ[n,1,i,j]·o[n,1,i,j+1]"
    assert len(grad.terms) + grad.zero_terms == 2 * 9
    bias = explain(trace, "conv2d_1.grads.bias[1,2,0]")
    assert bias.formula == "dE/db[1,2,0] = Σ_n δ[n,1,2,0]" and len(bias.terms) == 2
    # input channel 1 is read by filter 1 only (groups)
    delta_in = explain(trace, "conv2d_1.delta_in[0,1,1,1]")
    assert {t.factors[0].symbol.split(",")[1] for t in delta_in.terms} == {"1"}


@pytest.mark.parametrize("flip", [False, True])
def test_nhwc_one_channel_filters_name_the_filter_of_the_output_cell(flip):
    # nhwc k1×k2×F kernel over a one-channel input: filter f is the kernel's last index
    doc = {"layout": "nhwc", "input": [[2, 1, 3, 4]],
           "layers": [{"type": "conv2d", "flip_kernel": flip,
                       "kernel": [[[-3, 1], [1, -2], [0, 5]]]}],
           "delta": [[[1, 2], [3, 4]]]}
    trace = run(problem_of(doc))
    kernel = np.array(doc["layers"][0]["kernel"], dtype=float)
    for path in ("conv2d_1.output[0,1,1]", "conv2d_1.delta_in[0,2]"):
        explanation = explain(trace, path)
        for term in explanation.terms:
            w = next(f for f in term.factors if f.symbol.startswith("w["))
            m, n, f = _indices(w.symbol)[0]
            assert kernel[m, n, f] == w.value, (path, w.symbol, w.value)
            assert f == 1 or path.endswith("delta_in[0,2]"), (path, w.symbol)
    # the input cell's delta meets both filters, each with its own δ channel
    filters = {_indices(f.symbol)[0][-1] for t in explain(trace, "conv2d_1.delta_in[0,2]").terms
               for f in t.factors if f.symbol.startswith(("w[", "δ["))}
    assert filters == {0, 1}

@pytest.mark.parametrize("one_based, path, formula", [
    (False, "upsample_1.output[1,3,5]", "x[1,3,5] = o[1,⌊3/2⌋,⌊5/3⌋]"),
    (True, "upsample_1.output[2,4,6]", "x[2,4,6] = o[2,⌊(4-1)/2⌋+1,⌊(6-1)/3⌋+1]"),
])
def test_an_upsampled_cell_formula_names_its_own_indices(one_based, path, formula):
    # no free i, j: the formula is written with the explained cell's indices
    doc = {"input": np.arange(12.0).reshape(2, 2, 3).tolist(),
           "layers": [{"type": "upsample", "scale": [2, 3]}],
           "delta": np.ones((2, 4, 9)).tolist()}
    explanation = explain(run(problem_of(doc)), path, one_based=one_based)
    assert explanation.formula == formula
    assert terms_of(explanation) == [(("o[2,2,2]" if one_based else "o[1,1,1]"), "", "10")]

def test_a_shared_dense_bias_term_is_exact_with_exact():
    # "bias": a number, one bias for every output: its term is the fraction, as the others
    doc = {"input": [[0.5, -0.25]], "layers": [{"type": "flatten"}, {"type": "dense",
           "weights": [[0.3, 0.7], [-0.1, 0.2]], "bias": -0.4654}], "delta": [1, 2]}
    explanation = explain(run(problem_of(doc, exact=True)), "dense_1.output[1]")
    bias = explanation.terms[-1]
    assert bias.value == Fraction("-0.4654") and isinstance(bias.value, Fraction)
    assert terms_of(explanation)[-1] == ("b", "", "-2327/5000")
    assert sum(term.value for term in explanation.terms) == explanation.total


def test_flip_kernel_reports_the_kernel_as_given():
    doc = json.loads(Path(WORKED).read_text())
    doc["flip_kernel"] = True
    trace = run(problem_of(doc))
    explanation = explain(trace, "conv2d_1.grads.kernel[1,1]")
    # the given w[1,1] slides at tap (0,0): it meets o[i,j]
    assert explanation.formula == "dE/dw[1,1] = Σ_i Σ_j δ[i,j]·o[i,j]"
    assert any("flip_kernel" in note for note in explanation.notes)


# --------------------------------------------------------------------------- one-based


def _indices(text: str) -> list[list[int]]:
    return [[int(v) for v in group.split(",")]
            for group in re.findall(r"\[(-?\d+(?:,-?\d+)*)\]", text)]


@pytest.mark.parametrize("sample, path", [
    (WORKED, "conv2d_1.grads.kernel[0,0]"),
    (WORKED, "conv2d_1.delta_in[1,2]"),
    (NETWORK, "maxpool2d_1.delta_in[1,1]"),
    (NETWORK, "dense_1.grads.weights[0,2]"),
    (NETWORK, "flatten_1.output[3]"),
])
def test_one_based_shifts_every_index(sample, path):
    trace = run(load_problem(sample))
    shifted = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), path.split("[")[1])
    zero = explanation_text(explain(trace, path))
    one = explanation_text(explain(trace, f"{path.split('[')[0]}[{shifted}",
                                   one_based=True))
    assert [[v + 1 for v in group] for group in _indices(zero)] == _indices(one)
    assert explain(trace, path).total == explain(trace, f"{path.split('[')[0]}[{shifted}",
                                                 one_based=True).total


def test_one_based_formula_expressions():
    trace = run(load_problem(WORKED))
    assert explain(trace, "conv2d_1.delta_in[2,3]", one_based=True).formula == \
        "dE/do[2,3] = Σ_m Σ_n δ[3-m,4-n]·w[m,n]"
    assert explain(trace, "conv2d_1.grads.kernel[2,1]", one_based=True).formula == \
        "dE/dw[2,1] = Σ_i Σ_j δ[i,j]·o[i+1,j]"


@pytest.mark.parametrize("coefs, const, base, div, expected", [
    ({"m": -1}, 1, 0, 1, "1-m"), ({"m": -1}, 1, 1, 1, "3-m"), ({"i": 2}, -1, 0, 1, "2i-1"),
    ({"i": 1, "m": 1}, 0, 1, 1, "i+m-1"), ({}, 0, 1, 1, "1"), ({"m": -2}, 3, 0, 2, "(3-2m)/2"),
    # a lone variable over a stride needs no brackets (from 1: "(m)/2+1" before)
    ({"m": 1}, 1, 1, 2, "m/2+1"), ({"m": 2}, 0, 0, 2, "2m/2"), ({"m": -1}, 0, 0, 2, "(-m)/2"),
    ({}, 3, 0, 2, "3/2"),
])
def test_affine_index_text(coefs, const, base, div, expected):
    assert _affine(coefs, const, base, div) == expected


# --------------------------------------------------------------------------- totals = engine


RATIONAL_SAMPLES = ["stackexchange.json", "multichannel.json", "pool-ties.json"]


@pytest.mark.parametrize("sample, exact", [(s, False) for s in RATIONAL_SAMPLES + [
    "stackexchange-network.json", "batched-cross-entropy.json"]] + [(s, True) for s in
                                                                      RATIONAL_SAMPLES])
def test_every_element_of_every_sample_adds_up(sample, exact):
    problem = load_problem(str(SAMPLES / sample), exact=exact)
    trace = run(problem, lr=Fraction(1, 10) if exact else 0.1)
    for name, shape in known_paths(trace).items():
        for index in np.ndindex(*shape):
            path = name + (f"[{','.join(map(str, index))}]" if index else "")
            assert_total_matches(explain(trace, path), engine_value(trace, path), path)


def _out_shape(doc: dict):
    x = np.asarray(doc["input"])
    layers = json.loads(json.dumps(doc["layers"]), parse_float=Decimal)
    specs = _Builder("t.json", Path("."), False, 10**8).build_layers(
        layers, "layers", (1,) * (4 - x.ndim) + x.shape, Layout(x.ndim))
    return specs[-1].out_shape, Layout(x.ndim).display_shape(specs[-1].out_shape)


def _values(rng, shape, exact: bool):
    return (rng.integers(-9, 10, size=shape) / 4).tolist() if exact else \
        np.round(rng.normal(size=shape), 3).tolist()


def random_doc(seed: int, exact: bool) -> dict:
    """A random network: conv (stride, padding and its mode, dilation, groups, flip, every bias
    kind) → activation → max or avg pool (padding, ceil_mode, tie rules), then a given delta
    or flatten → dense (→ activation) → a loss; inputs of small halves, so max pools tie."""
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    rank = 4 if n > 1 else int(rng.choice([2, 3, 4]))
    c = 1 if rank == 2 else c
    h, w = int(rng.integers(5, 9)), int(rng.integers(5, 9))
    groups = int(rng.choice([g for g in (1, 2, 3) if c % g == 0]))
    f, cg = groups * int(rng.integers(1, 3)), c // groups
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kshape = (f, cg, kh, kw)
    if rng.integers(2):
        if f == 1 and cg == 1 and rank == 2:
            kshape = (kh, kw)
        elif cg == 1:
            kshape = (f, kh, kw)
        elif f == 1 and groups == 1:
            kshape = (c, kh, kw)
    conv = {"type": "conv2d", "kernel": _values(rng, kshape, exact),
            "stride": rng.integers(1, 3, size=2).tolist(),
            "padding": rng.integers(0, 2, size=4).tolist(),
            "dilation": rng.integers(1, 3, size=2).tolist(), "groups": groups,
            "padding_mode": str(rng.choice(["zeros", "reflect", "replicate", "circular"])),
            "flip_kernel": bool(rng.integers(2))}
    x = rng.integers(-3, 4, size=(n, c, h, w)) / 2
    doc = {"input": x.reshape((n, c, h, w)[4 - rank:]).tolist(), "layers": [conv]}
    internal, _ = _out_shape(doc)
    bias = str(rng.choice(["none", "scalar", "filter", "untied"]))
    if bias == "scalar" and f == 1:
        conv["bias"] = _values(rng, (), exact)
    elif bias == "filter":
        conv["bias"] = _values(rng, (f,), exact)
    elif bias == "untied":
        conv["bias"] = _values(rng, internal[2:] if f == 1 and rng.integers(2) else internal[1:],
                               exact)
    acts = ["relu", "leaky_relu"] + ([] if exact else ["sigmoid", "tanh"])
    kind = str(rng.choice(["maxpool2d", "avgpool2d"]))
    size = [min(int(rng.integers(1, 4)), internal[2]), min(int(rng.integers(1, 4)), internal[3])]
    pool = {"type": kind, "size": size, "stride": rng.integers(1, 3, size=2).tolist(),
            "padding": [int(rng.integers(0, k // 2 + 1)) for k in size],
            "ceil_mode": bool(rng.integers(2))}
    if kind == "maxpool2d":
        pool["ties"] = str(rng.choice(["first", "split", "all"]))
    else:
        pool["count_include_pad"] = bool(rng.integers(2))
    doc["layers"] += [{"type": str(rng.choice(acts))}, pool]
    ending = int(rng.integers(3))
    if ending == 0:
        doc["delta"] = _values(rng, _out_shape(doc)[1], exact)
        return doc
    doc["layers"].append({"type": "flatten"})
    dense = {"type": "dense", "weights": _values(rng, (3, _out_shape(doc)[0][1]), exact)}
    if rng.integers(2):
        dense["bias"] = _values(rng, (3,), exact)
    doc["layers"].append(dense)
    if rng.integers(2):
        doc["layers"].append({"type": str(rng.choice(acts))})
    shown = _out_shape(doc)[1]
    if exact or ending == 1:
        doc["loss"] = {"type": "mse", "target": _values(rng, shown, exact),
                       "reduction": str(rng.choice(["half_sum", "sum", "mean"]))}
    else:
        doc["loss"] = {"type": "cross_entropy", "target": rng.integers(0, 3, size=n).tolist()
                       if rank == 4 else int(rng.integers(0, 3))}
    return doc


@pytest.mark.parametrize("seed", range(24))
@pytest.mark.parametrize("exact", [False, True])
def test_totals_equal_the_engine_on_random_problems(seed, exact):
    trace = run(problem_of(random_doc(seed, exact), exact), lr=Fraction(1, 8) if exact else 0.125)
    rng = np.random.default_rng(1000 + seed)
    for name, shape in known_paths(trace).items():
        cells = list(np.ndindex(*shape))
        for pick in rng.choice(len(cells), min(4, len(cells)), replace=False):
            path = name + (f"[{','.join(map(str, cells[pick]))}]" if cells[pick] else "")
            explanation = explain(trace, path)
            assert_total_matches(explanation, engine_value(trace, path), f"seed {seed}: {path}")
            last = explanation_text(explanation).rstrip().splitlines()[-1]
            assert last.startswith(f"{explanation.lhs} = "), last


# --------------------------------------------------------------------------- terms as columns


def _columns_explanation(a: list, b: list, reasons: list, exact: bool = False):
    """An explanation of Σ a[k]·b[k] from columns, and ``built``: the terms it built."""
    trace = run(load_problem(WORKED))
    ex = _Explainer(trace, one_based=False)
    ex.exact = exact
    built = []

    def build(k: int) -> Term:
        built.append(k)
        factors = [Factor(f"a[{k}]", a[k]),
                   Factor(f"b[{k}]", b[k], zero_reason=reasons[k])]
        return ex.term(*factors)

    dtype = object if exact else float
    columns = TermColumns([Column("a", np.array(a, dtype=dtype)),
                           Column("b", np.array(b, dtype=dtype), np.array(reasons, dtype=object))],
                          build)
    path = parse_path(trace, "conv2d_1.grads.kernel[0,0]")
    lazy = ex.finish(path, title="t", lhs="s", rhs="Σ a·b", terms=columns, symbols={},
                     notes=[])
    eager = ex.finish(path, title="t", lhs="s", rhs="Σ a·b",
                      terms=[columns.build(k) for k in range(columns.count)], symbols={},
                      notes=[])
    built.clear()
    return lazy, eager, built


def test_term_columns_count_zero_reasons_in_order_and_build_only_what_is_read():
    a = [1.0, 0.0, 2.0, 1e-200, 0.0, 0.5, 3.0, 0.25]
    b = [0.0, 5.0, 0.0, 1e-200, 3.0, 0.5, 2.0, 4.0]
    reasons = [None, None, "b is padding", None, None, None, None, None]
    lazy, eager, built = _columns_explanation(a, b, reasons)
    assert lazy.zero_reasons == {"b = 0": 1, "a = 0": 2, "b is padding": 1,
                                 "the product rounds to 0": 1} == eager.zero_reasons
    assert (lazy.zero_terms, len(lazy.terms), lazy.total) == (5, 3, 0.25 + 6.0 + 1.0)
    assert built == []  # counting and adding up built no term
    assert term_parts(lazy.terms[1]) == ("a[6]·b[6]", "3 × 2", "6") and built == [6]
    assert lazy.rest(1) == (2, 7.0) and built == [6]
    assert explanation_text(lazy, max_terms=1) == explanation_text(eager, max_terms=1)
    assert "+ 2 more nonzero terms, together 7" in explanation_text(lazy, max_terms=1)
    assert lazy.terms == eager.terms and isinstance(lazy.terms, TermList)
    assert explanation_dict(lazy) == explanation_dict(eager)


def test_term_columns_in_exact_arithmetic():
    a = [Fraction(1, 3), Fraction(0), Fraction(2, 7)]
    b = [Fraction(3, 5), Fraction(1, 2), 0]
    lazy, eager, _ = _columns_explanation(a, b, [None, None, "b is padding"], exact=True)
    assert lazy.total == Fraction(1, 5) == eager.total and isinstance(lazy.total, Fraction)
    assert lazy.zero_reasons == {"a = 0": 1, "b is padding": 1}
    assert explanation_dict(lazy) == explanation_dict(eager)


def assert_columns_agree(trace, prefixes: tuple[str, ...], rng, picks: int = 3,
                         bases: tuple[bool, ...] = (False,)) -> None:
    """Each path starting with one of ``prefixes``, at ``picks`` random elements, explained
    from its columns (the terms listed built alone) and from the list of every term: the
    same text, JSON, counts and total."""
    for name, shape in known_paths(trace).items():
        if not name.startswith(prefixes):
            continue
        cells = list(np.ndindex(*shape))
        for pick in rng.choice(len(cells), min(picks, len(cells)), replace=False):
            for one_based in bases:
                index = [i + one_based for i in cells[pick]]
                path = parse_path(trace, name + (f"[{','.join(map(str, index))}]" if index
                                                 else ""), one_based=one_based)
                lazy = _Explainer(trace, one_based).explain(path)
                eager = _Explainer(trace, one_based, eager=True).explain(path)
                for max_terms in (2, 100):
                    assert explanation_text(lazy, max_terms=max_terms) == \
                        explanation_text(eager, max_terms=max_terms), path.name
                    assert explanation_dict(lazy, max_terms) == \
                        explanation_dict(eager, max_terms)
                assert explanation_dict(lazy) == explanation_dict(eager)
                assert (lazy.total, lazy.zero_reasons) == (eager.total, eager.zero_reasons)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("exact", [False, True])
def test_explanations_from_columns_equal_those_from_every_term(seed, exact):
    """Rules that give their terms as columns (conv kernel and bias gradients and input
    delta, dense and global average pool outputs) explain an element exactly as the list of
    all their terms does: text, JSON, counts and total."""
    doc = random_doc(seed, exact)
    if seed % 2 and "delta" not in doc:
        # a global average pool in place of the flatten (the dense layer reads C values)
        channels = _out_shape({**doc, "layers": doc["layers"][:3]})[0][1]
        doc["layers"][3] = {"type": "global_avgpool"}
        doc["layers"][4]["weights"] = _values(np.random.default_rng(seed), (3, channels), exact)
    assert_columns_agree(run(problem_of(doc, exact)),
                         ("conv2d_1.grads.", "conv2d_1.delta_in", "dense_1.output",
                          "global_avgpool_1.output"), np.random.default_rng(2000 + seed))


def random_conv1d_doc(seed: int, exact: bool) -> dict:
    """A random conv1d (stride, padding of each form and mode, dilation, groups, flip, every
    kernel and bias form, nhwc) and a random delta at its output: its kernel and bias
    gradients have a term per output cell, given as columns."""
    from cnngrad.errors import CnnGradError

    rng = np.random.default_rng(seed)
    while True:
        n, groups = int(rng.integers(1, 3)), int(rng.choice([1, 2]))
        c = groups * int(rng.integers(1, 3))
        f = groups * int(rng.integers(1, 3))
        length, k = int(rng.integers(4, 9)), int(rng.integers(1, 4))
        batched = n > 1 or bool(rng.integers(2))
        x = rng.integers(-3, 4, size=(n, c, length)) / 2
        given = x if batched else x[0] if c > 1 or rng.integers(2) else x[0, 0]
        nhwc = bool(rng.integers(2)) and given.ndim > 1
        if nhwc:
            given = np.moveaxis(given, -2, -1)
        kernel = _values(rng, (f, c // groups, k), exact)
        if nhwc:  # as the contract's nhwc 1-D kernel: k×(C/groups)×F
            kernel = np.transpose(np.asarray(kernel), (2, 1, 0)).tolist()
        conv = {"type": "conv1d", "kernel": kernel, "stride": int(rng.integers(1, 3)),
                "padding": [int(rng.integers(0, 2)), "same", [0, 1], 1][int(rng.integers(4))],
                "dilation": int(rng.integers(1, 3)), "groups": groups,
                "padding_mode": str(rng.choice(["zeros", "reflect", "replicate", "circular"])),
                "flip_kernel": bool(rng.integers(2))}
        doc = {"input": given.tolist(), "layers": [conv, {"type": "global_avgpool"}],
               "loss": {"type": "mse", "target": _values(rng, (n, f) if batched else (f,),
                                                         exact)}}
        if nhwc:
            doc["layout"] = "nhwc"
        try:
            trace = run(problem_of(doc, exact))
        except CnnGradError:  # a padding too wide for the map, a kernel past it: again
            continue
        out = trace.layers[0].output.shape[2]
        # a delta of its own per cell (the pool's would be one number per map)
        doc = {**doc, "layers": [conv], "loss": None,
               "delta": _values(rng, trace.layout.display_shape(trace.layers[0].output.shape),
                                exact)}
        del doc["loss"]
        bias = str(rng.choice(["scalar", "filter", "untied"]))
        if bias == "scalar" and f == 1:
            conv["bias"] = _values(rng, (), exact)
        elif bias == "untied":
            conv["bias"] = _values(rng, (out, f) if nhwc else (f, out), exact)
        else:
            conv["bias"] = _values(rng, (f,), exact)
        return doc


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("exact", [False, True])
def test_conv1d_gradient_explanations_from_columns_equal_those_from_every_term(seed, exact):
    """conv1d's kernel and bias gradients (a term per output cell, as columns) explain an
    element exactly as the list of all their terms does: text, JSON, counts and total."""
    assert_columns_agree(run(problem_of(random_conv1d_doc(seed, exact), exact)),
                         ("conv1d_1.grads.",), np.random.default_rng(3000 + seed),
                         bases=(False, True))


def random_conv_transpose_doc(seed: int, exact: bool) -> dict:
    """A random conv_transpose2d (stride, padding, output_padding, dilation, groups, every
    kernel form, a bias or none) and a random delta at its output."""
    from cnngrad.errors import CnnGradError

    rng = np.random.default_rng(seed)
    while True:
        n, groups = int(rng.integers(1, 3)), int(rng.choice([1, 2]))
        c, f = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
        h, w = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        x = rng.integers(-3, 4, size=(n, c, h, w)) / 2
        given = x if n > 1 or rng.integers(2) else x[0] if c > 1 or rng.integers(2) else x[0, 0]
        kernel = np.asarray(_values(rng, (c, f // groups, kh, kw), exact))
        if groups == 1 and f == 1 and rng.integers(2):  # C_in×k1×k2, or k1×k2 for one channel
            kernel = kernel[:, 0] if c > 1 else kernel[0, 0]
        stride = [int(v) for v in rng.integers(1, 3, size=2)]
        dilation = [int(v) for v in rng.integers(1, 3, size=2)]
        conv = {"type": "conv_transpose2d", "kernel": kernel.tolist(), "stride": stride,
                "padding": [int(v) for v in rng.integers(0, 2, size=2)], "dilation": dilation,
                "output_padding": [int(rng.integers(0, max(s, d)))
                                   for s, d in zip(stride, dilation)], "groups": groups}
        if rng.integers(3):
            conv["bias"] = _values(rng, (f,) if f > 1 or rng.integers(2) else (), exact)
        doc = {"input": given.tolist(), "layers": [conv]}
        try:
            _, shown = _out_shape(doc)
        except CnnGradError:  # an output_padding past the stride and dilation, ...: again
            continue
        return {**doc, "delta": _values(rng, shown, exact)}


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("exact", [False, True])
def test_conv_transpose_gradient_explanations_from_columns_equal_those_from_every_term(
        seed, exact):
    """conv_transpose2d's kernel and bias gradients (as columns) explain an element exactly
    as the list of all their terms does: text, JSON, counts and total."""
    assert_columns_agree(run(problem_of(random_conv_transpose_doc(seed, exact), exact)),
                         ("conv_transpose2d_1.grads.",), np.random.default_rng(4000 + seed),
                         picks=4, bases=(False, True))


# --------------------------------------------------------------------------- bad paths


def random_batchnorm_doc(seed: int) -> dict:
    """A random batchnorm2d on 2-D or 1-D maps (train, or eval with running statistics; gamma
    and beta given or not, some zero; nhwc) or batchnorm1d on vectors, and a random delta at
    its output with some zeros; each channel's values are ± pairs and zeros, so its mean is 0
    exactly and its zero cells have x̂ = 0: both factors of dE/dγ's terms are zero somewhere.
    (Batch norm is not rational: no --exact.)"""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["maps", "maps1d", "vectors"]))
    n, c = int(rng.integers(2, 4)), int(rng.integers(1, 4))
    cell_shape = (n,) + {"maps": (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
                         "maps1d": (int(rng.integers(1, 5)),), "vectors": ()}[kind]
    count = int(np.prod(cell_shape))
    x = np.zeros((c, count))
    for channel in x:
        half = rng.integers(-4, 5, size=count // 2) / 2
        channel[:] = np.concatenate([half, -half, np.zeros(count % 2)])
        rng.shuffle(channel)
        if not channel.any():
            channel[:2] = [1.5, -1.5]
    x = np.moveaxis(x.reshape((c,) + cell_shape), 0, 1)  # (N, C, ...)
    nhwc = kind != "vectors" and bool(rng.integers(2))
    given = np.moveaxis(x, 1, -1) if nhwc else x
    layer = {"type": "batchnorm1d" if kind == "vectors" else "batchnorm2d"}
    for key in ("gamma", "beta"):
        if rng.integers(2):
            values = _values(rng, (c,), False)
            values[0] = 0
            layer[key] = values
    if rng.integers(3) == 0:
        layer.update(mode="eval", running_mean=_values(rng, (c,), False),
                     running_var=[abs(v) + 0.5 for v in _values(rng, (c,), False)])
    delta = np.asarray(_values(rng, given.shape, False))
    delta[rng.random(delta.shape) < 0.2] = 0
    layers = [layer]
    if kind == "vectors":  # vectors come from a map through a flatten
        given, layers = given.reshape(n, c, 1, 1), [{"type": "flatten"}, layer]
    doc = {"input": given.tolist(), "layers": layers, "delta": delta.tolist()}
    if nhwc:
        doc["layout"] = "nhwc"
    return doc


@pytest.mark.parametrize("seed", range(16))
def test_batchnorm_gradient_explanations_from_columns_equal_those_from_every_term(seed):
    """Batch norm's gamma and beta gradients (a term per value of the channel, as columns)
    explain an element exactly as the list of all their terms does: text, JSON, counts,
    zero reasons (δ = 0, x̂ = 0) and total."""
    trace = run(problem_of(random_batchnorm_doc(seed)))
    name = trace.layers[-1].name
    assert_columns_agree(trace, (f"{name}.grads.",), np.random.default_rng(5000 + seed),
                         picks=3, bases=(False, True))


def test_batchnorm_gamma_explanation_counts_both_zero_factors():
    """A channel of ± pairs and a zero has mean 0: the zero cell's x̂ is 0, and a zero delta
    elsewhere; each is counted under its own reason, as the terms list them."""
    doc = {"input": [[[1.0, -1.0, 0.0, 2.0, -2.0]]], "layers": [{"type": "batchnorm2d"}],
           "delta": [[[0.5, 0.0, 0.25, 1.0, 1.0]]]}
    trace = run(problem_of(doc))
    path = parse_path(trace, "batchnorm2d_1.grads.gamma[0]")
    lazy = _Explainer(trace, False).explain(path)
    assert lazy.zero_reasons == {"δ = 0": 1, "x̂ = 0": 1}
    assert lazy.term_count == 5 and len(lazy.terms) == 3
    assert lazy == _Explainer(trace, False, eager=True).explain(path)


def random_loss_doc(seed: int, loss: str, exact: bool) -> dict:
    """A map (or, flattened, vectors) into an element-wise loss: mse (each reduction) after a
    relu, bce after a sigmoid, bce_with_logits straight; some outputs equal their targets,
    and some inputs large enough to saturate the sigmoid (y = 0 or 1, log clamped at -100),
    so that some terms are zero."""
    rng = np.random.default_rng(seed)
    n, c, h, w = (int(v) for v in rng.integers(1, 4, size=4))
    x = np.asarray(_values(rng, (n, c, h, w), exact), dtype=object if exact else float)
    big = rng.random(x.shape) < 0.2
    x[big] = rng.choice([-800, -40, 40, 800], size=int(big.sum()))
    layers = {"mse": [{"type": "relu"}], "bce": [{"type": "sigmoid"}],
              "bce_with_logits": []}[loss]
    if rng.integers(2):
        layers.append({"type": "flatten"})
    if not layers:
        layers = [{"type": "flatten"}]
    doc = {"input": x.tolist(), "layers": layers}
    shape = _out_shape(doc)[1]
    if loss == "mse":
        target = np.asarray(_values(rng, shape, exact), dtype=object if exact else float)
        target[rng.random(shape) < 0.3] = 0  # equal to relu's zeros
        spec = {"type": "mse", "target": target.tolist(),
                "reduction": str(rng.choice(["half_sum", "sum", "mean"]))}
    else:
        target = rng.choice([0.0, 1.0, 0.25], size=shape)
        if loss == "bce_with_logits":
            target = np.where(rng.random(shape) < 0.2, -0.5, target)  # any real target
        spec = {"type": loss, "target": target.tolist(),
                "reduction": str(rng.choice(["mean", "sum"]))}
    return {**doc, "loss": spec}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("loss, exact", [("mse", False), ("mse", True), ("bce", False),
                                         ("bce_with_logits", False)])
def test_loss_explanations_from_columns_equal_those_from_every_term(seed, loss, exact):
    """An element-wise loss (a term per output element, as columns) is explained exactly as
    the list of all its terms: text, JSON, counts, zero reasons and total."""
    trace = run(problem_of(random_loss_doc(seed, loss, exact), exact))
    assert_columns_agree(trace, ("loss",), np.random.default_rng(6000 + seed),
                         bases=(False, True))


@pytest.mark.parametrize("loss, target, zero", [
    ("mse", [0.0, 0.5, 2.0], "(t - y)² = 0"),
    ("bce", [0.0, 1.0, 1.0], "-[t·log y + (1 - t)·log(1 - y)] = 0"),
    ("bce_with_logits", [1.0, 1.0, 0.0], "-[t·log σ(y) + (1 - t)·log(1 - σ(y))] = 0")])
def test_elementwise_loss_counts_its_zero_terms(loss, target, zero):
    """A term that is zero (y = t; bce's y = 1 with t = 1; a logit of 800 with t = 1) is
    counted under its expression, as the list of terms names it."""
    layer = {"mse": "relu", "bce": "sigmoid", "bce_with_logits": "flatten"}[loss]
    doc = {"input": [[[-1.0, 800.0, 0.5]]], "layers": [{"type": layer}],
           "loss": {"type": loss, "target": target if layer == "flatten" else [[target]]}}
    trace = run(problem_of(doc))
    path = parse_path(trace, "loss")
    lazy = _Explainer(trace, False).explain(path)
    assert lazy.zero_reasons == {zero: 1} and lazy.term_count == 3
    assert lazy == _Explainer(trace, False, eager=True).explain(path)


@pytest.mark.parametrize("path, message", [
    ("conv2d_1.kernel[0,0]", "unknown path 'conv2d_1.kernel'"),
    ("conv2d_2.grads.kernel[0,0]", "unknown path"),
    ("conv2d_1.grads.kernel[2,0]", "is outside 'conv2d_1.grads.kernel' of shape 2×2"),
    ("conv2d_1.grads.kernel[0]", "has shape 2×2: give 2 indices"),
    ("conv2d_1.grads.kernel[a,0]", "not whole numbers"),
    ("conv2d_1.grads.kernel[1 0]", "not whole numbers separated by commas"),
    ("conv2d_1.grads.kernel[0,,1]", "not whole numbers separated by commas"),
    ("conv2d_1.grads.kernel[0,1,]", "not whole numbers separated by commas"),
    ("conv2d_1.delta_in[-1,0]", "index [-1, 0] is outside 'conv2d_1.delta_in'"),
    ("loss", "no loss to explain"),
    ("conv2d_1.grads.bias", "conv2d_1 has no bias (the problem gives it none)"),
    ("conv2d_1.updated.bias", "conv2d_1 has no bias"),
    ("conv2d_1.grads.kernel[[0", "cannot read the path"),
    # the closing bracket left off: said, with the path closed
    ("conv2d_1.grads.kernel[0,1", "cannot read the path 'conv2d_1.grads.kernel[0,1': its '[' "
                                  "is not closed; hint: write it conv2d_1.grads.kernel[0,1]"),
    # an index in parentheses: the path with it in brackets
    ("conv2d_1.grads.kernel(0,1)", "unknown path 'conv2d_1.grads.kernel(0,1)'; hint: an "
                                   "element's index goes in brackets: conv2d_1.grads.kernel[0,1]"),
    ("conv2d_1.delta_in (1, 2)", "cannot read the path 'conv2d_1.delta_in (1, 2)'; hint: an "
                                 "element's index goes in brackets: conv2d_1.delta_in[1,2]"),
    ("conv2d_1.grads.kernal(0,1)", "hint: closest: conv2d_1.grads.kernel"),
])
def test_bad_paths_exit_2(path, message):
    result = invoke("explain", WORKED, path)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("path, line", [
    # its hint was "closest: conv2d_1.grads.kernel, …", another layer's
    ("relu_1.grads.kernel[0,0]", "error: PATH: relu_1 (relu) has no parameters, so no "
                                 "relu_1.grads.kernel: its paths are relu_1.output, "
                                 "relu_1.delta_out and relu_1.delta_in"),
    ("relu_1.grads", "no parameters, so no relu_1.grads: "),
    # an add's delta_in is one path per input
    ("skip.updated.x", "error: PATH: skip (add) has no parameters, so no skip.updated.x: its "
                       "paths are skip.output, skip.delta_out, skip.delta_in.relu_1 and "
                       "skip.delta_in.input"),
])
def test_a_parameter_of_a_layer_without_any_says_so(path, line, tmp_path):
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, -2], [3, 4]], "layers": [
        {"type": "conv2d", "kernel": [[1]]}, {"type": "relu"},
        {"type": "add", "name": "skip", "inputs": ["relu_1", "input"]}],
        "delta": [[1, 1], [1, 1]]}))
    result = invoke("explain", problem, path, *(["--lr", "0.1"] if "updated" in path else []))
    assert result.exit_code == 2
    assert line in result.output


@pytest.mark.parametrize("one_based", [False, True])
def test_a_whole_tensors_path_explains_each_of_its_elements(one_based):
    # the contract's paths name tensors too (conv2d_1.grads.kernel): it was "give an element"
    base = ["--one-based"] if one_based else []
    first = 1 if one_based else 0
    names = [f"conv2d_1.grads.kernel[{i + first},{j + first}]" for i in (0, 1) for j in (0, 1)]
    table = invoke("explain", WORKED, "conv2d_1.grads.kernel", *base)
    assert table.exit_code == 0, table.output
    assert [line.split()[1] for line in table.stdout.splitlines()
            if line.startswith("╭─")] == names
    data = json.loads(invoke("explain", WORKED, "conv2d_1.grads.kernel", "-f", "json",
                             *base).stdout)
    assert (data["path"], data["elements"]) == ("conv2d_1.grads.kernel", 4)
    assert [one["path"] for one in data["explained"]] == names
    # the worked example's dE/dw, element by element
    assert [round(one["total"], 6) for one in data["explained"]] == [
        0.044606, 0.094061, 0.011262, 0.068288]


def test_a_big_tensors_path_explains_its_first_elements_and_says_so():
    # a 3-channel 6×6 input's delta has 108 elements (the worked example's 5×5 has 25: all)
    result = invoke("explain", SAMPLES / "multichannel.json", "conv.delta_in", "-f", "text")
    assert result.exit_code == 0, result.output
    heads = [line for line in result.stdout.splitlines() if line.startswith("conv.delta_in[")]
    assert (len(heads), heads[0], heads[-1]) == (25, "conv.delta_in[0,0,0]",
                                                 "conv.delta_in[0,4,0]")  # row-major
    assert result.stderr == ("note: conv.delta_in has 108 elements: the first 25 are "
                             "explained; give an element's path for another, e.g. "
                             "conv.delta_in[2,5,5]\n")
    assert invoke("explain", WORKED, "conv2d_1.delta_in").stderr == ""


@pytest.mark.parametrize("index", ["[1,0]", "[ 1 , 0 ]", "[1][0]", "[+1,0]", "[1 0]", "[1,,0]",
                                   "[1,0,]", "[1;0]", "[1.0,0]"])
def test_explain_reads_an_index_as_check_reads_it_in_an_answers_file(index):
    from cnngrad.errors import CnnGradError
    from cnngrad.teach.check import split_key

    path = "conv2d_1.grads.kernel" + index
    try:
        split_key(path, file="answers.json")
        check_reads_it = True
    except CnnGradError:
        check_reads_it = False
    result = invoke("explain", WORKED, path, "-f", "text")
    assert result.exit_code == (0 if check_reads_it else 2), result.output
    if check_reads_it:
        assert result.output.rstrip().splitlines()[-1].startswith("dE/dw[1,0] = 0.011262")


@pytest.mark.parametrize("index", ["", "[]", "[ ]", "[0]", "[5]", "[1234567890123456789012]"])
@pytest.mark.parametrize("path", ["conv2d_1.grads.bias", "loss"])
def test_a_number_is_read_without_an_index_by_explain_and_check(tmp_path, path, index):
    # the network's bias is a number, and so is its loss: explain took `bias[]` (and its
    # hint for a 24-digit index suggested it), where check refused it with a hint of two
    # indices; now both read a number without an index only, and say so
    answers = tmp_path / "a.json"
    answers.write_text(json.dumps({path + index: 0.5}), encoding="utf-8")
    checked = invoke("check", NETWORK, str(answers))
    explained = invoke("explain", NETWORK, path + index, "-f", "text")
    assert (checked.exit_code == 2) == (explained.exit_code == 2) == bool(index), \
        (checked.output, explained.output)
    if index:
        assert explained.stderr == (f"error: PATH: {path} is a single number: give it without "
                                    "an index\n")
        said = {"[]": "empty element index", "[ ]": "empty element index"}.get(
            index, f"'{path}' is a single number: no index")
        assert said in checked.stderr, checked.stderr
        assert "hint" not in checked.stderr or \
            f"or {path} alone when it is a single number" in checked.stderr


def test_unknown_path_names_the_closest():
    result = invoke("explain", WORKED, "conv2d_1.kernel[0,0]")
    assert "closest: conv2d_1.grads.kernel" in result.output


def test_unknown_path_hint_is_short_and_says_where_every_path_is_listed():
    result = invoke("explain", NETWORK, "conv2d_1.kernal[0,0]")
    [line] = result.stderr.splitlines()
    hint = line.partition("; hint: ")[2]
    assert hint.startswith("closest: conv2d_1.grads.kernel")
    assert hint.endswith("(explain without PATH lists every path)") and len(hint) <= 112


def test_a_merge_layers_delta_in_whole_is_told_it_is_one_tensor_per_input(tmp_path):
    # the closest spellings were given; a path per input is what explain takes
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({
        "input": [[1, 2]],
        "layers": [{"type": "conv2d", "name": "a", "kernel": [[2]], "input": "input"},
                   {"type": "conv2d", "name": "b", "kernel": [[3]], "input": "input"},
                   {"type": "add", "name": "s", "inputs": ["a", "b"]}],
        "delta": [[1, -1]]}), encoding="utf-8")
    result = invoke("explain", problem, "s.delta_in[0,0]")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: PATH: unknown path 's.delta_in'; hint: s.delta_in is one tensor per input, "
        "each explained on its own: s.delta_in.a[0,0], s.delta_in.b[0,0]"]


def test_an_index_of_19_or_more_digits_is_out_of_range():
    # docs/limits.md: an index of 19 or more digits is "outside", not "not whole numbers",
    # in check's words (it was "index out of range in '[0,12…'" there, without the axis here)
    result = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,1234567890123456789]")
    assert result.exit_code == 2
    said = ("index [0, 1234567890123456789] is outside 'conv2d_1.grads.kernel' of shape 2×2: "
            "its second index is 1234567890123456789 (indices 0 to 1 along an axis of 2)")
    assert result.stderr == f"error: PATH: {said}\n"
    answers = json.dumps({"conv2d_1.grads.kernel[0,1234567890123456789]": 0.1})
    checked = runner.invoke(app, ["check", str(WORKED), "-"], input=answers)
    assert checked.exit_code == 2 and said in checked.stderr
    # past any number's digits: said without reading it
    digits = "9" * 700
    assert "(an index of more than 640 digits)" in runner.invoke(
        app, ["check", str(WORKED), "-"],
        input=json.dumps({f"conv2d_1.grads.kernel[0,{digits}]": 0.1})).stderr
    assert invoke("explain", WORKED, f"conv2d_1.grads.kernel[0,{digits}]").stderr.startswith(
        "error: PATH: index [0,999")


def test_one_based_rejects_index_zero():
    result = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,1]", "--one-based")
    assert result.exit_code == 2 and "indices 1 to 2" in result.output


def test_bad_format_exits_2():
    assert invoke("explain", WORKED, "loss", "--format", "xml").exit_code == 2


# --------------------------------------------------------------------------- the command


def test_without_a_path_it_lists_every_path():
    result = invoke("explain", NETWORK)
    assert result.exit_code == 0, result.output
    assert re.search(r"conv2d_1\.grads\.kernel\s+2×2", result.output)
    assert re.search(r"^loss\s+a number$", result.output, re.M)


def test_json_has_every_term():
    result = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["terms"][0]["factors"] == [{"symbol": "δ[0,2]", "value": 0.0686},
                                          {"symbol": "o[0,2]", "value": 0.88}]
    assert doc["zero_terms"] == 12 and doc["total"] == pytest.approx(0.044606, abs=5e-7)
    assert doc == json.loads(json.dumps(explanation_dict(
        explain(run(load_problem(WORKED)), "conv2d_1.grads.kernel[0,0]"))))


def test_json_and_text_do_not_import_rich():
    code = ("import sys; from cnngrad.problem import load_problem; from cnngrad.network import "
            "run; from cnngrad.teach.explain import explain; from cnngrad.render.explain import "
            "explanation_json, explanation_text; e = explain(run(load_problem(sys.argv[1])), "
            "'conv2d_1.delta_in[1,2]'); explanation_json(e); explanation_text(e); "
            "assert 'rich' not in sys.modules, 'rich imported'")
    subprocess.run([sys.executable, "-c", code, WORKED], check=True, cwd=ROOT)


@pytest.mark.parametrize("command, says", [
    ("explain", "lets PATH be <layer>.updated.<param>[...]"),
    ("check", "lets answers give <layer>.updated.<param>"),
])
def test_lr_help_says_what_the_rate_is_for_in_that_command(command, says):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert says in " ".join(result.output.split())


def test_help_has_examples_on_the_samples():
    result = invoke("explain", "--help")
    assert result.exit_code == 0, result.output
    assert "cnngrad explain samples/stackexchange.json" in result.output
    assert "cnngrad explain samples/stackexchange-network.json" in result.output


def test_every_help_example_runs():
    from cnngrad.cli.explain import EPILOG

    examples = [line.split()[2:] for line in EPILOG.splitlines()
                if line.strip().startswith("cnngrad explain")]
    assert len(examples) >= 6
    for args in examples:
        result = runner.invoke(app, ["explain", str(ROOT / args[0]), *args[1:]])
        assert result.exit_code == 0, (args, result.output)


def test_long_lists_are_cut_with_max_terms():
    result = invoke("explain", WORKED, "conv2d_1.output[0,0]", "--format", "text",
                    "--max-terms", "2")
    assert result.exit_code == 0, result.output
    assert "+ 2 more nonzero terms, together" in result.output
    # one left over is one term, one cell
    one = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--max-terms", "3").output
    assert "+ 1 more nonzero term, together -0.04767" in one
    pool = invoke("explain", ROOT / "samples" / "pool-ties.json", "maxpool2d_1.output[0,0]",
                  "--max-terms", "3").output
    assert "+ 1 more cell, the largest" in pool


def test_json_lists_max_terms_and_sums_the_rest():
    path = "conv2d_1.grads.kernel[0,0]"
    result = invoke("explain", WORKED, path, "--format", "json", "--max-terms", "1")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [t["value"] for t in doc["terms"]] == [pytest.approx(0.060368)]
    assert doc["more_terms"]["count"] == 3
    assert doc["more_terms"]["total"] == pytest.approx(0.022568 + 0.00934 - 0.04767)
    assert doc["zero_terms"] == 12
    every = json.loads(invoke("explain", WORKED, path, "-f", "json", "--max-terms", "1",
                              "--all-terms").output)
    assert len(every["terms"]) == 4 and "more_terms" not in every


def test_a_max_pool_cut_by_max_terms_gives_the_largest_of_the_rest_not_their_sum():
    # window [1 3; 3 0]: "+ 3 more nonzero terms, together 6" hid the maximum, summed a
    # max's cells and called a 0 nonzero
    path = ROOT / "samples" / "pool-ties.json"
    result = invoke("explain", path, "maxpool2d_1.output[0,0]", "--format", "text",
                    "--max-terms", "1")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-3:] == ["  + 3 more cells, the largest 3", "",
                                               "x[0,0] = 3.000000   (the largest of 4)"]
    doc = json.loads(invoke("explain", path, "maxpool2d_1.output[0,0]", "-f", "json",
                            "--max-terms", "1").output)
    assert doc["operation"] == "max" and doc["more_terms"] == {"count": 3, "largest": 3.0}


def test_all_terms_lists_every_term_in_text():
    result = invoke("explain", WORKED, "conv2d_1.output[0,0]", "--format", "text",
                    "--max-terms", "2", "--all-terms")
    assert result.exit_code == 0, result.output
    assert "more nonzero terms" not in result.output
    assert result.output.count(" = ") >= 4 + 1


def test_bench_explain_quick_runs():
    from cnngrad.bench_explain import measure, report

    rows = measure(repeat=1, quick=True)
    assert [row["terms"] for row in rows[1:3]] == [256, 256]
    assert "slowest explain step" in report(rows)


# --------------------------------------------------------------------------- textbook steps


def test_correlate_valid_against_a_plain_loop():
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(5, 6)), rng.normal(size=(2, 3))
    expected = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            for m in range(2):
                for n in range(3):
                    expected[i, j] += kernel[m, n] * image[i + m, j + n]
    np.testing.assert_allclose(correlate_valid(image, kernel), expected, rtol=1e-14)


def test_worked_example_steps():
    trace = run(load_problem(WORKED))
    (steps,) = trace_steps(trace).values()
    by_caption = dict(steps)
    np.testing.assert_array_equal(by_caption["kernel rotated 180°"],
                                  [[0.62, -0.51], [0.15, -0.13]])
    padded = next(m for c, m in steps if c.startswith("δ padded for the full convolution"))
    assert padded.shape == (6, 6) and padded[1, 3] == 0.0686
    caption, final = steps[[c for c, _ in steps].index(next(
        c for c, _ in steps if c.startswith("δ_in")))]
    np.testing.assert_allclose(final, trace.shown(trace.layers[0].delta_in), atol=1e-15)
    np.testing.assert_allclose(steps[-1][1], trace.layers[0].grads["kernel"], atol=1e-15)


def test_stride_inserts_zeros_and_padding_is_cropped():
    doc = {"input": np.arange(25).reshape(5, 5).tolist(),
           "layers": [{"type": "conv2d", "kernel": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
                       "stride": 2, "padding": 1}],
           "delta": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    trace = run(problem_of(doc, exact=True))
    textbook = conv_textbook(trace.layers[0].spec, trace.layers[0].input,
                             trace.layers[0].delta_out)
    captions = [c for c, _ in textbook.steps]
    spread = dict(textbook.steps)[next(c for c in captions if "zeros inserted" in c)]
    assert spread.shape == (5, 5) and spread[0, 1] == 0 and spread[2, 2] == 5
    assert any("cropped to the input" in c for c in captions)
    assert all(isinstance(v, (Fraction, int)) for v in textbook.delta_in.flat)
    assert (textbook.delta_in == trace.layers[0].delta_in).all()


def test_the_padding_step_names_the_input_no_window_reaches():
    # docs/explain.md's example: a 5×5 input, a 2×2 kernel at stride 2 leaves the last row
    # and column under no window; the padded δ gets a row below and a column right for them
    doc = {"input": [[1, 2, 0, 1, 3], [0, 1, 2, 2, 1], [3, 2, 1, 0, 1], [1, 1, 0, 2, 1],
                     [2, 0, 1, 1, 0]],
           "layers": [{"type": "conv2d", "kernel": [[1, 0], [2, -1]], "stride": 2}],
           "delta": [[1, 2], [3, 4]]}
    trace = run(problem_of(doc, exact=True))
    layer = trace.layers[0]
    captions = [c for c, _ in conv_textbook(layer.spec, layer.input, layer.delta_out).steps]
    assert ("δ padded for the full convolution: 1 zero row and 1 zero column each side "
            "(+1 below, +1 right: input that no window reaches)") in captions


def test_the_kernel_gradients_correlation_is_done_on_the_input_the_windows_reach():
    # "dE/dw = o ⋆ δ with zeros inserted (valid correlation)" showed 2×2 where 5×5 ⋆ 3×3 is
    # 3×3: the row and column no window reaches were cropped without a word
    doc = {"input": [[1, 2, 0, 1, 3], [0, 1, 2, 2, 1], [3, 2, 1, 0, 1], [1, 1, 0, 2, 1],
                     [2, 0, 1, 1, 0]],
           "layers": [{"type": "conv2d", "kernel": [[1, 0], [2, -1]], "stride": 2}],
           "delta": [[1, 2], [3, 4]]}
    layer = run(problem_of(doc, exact=True)).layers[0]
    steps = conv_textbook(layer.spec, layer.input, layer.delta_out).steps
    captions = [caption for caption, _ in steps]
    at = captions.index("input o cropped to what the windows reach (−1 below, −1 right: input "
                        "that no window reaches)")
    cropped, spread = steps[at][1], dict(steps)[next(c for c in captions
                                                     if "zeros inserted" in c)]
    assert captions[at + 1] == "dE/dw = o ⋆ δ with zeros inserted (valid correlation)"
    assert (steps[at + 1][1] == correlate_valid(cropped, spread)).all()
    assert steps[at + 1][1].tolist() == [[14, 10], [7, 16]]


@pytest.mark.parametrize("seed", range(30))
def test_textbook_route_equals_the_engine_on_random_problems(seed):
    exact = seed % 3 == 0
    trace = run(problem_of(random_doc(seed, exact), exact))
    for layer in trace.layers:
        textbook = layer_textbook(layer, trace.layout)
        if textbook is None:
            continue
        # each correlation shown for the kernel gradient is the size of the (dilated)
        # kernel, as a hand computation of it from the steps shown would be
        weight = getattr(layer.spec, "weight", None)
        if weight is not None and layer.spec.type == "conv2d":
            (dh, dw), (kh, kw) = layer.spec.dilation, weight.shape[2:]
            for caption, matrix in textbook.steps:
                if "(valid correlation)" in caption and caption.startswith("dE/dw"):
                    assert np.shape(matrix) == ((kh - 1) * dh + 1, (kw - 1) * dw + 1), caption
        if exact:
            assert (textbook.delta_in == layer.delta_in).all(), layer.name
            assert all(isinstance(v, (Fraction, int)) for v in textbook.delta_in.flat)
        else:
            np.testing.assert_allclose(textbook.delta_in, layer.delta_in, rtol=1e-10,
                                       atol=1e-12, err_msg=f"seed {seed}: {layer.name}")
        for key, grad in textbook.grads.items():
            np.testing.assert_allclose(np.asarray(grad, dtype=float),
                                       np.asarray(layer.grads[key], dtype=float), rtol=1e-10,
                                       atol=1e-12, err_msg=f"seed {seed}: {layer.name}.{key}")
        # the last δ_in steps, one per (n, c), are the engine's input delta
        finals = [m for c, m in textbook.steps if c.startswith("δ_in")]
        assert len(finals) == layer.input.shape[0] * layer.input.shape[1]
        np.testing.assert_allclose(np.asarray(finals, dtype=float).reshape(layer.input.shape),
                                   np.asarray(layer.delta_in, dtype=float), rtol=1e-10,
                                   atol=1e-12)


def test_pool_steps_mask_and_divisors():
    trace = run(load_problem(TIES))
    layer = trace.layers[0]
    steps = dict(maxpool_textbook(layer.spec, layer.input, layer.delta_out).steps)
    mask = steps["argmax mask: the share of its window's delta each cell takes (ties: first)"]
    np.testing.assert_array_equal(mask, [[0, 1, 1, 0], [0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    doc = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
           "layers": [{"type": "avgpool2d", "size": 2, "padding": 1,
                       "count_include_pad": False}], "delta": [[1, 2], [3, 4]]}
    avg = run(problem_of(doc)).layers[0]
    steps = avgpool_textbook(avg.spec, avg.input, avg.delta_out).steps
    assert steps[0][0].startswith("divisors") and steps[0][1].tolist() == [[1, 2], [2, 4]]


@pytest.mark.parametrize("sample, panel", [("resnet-block", "batch norm"),
                                           ("dropout-classifier", "dropout"),
                                           ("dropout-classifier", "softmax")])
def test_show_steps_help_names_every_kind_of_panel_it_adds_steps_to(sample, panel):
    steps = invoke("backward", str(SAMPLES / f"{sample}.json"), "--show-steps")
    assert steps.exit_code == 0 and "steps: the textbook route" in steps.output
    help_text = " ".join(invoke("backward", "--help").output.split())
    assert f"{panel}" in help_text.split("--show-steps", 1)[1].split("--full", 1)[0]


def test_backward_show_steps_adds_a_steps_section():
    result = invoke("backward", str(SAMPLES / "stackexchange-network.json"), "--show-steps")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "steps: the textbook route" in out and "kernel rotated 180°" in out
    assert "argmax mask" in out and out.count("steps: the textbook route") == 2
    plain = invoke("backward", str(SAMPLES / "stackexchange-network.json"))
    assert "steps: the textbook route" not in plain.output
    refused = invoke("backward", WORKED, "--show-steps", "--format", "json")
    assert refused.exit_code == 2 and "--format table" in refused.output


@pytest.mark.parametrize("columns, widest", [("80", 80), ("60", 60), ("200", 100)])
def test_text_format_wraps_its_prose_to_the_width_it_is_read_at(monkeypatch, columns, widest):
    # -f text in an 80-column terminal: the title and the notes wrap at 80 (at most 100 in a
    # file); only the term lines stay whole
    monkeypatch.setenv("COLUMNS", columns)
    result = invoke("explain", NETWORK, "conv2d_1.output[0,0]", "-f", "text")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    prose = [line for line in lines if "=" not in line]
    assert max(len(line) for line in prose) <= widest < max(len(line) for line in prose) + 20
    assert "one output cell of conv2d_1, the sum of the kernel times the input window under" \
        in " ".join(" ".join(lines).split())


@pytest.mark.parametrize("columns, widest", [("80", 80), ("60", 60), ("200", 100)])
def test_a_long_formula_wraps_under_its_right_side(monkeypatch, columns, widest):
    # the max-pool formula is 102 characters: it wraps at spaces, never inside an index
    monkeypatch.setenv("COLUMNS", columns)
    result = invoke("explain", str(SAMPLES / "pool-ties.json"), "maxpool2d_1.delta_in[0,0]",
                    "-f", "text")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= widest
    start = next(k for k, line in enumerate(lines) if line.startswith("dE/do[0,0] = Σ"))
    end = lines.index("", start)
    formula = lines[start:end]
    assert len(formula) >= 2
    assert all(line.startswith(" " * len("dE/do[0,0] = ")) and line[13] != " "
               for line in formula[1:])
    assert " ".join(line.strip() for line in formula) == (
        "dE/do[0,0] = Σ over the windows containing o[0,0] of δ[window]·[o[0,0] is the "
        "window's chosen maximum]")


def test_the_readme_explain_example_shows_the_real_term_lines():
    # the README's `cnngrad explain ... --format text` block, line for line where it shows one
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ cnngrad explain samples/stackexchange.json", 1)[1].split("```")[0]
    shown = [line for line in block.splitlines()[1:] if line.strip() and line != "..."]
    result = invoke("explain", WORKED, "conv2d_1.grads.kernel[0,0]", "--format", "text")
    assert result.exit_code == 0, result.output
    assert len(shown) >= 6
    for line in shown:
        assert line in result.output.splitlines(), line


TERM_ROWS = [
    ("δ[0,0]·o[0,0]", "=", "0.0686 × 0.88", "=", "0.060368", ""),
    ("δ[0,1]·o[0,1]", "=", "(-1.25) × (-0.5)", "=", "0.625", "(the window's maximum)"),
    ("δ[1,0]", "", "", "=", "-3", "(a tie of 2; rule 'first': it takes the whole delta)"),
    ("(t[0] - y[0])²", "=", "2.5 × 2.5", "=", "6.25", ""),
]


def _laid_out(renderable, width: int, colour: bool) -> tuple[str, object]:
    import io

    from rich.console import Console
    from rich.measure import Measurement

    console = Console(file=io.StringIO(), width=width, force_terminal=colour,
                      color_system="truecolor" if colour else None, no_color=not colour)
    measure = Measurement.get(console, console.options.update_width(4000), renderable)
    console.print(renderable)
    return console.file.getvalue(), measure


def _term_cells(rows: str) -> list[tuple[str, ...]]:
    if rows == "sample":
        explanation = explain(run(load_problem(NETWORK)), "conv2d_1.grads.kernel[0,0]")
        cells = []
        for term in explanation.terms:
            symbols, numbers, value = term_parts(term)
            cells.append((symbols, "=" if numbers else "", numbers, "=", value,
                          f"({term.note})" if term.note else ""))
        return cells
    cells = list(TERM_ROWS)
    if rows == "line break":  # a cell of two lines makes its row two lines high
        cells[1] = cells[1][:5] + ("(first line\nsecond line)",)
    if rows == "markup":  # shown as it is, never read as a markup tag
        cells[1] = cells[1][:5] + ("(the window of x[i,j])",)
    return cells


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("width", [50, 80, 120])
@pytest.mark.parametrize("rows", ["sample", "synthetic", "line break", "markup"])
def test_term_rows_that_fit_are_laid_out_as_a_table_of_a_row_per_term(rows, width, colour):
    # while a line per term fits, the listing stands for a Rich table of a row per term:
    # the same lines (in colour too), from its one-row table of whole columns when the rows
    # fit the width, from the table itself when a cell holds a line break
    from cnngrad.render.explain import TermRows

    listing = TermRows(_term_cells(rows))
    if listing.layout(width) != "lines":
        assert listing.natural_width > width
        return
    assert _laid_out(listing, width, colour)[0] == _laid_out(listing.row_table(), width,
                                                             colour)[0]
    assert _laid_out(listing, width, colour)[0] == _laid_out(listing.stacked(), width,
                                                             colour)[0] or not listing._fits(width)
    fits = rows in ("sample", "synthetic", "markup") and listing.natural_width <= width
    assert listing._fits(width) is fits
    if rows == "markup" and width >= 80:
        assert "x[i,j]" in _laid_out(listing, width, colour)[0].replace("\n", "")
    if rows == "synthetic":  # both ways are taken: 120 columns fit these rows, 80 do not
        assert listing._fits(120) and not listing._fits(80)


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("width", [16, 24, 50, 80, 120])
@pytest.mark.parametrize("rows", ["sample", "synthetic", "line break", "markup"])
def test_term_rows_never_cut_a_word_at_any_width(rows, width, colour):
    # a Rich table too narrow for its rows cuts words ("δ[0,…", "(0.226…"): the listing wraps
    # at spaces instead, and claims as its narrowest width the one that holds its longest word
    from cnngrad.render.explain import TermRows

    from rich.cells import cell_len

    cells = _term_cells(rows)
    listing = TermRows(cells)
    text, measure = _laid_out(listing, width, colour)
    text = _plain(text)
    assert (measure.minimum, measure.maximum) == (listing.minimum_width, listing.natural_width)
    longest = max(cell_len(word) for row in cells for cell in row for word in cell.split())
    assert listing.minimum_width == min(listing.natural_width, longest + 4)
    if width >= listing.minimum_width:
        assert max(cell_len(line) for line in text.splitlines()) <= width
        # every word of every cell, whole, and nothing else
        assert sorted(text.split()) == sorted(w for row in cells for c in row for w in c.split())
    assert "…" not in text


def test_term_rows_wrap_the_notes_then_lay_out_a_block_per_term():
    from cnngrad.render.explain import TermRows

    listing = TermRows(list(TERM_ROWS))
    assert (listing.natural_width, listing.minimum_width) == (102, 17)
    assert [listing.layout(width) for width in (102, 101, 58, 57)] == [
        "lines", "notes wrapped", "notes wrapped", "blocks"]
    text, _ = _laid_out(listing, 70, False)
    assert text.splitlines() == [
        "δ[0,0]·o[0,0]   =  0.0686 × 0.88     =  0.060368",
        "δ[0,1]·o[0,1]   =  (-1.25) × (-0.5)  =     0.625  (the window's",
        "                                                  maximum)",
        "δ[1,0]                               =        -3  (a tie of 2; rule",
        "                                                  'first': it takes",
        "                                                  the whole delta)",
        "(t[0] - y[0])²  =  2.5 × 2.5         =      6.25",
    ]
    text, _ = _laid_out(listing, 30, False)
    assert text.splitlines() == [
        "δ[0,0]·o[0,0]",
        "  = 0.0686 × 0.88",
        "  = 0.060368",
        "δ[0,1]·o[0,1]",
        "  = (-1.25) × (-0.5)",
        "  = 0.625   (the window's",
        "    maximum)",
        "δ[1,0]",
        "  = -3   (a tie of 2; rule",
        "    'first': it takes the",
        "    whole delta)",
        "(t[0] - y[0])²",
        "  = 2.5 × 2.5",
        "  = 6.25",
    ]


# --------------------------------------------------------------------------- 80 columns


def _panel_at(explanation, width: int) -> tuple[str, object]:
    """The panel as ``render_rich`` prints it to a ``width``-column terminal (recorded), and
    its measure (a minimum above ``width`` would make ``render_rich`` print it wider)."""
    import io

    from rich.console import Console
    from rich.measure import Measurement

    from cnngrad.render.explain import explanation_panel

    panel = explanation_panel(explanation)
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    measure = Measurement.get(console, console.options.update_width(4000), panel)
    console.print(panel)
    return console.export_text(), measure


def _text_words(text: str) -> list[str]:
    """The words of ``-f text`` but its first line (the path, the panel's title) and bullets."""
    return sorted(word for line in text.splitlines()[1:]
                  for word in (line[2:] if line.startswith("- ") else line).split())


def _panel_words(text: str) -> list[str]:
    """The words inside the panel: borders and bullets left out."""
    return sorted(word for line in text.splitlines()[1:-1]
                  for word in line.strip("│ ").replace("•", " ").split())


@pytest.mark.parametrize("problem", EVERY_PROBLEM)
def test_every_explanation_fits_80_columns_with_every_number_whole(problem):
    # every path of every sample (and of a problem of every layer type), at its first and
    # last element: the panel fits an 80-column terminal without being printed wider, and it
    # holds exactly the words of -f text (which never cuts one): no number or symbol cut
    # ("(0.226…", "relu'(o[1,…"), none left out
    from rich.cells import cell_len

    for path, explanation in every_explanation(problem):
        shown, measure = _panel_at(explanation, 80)
        assert measure.minimum <= 80, path
        assert max(cell_len(line) for line in shown.splitlines()) <= 80, path
        assert _panel_words(shown) == _text_words(explanation_text(explanation)), path


@pytest.mark.parametrize("problem, path, whole", [
    ("resnet-block.json", "bn_a.delta_in[1,1,2]",
     ["(-½·(-0.148369)·(0.226685", "(-(-1.936478)/√(0.226685", "2·(-0.403737)/16"]),
    ("resnet-block.json", "relu_a.delta_in[1,1,3]", ["δ[1,1,3]·relu'(o[1,1,3])"]),
    ("dropout-classifier.json", "log_softmax_1.delta_in[1,0]", ["δ[1,0]·∂x[1,0]/∂o[1,0]"]),
])
def test_explain_at_80_columns_prints_numbers_and_symbols_whole(problem, path, whole):
    # the paths a narrow terminal cut: the term lines are laid out again, never cut
    from rich.cells import cell_len

    result = runner.invoke(app, ["explain", str(SAMPLES / problem), path],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(cell_len(line) for line in lines) == 80
    words = " ".join(lines).replace("│", " ").split()
    for word in whole:
        assert word in words
    assert not re.search(r"…(?=[\s│])", result.output)  # a word cut short ("(0.226… ")


def test_a_layer_name_longer_than_the_panel_folds_instead_of_widening_it(tmp_path):
    # a 68-character name in the legend ("δ   dE/dx = <name>.delta_out") was one word wider
    # than 80 columns: the panel grew to 85 and a terminal folded every line of it
    from rich.cells import cell_len

    name = "a_really_long_layer_name_for_the_first_convolution_of_the_network_x"
    doc = json.loads((SAMPLES / "stackexchange.json").read_text())
    problem = {"input": doc["input"], "layers": [{"type": "conv2d", "name": name,
                                                  "kernel": doc["kernel"]}],
               "delta": doc["delta"]}
    path = tmp_path / "long.json"
    path.write_text(json.dumps(problem))
    result = runner.invoke(app, ["explain", str(path), f"{name}.grads.kernel[0,0]"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(cell_len(line) for line in lines) == 80
    # the name folded, whole: the legend's two lines join to it, the numbers untouched
    inner = [line.strip("│").rstrip() for line in lines]
    at = next(i for i, line in enumerate(inner) if line.startswith(" δ   dE/dx ="))
    assert (inner[at + 1].strip() + inner[at + 2].strip()) == f"{name}.delta_out"
    assert "dE/dw[0,0] = 0.044606" in result.output


def test_the_docs_80_column_example_shows_the_real_lines():
    # docs/explain.md's panel at 80 columns, line for line where it shows one
    docs = (ROOT / "docs" / "explain.md").read_text(encoding="utf-8")
    command = "$ cnngrad explain samples/resnet-block.json 'bn_a.delta_in[1,1,2]'"
    shown = [line for line in docs.split(command, 1)[1].split("```")[0].splitlines()[1:]
             if line.strip() and line != "..."]
    result = runner.invoke(app, ["explain", str(SAMPLES / "resnet-block.json"),
                                 "bn_a.delta_in[1,1,2]"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert len(shown) >= 8
    for line in shown:
        assert line in result.output.splitlines(), line


# --------------------------------------------------------------------------------------
# explain's backward pass stops at the explained layer


@pytest.mark.parametrize("problem", EVERY_PROBLEM)
def test_a_run_stopped_at_the_explained_layer_explains_every_path_the_same(problem):
    """Every path whose layer's own backward step is skipped (run(stop_before=...)) gives the
    explanation of the whole run, and the stopped run still knows every path and shape."""
    spec = load_problem(problem)
    whole = run(spec, lr=0.1)
    stopped = {}
    for path, explanation in every_explanation(problem, lr=0.1):
        layer = layer_explained(spec, path)
        if layer is None:
            continue
        if layer not in stopped:
            stopped[layer] = run(load_problem(problem), lr=0.1, stop_before=layer)
            assert known_paths(stopped[layer]) == known_paths(whole)
            # its own backward step did not run, nor any earlier layer's
            names = [trace.name for trace in stopped[layer].layers]
            for earlier in stopped[layer].layers[:names.index(layer) + 1]:
                assert earlier.delta_in is None and earlier.grads == {}
        assert explanation_dict(explain(stopped[layer], path)) == \
            explanation_dict(explanation), path
    assert stopped, "no path of the problem stopped early"


@pytest.mark.parametrize("path, layer", [
    ("conv2d_1.grads.kernel[0,0]", "conv2d_1"), ("conv2d_1.delta_in[1,2]", "conv2d_1"),
    ("conv2d_1.output[0,0]", "conv2d_1"), (" conv2d_1.delta_out [0][0] ", "conv2d_1"),
    ("conv2d_1.updated.kernel[0,0]", None), ("loss", None), ("conv2d_9.delta_in[0,0]", None),
    ("conv2d_1.gradz.kernel[0,0]", None), ("conv2d_1", None), ("[0]", None)])
def test_the_layer_explained_is_read_from_the_path(path, layer):
    assert layer_explained(load_problem(WORKED), path) == layer


def test_explain_cli_stops_before_the_explained_layer(monkeypatch):
    """The command skips the explained conv's own backward step, and the text is the one the
    whole run gives."""
    from cnngrad.families.conv2d import Conv2d

    calls = []
    original = Conv2d.backward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Conv2d, "backward", counted)
    args = ["explain", WORKED, "conv2d_1.grads.kernel[0,1]", "-f", "text"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == []
    whole = explanation_text(explain(run(load_problem(WORKED)), "conv2d_1.grads.kernel[0,1]"))
    assert result.output.strip() == whole.strip()
    assert "0.094061" in result.output


def test_terms_that_cancel_say_their_total_is_rounding_noise():
    # Σδ = 0.1 + 0.2 - 0.3 is 0, but its float terms add up to 5.55e-17, rounding noise
    doc = {"input": [[1, 2, 3]], "kernel": [[1]], "bias": 0, "delta": [[0.1, 0.2, -0.3]]}
    explanation = explain(run(problem_of(doc)), "conv2d_1.grads.bias")
    assert explanation.total == 0.1 + 0.2 - 0.3 != 0
    assert any(note.startswith("The terms cancel to within float64 rounding")
               for note in explanation.notes)
    assert "The terms cancel" in explanation_dict(explanation)["notes"][-1]
    assert "may differ in them" in explanation_text(explanation)
    # the same terms in exact arithmetic add up to 0: nothing to say
    exact = explain(run(problem_of(doc, exact=True)), "conv2d_1.grads.bias")
    assert exact.total == 0 and not any("cancel" in note for note in exact.notes)
    # a total that does not cancel says nothing of the kind
    worked = explain(run(load_problem(WORKED)), "conv2d_1.grads.kernel[0,0]")
    assert not any("cancel" in note for note in worked.notes)


@pytest.mark.parametrize(("values", "cancels"), [
    ([0.1, 0.2, -0.3], True),  # 5.55e-17, within 3·2⁻⁵²·0.6
    # a dense layer's input delta after a softmax, true value 0: 2.5e-17 from terms whose own
    # rounding came from upstream (63 ulps of their sum, past the bound of adding two terms)
    ([-8.8924e-4, 8.8924e-4 + 2.5e-17], True),
    ([1e-3, -1e-3 + 1e-14], False),  # eleven digits cancelled: not yet noise
    ([1.0, 2.0], False),
    ([1.0, -1.0], False),  # exactly 0: nothing to say
    ([1e-3, -1e-3 + 1e-12], False),  # small, but far above the rounding of these terms
    ([], False),
])
def test_cancels_is_the_rounding_bound(values, cancels):
    from cnngrad.teach.explain import _cancels

    total = 0
    for value in values:
        total = total + value
    assert _cancels(values, float(total)) is cancels
    assert _cancels([Fraction(1, 3), Fraction(-1, 3)], Fraction(0)) is False


# --------------------------------------------------------------------------------------
# what made a term zero, when its zero factor is an expression (y - t, (t - y)², σ(y) - t)


@pytest.mark.parametrize("loss, path, reason", [
    ({"type": "mse", "target": [[1, 0]]}, "relu_1.delta_out[0,0]", "y - t = 0"),
    ({"type": "mse", "target": [[1, 0]]}, "loss", "(t - y)² = 0"),
    ({"type": "mse", "reduction": "sum", "target": [[1, 0]]}, "loss", "(t - y)² = 0"),
    ({"type": "bce_with_logits", "target": [[1, 0]]}, "relu_1.delta_out[0,0]",
     "σ(y) - t = 0"),
])
def test_a_zero_expression_factor_is_named_whole(loss, path, reason):
    # y = t at [0,0]: the term is zero because y - t is, not because y is ("y = 0", y is 1),
    # and the reason's brackets are balanced (not "(t = 0" or "σ(y = 0")
    doc = {"input": [[1 if loss["type"] == "mse" else 800, 2]], "layers": [{"type": "relu"}],
           "loss": loss}
    explanation = explain(run(problem_of(doc)), path)
    assert explanation.zero_terms == 1
    assert explanation.zero_reasons == {reason: 1}
    assert f"+ 1 term that is 0 ({reason})" in explanation_text(explanation)


def test_a_plain_zero_factor_is_still_named_by_its_symbol():
    explanation = explain(run(load_problem(WORKED)), "conv2d_1.grads.kernel[0,0]")
    assert explanation.zero_reasons == {"δ = 0": 12}


@pytest.mark.parametrize("target, batched", [(1, False), ([1, 0], True)])
def test_cross_entropy_gradient_note_uses_the_symbols_it_lists(target, batched):
    # the legend names y (the last layer's output) and p = softmax(y): the rule is dE/dy,
    # not dE/dz with a z defined nowhere
    x = [[[[0.5, -1, 2]]], [[[0, 1, -0.5]]]] if batched else [[0.5, -1, 2]]
    doc = {"input": x, "layers": [{"type": "flatten"}, {"type": "dense", "weights": [
        [1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
           "loss": {"type": "cross_entropy", "target": target}}
    explanation = explain(run(problem_of(doc)), "dense_1.delta_out[0,1]" if batched else
                          "dense_1.delta_out[1]")
    assert "y" in explanation.symbols and "z" not in explanation.symbols
    assert any("dE/dy = " in note for note in explanation.notes)
    assert not any("dE/dz" in note for note in explanation.notes)


@pytest.mark.parametrize("width", range(40, 101))
def test_a_wrapped_note_never_continues_on_a_line_that_reads_as_a_bullet(width):
    # -f text writes a note as "- ..." and wraps it two spaces in: a continued line must not
    # start "- 1)" (a minus wrapped off "M - 1" reads as a new bullet)
    doc = {"input": [[[[1, 2], [3, 4]]], [[[0, 2], [2, 0]]]],
           "layers": [{"type": "batchnorm2d"}, {"type": "flatten"},
                      {"type": "dense", "weights": [[1, 0, 0, 0], [0, 1, 0, 0]]}],
           "loss": {"type": "cross_entropy", "target": [0, 1]}}
    trace = run(problem_of(doc))
    for path in ("batchnorm2d_1.delta_in[1,0,1,0]", "dense_1.delta_out[0,1]"):
        explanation = explain(trace, path)
        text = explanation_text(explanation, width=width)
        lines = text.splitlines()
        start = next(k for k, line in enumerate(lines) if line.startswith("- "))
        notes = lines[start:lines.index("", start)]
        assert not [line for line in notes if line.startswith("  - ")], (path, width)
        # nothing lost or changed: the notes' words, in order
        assert " ".join(line[2:] for line in notes).split() == \
            " ".join(explanation.notes).split(), (path, width)


DEPTHWISE_2D = {"input": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 0, 1], [0, 1, 0], [1, 0, 1]]],
                "layers": [{"type": "conv2d", "kernel": [[[[1, 0], [0, 1]]], [[[2, 1], [0, 1]]]],
                            "groups": 2}],
                "delta": [[[1, 2], [3, 4]], [[1, 1], [1, 1]]]}
DEPTHWISE_1D = {"input": [[[1, 2, 3, 4, 5, 6, 7], [1, 0, -1, 0, 1, 0, -1]]],
                "layers": [{"type": "conv1d", "kernel": [[[1, -1]], [[2, 1]]], "stride": 2,
                            "padding": [2, 1], "dilation": 2, "groups": 2, "bias": [0.5, -0.5]}],
                "delta": [[[1, 2, 3, 4], [-1, 0, 1, 2]]]}


@pytest.mark.parametrize("doc, path, one_based, formula", [
    (DEPTHWISE_2D, "conv2d_1.output[1,0,1]", False, "Σ_m Σ_n w[1,0,m,n]·o[1,m,n+1]"),
    (DEPTHWISE_2D, "conv2d_1.output[2,1,2]", True, "Σ_m Σ_n w[2,1,m,n]·o[2,m,n+1]"),
    (DEPTHWISE_1D, "conv1d_1.output[0,1,2]", False, "Σ_m w[1,0,m]·o[0,1,2m+2] + b[1]"),
    (DEPTHWISE_1D, "conv1d_1.output[1,2,3]", True, "Σ_m w[2,1,m]·o[1,2,2m+1] + b[2]"),
])
def test_a_depthwise_output_formula_has_no_unsummed_channel_index(doc, path, one_based,
                                                                   formula):
    # one input channel per group: the filter sees channel 0 of its kernel and one input
    # channel, so the formula names them (it used to write w[1,c,...]·o[c+1,...] with no Σ_c)
    explanation = explain(run(problem_of(doc)), path, one_based=one_based)
    assert explanation.formula.split(" = ", 1)[1] == formula
    assert explanation.total == pytest.approx(float(sum(
        term.value for term in explanation.terms)))


def test_a_transposed_conv_input_delta_counts_filter_and_kernel_entry_pairs():
    from cnngrad.network import run
    from cnngrad.problem import load_problem
    from cnngrad.teach.explain import explain

    problem = Path(__file__).resolve().parent / "v11_problems" / "convT_nhwc.json"
    trace = run(load_problem(str(problem)))
    text = " ".join(" ".join(explain(trace, "conv_transpose2d_1.delta_in[1,0,1]").notes).split())
    # four filters in the group: the 24 pairs are (f, m, n), not 24 kernel positions
    assert "once per filter f and kernel entry (m, n) that lands inside the 6×6 output (24 of " \
           "them)" in text


@pytest.mark.parametrize("one_based", [False, True])
def test_the_transposed_convs_scatter_rule_says_its_indices_count_from_0(one_based):
    # x[a·s−p+m·d] holds for indices counted from 0 only: printed among terms counted from 1
    from cnngrad.network import run
    from cnngrad.problem import load_problem
    from cnngrad.teach.explain import explain

    problem = Path(__file__).resolve().parent / "v11_problems" / "convT_nhwc.json"
    trace = run(load_problem(str(problem)))
    path = "conv_transpose2d_1.delta_in[2,1,2]" if one_based else \
        "conv_transpose2d_1.delta_in[1,0,1]"
    text = " ".join(" ".join(explain(trace, path, one_based=one_based).notes).split())
    assert ("x[a·s−p+m·d, b·s−p+n·d] (indices counted from 0 in this rule):" in text) \
        == one_based


@pytest.mark.parametrize("path, one_based, words", [
    ("conv2d_1.grads.kernel[0,5]", False, "shape 2×2: its second index is 5 (indices 0 to 1 "
                                          "along an axis of 2)"),
    ("conv2d_1.grads.kernel[0,1]", True, "shape 2×2: its first index is 0 (indices 1 to 2 "
                                         "along an axis of 2)"),
])
def test_an_index_out_of_range_says_which_of_its_indices(path, one_based, words):
    result = invoke("explain", WORKED, path, *(["--one-based"] if one_based else []))
    assert result.exit_code == 2
    assert words in result.output, result.output


@pytest.mark.parametrize("index, hint", [
    ("[0,1]", "; hint: counting from 0? drop --one-based (with it indices count from 1)"),
    ("[3,1]", ""),  # outside counting from 0 as well: no hint
])
def test_an_index_counted_from_0_under_one_based_is_told_to_drop_it(index, hint):
    # the other way round has its hint (counting from 1? give --one-based); this one had none
    result = invoke("explain", WORKED, f"conv2d_1.grads.kernel{index}", "--one-based")
    assert result.exit_code == 2
    first = index[1]
    assert result.output == (
        f"error: PATH: index {index.replace(',', ', ')} is outside 'conv2d_1.grads.kernel' "
        f"of shape 2×2: "
        f"its first index is {first} (indices 1 to 2 along an axis of 2){hint}\n")


# --------------------------------------------------------------------------- words that teach


def _explain_text(tmp_path, doc: dict, path: str) -> str:
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(doc), encoding="utf-8")
    result = invoke("explain", str(problem), path, "-f", "text")
    assert result.exit_code == 0, result.output
    return " ".join(result.stdout.split())  # the notes' lines joined


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("doc, path", [
    ({"input": [[1, 2, 0], [0, 1, 3], [2, 1, 1]], "kernel": [[1, 2], [3, 4]],
      "delta": [[1, 0], [0, 0]]}, "conv2d_1.delta_in[1,1]"),
    ({"input": [1, 2, 0, 3], "layers": [{"type": "conv1d", "kernel": [1, 2, 3]}],
      "delta": [1, 0]}, "conv1d_1.delta_in[2]"),
])
def test_the_input_delta_note_says_which_way_the_kernel_index_runs(tmp_path, doc, path, flip):
    # a true convolution (flip_kernel) slides the kernel rotated: its input delta meets the
    # kernel as given, the δ and kernel indices going up together (the note said "rotated
    # 180°" for both)
    doc = json.loads(json.dumps(doc))
    (doc["layers"][0] if "layers" in doc else doc)["flip_kernel"] = flip
    text = _explain_text(tmp_path, doc, path)
    assert ("goes up too" in text) == flip and ("goes down" in text) == (not flip)
    assert ("the kernel as given" in text) == flip


@pytest.mark.parametrize("batched", [False, True])
def test_a_cross_entropy_term_whose_probability_underflows_adds_up_as_shown(tmp_path, batched):
    # softmax(1003, -1000) = (1, 0) in floats: the term read "(-1) × 1 × log(0) = 2003"
    image = [[[1000, 1], [1, 1]]]
    problem = {"input": [image, image] if batched else image,
               "layers": [{"type": "flatten"},
                          {"type": "dense", "weights": [[1, 1, 1, 1], [-1, 0, 0, 0]]}],
               "loss": {"type": "cross_entropy", "target": [1, 1] if batched else 1}}
    text = _explain_text(tmp_path, problem, "loss")
    assert "log(0)" not in text
    scale = "(-0.5)" if batched else "(-1)"
    assert f"{scale} × 1 × (-1000 - 1003) = " in text
    assert "is below the smallest float: its log is y[" in text
    row = "y[0,j]" if batched else "y[j]"  # as the softmax line above it names the row
    assert f"logsumexp = log Σ_j e^{row} = 1003." in " ".join(text.split())


def test_a_bce_gradient_divided_by_the_count_is_bracketed_and_a_clamp_is_shown(tmp_path):
    logits = {"input": [[2.95, -1.195, -0.075]], "layers": [{"type": "leaky_relu", "slope": 0.5}],
              "loss": {"type": "bce_with_logits", "target": [[1, 0, 0.3]]}}
    assert "= (σ(y[0,2]) - t[0,2])/3" in _explain_text(tmp_path, logits,
                                                        "leaky_relu_1.delta_out[0,2]")
    # each loss term as arithmetic a student can redo: -[1·log 0.950263 + 0·log 0.049737]
    loss = _explain_text(tmp_path, logits, "loss")
    assert "-[1·log 0.950263 + 0·log 0.049737]" in loss
    assert -math.log(0.950263) / 3 == pytest.approx(0.017005, abs=1e-6)
    assert "0.017005" in loss
    # past |y| ≈ 745 σ(y) is 0 in float64: "log 0" would read as infinite; the stable form
    far = dict(logits, input=[[40.0, -800.0, 0.3]],
               layers=[{"type": "leaky_relu", "slope": 1.0}],
               loss={"type": "bce_with_logits", "target": [[0, 1, 0.5]]})
    far_loss = _explain_text(tmp_path, far, "loss")
    assert "log 0 " not in far_loss and "log 0]" not in far_loss
    assert "max(-800, 0) - (-800)·1 + log(1 + e^-|-800|)) = 266.666667" in far_loss
    # y = 1 and 0: the log clamped at -100 and y·(1 - y) held at torch's ε, as computed
    clamped = {"input": [1, 0, 0.5], "layers": [{"type": "dense", "name": "d",
                                                 "weights": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
               "loss": {"type": "bce", "target": [0.7, 0.2, 1], "reduction": "sum"}}
    assert "-[0.7·log 1 + 0.3·max(log 0, -100)] = 30" in _explain_text(tmp_path, clamped, "loss")
    delta = _explain_text(tmp_path, clamped, "d.delta_out[0]")
    # ε as the number used, torch's 1e-12 as a float32, to its last digit: beside 1e-12 the
    # quotient shown, 300000001198.740906, was 1,199 more than 0.3/1e-12 worked by hand
    # (beside 9.99999996e-13, 1.26 more)
    shown = re.search(r"\(1 - 0\.7\)/max\(1·0, ([0-9.e-]+)\) = ([0-9.]+)", delta)
    assert shown and shown[1] == "9.999999960041972e-13"
    assert float(shown[2]) == pytest.approx((1 - 0.7) / float(shown[1]), rel=1e-15)
    assert "held at ε = 1e-12 at least (torch's convention: a float32, " \
        "9.999999960041972e-13)" in " ".join(delta.split())
    # a mean's 1/3 among the numbers as the fraction: 0.333333 × 3.0e11 was 100,000 off
    mean = _explain_text(tmp_path, {**clamped, "loss": {**clamped["loss"], "reduction": "mean"}},
                         "d.delta_out[0]")
    assert "= 1/3 × (1 - 0.7)/max(1·0, 9.999999960041972e-13) = 100000000399.58" in mean
    assert "max(" not in _explain_text(tmp_path, clamped, "d.delta_out[2]")


@pytest.mark.parametrize("kind", ["softmax", "log_softmax"])
def test_the_softmax_input_delta_sums_a_column_of_the_jacobian(tmp_path, kind):
    # dE/do_j = Σ_k δ_k·∂x_k/∂o_j: column j of J[k,j] = ∂x_k/∂o_j (log_softmax's J is not
    # symmetric: its row and its column are different vectors)
    doc = {"input": [0.48, -0.6, -0.51, -0.51], "layers": [{"type": kind}],
           "delta": [-0.69, 0.77, 0.16, -0.35]}
    text = _explain_text(tmp_path, doc, f"{kind}_1.delta_in[1]")
    assert "the whole column 1 of the Jacobian J[k,j] = ∂x_k/∂o_j" in text
    assert "row of the Jacobian" not in text


@pytest.mark.parametrize("kind, shown, absent", [
    # the factors are computed shifted by the largest input m: labelled so (e^o[0,2] is
    # another number than e^(-0.35 - 0.96))
    ("softmax", ["e^(o[0,2] - m)·(1/Σ_j e^(o[0,j] - m)) = e^(-0.35 - 0.96) × 1/1.848307",
                 "m = 0.96, the largest"], ["e^o[0,2]·"]),
    # log_softmax's sum is shown unshifted, and the note says how it is computed
    ("log_softmax", ["-log(e^(-0.93) + e^0.11 + e^(-0.35) + e^0.96)",
                     "computed as m + log Σ_j e^(o[0,j] - m), with m = 0.96"],
     ["is subtracted before e^", "e^-0.93"]),
])
def test_a_softmax_output_s_factors_are_labelled_as_computed(tmp_path, kind, shown, absent):
    doc = {"input": [[[[-0.93]], [[0.11]], [[-0.35]], [[0.96]]]],
           "layers": [{"type": "flatten"}, {"type": kind}], "delta": [[1, 0, 0, 0]]}
    text = _explain_text(tmp_path, doc, f"{kind}_1.output[0,2]")
    assert all(words in text for words in shown), text
    assert not any(words in text for words in absent), text


@pytest.mark.parametrize("scale, words", [(3, "Σ over its run of 3 cells of δ"),
                                          ([2, 2], "Σ over its 2×2 block of δ")])
def test_an_upsample_input_delta_names_what_it_sums(tmp_path, scale, words):
    # a 1-D upsample's cell gathers a run of cells ("its 3 block" before)
    if scale == 3:  # C×L maps, from a conv1d
        doc = {"input": [[-0.12, -0.95, 0.24, -0.02], [-0.53, 0.53, 0.56, -0.08]],
               "layers": [{"type": "conv1d", "kernel": [[-0.64, -0.05, -0.79],
                                                         [-0.74, -0.14, -0.82]]},
                          {"type": "upsample", "scale": 3, "name": "up"}],
               "delta": [[1, 2, 3, 4, 5, 6]]}
        path, total = "up.delta_in[0,1]", "15.000000 (3 nonzero terms)"
    else:
        doc = {"input": [[[1, 2], [3, 4]]], "layers": [{"type": "upsample", "scale": scale,
                                                         "name": "up"}],
               "delta": [[[float(i * 4 + j) for j in range(4)] for i in range(4)]]}
        path, total = "up.delta_in[0,1,1]", "50.000000 (4 nonzero terms)"
    text = _explain_text(tmp_path, doc, path)
    assert words in text
    assert text.endswith(f"= {total}"), text[-80:]


@pytest.mark.parametrize("ties, rule, factor", [
    ("split", "[o[0,1] is a maximum of the window]/(the window's number of maxima)", "2 × 1/2"),
    ("split-one", "[o[0,1] is a maximum of the window]/(the window's number of maxima)",
     "2 × 1 "),
    ("all", "[o[0,1] is a maximum of the window]", "2 × 1 "),
    ("first", "[o[0,1] is the window's chosen maximum]", "2 × 1 "),
])
@pytest.mark.parametrize("one_d", [False, True])
def test_a_max_pool_input_delta_states_its_tie_rule(tmp_path, ties, rule, factor, one_d):
    # a split tie's factor is 1/count: the headline said [chosen maximum] (0 or 1) and the
    # factor was printed 0.333333
    # split-one: the split rule where the maximum stands alone, a share of 1
    doc = {"input": [[1, 3, 2, 0]] if ties == "split-one" else [[1, 3, 3, 0]],
           "delta": [[1, 2]],
           "layers": [{"type": "maxpool1d" if one_d else "maxpool2d",
                       "ties": ties.removesuffix("-one"),
                       **({"size": 3, "stride": 1} if one_d else {"size": [1, 3],
                                                                  "stride": 1})}]}
    path = "maxpool1d_1.delta_in[0,1]" if one_d else "maxpool2d_1.delta_in[0,1]"
    text = _explain_text(tmp_path, doc, path)
    assert rule in text and factor in text, text
    assert ("gets 1/2 of" in text) == (ties == "split")
    assert ("gets 1 of" in text) == (ties != "split")


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("one_d", [False, True])
def test_an_input_delta_through_padded_copies_says_so_in_its_formula(tmp_path, mode, one_d):
    # reflect/replicate/circular: the deltas reaching a padded copy of the cell flow back to
    # it, terms the headline's index rule does not give (the formula covered only the others)
    if one_d:
        doc = {"input": [[1, 2, 0, 3, 1]], "delta": [[1, 2, 3, 4, 5]],
               "layers": [{"type": "conv1d", "kernel": [[1, 2, 3]], "padding": 1,
                           "padding_mode": mode}]}
        path = "conv1d_1.delta_in[0,1]" if mode == "reflect" else "conv1d_1.delta_in[0,0]"
    else:
        doc = {"input": [[1, 2, 0], [0, 1, 3], [2, 1, 1]], "delta": [[1, 2, 3], [4, 5, 6],
                                                                 [7, 8, 9]],
               "layers": [{"type": "conv2d", "kernel": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                           "padding": 1, "padding_mode": mode}]}
        path = "conv2d_1.delta_in[1,1]" if mode == "reflect" else "conv2d_1.delta_in[0,0]"
    text = _explain_text(tmp_path, doc, path)
    copied = "through padding cell" in text
    assert copied == (mode != "zeros")
    assert ("+ the same sum at each padded cell that copies" in text) == copied


def test_a_batch_norm_input_delta_names_the_sums_its_terms_use(tmp_path):
    # the terms' arithmetic shows Σ dE/dx̂·(o - μ) and Σ dE/dx̂ as bare numbers: a note
    # names them, and they are the sums over the channel
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((2, 1, 2, 2)), 2)
    delta = np.round(rng.standard_normal((2, 1, 2, 2)), 2)
    doc = {"input": x.tolist(), "layers": [{"type": "batchnorm2d", "gamma": [0.5],
                                            "beta": [0.1]}], "delta": delta.tolist()}
    text = _explain_text(tmp_path, doc, "batchnorm2d_1.delta_in[0,0,1,1]")
    g = 0.5 * delta[:, 0]
    centred = x[:, 0] - x[:, 0].mean()
    from cnngrad.teach.explain import short

    assert f"Σ dE/dx̂·(o - μ[0]) = {short(float((g * centred).sum()))}" in text
    assert f"Σ dE/dx̂ = {short(float(g.sum()))}, the two sums" in text


def test_an_add_output_s_formula_names_its_inputs_as_its_terms_do(tmp_path):
    doc = {"input": [[1.0, 2.0], [3.0, 4.0]],
           "layers": [{"type": "relu", "name": "mix"},
                      {"type": "add", "name": "res", "inputs": ["mix", "input"]}],
           "delta": [[1, 0], [0, 0]]}
    text = _explain_text(tmp_path, doc, "res.output[1,1]")
    assert "x[1,1] = mix.output[1,1] + input[1,1]" in text  # was mix[1,1] in the formula
    assert "mix.output[1,1] = 4" in text


@pytest.mark.parametrize("outputs, says", [([1, 0, 0.5], "at 2 cells of the output"),
                                           ([0.25, 0.75, 0.5], None)])
def test_the_report_says_where_bce_holds_its_gradient_finite(tmp_path, outputs, says):
    # y = 1 with t = 0.7 gives a delta of 3e11: the report says where it comes from
    doc = {"input": outputs, "layers": [{"type": "dense", "name": "d",
                                         "weights": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}],
           "loss": {"type": "bce", "target": [0.7, 0.2, 1], "reduction": "sum"}}
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(doc), encoding="utf-8")
    result = invoke("backward", str(problem))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    if says is None:
        assert "within 1e-12" not in text
    else:
        assert f"bce: y is within 1e-12 of 0 or 1 {says}" in text
        assert "max(y·(1 - y), 1e-12)" in text
    json_result = invoke("backward", str(problem), "-f", "json")
    assert "within" not in json_result.stdout  # the contract's result is unchanged


@pytest.mark.parametrize("columns", [60, 80])
def test_a_long_formula_in_the_panel_continues_under_its_right_side(tmp_path, columns):
    # the formula wrapped at the panel's edge back to its left margin, reading as a new line
    # of prose; now its continued lines start under the start of the right side
    import io

    from rich.console import Console

    from cnngrad.problem import load_problem
    from cnngrad.render.explain import explanation_panel
    from cnngrad.teach.explain import explain

    doc = {"input": [[1, 3, 3, 0, 2], [3, 1, 2, 2, 1], [0, 3, 1, 3, 3], [2, 2, 0, 1, 3],
                     [1, 0, 3, 3, 2]],
           "layers": [{"type": "maxpool2d", "size": 3, "stride": 2, "padding": 1,
                       "ties": "split"}], "delta": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(doc), encoding="utf-8")
    explanation = explain(run(load_problem(str(problem))), "maxpool2d_1.delta_in[2,3]")
    console = Console(width=columns, file=io.StringIO(), no_color=True, color_system=None,
                      legacy_windows=False)
    console.print(explanation_panel(explanation))
    inside = [line[2:-2].rstrip() for line in console.file.getvalue().splitlines()[1:-1]]
    head = "dE/do[2,3] = "
    start = next(i for i, line in enumerate(inside) if line.startswith(head + "Σ"))
    end = inside.index("", start)
    assert end - start >= 2  # wrapped at this width
    for line in inside[start + 1:end]:
        assert line.startswith(" " * len(head)) and line[len(head)] != " ", inside[start:end]
    assert " ".join(line.strip() for line in inside[start:end]) == explanation.formula


@pytest.mark.parametrize("path, cut", [("maxpool2d_1.delta_in[0,4,4]", True),
                                       ("maxpool2d_1.output[0,2,2]", True),
                                       ("maxpool2d_1.output[0,0,0]", False),
                                       ("maxpool2d_1.delta_in[0,0,0]", False)])
def test_a_ceil_mode_window_cut_short_says_so(tmp_path, path, cut):
    # a 1-cell window at the edge (o[0,4,4]…o[0,4,4] = [2]) read as a mistake
    doc = {"input": [[[1, 3, 3, 0, 2], [3, 1, 2, 2, 1], [0, 3, 1, 3, 3], [2, 2, 0, 1, 3],
                      [1, 0, 3, 3, 2]]],
           "layers": [{"type": "maxpool2d", "size": 2, "stride": 2, "ceil_mode": True}],
           "delta": [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]}
    text = _explain_text(tmp_path, doc, path)
    assert ("ceil_mode: the last window of a row or column runs past" in text) == cut
    if path.startswith("maxpool2d_1.delta_in"):  # the 1-D pool says the same
        one_d = {"input": [[1, 3, 3, 0, 2]], "delta": [[1, 2, 3]],
                 "layers": [{"type": "maxpool1d", "size": 2, "stride": 2, "ceil_mode": True}]}
        text = _explain_text(tmp_path, one_d, "maxpool1d_1.delta_in[0,4]" if cut else
                             "maxpool1d_1.delta_in[0,0]")
        assert ("ceil_mode: the last window of a row or column runs past" in text) == cut


@pytest.mark.parametrize("loss, reason", [
    ("bce", "-[t·log y + (1 - t)·log(1 - y)] = 0"),
    ("bce_with_logits", "-[t·log σ(y) + (1 - t)·log(1 - σ(y))] = 0"),
])
def test_a_zero_bce_term_names_its_expression_whole(tmp_path, loss, reason):
    # the index-stripping took "[t[2]" for an index: "(-·log y + (1 - t)·log(1 - y)] = 0)"
    # sigmoid(±40) is 1 and 0 in float64; logits of ±1000 give terms of exactly 0 too
    layer, logit = (({"type": "sigmoid"}, 40) if loss == "bce" else
                    ({"type": "leaky_relu", "slope": 1}, 1000))
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [logit, -logit, 0.5], "layers": [layer],
                                   "loss": {"type": loss, "target": [1, 0, 1]}}),
                       encoding="utf-8")
    result = invoke("explain", problem, "loss", "--format", "text")
    assert result.exit_code == 0, result.output
    assert f"+ 2 terms that are 0 ({reason})" in result.output


def test_a_pool_window_of_one_cell_says_one_cell(tmp_path):
    # a ceil-mode window hanging past the input keeps one cell: "max of the window's 1
    # cells", "(the largest of 1)"
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
                                   "layers": [{"type": "maxpool2d", "size": 2,
                                               "ceil_mode": True}],
                                   "delta": [[1, 1], [1, 1]]}), encoding="utf-8")
    result = invoke("explain", problem, "maxpool2d_1.output[1,1]", "--format", "text")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "x[1,1] = the window's one cell" in lines
    assert lines[-1] == "x[1,1] = 9.000000   (one cell)"
    wide = invoke("explain", problem, "maxpool2d_1.output[0,0]", "--format", "text").output
    assert "x[0,0] = max of the window's 4 cells" in wide and "(the largest of 4)" in wide


def test_the_text_format_lines_up_a_symbol_with_a_combining_mark(tmp_path):
    # x̂ is x and a combining hat, one column: its meaning stood a column left of the others
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({"input": [[[[1, 2], [3, 5]]], [[[0, 1], [2, 2]]]],
                                   "layers": [{"type": "batchnorm2d"}],
                                   "delta": [[[[1, 0], [0, 1]]], [[[0, 2], [1, 0]]]]}),
                       encoding="utf-8")
    result = invoke("explain", problem, "batchnorm2d_1.delta_in[0,0,1,1]", "--format", "text")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    legend = lines[lines.index("where") + 1:]
    legend = legend[:legend.index("")]
    columns = {len(line) - len(line.lstrip(" ").split(" ", 1)[1].lstrip())
               - sum(1 for char in line if char == "\u0302") for line in legend}
    assert len(columns) == 1, legend
    assert any(line.startswith("  x\u0302   ") for line in legend)


@pytest.mark.parametrize("form", ["text", "json", "table"])
def test_a_max_pool_listing_cut_short_keeps_the_maximum(tmp_path, form):
    # the window [1 3 .; 3 1 2; 0 3 1] read in order, two terms: o[1,1] and o[1,2] were
    # shown and the maximum, the answer itself, was among the "7 more cells"
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps({
        "input": [[1, 3, 3, 0, 2], [3, 1, 2, 2, 2], [0, 3, 1, 2, 1], [1, 1, 0, 2, 2],
                  [2, 0, 2, 1, 2]],
        "layers": [{"type": "maxpool2d", "size": 3, "stride": 2, "padding": 1}],
        "delta": [[0, 0, 1], [0, 0, 1], [0, 0, 0]]}))
    result = invoke("explain", problem, "maxpool2d_1.output[1,1]", "--max-terms", "2",
                    "-f", form)
    assert result.exit_code == 0, result.output
    if form == "json":
        listed = json.loads(result.stdout)
        assert [t["factors"][0]["symbol"] for t in listed["terms"]] == ["o[1,1]", "o[2,1]"]
        assert listed["more_terms"] == {"count": 7, "largest": 2}
    else:
        text = " ".join(result.stdout.split())
        assert "o[2,1] = 3 (maximum)" in text
        assert "+ 7 more cells, the largest 2" in text


@pytest.mark.parametrize("path, hint", [
    ("conv2d_1.dW[0,0]", "conv2d_1.dW reads as a weight gradient; here it is "
                         "conv2d_1.grads.kernel"),
    ("db", "db reads as a bias gradient, one of conv2d_1.grads.bias, dense_1.grads.bias"),
    ("dense_1.dx[0,0]", "dense_1.dx reads as an input delta; here it is dense_1.delta_in"),
    ("grad_weights", "grad_weights reads as a weight gradient, one of conv2d_1.grads.kernel, "
                     "dense_1.grads.weights"),
    # another library's name of a layer's parameter: the layer's own ("closest:
    # conv2d_1.grads.kernel, ..." sent Keras' dense kernel to the conv)
    ("dense_1.grads.kernel[0,0]", "dense_1 names it weights: dense_1.grads.weights"),
    ("conv2d_1.grads.weights[0,0]", "conv2d_1 names it kernel: conv2d_1.grads.kernel"),
    ("conv2d_1.grads.W[0,0]", "conv2d_1 names it kernel: conv2d_1.grads.kernel"),
    ("dense_1.updated.kernel[0,0]", "dense_1 names it weights: dense_1.updated.weights"),
])
def test_a_textbook_name_is_given_the_problems_path(path, hint):
    result = invoke("explain", NETWORK, path, *(("--lr", "0.1") if ".updated." in path else ()))
    assert result.exit_code == 2
    assert result.output.endswith(f"; hint: {hint}\n"), result.output


# ---------------------------------------------------------------------------------------
# wording of small cases


def test_a_1d_global_average_pool_counts_its_cells_not_a_map_of_one_number():
    # "Σ over the 4 map of o" read as a typo; a 2-D map keeps its size, 2×2
    doc = {"input": [[1, 2, 3, 4]], "layers": [{"type": "conv1d", "kernel": [[1]]},
                                                {"type": "global_avgpool"}], "delta": [1]}
    text = " ".join(explanation_text(explain(run(problem_of(doc)),
                                              "global_avgpool_1.output[0]")).split())
    assert "x[0] = Σ over the 4 cells of o / 4" in text
    assert "each of the channel's 4 cells counts once: divisor 4." in text
    doc = {"input": [[1, 2], [3, 4]], "layers": [{"type": "global_avgpool"}], "delta": [1]}
    text = " ".join(explanation_text(explain(run(problem_of(doc)),
                                              "global_avgpool_1.output[0]")).split())
    assert "Σ over the 2×2 map of o / 4" in text
    assert "every cell of the channel's 2×2 map counts once" in text


def test_an_element_without_terms_has_one_blank_line_before_its_total():
    # a stride-2 input delta cell no window reaches: two blank lines stood before the total
    doc = {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
           "layers": [{"type": "conv2d", "kernel": [[1, 2], [3, 4]], "stride": 2}],
           "delta": [[1]]}
    lines = [line.strip("│ ") for line in explanation_text(
        explain(run(problem_of(doc)), "conv2d_1.delta_in[2,2]")).splitlines()]
    total = next(k for k, line in enumerate(lines) if line.startswith("dE/do[2,2] = 0"))
    assert lines[total - 1] == "" and lines[total - 2] != ""


def test_one_output_of_a_dense_layer_is_counted_in_the_singular():
    doc = {"input": [[1, 2]], "layers": [{"type": "flatten"},
                                         {"type": "dense", "weights": [[3, 4]]}],
           "delta": [1]}
    text = " ".join(explanation_text(explain(run(problem_of(doc)),
                                              "dense_1.delta_in[1]")).split())
    assert "k runs over the 1 output (" in text and "1 outputs" not in text


@pytest.mark.parametrize("value, text", [
    (0.84, "0.84"),              # a number as written: as written
    (0.3 * 0.2, "0.06"),         # 0.06000000000000001: float noise is no rounding
    (2.0, "2"),
    (0.0, "0"),
    (-0.0315597, "-0.031560"),   # rounded to 6 decimals: its last zero kept, not -0.03156
    (0.00202956, "0.002030"),
    (0.1078499, "0.107850"),
    (1 / 3, "0.333333"),
])
def test_a_short_number_drops_its_zeros_only_where_they_round_nothing(value, text):
    from cnngrad.teach.explain import short

    assert short(value) == text


@pytest.mark.parametrize("path", ["input.delta_out[0,0,0,0]", "input", "input.delta_in"])
def test_a_path_of_the_problems_input_names_the_readers_deltas(path):
    # "closest: skip.delta_out, bn_b.delta_out, bn_a.delta_out" for the input's delta, which
    # is conv_a's and skip's share, summed in backward's input panel
    result = CliRunner().invoke(app, ["explain", str(SAMPLES / "resnet-block.json"), path])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "hint: the problem's input has no path of its own: its delta is the sum of what each "
        "layer reading it sends back, conv_a.delta_in, skip.delta_in.input (backward's input "
        "panel shows the sum)")


@pytest.mark.parametrize("path, listed", [
    ("conv2d_1.output[0,0]", ["o", "x", "w"]),  # a sum of w·o: no δ
    ("conv2d_1.grads.kernel[0,0]", ["o", "x", "δ", "w"]),  # dE/dw, and x in the note
    ("conv2d_1.delta_in[0,0]", ["o", "x", "δ", "w"]),
    ("conv.grads.bias[0]", ["x", "δ", "b"]),  # Σ δ: no input, no kernel
])
def test_where_lists_the_symbols_the_formula_uses(path, listed):
    problem = WORKED if path.startswith("conv2d_1") else SAMPLES / "multichannel.json"
    result = invoke("explain", problem, path, "-f", "json")
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.output)["symbols"]) == sorted(listed)


def test_the_path_given_before_the_problem_says_they_look_swapped(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("explain", "conv2d_1.grads.kernel[0,0]", WORKED)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: conv2d_1.grads.kernel[0,0]: no such file: PROBLEM and PATH look swapped "
        f"({WORKED} is a file); hint: the problem comes first, then the path: cnngrad explain "
        f"PROBLEM PATH")
    # options given stay where they were: the hint shows no command of its own without them
    piped = invoke("explain", "--one-based", "conv2d_1.grads.kernel[1,1]", "-")
    assert piped.exit_code == 2
    assert "look swapped (standard input)" in piped.stderr
    # a missing problem with a path that is no file: the missing file alone
    missing = invoke("explain", "nope.json", "conv2d_1.grads.kernel[0,0]")
    assert missing.exit_code == 2 and "swapped" not in missing.stderr
    # a problem's name misspelt before a real file is no swap
    misspelt = invoke("explain", "missng.json", WORKED)
    assert misspelt.exit_code == 2 and "swapped" not in misspelt.stderr


@pytest.mark.parametrize("sample, path", [
    ("batched-cross-entropy.json", "dense_1.delta_out[0,2]"),  # cross_entropy
    ("stackexchange-network.json", "sigmoid_1.delta_out[0]"),  # mse
    ("dropout-classifier.json", "log_softmax_1.delta_out[0,1]"),  # nll
])
def test_the_loss_gradient_names_the_last_output_once(sample, path):
    # its symbols listed "x  dense_1's output" and "y  the last layer's output
    # (dense_1.output)", one tensor twice, δ being dE/dx and the loss's rule dE/dy
    result = invoke("explain", SAMPLES / sample, path, "--format", "json")
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert "x" not in explained["symbols"], explained["symbols"]
    assert explained["symbols"]["δ"].startswith("dE/dy = ")
    assert explained["symbols"]["y"].startswith("the last layer's output (")
    assert explained["formula"].split(" = ")[1].startswith("dE/dy[")


@pytest.mark.parametrize("fmt", ["table", "text", "json"])
@pytest.mark.parametrize("problem, path, where", [
    # the explained layer's own step is computed by explain (the backward pass stops before
    # it): past float64's range it is backward's error, not an "inf" total and exit 0
    ({"input": [[1, 2], [3, 4]], "kernel": [["1e300"]], "delta": [[1, 1], [1, "1e300"]]},
     "conv2d_1.delta_in[1,1]", "conv2d_1.delta_in[1,1]"),
    ({"input": [[1, 2], [3, "1e300"]], "kernel": [[1, 1]], "delta": [[1], ["1e300"]]},
     "conv2d_1.grads.kernel[0,1]", "conv2d_1.grads.kernel[0,1]"),
    # a whole tensor: the element that overflows, the first in row-major order
    ({"input": [[1, 2], [3, "1e300"]], "kernel": [[1, 1]], "delta": [[1], ["1e300"]]},
     "conv2d_1.grads.kernel", "conv2d_1.grads.kernel[0,1]"),
    # the path as explain reads it, not as typed
    ({"input": [[1, 2], [3, 4]], "kernel": [["1e300"]], "delta": [[1, 1], [1, "1e300"]]},
     " conv2d_1.delta_in[ 1 , 1 ]\t", "conv2d_1.delta_in[1,1]"),
])
def test_a_number_that_overflows_is_backwards_error(problem, path, where, fmt, tmp_path):
    file = tmp_path / "p.json"
    file.write_text(json.dumps(problem))
    result = runner.invoke(app, ["explain", str(file), path, "-f", fmt])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (f"error: {file}: {where}: the result overflows to infinity; hint: "
                             "float64 overflows beyond about 1.8e308: scale the numbers down, "
                             "or use --exact (fractions never overflow)\n")
    backward = runner.invoke(app, ["backward", str(file)])
    assert backward.exit_code == 2 and "the result overflows to infinity" in backward.stderr


@pytest.mark.parametrize("problem, path, value", [
    # added in the order shown, the running sum passes float64's range where the sum does
    # not (backward adds in its own order): the total is the sum, no overflow error
    ({"input": [[0, 0, 0], [0, 0, 0], [0, 0, 0]], "kernel": [[1, 1], [1, 1]],
      "delta": [[0, "1e308"], ["1e308", "-1e308"]]}, "conv2d_1.delta_in[1,1]", 1e308),
    ({"input": [["1e308", "-1e308", "1e308"]], "kernel": [[1]], "delta": [[1, 1, 1]]},
     "conv2d_1.grads.kernel[0,0]", 1e308),
    ({"input": ["1e-300"], "layers": [
        {"type": "relu", "name": "r"},
        {"type": "dense", "name": "a", "input": "r", "weights": [["1e308"]]},
        {"type": "dense", "name": "b", "input": "r", "weights": [["1e308"]]},
        {"type": "dense", "name": "c", "input": "r", "weights": [["-1e308"]]},
        {"type": "add", "inputs": ["a", "b", "c"]}], "delta": [1]}, "r.delta_out[0]", 1e308),
])
def test_a_sum_whose_running_total_passes_the_range_is_its_value(problem, path, value,
                                                                   tmp_path):
    file = tmp_path / "p.json"
    file.write_text(json.dumps(problem))
    result = runner.invoke(app, ["explain", str(file), path, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == value
    assert invoke("backward", file, "-f", "json").exit_code == 0


@pytest.mark.parametrize("tiny", ["1.2345678901234567e-300", "3e-305", "1e-310"])
def test_huge_terms_that_cancel_keep_every_bit_of_the_tiny_total(tiny, tmp_path):
    # the running sum passes the range; the sum, rounded once, is the tiny term exactly (a
    # sum scaled down to stay in range lost its bits, or all of them), and it is noise
    file = tmp_path / "p.json"
    file.write_text(json.dumps({"input": [["1e308", "1e308", "-1e308", "-1e308", tiny]],
                                "kernel": [[1]], "delta": [[1, 1, 1, 1, 1]]}))
    result = runner.invoke(app, ["explain", str(file), "conv2d_1.grads.kernel[0,0]", "-f",
                                 "json"])
    assert result.exit_code == 0, result.output
    explained = json.loads(result.stdout)
    assert explained["total"] == float(tiny)
    assert any(note.startswith("The terms cancel") for note in explained["notes"])
