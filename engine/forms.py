"""Task forms: the definition read from `camunda:formData`, and validation of submitted values.

A form definition is plain JSON (stored with the task), so the web layer can render it and the
engine can validate a submission without the BPMN file at hand.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from lxml import etree

from .errors import Message, Problem, ValidationFailed
from .messages import say
from .sandbox import Sandbox

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
FIELD_TYPES = {"string", "text", "long", "double", "boolean", "date", "enum", "table", "file"}
COLUMN_TYPES = {"string", "text", "long", "double", "boolean", "date"}
NUMBER_TYPES = {"long", "double"}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Accepted uploads: the extension decides the stored content type; the first bytes must fit it
# (office files are zip containers, old ones OLE2), so a renamed executable or page is refused.
_ZIP, _OLE = (b"PK\x03\x04",), (b"\xd0\xcf\x11\xe0",)
UPLOAD_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", _ZIP),
    "xls": ("application/vnd.ms-excel", _OLE),
    "doc": ("application/msword", _OLE),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "csv": ("text/csv", None),
    "txt": ("text/plain", None),
}
_C = f"{{{CAMUNDA_NS}}}"
# Limits for what a person may submit; a longer text or a bigger table is a mistake or an attack.
MAX_TEXT = 100_000  # characters of one text value without its own maxlength
MAX_ROWS = 5_000  # rows of one table
MAX_LONG = 2**63 - 1  # what every database and JSON reader keeps exactly
MAX_DRAFT = 1_000_000  # characters + items of a saved draft or of start data
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
            problems.append((xml_field, say("deploy.form.no_id")))
            continue
        if field_type not in FIELD_TYPES:
            problems.append((xml_field, say("deploy.form.bad_type", field=field_id, type=field_type)))
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
            elif key == "unit":
                field["unit"] = value.strip()
            elif key == "fresh":
                field["fresh"] = value.strip().lower() in ("true", "1", "yes")
            elif key == "totals":
                field["totals"] = [c.strip() for c in value.split(",") if c.strip()]
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
                    problems.append((constraint, say("deploy.form.constraint_number", field=field_id, name=name,
                                                         config=config)))
            elif name == "required_if":
                field["required_if"] = config or ""
            else:
                problems.append((constraint, say("deploy.form.unknown_constraint", field=field_id, name=name)))
        if field_type == "table" and not field.get("columns"):
            problems.append((xml_field, say("deploy.form.no_columns", field=field_id)))
        numeric = {c["id"] for c in field.get("columns", []) if c["type"] in NUMBER_TYPES}
        for col_id in field.get("totals", []):
            if col_id not in numeric:
                problems.append((xml_field, say("deploy.form.totals_not_number", field=field_id, column=col_id)))
        fields.append(field)
    return {"fields": fields}, problems


def form_expressions(form: dict | None) -> list[tuple[str, str]]:
    """The (what, expression) pairs a form holds, so deploy can compile them in the sandbox."""
    out = []
    for field in (form or {}).get("fields", []):
        if field.get("rows"):
            out.append((say("deploy.what.form_rows", field=field["id"]), field["rows"]))
        if field.get("required_if"):
            out.append((say("deploy.what.form_required_if", field=field["id"]), field["required_if"]))
    return out


class InvalidValue(ValueError):
    """A submitted value that does not fit its field; `message` says why in Chinese, with its catalogue key."""

    def __init__(self, message: Message):
        super().__init__(message)
        self.message = message


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _coerce(kind: str, value: Any, label: str, options: list[dict] | None = None) -> Any:
    """Convert a submitted value to the field's type; raises InvalidValue with a Chinese message."""
    if kind in ("string", "text"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise InvalidValue(say("form.not_text", label=label))
        text = str(value)
        _check_text(text, label)
        return text
    if kind == "long":
        number = None
        if isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            number = int(value.strip())
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        if number is None:
            raise InvalidValue(say("form.not_integer", label=label, value=_shown(value)))
        if abs(number) > MAX_LONG:
            raise InvalidValue(say("form.out_of_range", label=label))
        return number
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidValue(say("form.not_number", label=label))
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidValue(say("form.not_number_got", label=label, value=_shown(value))) from None
        if not math.isfinite(number):  # NaN and infinity compare false with every bound and break JSON
            raise InvalidValue(say("form.not_finite", label=label, value=_shown(value)))
        return number
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "on", "1", 1, "是"):
            return True
        if value in ("false", "off", "0", 0, "否"):
            return False
        raise InvalidValue(say("form.not_boolean", label=label))
    if kind == "date":
        try:
            if not isinstance(value, str):
                raise ValueError
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise InvalidValue(say("form.not_date", label=label, value=_shown(value))) from None
    if kind == "file":
        return _coerce_file(value, label)
    if kind == "enum":
        allowed = [o["id"] for o in options or []]
        if not isinstance(value, str) or value not in allowed:
            names = [o["name"] for o in options or []]
            raise InvalidValue(say("form.not_option", label=label, value=_shown(value), options=names))
        return value
    raise InvalidValue(say("form.unknown_type", label=label, type=kind))


