#!/usr/bin/env python3
"""regbench: a small, strict benchmark for OCI registries (stdlib only, Python 3.11+).

It follows the harness described in ../shared/reference/performance-baseline.md:
http.client, one keep-alive connection per thread, threads for concurrency.

Usage
-----
  python3 bench/regbench.py --url http://127.0.0.1:5000 --quick
  python3 bench/regbench.py --url distribution=http://127.0.0.1:5000 --server-pid PID1 \\
          --url strongroom=http://bench:secret@127.0.0.1:8000 --server-pid PID2 --json out.json
  python3 bench/regbench.py --compare run1.json run2.json       # print saved runs side by side

Several targets can be given, and a final table shows each target's figure and its ratio to the
FIRST target. `--server-pid` applies to the `--url` just before it. The server's CPU time and RSS
are summed over its whole process tree, so worker processes count. The targets take turns test by
test (the first of each turn alternating), so that a change in the machine's speed during the run
falls on all of them alike. Before each turn regbench waits (at most 60 s [15 s]) until every
server is at rest and the kernel has written back the page cache (what a server left unsynced),
so that no test pays for background work an earlier one left to do; the server
CPU used meanwhile is added to that earlier test's record (after_cpu_s) and shown in the table as
"with work after". A small, tiny or 1 MiB blob test is one short burst, so it runs --rounds
times (3), turn by turn, and the round with the median figure is reported (every round's figure
is in the JSON).

Credentials: `user:password@` in a target URL applies to that target only. `--user`/`--password`
(or env REGBENCH_PASSWORD) apply to targets whose URL has none. Either way credentials are sent only
if the target asks for them: `GET /v2/` must answer 401 first. Bearer tokens are not implemented:
after a Bearer challenge Basic credentials are tried, which registries that accept Basic on every
request (Strongroom) take; a registry that refuses them fails loudly.

What it measures (`--full` is the default; `--quick` uses the figures in brackets):
  push   POST + PUT ?digest= (monolithic), and POST + PATCH chunks + empty PUT (chunked).
         1 MiB x 20, 64 MiB x 5, 1 GiB x 3 [1 MiB x 5, 64 MiB x 2], each size and method capped at
         90 s [8 s]. The timer runs from the POST to the 201. Median MB/s (10^6 bytes/s).
  pull   GET of a blob, 1 stream (50/5/3 [10/2/1] GETs after a warm-up GET) and N streams
         (--streams, 8) with 20/2/1 [4/1/1] GETs each, aggregate MB/s. Bodies are sha256-verified.
  small  manifest PUT, manifest GET by tag, GET by digest, HEAD by tag, blob HEAD, tag list, at each
         --concurrency (1,32); closed loop of 2000 requests or 30 s [300 or 2.5 s]. req/s, p50/p90/
         p99/max ms.
  tiny   100 x 4 KiB layers + config + OCI manifest pushed docker-style (HEAD -> 404, POST, PUT with
         body), 1 and 5 uploads in parallel, each into a fresh repository. Wall time incl. manifest.

Honesty rules:
  * A non-2xx answer aborts the target (exit status 2) and prints request, status and body.
    The only exception is the expected 404 of a tiny-layer HEAD.
  * A 2xx other than the status the spec names, or a missing header the spec asks for, is counted
    and printed as a "spec deviation". Wrong values (digest, size, Range) abort the target.
  * Every pushed blob is checked by HEAD (Content-Length and Docker-Content-Digest). Every pulled
    blob and manifest body is checked for length and sha256. PATCH Range replies are compared.
  * Blob content comes from one random data file (os.urandom, made once, in a temp dir) streamed with
    sendfile, never held in memory. Each upload gets its own random 32-byte prefix, so a registry
    cannot deduplicate. Digests are computed before the timer starts.
  * Only loopback targets are accepted unless --allow-remote is given. Every loop is bounded by a
    count and a time; a global budget of 50 s [quick] or 1200 s [full] applies per target (checked
    between operations; a single request is bounded by the socket timeout).
  * A request on a keep-alive connection the server had dropped is retried once on a new
    connection; every such retry is counted and reported as a deviation, never hidden.

Per test it also reports, with --server-pid: server CPU-s per GB (blobs) or CPU-us per request
(small), the server's RSS at the start and its peak (sampled every 100 ms), and the client's CPU.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import http.client
import ipaddress
import itertools
import json
import math
import os
import platform
import resource
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PREFIX_LEN = 32
OCTET = "application/octet-stream"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REDIRECTS = (301, 302, 303, 307, 308)
SMALL_OPS = (
    "manifest_put",
    "manifest_get_tag",
    "manifest_get_digest",
    "manifest_head_tag",
    "blob_head",
    "tag_list",
)
ALL_TESTS = ("push", "pull", "small", "tiny")


class TargetFailure(Exception):
    """Raised for anything that must abort the current target."""


# ----------------------------------------------------------------------------------------------
# modes and small helpers


@dataclass(frozen=True)
class Mode:
    name: str
    sizes: tuple
    cap: float  # seconds per push/pull size and method
    small_requests: int
    small_seconds: float
    budget: float  # seconds per target
    push_reps: tuple  # (small, medium, large) blobs
    pull_reps: tuple
    stream_gets: tuple


# 60 pushes of a small blob, not 20: at ~10 ms each, 20 were 0.2 s, where one stall of the
# machine moved the figure by a tenth.
FULL = Mode("full", (MiB, 64 * MiB, GiB), 90.0, 2000, 30.0, 1200.0, (60, 5, 3), (50, 5, 3), (20, 2, 1))
QUICK = Mode("quick", (MiB, 64 * MiB), 8.0, 300, 2.5, 50.0, (5, 2, 1), (10, 2, 1), (4, 1, 1))
TINY_CAP = 60.0


def by_size(size: int, triple: tuple) -> int:
    """Pick the repetition count for a blob size: <=8 MiB, <=256 MiB, larger."""
    return triple[0] if size <= 8 * MiB else triple[1] if size <= 256 * MiB else triple[2]


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": KiB, "M": MiB, "G": GiB}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def fmt_size(n: int) -> str:
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{name}"
    return f"{n}B"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def percentile(sorted_values: list, q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def is_loopback(host: str | None) -> bool:
    """True for literal loopback addresses and 'localhost'. Never does a DNS lookup."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + "digest=" + digest


def log(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# blob content


@dataclass
class Blob:
    """prefix (in memory) followed by the first size-len(prefix) bytes of the data file."""

    prefix: bytes
    size: int
    digest: str
    path: str | None = None


class DataFile:
    """One random file, made once, from which all large blobs are streamed."""

    def __init__(self, directory: str, size: int):
        self.path = os.path.join(directory, "regbench-data.bin")
        self.size = size
        with open(self.path, "wb") as f:
            left = size
            while left > 0:  # bounded: size / 1 MiB iterations
                n = min(MiB, left)
                f.write(os.urandom(n))
                left -= n
            os.fsync(f.fileno())  # on disk now: its writeback must not fall on a test

    def blob(self, size: int) -> Blob:
        """A blob of `size` bytes with its own random prefix; its digest is computed here."""
        if size < PREFIX_LEN or size - PREFIX_LEN > self.size:
            raise ValueError(f"blob size {size} out of range")
        prefix = os.urandom(PREFIX_LEN)
        h = hashlib.sha256(prefix)
        buf = bytearray(MiB)
        view = memoryview(buf)
        left = size - PREFIX_LEN
        with open(self.path, "rb", buffering=0) as f:
            while left > 0:  # bounded by the file size
                n = f.readinto(view[: min(MiB, left)])
                if not n:
                    raise OSError("data file too short")
                h.update(view[:n])
                left -= n
        return Blob(prefix, size, "sha256:" + h.hexdigest(), self.path)


def memory_blob(data: bytes) -> Blob:
    return Blob(data, len(data), sha256_digest(data))


def manifest_bytes(config: Blob, layers: list, annotations: dict | None = None) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config.digest, "size": config.size},
        "layers": [{"mediaType": OCI_LAYER, "digest": b.digest, "size": b.size} for b in layers],
    }
    if annotations:
        doc["annotations"] = annotations
    return json.dumps(doc, separators=(",", ":")).encode()


