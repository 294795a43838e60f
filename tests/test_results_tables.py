"""README's result tables are written by experiments/results_tables.py from real runs."""

from __future__ import annotations

import pytest
import results_tables as rt  # experiments/, on pytest's pythonpath

RUNS = {
    "float32": [
        {"train": 0.98, "test": 0.97},
        {"train": 0.97, "test": 0.96},
        {"train": 0.99, "test": 0.95},
    ],
    "bfloat16": [{"train": 0.5, "test": 0.4}] * 3,
}


def test_a_table_has_a_row_per_seed_and_the_means():
    lines = rt.table(RUNS, rt.HEADERS["README.md"]).splitlines()
    assert lines[0] == (
        "| seed | train acc float32 | test acc float32 | train acc bfloat16 | test acc bfloat16 |"
    )
    assert lines[2] == "| 0 | 0.9800 | 0.9700 | 0.5000 | 0.4000 |"
    assert lines[-1] == "| mean | **0.9800** | **0.9600** | **0.5000** | **0.4000** |"
    assert len(lines) == 2 + len(rt.SEEDS) + 1


def test_tables_replace_only_their_marked_blocks(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- results:x -->\nold\n<!-- /results:x -->\nb\n")
    rt.write_tables(readme, {"x": "| new |"})
    assert readme.read_text() == "a\n<!-- results:x -->\n| new |\n<!-- /results:x -->\nb\n"
    with pytest.raises(SystemExit, match="no <!-- results:y --> block"):
        rt.write_tables(readme, {"y": "z"})


def test_both_readmes_have_every_block():
    for name in rt.HEADERS:
        text = (rt.ROOT / name).read_text()
        for table in rt.RUNS:
            assert f"<!-- results:{table} -->" in text and f"<!-- /results:{table} -->" in text
