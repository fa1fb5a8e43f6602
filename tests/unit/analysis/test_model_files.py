"""Model files by content: unsafe ones found at the right severity, benign ones left alone.

Every malicious sample is bytes built from opcodes; nothing is ever unpickled.
"""

from __future__ import annotations

import collections
import datetime
import decimal
import io
import pickle
import pickletools
import struct

import pytest

from strongroom.analysis.models.files import analyse_model_file
from strongroom.analysis.models.findings import ModelFinding
from strongroom.analysis.severity import Severity
from support import models as m


def analyse(data: bytes, path: str = "blob") -> list[ModelFinding]:
    return analyse_model_file(path, io.BytesIO(data), len(data), lambda rest: io.BytesIO(rest.read()))


def worst(findings: list[ModelFinding]) -> Severity:
    return max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.UNDEFINED)


OS_SYSTEM = m.call("posix", "system", "echo pwned")
NESTED = (
    m.PROTO2
    + m.global_op("pickle", "loads")
    + m.binbytes(m.call("os", "system"))
    + m.TUPLE1
    + m.REDUCE
    + m.STOP
)
GETATTR_IMPORT = (
    m.PROTO2
    + m.global_op("builtins", "getattr")
    + m.global_op("importlib", "import_module")
    + m.unicode("os")
    + m.TUPLE1
    + m.REDUCE
    + m.unicode("system")
    + b"\x86"  # TUPLE2
    + m.REDUCE
    + m.STOP
)
# STACK_GLOBAL whose module name is computed by a call: the walker cannot name it.
DYNAMIC = (
    m.PROTO4
    + m.unicode("builtins")
    + m.unicode("str")
    + m.STACK_GLOBAL
    + m.unicode("os")
    + m.TUPLE1
    + m.REDUCE
    + m.unicode("system")
    + m.STACK_GLOBAL
    + m.STOP
)
MARSHAL = (
    m.PROTO2
    + m.global_op("types", "FunctionType")
    + m.global_op("marshal", "loads")
    + m.binbytes(b"\xe3" + bytes(16))
    + m.TUPLE1
    + m.REDUCE
    + b"}"
    + b"\x86"
    + m.REDUCE
    + m.STOP
)


