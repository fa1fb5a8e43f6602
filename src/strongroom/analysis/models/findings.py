"""Model-file findings, and how a pickle walk becomes them."""

from __future__ import annotations

from dataclasses import dataclass

from strongroom.analysis.models.callables import Verdict, classify
from strongroom.analysis.models.pickles import PickleReport, iter_globals
from strongroom.analysis.severity import Severity


@dataclass(frozen=True)
class ModelFinding:
    """One reason a model file is unsafe or could not be verified.

    ``rule`` is a stable name a pull policy can match; ``path`` locates the file, with
    ``!member`` for a member of an archive.
    """

    path: str
    severity: Severity
    rule: str
    detail: str


# A problem the walker met, as (severity, rule): code that cannot be named is as bad
# as code that can; a walk cut short is "could not verify", never "clean".
_PROBLEMS: dict[str, tuple[Severity, str]] = {
    "dynamic-global": (Severity.CRITICAL, "pickle-dynamic-global"),
    "extension-code": (Severity.HIGH, "pickle-extension-code"),
    "call-of-data": (Severity.HIGH, "pickle-unexpected-call"),
    "limit": (Severity.HIGH, "not-fully-analysed"),
}


def pickle_findings(path: str, report: PickleReport, claimed: bool) -> list[ModelFinding]:
    """Findings for one walked pickle stream.

    A malformed stream is a finding when it carried imports (a "broken" pickle runs its
    payload before the corrupt tail) or when the file claims to be a pickle; bytes that
    merely start like a pickle and import nothing are not reported.
    """
    findings: list[ModelFinding] = []
    for module, name in iter_globals(report):
        verdict = classify(module, name)
        if verdict is Verdict.DANGEROUS:
            findings.append(
                ModelFinding(path, Severity.CRITICAL, "pickle-code-execution", f"imports {module}.{name}")
            )
        elif verdict is Verdict.UNKNOWN:
            findings.append(
                ModelFinding(path, Severity.LOW, "pickle-unknown-callable", f"imports {module}.{name}")
            )
    for problem in report.problems:
        if problem.kind == "malformed":
            if report.globals:
                findings.append(ModelFinding(path, Severity.HIGH, "pickle-malformed", problem.detail))
            elif claimed:
                findings.append(ModelFinding(path, Severity.MEDIUM, "pickle-malformed", problem.detail))
            continue
        severity, rule = _PROBLEMS.get(problem.kind, (Severity.HIGH, "pickle-" + problem.kind))
        findings.append(ModelFinding(path, severity, rule, problem.detail))
    return findings
