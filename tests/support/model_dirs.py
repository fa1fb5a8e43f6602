"""Builders of model directories as people publish them: a Hugging Face-style folder
(config, tokenizer, model card, safetensors written by the ``safetensors`` library, code, a
dataset) and a GGUF file written by the ``gguf`` package."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

CARD = """---
license: apache-2.0
base_model: meta-llama/Llama-3.2-1B
datasets:
  - tests/fraud-cases
tags: [fraud, tabular]
---
# fraud-detector

A tiny model made by tests/support/model_dirs.py.
"""


def hf_directory(directory: Path, *, seed: int = 1, weight_bytes: int = 0) -> dict[str, bytes]:
    """Write a Hugging Face-style model into ``directory``; returns every file's bytes by path.
    ``weight_bytes`` adds a large safetensors shard of float32 noise (for transfer tests)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "torch_dtype": "bfloat16",
                "max_position_embeddings": 2048,
            }
        )
    )
    (directory / "tokenizer.json").write_text(
        json.dumps({"model": {"vocab": {f"t{i}": i for i in range(300)}}})
    )
    (directory / "README.md").write_text(CARD)
    (directory / "train.py").write_text("print('training')\n")
    (directory / "train.py").chmod(0o755)
    (directory / "data").mkdir(exist_ok=True)
    (directory / "data" / "cases.csv").write_text("id,amount,fraud\n1,10.5,0\n2,9999,1\n")
    save_file(
        {
            "embed.weight": rng.standard_normal((64, 32)).astype(np.float16),
            "head.weight": rng.standard_normal((32, 8)).astype(np.float32),
            "head.bias": np.zeros(8, dtype=np.float32),
        },
        str(directory / "model.safetensors"),
    )
    if weight_bytes:
        count = weight_bytes // 4
        save_file({"big": rng.standard_normal(count).astype(np.float32)}, str(directory / "big.safetensors"))
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


HF_PARAMETERS = 64 * 32 + 32 * 8 + 8


def gguf_file(path: Path) -> None:
    """A small GGUF model with llama metadata and a Q8_0-typed file, written by ``gguf``."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny-llama")
    writer.add_context_length(4096)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_tensor("token_embd.weight", np.ones((16, 8), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.ones(8, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