MALICIOUS = {
    "GLOBAL posix.system, protocol 2": (OS_SYSTEM, "blob"),
    "STACK_GLOBAL builtins.exec from memoised strings": (
        m.stack_global_call("builtins", "exec", "1"),
        "blob",
    ),
    "INST os.system at protocol 0, named .pkl": (b"(S'ls'\nios\nsystem\n.", "model.pkl"),
    "INST os.system at protocol 0, no name": (b"(S'ls'\nios\nsystem\n.", "sha256-blob"),
    "GLOBAL os.system at protocol 0, no name": (b"cos\nsystem\n(S'ls'\ntR.", "blob"),
    "protocol 1 dict holding os.system, no name": (
        b"}q\x00(X\x01\x00\x00\x00aq\x01cos\nsystem\nq\x02X\x02\x00\x00\x00idq\x03\x85q\x04Rq\x05u.",
        "blob",
    ),
    "OBJ subprocess.Popen": (
        m.PROTO2 + m.MARK + m.global_op("subprocess", "Popen") + m.unicode("id") + b"o" + m.STOP,
        "blob",
    ),
    "getattr(import_module('os'), 'system')": (GETATTR_IMPORT, "blob"),
    "pickle.loads of a nested payload": (NESTED, "blob"),
    "marshal code object made a function": (MARSHAL, "blob"),
    "_posixsubprocess.fork_exec": (m.call("_posixsubprocess", "fork_exec"), "blob"),
    "multiprocessing.util.spawnv_passfds": (m.call("multiprocessing.util", "spawnv_passfds"), "blob"),
    "pkgutil.resolve_name": (m.call("pkgutil", "resolve_name", "os:system"), "blob"),
    "timeit.timeit": (m.call("timeit", "timeit", "__import__('os')"), "blob"),
    "torch.utils.collect_env.run": (m.call("torch.utils.collect_env", "run"), "blob"),
    "a global named through an attribute chain": (m.call("torch", "os.system"), "blob"),
    "STACK_GLOBAL with a computed module name": (DYNAMIC, "blob"),
    "payload before a corrupt tail": (OS_SYSTEM[:-1] + b"\xff\xfe", "blob"),
    "raw pickle named pytorch_model.bin": (OS_SYSTEM, "pytorch_model.bin"),
    "legacy torch file, fourth pickle": (m.legacy_torch(OS_SYSTEM), "model.pth"),
    "torch zip with a malicious data.pkl": (m.torch_zip(OS_SYSTEM), "model.pt"),
    "torch zip with no extension": (m.torch_zip(OS_SYSTEM), "sha256-blob"),
    "object .npy": (m.npy("|O", (1,), OS_SYSTEM), "array.npy"),
    "object array inside .npz": (m.zip_of({"a.npy": m.npy("|O", (1,), OS_SYSTEM)}), "arrays.npz"),
    "joblib zlib": (m.compress(OS_SYSTEM, "zlib"), "model.joblib"),
    "joblib gzip": (m.compress(OS_SYSTEM, "gzip"), "model.joblib"),
    "joblib bz2": (m.compress(OS_SYSTEM, "bz2"), "model.joblib"),
    "joblib xz": (m.compress(OS_SYSTEM, "xz"), "model.joblib"),
    "joblib lzma": (m.compress(OS_SYSTEM, "lzma"), "model.joblib"),
    "joblib: a payload after two arrays of raw bytes": (
        m.joblib_with_arrays([("<f8", (3, 2)), ("<i4", (5,))], trailer=OS_SYSTEM[2:-1]),
        "model.joblib",
    ),
    "pickle inside a plain zip": (m.zip_of({"weights/state": OS_SYSTEM}), "bundle.zip"),
    "Keras .keras with a Lambda layer": (
        m.keras_archive(
            m.keras_config(dense_layer := m.dense_layer(), {"class_name": "Lambda", "config": {}})
        ),
        "model.keras",
    ),
    "Keras .h5 with the Lambda written with JSON escapes": (
        b"\x89HDF\r\n\x1a\n" + bytes(100) + b'{"\\u0063lass_name" :\n "\\u004cambda"}',
        "model.h5",
    ),
    # Gaps the second measurement (scanning reference §5.6) points at.
    "protocol 0: harmless opcodes before the import, no name": (b"N0I1\n0cos\nsystem\n(S'ls'\ntR.", "blob"),
    "protocol 0: the import past the first 64 bytes, no name": (
        b"N0" * 40 + b"cos\nsystem\n(S'ls'\ntR.",
        "blob",
    ),
    "a storage's legacy torch file with a payload (_load_from_bytes)": (
        m.PROTO2
        + m.global_op("torch.storage", "_load_from_bytes")
        + m.binbytes(m.legacy_torch(OS_SYSTEM))
        + m.TUPLE1
        + m.REDUCE
        + m.STOP,
        "blob",
    ),
    "pydoc.pipepager": (m.call("pydoc", "pipepager", "id"), "blob"),
    "_pyrepl.pager.pipe_pager": (m.call("_pyrepl.pager", "pipe_pager", "id"), "blob"),
    "_osx_support._read_output": (m.call("_osx_support", "_read_output", "id"), "blob"),
    "logging.config.dictConfig": (m.call("logging.config", "dictConfig"), "blob"),
    "numpy.ctypeslib.load_library": (m.call("numpy.ctypeslib", "load_library", "evil.so"), "blob"),
    "torch.serialization.load": (m.call("torch.serialization", "load", "other.pt"), "blob"),
    "torch.utils.cpp_extension.load_inline": (m.call("torch.utils.cpp_extension", "load_inline"), "blob"),
    "torch.ops.load_library": (m.call("torch.ops", "load_library", "evil.so"), "blob"),
    "torch.fx.graph_module._forward_from_src": (m.call("torch.fx.graph_module", "_forward_from_src"), "blob"),
    "sklearn.utils._joblib.load": (m.call("sklearn.utils._joblib", "load", "other.pkl"), "blob"),
    "tarfile.open, which truncates files": (m.call("tarfile", "open", "/etc/passwd"), "blob"),
    "Keras .h5 with a Lambda layer in model_config": (
        b"\x89HDF\r\n\x1a\n" + bytes(100) + b'{"class_name": "Lambda", "config": {"function": "4wEA"}}',
        "model.h5",
    ),
}


@pytest.mark.parametrize(("sample", "path"), MALICIOUS.values(), ids=MALICIOUS.keys())
def test_unsafe_model_files_are_critical(sample: bytes, path: str) -> None:
    findings = analyse(sample, path)
    assert worst(findings) is Severity.CRITICAL, findings


