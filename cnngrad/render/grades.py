"""``check`` results as JSON and CSV grade sheets (no Rich: scripts start fast)."""

from __future__ import annotations

import csv
import io

from cnngrad import __version__
from cnngrad.teach.check import FileCheck, TensorCheck, Tolerance
from cnngrad.render.json_result import dumps, to_jsonable

#: The columns of the CSV grade sheet, one row per answers file.
CSV_COLUMNS = ("file", "status", "right", "total", "score", "wrong_paths", "diagnoses", "error")


def _score(result: FileCheck) -> float | None:
    return None if result.score is None else round(result.score, 4)


def tensor_dict(check: TensorCheck) -> dict:
    return {
        "path": check.path,
        "shape": list(check.shape),
        "right": check.n_right,
        "total": check.n_answered,
        "wrong": [{"index": list(index), "given": given, "true": to_jsonable(true)}
                  for index, given, true in check.wrong_cells()],
        "diagnoses": [{"slip": d.slip, "text": d.text} for d in check.diagnoses],
    }


def file_dict(result: FileCheck) -> dict:
    return {
        "file": result.file,
        "status": result.status,
        "right": None if result.error else result.right,
        "total": None if result.error else result.total,
        "score": _score(result),
        "error": result.error.message() if result.error else None,
        "tensors": [tensor_dict(check) for check in result.tensors],
    }


def grades_json(results: list[FileCheck], problem_file: str, tolerance: Tolerance) -> str:
    """Every file's verdict, tensor by tensor, wrong cells and diagnoses included."""
    checked = [r for r in results if r.error is None]
    document = {
        "cnngrad": __version__,
        "problem": problem_file,
        "rule": tolerance.describe(),
        "right": sum(r.right for r in checked),
        "total": sum(r.total for r in checked),
        "files": [file_dict(result) for result in results],
    }
    return dumps(document) + "\n"


def grades_csv(results: list[FileCheck]) -> str:
    """One row per file: the grade sheet a spreadsheet opens."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for result in results:
        wrong = " ".join(c.path for c in result.tensors if not c.all_right)
        diagnoses = "; ".join(f"{c.path}: {d.text}" for c in result.tensors
                              for d in c.diagnoses)
        writer.writerow([
            result.file, result.status,
            "" if result.error else result.right, "" if result.error else result.total,
            "" if result.score is None else f"{result.score:.4f}",
            wrong, diagnoses, result.error.message() if result.error else "",
        ])
    return buffer.getvalue()
