"""Model artifact formats, shared by the client (packing, inspecting) and the server
(indexing): the ModelPack and KitOps vocabulary, weight file headers (safetensors, GGUF,
ONNX) and what a model's documents say (Hugging Face ``config.json``, the model card's
front matter, the ModelPack config or Kitfile).

Invariants: pure. Given bytes, return facts; no files opened, no network, no clock, no
settings. Every reader caps what it allocates, since the bytes come from whoever pushed.

Must not import anything of strongroom but itself: both the SDK (which must stay free of
the server) and the server's indexer import it. A lint-imports contract keeps it so.
"""
