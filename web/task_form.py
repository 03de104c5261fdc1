"""A task's form on the page: field view models for the templates, and the posted form read back.

Pure functions over the form definition (engine/forms.py) and plain values; no database here.
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from engine.errors import Problem
from engine.forms import MAX_UPLOAD_BYTES, NUMBER_TYPES, table_totals

from .i18n import problem_text, t

INPUT_KINDS = {"string": "text", "text": "textarea", "long": "number", "double": "number",
               "boolean": "checkbox", "date": "date", "enum": "select", "table": "table", "file": "file"}
NEW_ROW = "__ROW__"  # placeholder index in the template row that the add-row button copies


def text_of(value) -> str:
    """A stored value as a person reads it: 是/否, 12 rather than 12.0, a file's name."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return t("yes") if value else t("no")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    if isinstance(value, dict) and "name" in value and "id" in value:
        return str(value["name"])
    return str(value)


def _is_number(value) -> bool:
    if value is None or isinstance(value, (int, float)):
        return not isinstance(value, bool)
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _attrs(spec: dict) -> dict:
    attrs = {}
    if spec["type"] in NUMBER_TYPES:
        attrs["step"] = "1" if spec["type"] == "long" else "any"
        attrs.update({k: text_of(spec[k]) for k in ("min", "max") if k in spec})
        attrs["inputmode"] = "numeric" if spec["type"] == "long" else "decimal"
    if spec["type"] in ("string", "text"):
        attrs.update({k: spec[k] for k in ("minlength", "maxlength") if k in spec})
    if spec.get("required"):
        attrs["aria-required"] = "true"
    return attrs


def _input(spec: dict, name: str, value, errors: list[str]) -> dict:
    options = [{"id": o["id"], "name": o["name"], "selected": o["id"] == value}
               for o in spec.get("options", [])]
    shown = next((o["name"] for o in options if o["selected"]), None) or text_of(value)
    kind = INPUT_KINDS[spec["type"]]
    if kind == "number" and not _is_number(value):
        kind = "text"  # show what was typed (e.g. "12,5") instead of a number box the browser would blank
    is_file = spec["type"] == "file" and isinstance(value, dict) and "id" in value
    return {"name": name, "kind": kind, "type": spec["type"], "label": spec["label"],
            "value": "" if isinstance(value, (bool, dict)) else text_of(value), "checked": value is True,
            "options": options, "text": shown, "attrs": _attrs(spec), "errors": errors,
            "required": bool(spec.get("required")), "unit": spec.get("unit", ""),
            "file": {"id": value["id"], "name": text_of(value), "size": value.get("size")} if is_file else None,
            "max_bytes": MAX_UPLOAD_BYTES if spec["type"] == "file" else None}


def fixed_columns(spec: dict) -> list[str]:
    """The ids of a table's fixed columns (`#`): their values and the rows themselves come from the process."""
    return [c["id"] for c in spec.get("columns", []) if c.get("fixed")] if spec["type"] == "table" else []


def _given_rows(spec: dict, rows: list, given) -> list[dict]:
    """A fixed table as the process gave it: its rows, in order, with the fixed cells' given values."""
    given = given if isinstance(given, list) else []
    fixed = fixed_columns(spec)
    return [{**(rows[n] if n < len(rows) and isinstance(rows[n], dict) else {}),
             **{c: (g or {}).get(c) for c in fixed}} for n, g in enumerate(given)]


def _totals_row(spec: dict, rows: list) -> list[dict] | None:
    """The table's totals row: one cell per column, the sum under the columns that are totalled."""
    totals = table_totals(spec, rows)
    if not totals:
        return None
    return [{"id": c["id"], "total": c["id"] in totals, "value": text_of(totals.get(c["id"]))}
            for c in spec.get("columns", [])]


