"""The expression sandbox: every condition, script, scope, timer and collection runs here.

Code from a BPMN file is compiled by RestrictedPython (no imports, no names or attributes that start
with an underscore, guarded getattr/getitem/iter/write) and runs under a budget per call: wall-clock
time (checked on every loop iteration, comprehension item, function and lambda call), the size of
what one step may build (repetition, concatenation, padding, joining, formatting, big numbers), the
total built in one call, the growth of the process's memory, and the size of what it hands back.
"""

from __future__ import annotations

import ast
import re
import resource
import time
from contextlib import contextmanager
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted_eval, compile_restricted_exec
from RestrictedPython import safe_builtins as _rp_safe_builtins
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr

from .errors import Message, ScriptRejected
from .messages import chained, say

DEFAULT_TIME_LIMIT = 1.0  # seconds per evaluation; BPMN logic is small, a longer run is a bug or an attack
_MAX_POW_EXPONENT = 4096
_MAX_SEQUENCE_REPEAT = 1_000_000  # items or characters one step may produce
_MAX_ALLOCATED = 50_000_000  # items or characters all guarded steps of one call may produce together
_MAX_DATA = 5_000_000  # size (characters + items) of a result, of the data a script leaves, of what is formatted
_MAX_DEPTH = 100  # nesting of data; JSON serialisation and repr recurse
_MAX_INT_BITS = 100_000  # about 30 000 decimal digits: multiplying bigger numbers takes seconds
_MAX_FORMAT_WIDTH = 10_000
_MAX_ROUND_DIGITS = 1_000
_MEMORY_GROWTH_KB = 256 * 1024  # peak RSS growth during one call that aborts it
_MEMORY_CHECK_EVERY = 4  # ticks between two (cheap, ~1 µs) peak-RSS reads

# Builtins that would reach outside the data (or stop the whole process: SystemExit, KeyboardInterrupt).
_UNSAFE_BUILTINS = {"setattr", "delattr", "__build_class__", "_getattr_", "id", "hash", "callable",
                    "SystemExit", "KeyboardInterrupt", "GeneratorExit"}
SAFE_BUILTINS: dict[str, Any] = {k: v for k, v in _rp_safe_builtins.items() if k not in _UNSAFE_BUILTINS}
SAFE_BUILTINS.update(
    {
        "list": list, "dict": dict, "set": set, "tuple": tuple, "frozenset": frozenset,
        "min": min, "max": max, "any": any, "all": all, "enumerate": enumerate,
        "sorted": sorted, "reversed": reversed, "map": map, "filter": filter, "zip": zip,
    }
)
_SEQUENCES = (str, bytes, list, tuple)
_FORMAT_NUMBER = re.compile(r"\d+")
_PERCENT_DIRECTIVE = re.compile(r"%[^a-zA-Z%]*[a-zA-Z%]")
_NAME_ERROR = re.compile(r"name '[^']+' is not defined")


class _Budget(RestrictingNodeTransformer):
    """RestrictedPython's policy plus budget checks: a tick in every loop, function and lambda, guarded operators."""

    def _tick(self, node):
        call = ast.Expr(ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[]))
        node.body.insert(0, ast.copy_location(call, node))
        ast.fix_missing_locations(node)

    def error(self, node, info):
        # Our own refusals stay Messages (said in the reader's language); RestrictedPython's are its English text.
        if isinstance(info, Message):
            self.errors.append(say("sandbox.line", line=getattr(node, "lineno", None), problem=info))
        else:
            super().error(node, info)

    def visit_Import(self, node):
        self.error(node, say("sandbox.import"))
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node):
        self.error(node, say("sandbox.class"))
        return node

    def visit_While(self, node):
        node = super().visit_While(node)
        self._tick(node)
        return node

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        self._tick(node)
        return node

    def visit_Lambda(self, node):
        # map/filter/sorted call lambdas from C, with no loop of ours in between: `(_tick_(), body)[1]`.
        node = super().visit_Lambda(node)
        tick = ast.Call(func=ast.Name("_tick_", ast.Load()), args=[], keywords=[])
        pair = ast.Tuple(elts=[tick, node.body], ctx=ast.Load())
        node.body = ast.Subscript(value=pair, slice=ast.Constant(1), ctx=ast.Load())
        return ast.fix_missing_locations(ast.copy_location(node, node))

    def visit_BinOp(self, node):
        node = super().visit_BinOp(node)
        guard = {ast.Pow: "_pow_", ast.Mult: "_mul_", ast.Add: "_add_", ast.LShift: "_lshift_",
                 ast.Mod: "_mod_"}.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_FormattedValue(self, node):
        # f"{value!r:>{width}}" → f"{_format_(value, f'>{width}', 'r')}": the guard sees the width and the value.
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        conversion = ast.Constant(chr(node.conversion) if node.conversion and node.conversion > 0 else "")
        call = ast.Call(func=ast.Name("_format_", ast.Load()), args=[node.value, spec, conversion], keywords=[])
        node.value, node.format_spec, node.conversion = call, None, -1
        return ast.fix_missing_locations(node)


