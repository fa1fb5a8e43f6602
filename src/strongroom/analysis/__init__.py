"""Pure analysers of untrusted bytes: what an image or a model file contains.

Concern: given bytes or streams (a layer's tar stream, a file's contents, an OSV
record), return facts — packages installed, model files that would run code when
loaded, advisories that affect a package, an SBOM document. The scan engine in
``strongroom.scanning`` reads the blobs, caches results and stores advisories; this
package never does.

Sub-packages, each with one concern::

    severity.py     ECR's severity levels, ordered
    layers.py       tar walking (gzip, zstd, plain), path normalisation, whiteouts
    packages/       catalogers per ecosystem (dpkg, apk, rpm, Python, npm, Go, Java)
                    and os-release
    vulns/          version orders per ecosystem, OSV records, matching, CVSS severity
    models/         pickle opcode walker, allow-list, container formats (zip, npy,
                    joblib, Keras, safetensors, GGUF)
    sbom.py         CycloneDX JSON from an inventory

Invariants: no I/O of its own (no files opened, no network, no subprocess, no
environment), no clock, no settings. Nothing here ever unpickles or imports a module
named by the bytes it reads; the import contracts forbid ``pickle`` and ``marshal``
outright. Every function takes its limits as arguments, so a hostile input meets a
bound before it meets the memory.

Must not import anything of strongroom but ``strongroom.errors`` and itself.
"""