def test_the_samples_are_pickles_pickletools_can_read() -> None:
    """The builders write real opcodes (checked with the disassembler, never by loading)."""
    for sample in (OS_SYSTEM, NESTED, GETATTR_IMPORT, MARSHAL, m.stack_global_call("builtins", "exec")):
        pickletools.dis(sample, out=io.StringIO())


def test_findings_name_the_callable_and_the_archive_member() -> None:
    findings = analyse(m.torch_zip(OS_SYSTEM), "model.pt")
    assert findings == [
        ModelFinding(
            "model.pt!archive/data.pkl", Severity.CRITICAL, "pickle-code-execution", "imports posix.system"
        )
    ]


def test_a_nested_payload_is_walked_too() -> None:
    details = {f.detail for f in analyse(NESTED)}
    assert details == {"imports pickle.loads", "imports os.system"}


def test_a_computed_global_is_reported_as_such() -> None:
    rules = {f.rule for f in analyse(DYNAMIC)}
    assert "pickle-dynamic-global" in rules


def test_a_code_runner_re_exported_by_another_module_is_critical() -> None:
    assert worst(analyse(m.call("somewrapper.shell", "check_output", "id"))) is Severity.CRITICAL


def test_a_module_merely_named_like_a_system_is_not_a_code_runner() -> None:
    findings = analyse(m.call("acme.system.models", "Scorer"))
    assert [f.severity for f in findings] == [Severity.LOW]


def test_an_unknown_callable_is_low() -> None:
    findings = analyse(m.call("mycompany.models", "Scorer"))
    assert [(f.severity, f.detail) for f in findings] == [(Severity.LOW, "imports mycompany.models.Scorer")]


def test_an_extension_code_cannot_be_named() -> None:
    findings = analyse(m.PROTO2 + b"\x82\x01" + m.unicode("x") + m.TUPLE1 + m.REDUCE + m.STOP)
    assert worst(findings) is Severity.HIGH


def test_a_broken_pickle_reports_what_ran_and_that_it_is_broken() -> None:
    rules = {f.rule for f in analyse(OS_SYSTEM[:-1] + b"\xff")}
    assert rules == {"pickle-code-execution", "pickle-malformed"}


def test_an_opcode_bound_is_not_fully_analysed_never_clean() -> None:
    from strongroom.analysis.models.files import ModelLimits
    from strongroom.analysis.models.pickles import PickleLimits

    benign = pickle.dumps(list(range(1000)), protocol=2)
    limits = ModelLimits(pickle=PickleLimits(max_opcodes=100))
    findings = analyse_model_file("b", io.BytesIO(benign), None, lambda r: io.BytesIO(r.read()), limits)
    assert [(f.severity, f.rule) for f in findings] == [(Severity.HIGH, "not-fully-analysed")]


def test_a_decompression_bomb_stops_at_the_cap() -> None:
    from strongroom.analysis.models.files import ModelLimits

    bomb = m.compress(
        m.PROTO2 + b"B" + (50 * 1024 * 1024).to_bytes(4, "little") + bytes(50 * 1024 * 1024), "zlib"
    )
    assert len(bomb) < 100 * 1024
    limits = ModelLimits(max_decompressed=4 * 1024 * 1024)
    findings = analyse_model_file("b.joblib", io.BytesIO(bomb), None, lambda r: io.BytesIO(r.read()), limits)
    assert worst(findings) in (Severity.HIGH, Severity.MEDIUM)
    assert any("decompresses to more than" in f.detail for f in findings)


class SklearnLikeEstimator:
    def __init__(self) -> None:
        self.coef_ = [0.5, 1.5]
        self.fitted_at = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)


