"""A pickle opcode walker that follows the stack as the unpickler would, and never unpickles.

``pickletools.genops`` decodes opcodes; this module keeps a symbolic stack and memo beside
it, so a global assembled by ``STACK_GLOBAL`` from memoised strings is resolved to the
name the unpickler would import, calls through ``REDUCE``/``OBJ``/``INST``/``NEWOBJ`` are
recorded, a payload handed to ``pickle.loads`` is walked in turn, and the raw array bytes
joblib writes after a ``NumpyArrayWrapper`` are skipped so the walk goes on. Anything the
walker cannot follow (a global whose name is computed, an extension code, a parse error)
is reported, never passed over.
"""

from __future__ import annotations

import io
import pickletools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, cast

from strongroom.analysis.models.pickle_report import (
    GlobalRef,
    PickleLimits,
    PickleProblem,
    PickleReport,
    iter_globals,
)
from strongroom.analysis.models.pickle_source import PickleSource
from strongroom.analysis.streams import Reader

__all__ = ["GlobalRef", "PickleLimits", "PickleProblem", "PickleReport", "iter_globals", "walk_pickles"]

_PROTO = 0x80
_MAX_NESTING = 4


class _Mark:
    pass


class _Unknown:
    pass


@dataclass
class _Global:
    module: str
    name: str


@dataclass
class _Call:
    func: object
    args: object


@dataclass
class _Dict:
    items: dict[object, object] = field(default_factory=dict)


_MARK = _Mark()
_UNKNOWN = _Unknown()
_LITERAL_OPS = frozenset(
    {
        "INT",
        "BININT",
        "BININT1",
        "BININT2",
        "LONG",
        "LONG1",
        "LONG4",
        "FLOAT",
        "BINFLOAT",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
        "UNICODE",
        "BINUNICODE",
        "SHORT_BINUNICODE",
        "BINUNICODE8",
        "BINBYTES",
        "SHORT_BINBYTES",
        "BINBYTES8",
        "BYTEARRAY8",
    }
)
_CONSTANTS: dict[str, object] = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_TUPLE": ()}
_LOADERS = re.compile(
    r"(pickle|_pickle|cPickle|dill|cloudpickle|joblib|marshal)\.(_?loads?|load_.*)|torch\.storage\._load_from_bytes"
)
# Loaders whose payload is a whole legacy torch.save file (pickles in a row): torch
# pickles each storage as ``_load_from_bytes(bytes)``, which runs torch.load on them.
_FILE_LOADERS = frozenset({("torch.storage", "_load_from_bytes")})
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_DTYPE_SIZE = re.compile(r"[<>|=]?([a-zA-Z])(\d+)")


class _MalformedPickle(ValueError):
    pass