def config_blob() -> Blob:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": {"regbench.nonce": os.urandom(8).hex()}},
    }
    return memory_blob(json.dumps(cfg, separators=(",", ":")).encode())


# ----------------------------------------------------------------------------------------------
# server process monitor (/proc)


class ServerMonitor:
    """CPU time and RSS of a process and all its descendants, from /proc.

    CPU = sum of utime+stime+cutime+cstime over the tree (so reaped workers still count).
    A background thread samples the RSS every 100 ms and keeps the peak: of the sum (per
    test, see reset_peak) and, for the whole run, of the sum and of each process. The idle
    figures are taken by start(), before the first request.
    """

    def __init__(self, pid: int | None):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.tree = [pid] if pid else []
        self.tree_time = 0.0
        self.peak = 0
        self.run_peak = 0
        self.peak_by_pid: dict = {}
        self.idle: dict = {}
        self.stop = threading.Event()
        self.thread = None

    @staticmethod
    def _stat(pid: int) -> list | None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            return None
        return raw[raw.rindex(b")") + 2 :].split()  # fields from 3 (state) on

    def _refresh_tree(self) -> None:
        children = collections.defaultdict(list)
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = self._stat(int(entry))
                if st:
                    children[int(st[1])].append(int(entry))
        tree, todo = [], [self.pid]
        while todo and len(tree) < 100000:  # bounded
            p = todo.pop()
            tree.append(p)
            todo.extend(children.get(p, ()))
        self.tree, self.tree_time = tree, time.monotonic()

    def _stats(self) -> list:
        if time.monotonic() - self.tree_time > 1.0:
            self._refresh_tree()
        return [s for s in (self._stat(p) for p in self.tree) if s]

    def alive(self) -> bool:
        return self.pid is None or self._stat(self.pid) is not None

    def cpu(self) -> float | None:
        if not self.pid:
            return None
        return sum(int(s[11]) + int(s[12]) + int(s[13]) + int(s[14]) for s in self._stats()) / self.tick

    def rss(self) -> int | None:
        if not self.pid:
            return None
        return sum(self.rss_by_pid().values())

    def rss_by_pid(self) -> dict:
        """{pid: RSS bytes} of every live process in the tree."""
        if time.monotonic() - self.tree_time > 1.0:
            self._refresh_tree()
        out = {}
        for p in self.tree:
            st = self._stat(p)
            if st:
                out[p] = int(st[21]) * self.page
        return out

    def memory(self) -> dict | None:
        """Idle (at start) and peak RSS, per process and in total, in MB."""
        if not self.pid or not self.idle:
            return None

        def mb(n: int) -> float:
            return round(n / 1e6, 1)

        return {
            "idle_mb": {str(p): mb(r) for p, r in self.idle.items()},
            "idle_total_mb": mb(sum(self.idle.values())),
            "peak_mb": {str(p): mb(r) for p, r in self.peak_by_pid.items()},
            "peak_total_mb": mb(self.run_peak),
        }

    def reset_peak(self) -> int | None:
        r = self.rss()
        self.peak = r or 0
        return r

    def _sample(self) -> None:
        while not self.stop.wait(0.1):  # bounded by stop()
            self._record(self.rss_by_pid())

    def _record(self, by_pid: dict) -> None:
        total = sum(by_pid.values())
        self.peak = max(self.peak, total)
        self.run_peak = max(self.run_peak, total)
        for p, r in by_pid.items():
            self.peak_by_pid[p] = max(self.peak_by_pid.get(p, 0), r)

    def start(self) -> None:
        if self.pid:
            if not self.alive():
                raise TargetFailure(f"server pid {self.pid} does not exist")
            self._refresh_tree()
            self.idle = self.rss_by_pid()
            self._record(self.idle)
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=2)


class Probe:
    """Server CPU, server peak RSS and client CPU over one test."""

    def __init__(self, mon: ServerMonitor):
        self.mon = mon
        self.rss0 = mon.reset_peak()
        self.cpu0 = mon.cpu()
        self.client0 = time.process_time()

    def finish(self) -> dict:
        cpu1, rss1 = self.mon.cpu(), self.mon.rss()
        out = {"client_cpu_s": round(time.process_time() - self.client0, 4)}
        if self.cpu0 is not None and cpu1 is not None:
            out["srv_cpu_s"] = round(cpu1 - self.cpu0, 4)
            out["srv_rss_start_mb"] = round(self.rss0 / 1e6, 1)
            out["srv_rss_peak_mb"] = round(max(self.mon.peak, rss1 or 0) / 1e6, 1)
            out["srv_rss_end_mb"] = round((rss1 or 0) / 1e6, 1)
        return out


# ----------------------------------------------------------------------------------------------
# target and connection


class Target:
    """One registry under test: address, credentials, spec-deviation counters."""

    def __init__(self, name: str, url: str, pid: int | None, args):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SystemExit(f"bad --url {url!r}: need http(s)://host:port")
        if not is_loopback(parts.hostname) and not args.allow_remote:
            raise SystemExit(f"refusing non-loopback target {url!r} (use --allow-remote)")
        self.name = name
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.public_url = f"{self.scheme}://{self.host}:{self.port}{self.prefix}"
        self.pid = pid
        self.timeout = args.timeout
        self.insecure = args.insecure
        self.allow_remote = args.allow_remote
        if parts.username is not None:
            self.creds = (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        else:
            self.creds = (args.user, args.password) if args.user else None
        self.auth = None  # Authorization header value, set by login()
        self.deviations = collections.Counter()
        self.lock = threading.Lock()

    def path(self, p: str) -> str:
        return self.prefix + p

    def http(self, host=None, port=None) -> http.client.HTTPConnection:
        host, port = host or self.host, port or self.port
        if self.scheme == "https":
            ctx = ssl._create_unverified_context() if self.insecure else ssl.create_default_context()
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ctx)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def deviate(self, msg: str) -> None:
        with self.lock:
            self.deviations[msg] += 1
            first = self.deviations[msg] == 1
        if first:
            warn(f"  [{self.name}] SPEC DEVIATION: {msg}")

    def check(self, what, method, path, resp, body, expect, allow=()) -> None:
        """Abort on non-2xx (unless allowed); count a 2xx other than `expect` as a deviation."""
        st = resp.status
        if st in allow:
            return
        if not 200 <= st < 300:
            hdrs = "; ".join(f"{k}: {v}" for k, v in resp.getheaders())
            text = body[:2000].decode("utf-8", "replace") if body else ""
            raise TargetFailure(
                f"{what}: {method} {path} -> {st} {resp.reason}\n"
                f"    response headers: {hdrs}\n    response body: {text!r}"
            )
        if st != expect:
            self.deviate(f"{what}: {method} answered {st}, spec says {expect}")

    def header(self, resp, name: str, what: str, expected: str | None = None) -> str | None:
        """Read a header the spec asks for: missing -> deviation, wrong value -> failure."""
        val = resp.getheader(name)
        if val is None:
            self.deviate(f"{what}: response lacks {name}")
        elif expected is not None and val.strip() != expected:
            raise TargetFailure(f"{what}: {name} is {val!r}, expected {expected!r}")
        return val


STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.BadStatusLine)


class Conn:
    """One keep-alive connection (one per thread) plus a reused 1 MiB read buffer."""

    def __init__(self, target: Target):
        self.t = target
        self.h = target.http()
        self.file = None
        self.buf = None
        self.opened = 0
        self.redirects = 0
        self.retries = 0

    def connect(self) -> Conn:
        if self.h.sock is None:
            self.h.connect()
            self.opened += 1
        return self

    def close(self) -> None:
        self.h.close()
        if self.file:
            self.file.close()
            self.file = None

    def _write(self, method, path, headers, body, blob, rng) -> None:
        self.connect()
        h = self.h
        h.putrequest(method, path, skip_accept_encoding=True)
        if self.t.auth:
            h.putheader("Authorization", self.t.auth)
        for k, v in (headers or {}).items():
            h.putheader(k, v)
        if blob is not None:
            h.putheader("Content-Length", str(rng[1] - rng[0]))
            self._send_blob(blob, *rng)
        elif method in ("POST", "PUT", "PATCH"):
            h.putheader("Content-Length", str(len(body)))
            h.endheaders(body or None)
        else:
            h.endheaders()

    def _send_blob(self, blob: Blob, start: int, end: int) -> None:
        """Send blob bytes [start, end): the in-memory prefix, then the data file via sendfile."""
        plen = len(blob.prefix)
        head = blob.prefix[start : min(end, plen)] if start < plen else b""
        self.h.endheaders(head or None)
        fstart, fend = max(start, plen) - plen, end - plen
        if fend > fstart:
            if self.file is None:
                self.file = open(blob.path, "rb")  # noqa: SIM115 - kept open for the connection
            self.h.sock.sendfile(self.file, fstart, fend - fstart)

    def send(self, method, path, headers=None, body=b"", blob=None, rng=None):
        """Send a request and return the unread response. A request on a reused connection that
        the server had already closed is retried once on a fresh connection."""
        for attempt in (0, 1):
            reused = self.h.sock is not None
            try:
                self._write(method, path, headers, body, blob, rng)
            except TimeoutError as e:
                self.h.close()
                raise TargetFailure(f"{method} {path}: timed out sending: {e!r}") from e
            except OSError as e:
                try:  # the server may have answered early
                    return self.h.getresponse()
                except Exception:
                    self.h.close()
                if reused and attempt == 0:
                    self._retried(method, path, e)
                    continue
                raise TargetFailure(f"{method} {path}: sending failed: {e!r}") from e
            try:
                return self.h.getresponse()
            except STALE as e:
                self.h.close()
                if reused and attempt == 0:
                    self._retried(method, path, e)
                    continue
                raise TargetFailure(f"{method} {path}: no response: {e!r}") from e
            except OSError as e:
                self.h.close()
                raise TargetFailure(f"{method} {path}: no response: {e!r}") from e
        raise AssertionError("unreachable")

    def _retried(self, method, path, exc) -> None:
        """A reused keep-alive connection was dropped by the server; counted and shown, never hidden."""
        self.retries += 1
        self.t.deviate(f"server dropped a keep-alive connection ({type(exc).__name__}); request retried")

    def request(self, what, method, path, expect, headers=None, body=b"", blob=None, rng=None, allow=()):
        """Send, read the whole (small) body, and check the status."""
        resp = self.send(method, path, headers, body, blob, rng)
        try:
            data = resp.read()
        except (http.client.HTTPException, OSError) as e:
            self.h.close()
            raise TargetFailure(f"{what}: {method} {path}: reading response failed: {e!r}") from e
        self.t.check(what, method, path, resp, data, expect, allow)
        return resp, data

    def location(self, resp, request_path: str, what: str) -> str:
        """Resolve a relative or absolute Location into a path+query on this target."""
        loc = resp.getheader("Location")
        if not loc:
            raise TargetFailure(f"{what}: response has no Location header")
        base = f"{self.t.scheme}://{self.t.host}:{self.t.port}{request_path}"
        u = urllib.parse.urlsplit(urllib.parse.urljoin(base, loc))
        port = u.port or (443 if u.scheme == "https" else 80)
        same_host = u.hostname == self.t.host or (is_loopback(u.hostname) and is_loopback(self.t.host))
        if not same_host or port != self.t.port or u.scheme != self.t.scheme:
            raise TargetFailure(f"{what}: Location {loc!r} points to another server")
        return u.path + ("?" + u.query if u.query else "")


# ----------------------------------------------------------------------------------------------
# registry operations


def push_blob(conn: Conn, repo: str, blob: Blob, chunk: int | None = None) -> float:
    """Upload a blob monolithically (chunk=None) or in PATCH chunks.
    Returns the seconds from the POST to the 201 of the final PUT."""
    t = conn.t
    post = t.path(f"/v2/{repo}/blobs/uploads/")
    t0 = time.perf_counter()
    resp, _ = conn.request("blob upload POST", "POST", post, 202)
    loc = conn.location(resp, post, "blob upload POST")
    if chunk is None:
        what = "blob upload PUT (monolithic)"
        put = with_digest(loc, blob.digest)
        resp, _ = conn.request(what, "PUT", put, 201, {"Content-Type": OCTET}, blob=blob, rng=(0, blob.size))
    else:
        for start in range(0, blob.size, chunk):  # bounded by size / chunk
            end = min(start + chunk, blob.size)
            headers = {"Content-Type": OCTET, "Content-Range": f"{start}-{end - 1}"}
            resp, _ = conn.request(
                "blob upload PATCH", "PATCH", loc, 202, headers, blob=blob, rng=(start, end)
            )
            rng = resp.getheader("Range")
            if rng is None:
                t.deviate("blob upload PATCH: response lacks Range")
            elif rng.strip() != f"0-{end - 1}":
                raise TargetFailure(f"blob upload PATCH: Range {rng!r} after sending bytes 0-{end - 1}")
            loc = conn.location(resp, loc, "blob upload PATCH")
        what = "blob upload PUT (closing chunked)"
        put = with_digest(loc, blob.digest)
        resp, _ = conn.request(what, "PUT", put, 201)
    elapsed = time.perf_counter() - t0
    t.header(resp, "Docker-Content-Digest", what, blob.digest)
    return elapsed


def verify_blob(conn: Conn, repo: str, blob: Blob) -> None:
    """HEAD a pushed blob: 200, Content-Length = size, Docker-Content-Digest = digest."""
    path = conn.t.path(f"/v2/{repo}/blobs/{blob.digest}")
    resp, _ = conn.request("blob HEAD (verify)", "HEAD", path, 200)
    size = conn.t.header(resp, "Content-Length", "blob HEAD (verify)")
    if size is not None and int(size) != blob.size:
        raise TargetFailure(f"blob HEAD {path}: Content-Length {size}, pushed {blob.size} bytes")
    conn.t.header(resp, "Docker-Content-Digest", "blob HEAD (verify)", blob.digest)


