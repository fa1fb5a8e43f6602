"""What the authorizer costs per request: IamAuthorizer.decide on a warm policy cache,
with realistic policies (two identity policies, a repository policy naming users, roles,
an account and conditions, a registry policy), for the decisions /v2/ makes most.

    python bench/authorizer.py [--rounds N]

Prints microseconds per decision; `make bench` runs it after the registry comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from strongroom.auth.authorizer import AccessRequest
from strongroom.auth.iam_authorizer import IamAuthorizer
from strongroom.auth.principals import Principal, RoleSession
from strongroom.metadata.records import BoundPolicy, RepositoryAccess

ACCOUNT = "111122223333"
REPO = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/app"
USER = Principal(ACCOUNT, "ci", "user", "/", "AIDACI000000000000001", 7)
SESSION = Principal.assumed_role(ACCOUNT, "AROADEPLOY0000000001", RoleSession("deploy", 3, "build-1"))


def _document(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


IDENTITY = {
    "inline:pull": _document(
        {"Effect": "Allow", "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": f"arn:aws:ecr:*:{ACCOUNT}:repository/team/*"},
    ),
    f"arn:aws:iam::{ACCOUNT}:policy/push": _document(
        {"Effect": "Allow", "Action": "ecr:*",
         "Resource": f"arn:aws:ecr:*:{ACCOUNT}:repository/${{aws:username}}/*"},
        {"Effect": "Deny", "Action": "ecr:DeleteRepository", "Resource": "*"},
    ),
}  # fmt: skip
REPOSITORY = _document(
    {"Effect": "Allow",
     "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/ci", f"arn:aws:iam::{ACCOUNT}:role/deploy"]},
     "Action": ["ecr:BatchGetImage", "ecr:PutImage"]},
    {"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "ecr:BatchGetImage"},
    {"Effect": "Deny", "Principal": "*", "Action": "ecr:*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"},
                   "IpAddress": {"aws:SourceIp": "198.51.100.0/24"}}},
)  # fmt: skip
REGISTRY = _document(
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
     "Action": "ecr:ReplicateImage", "Resource": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"},
)  # fmt: skip
BINDINGS = {
    f"arn:aws:iam::{ACCOUNT}:user/ci": USER.unique_id,
    f"arn:aws:iam::{ACCOUNT}:role/deploy": "AROADEPLOY0000000001",
}


class WarmPolicies:
    """What the 1-second policy cache hands the authorizer between reads."""

    async def identity_policies(self, kind: str, principal_id: int, unique_id: str) -> dict[str, str]:
        return IDENTITY

    async def repository_access(self, account_id: str, name: str) -> RepositoryAccess:
        return RepositoryAccess(BoundPolicy(REPOSITORY, BINDINGS), False, BoundPolicy(REGISTRY, {}))


async def _measure(rounds: int) -> None:
    authorizer = IamAuthorizer(WarmPolicies())  # type: ignore[arg-type]
    context = {
        "aws:SourceIp": "127.0.0.1",
        "aws:SecureTransport": "false",
        "aws:CurrentTime": "2026-12-04T00:00:00Z",
    }
    cases = [
        ("user pull (allowed)", AccessRequest(USER, "ecr:BatchGetImage", REPO, context)),
        ("session push (allowed)", AccessRequest(SESSION, "ecr:PutImage", REPO, context)),
        ("user delete (denied)", AccessRequest(USER, "ecr:DeleteRepository", REPO, context)),
    ]
    for name, request in cases:
        await authorizer.decide(request)  # warm the parse caches
        started = time.perf_counter()
        for _ in range(rounds):
            await authorizer.decide(request)
        elapsed = time.perf_counter() - started
        print(f"authorizer  {name:<24} {elapsed / rounds * 1e6:7.1f} µs per decision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20_000)
    asyncio.run(_measure(parser.parse_args().rounds))


if __name__ == "__main__":
    main()
