"""The expression sandbox: every condition, script, scope, timer and collection runs here.

Code from a BPMN file is compiled by RestrictedPython (no imports, no names or attributes that start
with an underscore, guarded getattr/getitem/iter/write) and runs under a wall-clock budget that is
checked on every loop iteration, every function call and every large power or repetition.
"""

from __future__ import annotations

import ast
import time
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_eval, compile_restricted_exec
from RestrictedPython import safe_builtins as _rp_safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr

from .errors import ScriptRejected

DEFAULT_TIME_LIMIT = 1.0  # seconds per evaluation; BPMN logic is small, a longer run is a bug or an attack
_MAX_POW_EXPONENT = 4096
_MAX_SEQUENCE_REPEAT = 1_000_000

_UNSAFE_BUILTINS = {"setattr", "delattr", "__build_class__", "_getattr_", "id", "hash", "callable"}
SAFE_BUILTINS: dict[str, Any] = {k: v for k, v in _rp_safe_builtins.items() if k not in _UNSAFE_BUILTINS}
SAFE_BUILTINS.update(
    {
        "list": list, "dict": dict, "set": set, "tuple": tuple, "frozenset": frozenset,
        "sum": sum, "min": min, "max": max, "any": any, "all": all, "enumerate": enumerate,
        "sorted": sorted, "reversed": reversed, "map": map, "filter": filter, "zip": zip,
    }
)


class _Budget(RestrictingNodeTransformer):
    """RestrictedPython's policy plus a budget check at the top of every loop and function body."""

    def _tick(self, node):
        call = ast.Expr(ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[]))
        node.body.insert(0, ast.copy_location(call, node))
        ast.fix_missing_locations(node)

    def visit_Import(self, node):
        self.error(node, "import 语句不被允许")
        return node

    visit_ImportFrom = visit_Import

    def visit_While(self, node):
        node = super().visit_While(node)
        self._tick(node)
        return node

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        self._tick(node)
        return node

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        guard = {ast.Pow: "_pow_", ast.Mult: "_mul_", ast.Add: "_add_"}.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))


def _compile_errors(errors) -> str:
    return "; ".join(str(e) for e in errors)


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CodeType:
    """Compile an expression under the sandbox policy; raises ScriptRejected with the reason."""
    result = compile_restricted_eval(source.strip(), policy=_Budget)
    if result.errors or result.code is None:
        raise ScriptRejected(f"表达式不被允许: {_compile_errors(result.errors)}", source=source)
    return result.code


@lru_cache(maxsize=1024)
def compile_script(source: str) -> CodeType:
    """Compile a script under the sandbox policy; raises ScriptRejected with the reason."""
    result = compile_restricted_exec(source, policy=_Budget)
    if result.errors or result.code is None:
        raise ScriptRejected(f"脚本不被允许: {_compile_errors(result.errors)}", source=source)
    return result.code


def _getitem(obj, key):
    return obj[key]


def _write(obj):
    # Scripts may change the plain data they work on, never other objects.
    if isinstance(obj, (dict, list, set)):
        return obj
    raise ScriptRejected(f"脚本不能修改 {type(obj).__name__} 对象")


def _inplacevar(op, x, y):
    ops = {"+=": lambda: _add(x, y), "-=": lambda: x - y, "*=": lambda: _mul(x, y), "/=": lambda: x / y,
           "//=": lambda: x // y, "%=": lambda: x % y, "|=": lambda: x | y, "&=": lambda: x & y}
    if op not in ops:
        raise ScriptRejected(f"不支持的运算 {op}")
    return ops[op]()


def _range(*args):
    # C-level consumers (sum, sorted, list...) never call _tick_, so their input must stay small.
    r = range(*args)
    if len(r) > _MAX_SEQUENCE_REPEAT:
        raise ScriptRejected("range 过大")
    return r


def _pow(x, y):
    if isinstance(y, int) and abs(y) > _MAX_POW_EXPONENT:
        raise ScriptRejected("幂运算的指数过大")
    return x**y


def _add(x, y):
    # Doubling a string or list in a loop fills memory long before the time budget runs out.
    if isinstance(x, (str, bytes, list, tuple)) and isinstance(y, (str, bytes, list, tuple)):
        if len(x) + len(y) > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected("拼接的序列过长")
    return x + y


def _mul(x, y):
    for seq, n in ((x, y), (y, x)):
        repeatable = isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int)
        if repeatable and n * max(len(seq), 1) > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected("重复的序列过长")
    return x * y


SAFE_BUILTINS["range"] = _range


class Sandbox:
    """Runs compiled BPMN code against task data with a time budget per call."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT):
        self.time_limit = time_limit

    def _globals(self, deadline: float) -> dict[str, Any]:
        def tick():
            if time.monotonic() > deadline:
                raise ScriptRejected(f"脚本运行超过 {self.time_limit:g} 秒, 已被终止 (可能是死循环)")

        def getiter(obj):
            for item in obj:
                tick()
                yield item

        return {
            "__builtins__": SAFE_BUILTINS,
            "_getattr_": safer_getattr,
            "_getitem_": _getitem,
            "_getiter_": getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": _write,
            "_inplacevar_": _inplacevar,
            "_tick_": tick,
            "_pow_": _pow,
            "_mul_": _mul,
            "_add_": _add,
        }

    def evaluate(self, expression: str, context: dict, extra: dict | None = None) -> Any:
        """Evaluate an expression over `context` (task data)."""
        code = compile_expression(expression)
        names = {**(extra or {}), **context, **self._globals(time.monotonic() + self.time_limit)}
        return eval(code, names)  # noqa: S307 - compiled by RestrictedPython above

    def execute(self, script: str, context: dict, extra: dict | None = None) -> None:
        """Run a script; the variables it sets or deletes change `context` in place."""
        code = compile_script(script)
        base = self._globals(time.monotonic() + self.time_limit)
        # The guards go in last: no data key (say "_getiter_") can replace them.
        names = {**(extra or {}), **context, **base}
        exec(code, names)  # noqa: S102 - compiled by RestrictedPython above
        for key in [k for k in context if k not in names]:
            del context[key]
        for key, value in names.items():
            if key in base or (extra and key in extra) or key.startswith("_") or callable(value):
                continue
            context[key] = value
