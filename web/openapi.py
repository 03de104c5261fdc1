"""The API's OpenAPI 3.1 document (web/openapi.json, written by hand) and a page drawn from it on the server.

tests/web/test_openapi.py keeps the document and the routes in step: every /api route is documented and
every documented path exists, and real answers match the documented schemas. Both need a login, like
everything else: the description is no secret, but nothing else is public either.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from flask import Blueprint, abort, g, jsonify, render_template

from .auth import login_required

bp = Blueprint("openapi", __name__, url_prefix="/api")

METHODS = ("get", "post", "put", "patch", "delete")


@cache
def document() -> dict:
    return json.loads(files("web").joinpath("openapi.json").read_text(encoding="utf-8"))


def resolve(node: dict, doc: dict) -> dict:
    """Follow a local `$ref` (#/components/...) to what it names."""
    while isinstance(node, dict) and "$ref" in node:
        target: object = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]  # type: ignore[index]
        node = target  # type: ignore[assignment]
    return node


def type_text(schema: dict | None) -> str:
    """A schema in a few words: 'string | null', 'array of Task', 'Task'."""
    if not schema:
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "allOf" in schema:
        return " + ".join(type_text(s) for s in schema["allOf"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kinds = schema.get("type", "object")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = []
    for kind in kinds:
        if kind == "array":
            words.append(f"array of {type_text(schema.get('items'))}")
        elif "enum" in schema and kind != "null":
            words.append(" | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"]))
        else:
            words.append(kind + (f" ({schema['format']})" if "format" in schema and kind != "null" else ""))
    return " | ".join(words)


def properties(schema: dict | None, doc: dict) -> list[dict]:
    """The fields of an object schema (through $ref and allOf), for a table."""
    schema = resolve(schema or {}, doc)
    if "allOf" in schema:
        return [p for part in schema["allOf"] for p in properties(part, doc)]
    required = set(schema.get("required", []))
    return [{"name": name, "type": type_text(spec), "required": name in required,
             "description": spec.get("description", "")}
            for name, spec in schema.get("properties", {}).items()]


def operations(doc: dict) -> list[dict]:
    """Every operation, grouped by the document's tag order, ready for the template."""
    out = []
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            spec = item[method]
            body = (spec.get("requestBody") or {}).get("content", {})
            responses = []
            for status, answer in spec["responses"].items():
                answer = resolve(answer, doc)
                content = answer.get("content", {})
                media, schema = next(iter(content.items()), (None, {}))
                responses.append({"status": status, "description": answer.get("description", ""),
                                  "media": media, "type": type_text((schema or {}).get("schema"))})
            out.append({
                "id": spec.get("operationId") or f"{method}-{path}", "method": method.upper(), "path": path,
                "summary": spec.get("summary", ""), "description": spec.get("description", ""),
                "tag": (spec.get("tags") or [""])[0],
                "public": not any("session" in need for need in spec.get("security", [])),
                "parameters": [{"name": p["name"], "in": p["in"], "required": bool(p.get("required")),
                                "type": type_text(p.get("schema")), "description": p.get("description", "")}
                               for p in (resolve(p, doc) for p in spec.get("parameters", []))],
                "body": [{"media": media, "type": type_text(c.get("schema")),
                          "fields": properties(c.get("schema"), doc)} for media, c in body.items()],
                "responses": responses,
            })
    order = [t["name"] for t in doc.get("tags", [])]
    return sorted(out, key=lambda o: order.index(o["tag"]) if o["tag"] in order else len(order))


@bp.get("/openapi.json")
def openapi_json():
    if g.actor is None:
        abort(401)  # a script's resource: the API's answer, where the docs page sends a person to log in
    return jsonify(document())


@bp.get("/docs")
@login_required
def docs():
    doc = document()
    schemas = [{"name": name, "description": spec.get("description", ""), "fields": properties(spec, doc),
                "type": type_text(spec) if not properties(spec, doc) else ""}
               for name, spec in doc["components"]["schemas"].items()]
    return render_template("api/docs.html", info=doc["info"], operations=operations(doc), schemas=schemas)