def _compile_errors(errors) -> str:
    """The compiler's reasons joined by "; ", as a chain of messages so that ours are said in the reader's language."""
    return chained(list(errors), "clauses.and") if errors else ""


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CodeType:
    """Compile an expression under the sandbox policy; raises ScriptRejected with the reason."""
    result = compile_restricted_eval(source.strip(), policy=_Budget)
    if result.errors or result.code is None:
        raise ScriptRejected(say("sandbox.expression_refused", errors=_compile_errors(result.errors)), source=source)
    return result.code


@lru_cache(maxsize=1024)
def compile_script(source: str) -> CodeType:
    """Compile a script under the sandbox policy; raises ScriptRejected with the reason."""
    result = compile_restricted_exec(source, policy=_Budget)
    if result.errors or result.code is None:
        raise ScriptRejected(say("sandbox.script_refused", errors=_compile_errors(result.errors)), source=source)
    return result.code


def data_size(obj: Any, limit: int = _MAX_DATA) -> int:
    """Characters plus items in `obj`, counting a shared object at every place it appears (as repr and JSON
    would write it); stops counting once past `limit`. Raises ScriptRejected for data nested too deep."""
    total, stack = 0, [(obj, 0)]
    while stack and total <= limit:
        item, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ScriptRejected(say("sandbox.too_deep", n=_MAX_DEPTH))
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) + 1
        elif isinstance(item, dict):
            total += 1 + len(item)
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += 1
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, int):
            total += 1 + item.bit_length() // 64
        else:
            total += 1
    return total


def _check_data(value: Any, what: str) -> None:
    """`what` is the key of what is checked (sandbox.what.*): the message is only made when it is too big."""
    if data_size(value) > _MAX_DATA:
        raise ScriptRejected(say("sandbox.too_big", what=say(what), n=f"{_MAX_DATA:,}"))


def _getitem(obj, key):
    return obj[key]


def _write(obj):
    # Scripts may change the plain data they work on, never other objects.
    if isinstance(obj, (dict, list, set)):
        return obj
    raise ScriptRejected(say("sandbox.cannot_modify", type=type(obj).__name__))


def _range(*args):
    # C-level consumers (sum, sorted, list...) never call _tick_, so their input must stay small.
    r = range(*args)
    if len(r) > _MAX_SEQUENCE_REPEAT:
        raise ScriptRejected(say("sandbox.range"))
    return r


def _check_widths(spec: str) -> None:
    if "*" in spec or any(int(n) > _MAX_FORMAT_WIDTH for n in _FORMAT_NUMBER.findall(spec)):
        raise ScriptRejected(say("sandbox.format_width", limit=_MAX_FORMAT_WIDTH))


def _sum(iterable, start=0):
    # sum(lists, []) copies the growing list at every step: quadratic memory and time in one C call.
    if isinstance(start, bool) or not isinstance(start, (int, float, complex)):
        raise ScriptRejected(say("sandbox.sum"))
    return sum(iterable, start)


def _round(number, ndigits=None):
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > _MAX_ROUND_DIGITS:
        raise ScriptRejected(say("sandbox.round"))
    return round(number) if ndigits is None else round(number, ndigits)


def _repr(obj) -> str:
    _check_data(obj, "sandbox.what.text")
    return repr(obj)


