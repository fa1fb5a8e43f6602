"""Which callables a pickle may name: an allow-list first, a list of code runners second.

An unpickler imports every ``module.name`` a pickle names and calls what the pickle
asks it to call. A deny list alone is structurally bypassable (picklescan#66): there is
always another module that runs code. So the verdict is an allow-list decision:

- SAFE: known data constructors (tensors, arrays, estimators, containers) — no finding;
- DANGEROUS: callables that run code, spawn processes, import modules, open files or
  load another serialised payload — CRITICAL;
- UNKNOWN: everything else — LOW, so a repository's pull policy can decide.

Verdicts depend only on these tables, never on what is installed beside the scanner.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Verdict(StrEnum):
    SAFE = "safe"
    UNKNOWN = "unknown"
    DANGEROUS = "dangerous"


# Exact (module, name) pairs that only rebuild data.
_SAFE_NAMES: frozenset[tuple[str, str]] = frozenset(
    {
        ("collections", "OrderedDict"),
        ("collections", "defaultdict"),
        ("collections", "Counter"),
        ("collections", "deque"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "bytes"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "range"),
        ("builtins", "object"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("builtins", "str"),
        ("builtins", "list"),
        ("builtins", "dict"),
        ("builtins", "tuple"),
        ("builtins", "bool"),
        ("copyreg", "_reconstructor"),
        # Python 3 writes bytes at protocol 2 as _codecs.encode(str, 'latin1').
        ("_codecs", "encode"),
        ("datetime", "datetime"),
        ("datetime", "date"),
        ("datetime", "time"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("decimal", "Decimal"),
        ("fractions", "Fraction"),
        ("uuid", "UUID"),
        ("pathlib", "PosixPath"),
        ("pathlib", "PurePosixPath"),
        ("pathlib", "WindowsPath"),
        ("pathlib", "PureWindowsPath"),
        ("pathlib", "Path"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._pickle", "__generator_ctor"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.core.numeric", "_frombuffer"),  # arrays at protocol 5
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.random._pcg64", "PCG64"),
        ("numpy.random._pcg64", "PCG64DXSM"),
        ("numpy.random._mt19937", "MT19937"),
        ("numpy.random._philox", "Philox"),
        ("numpy.random._sfc64", "SFC64"),
        ("numpy.random.bit_generator", "SeedSequence"),
        ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
        ("numpy.random._generator", "Generator"),
        ("numpy.random.mtrand", "RandomState"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch", "dtype"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch.nn.parameter", "Parameter"),
        ("torch.serialization", "_get_layout"),
        ("torch.storage", "UntypedStorage"),
        ("torch.storage", "TypedStorage"),
        ("torch.storage", "_load_from_bytes"),
    }
)

# torch dtypes and layouts are pickled as module attributes (GLOBAL torch float32).
_TORCH_ATTRIBUTE = re.compile(
    r"(float|bfloat|int|uint|complex|bool|half|double|long|short|cfloat|cdouble|quint|qint)"
    r"[0-9a-z_]*|strided|sparse_coo|sparse_csr|contiguous_format|channels_last|preserve_format"
    r"|[A-Z][A-Za-z0-9]*Storage"
)
_TORCH_REBUILD = re.compile(r"_rebuild_[a-z_0-9]+")
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
# numpy scalar types pickled by name (numpy.float64, numpy.int32, ...).
_NUMPY_SCALAR = re.compile(r"(float|int|uint|complex|bool|str|bytes|datetime|timedelta)[0-9_]*")

# Module prefixes whose classes (CapitalisedNames) rebuild models and nothing else.
_CLASS_PREFIXES = ("sklearn.", "torch.nn.modules.", "xgboost.", "lightgbm.", "catboost.")
_SPARSE_MATRIX = re.compile(r"(csr|csc|coo|bsr|dia|dok|lil)_(matrix|array)")

# Modules any of whose callables run code, start processes, import code, touch files
# or the network, or deserialise another payload.
_DANGEROUS_MODULES = (
    "os",
    "posix",
    "nt",
    "posixpath",
    "ntpath",
    "subprocess",
    "_posixsubprocess",
    "sys",
    "importlib",
    "pkgutil",
    "runpy",
    "marshal",
    "types",
    "pickle",
    "_pickle",
    "cPickle",
    "pickletools",
    "dill",
    "cloudpickle",
    "shelve",
    "code",
    "codeop",
    "pty",
    "socket",
    "shutil",
    "tempfile",
    "webbrowser",
    "timeit",
    "multiprocessing",
    "concurrent",
    "ctypes",
    "_ctypes",
    "cffi",
    "pdb",
    "bdb",
    "profile",
    "cProfile",
    "trace",
    "operator",
    "_operator",
    "functools",
    "asyncio",
    "threading",
    "_thread",
    "signal",
    "mailcap",
    "zipimport",
    "imp",
    "io",
    "_io",
    "site",
    "sysconfig",
    "doctest",
    "unittest",
    "idlelib",
    "lib2to3",
    "distutils",
    "setuptools",
    "pip",
    "venv",
    "ensurepip",
    "platform",
    "requests",
    "urllib",
    "urllib3",
    "http",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "telnetlib",
    "xmlrpc",
    "commands",
    "popen2",
    "linecache",
    "inspect",
    "gc",
    "weakref",
    "atexit",
    "builtins.eval",
    "torch.hub",
    "torch.jit",
    "torch.utils.collect_env",
    "torch._inductor",
    "torch.package",
    "torch.load",
    "numpy.testing",
    "numpy.f2py",
    "numpy.load",
    "numpy.lib.npyio",
    "numpy.distutils",
    "joblib.load",
    "joblib.numpy_pickle.load",
    "pandas.read_pickle",
    "pandas.io.pickle",
    "keras.models.load_model",
    "tensorflow.io",
    "jinja2",
    "uuid._get_command_stdout",
    # Found missing by the second measurement (scanning reference §5.6): each runs a
    # command, loads native code or another payload, or writes files.
    "pydoc",  # pipepager runs a shell command, locate imports anything
    "_pyrepl",
    "_osx_support",  # _read_output runs a shell command
    "_aix_support",
    "logging.config",  # dictConfig and fileConfig instantiate any class; listen takes configs from a socket
    "logging.handlers",
    "logging.FileHandler",
    "numpy.ctypeslib",  # load_library
    "numpy.lib.format.read_array",
    "numpy.lib._format_impl.read_array",
    "numpy.lib._npyio_impl",
    "torch.serialization.load",
    "torch.serialization._load",
    "torch.utils.cpp_extension",  # compiles and loads code
    "torch.ops",
    "torch._ops",
    "torch.classes",
    "torch._classes",
    "torch.utils.bottleneck",
    "torch.distributed.rpc",
    "torch.testing",
    "torch.fx",  # a pickled GraphModule is rebuilt by exec of its generated source
    "torch._dynamo",
    "torch.utils.data.datapipes",
    "sklearn.utils._joblib",
    "sklearn.externals.joblib",
    "tensorflow.python.ops.script_ops",
    "tarfile",
    "zipfile",
    "fileinput",
    "sqlite3",
    "dbm",
)

# builtins that evaluate, import, reach attributes dynamically or open files.
_DANGEROUS_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "open",
        "input",
        "breakpoint",
        "globals",
        "locals",
        "vars",
        "apply",
        "execfile",
        "reload",
        "memoryview",
        "help",
        "exit",
        "quit",
        "classmethod",
        "staticmethod",
        "property",
        "super",
        "type",
        "__build_class__",
        "__loader__",
        "__spec__",
    }
)


# What the unpickler's fix_imports maps Python 2 names to (protocol < 3).
_PYTHON2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "exceptions": "builtins"}


# Names that run code or processes wherever a module re-exports them.
_CODE_RUNNING_NAMES = frozenset(
    {
        "system", "popen", "exec", "eval", "execfile", "spawn", "spawnv", "spawnve", "spawnl", "execv",
        "execve", "execl", "fork_exec", "check_output", "check_call", "getoutput", "getstatusoutput",
        "import_module", "load_module", "spawnv_passfds", "load_library", "pipepager", "pipe_pager",
    }
)  # fmt: skip


def classify(module: str, name: str) -> Verdict:
    """The verdict for ``module.name`` as an unpickler would import and call it."""
    module = _PYTHON2_MODULES.get(module, module)
    if (module, name) in _SAFE_NAMES:
        return Verdict.SAFE
    if _is_dangerous(module, name):
        return Verdict.DANGEROUS
    if _is_known_data_class(module, name):
        return Verdict.SAFE
    return Verdict.UNKNOWN


def _is_dangerous(module: str, name: str) -> bool:
    if module in ("builtins", "__builtins__"):
        return name in _DANGEROUS_BUILTINS or name.startswith("_")
    # A dotted name can reach a dangerous module by attribute (`STACK_GLOBAL os.path system`
    # or `GLOBAL torch os.system`), so look at the whole dotted path.
    dotted = f"{module}.{name}"
    for prefix in _DANGEROUS_MODULES:
        if dotted == prefix or dotted.startswith(prefix + ".") or module == prefix:
            return True
    if "." in name or name.startswith("__") or name in _CODE_RUNNING_NAMES:
        return True  # attribute chains, dunders, and process or code runners re-exported elsewhere
    return any(part in ("os", "subprocess", "posix", "nt", "pty", "commands") for part in module.split("."))


def _is_known_data_class(module: str, name: str) -> bool:
    if module == "torch":
        return bool(_TORCH_ATTRIBUTE.fullmatch(name))
    if module == "torch._utils":
        return bool(_TORCH_REBUILD.fullmatch(name))
    if module == "numpy":
        return bool(_NUMPY_SCALAR.fullmatch(name))
    if module.startswith("scipy.sparse"):
        return bool(_SPARSE_MATRIX.fullmatch(name))
    if module.startswith(_CLASS_PREFIXES) and _CLASS_NAME.fullmatch(name):
        return not module.startswith(("sklearn.utils", "sklearn.externals"))
    return False
