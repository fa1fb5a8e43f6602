"""The stream the pickle walker reads: C-buffered, with bounded lines.

``pickletools.genops`` reads one byte per opcode; a chain of Python wrappers under it
costs more than the walk itself, so reads go through ``io.BufferedReader`` (in C) and
only buffer refills reach the Python reader below. ``readline`` serves the text opcodes
(GLOBAL, INT, STRING...); unbounded, a file with no newline after a GLOBAL byte would
be read whole into memory.
"""

from __future__ import annotations

import io

from strongroom.analysis.streams import Reader

MAX_LINE = 1024 * 1024
_DIRECT_READ = 64 * 1024 * 1024


class PickleSource:
    def __init__(self, stream: Reader) -> None:
        self.buffered = io.BufferedReader(_Raw(stream), 64 * 1024)
        self._read = self.buffered.read

    def read(self, size: int = -1) -> bytes:
        """A declared length (BINBYTES8 and alike say up to 2**63) is trusted only as far
        as the bytes go: beyond 64 MiB they are gathered as they arrive, so memory follows
        the file rather than the claim."""
        if size <= _DIRECT_READ:
            return self._read(size)
        gathered = bytearray()
        while len(gathered) < size:
            chunk = self._read(min(size - len(gathered), _DIRECT_READ))
            if not chunk:
                break
            gathered += chunk
        return bytes(gathered)

    def peek_byte(self) -> bytes:
        return self.buffered.peek(1)[:1]

    def readline(self) -> bytes:
        line = self.buffered.readline(MAX_LINE)
        if not line.endswith(b"\n") and len(line) >= MAX_LINE:
            raise ValueError("a text opcode's line is longer than any pickle writes")
        return line


class _Raw(io.RawIOBase):
    def __init__(self, stream: Reader) -> None:
        self.stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
