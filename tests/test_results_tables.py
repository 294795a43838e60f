"""README's result tables are written by experiments/results_tables.py from real runs."""

from __future__ import annotations

import re

import jax
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


def test_a_cpu_replaces_its_own_block_and_adds_one_after_the_others(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("a\n<!-- results:x cpu=avx512 -->\nold\n<!-- /results:x cpu=avx512 -->\nb\n")
    rt.write_tables(readme, {"x": "| new |"}, "avx512")
    assert readme.read_text() == (
        "a\n<!-- results:x cpu=avx512 -->\n| new |\n<!-- /results:x cpu=avx512 -->\nb\n"
    )
    rt.write_tables(readme, {"x": "| other |"}, "avx2")
    assert readme.read_text() == (
        "a\n<!-- results:x cpu=avx512 -->\n| new |\n<!-- /results:x cpu=avx512 -->\n\n"
        "<!-- results:x cpu=avx2 -->\n| other |\n<!-- /results:x cpu=avx2 -->\nb\n"
    )
    with pytest.raises(SystemExit, match=r"no <!-- results:y cpu=\.\.\. --> block"):
        rt.write_tables(readme, {"y": "z"}, "avx2")


def test_the_machine_is_named_by_model_instruction_set_cores_and_jax():
    m = rt.machine()
    assert m["model"] and m["cores"] >= 1 and m["jax"] == jax.__version__
    line = rt.heading(m, "README.md")
    assert line.startswith(m["model"]) and f"JAX {jax.__version__}" in line
    flags = rt.cpu_flags()
    if "avx2" in flags:  # x86 with /proc/cpuinfo: the key says which vector units
        assert m["key"] == ("avx512" if "avx512f" in flags else "avx2")
        assert ("no AVX-512" in line) == ("avx512f" not in flags)


def test_both_readmes_name_the_cpu_and_jax_above_every_table():
    for name in rt.HEADERS:
        text = (rt.ROOT / name).read_text()
        for table in rt.RUNS:
            tables = rt.numbers(text, table)
            assert tables, f"{name} has no table {table}"
            for key, rows in tables.items():
                head = text.split(f"<!-- results:{table} cpu={key} -->\n")[1].split("\n")[0]
                assert re.search(r"\((AVX-512|AVX2)[^)]*\), \d+ ?(cores|코어), JAX \d", head), head
                assert len(rows) == len(rt.SEEDS) + 1


def test_the_spread_line_says_what_the_tables_show():
    for name in rt.HEADERS:
        text = (rt.ROOT / name).read_text()
        assert len(rt.numbers(text, "two_layer_net")) >= 2  # two kinds of CPU
        assert "<!-- results:two_layer_net spread -->" in text
        assert rt.write_spread(text, "two_layer_net", rt.WORDS[name]) == text


def test_the_spread_is_per_variant_seed_by_seed_and_of_the_means():
    a = [[0.9801, 0.9707, 0.9799, 0.9705], [0.9790, 0.9700, 0.9792, 0.9707]]
    b = [[0.9802, 0.9705, 0.9799, 0.9704], [0.9790, 0.9701, 0.9791, 0.9701]]
    got = rt.spread({"avx512": a, "avx2": b}, ["float32", "bfloat16"])
    assert got == {"float32": (0.0002, 0.0001), "bfloat16": (0.0001, 0.0006)}
    assert rt.spread({"avx2": b}, ["float32", "bfloat16"]) is None
