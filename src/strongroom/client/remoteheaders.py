"""Weight headers of a pushed model, by ``Range`` GET: only the header bytes travel."""

from __future__ import annotations

from collections.abc import Sequence

from strongroom.client.transport import RegistryHttp, raise_for
from strongroom.modelformats.documents import summed
from strongroom.modelformats.modelinfo import ModelFileInfo
from strongroom.modelformats.weightheaders import (
    BadHeader,
    NeedMore,
    WeightHeader,
    read_gguf,
    read_safetensors,
)

MAX_FILES = 64
FIRST_READ = {".safetensors": 8, ".gguf": 1024 * 1024}


async def read_remote_headers(
    http: RegistryHttp, repository: str, files: Sequence[ModelFileInfo]
) -> WeightHeader | None:
    """The summed header facts of the model's safetensors (or else GGUF) weight layers."""
    for suffix, reader in ((".safetensors", read_safetensors), (".gguf", read_gguf)):
        weights = [file for file in files if file.kind == "weights" and file.path.lower().endswith(suffix)][
            :MAX_FILES
        ]
        headers = []
        for file in weights:
            size = min(FIRST_READ[suffix], file.size)
            while True:
                data = await _range(http, repository, file, size)
                try:
                    headers.append(reader(data))
                    break
                except NeedMore as more:
                    if more.size > file.size or more.size <= size:
                        break
                    size = more.size
                except BadHeader:
                    break
        if headers:
            return summed(headers)
    return None


async def _range(http: RegistryHttp, repository: str, file: ModelFileInfo, size: int) -> bytes:
    response = await http.request(
        "GET",
        f"/v2/{repository}/blobs/{file.digest}",
        [f"repository:{repository}:pull"],
        headers={"range": f"bytes=0-{size - 1}"},
        stream=True,
    )
    try:
        await raise_for(response, f"reading the header of {file.path}")
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) >= size:
                break
        return bytes(data[:size])
    finally:
        await response.aclose()
