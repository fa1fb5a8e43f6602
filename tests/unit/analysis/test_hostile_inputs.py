"""Arbitrary bytes never crash the analysers: a model file gives findings or none, a
layer gives an inventory or a LayerError (never another exception)."""

from __future__ import annotations

import contextlib
import gzip
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.analysis.inventory import analyse_layer
from strongroom.analysis.layers import LayerError
from strongroom.analysis.models.files import analyse_model_file
from support import layers as img
from support import models as m

SEEDS = [
    m.call("os", "system"),
    m.torch_zip(m.call("os", "system")),
    m.npy("|O", (1,), m.call("os", "system")),
    m.compress(m.call("os", "system"), "zlib"),
    m.safetensors({"w": ("F32", [2], (0, 8))}, 8),
    m.gguf({"tokenizer.chat_template": "{{ x }}"}),
    m.joblib_with_arrays([("<f8", (2,))]),
    m.onnx_model([m.onnx_tensor("w", location="w.bin")], [m.onnx_node("Relu")]),
]
NAMES = st.sampled_from(["blob", "model.pkl", "model.pt", "a.npy", "m.keras", "m.h5", "m.onnx", "m.joblib"])


def mutated(seed: bytes, data: st.DataObject) -> bytes:
    cut = data.draw(st.integers(0, len(seed)))
    noise = data.draw(st.binary(max_size=64))
    position = data.draw(st.integers(0, cut))
    return seed[:position] + noise + seed[position:cut]


def spool(rest: object) -> io.BytesIO:
    return io.BytesIO(rest.read())  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), name=NAMES, data=st.data())
def test_model_analysis_never_raises(seed: bytes, name: str, data: st.DataObject) -> None:
    sample = mutated(seed, data)
    findings = analyse_model_file(name, io.BytesIO(sample), len(sample), spool)
    assert isinstance(findings, list)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_layer_analysis_raises_only_layer_errors(data: st.DataObject) -> None:
    seed = img.layer(
        {"var/lib/dpkg/status": img.DPKG_STATUS, "m.pkl": m.call("os", "system")}, compression=None
    )
    sample = mutated(seed, data)
    for layer in (sample, gzip.compress(sample)):
        with contextlib.suppress(LayerError):  # the one exception allowed
            analyse_layer(io.BytesIO(layer), spool)