def field_views(form: dict | None, values: dict, errors: dict[str, list[str]],
                readonly: bool = False, given: dict | None = None) -> list[dict]:
    """What the template needs to draw each field: input kind, value as typed, its error messages.

    `given` holds the rows the process gave (the task's prefill): an editable table with fixed columns
    always shows exactly those rows, its fixed cells as text.
    """
    views = []
    for spec in (form or {}).get("fields", []):
        fid, value = spec["id"], values.get(spec["id"])
        view = _input(spec, f"f.{fid}", None if spec["type"] == "table" else value, errors.get(fid, []))
        view.update(id=fid, readonly=readonly or bool(spec.get("readonly")))
        if spec["type"] == "table":
            fixed = fixed_columns(spec)
            rows = value if isinstance(value, list) else []
            if fixed and not view["readonly"] and given is not None:
                rows = _given_rows(spec, rows, given.get(fid))
            if not rows and not view["readonly"] and not fixed:
                rows = [{}]
            view["columns"] = [{**c, "total": c["id"] in table_totals(spec, [])} for c in spec.get("columns", [])]
            view["fixed"] = bool(fixed)
            view["rows"] = [[dict(_input(col, f"f.{fid}.{n}.{col['id']}", (row or {}).get(col["id"]),
                                         errors.get(f"{fid}[{n}].{col['id']}", [])), fixed=col["id"] in fixed,
                                  col=col["id"])
                             for col in spec.get("columns", [])]
                            for n, row in enumerate(rows)]
            view["template_row"] = [dict(_input(col, f"f.{fid}.{NEW_ROW}.{col['id']}", None, []), col=col["id"])
                                    for col in spec.get("columns", [])]
            view["next_row"] = len(rows)
            view["totals"] = _totals_row(spec, [r for r in rows if isinstance(r, dict)])
        views.append(view)
    return views


def errors_by_field(form: dict | None, problems: list[Problem]) -> tuple[dict[str, list[str]], list[str]]:
    """Problems keyed by field path (`amount`, `lines[0].cost`), in the page's language; those that fit no
    field go on top."""
    known = {f["id"] for f in (form or {}).get("fields", [])}
    by_field: dict[str, list[str]] = {}
    general = []
    for p in problems:
        if p.field and p.field.split("[")[0] in known:
            by_field.setdefault(p.field, []).append(problem_text(p))
        else:
            general.append(problem_text(p))
    return by_field, general


# -- reading a posted form ------------------------------------------------------------------------
def _table_rows(spec: dict, posted: MultiDict, given) -> list[dict]:
    """A posted table's rows, by their index in the page. A row left blank is not a row, except in a
    table with fixed columns: there every row was given, so it stays, with the fixed cells' given values
    (whatever was posted for them); a posted row beyond the given ones stays too, for the engine to refuse."""
    prefix = f"f.{spec['id']}."
    indexes = sorted({int(k[len(prefix):].split(".", 1)[0]) for k in posted
                      if k.startswith(prefix) and k[len(prefix):].split(".", 1)[0].isdigit()})
    fixed = fixed_columns(spec)
    given = given if isinstance(given, list) else []
    rows = []
    for n in indexes:
        row = {}
        for col in spec.get("columns", []):
            name = f"{prefix}{n}.{col['id']}"
            if col["id"] in fixed:
                continue
            if col["type"] == "boolean":
                row[col["id"]] = name in posted
            else:
                row[col["id"]] = posted.get(name, "").strip() or None
        if fixed:
            position = len(rows)
            rows.append({**row, **{c: (given[position] or {}).get(c) if position < len(given) else None
                                   for c in fixed}})
        elif any(v not in (None, False) for v in row.values()):
            rows.append(row)
    return rows


def parse_submission(form: dict | None, posted: MultiDict, given: dict | None = None) -> dict:
    """The posted HTML form as the engine's submission: values as typed, blank inputs left out.

    `given` is the task's prefill, which a table with fixed columns takes those columns from. A file
    field gives `{"id": n}` for the attachment the page already holds (web/attachments.py resolves it
    and stores a new upload)."""
    data: dict = {}
    for spec in (form or {}).get("fields", []):
        if spec.get("readonly"):
            continue
        name = f"f.{spec['id']}"
        if spec["type"] == "table":
            data[spec["id"]] = _table_rows(spec, posted, (given or {}).get(spec["id"]))
        elif spec["type"] == "boolean":
            data[spec["id"]] = name in posted
        elif spec["type"] == "file":
            kept = posted.get(name, "").strip()
            if kept.isdigit():
                data[spec["id"]] = {"id": int(kept)}
        elif posted.get(name, "").strip():
            data[spec["id"]] = posted[name].strip()
    return data