def _coerce_file(value: Any, label: str) -> dict:
    """A file field's value names a stored attachment: {"id": 7, "name": "计划.xlsx", ...}."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), int) or isinstance(value.get("id"), bool) \
            or not isinstance(value.get("name"), str):
        raise InvalidValue(say("form.not_file", label=label))
    clean = {"id": value["id"], "name": value["name"]}
    if isinstance(value.get("size"), int):
        clean["size"] = value["size"]
    return clean


def check_upload(label: str, filename: str, content: bytes) -> tuple[str | None, Message | None]:
    """(content type, None) for an acceptable upload, else (None, a Chinese message saying why not)."""
    if not content:
        return None, say("upload.empty", label=label, filename=filename)
    if len(content) > MAX_UPLOAD_BYTES:
        return None, say("upload.too_big", label=label, filename=filename, mb=MAX_UPLOAD_BYTES // (1024 * 1024))
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    known = UPLOAD_TYPES.get(extension)
    allowed = sorted({e for e in UPLOAD_TYPES if e != "jpeg"})
    if known is None:
        return None, say("upload.refused_type", label=label, filename=filename, allowed=allowed)
    content_type, magic = known
    if magic is not None and not content.startswith(magic):
        return None, say("upload.wrong_content", label=label, filename=filename, extension=extension)
    if magic is None:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return None, say("upload.not_utf8", label=label, filename=filename)
    return content_type, None


def table_totals(field: dict, rows: Any) -> dict[str, float | int]:
    """The column totals of a table field: the `totals` columns, else every number column.

    Cells that are not numbers (still being typed, or wrong) count as nothing."""
    columns = [c for c in field.get("columns", []) if c["type"] in NUMBER_TYPES]
    if field.get("totals"):
        columns = [c for c in columns if c["id"] in field["totals"]]
    totals: dict[str, float | int] = {}
    for col in columns:
        total: float | int = 0
        for row in rows if isinstance(rows, list) else []:
            value = row.get(col["id"]) if isinstance(row, dict) else None
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total += value
        totals[col["id"]] = round(total, 6) if isinstance(total, float) else total
    return totals


def _shown(value: Any) -> str:
    """A submitted value as an error message may quote it: short, and only characters a page can show."""
    text = _SURROGATE.sub("?", value if isinstance(value, str) else repr(value))
    return text if len(text) <= 40 else text[:40] + "…"


def _check_text(text: str, label: str) -> None:
    if len(text) > MAX_TEXT:
        raise InvalidValue(say("form.max_chars", label=label, n=MAX_TEXT))
    if _SURROGATE.search(text):  # a lone UTF-16 half: no database can store it as UTF-8
        raise InvalidValue(say("form.invalid_chars", label=label))


def json_problem(value: Any, limit: int = MAX_DRAFT) -> Message | None:
    """Why `value` cannot be kept as JSON in every database (None when it can): NaN, infinity, invalid
    characters, nesting deeper than 20 or more than `limit` characters and items."""
    size, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > 20:
            return say("data.too_deep")
        if isinstance(item, str):
            size += len(item)
            if _SURROGATE.search(item):
                return say("data.invalid_chars")
        elif isinstance(item, float):
            if not math.isfinite(item):
                return say("data.bad_number")
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_LONG:
            return say("data.out_of_range")
        elif isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif item is not None and not isinstance(item, (bool, int)):
            return say("data.bad_type", type=type(item).__name__)
        size += 1
        if size > limit:
            return say("data.too_big")
    return None


def clean_draft(form: dict | None, data: Any) -> dict:
    """A draft keeps what the person typed, unchecked, but only for the form's fields and only as storable JSON."""
    if not isinstance(data, dict):
        raise ValidationFailed(say("draft.not_object_detail"), [Problem(say("draft.not_object"))])
    known = {f["id"] for f in (form or {}).get("fields", [])}
    draft = {k: v for k, v in data.items() if k in known}
    problem = json_problem(draft)
    if problem:
        raise ValidationFailed(say("draft.unsaved", problem=problem), [Problem(problem)])
    return draft


