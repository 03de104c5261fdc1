"""Task forms: the definition read from `camunda:formData`, and validation of submitted values.

A form definition is plain JSON (stored with the task), so the web layer can render it and the
engine can validate a submission without the BPMN file at hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree

from .errors import Problem, ValidationFailed
from .sandbox import Sandbox

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FIELD_TYPES = {"string", "text", "long", "double", "boolean", "date", "enum", "table"}
COLUMN_TYPES = {"string", "text", "long", "double", "boolean", "date"}
_C = f"{{{CAMUNDA_NS}}}"


def parse_columns(spec: str) -> list[dict]:
    """`id:type:label!;...` → column definitions.

    A trailing `!` marks a required column; a trailing `#` a fixed one: its values come from the
    prefilled rows (a region, a product, a customer) and cannot be changed, nor can rows be added or removed.
    """
    columns = []
    for part in (p.strip() for p in spec.split(";")):
        if not part:
            continue
        flags = part[len(part.rstrip("!#")):]
        required, fixed = "!" in flags, "#" in flags
        pieces = part.rstrip("!#").split(":", 2)
        if len(pieces) < 2:
            raise ValueError(f"表格列定义 '{part}' 应为 '列名:类型:标签'")
        col_id, col_type = pieces[0].strip(), pieces[1].strip()
        if col_type not in COLUMN_TYPES:
            raise ValueError(f"表格列 '{col_id}' 的类型 '{col_type}' 不受支持")
        label = pieces[2].strip() if len(pieces) == 3 else col_id
        column = {"id": col_id, "type": col_type, "label": label, "required": required}
        if fixed:
            column["fixed"] = True
        columns.append(column)
    return columns


def parse_form(node: etree._Element) -> tuple[dict | None, list[tuple[etree._Element, str]]]:
    """Read a user task's `camunda:formData`. Returns the form (or None) and the problems found."""
    form_data = node.find(f"./{{*}}extensionElements/{_C}formData")
    if form_data is None:
        return None, []
    fields, problems = [], []
    for xml_field in form_data.findall(f"{_C}formField"):
        field_id, field_type = xml_field.get("id"), xml_field.get("type") or "string"
        if not field_id:
            problems.append((xml_field, "表单字段缺少 id"))
            continue
        if field_type not in FIELD_TYPES:
            problems.append((xml_field, f"表单字段 '{field_id}' 的类型 '{field_type}' 不受支持"))
            continue
        field: dict[str, Any] = {"id": field_id, "type": field_type, "label": xml_field.get("label") or field_id}
        if xml_field.get("defaultValue") is not None:
            field["default"] = xml_field.get("defaultValue")
        if field_type == "enum":
            field["options"] = [
                {"id": v.get("id"), "name": v.get("name") or v.get("id")} for v in xml_field.findall(f"{_C}value")
            ]
        for prop in xml_field.findall(f"{_C}properties/{_C}property"):
            key, value = prop.get("id") or prop.get("name"), prop.get("value") or ""
            if key == "columns":
                try:
                    field["columns"] = parse_columns(value)
                except ValueError as exc:
                    problems.append((prop, str(exc)))
            elif key == "rows":
                field["rows"] = value
            elif key:
                field.setdefault("properties", {})[key] = value
        for constraint in xml_field.findall(f"{_C}validation/{_C}constraint"):
            name, config = constraint.get("name"), constraint.get("config")
            if name in ("required", "readonly"):
                field[name] = True
            elif name in ("min", "max", "minlength", "maxlength"):
                try:
                    field[name] = float(config) if name in ("min", "max") else int(config)
                except (TypeError, ValueError):
                    problems.append((constraint, f"字段 '{field_id}' 的约束 {name} 需要数字, 而不是 '{config}'"))
            elif name == "required_if":
                field["required_if"] = config or ""
            else:
                problems.append((constraint, f"字段 '{field_id}' 的约束 '{name}' 不受支持"))
        if field_type == "table" and not field.get("columns"):
            problems.append((xml_field, f"表格字段 '{field_id}' 需要 columns 属性"))
        fields.append(field)
    return {"fields": fields}, problems