BENIGN = {
    **{
        f"plain dict, protocol {p}": (pickle.dumps({"a": [1, 2.0, "x", None]}, protocol=p), "d.pkl")
        for p in range(6)
    },
    "OrderedDict, datetime, Decimal, complex, set, bytes at protocol 2": (
        pickle.dumps(
            collections.OrderedDict(
                t=datetime.datetime(2026, 1, 1), d=decimal.Decimal("1.5"), c=1j, s={1}, b=b"\x00\xff"
            ),
            protocol=2,
        ),
        "misc.pkl",
    ),
    "torch state dict zip built without torch": (
        m.torch_zip(*m.torch_state_dict_pickle({"fc.weight": (4, 3), "fc.bias": (4,)})),
        "pytorch_model.bin",
    ),
    "legacy torch state dict": (m.legacy_torch(m.torch_state_dict_pickle({"w": (2,)})[0]), "model.pth"),
    "numeric .npy": (m.npy("<f4", (2, 2), bytes(16)), "a.npy"),
    "numeric .npz": (m.zip_of({"a.npy": m.npy("<f8", (3,), bytes(24))}), "a.npz"),
    "joblib with numeric arrays": (m.joblib_with_arrays([("<f8", (3, 2)), ("<i4", (5,))]), "m.joblib"),
    "compressed joblib with numeric arrays": (
        m.compress(m.joblib_with_arrays([("<f8", (4,))]), "zlib"),
        "m.joblib",
    ),
    "Keras .keras with Dense layers": (m.keras_archive(m.keras_config(m.dense_layer())), "m.keras"),
    "safetensors": (
        m.safetensors({"w": ("F32", [2, 2], (0, 16)), "b": ("BF16", [2], (16, 20))}, 20),
        "m.safetensors",
    ),
    "GGUF with a plain chat template": (
        m.gguf(
            {
                "general.name": "tiny",
                "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
            }
        ),
        "m.gguf",
    ),
    "a gzip text file": (m.compress(b"changelog text\n" * 10, "gzip"), "changelog.Debian.gz"),
    **{
        f"plain {kind}, protocol {p}, no name": (pickle.dumps(value, protocol=p), "blob")
        for p in (0, 1)
        for kind, value in (("dict", {"a": [1, 2]}), ("list", [1.5, "x"]), ("tuple", (1, None)))
    },
    "a Lisp file": (b"(defun hello ()\n  (print 'hi))\n", "hello.el"),
    "a file opening with a parenthesis and a c": (b"(cond ((eq x 1) 'one))\n", "x.scm"),
    "a JSON array": (b"[1, 2, 3]\n", "data.json"),
    "a config line": (b"config\nmore text\n", "README"),
    "an ELF binary": (b"\x7fELF" + bytes(200), "usr/bin/tool"),
}


@pytest.mark.parametrize(("sample", "path"), BENIGN.values(), ids=BENIGN.keys())
def test_benign_model_files_give_no_finding(sample: bytes, path: str) -> None:
    assert analyse(sample, path) == []


def test_an_sklearn_estimator_gives_no_finding() -> None:
    with m.stand_in_modules(**{"sklearn.linear_model._base": {"LinearRegression": SklearnLikeEstimator}}):
        sample = pickle.dumps(SklearnLikeEstimator(), protocol=4)
    assert b"sklearn.linear_model._base" in sample
    assert analyse(sample, "model.joblib") == []


INCONSISTENT = {
    "safetensors tensors overlap": m.safetensors(
        {"a": ("F32", [4], (0, 16)), "b": ("F32", [4], (8, 24))}, 24
    ),
    "safetensors offset past the end": m.safetensors({"a": ("F32", [4], (0, 16))}, 8),
    "safetensors unknown dtype": m.safetensors({"a": ("OBJ", [1], (0, 8))}, 8),
    "safetensors span smaller than the shape": m.safetensors({"a": ("F32", [4], (0, 4))}, 16),
}


@pytest.mark.parametrize("sample", INCONSISTENT.values(), ids=INCONSISTENT.keys())
def test_inconsistent_safetensors_headers_are_medium(sample: bytes) -> None:
    findings = analyse(sample, "m.safetensors")
    assert findings and all(f.rule == "safetensors-inconsistent" for f in findings)


def test_a_gguf_chat_template_reaching_python_internals_is_high() -> None:
    template = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    findings = analyse(m.gguf({"tokenizer.chat_template": template}), "m.gguf")
    assert [(f.severity, f.rule) for f in findings] == [(Severity.HIGH, "gguf-header")]


BENIGN_TEMPLATE = (
    "{{- bos_token }}{%- set ns = namespace(system=false) %}"
    "{%- if messages[0]['role'] == 'system' %}{%- set ns.system = true %}{%- endif %}"
    "{%- for message in messages %}{%- if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{- raise_exception('Roles must be system, user or assistant') }}{%- endif %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim }}"
    "{%- endfor %}{{- 'You may import photos. Use the tools. Say nothing of os.' if add_generation_prompt }}"
)


@pytest.mark.parametrize(
    "template",
    [
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% import 'os' as os %}{{ os.system('id') }}",
        "{%- from 'x' import y %}",
        "{{ lipsum.__globals__['os'].popen('id') }}",
    ],
)
def test_gguf_template_injections_are_high(template: str) -> None:
    for key in ("tokenizer.chat_template", "tokenizer.chat_template.tool_use"):  # named templates too
        findings = analyse(m.gguf({"general.name": "x", key: template}), "m.gguf")
        assert [(f.severity, f.rule) for f in findings] == [(Severity.HIGH, "gguf-header")], key