class _StrType(type):
    """`str` in the sandbox: `isinstance(x, str)` works as usual, `str(x)` first checks the size of x."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, str)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, str)

    def __call__(cls, *args, **kwargs):
        if args:
            _check_data(args[0], "sandbox.what.text")
        return str(*args, **kwargs)


class GuardedStr(metaclass=_StrType):
    pass


SAFE_BUILTINS.update({"range": _range, "sum": _sum, "round": _round, "repr": _repr, "str": GuardedStr})


class FormatRefused(ScriptRejected, NotImplementedError):
    """str.format and format_map can reach any attribute; RestrictedPython refuses them."""


class _Guards:
    """The per-call budget: time, what guarded steps produce in total, and the process's peak memory."""

    def __init__(self, time_limit: float):
        self.time_limit = time_limit
        self.deadline = time.monotonic() + time_limit
        self.allocated = 0
        self.ticks = 0
        self.peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScriptRejected(say("sandbox.timeout", seconds=f"{self.time_limit:g}"))
        self.ticks += 1
        if self.ticks % _MEMORY_CHECK_EVERY == 0:
            if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self.peak_kb > _MEMORY_GROWTH_KB:
                raise ScriptRejected(say("sandbox.memory"))

    def charge(self, produced: int) -> None:
        self.allocated += produced
        if self.allocated > _MAX_ALLOCATED:
            raise ScriptRejected(say("sandbox.allocated"))

    def getiter(self, obj):
        for item in obj:
            self.tick()
            yield item

    # -- operators -------------------------------------------------------------------------------
    def pow(self, x, y, mod=None):
        if mod is not None:
            return pow(x, y, mod)
        if isinstance(y, int) and abs(y) > _MAX_POW_EXPONENT:
            raise ScriptRejected(say("sandbox.pow_exponent"))
        if isinstance(x, int) and isinstance(y, int) and abs(x) > 1 and x.bit_length() * abs(y) > _MAX_INT_BITS:
            raise ScriptRejected(say("sandbox.pow_result"))
        return x**y

    def mul(self, x, y):
        for seq, n in ((x, y), (y, x)):
            if isinstance(seq, _SEQUENCES) and isinstance(n, int):
                if n * max(len(seq), 1) > _MAX_SEQUENCE_REPEAT:
                    raise ScriptRejected(say("sandbox.repeat"))
                if n > 1 and isinstance(seq, (list, tuple)) and n * data_size(seq) > _MAX_DATA:
                    raise ScriptRejected(say("sandbox.repeat"))
                self.charge(n * len(seq))
        if isinstance(x, int) and isinstance(y, int) and x.bit_length() + y.bit_length() > _MAX_INT_BITS:
            raise ScriptRejected(say("sandbox.product"))
        return x * y

    def add(self, x, y):
        # Doubling a string or list in a loop fills memory long before the time budget runs out.
        if isinstance(x, _SEQUENCES) and isinstance(y, _SEQUENCES):
            if len(x) + len(y) > _MAX_SEQUENCE_REPEAT:
                raise ScriptRejected(say("sandbox.concat"))
            self.charge(len(x) + len(y))
        return x + y

    def lshift(self, x, y):
        if isinstance(x, int) and isinstance(y, int) and x.bit_length() + y > _MAX_INT_BITS:
            raise ScriptRejected(say("sandbox.shift"))
        return x << y

    def mod(self, x, y):
        if isinstance(x, (str, bytes)):
            text = x if isinstance(x, str) else x.decode("latin-1")
            for directive in _PERCENT_DIRECTIVE.findall(text):
                _check_widths(directive)
            _check_data(y, "sandbox.what.formatted")
            self.charge(len(x) + data_size(y))
        return x % y

    def format(self, value, spec: str, conversion: str):
        _check_widths(spec)
        _check_data(value, "sandbox.what.formatted")
        if conversion:
            value = {"r": repr, "s": str, "a": ascii}[conversion](value)
        return format(value, spec)

    def inplacevar(self, op, x, y):
        ops = {"+=": lambda: self.add(x, y), "-=": lambda: x - y, "*=": lambda: self.mul(x, y),
               "/=": lambda: x / y, "//=": lambda: x // y, "%=": lambda: self.mod(x, y), "|=": lambda: x | y,
               "&=": lambda: x & y}
        if op not in ops:
            raise ScriptRejected(say("sandbox.operator", op=op))
        return ops[op]()

    # -- methods that build big things in one C call -----------------------------------------------
    def getattr(self, obj, name, default=None):
        try:
            value = safer_getattr(obj, name, default)
        except NotImplementedError as exc:  # str.format: callers that catch either kind see it
            raise FormatRefused(str(exc)) from None
        if obj is GuardedStr:
            obj, value = str, safer_getattr(str, name, default)
        guard = None
        if isinstance(obj, (str, bytes)) or obj in (str, bytes):
            guard = getattr(self, f"_str_{name}", None)
            if name in ("translate", "maketrans"):
                raise ScriptRejected(say("sandbox.method", name=name))
        elif isinstance(obj, list) and name == "extend":
            guard = self._list_extend
        elif isinstance(obj, int) and name == "to_bytes":
            guard = self._int_to_bytes
        if guard is None:
            return value
        if isinstance(obj, type):  # an unbound method: str.join(sep, items)
            return lambda this, *args, **kwargs: guard(this, value.__get__(this), *args, **kwargs)
        return lambda *args, **kwargs: guard(obj, value, *args, **kwargs)

    def _padded(self, this, method, width, *args):
        if isinstance(width, int) and width > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected(say("sandbox.padded"))
        self.charge(max(width, len(this)) if isinstance(width, int) else len(this))
        return method(width, *args)

    _str_ljust = _str_rjust = _str_center = _str_zfill = _padded

    def _str_expandtabs(self, this, method, tabsize=8):
        if isinstance(tabsize, int) and len(this) + this.count("\t" if isinstance(this, str) else b"\t") * tabsize \
                > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected(say("sandbox.expandtabs"))
        return method(tabsize)

    def _str_replace(self, this, method, old, new, count=-1):
        if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
            found = this.count(old) if old else len(this) + 1
            if count >= 0:
                found = min(found, count)
            if len(this) + found * (len(new) - len(old)) > _MAX_SEQUENCE_REPEAT:
                raise ScriptRejected(say("sandbox.replace"))
        self.charge(len(this))
        return method(old, new, count)

    def _str_join(self, this, method, items):
        items = list(items)
        total = len(this) * len(items) + sum(len(i) for i in items if isinstance(i, (str, bytes)))
        if total > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected(say("sandbox.join"))
        self.charge(total)
        return method(items)

    def _list_extend(self, this, method, items):
        items = list(items)
        if len(this) + len(items) > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected(say("sandbox.list_extend"))
        self.charge(len(items))
        return method(items)

    def _int_to_bytes(self, this, method, length=1, *args, **kwargs):
        if isinstance(length, int) and length > _MAX_SEQUENCE_REPEAT:
            raise ScriptRejected(say("sandbox.to_bytes"))
        return method(length, *args, **kwargs)

    def range(self, *args):
        r = _range(*args)
        self.charge(len(r))
        return r

    def names(self) -> dict[str, Any]:
        return {
            "__builtins__": {**SAFE_BUILTINS, "range": self.range, "pow": self.pow},
            "_getattr_": self.getattr,
            "_getitem_": _getitem,
            "_getiter_": self.getiter,
            "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
            "_unpack_sequence_": guarded_unpack_sequence,
            "_write_": _write,
            "_inplacevar_": self.inplacevar,
            "_tick_": self.tick,
            "_pow_": self.pow,
            "_mul_": self.mul,
            "_add_": self.add,
            "_lshift_": self.lshift,
            "_mod_": self.mod,
            "_format_": self.format,
        }