def form_expressions(form: dict | None) -> list[tuple[str, str]]:
    """The (what, expression) pairs a form holds, so deploy can compile them in the sandbox."""
    out = []
    for field in (form or {}).get("fields", []):
        if field.get("rows"):
            out.append((f"表单字段 {field['id']} 的 rows", field["rows"]))
        if field.get("required_if"):
            out.append((f"表单字段 {field['id']} 的 required_if", field["required_if"]))
    return out


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _coerce(kind: str, value: Any, label: str, options: list[dict] | None = None) -> Any:
    """Convert a submitted value to the field's type; raises ValueError with a Chinese message."""
    if kind in ("string", "text"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{label}: 应为文字")
        return str(value)
    if kind == "long":
        if isinstance(value, bool):
            raise ValueError(f"{label}: 应为整数")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        if isinstance(value, int):
            return value
        raise ValueError(f"{label}: 应为整数, 收到 '{value}'")
    if kind == "double":
        if isinstance(value, bool):
            raise ValueError(f"{label}: 应为数字")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{label}: 应为数字, 收到 '{value}'") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "on", "1", 1, "是"):
            return True
        if value in ("false", "off", "0", 0, "否"):
            return False
        raise ValueError(f"{label}: 应为 是/否")
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError(f"{label}: 应为日期 (例如 2027-04-10), 收到 '{value}'") from None
    if kind == "enum":
        allowed = [o["id"] for o in options or []]
        if value not in allowed:
            names = "、".join(o["name"] for o in options or [])
            raise ValueError(f"{label}: '{value}' 不是可选值 ({names})")
        return value
    raise ValueError(f"{label}: 未知类型 {kind}")


def _check_bounds(field: dict, value: Any, label: str) -> str | None:
    if field["type"] in ("long", "double"):
        if "min" in field and value < field["min"]:
            return f"{label}: 不能小于 {field['min']:g}"
        if "max" in field and value > field["max"]:
            return f"{label}: 不能大于 {field['max']:g}"
    if isinstance(value, (str, list)):
        if "minlength" in field and len(value) < field["minlength"]:
            return f"{label}: 至少需要 {field['minlength']} 个{'字' if isinstance(value, str) else '行'}"
        if "maxlength" in field and len(value) > field["maxlength"]:
            return f"{label}: 最多 {field['maxlength']} 个{'字' if isinstance(value, str) else '行'}"
    return None


def _given_rows_problem(field: dict, given: list) -> Problem:
    return Problem(f"{field['label']}: 应有 {len(given)} 行 (各行由流程给定, 不能增减)", field=field["id"])


def _has_fixed_rows(field: dict, given: Any) -> bool:
    """A table with a fixed column whose process gave it rows: leaving it empty would drop them all."""
    return field["type"] == "table" and any(c.get("fixed") for c in field.get("columns", [])) \
        and isinstance(given, list) and len(given) > 0


def _validate_table(field: dict, rows: Any, problems: list[Problem], given: Any) -> list[dict]:
    label = field["label"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        problems.append(Problem(f"{label}: 应为表格 (行的列表)", field=field["id"]))
        return []
    fixed = [c["id"] for c in field["columns"] if c.get("fixed")]
    if fixed:
        given = given if isinstance(given, list) else []
        if len(rows) != len(given):
            problems.append(_given_rows_problem(field, given))
            return []
        # Fixed columns keep the values the process gave, whatever was sent for them.
        rows = [{**row, **{c: (given[n] or {}).get(c) for c in fixed}} for n, row in enumerate(rows)]
    clean = []
    for n, row in enumerate(rows, start=1):
        out = {}
        for col in field["columns"]:
            col_label = f"{label} 第 {n} 行 {col['label']}"
            value = row.get(col["id"])
            if _empty(value):
                if col["required"]:
                    problems.append(Problem(f"{col_label}: 必填", field=f"{field['id']}[{n - 1}].{col['id']}"))
                out[col["id"]] = None
                continue
            try:
                out[col["id"]] = _coerce(col["type"], value, col_label)
            except ValueError as exc:
                problems.append(Problem(str(exc), field=f"{field['id']}[{n - 1}].{col['id']}"))
        unknown = set(row) - {c["id"] for c in field["columns"]}
        if unknown:
            problems.append(Problem(f"{label} 第 {n} 行: 未知的列 {', '.join(sorted(unknown))}", field=field["id"]))
        clean.append(out)
    return clean


def validate_submission(form: dict | None, data: dict, context: dict, sandbox: Sandbox,
                        prefill: dict | None = None) -> dict:
    """Check `data` against `form`; returns the cleaned values or raises ValidationFailed listing every problem.

    `context` is the task's data, so that `required_if` can look at both; `prefill` holds the rows the
    process gave to tables with fixed columns.
    """
    if not isinstance(data, dict):
        raise ValidationFailed("提交的数据应为一个对象 (字段: 值)", [Problem("提交的数据应为一个对象")])
    fields = (form or {}).get("fields", [])
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    known = {f["id"] for f in fields}
    for key in sorted(set(data) - known):
        problems.append(Problem(f"表单中没有字段 '{key}'", field=key))
    for field in fields:
        if field.get("readonly"):
            continue
        value, label = data.get(field["id"]), field["label"]
        given = (prefill or {}).get(field["id"])
        if _empty(value) and _has_fixed_rows(field, given):
            problems.append(_given_rows_problem(field, given))
            continue
        if _empty(value):
            required = field.get("required", False)
            if not required and field.get("required_if"):
                scope = {**context, **{k: v for k, v in data.items() if k in known}}
                try:
                    required = bool(sandbox.evaluate(field["required_if"], scope))
                except Exception:  # noqa: BLE001 - an unanswerable condition means "not required"
                    required = False
            if required:
                problems.append(Problem(f"{label}: 必填", field=field["id"]))
            # An optional field left empty is still an answer: later expressions can name it, and
            # in a loop it replaces the previous round's value.
            clean[field["id"]] = [] if field["type"] == "table" else None
            continue
        if field["type"] == "table":
            value = _validate_table(field, value, problems, given)
        else:
            try:
                value = _coerce(field["type"], value, label, field.get("options"))
            except ValueError as exc:
                problems.append(Problem(str(exc), field=field["id"]))
                continue
        bound_problem = _check_bounds(field, value, label)
        if bound_problem:
            problems.append(Problem(bound_problem, field=field["id"]))
            continue
        clean[field["id"]] = value
    if problems:
        raise ValidationFailed(f"表单有 {len(problems)} 处需要修改", problems)
    return clean