def _check_bounds(field: dict, value: Any, label: str) -> Message | None:
    if field["type"] in ("long", "double"):
        if "min" in field and value < field["min"]:
            return say("form.below_min", label=label, min=f"{field['min']:g}")
        if "max" in field and value > field["max"]:
            return say("form.above_max", label=label, max=f"{field['max']:g}")
    if isinstance(value, (str, list)):
        unit = "chars" if isinstance(value, str) else "rows"
        if "minlength" in field and len(value) < field["minlength"]:
            return say(f"form.min_{unit}", label=label, n=field["minlength"])
        if "maxlength" in field and len(value) > field["maxlength"]:
            return say(f"form.max_{unit}", label=label, n=field["maxlength"])
    return None


def _given_rows_problem(field: dict, given: list) -> Problem:
    return Problem(say("form.given_rows", label=field["label"], n=len(given)), field=field["id"])


def _has_fixed_rows(field: dict, given: Any) -> bool:
    """A table with a fixed column whose process gave it rows: leaving it empty would drop them all."""
    return field["type"] == "table" and any(c.get("fixed") for c in field.get("columns", [])) \
        and isinstance(given, list) and len(given) > 0


def _validate_table(field: dict, rows: Any, problems: list[Problem], given: Any) -> list[dict]:
    label = field["label"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        problems.append(Problem(say("form.not_table", label=label), field=field["id"]))
        return []
    if len(rows) > MAX_ROWS:
        problems.append(Problem(say("form.too_many_rows", label=label, n=MAX_ROWS), field=field["id"]))
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
            col_label = say("form.cell", table=label, row=n, column=col["label"])
            value = row.get(col["id"])
            if _empty(value):
                if col["required"]:
                    problems.append(Problem(say("form.required", label=col_label),
                                           field=f"{field['id']}[{n - 1}].{col['id']}"))
                out[col["id"]] = None
                continue
            try:
                out[col["id"]] = _coerce(col["type"], value, col_label)
            except InvalidValue as exc:
                problems.append(Problem(exc.message, field=f"{field['id']}[{n - 1}].{col['id']}"))
        unknown = set(row) - {c["id"] for c in field["columns"]}
        if unknown:
            names = ", ".join(_shown(k) for k in sorted(unknown, key=str)[:5])
            problems.append(Problem(say("form.unknown_columns", table=label, row=n, columns=names), field=field["id"]))
        clean.append(out)
    return clean


def validate_submission(form: dict | None, data: dict, context: dict, sandbox: Sandbox,
                        prefill: dict | None = None) -> dict:
    """Check `data` against `form`; returns the cleaned values or raises ValidationFailed listing every problem.

    `context` is the task's data, so that `required_if` can look at both; `prefill` holds the rows the
    process gave to tables with fixed columns.
    """
    if not isinstance(data, dict):
        raise ValidationFailed(say("form.not_object_detail"), [Problem(say("form.not_object"))])
    fields = (form or {}).get("fields", [])
    problems: list[Problem] = []
    clean: dict[str, Any] = {}
    known = {f["id"] for f in fields}
    for key in sorted(set(data) - known, key=str)[:20]:
        problems.append(Problem(say("form.unknown_field", name=_shown(key)), field=_shown(key)))
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
                problems.append(Problem(say("form.required", label=label), field=field["id"]))
            # An optional field left empty is still an answer: later expressions can name it, and
            # in a loop it replaces the previous round's value.
            clean[field["id"]] = [] if field["type"] == "table" else None
            continue
        if field["type"] == "table":
            value = _validate_table(field, value, problems, given)
        else:
            try:
                value = _coerce(field["type"], value, label, field.get("options"))
            except InvalidValue as exc:
                problems.append(Problem(exc.message, field=field["id"]))
                continue
        bound_problem = _check_bounds(field, value, label)
        if bound_problem:
            problems.append(Problem(bound_problem, field=field["id"]))
            continue
        clean[field["id"]] = value
    if problems:
        raise ValidationFailed(say("form.invalid", count=len(problems)), problems)
    return clean
