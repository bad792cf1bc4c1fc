"""The layer registry: one line per layer type, one module per family, and no type names
anywhere else in the program."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import numpy as np
import pytest

from cnngrad.families import (LAYERS, LOSSES, SHORTHAND, layer_families, layer_family,
                              loss_families, loss_family)
from cnngrad.families.base import LayerFamily, LossFamily
from cnngrad.schema import problem_schema

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cnngrad"

#: the layer types of the contract, today's and the next ones: a literal naming one of them
#: belongs in its family module
TYPE_NAMES = set(LAYERS) | set(LOSSES) | {
    "conv1d", "maxpool1d", "avgpool1d", "conv_transpose2d", "batchnorm", "batchnorm1d",
    "batchnorm2d", "dropout", "softmax", "log_softmax", "upsample_nearest", "global_avgpool",
    "add", "concat", "bce", "bce_with_logits", "nll"}

#: where a type name may be written: the families, the kernel library and what works on the
#: kernels by name rather than on problems (the benchmark, ``cnngrad verify``'s operations, the
#: library's table of kernel names: ``cnngrad.bce`` is a function, not a layer type), and the
#: generator's recipes, which write problem documents as a problem file names its layers, and
#: the explain benchmark, which writes its one fixed problem file
ALLOWED = ("families/", "layers/", "bench.py", "bench_explain.py", "verify/", "__init__.py",
           "generate/recipes.py")


def _type_literals(path: Path) -> list[tuple[int, str]]:
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    for token in tokens:
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):  # f-strings
                continue
            if isinstance(value, str) and value in TYPE_NAMES:
                found.append((token.start[0], value))
    return found


def test_no_layer_type_name_outside_its_family():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(ALLOWED):
            continue
        offenders += [f"cnngrad/{relative}:{line}: {value!r}"
                      for line, value in _type_literals(path)]
    assert not offenders, ("a layer type named outside its family module (ask "
                           "cnngrad.families instead):\n" + "\n".join(offenders))


def _type_comparisons(path: Path) -> list[int]:
    """Lines comparing a layer's type (``spec.type``, ``layer.get("type")``) with a constant
    (``AVGPOOL``, ``"relu"``): a trait of some types, which belongs to their families.  A
    type compared with a variable (a function's argument) is generic and not one."""
    def is_type(node) -> bool:
        return ((isinstance(node, ast.Attribute) and node.attr == "type")
                or (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "get" and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == "type"))

    def is_constant(node) -> bool:
        return ((isinstance(node, ast.Name) and node.id.isupper())
                or (isinstance(node, ast.Constant) and node.value in TYPE_NAMES))

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            sides = [node.left, *node.comparators]
            if any(is_type(side) for side in sides) and any(is_constant(side) for side in sides):
                found.append(node.lineno)
    return found


def test_no_type_is_compared_with_a_constant_outside_the_families():
    offenders = [f"cnngrad/{path.relative_to(PACKAGE).as_posix()}:{line}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if not path.relative_to(PACKAGE).as_posix().startswith(("families/", "layers/"))
                 for line in _type_comparisons(path)]
    assert not offenders, ("a layer type compared with a constant outside its family (give "
                           "the families a trait instead):\n" + "\n".join(offenders))


def test_the_comparison_grep_finds_one(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('if spec.type == AVGPOOL:\n    pass\nif layer.get("type") != "relu":\n'
                      '    pass\nif layer.type == layer_type:\n    pass\n', encoding="utf-8")
    assert _type_comparisons(sample) == [1, 3]


def test_the_grep_finds_a_type_name(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('if spec.type == "conv2d":\n    kind = f"{x}"\n', encoding="utf-8")
    assert _type_literals(sample) == [(1, "conv2d")]


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_registry_line_loads_its_family(kind):
    family = layer_family(kind)
    assert isinstance(family, LayerFamily)
    assert family.type == kind
    assert set(family.required) <= set(family.fields)
    assert LAYERS[kind].split(":")[0] == type(family).__module__.rsplit(".", 1)[1]


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_every_loss_line_loads_its_family(kind):
    family = loss_family(kind)
    assert isinstance(family, LossFamily) and family.type == kind
    assert "target" in family.required


def test_the_schema_is_assembled_from_the_families():
    defs = problem_schema()["$defs"]
    for family in layer_families():
        layer = defs[f"layer_{family.type}"]
        reads = set() if family.reads_many else {"input"}  # the layer it reads (graphs)
        assert set(layer["properties"]) == {"type", "name", *reads, *family.fields}
        assert layer["required"] == ["type", *family.required]
    for family in loss_families():
        assert set(defs[f"loss_{family.type}"]["properties"]) == {"type", *family.fields}


def test_the_shorthand_is_a_registered_type():
    assert SHORTHAND in LAYERS


def test_no_class_is_over_300_lines():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno >= 300:
                long.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert not long


def _imports(path: Path) -> set[str]:
    """Modules a file imports at its top level (imports inside functions load lazily)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_import_circle_between_modules():
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"):
               path for path in PACKAGE.rglob("*.py")}
    graph = {name: {m for m in _imports(path) if m in modules and m != name}
             for name, path in modules.items()}

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    circles = sorted(name for name in graph if name in reach(name))
    assert not circles, f"modules that import themselves through others: {circles}"


def test_the_family_modules_load_only_when_asked():
    import subprocess
    import sys

    code = ("import sys; from cnngrad.problem import load_problem; "
            "load_problem('samples/stackexchange.json'); "
            "print(sorted(m for m in sys.modules if m.startswith('cnngrad.families.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "['cnngrad.families.base', 'cnngrad.families.conv2d']"


@pytest.mark.parametrize("kind", sorted(kind for kind in LAYERS
                                         if not layer_family(kind).reads_many))
def test_single_input_steps_take_and_give_lists(kind):
    from cnngrad.problem import Layout, _Builder

    fields = {"conv2d": {"kernel": [[1, 2], [3, 4]]}, "maxpool2d": {"size": 2},
              "avgpool2d": {"size": 2}, "dense": {"weights": [[1, 2, 3, 4, 5, 6, 7, 8, 9]]},
              "batchnorm1d": {"mode": "eval", "running_mean": [0] * 9, "running_var": [1] * 9},
              "dropout": {"p": 0.5, "mask": [[1, 0, 1], [0, 1, 1], [1, 1, 0]]},
              "conv_transpose2d": {"kernel": [[1, 2], [3, 4]]}, "upsample": {"scale": 2},
              "conv1d": {"kernel": [1, 2]}, "maxpool1d": {"size": 2},
              "avgpool1d": {"size": 2}}
    vectors = ("dense", "batchnorm1d", "softmax", "log_softmax")
    raw = ([{"type": "flatten"}] if kind in vectors else []) + \
        [{"type": kind, **fields.get(kind, {})}]
    x = np.array([[1.0, -2, 3], [4, 5, -6], [7, 8, 9]]).reshape(1, 1, 3, 3)
    layout = Layout(2)
    if layer_family(kind).spatial == 1:  # a 1-D problem: a signal of 9
        x, layout = x.reshape(1, 1, 9), Layout(1, spatial=1)
    specs = _Builder("t.json", ROOT, False, 10**8).build_layers(raw, "layers", x.shape,
                                                                layout)
    spec = specs[-1]
    assert spec.inputs == ((specs[-2].name,) if len(specs) > 1 else ("input",))
    x = x.reshape(1, 9) if kind in vectors else x
    family = layer_family(kind)
    y = family.forward(spec, [x])
    delta_ins, grads = family.backward(spec, [x], y, np.ones_like(y))
    assert isinstance(delta_ins, list) and len(delta_ins) == 1
    assert delta_ins[0].shape == x.shape
    assert set(grads) == set(spec.params)


def test_settings_describe_what_a_panel_header_would_show():
    from cnngrad.problem import build_problem

    doc = {"input": [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]],
           "layers": [{"type": "conv2d", "kernel": [[1, 0], [0, 1]], "stride": 2, "padding": 1},
                      {"type": "maxpool2d", "size": 2, "ties": "split"},
                      {"type": "leaky_relu", "slope": 0.2}],
           "delta": [[1]]}
    conv, pool, leaky = build_problem(doc, file="t.json", base_dir=ROOT).layers
    assert layer_family("conv2d").settings(conv) == [
        ("kernel", "2×2"), ("filters", "1"), ("stride", "2"), ("padding", "1")]
    assert layer_family("maxpool2d").settings(pool) == [
        ("window", "2×2"), ("stride", "2"), ("ties", "split")]
    assert layer_family("leaky_relu").settings(leaky) == [("slope", "0.2")]
    assert layer_family("relu").settings(leaky) == []


# --------------------------------------------------------------------------- traits

#: each trait of the protocol that cnngrad generate asks, and the types that have it
LAYER_TRAITS = {
    "weighted": {"conv2d", "conv1d", "conv_transpose2d", "dense"},
    "squashes": {"sigmoid", "tanh"},
    "kink_at_zero": {"relu", "leaky_relu"},
    "shift_free": {"softmax", "log_softmax"},
    "normalises_channels": {"batchnorm2d", "batchnorm1d"},
}
LOSS_TRAITS = {
    "averages": {"cross_entropy", "bce", "bce_with_logits", "nll"},
    "shift_free": {"cross_entropy"},
    "takes_class_index": {"cross_entropy", "nll"},
    "takes_distribution": {"cross_entropy"},
}
#: the layer types of contract v1
V1_LAYERS = {"conv2d", "maxpool2d", "avgpool2d", "relu", "leaky_relu", "sigmoid", "tanh",
             "flatten", "dense"}


@pytest.mark.parametrize("trait", sorted(LAYER_TRAITS))
def test_each_layer_trait_is_declared_by_its_families(trait):
    assert getattr(LayerFamily, trait) is False  # the protocol's default
    assert {f.type for f in layer_families() if getattr(f, trait)} == LAYER_TRAITS[trait]


@pytest.mark.parametrize("trait", sorted(LOSS_TRAITS))
def test_each_loss_trait_is_declared_by_its_families(trait):
    assert getattr(LossFamily, trait) is False
    assert {f.type for f in loss_families() if getattr(f, trait)} == LOSS_TRAITS[trait]


def test_a_family_whose_step_is_not_rational_names_its_endless_decimals():
    # the words an exercise sheet gives for answers asked to 4 decimals ("the sigmoid")
    assert LayerFamily.endless_decimals is None and LossFamily.endless_decimals is None
    for family in [*layer_families(), *loss_families()]:
        words = family.endless_decimals
        assert (words is None) == family.rational, family.type
        assert words is None or words.startswith("the "), family.type


def test_every_layer_family_says_which_contract_introduced_it():
    since = {family.type: family.since for family in layer_families()}
    assert set(since.values()) == {"1.0", "1.1"}, since
    assert {kind for kind, version in since.items() if version == "1.0"} == V1_LAYERS


#: what cnngrad.generate once kept as tables of type names, now asked of the families
GONE = ("INEXACT_TYPES", "INEXACT_LOSSES", "SHIFT_FREE_TYPES", "SHIFT_FREE_LOSSES",
        "NORMALISING_TYPES", "ENDLESS_LAYERS", "ENDLESS_LOSSES", "PARAM_TYPES",
        "INDEX_LOSSES", "PROBABILITY_LOSS", "V1_TYPES", "RELU_TYPES", "SQUASH_TYPES")


def test_the_generator_keeps_no_table_of_layer_traits():
    from cnngrad.generate import recipes

    for name in GONE:
        assert not hasattr(recipes, name), name
    for path in sorted((PACKAGE / "generate").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not [name for name in GONE if name in text], path.name


def _type_collections(path: Path) -> list[str]:
    """Module-level names bound to a tuple, list, set or dict (or an expression of them)
    that holds a layer or loss type name: a table of what some types are."""
    found = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not isinstance(value, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.BinOp)):
            continue
        if any(isinstance(leaf, ast.Constant) and leaf.value in TYPE_NAMES
               for leaf in ast.walk(value)):
            found += [ast.unparse(target) for target in targets]
    return found


def test_the_recipes_name_types_one_at_a_time():
    # a recipe writes a problem document, naming its layers one by one (RELU, MAXPOOL); a
    # tuple of types is a trait, which belongs to the families.  ONE_D_RECIPES holds recipe
    # names ("conv1d" is the recipe of a 1-D conv), not types.
    assert _type_collections(PACKAGE / "generate" / "recipes.py") == ["ONE_D_RECIPES"]


def test_the_trait_grep_finds_a_table(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('A = "relu"\nB = (A, "leaky_relu")\nC = {"sigmoid": "the sigmoid"}\n'
                      'D = B + ("tanh",)\n', encoding="utf-8")
    assert _type_collections(sample) == ["B", "C", "D"]


def test_an_nll_file_recipe_stays_inexact_though_nll_is_rational(tmp_path):
    # nll needs no log_softmax before it: dense → nll is rational, but its mean over a
    # batch of 3 makes thirds, so the generator asks 4 decimals (the family's `averages`)
    from cnngrad.generate.make import _file_recipe

    path = tmp_path / "nll.json"
    path.write_text('{"input": [[[[1, 2, 3]]], [[[2, 0, 1]]], [[[1, 1, 1]]]], "layers": '
                    '[{"type": "flatten"}, {"type": "dense", "weights": [[1, 0, 1], '
                    '[0, 1, 1]], "bias": [0, 1]}], "loss": {"type": "nll", "target": '
                    '[1, 0, 1]}}', encoding="utf-8")
    assert loss_family("nll").rational
    recipe = _file_recipe(str(path))
    assert recipe.inexact and recipe.default_numbers == "1dp"
    assert recipe.factors == 2  # the dense layer is weighted, flatten not