class _Walker:
    """One pickle's symbolic execution; the stream stays positioned after its STOP."""

    def __init__(self, stream: PickleSource, report: PickleReport, limits: PickleLimits, nested: int) -> None:
        self.stream = stream
        self.report = report
        self.limits = limits
        self.nested = nested
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}

    def run(self) -> None:
        report, limit, step = self.report, self.limits.max_opcodes, self.step
        for opcode, arg, _position in pickletools.genops(cast("IO[bytes]", self.stream)):
            report.opcodes += 1
            if report.opcodes > limit:
                raise _LimitReached(f"more than {limit} opcodes")
            name = opcode.name
            if name == "STOP":
                return
            step(name, arg)

    def step(self, name: str, arg: object) -> None:
        if name in _LITERAL_OPS:
            self.push(arg)
        elif name in _CONSTANTS:
            self.push(_CONSTANTS[name])
        elif name in _IGNORED:
            pass
        else:
            handler = _DISPATCH.get(name)
            if handler is None:
                raise _MalformedPickle(f"opcode {name} is not understood")
            handler(self, arg)

    # -- containers ----------------------------------------------------------------

    def op_empty(self, _arg: object) -> None:
        self.push(_UNKNOWN)

    def op_empty_dict(self, _arg: object) -> None:
        self.push(_Dict())

    def op_mark(self, _arg: object) -> None:
        self.push(_MARK)

    def op_tuple_n(self, count: int) -> None:
        items = [self.pop() for _ in range(count)][::-1]
        self.push(tuple(items))

    def op_tuple(self, _arg: object) -> None:
        self.push(tuple(self.pop_mark()))

    def op_from_mark(self, _arg: object) -> None:
        self.pop_mark()
        self.push(_UNKNOWN)

    def op_dict(self, _arg: object) -> None:
        items = self.pop_mark()
        self.push(_Dict(dict(zip(items[::2], items[1::2], strict=False))))

    def op_setitem(self, _arg: object) -> None:
        value, key = self.pop(), self.pop()
        self.set_items(self.top(), [key, value])

    def op_setitems(self, _arg: object) -> None:
        items = self.pop_mark()
        self.set_items(self.top(), items)

    # -- imports and calls -----------------------------------------------------------

    def op_global(self, arg: object) -> None:
        module, _, attribute = str(arg).partition(" ")
        self.push(self.reference(module, attribute))

    def op_stack_global(self, _arg: object) -> None:
        attribute, module = self.pop(), self.pop()
        if isinstance(module, str) and isinstance(attribute, str):
            self.push(self.reference(module, attribute))
        else:
            self.problem("dynamic-global", "STACK_GLOBAL names a module or attribute computed at load time")
            self.push(_Global("?", "?"))

    def op_inst(self, arg: object) -> None:
        module, _, attribute = str(arg).partition(" ")
        args = tuple(self.pop_mark())
        self.push(self.call(self.reference(module, attribute), args))

    def op_obj(self, _arg: object) -> None:
        items = self.pop_mark()
        if not items:
            raise _MalformedPickle("OBJ without a class")
        self.push(self.call(items[0], tuple(items[1:])))

    def op_reduce(self, _arg: object) -> None:
        args = self.pop()
        self.push(self.call(self.pop(), args))

    def op_newobj_ex(self, _arg: object) -> None:
        self.pop()  # keyword arguments
        args = self.pop()
        self.push(self.call(self.pop(), args))

    def op_build(self, _arg: object) -> None:
        state = self.pop()
        self.build(self.top(), state)

    def op_persid(self, _arg: object) -> None:
        self.push(_UNKNOWN)

    def op_binpersid(self, _arg: object) -> None:
        self.pop()
        self.push(_UNKNOWN)

    def op_ext(self, arg: object) -> None:
        self.problem("extension-code", f"copyreg extension code {arg} names a callable at load time")
        self.push(_Global("?", f"extension {arg}"))

    # -- memo and stack shuffling --------------------------------------------------------

    def op_put(self, arg: object) -> None:
        self.memo[int(str(arg))] = self.top()

    def op_memoize(self, _arg: object) -> None:
        self.memo[len(self.memo)] = self.top()

    def op_get(self, arg: object) -> None:
        key = int(str(arg))
        if key not in self.memo:
            raise _MalformedPickle(f"memo key {key} read before it is written")
        self.push(self.memo[key])

    def op_pop(self, _arg: object) -> None:
        self.pop()

    def op_pop_mark(self, _arg: object) -> None:
        self.pop_mark()

    def op_dup(self, _arg: object) -> None:
        self.push(self.top())

    # -- the stack ---------------------------------------------------------------

    def push(self, value: object) -> None:
        self.stack.append(value)

    def pop(self) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            raise _MalformedPickle("stack underflow")
        return self.stack.pop()

    def top(self) -> object:
        if not self.stack:
            raise _MalformedPickle("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[object]:
        items: list[object] = []
        while self.stack:
            value = self.stack.pop()
            if value is _MARK:
                return items[::-1]
            items.append(value)
        raise _MalformedPickle("no MARK on the stack")

    def set_items(self, target: object, items: list[object]) -> None:
        if isinstance(target, _Dict):
            for key, value in zip(items[::2], items[1::2], strict=False):
                if isinstance(key, str | int):
                    target.items[key] = value

    # -- what the unpickler would import and call --------------------------------

    def reference(self, module: str, attribute: str) -> _Global:
        if not (_DOTTED.fullmatch(module) and _DOTTED.fullmatch(attribute)):
            # find_class would fail on it: nothing is imported, and this is not a pickle.
            raise _MalformedPickle("a global that names no importable module")
        self.report.globals.append(GlobalRef(module, attribute, called=False, nested=self.nested))
        return _Global(module, attribute)

    def call(self, func: object, args: object) -> _Call:
        if isinstance(func, _Global):
            self.report.globals.append(GlobalRef(func.module, func.name, called=True, nested=self.nested))
            if _LOADERS.fullmatch(f"{func.module}.{func.name}"):
                self.nested_payloads(args, whole_file=(func.module, func.name) in _FILE_LOADERS)
        elif not isinstance(func, _Call):
            self.problem("call-of-data", "the pickle calls a value that is not an imported callable")
        return _Call(func, args)

    def nested_payloads(self, args: object, whole_file: bool = False) -> None:
        """Walk a payload handed to ``pickle.loads`` (or alike) as its own pickle; with
        ``whole_file``, every pickle in a row, as in a legacy torch file."""
        if self.nested >= _MAX_NESTING or not isinstance(args, tuple):
            return
        for value in args:
            if isinstance(value, bytes) and len(value) <= self.limits.max_nested_bytes:
                _walk_stream(
                    PickleSource(io.BytesIO(value)),
                    self.report,
                    self.limits,
                    self.nested + 1,
                    first_only=not whole_file,
                )

    def build(self, target: object, state: object) -> None:
        if (
            isinstance(target, _Call)
            and isinstance(target.func, _Global)
            and (target.func.module, target.func.name) == ("joblib.numpy_pickle", "NumpyArrayWrapper")
        ):
            self.skip_joblib_array(state)

    def skip_joblib_array(self, state: object) -> None:
        """joblib writes the array right after the wrapper's BUILD (joblib/numpy_pickle.py)."""
        if not isinstance(state, _Dict):
            raise _MalformedPickle("joblib array wrapper without a state dict")
        dtype = state.items.get("dtype")
        descr = dtype.args[0] if isinstance(dtype, _Call) and isinstance(dtype.args, tuple) else None
        shape = state.items.get("shape")
        match = _DTYPE_SIZE.fullmatch(descr) if isinstance(descr, str) else None
        if match is None or not isinstance(shape, tuple) or not all(isinstance(n, int) for n in shape):
            raise _MalformedPickle("joblib array wrapper with an unreadable dtype or shape")
        if match.group(1) == "O":
            # Object arrays are written as a pickle of their own, right here.
            _Walker(self.stream, self.report, self.limits, self.nested).run()
            return
        if "numpy_array_alignment_bytes" in state.items:
            padding = _read_exactly(self.stream, 1)[0]
            _read_exactly(self.stream, padding)
        count = 1
        for size in shape:
            count *= int(str(size))
        _skip_exactly(self.stream, count * int(match.group(2)))

    def problem(self, kind: str, detail: str) -> None:
        self.report.problems.append(PickleProblem(kind, detail))


_IGNORED = frozenset({"PROTO", "FRAME", "READONLY_BUFFER"})
_DISPATCH: dict[str, Callable[[_Walker, object], None]] = {
    "EMPTY_LIST": _Walker.op_empty,
    "EMPTY_SET": _Walker.op_empty,
    "NEXT_BUFFER": _Walker.op_empty,
    "EMPTY_DICT": _Walker.op_empty_dict,
    "MARK": _Walker.op_mark,
    "TUPLE1": lambda walker, _arg: walker.op_tuple_n(1),
    "TUPLE2": lambda walker, _arg: walker.op_tuple_n(2),
    "TUPLE3": lambda walker, _arg: walker.op_tuple_n(3),
    "TUPLE": _Walker.op_tuple,
    "LIST": _Walker.op_from_mark,
    "FROZENSET": _Walker.op_from_mark,
    "DICT": _Walker.op_dict,
    "SETITEM": _Walker.op_setitem,
    "SETITEMS": _Walker.op_setitems,
    "APPEND": _Walker.op_pop,
    "APPENDS": _Walker.op_pop_mark,
    "ADDITEMS": _Walker.op_pop_mark,
    "GLOBAL": _Walker.op_global,
    "STACK_GLOBAL": _Walker.op_stack_global,
    "INST": _Walker.op_inst,
    "OBJ": _Walker.op_obj,
    "REDUCE": _Walker.op_reduce,
    "NEWOBJ": _Walker.op_reduce,
    "NEWOBJ_EX": _Walker.op_newobj_ex,
    "BUILD": _Walker.op_build,
    "PERSID": _Walker.op_persid,
    "BINPERSID": _Walker.op_binpersid,
    "EXT1": _Walker.op_ext,
    "EXT2": _Walker.op_ext,
    "EXT4": _Walker.op_ext,
    "PUT": _Walker.op_put,
    "BINPUT": _Walker.op_put,
    "LONG_BINPUT": _Walker.op_put,
    "MEMOIZE": _Walker.op_memoize,
    "GET": _Walker.op_get,
    "BINGET": _Walker.op_get,
    "LONG_BINGET": _Walker.op_get,
    "POP": _Walker.op_pop,
    "POP_MARK": _Walker.op_pop_mark,
    "DUP": _Walker.op_dup,
}


class _LimitReached(Exception):
    pass


def _read_exactly(stream: PickleSource, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _MalformedPickle("the file ends inside a joblib array")
    return data


def _skip_exactly(stream: PickleSource, size: int) -> None:
    while size > 0:
        chunk = stream.read(min(size, 1024 * 1024))
        if not chunk:
            raise _MalformedPickle("the file ends inside a joblib array")
        size -= len(chunk)


def walk_pickles(stream: Reader, limits: PickleLimits | None = None) -> PickleReport:
    """Walk the pickle at the start of ``stream`` and every pickle that directly follows it.

    Legacy ``torch.save`` files are five pickles in a row (magic, protocol, sys info,
    the object, the storage keys) followed by raw storage bytes; the object pickle is
    the fourth, so stopping after the first would miss it. A following pickle is one
    that starts with the PROTO opcode; bytes that do not are data, not code.
    """
    report = PickleReport()
    _walk_stream(PickleSource(stream), report, limits or PickleLimits(), nested=0, first_only=False)
    return report


def _walk_stream(
    source: PickleSource, report: PickleReport, limits: PickleLimits, nested: int, first_only: bool
) -> None:
    for index in range(limits.max_pickles):
        try:
            _Walker(source, report, limits, nested).run()
        except _LimitReached as limit:
            report.problems.append(PickleProblem("limit", f"not fully analysed: {limit}"))
            return
        # pickletools decodes STRING escapes with codecs.escape_decode, which warns on
        # an invalid escape; where warnings are errors (tests) that is a malformed pickle.
        except (ValueError, EOFError, OverflowError, UnicodeDecodeError, DeprecationWarning) as error:
            if index == 0:  # what follows the pickles of a legacy torch file is raw data
                report.problems.append(PickleProblem("malformed", f"not a well-formed pickle: {error}"))
            return
        if not nested:
            report.pickles += 1
        if first_only:
            return
        following = source.peek_byte()
        if not following or following[0] != _PROTO:
            return
    report.problems.append(PickleProblem("limit", f"more than {limits.max_pickles} pickles in a row"))
