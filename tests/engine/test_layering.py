"""The engine never imports the web layer; its pure core imports neither flask nor sqlalchemy."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ["sandbox", "forms", "routing", "definitions", "spiff_dialect", "xml_safety", "xsd", "timers", "runtime",
        "script_engine", "clock", "errors", "fidelity", "versions", "lane_roles", "paths", "start_data"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level and node.module:
            names.add("." + node.module.split(".")[0])
    return names


def test_engine_never_imports_flask_or_web():
    for path in (ROOT / "engine").rglob("*.py"):
        bad = imported_modules(path) & {"flask", "web", "werkzeug", "handlers"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_pure_core_imports_no_database_or_web():
    for name in PURE:
        imports = imported_modules(ROOT / "engine" / f"{name}.py")
        assert not imports & {"flask", "sqlalchemy", ".store"}, f"engine/{name}.py imports {imports}"