@contextmanager
def _plain_name_errors():
    # SpiffWorkflow's error report assumes an exception's first argument is text and that a NameError reads
    # "name 'x' is not defined"; `{}[1]` (KeyError(1)) or `raise NameError(1)` would crash it. Those
    # become a ScriptRejected with the same words.
    try:
        yield
    except ScriptRejected:
        raise
    except Exception as exc:
        odd_name = isinstance(exc, NameError) and not _NAME_ERROR.fullmatch(str(exc))
        if odd_name or (exc.args and not isinstance(exc.args[0], str)):
            raise ScriptRejected(f"{type(exc).__name__}: {str(exc)[:200]}") from None
        raise


class Sandbox:
    """Runs compiled BPMN code against task data with a budget per call."""

    def __init__(self, time_limit: float = DEFAULT_TIME_LIMIT):
        self.time_limit = time_limit

    def _globals(self) -> dict[str, Any]:
        return _Guards(self.time_limit).names()

    def evaluate(self, expression: str, context: dict, extra: dict | None = None) -> Any:
        """Evaluate an expression over `context` (task data)."""
        code = compile_expression(expression)
        names = {**(extra or {}), **context, **self._globals()}
        with _plain_name_errors():
            result = eval(code, names)  # noqa: S307 - compiled by RestrictedPython above
        _check_data(result, "sandbox.what.result")
        return result

    def execute(self, script: str, context: dict, extra: dict | None = None) -> None:
        """Run a script; the variables it sets or deletes change `context` in place."""
        code = compile_script(script)
        base = self._globals()
        # The guards go in last: no data key (say "_getiter_") can replace them.
        names = {**(extra or {}), **context, **base}
        with _plain_name_errors():
            exec(code, names)  # noqa: S102 - compiled by RestrictedPython above
        results = {key: value for key, value in names.items()
                   if not (key in base or (extra and key in extra) or key.startswith("_") or callable(value))}
        _check_data(results, "sandbox.what.script_data")
        for key in [k for k in context if k not in names]:
            del context[key]
        context.update(results)
