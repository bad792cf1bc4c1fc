"""Problem file → validated, typed spec.

Every input error is raised here, before any computation, as a
:class:`~cnngrad.errors.ProblemError` naming the JSON path (``layers[1].kernel``) and what is
wrong.  The spec carries each tensor twice where it matters: as the user gave it (for the
report: a parameter's gradient has exactly the shape the parameter was given in) and in the
engine's internal layout, feature maps (N, C, H, W) and vectors (N, K).

Shape rules (contract "How results are shaped"): the batch axis appears only when the input
was given 4-D; with a 2-D input a one-channel map is shown H×W and a multi-channel map C×H×W;
vectors are K, or N×K when batched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnngrad.errors import (SYNONYMS, TOP_LEVEL, CnnGradError, ProblemError, ResourceError,
                            ShapeError, allowed_list, and_list, closest, did_you_mean,
                            join_path, with_article)
from cnngrad.families import (LAYERS, LOSSES, SHORTHAND, layer_family, layer_fields, loss_family,
                              loss_fields, layer_type_called, layer_type_resembled,
                              loss_type_called, written_key)
from cnngrad.families.base import Head
from cnngrad.file_kinds import NAME_TEXT, not_a_problem_hint
from cnngrad.layers._common import PADDING_WORDS
from cnngrad.tensorio import (UNICODE_MINUSES, cell_place, decimal_commas_hint, integer_digits,
                              is_number_text, load_json_document, names_a_file,
                              names_non_finite, parse_number, parse_tensor, portable_json_error,
                              read_source, redirected_stdin, split_csvs_seen, unicode_minus_hint)

DEFAULT_MAX_ELEMENTS = 10**8
#: Largest integer option (stride, padding, ...): int64, as PyTorch; anything near it
#: fails a size check anyway, but the engine must never see a thousand-digit int.
MAX_OPTION = 2**63 - 1

TOP_KEYS_LAYERS = ("title", "layout", "input", "layers", "loss", "delta", "grading")
LAYOUTS = ("nchw", "nhwc")
#: the name a layer uses to read the problem's input ("input": "input")
INPUT = "input"
SHORTHAND_KEYS = ("kernel", "bias", "stride", "padding", "dilation", "flip_kernel")
#: a learning rate written in the problem file, where it has no place (--lr gives it)
LEARNING_RATE_KEYS = ("lr", "learning_rate", "learning-rate", "eta", "η")


def _learning_rate_hint(given: Any) -> str:
    """The hint for a learning rate written in the problem file: the --lr option, with the
    rate as written when it reads as one (else an example)."""
    written = isinstance(given, (int, Decimal)) and not isinstance(given, bool)
    written = written or (isinstance(given, str) and re.fullmatch(r"[-+0-9./eE]{1,24}", given))
    rate = given if written else "0.1"
    return (f"the learning rate is an option, not part of the problem: --lr {rate} (backward, "
            f"explain and check take it)")


_NAME_RE = re.compile(rf"{NAME_TEXT}\Z")  # \Z: no final line break
#: The layer names met so far: each one's layer (its JSON path) and whether its "name" gave it
#: (else it is the default ``<type>_<k>``).
_Names = dict[str, tuple[str, bool]]


# --------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Layout:
    """How the user's input was given, which decides how every result is shown.

    The engine works channels-first, whatever the user wrote: feature maps (N, C, H, W), or
    (N, C, L) in a 1-D problem, and vectors (N, K).  This object is the one place that
    converts between that internal form and the form the user reads and writes (contract
    "How results are shaped" and "Layouts").

    Attributes
    ----------
    input_rank : int
        The rank of the problem's ``input`` as given (2-D problem: 2, 3 or 4; 1-D: 1, 2, 3;
        1 for a vector K read by a network with no map layer, :attr:`vector_input`).
    channels_last : bool
        ``"layout": "nhwc"``: maps are H×W×C / N×H×W×C (1-D: L×C / N×L×C).
    spatial : int
        1 for a 1-D problem (maps (N, C, L)), 2 otherwise; the first map layer decides.

    How a family asks the layout
    ----------------------------
    ``head.layout`` in ``build`` (``trace.layout`` in a report):

    - ``layout.channels_last`` and ``layout.spatial``: which form its own parameters come in
      (e.g. HWIO kernels under nhwc); a family converts its parameters to internal in
      ``build`` and its gradients back to exactly the given shape in ``backward``;
    - ``layout.display_shape(internal_shape)``: the shape the user must give a map- or
      vector-shaped field (a dropout mask, a target) and sees in results;
    - ``layout.to_internal(given, internal_shape)`` / ``layout.to_display(internal)``: a
      map or vector between the two forms (after checking the shape against
      ``display_shape``);
    - ``layout.display_index(internal_shape, index)`` / ``layout.internal_index(...)``: one
      element's index between the two forms (explanations).
    """

    input_rank: int  # 2, 3 or 4 (1-D problem: 1, 2 or 3; a vector input: 1)
    channels_last: bool = False
    spatial: int = 2

    @property
    def vector_input(self) -> bool:
        """The input is a vector K (internal (1, K)): a rank below the maps' least."""
        return self.input_rank < self.spatial

    @property
    def batched(self) -> bool:
        return self.input_rank == self.spatial + 2

    @property
    def name(self) -> str:
        return "nhwc" if self.channels_last else "nchw"

    def is_map(self, internal_shape: tuple[int, ...]) -> bool:
        return len(internal_shape) == self.spatial + 2

    def map_shape(self, n: int, c: int, *sizes: int) -> tuple[int, ...]:
        """Display shape of an internal (N, C, H, W) (1-D: (N, C, L)) feature map."""
        sizes = tuple(sizes)
        if self.batched:
            return (n,) + sizes + (c,) if self.channels_last else (n, c) + sizes
        if self.input_rank == self.spatial and c == 1:
            return sizes
        return sizes + (c,) if self.channels_last else (c,) + sizes

    def vector_shape(self, n: int, k: int) -> tuple[int, ...]:
        return (n, k) if self.batched else (k,)

    def display_shape(self, internal_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(internal_shape) == 2:
            return self.vector_shape(*internal_shape)
        if self.is_map(internal_shape):
            return self.map_shape(*internal_shape)
        raise ValueError(f"not an internal activation shape: {internal_shape}")

    def to_display(self, internal: np.ndarray) -> np.ndarray:
        """Internal (N, C, H, W) / (N, C, L) or (N, K) array → the shape the user thinks in."""
        shown = self.display_shape(internal.shape)
        if self.channels_last and self.is_map(internal.shape):
            return np.moveaxis(internal, 1, -1).reshape(shown)
        return internal.reshape(shown)

    def to_internal(self, shown: np.ndarray, internal_shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of :meth:`to_display` (the caller has checked the shape)."""
        internal_shape = tuple(internal_shape)
        if self.channels_last and self.is_map(internal_shape):
            n, c, *sizes = internal_shape
            last = np.asarray(shown).reshape((n, *sizes, c))
            return np.ascontiguousarray(np.moveaxis(last, -1, 1))
        return np.asarray(shown).reshape(internal_shape)

    def input_to_internal(self, given: np.ndarray) -> np.ndarray:
        """The problem's input as given → internal (N, C, H, W) / (N, C, L), or (1, K)."""
        if self.vector_input:
            return given.reshape(1, -1)
        full = self.spatial + 2
        if not self.channels_last:
            return given.reshape((1,) * (full - given.ndim) + given.shape)
        if given.ndim == self.spatial:  # one channel, no batch
            return given.reshape((1, 1) + given.shape)
        if given.ndim == self.spatial + 1:  # H×W×C
            return np.ascontiguousarray(np.moveaxis(given, -1, 0)[None])
        return np.ascontiguousarray(np.moveaxis(given, -1, 1))

    @property
    def grid_axes(self) -> str:
        """The letters naming a shown map's leading axes above its grids: ``[n, c]`` over the
        H×W grids of a 2-D problem, ``[n]`` over the C×L grids of a batched 1-D problem."""
        return "n" if self.spatial == 1 else "nc"

    def to_grids(self, shown: np.ndarray) -> np.ndarray:
        """A shown map in the order its grids are drawn: channels before rows under nhwc
        (H×W×C, N×H×W×C → C×H×W, N×C×H×W), else as it is (1-D maps L×C too)."""
        if self.channels_last and self.spatial == 2 and np.ndim(shown) >= 3:
            return np.moveaxis(shown, -1, -3)
        return shown

    def display_axes(self, internal_shape: tuple[int, ...]) -> tuple[int, ...]:
        """For each axis of the display form, the internal axis it is (dropped axes left
        out): ``(0, 2, 3, 1)`` for a batched nhwc map."""
        if len(internal_shape) == 2:
            return (0, 1) if self.batched else (1,)
        sizes = tuple(range(2, len(internal_shape)))
        if self.batched:
            return (0,) + sizes + (1,) if self.channels_last else (0, 1) + sizes
        if self.input_rank == self.spatial and internal_shape[1] == 1:
            return sizes
        return sizes + (1,) if self.channels_last else (1,) + sizes

    def display_index(self, internal_shape: tuple[int, ...], index: tuple[int, ...]
                      ) -> tuple[int, ...]:
        """One element's internal index → its index in the display form."""
        return tuple(index[axis] for axis in self.display_axes(internal_shape))

    def internal_index(self, internal_shape: tuple[int, ...], index: tuple[int, ...]
                       ) -> tuple[int, ...]:
        """One element's display index → its internal index (dropped axes are 0)."""
        out = [0] * len(internal_shape)
        for axis, value in zip(self.display_axes(internal_shape), index):
            out[axis] = value
        return tuple(out)


def shape_text(shape: tuple[int, ...]) -> str:
    """``(4, 4) -> '4×4'``; a scalar is 'a number'."""
    return "×".join(str(s) for s in shape) if shape else "a number"


def axis_range_text(size: int, base: int = 0) -> str:
    """The indices one axis takes, for an index outside it: ``(2, 0) -> 'indices 0 to 1
    along an axis of 2'`` (``base`` 1 with ``--one-based``); ``explain`` and ``check`` say
    it in the same words."""
    return f"indices {base} to {base + size - 1} along an axis of {size}"


#: The most digits an index of a dotted path is read with: more is outside any tensor, and
#: said so without int(), which refuses past sys.get_int_max_str_digits (640 at least).
MAX_INDEX_DIGITS = 640


def index_outside_text(path: str, index: tuple[int, ...], shape: tuple[int, ...], *,
                       base: int = 0, parts: bool = False) -> str:
    """Why an element index (``parts``: also a leading index, naming a part) reaches no cell
    of the tensor ``path`` of ``shape``: a single number takes none; too many indices (or
    none) say how many it takes; else the first axis it overruns, with the indices that axis
    takes (:func:`axis_range_text`).  Answers files and the grading block's points say it so.
    """
    if not shape:
        return f"'{path}' is a single number: no index"
    shown = f"index {[i + base for i in index]} is outside '{path}' of shape {shape_text(shape)}"
    if not 0 < len(index) <= len(shape):
        rank = f"{len(shape)} indices" if len(shape) != 1 else "1 index"
        return f"{shown} ({rank}{' at most' if parts else ''}, each from {base})"
    axis = next(axis for axis, (i, n) in enumerate(zip(index, shape)) if not 0 <= i < n)
    which = f": {which_index_text(axis, index[axis] + base)}" if len(index) > 1 else ""
    return f"{shown}{which} ({axis_range_text(shape[axis], base)})"


def counted_from_one(index: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether an index that overruns ``shape`` counting from 0 reads as a cell (or a part,
    with fewer indices) counting from 1: each index from 1 to its axis's size (``[2, 2]`` or
    ``[2]`` of a 2×2)."""
    return (0 < len(index) <= len(shape)
            and all(1 <= i <= n for i, n in zip(index, shape)))


#: The hint for such an index, where ``--one-based`` is an option.
ONE_BASED_HINT = "counting from 1? give --one-based (indices then count from 1)"
#: The hint for an index of 0 given with ``--one-based`` (each index within its axis counting
#: from 0).
ZERO_BASED_HINT = "counting from 0? drop --one-based (with it indices count from 1)"


#: How an index's place is said (a path has at most a handful of axes).
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


def which_index_text(axis: int, value: int) -> str:
    """Which index of several is outside its axis: ``(1, 5) -> 'its second index is 5'``
    (``value`` as the user wrote it); ``explain`` and ``check`` say it in the same words."""
    return f"its {_ORDINALS[axis]} index is {value}"


def pair_text(pair) -> str:
    """A per-axis setting as the tables write it: ``(2, 2) -> '2'``, ``(2, 1) -> '2×1'``."""
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def every_text(pair) -> str:
    """Which cells a per-axis step keeps, in words: ``(2, 2) -> 'every 2nd entry'``, ``(2, 3)
    -> 'every 2nd row and 3rd column'`` (a dilation's or a stride's cells)."""
    def every(k: int, what: str) -> str:
        if k == 1:
            return f"every {what}"
        suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
        return f"every {k}{suffix} {what}"

    if pair[0] == pair[1]:
        return every(pair[0], "entry")
    return f"{every(pair[0], 'row')} and {every(pair[1], 'column')}"


def sides_text(sides) -> str:
    """Padding per side as the tables write it: 2-D (top, bottom, left, right)
    ``(1, 1, 1, 1) -> '1'``, ``(1, 1, 2, 2) -> '1×2'`` (rows × columns), ``(0, 1, 0, 1) ->
    'top 0, bottom 1, left 0, right 1'``; 1-D (left, right) ``(1, 1) -> '1'``, ``(0, 2) ->
    'left 0, right 2'``."""
    if len(set(sides)) == 1:
        return str(sides[0])
    if len(sides) == 4 and sides[0] == sides[1] and sides[2] == sides[3]:
        return pair_text((sides[0], sides[2]))
    names = ("top", "bottom", "left", "right") if len(sides) == 4 else ("left", "right")
    return ", ".join(f"{name} {side}" for name, side in zip(names, sides))


# --------------------------------------------------------------------------- spec types


@dataclass
class LayerSpec:
    """Common part of every layer: its position, name, type and JSON path."""

    index: int
    name: str
    type: str
    where: str  # JSON path of the layer object ("layers[2]"; "" for the shorthand)
    in_shape: tuple[int, ...] = ()  # internal
    out_shape: tuple[int, ...] = ()  # internal
    #: the names of the layers it reads ("input": the problem's input); by default the
    #: previous layer; ``add`` and ``concat`` read two or more
    inputs: tuple[str, ...] = ()
    in_shapes: tuple[tuple[int, ...], ...] = ()  # internal, one per input

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameters as the user gave them (name → array); {} for parameter-free layers."""
        return {}


@dataclass
class LossSpec:
    type: str  # mse | cross_entropy
    target: np.ndarray  # mse: display shape of the output; cross_entropy: internal one-hot/probs (N, K)
    reduction: str = "half_sum"
    target_given: np.ndarray | None = None  # as the user gave it
    class_index: bool = False


@dataclass
class Problem:
    """A validated problem, ready for :func:`cnngrad.network.run`."""

    title: str | None
    file: str  # as shown in messages
    base_dir: Path
    layout: Layout
    input: np.ndarray  # as given
    x: np.ndarray  # internal (N, C, H, W) or, in a 1-D problem, (N, C, L)
    layers: list[LayerSpec]
    loss: LossSpec | None
    delta: np.ndarray | None  # internal shape of the last output
    exact: bool = False
    input_files: list[Path] = field(default_factory=list)  # files the problem read (never overwritten)
    shorthand: bool = False
    #: the parsed document, numbers as written: what an exact re-run at a kink reads
    source: Any = field(default=None, repr=False)
    grading: Any = None  # the "grading" block as written: only check reads it (cnngrad.teach.grading)
    #: quick mode's options whose tensor came from a .json file, and that file: where a later
    #: error about it is placed (:func:`check_dtype_range`)
    json_files: dict[str, str] = field(default_factory=dict)

    @property
    def grading_given(self) -> bool:
        """Whether the document has a "grading" key (a "grading": null is an error for check)."""
        return isinstance(self.source, dict) and "grading" in self.source

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.layers[-1].out_shape

    def layer(self, name: str) -> LayerSpec:
        for spec in self.layers:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def readers(self, name: str) -> list[LayerSpec]:
        """The layers that read the output named ``name`` (``"input"``: the input), as
        :meth:`cnngrad.network.Trace.readers` finds them in a run."""
        return [spec for spec in self.layers if name in spec.inputs]


# --------------------------------------------------------------------------- loading


def load_problem(path: str, *, exact: bool = False, max_elements: int = DEFAULT_MAX_ELEMENTS,
                 stdin_bytes: bytes | None = None) -> Problem:
    """Read, parse and validate a problem file (``-`` for standard input)."""
    raw, file, base_dir = read_source(path, stdin_bytes)
    document = load_json_document(raw, file)
    problem = build_problem(document, file=file, base_dir=base_dir, exact=exact,
                            max_elements=max_elements)
    if path != "-":
        problem.input_files.append(Path(path))
    elif stdin_bytes is None and (redirected := redirected_stdin()) is not None:
        problem.input_files.append(redirected)  # `- -o p.json < p.json` would overwrite it
    return problem


def build_problem(document: Any, *, file: str, base_dir: Path, exact: bool = False,
                  max_elements: int = DEFAULT_MAX_ELEMENTS) -> Problem:
    """Validate a parsed JSON document into a :class:`Problem` (see the module docstring)."""
    builder = _Builder(file, base_dir, exact, max_elements)
    with split_csvs_seen() as split:
        try:
            problem = builder.build(document)
        except ShapeError as error:
            _hint_stacked_rows(error, document, builder)
            _hint_split_csv(error, split)
            raise
    problem.source = document
    return problem


def _stacked_rows(reference: dict | None, layout: Layout,
                  given: np.ndarray) -> tuple[int, ...] | None:
    """The shape of a 2-D channels-last problem's input read from a list of CSV files (the
    files on its first axis, which ``"nhwc"`` reads as rows), else None."""
    stacked = isinstance(reference, dict) and isinstance(reference.get("csv"), list)
    two_d_map = layout.channels_last and layout.spatial == 2 and given.ndim == 3
    return given.shape if stacked and two_d_map else None


def _hint_stacked_rows(error: ShapeError, document: dict, builder: _Builder) -> None:
    """A shape error in a channels-last problem whose input is a list of CSV files: the
    list is stacked on a new first axis (the contract's rule), which ``"nhwc"`` reads as the
    rows, so files meant as channels make a map of other channels.  Said only when the same
    problem with the files as channels is valid or gets further (a later layer or stage; or
    the same one with an error about values, not shapes, which only a shape the first
    build did not have can reach), so an error the layout does not explain keeps its own
    hint alone, and said before that hint, which takes the input as read."""
    if builder.stacked_rows is None:
        return
    files, rows, cols = builder.stacked_rows
    shape = (rows, cols) if files == 1 else (rows, cols, files)  # as the hint says
    as_channels = {**document, "input": np.zeros(shape, dtype=int).tolist()}
    again = _Builder(builder.file, builder.base_dir, builder.exact, builder.max_elements)
    try:
        with split_csvs_seen():  # its files are not the problem's as read
            again.build(as_channels)
    except CnnGradError as later:
        further = again.progress > builder.progress or (
            again.progress == builder.progress and not isinstance(later, ShapeError))
        if not further:
            return
    read = f"which \"nhwc\" reads as rows ({files}×{rows}×{cols}: {cols} channels)"
    if files == 1:
        alone = json.dumps({"csv": document["input"]["csv"][0]}, ensure_ascii=False)
        hint = (f"the input's list of one CSV file makes a new first axis, {read}: for one "
                f"channel give the file alone, {alone}")
    else:
        hint = (f"the input's {files} CSV files are stacked on a new first axis, {read}: for "
                f"{files} channels give the input {rows}×{cols}×{files} (H×W×C) as nested "
                f"lists or .npy")
    error.hint = hint if error.hint is None else f"{hint}; else {error.hint}"


def _hint_split_csv(error: ShapeError, split: list[tuple[str, str, str]]) -> None:
    """A shape error after a CSV whose numbers look split at their decimal commas (``-0,13``
    read as two cells): its grid has twice the columns meant, and the error may name it only
    through another tensor (the delta that a 2×4 kernel makes 4×2).  Said before the error's
    own hint, which assumes the numbers as read."""
    if split:
        hint = decimal_commas_hint(split[0][1], split[0][2], split[0][0])
        error.hint = hint if error.hint is None else f"{hint}; else {error.hint}"


def check_dtype_range(problem: Problem, dtype) -> None:
    """Every number the problem gives fits ``dtype`` (a float32 run), neither beyond its range
    nor rounded to 0 in it: one that does not is an error at its own cell (at its tensor, when
    that came from a file), not an overflow met later in some layer's result.

    Raises
    ------
    ProblemError
        The first number, in the problem's order, beyond ``dtype``'s largest finite value or
        so small that ``dtype`` rounds it to 0.
    """
    if dtype is None or np.dtype(dtype).kind != "f" or np.dtype(dtype) == np.float64:
        return
    largest = float(np.finfo(dtype).max)
    doc = problem.source if isinstance(problem.source, dict) else {}

    def key_of(obj: Any, key: str) -> Any:
        return obj.get(key) if isinstance(obj, dict) else None

    given: list[tuple[str, Any, Any]] = [("input", problem.input, key_of(doc, "input"))]
    raw_layers = key_of(doc, "layers")
    for spec in problem.layers:
        raw = doc  # the one-conv shorthand's fields are top-level keys
        if spec.where:
            raw = raw_layers[spec.index] if isinstance(raw_layers, list) else None
        for key, values in layer_family(spec.type).given_tensors(spec).items():
            path = f"{spec.where}.{key}" if spec.where else key
            given.append((path, values, key_of(raw, key)))
    given.append(("delta", None if problem.delta is None else
                  problem.layout.to_display(problem.delta), key_of(doc, "delta")))
    if problem.loss is not None:
        given.append(("loss.target", problem.loss.target_given,
                      key_of(key_of(doc, "loss"), "target")))
    for path, values, written in given:
        if values is None or np.size(values) == 0:
            continue
        numbers = np.asarray(values, dtype=np.float64)
        too_large = np.abs(numbers) > largest
        # as float64 refuses 1e-400: a number the dtype rounds to 0 is not the one given
        with np.errstate(under="ignore", over="ignore"):  # 1e39 is too large, said below
            too_small = (numbers != 0) & (numbers.astype(dtype) == 0)
        bad = too_large | too_small
        if not bad.any():
            continue
        cell = np.unravel_index(int(np.argmax(bad)), numbers.shape)
        # every tensor here is as given: the cell as JSON nests it, or its row and column
        # in a CSV file, its element of a .npy file
        file, where = cell_place(written, path, cell, file=problem.file,
                                 base_dir=problem.base_dir)
        name = np.dtype(dtype).name
        if too_small[cell]:
            error = ProblemError(f"{numbers[cell]:g} is too small ({name} rounds it to 0)",
                                 where=where or None, file=file,
                                 hint="write 0 if you mean zero, or use --dtype float64")
        else:
            error = ProblemError(f"{numbers[cell]:g} does not fit "
                                 f"{name} (its largest is about {largest:.1e})",
                                 where=where or None, file=file, hint="use --dtype float64")
        raise _in_json_file(on_command_line(error), problem.json_files)


def check_layer_keys(ctx, raw: dict, where: str, kind: str, following: Any = None) -> None:
    """The keys of a layer object of type ``kind`` (``ctx``: the builder): "type", "name",
    "input" (one input; add and concat name theirs in "inputs") and its family's fields.
    ``following`` is the layer object listed after it, if any (a Keras "activation" key's
    hint looks at it)."""
    family = layer_family(kind)
    reads_many = family.reads_many
    common = ("type", "name") if reads_many else ("type", "name", "input")
    if reads_many and "input" in raw:
        raise ctx.error(join_path(where, "input"),
                        f"{with_article(kind)} layer reads two or more layers: name them in "
                        f"'inputs'", f"\"inputs\": [\"{raw['input']}\", ...]"
                        if isinstance(raw["input"], str) else None)
    allowed = common + family.fields
    unknown = next((key for key in raw if key not in allowed), None)
    if unknown == "activation":  # Keras' Dense(..., activation="sigmoid")
        raise ctx.error(join_path(where, unknown), f"unknown key {_show(unknown)} in "
                                                   f"{with_article(kind)} layer",
                        _activation_key_hint(raw[unknown], following, kind))
    _check_keys_of(ctx, raw, where, allowed, f"{with_article(kind)} layer", layer_fields)


#: What Keras (or PyTorch) calls no activation at all, in lower case.
_NO_ACTIVATION = ("linear", "identity", "none")


def _activation_type(value: Any) -> str | None:
    """The activation layer type a Keras "activation" value names ("sigmoid", "ReLU",
    "nn.LeakyReLU"); "" for one that means none ("linear", null); None when it names none
    known."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return None
    written = written_key(value)
    if written in _NO_ACTIVATION:
        return ""
    return next((kind for kind in _activation_types() if kind.replace("_", "") == written),
                None)


def _activation_types() -> list[str]:
    """The layer types that are activations (this imports every family: an error's hint)."""
    return [kind for kind in LAYERS if layer_family(kind).activation_note is not None]


def _activation_key_hint(value: Any, following: Any, own_type: str | None = None) -> str:
    """The hint for a Keras-style ``"activation": value`` in a layer of type ``own_type``:
    an activation is a layer of its own, added after it (``following``: the layer listed
    after it, which may be that activation already)."""
    kind = _activation_type(value)
    if kind == "":
        return "remove it (no activation: the layer's output as it is)"
    if kind is not None and kind == own_type:
        return f"this {kind} layer is that activation itself: remove the key"
    if kind is None:
        return (f"an activation is a layer of its own: add one after it, "
                f"{{\"type\": ...}} with one of {', '.join(sorted(_activation_types()))}")
    if isinstance(following, dict) and following.get("type") == kind:
        return (f"an activation is a layer of its own, and the next layer is "
                f"{{\"type\": \"{kind}\"}} already: remove the key")
    note = layer_family(kind).activation_note
    return (f"an activation is a layer of its own: add {{\"type\": \"{kind}\"}} after it"
            + (f" {note}" if note else ""))


def check_loss_keys(ctx, raw: dict, kind: str) -> None:
    """The keys of a loss object of type ``kind`` (``ctx``: the builder)."""
    _check_keys_of(ctx, raw, "loss", ("type",) + loss_family(kind).fields,
                   f"{with_article(kind)} loss", loss_fields)


def _check_keys_of(ctx, raw: dict, where: str, allowed: tuple[str, ...], what: str,
                   fields_by_type: Callable[[], dict[str, tuple[str, ...]]]) -> None:
    """Every key of ``raw`` (``what``: "a relu layer") is ``allowed``; a field of another
    type ("ties" on an avgpool2d, "reduction" on a cross_entropy loss) is no typo: the error
    names the types that have it instead of the closest allowed spelling.  ``fields_by_type``
    is called only then: it loads every family."""
    unknown = next((key for key in raw if key not in allowed), None)
    if isinstance(unknown, str) and _grading_key(unknown):
        # not "did you mean 'padding'?": the block (or a key of it) in the wrong object
        raise ctx.error(join_path(where, unknown), f"unknown key {_show(unknown)} in {what}",
                        "the grading block is a key of the problem itself, beside "
                        "\"layers\": move \"grading\" there" if unknown == "grading" else
                        f"'{unknown}' belongs in the grading block, a key of the problem "
                        f"itself: \"grading\": {{\"{unknown}\": ...}}")
    if (isinstance(unknown, str) and unknown.lower() in LEARNING_RATE_KEYS
            and closest(unknown, allowed) is None):
        # no layer or loss has a learning rate: as at the top level, the --lr option (but
        # batch norm's "eta" is a slip of its "beta")
        raise ctx.error(join_path(where, unknown), f"unknown key {_show(unknown)} in {what}",
                        _learning_rate_hint(raw[unknown]))
    if isinstance(unknown, str):
        owners = [other for other, fields in fields_by_type().items() if unknown in fields]
        if owners:
            # an allowed key it extends or shortens ("inputs" for "input") is still the hint
            # (or a synonym: dense's "weights" on a conv2d layer is its "kernel")
            # (a plural, a letter or two; "padding_mode" is no longer "padding")
            best = closest(unknown, allowed)
            longer, shorter = (unknown, best) if len(unknown) >= len(str(best)) else (best, unknown)
            related = best is not None and (
                longer.startswith(shorter) and len(longer) - len(shorter) <= 2
                and "_" not in longer[len(shorter):]
                or best in SYNONYMS.get(unknown.lower(), ()))
            raise ctx.error(join_path(where, unknown),
                            f"unknown key {_show(unknown)} in {what}: it is a field of "
                            f"{and_list(owners)}",
                            did_you_mean(unknown, allowed) if related else allowed_list(allowed))
    ctx.check_keys(raw, allowed, where, what)


def _grading_key(key: str) -> bool:
    """Whether ``key`` is the grading block's name or one of its keys (``points``)."""
    from cnngrad.teach.grading import GRADING_KEYS

    return key == "grading" or key in GRADING_KEYS


def check_misspelt_type(ctx, obj: dict, where: str, known: set[str], what: str) -> None:
    """An object without "type" whose unknown key is close to it ("typ", "tpye"): the error
    names that key, as for any other typo, rather than only the missing type."""
    for key in obj:
        if isinstance(key, str) and key not in known and closest(key, ("type",)):
            raise ctx.error(join_path(where, key), f"unknown key {_show(key)} in {what}",
                            "did you mean 'type'?")


def check_layers_list(ctx, doc: dict) -> list:
    """The document's "layers" (``ctx``: the builder): a list of at least one."""
    if "layers" not in doc:
        raise ctx.error(TOP_LEVEL, "missing key 'layers' (or 'kernel' for the one-conv shorthand)")
    raw_layers = doc["layers"]
    if not isinstance(raw_layers, list):
        raise ctx.error("layers", f"expected a list of layers, got {_kind(raw_layers)}")
    if not raw_layers:
        raise ctx.error("layers", "no layers: give at least one")
    return raw_layers


#: Other frameworks' names of the two layouts (Keras' data_format, TensorFlow's and ONNX's
#: axis letters), lower case: each is told the layout it means.
_LAYOUT_NAMES = {"channels_last": "nhwc", "channelslast": "nhwc", "nlc": "nhwc", "nwc": "nhwc",
                 "hwc": "nhwc", "channels_first": "nchw", "channelsfirst": "nchw", "ncl": "nchw",
                 "ncw": "nchw", "chw": "nchw"}


def _layout_meant(value: str) -> str | None:
    return _LAYOUT_NAMES.get(value.strip().lower())


def _choice_hint(value: Any, allowed: tuple[str, ...],
                 meant: Callable[[str], str | None] | None) -> str:
    """The hint for a ``value`` not among ``allowed``: the one ``meant`` gives (another
    framework's name for it: 'Linear' is dense), else the closest spelling, else the list;
    an allowed value in a list of its own (["nhwc"]) is to be written without the brackets."""
    if isinstance(value, list) and len(value) == 1 and value[0] in allowed:
        return f"write it as a string, without the brackets: \"{value[0]}\""
    if not isinstance(value, str):
        return allowed_list(allowed)
    best = meant(value) if meant is not None else None
    return f"did you mean '{best}'? ({allowed_list(allowed)})" if best else \
        did_you_mean(value, allowed)


def layer_kind(ctx, raw: Any, where: str) -> str:
    """The type of the layer object ``raw`` at ``where`` (``ctx``: the builder), or the error
    saying why it has none: not an object, no "type" (a misspelt "typ" named), an unknown
    type."""
    if not isinstance(raw, dict):
        raise ctx.error(where, f"a layer must be an object {{\"type\": ...}}, got {_kind(raw)}")
    if "type" not in raw:
        known = {"name", "input", "inputs"}.union(*layer_fields().values())
        check_misspelt_type(ctx, raw, where, known, "a layer")
        raise ctx.error(where, "layer has no 'type'", allowed_list(LAYERS))
    kind = raw["type"]
    if isinstance(kind, str) and kind not in LAYERS and layer_type_called(kind) is None:
        # a loss written as the last layer, as a Keras model lists it
        loss = kind if kind in LOSSES else loss_type_called(kind)
        if loss is not None:
            raise ctx.error(join_path(where, "type"), f"unknown layer type {_show(kind)}",
                            f"{loss} is a loss: give it after the layers, \"loss\": "
                            f"{{\"type\": \"{loss}\", \"target\": ...}}")
        like = layer_type_resembled(kind)
        if like is not None:  # gelu is not relu: no "did you mean" to another function
            raise ctx.error(join_path(where, "type"), f"unknown layer type {_show(kind)}",
                            f"cnngrad has no such layer, and {like} is another function "
                            f"with other gradients ({allowed_list(LAYERS)})")
    return ctx.choice(kind, join_path(where, "type"), tuple(LAYERS), "layer type",
                      meant=layer_type_called)


def name_clash(ctx, name: str, where: str, given: bool, other: str,
               other_given: bool) -> ProblemError:
    """Two layers with one name (``ctx``: the builder): the later one, at ``where``, and the
    one at ``other``, each named by its "name" or not (``given``, ``other_given``).  A default
    name is said to be one, since the layer it belongs to has no "name" to look for."""
    other = other or "the top level"
    hint = 'give one of them another "name"'
    if not given:
        return ctx.error(where, f"its default name '{name}' is already the name of {other}", hint)
    if not other_given:
        return ctx.error(where, f"layer name '{name}' is already the default name of {other}",
                         hint)
    return ctx.error(where, f"layer name '{name}' is used twice (also at {other})",
                     "layer names are unique, dotted paths name layers by them: " + hint)


_QUOTED_INTEGER_RE = re.compile(r"\s*\+?([0-9]+)(?:\.0*)?\s*", re.ASCII)


def quoted_integer_hint(value: Any, minimum: int = 0) -> str | None:
    """For an integer field given as a string of digits (``"stride": "2"``) that would be
    right without its quotes: say to drop them.  None for anything else."""
    match = _QUOTED_INTEGER_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None or len(match.group(1)) > 18 or int(match.group(1)) < minimum:
        return None
    return f"drop the quotes: write {int(match.group(1))}, a number, not a string"


def padding_word(ctx, value: str, where: str) -> str:
    """A conv's padding given as a string (``ctx``: the builder): "valid" or "same"; a
    number in quotes, "1", is told to drop them."""
    if value not in PADDING_WORDS and (hint := quoted_integer_hint(value)):
        raise ctx.error(where, f"unknown padding {_show(value)}", hint)
    return ctx.choice(value, where, PADDING_WORDS, "padding")


def _integer_hint(value: Any, where: str, minimum: int) -> str | None:
    """The hint for an integer field's value that is none: a padding word, a number in
    quotes."""
    return _padding_word_hint(value, where) or quoted_integer_hint(value, minimum)


def _padding_word_hint(value: Any, where: str) -> str | None:
    """A pool's or a transposed conv's padding written as a conv's may be (``"same"``)."""
    if value not in PADDING_WORDS or where.rpartition(".")[2] != "padding":
        return None
    return (f"'{value}' is a padding of conv2d and conv1d only; here "
            + ("give it as 0" if value == "valid" else "give its size in numbers"))


#: The most numbers a rule about the numbers as written reads exactly in float mode.
WRITTEN_EXACT_CELLS = 10_000


def written_tensor(value: Any, where: str, parsed: np.ndarray, file: str,
                   base_dir: Path) -> np.ndarray:
    """The tensor ``value`` writes (``parsed``, as floats), as the exact rationals its
    decimals and fractions are: what a rule about the numbers as written decides on (a class
    index is whole, probabilities sum to 1), so that float rounding never decides it.  A
    tensor bigger than a hand computation is left as parsed: its exact reading would cost a
    second per 10⁵ numbers."""
    if parsed.size > WRITTEN_EXACT_CELLS:
        return parsed
    try:
        return parse_tensor(value, where, file=file, base_dir=base_dir, exact=True)
    except CnnGradError:  # beyond exact arithmetic (thousands of digits): the floats
        return parsed


def _check_spatial(ctx, family, kind: str, where: str, layout: Layout) -> None:
    """1-D and 2-D map layers cannot be mixed: the first map layer (``ctx.first_map``, the
    builder's) or the input decided."""
    spatial = family.spatial
    if spatial is None or spatial == layout.spatial:
        return
    decides = "the input" if ctx.first_map is None else \
        f"its first map layer, {ctx.first_map[1]} at {ctx.first_map[0]}"
    raise ctx.error(join_path(where, "type"),
                    f"{kind} works on {spatial}-D maps, but this problem's maps are "
                    f"{layout.spatial}-D ({decides}, decides)",
                    "1-D and 2-D map layers cannot be mixed in one problem", cls=ShapeError)


def _from_a_file(what: str, hint: str | None, value: dict) -> tuple[str, str | None]:
    """A shape error that ends on the shape of a tensor read from a file (``value``: its
    {"csv": ...} or {"npy": ...}), "got 1×16" or "got a number" (a 0-d .npy): the file named
    after it, and a one-row CSV given for a vector told that a CSV is a matrix.  Another
    shape at the end (the input's, which a kernel does not fit) is left alone."""
    got = re.search(r"got (?:shape )?([\d×]+|a number)$", what)
    if got is None:
        return what, hint
    what = f"{what} in {', '.join(reference_names(value))}"
    expected = what[:got.start()]
    vector_expected = re.search(r"shape \d+(?![\d×])|a vector of \d+|\d+ class indices|"
                                r"a list of \d+ class index", expected)
    if "csv" not in value or hint is not None:
        return what, hint
    if got.group(1) == "1×1" and re.search(r"expected a class index", expected):
        # one class index (or a cross_entropy's probabilities): the index is meant
        hint = "a CSV file is always a matrix (a list of them, 3-D): give the number in JSON"
    elif vector_expected and re.fullmatch(r"1×\d+", got.group(1)):
        hint = ("a CSV file is always a matrix (a list of them, 3-D): give a vector as a JSON "
                "list or an .npy file")
    return what, hint


def reference_names(value: Any) -> list[str]:
    """The file names a tensor's ``{"csv": ...}`` or ``{"npy": ...}`` names, as written
    (none for a tensor written in the file)."""
    if not isinstance(value, dict):
        return []
    named = []
    for key in ("csv", "npy"):
        names = value.get(key)
        named += [name for name in (names if isinstance(names, list) else [names])
                  if isinstance(name, str)]
    return named


def files_named(value: Any, base_dir: Path) -> list[Path]:
    """The input files a tensor's ``{"csv": ...}`` or ``{"npy": ...}`` names."""
    return [base_dir / name for name in reference_names(value)]


def _unknown_top_key_hint(key: str, doc: dict, shorthand: bool) -> str | None:
    """What to do about an unknown top-level key of a problem: the closest key, or what the
    document or the key is when it is recognisably something else."""
    kind_hint = not_a_problem_hint(doc)
    if kind_hint is not None:
        return kind_hint
    if key in SHORTHAND_KEYS:  # only possible without 'kernel'
        return (f"'{key}' belongs to the one-conv shorthand, which needs 'kernel'; with "
                f"'layers', put it in the conv2d layer")
    if key in layer_family(SHORTHAND).fields and shorthand:
        return (f"'{key}' is a {SHORTHAND} layer field: the shorthand accepts only "
                f"{', '.join(SHORTHAND_KEYS)}; use 'layers' for the rest")
    if key in layer_family(SHORTHAND).fields:
        return f"'{key}' is a {SHORTHAND} layer field: put it in the {SHORTHAND} layer"
    if key.lower() in LEARNING_RATE_KEYS:  # not "did you mean 'layers'?"
        return _learning_rate_hint(doc[key])
    if key.lower() == "target" or "target" in SYNONYMS.get(key.lower(), ()):
        return ('a target belongs to the loss: "loss": {"type": "mse", "target": ...} (or '
                'give the delta at the last layer as "delta")')
    if key.lower() == "data_format":  # Keras' and TensorFlow's name of the layout
        return ('the layout is "layout": "nhwc" (channels last, Keras\' "channels_last") or '
                '"nchw" (the default)')
    from cnngrad.teach.grading import GRADING_KEYS

    if key in GRADING_KEYS:
        return f'\'{key}\' belongs in the grading block: "grading": {{"{key}": ...}}'
    if key == "activation" and shorthand:  # the one conv, then Keras' activation
        kind = _activation_type(doc[key])
        if kind == "":
            return _activation_key_hint(doc[key], None)
        named = f'"{kind}"' if kind else "..."
        return (f"an activation is a layer of its own: give \"layers\": [{{\"type\": "
                f"\"{SHORTHAND}\", \"kernel\": ...}}, {{\"type\": {named}}}] (the shorthand is "
                f"one {SHORTHAND} alone)")
    return did_you_mean(key, TOP_KEYS_LAYERS + SHORTHAND_KEYS)


def _both_given_error(doc: dict, file: str, first: str, second: str, either: str,
                      both_null: str) -> ProblemError:
    """The error for a problem giving both of two keys it takes one of (``loss`` and
    ``delta``; ``layers`` and the shorthand's ``kernel``): a null one (a template's empty
    slot) is the slip, named with the hint to leave it out; ``either`` names the two as the
    message does, ``both_null`` is the hint when both are null."""
    if doc[first] is None and doc[second] is None:
        return ProblemError(f"'{first}' and '{second}' are both null; give one of them",
                            where=TOP_LEVEL, file=file, hint=both_null)
    for key, other in ((first, second), (second, first)):
        if doc[key] is None:
            return ProblemError(f"'{key}' is null; give either {either}, not both", where=key,
                                file=file, hint=f"leave '{key}' out: the problem gives "
                                                f"'{other}'")
    return ProblemError(f"give either {either}, not both", where=second, file=file)


def _delta_shape_hint(given: tuple[int, ...], layers: list, layout: Layout) -> str | None:
    """Why a ``delta`` may have the shape it has: the output of an earlier layer (the delta
    of the layer before the last one, say), or the last output channels-first in a
    channels-last problem."""
    last = layers[-1]
    # the last output channels first, as shown (without the batch axis when there is none)
    channels_first = tuple(last.out_shape) if layout.batched else tuple(last.out_shape[1:])
    if layout.channels_last and len(last.out_shape) > 2 and given == channels_first:
        return (f"the problem is channels-last (\"layout\": \"nhwc\"): give the delta as "
                f"{shape_text(layout.display_shape(last.out_shape))}, its channels on the last "
                f"axis")
    earlier = [spec.name for spec in layers[:-1]
               if layout.display_shape(spec.out_shape) == given]
    if earlier:
        return (f"{shape_text(given)} is the output of {earlier[-1]}: the delta is dE/d(output) "
                f"of the last layer, {last.name}; to start the backward pass at "
                f"{earlier[-1]}, drop the layers after it")
    return None


class _Builder:
    def __init__(self, file: str, base_dir: Path, exact: bool, max_elements: int) -> None:
        self.file = file
        self.base_dir = base_dir
        self.exact = exact
        self.max_elements = max_elements
        self.input_files: list[Path] = []
        #: (JSON path, type) of the first map layer, which decides 1-D or 2-D maps
        self.first_map: tuple[str, str] | None = None
        #: the problem's input is a vector K (no layer works on maps of a definite rank)
        self.vector_input = False
        #: where → the {"csv": ...} or {"npy": ...} a tensor there was read from
        self.tensor_files: dict[str, dict] = {}
        #: an nhwc input stacked from CSV files as rows, its shape (:func:`_stacked_rows`)
        self.stacked_rows: tuple[int, ...] | None = None
        self.progress = (0, 0)  # checks reached: top, (1, layer), (1, count) reads, (2, 0)

    # -- small helpers ------------------------------------------------------

    def error(self, where: str, what: str, hint: str | None = None, cls=ProblemError):
        if cls is ShapeError and where in self.tensor_files:
            what, hint = _from_a_file(what, hint, self.tensor_files[where])
        return cls(what, where=where or None, file=self.file, hint=hint)

    def tensor(self, value: Any, where: str, min_rank: int = 0, max_rank: int = 4) -> np.ndarray:
        self.input_files += files_named(value, self.base_dir)
        if isinstance(value, dict):
            self.tensor_files[where] = value
        return parse_tensor(value, where, file=self.file, base_dir=self.base_dir, exact=self.exact,
                            min_rank=min_rank, max_rank=max_rank)

    def written(self, value: Any, where: str, parsed: np.ndarray) -> np.ndarray:
        """:func:`written_tensor` of ``value``, ``parsed`` as this mode reads it."""
        return parsed if self.exact else written_tensor(value, where, parsed, self.file,
                                                        self.base_dir)

    def cell_error(self, value: Any, where: str, index: tuple[int, ...], what: str,
                   hint: str | None = None, cls=ProblemError):
        """An error about one element (or, with fewer indices, one row) of the tensor that
        ``value`` writes at ``where``, placed where that element is written: the JSON path
        of the element, or the CSV's ``row R, column C`` or the .npy's ``element [i,j]``
        when the tensor comes from a file."""
        file, at = cell_place(value, where, index, file=self.file, base_dir=self.base_dir)
        return cls(what, where=at or None, file=file, hint=hint)

    def number(self, value: Any, where: str):
        if isinstance(value, (list, dict)):  # a scalar field: not "the nesting is uneven"
            raise self.error(where, f"expected a number, got {_kind(value)}")
        return parse_number(value, where, file=self.file, exact=self.exact)

    def check_keys(self, obj: dict, allowed: tuple[str, ...], where: str, what: str) -> None:
        for key in obj:
            if key not in allowed:
                raise self.error(join_path(where, key), f"unknown key {_show(key)} in {what}",
                                 did_you_mean(key, allowed))

    def integer(self, value: Any, where: str, minimum: int = 1) -> int:
        refused = self.error(where, f"expected an integer ≥ {minimum}, got {_show(value)}",
                             _integer_hint(value, where, minimum))
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise refused
        if isinstance(value, Decimal):
            if not value.is_finite() or value != value.to_integral_value() or value < minimum:
                raise refused
            # the exponent first: int(Decimal("1e999999999")) would build a billion-digit int
            if value.adjusted() > len(str(MAX_OPTION)):
                raise self.error(where, f"{_show(value)} is too large (at most {MAX_OPTION:,})")
            value = int(value)
        if value < minimum:
            raise refused
        if value > MAX_OPTION:
            raise self.error(where, f"{_show(value)} is too large (at most {MAX_OPTION:,})")
        return value

    def int_pair(self, value: Any, where: str, minimum: int = 1) -> tuple[int, int]:
        """An integer or [rows, cols]."""
        if isinstance(value, list):
            if len(value) != 2:
                raise self.error(where, f"expected an integer or [rows, cols], got a list of "
                                        f"{len(value)}")
            return (self.integer(value[0], join_path(where, 0), minimum),
                    self.integer(value[1], join_path(where, 1), minimum))
        n = self.integer(value, where, minimum)
        return n, n

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(where, f"expected true or false, got {_show(value)}")
        return value

    def choice(self, value: Any, where: str, allowed: tuple[str, ...], what: str = "value",
               meant: Callable[[str], str | None] | None = None) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.error(where, f"unknown {what} {_show(value)}",
                             _choice_hint(value, allowed, meant))
        return value

    def check_size(self, elements: int, where: str, what: str) -> None:
        if elements > self.max_elements:
            raise self.error(where, f"{what} would hold {elements:,} elements, over the limit of "
                                    f"{self.max_elements:,}",
                             "raise it with --max-elements if you really mean it",
                             cls=ResourceError)

    # -- the document -------------------------------------------------------

    def build(self, doc: Any) -> Problem:
        if not isinstance(doc, dict):
            raise self.error(TOP_LEVEL,
                             f"the problem must be a JSON object {{...}}, got {_kind(doc)}")
        shorthand = "kernel" in doc
        if shorthand and "layers" in doc:
            raise _both_given_error(doc, self.file, "layers", "kernel",
                                    "'layers' or the one-conv shorthand 'kernel'",
                                    "a list of layers, or the one-conv shorthand's kernel, and "
                                    "leave the other out")
        allowed = TOP_KEYS_LAYERS + (SHORTHAND_KEYS if shorthand else ())
        for key in doc:
            if key not in allowed:
                raise self.error(key or TOP_LEVEL, f"unknown key {_show(key)}",
                                 _unknown_top_key_hint(key, doc, shorthand))

        title = doc.get("title")
        if "title" in doc and not isinstance(title, str):
            raise self.error("title", f"expected a string, got {_kind(title)}")

        if "input" not in doc:
            raise self.error(TOP_LEVEL, "missing key 'input'")
        channels_last = False
        if "layout" in doc:
            channels_last = self.choice(doc["layout"], "layout", LAYOUTS, "layout",
                                        _layout_meant) == "nhwc"
        if not shorthand:
            # the first map layer decides how the input's axes are read (1-D or 2-D): a
            # missing or misspelt type there is reported at the layer, not as the input's rank
            for index, raw in enumerate(check_layers_list(self, doc)):
                kind = layer_kind(self, raw, join_path("layers", index))
                if layer_family(kind).spatial is not None:
                    break
        raw_for_spatial = [{"type": SHORTHAND}] if shorthand else doc.get("layers")
        spatial, self.first_map = _spatial_of(raw_for_spatial)
        # with no layer that works on maps of a definite rank, a vector K is an input too,
        # as torch.nn.Linear takes a 1-D tensor (a layer that needs a map says so)
        least = 1 if self.first_map is None and not shorthand else spatial
        try:
            given_input = self.tensor(doc["input"], "input", min_rank=least,
                                      max_rank=spatial + 2)
        except ProblemError as exc:
            raise _vector_input_hint(exc, raw_for_spatial, channels_last) from None
        layout = Layout(given_input.ndim, channels_last=channels_last, spatial=spatial)
        self.vector_input = layout.vector_input
        self.stacked_rows = _stacked_rows(self.tensor_files.get("input"), layout, given_input)
        x = layout.input_to_internal(given_input)
        self.check_size(x.size, "input", "the input")

        if shorthand:
            conv = {k: doc[k] for k in SHORTHAND_KEYS if k in doc}
            conv["type"] = SHORTHAND
            raw_layers, layers_where = [conv], None
        else:
            raw_layers, layers_where = doc["layers"], "layers"

        has_loss, has_delta = "loss" in doc, "delta" in doc
        if has_loss and has_delta:
            raise _both_given_error(doc, self.file, "loss", "delta", "'loss' or 'delta'",
                                    "a loss ({\"type\": \"mse\", \"target\": ...}) or the "
                                    "delta at the last layer's output, and leave the other out")
        if not has_loss and not has_delta:
            raise self.error(TOP_LEVEL, "missing key 'loss' or 'delta' (one of them is needed)")

        layers = self.build_layers(raw_layers, layers_where, x.shape, layout)
        self.progress = (2, 0)
        out_shape = layers[-1].out_shape
        shown = layout.display_shape(out_shape)

        loss, delta = None, None
        if has_delta:
            given = self.tensor(doc["delta"], "delta")
            if given.shape != shown:
                raise self.error("delta", f"expected shape {shape_text(shown)} (the output of "
                                          f"{layers[-1].name}), got {shape_text(given.shape)}",
                                 _delta_shape_hint(given.shape, layers, layout),
                                 cls=ShapeError)
            delta = layout.to_internal(given, out_shape)
        else:
            loss = self.build_loss(doc["loss"], out_shape, layout, layers[-1].name)

        return Problem(title=title, file=self.file, base_dir=self.base_dir, layout=layout,
                       input=given_input, x=x, layers=layers, loss=loss, delta=delta,
                       exact=self.exact, input_files=self.input_files, shorthand=shorthand,
                       grading=doc.get("grading"))

    def build_layers(self, raw_layers: list, layers_where: str | None,
                     input_shape: tuple[int, ...], layout: Layout) -> list[LayerSpec]:
        counts: dict[str, int] = {}
        names: _Names = {}
        shapes: dict[str, tuple[int, ...]] = {INPUT: input_shape}
        read_by: dict[str, list[str]] = {}
        specs: list[LayerSpec] = []
        previous = INPUT
        for index, raw in enumerate(raw_layers):
            self.progress = (1, index)
            where = join_path(layers_where, index) if layers_where else ""
            kind = layer_kind(self, raw, where)
            family = layer_family(kind)
            reads_many = family.reads_many
            check_layer_keys(self, raw, where, kind, next(iter(raw_layers[index + 1:]), None))
            _check_spatial(self, family, kind, where, layout)
            counts[kind] = counts.get(kind, 0) + 1
            name = raw.get("name", f"{kind}_{counts[kind]}")
            name_where = join_path(where, "name") if "name" in raw else where
            if not isinstance(name, str) or not _NAME_RE.match(name) or name == INPUT:
                raise self.error(name_where, f"bad layer name {_show(name)}{_name_fault(name)}",
                                 _name_hint(name, f"{kind}_{counts[kind]}", names,
                                            raw_layers))
            if name in names:
                raise name_clash(self, name, name_where, "name" in raw, *names[name])
            if reads_many:
                inputs = self._read_inputs(raw, where, kind, names, raw_layers, index)
            elif "input" in raw:
                inputs = (self._read_name(raw["input"], join_path(where, "input"), names,
                                          raw_layers, index),)
            else:
                inputs = (previous,)
            names[name] = (where, "name" in raw)
            for source in dict.fromkeys(inputs):
                read_by.setdefault(source, []).append(name)
            in_shapes = tuple(shapes[source] for source in inputs)
            head = Head(index=index, name=name, kind=kind, where=where, inputs=inputs,
                        in_shapes=in_shapes, layout=layout)
            spec = family.build(self, raw, head)
            spec.in_shape, spec.in_shapes, spec.inputs = in_shapes[0], in_shapes, inputs
            previous = name
            shapes[name] = spec.out_shape
            self.check_size(_prod(spec.out_shape), where, f"the output of {name}")
            specs.append(spec)
        self.progress = (1, len(raw_layers))
        _check_every_output_is_read(self, specs, read_by)
        return specs

    def _read_name(self, value: Any, where: str, names: _Names, raw_layers: list,
                   index: int) -> str:
        """A layer name that a layer reads: "input" or a layer listed before it."""
        if not isinstance(value, str):
            raise self.error(where, f"expected a layer name or \"input\", got {_kind(value)}")
        if value == INPUT or value in names:
            return value
        known = ", ".join([INPUT] + list(names))
        if value == _name_at(raw_layers, index):
            raise self.error(where, f"'{value}' is this layer itself; a layer reads the input "
                                    f"or layers listed before it (known here: {known})")
        if value in _later_names(raw_layers, index):
            raise self.error(where, f"'{value}' is listed after this layer; a layer reads only "
                                    f"the input or layers listed before it (known here: "
                                    f"{known})",
                             "list the layers in an order where each comes after what it reads")
        hint = did_you_mean(value, tuple([INPUT] + list(names)))
        raise self.error(where, f"unknown layer '{value}' (known here: {known})", hint)

    def _read_inputs(self, raw: dict, where: str, kind: str, names: _Names,
                     raw_layers: list, index: int) -> tuple[str, ...]:
        at = join_path(where, "inputs")
        if "inputs" not in raw:
            raise self.error(where, f"{kind} layer has no 'inputs'",
                             "\"inputs\": the names of two or more layers (or \"input\")")
        value = raw["inputs"]
        if not isinstance(value, list):
            raise self.error(at, f"expected a list of two or more layer names, got "
                                 f"{_kind(value)}")
        if len(value) < 2:
            raise self.error(at, f"{kind} needs two or more inputs, got {len(value)}")
        return tuple(self._read_name(item, join_path(at, i), names, raw_layers, index)
                     for i, item in enumerate(value))

    def build_loss(self, raw, out_shape, layout: Layout, last_name: str) -> LossSpec:
        if not isinstance(raw, dict):
            raise self.error("loss", f"expected an object {{\"type\": ...}}, got {_kind(raw)}")
        if "type" not in raw:
            check_misspelt_type(self, raw, "loss", set().union(*loss_fields().values()),
                                "a loss")
            raise self.error("loss", "loss has no 'type'", allowed_list(LOSSES))
        kind = self.choice(raw["type"], "loss.type", tuple(LOSSES), "loss type",
                           meant=loss_type_called)
        family = loss_family(kind)
        check_loss_keys(self, raw, kind)
        if "target" not in raw:
            raise self.error("loss", f"{kind} loss has no 'target'")
        return family.build(self, raw, out_shape, layout, last_name)

    # -- for the layer families ---------------------------------------------

    def need_map(self, shape, where: str, kind: str) -> tuple[int, ...]:
        """The internal map shape (N, C, H, W), or (N, C, L) in a 1-D problem."""
        if len(shape) == 2:
            hint = ("the problem's input is a vector; a map is H×W, C×H×W or N×C×H×W (a "
                    "1-D map L, C×L or N×C×L once a conv1d, maxpool1d or avgpool1d reads it)"
                    if self.vector_input else "put it before the flatten layer")
            raise self.error(where, f"{kind} needs a feature map, but its input is a vector of "
                                    f"{shape[-1]}", hint, cls=ShapeError)
        return shape


def _check_every_output_is_read(ctx: _Builder, specs: list[LayerSpec],
                                read_by: dict[str, list[str]]) -> None:
    """Every layer's output but the last is read by a later layer (the contract's graphs)."""
    for spec in specs[:-1]:
        if spec.name not in read_by:
            raise ctx.error(spec.where, f"the output of {spec.name} is read by no layer (only "
                                        f"the last layer's output is the network's output)",
                            f"name it in a later layer's 'input' or 'inputs', or remove "
                            f"{spec.name}")


# --------------------------------------------------------------------------- small utils


def _spatial_of(raw_layers: Any) -> tuple[int, tuple[str, str] | None]:
    """(1 or 2, (JSON path, type) of the first map layer): the first layer with maps of a
    definite rank decides; 2 when there is none (or the layers are malformed: the builder
    reports that with its path)."""
    if not isinstance(raw_layers, list):
        return 2, None
    for index, raw in enumerate(raw_layers):
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in LAYERS:
            continue
        spatial = layer_family(kind).spatial
        if spatial is not None:
            return spatial, (f"layers[{index}]", kind)
    return 2, None


def _name_fault(name: Any) -> str:
    """What makes a string layer name bad, after a colon ("" when the hint says it)."""
    if not isinstance(name, str) or not name or name == INPUT:
        return ""
    bad = next((c for c in name if not (c.isascii() and (c.isalnum() or c in "_-"))), None)
    if bad is not None:
        return f": {_show(bad)} is not allowed in a name"
    if not _NAME_RE.match(name):
        return ": it must not start with '-'"
    return ""


def _vector_input_hint(exc: ProblemError, raw_layers: Any,
                       channels_last: bool = False) -> ProblemError:
    """``exc`` (the input's error), with a hint when the input is a vector: the contract's
    input is a map (H×W, C×H×W or N×C×H×W; channels last under ``"nhwc"``), so a vector
    read by a dense layer is written as one row and flattened, and a conv's input as rows."""
    if exc.hint is not None or "got rank 1 " not in exc.what:
        return exc
    after = _map_layer_after_vectors(raw_layers) if isinstance(raw_layers, list) else None
    if after is not None:  # no way to write the input makes this network valid
        exc.hint = (f"{after[1]} reads maps but comes after {after[0]}, whose output is a "
                    f"vector: a network's map layers come before its flatten and dense "
                    f"layers")
        return exc
    maps = "H×W, H×W×C or N×H×W×C" if channels_last else "H×W, C×H×W or N×C×H×W"
    found = _vector_reader(raw_layers)
    if found is None:
        spatial, first_map = _spatial_of(raw_layers)
        if first_map is not None and spatial == 2:  # a conv's input written as one list
            index = int(first_map[0][len("layers["):-1])
            name = _name_at(raw_layers, index) or first_map[1]
            exc.hint = (f"{name}, the first layer that reads maps, reads 2-D ones: write "
                        f"the input as a map, {maps} (H×W as rows: [[…], […]])")
        return exc
    reader, family = found
    row = f"write the vector as one row, [[…]] (an input is a map: {maps})"
    exc.hint = (f'{row}, and put {{"type": "flatten"}} before {reader}, which reads vectors; '
                f"N vectors: N×1×1×K" if family.reads_vectors else
                f"{row}, which the flatten layer makes a vector of K; N vectors: N×1×1×K")
    return exc


def _map_layer_after_vectors(raw_layers: list) -> tuple[str, str] | None:
    """(a layer whose output is a vector, a later map layer) in a chain of layers that name
    no inputs, else None: the names given or by default."""
    counts: dict[str, int] = {}
    vector_layer = None
    for raw in raw_layers:
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str) or kind not in LAYERS or "input" in raw or "inputs" in raw:
            return None
        counts[kind] = counts.get(kind, 0) + 1
        name = raw.get("name")
        name = name if isinstance(name, str) and name else f"{kind}_{counts[kind]}"
        family = layer_family(kind)
        if vector_layer is not None and family.spatial is not None:
            return vector_layer, name
        if vector_layer is None and (family.reads_vectors or family.makes_vectors):
            vector_layer = name
    return None


def _vector_reader(raw_layers: Any) -> tuple[str, Any] | None:
    """The name (given or by default) and the family of the first layer reading the
    problem's input when it reads vectors only (dense, softmax) or makes a vector of any map
    (flatten), else None."""
    if not isinstance(raw_layers, list):
        return None
    counts: dict[str, int] = {}
    for index, raw in enumerate(raw_layers):
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str):
            continue
        counts[kind] = counts.get(kind, 0) + 1
        reads = raw.get("input", "input" if index == 0 else None)
        if reads != "input" and "input" not in (raw.get("inputs") or ()):
            continue
        family = layer_family(kind) if kind in LAYERS else None
        if family is None or not (family.reads_vectors or family.makes_vectors):
            return None
        name = raw.get("name")
        return (name if isinstance(name, str) and name else f"{kind}_{counts[kind]}"), family
    return None


def _name_at(raw_layers: list, index: int) -> str | None:
    """The name of layer ``index`` (given or by default), None when it has none yet."""
    raw = raw_layers[index] if isinstance(raw_layers[index], dict) else {}
    kind = raw.get("type")
    if not isinstance(kind, str):
        return None
    count = sum(isinstance(r, dict) and r.get("type") == kind for r in raw_layers[:index + 1])
    name = raw.get("name", f"{kind}_{count}")
    return name if isinstance(name, str) else None


def _later_names(raw_layers: list, index: int) -> set[str]:
    """The names of the layers listed after ``index`` (given or by default)."""
    counts: dict[str, int] = {}
    later: set[str] = set()
    for at, raw in enumerate(raw_layers):
        kind = raw.get("type") if isinstance(raw, dict) else None
        if not isinstance(kind, str):
            continue
        counts[kind] = counts.get(kind, 0) + 1
        if at > index:
            name = raw.get("name", f"{kind}_{counts[kind]}")
            if isinstance(name, str):
                later.add(name)
    return later


def _prod(shape) -> int:
    out = 1
    for s in shape:
        out *= int(s)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _name_hint(name: Any, default: str, names, raw_layers: list) -> str:
    """What a layer name is; a ``"name": null`` (null never means "not given") is told to
    leave the key out for ``default``, when no layer has that name (``names``, those named
    so far; ``raw_layers``, every layer as written)."""
    free = default not in names and not any(isinstance(raw, dict) and raw.get("name") == default
                                            for raw in raw_layers)
    return ("a name is ASCII letters (A-Z, a-z), digits, '_' or '-', not starting with "
            "'-', and not 'input' (the problem's input)"
            + (f'; leave "name" out for the default, {default}' if name is None and free
               else ""))


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, int) and value.bit_length() > 200:
        sign = "a negative" if value < 0 else "an"
        return f"{sign} integer of {integer_digits(value)} digits"
    if isinstance(value, (int, Decimal)):
        text = str(value).replace("E", "e")  # a Decimal's exponent as JSON writes one
        return text if len(text) <= 40 else text[:37] + "..."
    return _kind(value)


