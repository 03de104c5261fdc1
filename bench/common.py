"""What every part of the benchmark shares: scratch databases, progress lines, percentiles, the machine."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out"
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def pg_admin_url() -> str:
    """SMFLOW_BENCH_PG_URL names an existing database; the benchmark creates its own scratch databases beside it."""
    url = os.environ.get("SMFLOW_BENCH_PG_URL", DEFAULT_PG_URL)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="smflow_bench_") as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A scratch database on the PostgreSQL server, dropped afterwards."""
    admin_url = pg_admin_url()
    name = f"smflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    with (sqlite_database() if kind == "sqlite" else postgres_database()) as url:
        yield url


def migrated(url: str):
    """A SQLAlchemy engine on `url` with the schema at Alembic head."""
    from engine.store.db import make_engine, upgrade

    db = make_engine(url)
    upgrade(db)
    return db


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1e3 for s in seconds]
    return {"n": len(ms), "mean_ms": statistics.fmean(ms) if ms else 0.0, "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95), "p99_ms": percentile(ms, 99), "max_ms": max(ms, default=0.0)}


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


@functools.cache
def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor() or platform.machine())
    mem_kb = next((int(line.split()[1]) for line in _read("/proc/meminfo").splitlines()
                   if line.startswith("MemTotal")), 0)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=5).stdout.strip()
        # The report's own files are rewritten by every run: they do not make the code measured differ.
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ".", ":!bench/report.md", ":!bench/report.png"],
                               cwd=ROOT, capture_output=True, text=True, timeout=5).stdout.strip()
        commit = f"{commit}{' (+ uncommitted changes)' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    try:
        admin = create_engine(pg_admin_url())
        with admin.connect() as conn:
            postgres = conn.execute(text("SHOW server_version")).scalar()
        admin.dispose()
    except Exception as exc:  # noqa: BLE001 - the report says why instead of failing
        postgres = f"unavailable ({type(exc).__name__})"
    import SpiffWorkflow
    import sqlalchemy

    return {
        "cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres, "sqlalchemy": sqlalchemy.__version__,
        "spiffworkflow": getattr(SpiffWorkflow, "__version__", "3.2"), "git_commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M"), "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
