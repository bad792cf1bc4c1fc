"""The sample problems that ship with cnngrad (``cnngrad samples``).

In a source checkout they are the top-level ``samples/`` folder (the README's commands use
``samples/...``); an installed wheel carries the same files as the package data
``cnngrad/samples/`` (pyproject.toml maps the folder there).  :func:`samples_dir` finds
whichever is present.  A sample is a problem ``<name>.json`` at the top of that folder; a
CSV-backed one also needs the files it names (``{"csv": "csv/o.csv"}``), and some come with
answers files for ``cnngrad check`` (``exam/*.json``): ``cnngrad samples NAME --to DIR``
copies both with it (:func:`sample_copies`).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

from cnngrad.errors import CnnGradError, UsageError, did_you_mean
from cnngrad.tensorio import TENSOR_FILE_KINDS

PACKAGE_DIR = Path(__file__).resolve().parent

#: Folders of answers files and the sample they answer; a folder named after its sample
#: (``exam/`` for ``exam``) needs no entry.
ANSWERS_FOLDERS = {"answers": "stackexchange"}


@dataclass(frozen=True)
class Sample:
    """One bundled problem: its name (the file name without ``.json``), file and title, the
    tensor files it reads and the answers files that come with it (relative paths)."""

    name: str
    path: Path
    title: str
    needs: tuple[str, ...]
    answers: tuple[str, ...] = ()

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


def samples_dir() -> Path:
    """The folder holding the samples: the package data of an installed wheel, else the
    source checkout's top-level ``samples/``."""
    for folder in (PACKAGE_DIR / "samples", PACKAGE_DIR.parent / "samples"):
        if folder.is_dir() and any(folder.glob("*.json")):
            return folder
    raise CnnGradError("the bundled samples are missing from this installation",
                        where="samples", hint="reinstall cnngrad (pip install --force-reinstall "
                                              "cnngrad)")


def bundled_name(path: str, suffix: str, folder: str = "") -> str | None:
    """The file name of ``path`` when a file of that name, ending in ``suffix``, ships with
    cnngrad in the samples folder (or its subfolder ``folder``); else None, also when the
    samples cannot be found (for a hint, never an error of its own)."""
    name = Path(path).name
    try:
        found = name.endswith(suffix) and (samples_dir() / folder / name).is_file()
    except (CnnGradError, OSError, ValueError):
        return None
    return name if found else None


def referenced_files(document) -> tuple[str, ...]:
    """The tensor files a problem document names (``{"csv": ...}``, ``{"npy": ...}``), in the
    order they appear, each once."""
    found: list[str] = []

    def walk(value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in TENSOR_FILE_KINDS and isinstance(item, (str, list)):
                    names = item if isinstance(item, list) else [item]
                    found.extend(n for n in names if isinstance(n, str) and n not in found)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(document)
    return tuple(found)


def _answers_folders(name: str) -> list[str]:
    return [name] + [folder for folder, sample in ANSWERS_FOLDERS.items() if sample == name]


def _load(path: Path) -> Sample:
    document = json.loads(path.read_text(encoding="utf-8"))
    title = document.get("title", "") if isinstance(document, dict) else ""
    answers = tuple(f"{folder}/{file.name}" for folder in _answers_folders(path.stem)
                    if (path.parent / folder).is_dir()
                    for file in sorted((path.parent / folder).iterdir()) if file.is_file())
    return Sample(name=path.stem, path=path, title=title, needs=referenced_files(document),
                  answers=answers)


def answers_sample(path: str) -> str | None:
    """For a missing answers file such as ``samples/exam/ben.json`` (or the glob
    ``samples/exam/*.json`` a shell left as it was): the sample whose bundled answers folder
    holds a file of that name; else None, also when the samples cannot be found (for a hint,
    never an error of its own)."""
    given = Path(path)
    folder = given.parent.name
    sample = ANSWERS_FOLDERS.get(folder, folder)
    try:
        root = samples_dir()
        found = ((root / f"{sample}.json").is_file() and (root / folder).is_dir()
                 and any(fnmatch.fnmatch(file.name, given.name)
                         for file in (root / folder).iterdir()))
    except (CnnGradError, OSError, ValueError):
        return None
    return sample if found and folder in _answers_folders(sample) else None


def list_samples() -> list[Sample]:
    """Every bundled problem, by name."""
    return [_load(path) for path in sorted(samples_dir().glob("*.json"), key=lambda p: p.stem)]


def get_sample(name: str) -> Sample:
    """The sample called ``name`` (``stackexchange``, ``stackexchange.json`` or
    ``samples/stackexchange.json``)."""
    wanted = Path(name).name.removesuffix(".json")
    known = {sample.name: sample for sample in list_samples()}
    if wanted in known:
        return known[wanted]
    if wanted in ("verify", "csv", "answers") and (samples_dir() / wanted).is_dir():
        # a folder of the samples (README's table lists verify/), not a problem to print
        raise UsageError(f"no sample called '{name}': {wanted}/ is a folder of files that "
                         f"go with the samples", where="NAME",
                         hint=f'they are in "$(cnngrad samples --path)/{wanted}"; copy one '
                              f'from there (cp), or list the samples with cnngrad samples')
    raise UsageError(f"no sample called '{name}'", where="NAME",
                     hint=did_you_mean(wanted, tuple(known)) or
                     f"the samples are: {', '.join(known)}")


def sample_copies(sample: Sample, folder: Path, *, overwrite: bool = False
                  ) -> list[tuple[Path, Path]]:
    """(source, target) of each file a copy of a sample into ``folder`` writes: the
    sample, the files it reads and its answers files, keeping their relative paths so the
    copy runs as it is (``cnngrad samples NAME --to DIR`` writes them all or none).

    A UsageError when a file would be overwritten and ``overwrite`` is false."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError("is a file, not a folder", where="--to", file=str(folder))
    pairs = [(sample.path, folder / sample.path.name)]
    source_dir = sample.path.parent
    for relative in sample.needs + sample.answers:
        source = (source_dir / relative).resolve()
        if source_dir.resolve() not in source.parents:
            raise CnnGradError(f"sample {sample.name} names a file outside the samples folder: "
                                f"{relative}", where="samples")
        pairs.append((source, folder / relative))
    for _, target in pairs:  # a pipe or a device in a file's place: nothing to copy into
        if target.exists() and not (target.is_file() or target.is_dir()):
            raise UsageError("is not a regular file, where the sample has a file of that name",
                             where="--to", file=str(target),
                             hint="move it away, or give --to another folder")
    existing = [str(target) for _, target in pairs if target.exists()]
    if existing and not overwrite:
        raise UsageError(f"would overwrite {', '.join(existing)}", where="--to",
                         hint="add --force to overwrite, or choose another folder")
    return pairs