def number_text(value) -> str:
    if isinstance(value, Fraction):
        return str(value)
    return f"{float(value):g}"


def _json_slip(exc: ValueError, text: str) -> str:
    """json's complaint in cnngrad's words: ``expecting ',' delimiter at character 17``."""
    import json

    if isinstance(exc, json.JSONDecodeError):
        exc = portable_json_error(exc, text)
    position = getattr(exc, "pos", None)
    what = getattr(exc, "msg", str(exc))
    what = what[:1].lower() + what[1:]
    return what if position is None else f"{what} at character {position + 1}"


def _inline_tensor_hint(text: str) -> str:
    """What to do about an inline tensor that is not JSON: the usual slips first."""
    minus = next((c for c in text if c in UNICODE_MINUSES), None)
    if minus:
        return unicode_minus_hint(minus)
    opened, closed = text.count("["), text.count("]")
    if opened != closed:
        return (f"the brackets do not pair up ({opened} '[' and {closed} ']'): a matrix is "
                "'[[1, 0], [0, -1]]'")
    return ("write the numbers as JSON lists, '[[1, 0], [0, -1]]' (quoted for the shell), or "
            "give a .csv or .npy file")


#: Text a number is written in, right or wrong (" 1/3 ", "0.5/2", "−1/3"): a quoted one is a
#: problem file's string, with its number hints, never a file's name
_NUMBER_LIKE = re.compile(r"[\d\s.,eE+\-/" + UNICODE_MINUSES + "]+")


