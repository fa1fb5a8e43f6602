"""Keras ``.h5`` files written by h5py: a Lambda layer in ``model_config`` is CRITICAL.
h5py comes with the development dependencies (``make install``)."""

from __future__ import annotations

import io
import json

import h5py

from strongroom.analysis.models.files import analyse_model_file
from strongroom.analysis.severity import Severity


def h5_model(*layers: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": list(layers)}}
    with h5py.File(buffer, "w") as model:
        model.attrs["model_config"] = json.dumps(config)
        model.attrs["keras_version"] = "2.13.1"
        model.attrs["backend"] = "tensorflow"
        model.create_dataset("model_weights/dense/dense/kernel:0", data=[[0.5, 1.5], [2.5, 3.5]])
    return buffer.getvalue()


DENSE = {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu"}}
LAMBDA = {
    "class_name": "Lambda",
    "config": {"name": "l", "function": ["4wEAAAAAAAAAAAAAAAEAAAAC", None, None]},
}


def analyse(data: bytes) -> list:  # type: ignore[type-arg]
    return analyse_model_file("model.h5", io.BytesIO(data), len(data), lambda r: io.BytesIO(r.read()))


def test_an_h5_model_with_a_lambda_layer_is_critical() -> None:
    assert [(f.severity, f.rule) for f in analyse(h5_model(DENSE, LAMBDA))] == [
        (Severity.CRITICAL, "keras-lambda")
    ]


def test_an_h5_model_of_plain_layers_gives_no_finding() -> None:
    assert analyse(h5_model(DENSE, DENSE)) == []