def push_manifest(conn: Conn, repo: str, ref: str, body: bytes, what="manifest PUT") -> None:
    path = conn.t.path(f"/v2/{repo}/manifests/{ref}")
    resp, _ = conn.request(what, "PUT", path, 201, {"Content-Type": OCI_MANIFEST}, body=body)
    conn.t.header(resp, "Docker-Content-Digest", what, sha256_digest(body))


def open_blob(conn: Conn, path: str):
    """GET a blob, following redirects (up to 3, loopback only). Returns (response, extra conn)."""
    resp = conn.send("GET", path)
    extra = None
    for _ in range(3):  # bounded redirect chain
        if resp.status not in REDIRECTS:
            break
        loc = resp.getheader("Location") or ""
        resp.read()
        base = f"{conn.t.scheme}://{conn.t.host}:{conn.t.port}{path}"
        u = urllib.parse.urlsplit(urllib.parse.urljoin(base, loc))
        if not is_loopback(u.hostname) and not conn.t.allow_remote:
            raise TargetFailure(f"blob GET {path}: redirect to non-loopback {loc!r}")
        conn.redirects += 1
        if extra:
            extra.close()
        target = u.path + ("?" + u.query if u.query else "")
        extra = conn.t.http(u.hostname, u.port)  # no credentials to the redirect target
        extra.request("GET", target)
        resp = extra.getresponse()
    return resp, extra


def pull_blob(conn: Conn, repo: str, blob: Blob, verify: bool = True) -> float:
    """GET a blob into a reused 1 MiB buffer, hash it, check length and digest. Returns seconds."""
    if conn.buf is None:
        conn.buf = memoryview(bytearray(MiB))
    view = conn.buf
    path = conn.t.path(f"/v2/{repo}/blobs/{blob.digest}")
    t0 = time.perf_counter()
    resp, extra = open_blob(conn, path)
    try:
        if resp.status != 200:
            conn.t.check("blob GET", "GET", path, resp, resp.read(65536), 200)
        conn.t.header(resp, "Content-Length", "blob GET", str(blob.size))
        if extra is None:  # a redirect target (object storage) need not send it
            conn.t.header(resp, "Docker-Content-Digest", "blob GET", blob.digest)
        h = hashlib.sha256() if verify else None
        total = 0
        while total <= blob.size:  # bounded: stops one buffer past the size
            n = resp.readinto(view)
            if not n:
                break
            if h:
                h.update(view[:n])
            total += n
        elapsed = time.perf_counter() - t0
    except (http.client.HTTPException, OSError) as e:
        conn.h.close()
        raise TargetFailure(f"blob GET {path}: reading body failed: {e!r}") from e
    finally:
        if extra:
            extra.close()
    if total != blob.size:
        conn.h.close()
        raise TargetFailure(f"blob GET {path}: got {total} bytes, expected {blob.size}")
    if h and "sha256:" + h.hexdigest() != blob.digest:
        raise TargetFailure(f"blob GET {path}: body sha256 differs from {blob.digest}")
    return elapsed


# ----------------------------------------------------------------------------------------------
# per-target context and parallel runner


class Context:
    """Everything one target's run needs: connection factory, budget, monitor, shared blobs."""

    def __init__(self, target: Target, args, mode: Mode, data: DataFile | None):
        self.t = target
        self.args = args
        self.mode = mode
        self.data = data
        self.run_id = os.urandom(4).hex()
        self.budget = args.budget or mode.budget
        self.spent = 0.0  # seconds this target's tests took (the targets take turns)
        self.mon = ServerMonitor(target.pid)
        self.stop = threading.Event()
        self.results = {}
        self.rounds = collections.defaultdict(list)  # key -> every round's record
        self.last = None  # the last record: background work after it is added to it
        self.skipped = []
        self.status, self.error = "ok", None
        self.blobs = {}  # size -> Blob present in self.repo("blobs")
        self.small = None  # fixtures for the small-object tests
        self.seq = itertools.count()

    def repo(self, kind: str) -> str:
        return f"regbench/{kind}-{self.run_id}"

    def deadline(self, seconds: float) -> float:
        return time.monotonic() + max(0.0, min(seconds, self.budget - self.spent))

    def out_of_budget(self) -> bool:
        return self.spent >= self.budget

    def record(self, key: str, result: dict) -> None:
        self.results[key] = result
        self.rounds[key].append(result)
        self.last = result
        log(f"  [{self.t.name}] {key:<28} {describe(result)}")
        if not self.mon.alive():
            raise TargetFailure(f"server pid {self.t.pid} disappeared during {key}")

    def parallel(self, n: int, body, finish=None):
        """Run body(i, conn) in n threads, each with its own pre-connected connection, released
        together by a barrier. finish(), if given, runs in this thread inside the timed window.
        Returns (results, wall seconds, probe dict)."""
        conns = [Conn(self.t).connect() for _ in range(n)]
        barrier = threading.Barrier(n + 1)
        results, errors = [None] * n, []
        self.stop.clear()

        def run(i):
            try:
                barrier.wait(timeout=60)
                results[i] = body(i, conns[i])
            except BaseException as e:  # re-raised in the main thread
                errors.append(e)
                self.stop.set()

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
        for th in threads:
            th.start()
        probe = Probe(self.mon)
        barrier.wait(timeout=60)
        t0 = time.perf_counter()
        for th in threads:
            th.join()
        if finish and not errors:
            finish()
        wall = time.perf_counter() - t0
        stats = probe.finish()
        stats["connections_opened"] = sum(c.opened for c in conns)
        stats["retries"] = sum(c.retries for c in conns)
        for c in conns:
            c.close()
        if errors:
            raise errors[0]
        return results, wall, stats


def describe(r: dict) -> str:
    """One human line per result."""
    if "skipped" in r:
        return f"SKIPPED ({r['skipped']})"
    srv = ""
    if "srv_cpu_s" in r:
        if "cpu_s_per_gb" in r:
            srv = f"  srv {r['cpu_s_per_gb']:.2f} CPU-s/GB"
        elif "cpu_us_per_req" in r:
            srv = f"  srv {r['cpu_us_per_req']:.0f} CPU-us/req"
        else:
            srv = f"  srv {r['srv_cpu_s']:.2f} CPU-s"
        srv += f", RSS {r['srv_rss_start_mb']:.0f}->{r['srv_rss_peak_mb']:.0f} MB peak"
    if r.get("retries"):
        srv += f"  [{r['retries']} request(s) retried after a dropped connection]"
    if r["kind"] == "blob":
        return f"{r['mbps']:8.1f} MB/s (min {r['min_mbps']:.1f}, max {r['max_mbps']:.1f}, n={r['n']}){srv}"
    if r["kind"] == "small":
        return (
            f"{r['rps']:8.0f} req/s  p50 {r['p50_ms']:.2f}  p90 {r['p90_ms']:.2f}  "
            f"p99 {r['p99_ms']:.2f}  max {r['max_ms']:.2f} ms (n={r['n']}){srv}"
        )
    return f"{r['wall_s']:8.3f} s  ({r['requests']} requests){srv}"


def blob_result(sizes_and_times: list, stats: dict, **extra) -> dict:
    rates = [s / t / 1e6 for s, t in sizes_and_times]
    total = sum(s for s, _ in sizes_and_times)
    r = {
        "kind": "blob",
        "mbps": round(statistics.median(rates), 1),
        "min_mbps": round(min(rates), 1),
        "max_mbps": round(max(rates), 1),
        "n": len(rates),
        "bytes": total,
        **extra,
        **stats,
    }
    if "srv_cpu_s" in r:
        r["cpu_s_per_gb"] = round(r["srv_cpu_s"] / (total / 1e9), 3)
    return r


