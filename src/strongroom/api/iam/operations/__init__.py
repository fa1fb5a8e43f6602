"""Every IAM and STS action offered, one handler each, keyed by (SigV4 service, Action) and
declared with the IAM action and resource ARN the authorizer decides on before the handler
runs. Names and shapes follow the IAM API reference (2010-05-08) and STS (2011-06-15).

* :mod:`.users`: users, access keys, inline user policies;
* :mod:`.policies`: managed policies and their attachments;
* :mod:`.roles`: roles, inline role policies, STS;
* :mod:`.simulate`: the policy simulator.
"""

from __future__ import annotations

from strongroom.api.iam.call import Call, Operation
from strongroom.api.iam.operations import policies, roles, simulate, users

__all__ = ["OPERATIONS", "Call", "Operation"]

OPERATIONS: dict[tuple[str, str], Operation] = {
    **users.OPERATIONS,
    **policies.OPERATIONS,
    **roles.OPERATIONS,
    **simulate.OPERATIONS,
}