def problem_from_quick(*, input: str, kernel: str, delta: str, bias: str | None = None,
                       stride: str | None = None, padding: str | None = None,
                       dilation: str | None = None, flip_kernel: bool = False, exact: bool = False,
                       max_elements: int = DEFAULT_MAX_ELEMENTS) -> Problem:
    """The one-conv problem from command-line options (``--input o.csv --kernel w.csv ...``).

    A tensor option is a file (``.npy`` is read as NumPy, ``.json`` as the inline JSON it
    holds, anything else as CSV) or inline JSON (``'[[1, 2], [3, 4]]'``); integer options
    are JSON too (``2``, ``[2, 1]``), and ``--padding`` also takes a word (``same``),
    checked as a problem file's "padding" is."""
    import json

    def tensor_ref(value: str, option: str):
        text = value.strip()
        # a number as a problem's string holds it, bare or JSON-quoted: --bias 5/7, '"0.5"';
        # NaN and the infinities too, refused as not finite as written, unless they name a
        # file or folder (bare or over-quoted: '"NaN"', as below)
        quoted = len(text) > 1 and text[0] == text[-1] == '"'
        unquoted = text[1:-1] if quoted else text
        if not names_a_file(value, or_folder=True) and (is_number_text(unquoted) or (
                names_non_finite(unquoted)
                and not (quoted and names_a_file(unquoted, or_folder=True)))):
            return unquoted
        looks_inline = text[:1] in "[-0123456789" + UNICODE_MINUSES
        if looks_inline and not names_a_file(value, or_folder=True):
            try:
                # a bare NaN or Infinity in a list kept as written, for its error
                return json.loads(text, parse_float=Decimal, parse_constant=str)
            except ValueError as exc:
                raise ProblemError(f"not a file and not JSON: {_json_slip(exc, text)}",
                                   where=option,
                                   hint=_inline_tensor_hint(text)) from None
        # any other JSON value is read as one, checked as a problem file's key is
        # ({"csv": ...} as there; true or null refused as no tensor, not as a file not
        # found); what is not JSON ({x}.csv) stays a file name
        if (text[:1] in '{"' or text in ("true", "false", "null")) \
                and not names_a_file(value, or_folder=True):
            try:
                parsed = json.loads(text, parse_float=Decimal)
            except ValueError:
                pass
            else:
                # a quoted file name ('"w.csv"', over-quoted by a script; one ending .csv,
                # .npy or .txt, or a path) names that file: read, or "no such file"; any
                # other string is a problem file's string
                # (" 1 " a number, "[[1]]" told to drop its quotes)
                if not (isinstance(parsed, str) and (
                        names_a_file(parsed, or_folder=True)
                        or parsed.strip().lower().endswith((".csv", ".npy", ".txt"))
                        or ("/" in parsed or "\\" in parsed)
                        and not _NUMBER_LIKE.fullmatch(parsed))):  # "0.5/2": a number's hint
                    return parsed
                value = parsed
        if value.strip().lower().endswith(".json") and names_a_file(value):
            return json_file_tensor(value, option)
        return {"npy": value} if value.lower().endswith(".npy") else {"csv": value}

    json_files: dict[str, str] = {}  # option → the .json file its tensor came from

    def json_file_tensor(value: str, option: str):
        # a tensor saved as JSON (json.dump of a nested list) is read as inline JSON is,
        # not as a CSV whose first cell '[[1' reads as a header
        raw, shown, _ = read_source(value.strip())
        parsed = load_json_document(raw, shown)
        if isinstance(parsed, dict) and ("input" in parsed or "layers" in parsed):
            raise ProblemError(f"{shown} is a problem file, not a tensor", where=option,
                               hint=f"give it as the problem: cnngrad backward {shown}")
        json_files[option] = shown
        if isinstance(parsed, dict):  # {"csv": "o.csv"} in it: beside it, as in a problem
            folder = os.path.dirname(value.strip())
            parsed = {key: _beside(names, folder) if key in ("csv", "npy") else names
                      for key, names in parsed.items()}
        return parsed

    def option_value(value: str, option: str):
        text = value.strip()
        try:  # NaN kept as written, for its error ("got 'NaN'", not "got float")
            return json.loads(text, parse_float=Decimal, parse_constant=str)
        except ValueError:
            if option == "--padding" and text[:1].isalpha():
                # a word ("same", or a slip like "sam"): checked, and a slip named, where a
                # problem file's "padding": "sam" is
                return text
            raise ProblemError(f"expected an integer or a JSON list, got {value!r}",
                               where=option) from None

    doc: dict[str, Any] = {"input": tensor_ref(input, "--input"),
                           "kernel": tensor_ref(kernel, "--kernel"),
                           "delta": tensor_ref(delta, "--delta")}
    if bias is not None:
        doc["bias"] = tensor_ref(bias, "--bias")
    for key, value in (("stride", stride), ("padding", padding), ("dilation", dilation)):
        if value is not None:
            doc[key] = option_value(value, f"--{key}")
    if flip_kernel:
        doc["flip_kernel"] = True
    try:
        problem = build_problem(doc, file=QUICK_FILE, base_dir=Path.cwd(), exact=exact,
                                max_elements=max_elements)
    except ProblemError as error:
        raise _in_json_file(on_command_line(error), json_files) from None
    problem.json_files = json_files
    return problem