# ----------------------------------------------------------------------------------------------
# the tests


def test_push(ctx: Context, size: int, chunked: bool) -> None:
    conn = Conn(ctx.t)
    repo = ctx.repo("blobs")
    chunk = ctx.args.chunk_size if chunked else None
    reps = by_size(size, ctx.mode.push_reps)
    end = ctx.deadline(ctx.mode.cap)
    probe = Probe(ctx.mon)
    samples, srv_cpu = [], 0.0
    try:
        for i in range(reps):
            if i and time.monotonic() >= end:
                break
            blob = ctx.data.blob(size)  # digest computed before the timer
            c0 = ctx.mon.cpu()
            dt = push_blob(conn, repo, blob, chunk)
            if c0 is not None:
                srv_cpu += ctx.mon.cpu() - c0
            verify_blob(conn, repo, blob)
            samples.append((size, dt))
            ctx.blobs[size] = blob
    finally:
        conn.close()
    stats = probe.finish()
    stats["retries"] = conn.retries
    if "srv_cpu_s" in stats:
        stats["srv_cpu_s"] = round(srv_cpu, 4)  # only the timed windows
    method = f"chunked_{fmt_size(chunk)}" if chunked else "monolithic"
    ctx.record(
        f"push_{'chunked' if chunked else 'mono'}_{fmt_size(size)}",
        blob_result(
            samples,
            stats,
            size=size,
            method=method,
            reps_planned=reps,
            times_s=[round(t, 4) for _, t in samples],
        ),
    )


def ensure_blob(ctx: Context, size: int) -> Blob:
    """A blob of this size in the blobs repo (pushed untimed if the push tests did not run)."""
    if size not in ctx.blobs:
        conn = Conn(ctx.t)
        try:
            blob = ctx.data.blob(size)
            push_blob(conn, ctx.repo("blobs"), blob)
            verify_blob(conn, ctx.repo("blobs"), blob)
            ctx.blobs[size] = blob
        finally:
            conn.close()
    return ctx.blobs[size]


def test_pull_one(ctx: Context, size: int) -> None:
    blob = ensure_blob(ctx, size)
    repo, verify = ctx.repo("blobs"), not ctx.args.no_verify_pull
    conn = Conn(ctx.t)
    try:
        pull_blob(conn, repo, blob, verify)  # warm-up, untimed
        reps = by_size(size, ctx.mode.pull_reps)
        end = ctx.deadline(ctx.mode.cap)
        probe = Probe(ctx.mon)
        samples = []
        for i in range(reps):
            if i and time.monotonic() >= end:
                break
            samples.append((size, pull_blob(conn, repo, blob, verify)))
        stats = probe.finish()
        stats["redirects"] = conn.redirects
        stats["retries"] = conn.retries
    finally:
        conn.close()
    ctx.record(
        f"pull_1x_{fmt_size(size)}", blob_result(samples, stats, size=size, streams=1, verified=verify)
    )


def test_pull_many(ctx: Context, size: int) -> None:
    blob = ensure_blob(ctx, size)
    repo, verify = ctx.repo("blobs"), not ctx.args.no_verify_pull
    streams, gets = ctx.args.streams, by_size(size, ctx.mode.stream_gets)
    end = ctx.deadline(ctx.mode.cap)

    def body(i, conn):
        done = 0
        for k in range(gets):
            if (k and time.monotonic() >= end) or ctx.stop.is_set():
                break
            pull_blob(conn, repo, blob, verify)
            done += 1
        return done

    counts, wall, stats = ctx.parallel(streams, body)
    total = sum(counts) * size
    r = blob_result([(total, wall)], stats, size=size, streams=streams, gets=sum(counts), verified=verify)
    ctx.record(f"pull_{streams}x_{fmt_size(size)}", r)


def setup_small(ctx: Context) -> dict:
    """Repository with a config blob, a 4 KiB layer and a manifest tagged 'base'."""
    repo = ctx.repo("small")
    conn = Conn(ctx.t)
    try:
        config, layer = config_blob(), memory_blob(os.urandom(4 * KiB))
        for b in (config, layer):
            push_blob(conn, repo, b)
            verify_blob(conn, repo, b)
        base = manifest_bytes(config, [layer])
        push_manifest(conn, repo, "base", base)
    finally:
        conn.close()
    return {
        "repo": repo,
        "config": config,
        "layer": layer,
        "base": base,
        "base_digest": sha256_digest(base),
        "tags": {"base"},
    }


def small_op(ctx: Context, op: str):
    """Return fn(conn) -> latency seconds for one request of the given kind, with checks."""
    s, t = ctx.small, ctx.t
    repo = s["repo"]
    accept = {"Accept": OCI_MANIFEST}
    by_tag = t.path(f"/v2/{repo}/manifests/base")
    by_digest = t.path(f"/v2/{repo}/manifests/{s['base_digest']}")

    def manifest_put(conn):
        seq = next(ctx.seq)
        tag = f"t{seq % 100:03d}"
        body = manifest_bytes(s["config"], [s["layer"]], {"org.regbench.seq": f"{ctx.run_id}-{seq}"})
        t0 = time.perf_counter()
        push_manifest(conn, repo, tag, body)
        dt = time.perf_counter() - t0
        s["tags"].add(tag)
        return dt

    def manifest_get(path, what):
        def fn(conn):
            t0 = time.perf_counter()
            resp, data = conn.request(what, "GET", path, 200, accept)
            dt = time.perf_counter() - t0
            if sha256_digest(data) != s["base_digest"]:
                raise TargetFailure(f"{what}: body digest differs from the pushed manifest")
            t.header(resp, "Docker-Content-Digest", what, s["base_digest"])
            content_type(resp, what)
            return dt

        return fn

    def content_type(resp, what):
        ctype = resp.getheader("Content-Type")
        if ctype != OCI_MANIFEST:
            t.deviate(f"{what}: Content-Type {ctype!r}, the manifest was pushed as {OCI_MANIFEST}")

    def manifest_head_tag(conn):
        t0 = time.perf_counter()
        resp, _ = conn.request("manifest HEAD by tag", "HEAD", by_tag, 200, accept)
        content_type(resp, "manifest HEAD by tag")
        dt = time.perf_counter() - t0
        t.header(resp, "Docker-Content-Digest", "manifest HEAD by tag", s["base_digest"])
        t.header(resp, "Content-Length", "manifest HEAD by tag", str(len(s["base"])))
        return dt

    blob_path = t.path(f"/v2/{repo}/blobs/{s['layer'].digest}")

    def blob_head(conn):
        t0 = time.perf_counter()
        resp, _ = conn.request("blob HEAD", "HEAD", blob_path, 200)
        dt = time.perf_counter() - t0
        t.header(resp, "Content-Length", "blob HEAD", str(s["layer"].size))
        t.header(resp, "Docker-Content-Digest", "blob HEAD", s["layer"].digest)
        return dt

    list_path = t.path(f"/v2/{repo}/tags/list")

    def tag_list(conn):
        t0 = time.perf_counter()
        resp, data = conn.request("tag list", "GET", list_path, 200)
        dt = time.perf_counter() - t0
        try:
            tags = json.loads(data)["tags"]
        except (ValueError, KeyError, TypeError) as e:
            raise TargetFailure(f"tag list: not a JSON object with 'tags': {data[:300]!r}") from e
        if len(tags) != len(s["tags"]):
            if resp.getheader("Link"):
                t.deviate(f"tag list: paginated without ?n= ({len(tags)} of {len(s['tags'])} tags)")
            else:
                raise TargetFailure(f"tag list: {len(tags)} tags, expected {len(s['tags'])}")
        return dt

    return {
        "manifest_put": manifest_put,
        "manifest_get_tag": manifest_get(by_tag, "manifest GET by tag"),
        "manifest_get_digest": manifest_get(by_digest, "manifest GET by digest"),
        "manifest_head_tag": manifest_head_tag,
        "blob_head": blob_head,
        "tag_list": tag_list,
    }[op]


