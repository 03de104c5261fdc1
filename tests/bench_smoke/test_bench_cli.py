"""`python -m bench engine --json` runs and prints the figures the issue asks for (no timing is checked)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_json_prints_the_three_rates(postgres_url):
    admin_url = postgres_url.rsplit("/", 1)[0] + "/test"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "engine", "--json", "--no-report", "--instances", "1", "--sm13-instances", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SMFLOW_BENCH_PG_URL": admin_url})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("sqlite_completions_per_s", "postgres_completions_per_s", "spiff_in_memory_completions_per_s"):
        assert figures[key] > 0, key
    assert figures["details"]["seq20"]["sqlite"]["completions"] == 20
    # The same statements replayed by the bare driver ended as the run did (db_floor checks), and were timed.
    for kind in ("sqlite", "postgresql"):
        assert figures["details"]["seq20"][kind]["floor"]["n"] == 20
    assert 0 < figures["sqlite_floor_ms"] < figures["details"]["seq20"]["sqlite"]["mean_ms"]
    # And again with every completion on an instance the engine does not hold in memory.
    for kind in ("sqlite", "postgresql"):
        assert figures["details"]["not_held"]["seq20"][kind]["completions"] == 20
    assert figures["sqlite_not_held_ms"] > 0 and figures["postgres_not_held_ms"] > 0
    assert "实例 1/1" in result.stderr  # progress goes to stderr
