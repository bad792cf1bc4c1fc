"""The bench's start-up row: the worked example against ``python -c "import numpy"``."""

from __future__ import annotations

from cnngrad import bench


def test_start_up_times_numpy_and_both_formats_with_a_bytecode_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "START_UP_RUNS", 1)
    monkeypatch.setattr(bench, "SETTLE_SECONDS", 0)
    row = bench.start_up(1, tmp_path)
    assert row["runs"] == 1
    assert all(row[key] > 0 for key in ("numpy_s", "json_s", "table_s"))
    assert row["targets"] == {"json": 2.0, "table": 2.5}
    # the untimed first round compiled numpy and cnngrad into the private cache
    cached = {path.name for path in (tmp_path / "pyc").rglob("*.pyc")}
    assert any(name.startswith("network.") for name in cached)
    assert any(name.startswith("numeric.") for name in cached)


def test_end_to_end_report_gives_each_start_up_ratio_against_its_bound():
    start = {"case": "start-up: backward stackexchange.json", "runs": 11, "numpy_s": 0.1,
             "json_s": 0.15, "table_s": 0.3, "targets": {"json": 2.0, "table": 2.5}}
    explain = {"case": "explain medium.json x", "cnngrad_s": 0.25, "min_s": 0.2,
               "limit_s": 0.3}
    text = bench.render_end_to_end([explain, start], "torch")
    assert "explain medium.json x: 0.25 s (min 0.20 s; < 0.3 s ✓); 2.5× `import numpy`" in text
    assert '`python -c "import numpy"` (0.10 s; 11 runs each, taking turns)' in text
    assert "--format json 0.15 s (1.50×, ≤ 2 ✓)" in text
    assert "as a table 0.30 s (3.00×, ≤ 2.5 ✗)" in text