def test_small(ctx: Context, op: str, conc: int) -> None:
    if ctx.small is None:
        ctx.small = setup_small(ctx)
    fn = small_op(ctx, op)
    n = ctx.args.requests or ctx.mode.small_requests
    seconds = ctx.args.seconds or ctx.mode.small_seconds
    counter = itertools.count()

    def body(i, conn):
        lat = []
        end = ctx.deadline(seconds)
        while not ctx.stop.is_set() and time.monotonic() < end:  # bounded by n and time
            if next(counter) >= n:
                break
            lat.append(fn(conn))
        return lat

    lats, wall, stats = ctx.parallel(conc, body)
    lat = sorted(x for part in lats for x in part)
    if not lat:
        raise TargetFailure(f"{op} c={conc}: no request completed")
    r = {
        "kind": "small",
        "op": op,
        "concurrency": conc,
        "n": len(lat),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": round(percentile(lat, 0.50) * 1e3, 3),
        "p90_ms": round(percentile(lat, 0.90) * 1e3, 3),
        "p99_ms": round(percentile(lat, 0.99) * 1e3, 3),
        "max_ms": round(lat[-1] * 1e3, 3),
        "mean_ms": round(statistics.fmean(lat) * 1e3, 3),
        **stats,
    }
    if op == "tag_list":
        r["tags"] = len(ctx.small["tags"])
    if "srv_cpu_s" in r:
        r["cpu_us_per_req"] = round(r["srv_cpu_s"] / len(lat) * 1e6, 1)
    ctx.record(f"{op}_c{conc}", r)


def docker_push_blob(conn: Conn, repo: str, blob: Blob) -> None:
    """HEAD (404 expected), POST, PUT ?digest= with the body."""
    path = conn.t.path(f"/v2/{repo}/blobs/{blob.digest}")
    resp, _ = conn.request("tiny layer HEAD", "HEAD", path, 404, allow=(404,))
    if resp.status != 404:
        raise TargetFailure(f"tiny layer HEAD {path}: {resp.status} for a blob never pushed")
    push_blob(conn, repo, blob)


def test_tiny(ctx: Context, parallel: int) -> None:
    repo = ctx.repo(f"tiny{parallel}-{next(ctx.seq)}")  # a fresh repository each round
    layers = [memory_blob(os.urandom(4 * KiB)) for _ in range(100)]
    config = config_blob()
    blobs = [*layers, config]
    manifest = manifest_bytes(config, layers)
    counter = itertools.count()
    end = ctx.deadline(TINY_CAP)

    def body(i, conn):
        for _ in range(len(blobs)):  # bounded
            k = next(counter)
            if k >= len(blobs) or ctx.stop.is_set():
                return
            if time.monotonic() >= end:
                raise TargetFailure(f"tiny layers: time cap hit after {k} blobs")
            docker_push_blob(conn, repo, blobs[k])

    conn = Conn(ctx.t).connect()
    try:
        _, wall, stats = ctx.parallel(
            parallel, body, finish=lambda: push_manifest(conn, repo, "latest", manifest)
        )
        for b in blobs:
            verify_blob(conn, repo, b)
    finally:
        conn.close()
    ctx.record(
        f"tiny_layers_p{parallel}",
        {
            "kind": "tiny",
            "parallel": parallel,
            "layers": len(layers),
            "wall_s": round(wall, 4),
            "requests": 3 * len(blobs) + 1,
            **stats,
        },
    )


def plan(args, sizes: list) -> list:
    """(function, args, rounds) for every test, in run order. A small, tiny or 1 MiB blob
    test is a burst of a second or less, so it runs --rounds times; a larger blob test
    repeats inside and runs once."""
    steps = []
    tests = args.tests
    if "push" in tests:
        for size in sizes:
            for chunked in (False, True):
                steps.append((test_push, (size, chunked), args.rounds if size <= MiB else 1))
    if "pull" in tests:
        for size in sizes:
            rounds = args.rounds if size <= MiB else 1
            steps.append((test_pull_one, (size,), rounds))
            steps.append((test_pull_many, (size,), rounds))
    if "small" in tests:
        for op in SMALL_OPS:
            for conc in args.concurrency:
                steps.append((test_small, (op, conc), args.rounds))
    if "tiny" in tests:
        for parallel in (1, 5):
            steps.append((test_tiny, (parallel,), args.rounds))
    return steps


# ----------------------------------------------------------------------------------------------
# the driver: the targets take turns, test by test, each on a machine at rest


SETTLE_WINDOW = 0.25
"""Seconds per look at the servers' CPU while waiting for them to come to rest."""
SETTLE_CPU = 0.02
"""CPU seconds a server's process tree may use in one window and count as at rest."""
SETTLE_DIRTY = 32 * MiB
"""Bytes the kernel may still have to write back (Dirty + Writeback in /proc/meminfo) for the
machine to be at rest: a server that leaves its writes unsynced must not have them written
back during another's test."""
SETTLE_CAP = {"full": 60.0, "quick": 15.0}
"""The longest wait for rest before a test; a server still busy then is reported."""
PRIMARY = {"small": ("rps", True), "tiny": ("wall_s", False), "blob": ("mbps", True)}
"""Per kind, the figure whose median round is reported, and whether higher is better."""


