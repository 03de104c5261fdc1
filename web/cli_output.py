"""Output for the `smflow` command: aligned tables (CJK-aware) or JSON, and user-error exits."""

from __future__ import annotations

import json
import sys
import unicodedata

import click

from engine import SmflowError, ValidationFailed


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - _width(c)) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(无)")
    return "\n".join(lines)


def emit(value, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))
    elif text is not None:
        click.echo(text)


def fail(exc: SmflowError, as_json: bool) -> None:
    if as_json:
        errors = ([p.to_dict() for p in exc.problems] if isinstance(exc, ValidationFailed) and exc.problems
                  else [exc.to_dict()])
        click.echo(json.dumps({"errors": errors}, ensure_ascii=False, default=str))
    detail = ""
    # A problem already said by the message (a refusal with one reason says it in both) is not said twice.
    problems = [p.message for p in exc.problems if not exc.message.startswith(p.message)] \
        if isinstance(exc, ValidationFailed) else []
    if problems:
        detail = ": " + "; ".join(problems[:5])
        if len(problems) > 5:
            detail += f" (另有 {len(problems) - 5} 处)"
    click.echo(f"错误: {exc.message}{detail}", err=True)
    sys.exit(2)