def test_a_chat_template_like_real_ones_gives_no_finding() -> None:
    """§5.6: every scanner flagged some GGUF file llama.cpp accepts; words in a prompt are not code."""
    assert analyse(m.gguf({"tokenizer.chat_template": BENIGN_TEMPLATE, "general.name": "x"}), "m.gguf") == []


def test_a_gguf_header_claiming_a_billion_entries_is_refused_without_reading_them() -> None:
    sample = b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little") + (10**12).to_bytes(8, "little")
    assert worst(analyse(sample, "m.gguf")) is Severity.HIGH


def _torch_zip_with_damaged_data_pkl(damage: str) -> bytes:
    sample = bytearray(m.torch_zip(OS_SYSTEM))
    if damage == "crc":  # in both the directory and the local header
        struct.pack_into("<I", sample, sample.find(b"PK\x01\x02") + 16, 0xDEADBEEF)
        struct.pack_into("<I", sample, sample.find(b"PK\x03\x04") + 14, 0xDEADBEEF)
    else:  # the local header names the member differently from the directory
        at = sample.find(b"archive/data.pkl")
        sample[at : at + 7] = b"ARCHIVE"
    return bytes(sample)


@pytest.mark.parametrize("damage", ["crc", "local name"])
def test_a_zip_member_python_refuses_but_torch_reads_is_still_walked(damage: str) -> None:
    """CVE-2025-10156: torch's reader checks neither, so the payload runs; ours says so."""
    findings = analyse(_torch_zip_with_damaged_data_pkl(damage), "model.pt")
    assert {(f.severity, f.rule) for f in findings} == {
        (Severity.HIGH, "zip-unreadable"),
        (Severity.CRITICAL, "pickle-code-execution"),
    }


def test_a_damaged_deflated_member_is_walked_too() -> None:
    sample = bytearray(m.zip_of({"weights/state.pkl": OS_SYSTEM + bytes(200)}))
    struct.pack_into("<I", sample, sample.find(b"PK\x01\x02") + 16, 0)
    assert worst(analyse(bytes(sample), "bundle.zip")) is Severity.CRITICAL


def test_text_that_decodes_as_a_few_opcodes_is_not_a_model() -> None:
    for text in (
        b"ctest_build\n-----------\n\nPerform the CTest Build Step as a Dashboard Client.\n",
        b"MSVC14\n------\n\n.. versionadded:: 3.5\n\n``True`` when the compiler is used.\n",
        b"(repeatability)=\n# Repeatable Installs\n",
        b'Licensed under the Apache License, Version 2.0 (the "License");\n',
    ):
        assert analyse(text, "README") == []


def test_a_damaged_zip_is_unverified_not_clean() -> None:
    sample = m.torch_zip(OS_SYSTEM)
    damaged = sample[: sample.rfind(b"PK\x05\x06")] + b"PK\x05\x06" + bytes(4)
    assert worst(analyse(damaged, "model.pt")) is Severity.HIGH


ONNX = {
    "weights inline": (m.onnx_model([m.onnx_tensor("w", bytes(16))], [m.onnx_node("Relu")]), []),
    "external data beside the model": (
        m.onnx_model([m.onnx_tensor("w", location="weights/w.bin")], [m.onnx_node("MatMul")]),
        [],
    ),
    "external data climbing out": (
        m.onnx_model([m.onnx_tensor("w", location="../../etc/shadow")], []),
        [(Severity.HIGH, "onnx-external-data-path")],
    ),
    "external data at an absolute path": (
        m.onnx_model([m.onnx_tensor("w", location="/root/.ssh/id_rsa")], []),
        [(Severity.HIGH, "onnx-external-data-path")],
    ),
    "a custom operator domain": (
        m.onnx_model([], [m.onnx_node("Evil", domain="com.example.native")]),
        [(Severity.LOW, "onnx-custom-operator")],
    ),
    "a truncated model": (
        m.onnx_model([m.onnx_tensor("w", bytes(64))], [])[:-10],
        [(Severity.MEDIUM, "onnx-malformed")],
    ),
}


@pytest.mark.parametrize(("sample", "expected"), ONNX.values(), ids=ONNX.keys())
def test_onnx_models(sample: bytes, expected: list[tuple[Severity, str]]) -> None:
    assert [(f.severity, f.rule) for f in analyse(sample, "model.onnx")] == expected