def unwritten() -> int:
    """Bytes of dirty page cache not yet written back (0 where /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
    except OSError:
        return 0
    return sum(int(fields.get(name, "0 kB").split()[0]) * 1024 for name in ("Dirty", "Writeback"))


def settle(ctxs: list, cap: float) -> None:
    """Wait until every target's server is at rest and the page cache is written back, so
    that no test pays for background work another test left (a job queue working off pushes,
    unsynced writes): the CPU each server used meanwhile is added to its last record as
    after_cpu_s, so it is shown, not hidden."""
    live = [c for c in ctxs if c.mon.pid and c.mon.alive()]
    start = {id(c): c.mon.cpu() or 0.0 for c in live}
    last = dict(start)
    t0 = time.monotonic()
    rested = False
    while not rested and time.monotonic() - t0 < cap:  # bounded by cap
        time.sleep(SETTLE_WINDOW)
        now = {id(c): c.mon.cpu() or 0.0 for c in live}
        rested = all(now[k] - last[k] <= SETTLE_CPU for k in now) and unwritten() <= SETTLE_DIRTY
        last = now
    if not rested:
        warn(f"  servers not at rest after {cap:.0f} s; the next test starts anyway")
    for c in live:
        if c.last is not None:
            after = c.last.get("after_cpu_s", 0.0) + last[id(c)] - start[id(c)]
            c.last["after_cpu_s"] = round(after, 3)


def median_round(records: list) -> dict:
    """The round with the median primary figure (lower middle of an even count), with every
    round's figure beside it."""
    field_, higher = PRIMARY[records[0]["kind"]]
    ranked = sorted(records, key=lambda r: r[field_], reverse=higher)
    chosen = ranked[(len(ranked) - 1) // 2]
    chosen["rounds"] = [r[field_] for r in records]
    return chosen


def with_background(r: dict) -> dict:
    """A small or tiny record with the server CPU its requests left to do afterwards."""
    if "srv_cpu_s" in r and "after_cpu_s" in r:
        total = r["srv_cpu_s"] + r["after_cpu_s"]
        if r["kind"] == "small":
            r["cpu_us_per_req_with_after"] = round(total / r["n"] * 1e6, 1)
        elif r["kind"] == "tiny":
            r["srv_cpu_s_with_after"] = round(total, 3)
    return r


def run_step(ctx: Context, fn, fargs) -> None:
    """One test on one target; a failure stops only that target."""
    name = f"{fn.__name__}{fargs}"
    if ctx.out_of_budget():
        if name not in ctx.skipped:
            ctx.skipped.append(name)
            warn(f"  [{ctx.t.name}] global budget exhausted: skipping {name}")
        return
    t0 = time.monotonic()
    try:
        fn(ctx, *fargs)
    except TargetFailure as e:
        ctx.status, ctx.error = "failed", str(e)
        warn(f"\n!!! [{ctx.t.name}] ABORTED: {e}\n")
    except Exception as e:  # a harness bug or an unexpected protocol state: still only this target
        ctx.status, ctx.error = "failed", f"harness error: {e!r}"
        traceback.print_exc()
        warn(f"\n!!! [{ctx.t.name}] ABORTED by an unexpected error: {e!r}\n")
    except KeyboardInterrupt:
        ctx.status, ctx.error = "interrupted", "KeyboardInterrupt"
        raise
    finally:
        ctx.spent += time.monotonic() - t0


def login(target: Target) -> None:
    """GET /v2/; if it answers 401 with a Basic challenge, retry with the target's credentials."""
    conn = Conn(target)
    path = target.path("/v2/")
    try:
        resp, _ = conn.request("GET /v2/", "GET", path, 200, allow=(401,))
        if resp.status != 401:
            if target.creds:
                log(f"  [{target.name}] no authentication required; credentials not sent")
            return
        challenge = resp.getheader("WWW-Authenticate") or ""
        if not target.creds:
            raise TargetFailure(f"GET /v2/ -> 401 ({challenge!r}); give credentials in the URL or --user")
        # A Bearer challenge: the token flow is not implemented here, but registries that
        # also accept Basic on every request (Strongroom does) work with it; others fail below.
        user, pw = target.creds
        target.auth = "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()
        conn.request("GET /v2/ (with Basic auth)", "GET", path, 200)
        log(f"  [{target.name}] Basic auth as {user!r} accepted (challenge was {challenge.split(' ', 1)[0]})")
    finally:
        conn.close()


WARM_CONNECTIONS = 16


def warm(ctx: Context) -> None:
    """Untimed, before the first test: WARM_CONNECTIONS connections at once each ask GET
    /v2/ twice, then push a 4 KiB blob monolithically and one in a chunk, so that every
    process of a server has answered each kind of push before anything is timed. A
    registry may pay once per process what it then keeps: a password hash verified
    (argon2id's ~0.1 s at Strongroom), the SQL of each statement compiled on its first
    use (10-12 ms for Strongroom's first push in a process, 30-40 ms in all against ~10
    later). That cost is the server's start, not the first test's: it was the 1 MiB push
    tests' slowest samples, in whichever round met a process that had not pushed yet."""
    repo = ctx.repo("warm")

    def body(_i, conn):
        for _ in range(2):
            conn.request("GET /v2/ (warm-up)", "GET", ctx.t.path("/v2/"), 200)
        push_blob(conn, repo, memory_blob(os.urandom(4 * KiB)))
        push_blob(conn, repo, memory_blob(os.urandom(4 * KiB)), chunk=4 * KiB)

    ctx.parallel(WARM_CONNECTIONS, body)


def start(ctx: Context) -> None:
    """Before the first test: watch the server, log in, warm every process."""
    ctx.mon.start()
    login(ctx.t)
    warm(ctx)


def run_targets(targets: list, args, mode: Mode, data: DataFile | None, sizes: list) -> list:
    """Every test on every target. The targets take turns test by test (and round by round,
    the first of each turn alternating), so that a change in the machine's speed during the
    run falls on all of them alike; before each turn every server is let come to rest."""
    ctxs = [Context(t, args, mode, data) for t in targets]
    for ctx in ctxs:
        log(f"=== {ctx.t.name}: {ctx.t.public_url} (server pid {ctx.t.pid or 'not given'})")
    log(f"    {mode.name}, budget {ctxs[0].budget:.0f} s per target, {args.rounds} round(s) per small test")
    cap = SETTLE_CAP[mode.name]
    turn = 0
    try:
        for ctx in ctxs:
            run_step(ctx, start, ())
        for fn, fargs, rounds in plan(args, sizes):
            for _ in range(rounds):
                order = ctxs if turn % 2 == 0 else ctxs[::-1]
                turn += 1
                for ctx in order:
                    if ctx.status == "ok":
                        settle(ctxs, cap)
                        run_step(ctx, fn, fargs)
            settle(ctxs, cap)  # the last round's work after it belongs to that round
            for ctx in ctxs:
                for key, records in ctx.rounds.items():
                    if len(records) > 1:
                        ctx.results[key] = median_round(records)
                ctx.rounds.clear()
    finally:
        for ctx in ctxs:
            ctx.stop.set()
            ctx.mon.close()
    runs = []
    for ctx in ctxs:
        if ctx.skipped and ctx.status == "ok":
            ctx.status = "incomplete"
        log(
            f"  ({ctx.t.name}: {ctx.spent:.1f} s of tests, status {ctx.status}, "
            f"{sum(ctx.t.deviations.values())} spec-deviating responses)"
        )
        runs.append(
            {
                "name": ctx.t.name,
                "url": ctx.t.public_url,
                "server_pid": ctx.t.pid,
                "auth": ctx.t.auth is not None,
                "status": ctx.status,
                "error": ctx.error,
                "elapsed_s": round(ctx.spent, 2),
                "skipped": ctx.skipped,
                "deviations": dict(ctx.t.deviations),
                "results": {key: with_background(r) for key, r in ctx.results.items()},
                "server_memory": ctx.mon.memory(),
            }
        )
    return runs


# ----------------------------------------------------------------------------------------------
# comparison table


METRICS = {
    "blob": [
        ("MB/s", "mbps", "higher"),
        ("srv CPU-s/GB", "cpu_s_per_gb", "lower"),
        ("srv peak RSS MB", "srv_rss_peak_mb", "lower"),
    ],
    "small": [
        ("req/s", "rps", "higher"),
        ("p50 ms", "p50_ms", "lower"),
        ("p99 ms", "p99_ms", "lower"),
        ("srv CPU-us/req", "cpu_us_per_req", "lower"),
        ("  with work after", "cpu_us_per_req_with_after", "lower"),
        ("srv peak RSS MB", "srv_rss_peak_mb", "lower"),
    ],
    "tiny": [
        ("wall s", "wall_s", "lower"),
        ("srv CPU-s", "srv_cpu_s", "lower"),
        ("  with work after", "srv_cpu_s_with_after", "lower"),
        ("srv peak RSS MB", "srv_rss_peak_mb", "lower"),
    ],
}


def fmt_num(v) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def comparison_table(runs: list) -> str:
    """Every test x metric: each target's value and the ratio to the first target."""
    keys = []
    for run in runs:
        keys += [k for k in run["results"] if k not in keys]
    names = [r["name"] for r in runs]
    first = names[0]
    header = ["test", "metric", *names] + [f"{n}/{first}" for n in names[1:]] + ["better"]
    rows = [header]
    for key in keys:
        kind = next(r["results"][key]["kind"] for r in runs if key in r["results"])
        shown = key
        for label, field_, better in METRICS[kind]:
            vals = [r["results"].get(key, {}).get(field_) for r in runs]
            if all(v is None for v in vals):
                continue
            ratios = []
            for v in vals[1:]:
                ok = v is not None and vals[0] not in (None, 0)
                ratios.append(f"{v / vals[0]:.2f}x" if ok else "-")
            rows.append([shown, label, *map(fmt_num, vals), *ratios, better])
            shown = ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    lines.append("")
    lines += memory_table(runs)
    for run in runs:
        dev = run.get("deviations") or {}
        lines.append(
            f"{run['name']}: status {run['status']}"
            + (f" - {run['error'].splitlines()[0]}" if run.get("error") else "")
            + f"; spec deviations: {'none' if not dev else ''}"
        )
        for msg, count in sorted(dev.items()):
            lines.append(f"    {count:6d} x {msg}")
        if run.get("skipped"):
            lines.append(f"    skipped (budget): {', '.join(run['skipped'])}")
    return "\n".join(lines)


def memory_table(runs: list) -> list:
    """Server RSS at idle (before the first request) and at peak (over the whole run): in
    total and per process (largest first), one line per target."""
    lines = []
    for run in runs:
        m = run.get("server_memory")
        if not m:
            continue

        def each(by_pid: dict) -> str:
            return " + ".join(f"{v:.0f}" for v in sorted(by_pid.values(), reverse=True))

        lines.append(
            f"{run['name']}: server RSS idle {m['idle_total_mb']:.0f} MB ({each(m['idle_mb'])}), "
            f"peak {m['peak_total_mb']:.0f} MB (per process {each(m['peak_mb'])})"
        )
    return [*lines, ""] if lines else []


# ----------------------------------------------------------------------------------------------
# command line


class UrlAction(argparse.Action):
    def __call__(self, parser, ns, value, option_string=None):
        if ns.targets is None:
            ns.targets = []
        name, sep, url = value.partition("=")
        if not sep or "://" in name:
            name, url = "", value
        ns.targets.append({"name": name, "url": url, "pid": None})


class PidAction(argparse.Action):
    def __call__(self, parser, ns, value, option_string=None):
        if not ns.targets:
            parser.error("--server-pid must follow the --url it belongs to")
        ns.targets[-1]["pid"] = int(value)


def csv_list(conv):
    return lambda text: [conv(x) for x in text.split(",") if x.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the module docstring (head of this file) for details.",
    )
    p.set_defaults(targets=None)
    p.add_argument(
        "--url",
        action=UrlAction,
        metavar="[NAME=]URL",
        help="target registry, repeatable; user:password@ in the URL for Basic auth",
    )
    p.add_argument(
        "--server-pid",
        action=PidAction,
        metavar="PID",
        help="server process of the preceding --url (its process tree is measured)",
    )
    p.add_argument("--user", help="Basic-auth user for targets without userinfo in the URL")
    p.add_argument(
        "--password",
        default=os.environ.get("REGBENCH_PASSWORD"),
        help="Basic-auth password (default: env REGBENCH_PASSWORD)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="mode", action="store_const", const=QUICK, help="reduced set")
    g.add_argument("--full", dest="mode", action="store_const", const=FULL, help="full set (default)")
    p.add_argument(
        "--tests",
        type=csv_list(str),
        default=list(ALL_TESTS),
        help="comma list of push,pull,small,tiny (default: all)",
    )
    p.add_argument("--sizes", type=csv_list(parse_size), help="blob sizes, e.g. 1M,64M,1G")
    p.add_argument("--chunk-size", type=parse_size, default=8 * MiB, help="PATCH chunk (8M)")
    p.add_argument("--streams", type=int, default=8, help="parallel pull streams (8)")
    p.add_argument("--concurrency", type=csv_list(int), default=[1, 32], help="small tests (1,32)")
    p.add_argument("--requests", type=int, help="small tests: requests per test (2000 / quick 300)")
    p.add_argument("--rounds", type=int, default=3, help="short tests: rounds, median kept (3)")
    p.add_argument("--seconds", type=float, help="small tests: seconds per test (30 / quick 2.5)")
    p.add_argument("--budget", type=float, help="global seconds per target (1200 / quick 50)")
    p.add_argument("--timeout", type=float, default=120.0, help="socket timeout per operation (120)")
    p.add_argument("--tmpdir", help="where the random data file goes (default: system temp)")
    p.add_argument("--json", metavar="FILE", help="write all results as JSON")
    p.add_argument("--compare", nargs="+", metavar="JSON", help="print saved runs side by side; no test")
    p.add_argument("--no-verify-pull", action="store_true", help="skip sha256 on pulls (diagnosis only)")
    p.add_argument("--insecure", action="store_true", help="accept any TLS certificate")
    p.add_argument("--allow-remote", action="store_true", help="allow non-loopback targets")
    args = p.parse_args(argv)
    args.mode = args.mode or FULL
    bad = set(args.tests) - set(ALL_TESTS)
    if bad:
        p.error(f"unknown --tests {sorted(bad)}; choose from {','.join(ALL_TESTS)}")
    if not args.compare and not args.targets:
        p.error("give at least one --url (or --compare)")
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.user and args.password is None:
        p.error("--user needs --password or REGBENCH_PASSWORD")
    return args


def compare_files(paths: list) -> int:
    runs = []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        for run in doc["targets"]:
            run = dict(run)
            if any(r["name"] == run["name"] for r in runs):
                run["name"] = f"{run['name']}@{os.path.basename(path)}"
            runs.append(run)
    print(comparison_table(runs))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare_files(args.compare)
    mode = args.mode
    sizes = args.sizes or list(mode.sizes)
    targets = [
        Target(
            t["name"] or f"{urllib.parse.urlsplit(t['url']).hostname}:{urllib.parse.urlsplit(t['url']).port}",
            t["url"],
            t["pid"],
            args,
        )
        for t in args.targets
    ]
    if len({t.name for t in targets}) != len(targets):
        raise SystemExit("target names must be unique (use NAME=URL)")
    tmp = tempfile.mkdtemp(prefix="regbench-", dir=args.tmpdir)
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    runs = []
    try:
        data = None
        if "push" in args.tests or "pull" in args.tests:
            t0 = time.monotonic()
            data = DataFile(tmp, max(sizes))
            log(f"data file: {fmt_size(data.size)} of os.urandom in {tmp} ({time.monotonic() - t0:.1f} s)")
        runs = run_targets(targets, args, mode, data, sizes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log("\n=== comparison (ratio = target / first target)\n")
    log(comparison_table(runs))
    log(f"\nclient peak RSS {client_rss:.0f} MB")
    if args.json:
        doc = {
            "regbench": 1,
            "mode": mode.name,
            "started": started,
            "host": platform.node(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "sizes": sizes,
            "tests": args.tests,
            "concurrency": args.concurrency,
            "chunk_size": args.chunk_size,
            "streams": args.streams,
            "client_peak_rss_mb": round(client_rss, 1),
            "targets": runs,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        log(f"wrote {args.json}")
    return 0 if all(r["status"] == "ok" for r in runs) else 2


if __name__ == "__main__":
    sys.exit(main())