def _beside(names: Any, folder: str) -> Any:
    """A tensor file name (or a list of them) in a ``.json`` file given in quick mode, found
    from the current folder as it would be from the ``.json`` file's own ``folder`` (as
    typed: ``sub`` for ``sub/ref.json``)."""
    if isinstance(names, list):
        return [_beside(name, folder) for name in names]
    if not isinstance(names, str) or os.path.isabs(names):
        return names
    return os.path.join(folder, names)


def _in_json_file(error: ProblemError, json_files: dict[str, str]) -> ProblemError:
    """An error at a quick-mode option whose tensor came from a ``.json`` file, placed in
    that file as a CSV's is: a cell at its JSON path there (``o.json: [0][1]: 'x' is not a
    number``), what is wrong with the whole tensor followed by the file (``got 3×3 in
    big.json``)."""
    option = next((option for option in json_files if error.file is None and error.where
                   and (error.where == option or error.where.startswith((option + "[",
                                                                          option + ".")))),
                  None)
    if option is None:
        return error
    inside = error.where[len(option):].lstrip(".")
    if inside:
        error.file, error.where = json_files[option], inside
    elif json_files[option] not in error.what:  # the whole tensor: its shape, its rank
        error.what += f" in {json_files[option]}"
    return error


#: The file a problem built from command-line options (``--input ... --kernel ...``) names
#: until :func:`on_command_line` puts the option in its place.
QUICK_FILE = "(command line)"
_QUICK_KEYS = ("input", "kernel", "delta", "bias", "stride", "padding", "dilation", "flip_kernel")


def on_command_line(error: ProblemError) -> ProblemError:
    """An error about a problem built from command-line options, placed at the option the
    user typed rather than at the key of the document built from it: the option is the
    place, as in ``error: --decimals: ...`` (no "(command line)" before it).  Errors about
    other problems, or placed elsewhere (a result such as ``conv2d_1.output``), are
    returned as they are."""
    if error.file == QUICK_FILE and error.where:
        head, sep, tail = error.where.partition(".")
        key, bracket, rest = head.partition("[")
        if key in _QUICK_KEYS:
            if tail in ("csv", "npy"):  # {"csv": "o.csv"} is the document's, not the user's
                sep = tail = ""
            error.where = f"--{key.replace('_', '-')}" + (bracket + rest if bracket else "") \
                + (sep + tail if sep else "")
            error.file = None
    return error
