"""bench/report.md (the machine, then one table per part) and bench/report.png (the figures as plots)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DB_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "spiff": "SpiffWorkflow 内存 (bare)"}


def _f(value, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def _goal(ok: bool | None) -> str:
    return "–" if ok is None else ("✅" if ok else "❌")


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _machine(m: dict) -> list[str]:
    return ["## 机器 (machine)", "", *_table(["", ""], [
        ["CPU", m.get("cpu")], ["cores", m.get("cores")], ["RAM", f"{m.get('ram_gib')} GiB"],
        ["OS", m.get("os")], ["Python", m.get("python")], ["SQLite", m.get("sqlite")],
        ["PostgreSQL", m.get("postgresql")], ["SQLAlchemy", m.get("sqlalchemy")],
        ["SpiffWorkflow", m.get("spiffworkflow")], ["git commit", m.get("git_commit")],
        ["load average at start", m.get("load")], ["run", m.get("date")]]), ""]


def _engine(r: dict) -> list[str]:
    out = ["## 1. 引擎吞吐 (engine throughput)", "",
           f"Persisted task completions through the engine API, each one unit of work. 20-step sequential "
           f"process × {r['instances']} instances; SM1.3 (6 regions × 3 offices, 69 user tasks per instance) × "
           f"{r['sm13_instances']} instances; each run after {r.get('warm_up', 0)} untimed instance(s), as are "
           "bare SpiffWorkflow's. Goals: ≥ 300/s SQLite, ≥ 200/s PostgreSQL, ≤ 5× bare SpiffWorkflow per step.", ""]
    rows = []
    for workload, label in (("seq20", "20 步顺序"), ("sm13", "SM1.3 6×3")):
        block = r.get(workload, {})
        for kind in ("sqlite", "postgresql", "spiff"):
            row = block.get(kind)
            if not row:
                continue
            if kind == "spiff":
                rows.append([label, DB_NAMES[kind], _f(row["completions"]), _f(row["completions_per_s"], 0),
                             _f(row["ms_per_step"], 3), "–", "–", "1.0×", _f(row.get("cpu_ms"), 3), "1.0×", "–"])
                continue
            goal = None
            if workload == "seq20":
                goal = row["completions_per_s"] >= (300 if kind == "sqlite" else 200)
            rows.append([label, DB_NAMES[kind], _f(row["completions"]), _f(row["completions_per_s"], 0),
                         _f(row["mean_ms"], 2), _f(row["p50_ms"], 2), _f(row["p95_ms"], 2),
                         _f(row.get("x_bare"), 1, "×"), _f(row.get("cpu_ms"), 2), _f(row.get("x_bare_cpu"), 1, "×"),
                         f"{_goal(goal)} / {_goal(row.get('x_bare', 99) <= 5)}" if goal is not None
                         else _goal(row.get("x_bare", 99) <= 5)])
    out += _table(["workload", "database", "completions", "per s", "mean ms", "p50 ms", "p95 ms",
                   "× bare per step", "CPU ms", "× bare CPU", "goal (rate / ratio)"], rows)
    out += ["", "CPU ms: this process's CPU time per completion (PostgreSQL's own work is not in it); on a busy "
            "machine a steadier measure of the engine's cost than the wall clock.",
            "", "× bare: against bare SpiffWorkflow running the same workload in turn with that engine run, one "
            "instance each (the machine's speed drifts within a minute); the bare rows pool every turn."]
    return out + [""] + _floor(r) + _not_held(r)


def _floor(r: dict) -> list[str]:
    rows = []
    for workload, label in (("seq20", "20 步顺序"), ("sm13", "SM1.3 6×3")):
        for kind in ("sqlite", "postgresql"):
            row = r.get(workload, {}).get(kind) or {}
            floor = row.get("floor")
            if floor:
                rows.append([label, DB_NAMES[kind], _f(row["mean_ms"], 2), _f(floor["mean_ms"], 3),
                             _f(floor.get("x_bare"), 1, "×"), _f(floor.get("cpu_ms"), 3), _f(row["above_floor_ms"], 2),
                             _f(row["above_floor_x_bare"], 1, "×")])
    if not rows:
        return []
    return ["**Where a completion's time goes: the database's floor** (`db_floor.py`)", "",
            "Every statement of the run, with its parameters, sent again in the same transactions to a second "
            "scratch database by the bare driver (sqlite3, psycopg: no SQLAlchemy, no engine), and the completions "
            "timed from BEGIN to the end of COMMIT: what these statements take, whatever sends them. "
            "Above the floor: SpiffWorkflow, the state's serialization, routing, validation and SQLAlchemy.", "",
            *_table(["workload", "database", "engine ms", "floor ms", "floor × bare", "floor CPU ms",
                     "above floor ms", "above floor × bare"], rows), ""]


def _not_held(r: dict) -> list[str]:
    rows = []
    for workload, label in (("seq20", "20 步顺序"), ("sm13", "SM1.3 6×3")):
        for kind in ("sqlite", "postgresql"):
            row = r.get("not_held", {}).get(workload, {}).get(kind)
            held = r.get(workload, {}).get(kind)
            if row and held:
                rows.append([label, DB_NAMES[kind], _f(row["completions_per_s"], 0), _f(row["mean_ms"], 2),
                             _f(row["p50_ms"], 2), _f(row["p95_ms"], 2), _f(row.get("x_bare"), 1, "×"),
                             _f(held["mean_ms"], 2)])
    if not rows:
        return []
    return ["**A completion on an instance the engine does not hold in memory** (`held=False`)", "",
            "The runs above keep each instance's workflow in memory between its steps, as one process working "
            "through one instance does. Here the engine forgets them before every completion, so each one reads "
            "the instance's state and rebuilds its workflow: a completion after a restart, or on an instance "
            "another web process moved on last (with several processes, most of them).", "",
            *_table(["workload", "database", "per s", "mean ms", "p50 ms", "p95 ms", "× bare per step",
                     "held in memory: mean ms"], rows), ""]


TENTHS = "first → last tenth ms, mean (median)"


def _tenths(row: dict, digits: int) -> str:
    said = f"{_f(row['first_tenth_ms'], digits)} → {_f(row['last_tenth_ms'], digits)}"
    if "first_tenth_p50_ms" in row:  # runs before the medians were kept have means only
        said += f" ({_f(row['first_tenth_p50_ms'], digits)} → {_f(row['last_tenth_p50_ms'], digits)})"
    return said


def _growth(r: dict) -> list[str]:
    out = ["## 2. 增长 (growth)", "",
           "Time per completion and stored bytes per instance (state text + task rows + audit rows; bytes / task: "
           "stored bytes over the instance's task rows), as one "
           "instance grows. Multi-instance: N tasks open at once, completed one by one (first/last tenth: the "
           "mean, and the median, of the first and last 10 % of completions; above 200 items only the first 30 "
           "are completed and the bytes are those after them). Loop: one task taken N times. Goals: time per "
           "completion grows at most linearly with the active tasks and not with history; bytes at most "
           "linearly with completed tasks.", ""]
    for kind in ("sqlite", "postgresql"):
        block = r.get(kind)
        if not block:
            continue
        rows = []
        for workload, label in (("multi_instance", "多实例"), ("loop", "循环")):
            for row in block.get(workload, []):
                size = _f(row["size"]) + (f" ({row['completions']} done)" if row.get("sampled") else "")
                rows.append([label, size, _f(row["mean_ms"], 2), _tenths(row, 2), _f(row["state_bytes"]),
                             _f(row["total_bytes"]), _f(row["total_bytes"] / max(row["task_rows"], 1), 0)])
        out += [f"**{DB_NAMES[kind]}**", "",
                *_table(["workload", "N", "mean ms", TENTHS, "state bytes", "stored bytes", "bytes / task"], rows),
                ""]
    bare = r.get("spiff", {}).get("loop", [])
    if bare:
        out += ["**Bare SpiffWorkflow, in memory** (the same loop: how much of the growth is its own)", "",
                *_table(["workload", "N", "mean ms", TENTHS],
                        [["循环", _f(row["size"]), _f(row["mean_ms"], 3), _tenths(row, 3)] for row in bare]), ""]
    return out


def _http(r: dict) -> list[str]:
    out = ["## 3. HTTP (gunicorn + PostgreSQL)", "",
           f"`smflow serve` (gunicorn, {r['workers']} processes × {r.get('threads', 4)} threads, keep-alive), "
           f"{r['requests']} timed requests per row (after a warm-up), "
           "each client its own user and session. Goals at 8 clients: complete p95 < 50 ms, inbox p95 < 30 ms, "
           "0 errors.", ""]
    rows = []
    for row in r.get("levels", []):
        goal = None
        if row["clients"] == 8:
            goal = row["errors"] == 0 and row["p95_ms"] < (50 if row["kind"] == "complete" else 30)
        rows.append([row["kind"], row["clients"], _f(row["requests"]), _f(row["per_s"], 0), _f(row["p50_ms"]),
                     _f(row["p95_ms"]), _f(row["p99_ms"]), _f(row["errors"]), _goal(goal)])
    out += _table(["request", "clients", "requests", "per s", "p50 ms", "p95 ms", "p99 ms", "errors", "goal"], rows)
    samples = [s for row in r.get("levels", []) for s in row.get("error_samples", [])]
    if samples:
        out += ["", "Errors (samples): " + "; ".join(f"`{s}`" for s in samples[:3])]
    return out + [""]


def _inbox(r: dict) -> list[str]:
    out = ["## 4. 收件箱规模 (the inbox at scale)", ""]
    plans = []
    first = next((r[k] for k in ("sqlite", "postgresql") if r.get(k)), None)
    if first:
        out += [f"{first['tasks']:,} open tasks, 5 % as many claimed and as many completed ones, {first['users']:,} "
                "users (see bench/inbox_scale.py for the spread of roles and scopes); timed through the store's "
                "public inbox functions for a sample of users of every kind. Goal: p95 < 20 ms on both databases.",
                ""]
    for kind in ("sqlite", "postgresql"):
        block = r.get(kind)
        if not block:
            continue
        rows = [[name, _f(q["n"]), _f(q["p50_ms"]), _f(q["p95_ms"]), _f(q["p99_ms"]), _f(q["mean_rows"], 0),
                 _goal(q["p95_ms"] < 20)] for name, q in block["queries"].items()]
        out += [f"**{DB_NAMES[kind]}** (data loaded in {block['load_s']:.0f} s)", "",
                *_table(["function", "samples", "p50 ms", "p95 ms", "p99 ms", "tasks matched (mean)", "goal"],
                        rows), ""]
        kinds = block.get("by_kind", {})
        for name, by_kind in kinds.items():
            out += [f"{name} by kind of user ({DB_NAMES[kind]}):", "",
                    *_table(["user", "samples", "p50 ms", "p95 ms"],
                            [[k, v["n"], _f(v["p50_ms"]), _f(v["p95_ms"])] for k, v in sorted(by_kind.items())]), ""]
        for label, plan in block.get("plans", {}).items():
            plans += [f"**{DB_NAMES[kind]} — {label}**", "", "```", plan, "```", ""]
    if plans:
        out += ["### Query plans", "", *plans]
    return out


def _startup(r: dict) -> list[str]:
    rows = []
    for kind, row in r.get("serve", {}).items():
        rows.append(["`smflow serve` ready", DB_NAMES[kind], _f(row["median_s"], 2), _f(row["max_s"], 2),
                     _goal(row["max_s"] < 2)])
    for kind, row in r.get("deploy", {}).items():
        rows.append(["deploy the five processes", DB_NAMES[kind], _f(row["median_s"], 2), _f(row["max_s"], 2),
                     _goal(row["max_s"] < 1)])
    return ["## 5. 启动 (start-up)", "", f"Median and slowest of {r['runs']} runs. Goals: serve < 2 s, "
            "deploy < 1 s.", "", *_table(["what", "database", "median s", "slowest s", "goal"], rows), ""]


def markdown(results: dict) -> str:
    out = ["# smflow benchmark report", "", "Written by `python -m bench all` (see bench/README.md); "
           "figures from one run on the machine below.", ""]
    if "machine" in results:
        out += _machine(results["machine"])
    for part, render in (("engine", _engine), ("growth", _growth), ("http", _http), ("inbox", _inbox),
                         ("startup", _startup)):
        if part in results:
            try:
                out += render(results[part])
            except (KeyError, TypeError) as exc:  # a partial result from an older run: say so
                out += [f"## {part}", "", f"(figures incomplete: {type(exc).__name__}: {exc})", ""]
    if (HERE / "report.png").exists():
        out += ["![plots](report.png)", ""]
    return "\n".join(out)


def plot(results: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", "Noto Sans CJK SC", "DejaVu Sans"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    ax = axes[0][0]
    engine = results.get("engine", {})
    labels, values, colors = [], [], []
    for workload in ("seq20", "sm13"):
        for kind, color in (("sqlite", "tab:blue"), ("postgresql", "tab:orange"), ("spiff", "tab:gray")):
            row = engine.get(workload, {}).get(kind)
            if row:
                labels.append(f"{workload}\n{kind}")
                values.append(row["completions_per_s"])
                colors.append(color)
    if values:
        ax.bar(range(len(values)), values, color=colors)
        ax.set_xticks(range(len(values)), labels, fontsize=8)
        ax.set_yscale("log")
        ax.axhline(300, color="tab:blue", ls=":", lw=1)
        ax.axhline(200, color="tab:orange", ls=":", lw=1)
    ax.set_title("1. completions per second (log; dotted: goals)")
    ax = axes[0][1]
    growth = results.get("growth", {})
    for kind, style in (("sqlite", "-"), ("postgresql", "--")):
        for workload, marker in (("multi_instance", "o"), ("loop", "s")):
            rows = growth.get(kind, {}).get(workload, [])
            if rows:
                ax.plot([r["size"] for r in rows], [r["mean_ms"] for r in rows], style, marker=marker,
                        label=f"{workload} {kind}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (items / rounds)")
    ax.set_ylabel("ms per completion")
    ax.set_title("2. growth: time per completion")
    if ax.lines:
        ax.legend(fontsize=8)
    ax = axes[1][0]
    http = results.get("http", {})
    for kind, marker in (("complete", "o"), ("inbox", "s")):
        rows = [r for r in http.get("levels", []) if r["kind"] == kind]
        if rows:
            ax.plot([r["clients"] for r in rows], [r["p95_ms"] for r in rows], marker=marker, label=f"{kind} p95")
            ax.plot([r["clients"] for r in rows], [r["p50_ms"] for r in rows], marker=marker, ls=":",
                    label=f"{kind} p50")
    ax.axhline(50, color="gray", ls=":", lw=1)
    ax.axhline(30, color="gray", ls=":", lw=1)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("ms")
    ax.set_title("3. HTTP latency (gunicorn + PostgreSQL)")
    if ax.lines:
        ax.legend(fontsize=8)
    ax = axes[1][1]
    inbox = results.get("inbox", {})
    labels, p50, p95 = [], [], []
    for kind in ("sqlite", "postgresql"):
        for name, q in inbox.get(kind, {}).get("queries", {}).items():
            labels.append(f"{kind}\n{name.replace('tasks.', '')}")
            p50.append(q["p50_ms"])
            p95.append(q["p95_ms"])
    if labels:
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], p50, width=0.4, label="p50")
        ax.bar([x + 0.2 for x in xs], p95, width=0.4, label="p95")
        ax.set_xticks(list(xs), labels, fontsize=7)
        ax.axhline(20, color="gray", ls=":", lw=1)
        ax.legend(fontsize=8)
    ax.set_ylabel("ms")
    ax.set_title("4. inbox at scale (dotted: 20 ms goal)")
    fig.suptitle(f"smflow benchmarks — {results.get('machine', {}).get('git_commit', '')}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write(results: dict) -> list[Path]:
    written = []
    png = plot(results, HERE / "report.png")
    if png:
        written.append(png)
    md = HERE / "report.md"
    md.write_text(markdown(results), encoding="utf-8")
    written.append(md)
    return written
