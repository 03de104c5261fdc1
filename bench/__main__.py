"""`python -m bench all | engine | growth | http | inbox | startup [--json] [sizes]`.

Every run keeps its figures in bench/out/results.json and rewrites bench/report.md and bench/report.png
from everything measured so far (`all` measures everything afresh). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import report
from .common import OUT, machine, progress

PARTS = ("engine", "growth", "http", "inbox", "startup")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("all", *PARTS), help="what to measure")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on stdout")
    parser.add_argument("--no-report", action="store_true",
                        help="keep nothing: do not update bench/out/results.json, bench/report.md, report.png")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--instances", type=int, default=20, help="engine: instances of the 20-step process")
    parser.add_argument("--sm13-instances", type=int, default=3, help="engine: instances of SM1.3 (69 tasks each)")
    parser.add_argument("--mi-sizes", default="10,100,1000", help="growth: multi-instance collection sizes")
    parser.add_argument("--loop-sizes", default="1,10,100", help="growth: times the loop is taken")
    parser.add_argument("--clients", default="1,8,32", help="http: concurrent clients")
    parser.add_argument("--requests", type=int, default=400, help="http: requests per kind and client count")
    parser.add_argument("--http-workers", type=int, help="http: `smflow serve --workers` (processes; default: serve's)")
    parser.add_argument("--http-threads", type=int, help="http: `smflow serve --threads` (default: serve's)")
    parser.add_argument("--tasks", type=int, default=100_000, help="inbox: open tasks")
    parser.add_argument("--users", type=int, default=10_000, help="inbox: users")
    parser.add_argument("--samples", type=int, default=200, help="inbox: timed queries per database")
    return parser.parse_args(argv)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def run_part(part: str, opts: argparse.Namespace) -> dict:
    databases = tuple(d.strip() for d in opts.databases.split(",") if d.strip())
    if part == "engine":
        from . import throughput

        return throughput.run(opts.instances, opts.sm13_instances, databases)
    if part == "growth":
        from . import growth

        return growth.run(_ints(opts.mi_sizes), _ints(opts.loop_sizes), databases)
    if part == "http":
        from . import http_load

        return http_load.run(_ints(opts.clients), opts.requests, opts.http_workers, opts.http_threads)
    if part == "inbox":
        from . import inbox_scale

        return inbox_scale.run(opts.tasks, opts.users, opts.samples, databases)
    if part == "startup":
        from . import startup

        return startup.run(databases)
    raise ValueError(part)


def _saved() -> dict:
    path = OUT / "results.json"
    if path.exists():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            return {}
    return {}


def main(argv: list[str] | None = None) -> int:
    opts = _arguments(argv)
    parts = PARTS if opts.part == "all" else (opts.part,)
    results = {} if opts.part == "all" else _saved()
    results["machine"] = machine()
    fresh = {}
    for part in parts:
        progress(f"— {part} —")
        fresh[part] = results[part] = run_part(part, opts)
    if not opts.no_report:
        OUT.mkdir(exist_ok=True)
        (OUT / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str),
                                          encoding="utf-8")
        written = report.write(results)
        progress("报告: " + ", ".join(str(p) for p in written))
    if opts.json:
        out = fresh["engine"]["summary"] if parts == ("engine",) else fresh
        if parts == ("engine",):
            out = {**out, "details": fresh["engine"]}
        json.dump(out, sys.stdout, ensure_ascii=False, default=str)
        print()
    else:
        print(report.markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
