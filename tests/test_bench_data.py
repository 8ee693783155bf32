"""The data benchmark runs on a synthetic set and prints its figures."""

from __future__ import annotations

from bench import data as bench_data


def test_bench_data_prints_figures(capsys):
    assert bench_data.main(["--files", "10", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic (10 files): parse" in out and "files/s" in out
