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
