"""Who may scrape /metrics: the decision table of api/metrics.py."""

from __future__ import annotations

import ipaddress

import pytest

from strongroom.api.metrics import metrics_allowed

OFFICE = [ipaddress.ip_network("10.1.0.0/16")]


@pytest.mark.parametrize(
    ("client", "authorization", "token", "networks", "allowed"),
    [
        ("127.0.0.1", None, None, [], True),  # loopback needs nothing
        ("::1", None, None, [], True),
        ("203.0.113.9", None, None, [], False),  # elsewhere: refused by default
        ("10.1.2.3", None, None, OFFICE, True),  # an allowed network
        ("10.2.0.1", None, None, OFFICE, False),
        ("203.0.113.9", "Bearer s3cret-token", "s3cret-token", [], True),  # the token opens it
        ("203.0.113.9", "bearer s3cret-token", "s3cret-token", [], True),
        ("203.0.113.9", "Bearer wrong", "s3cret-token", [], False),
        ("127.0.0.1", "Bearer wrong", "s3cret-token", [], False),  # a wrong token is never ignored
        ("203.0.113.9", "Bearer anything", None, [], False),  # no token configured: no token works
        ("203.0.113.9", "Basic YWRtaW46cGFzcw==", "s3cret-token", [], False),
        (None, None, None, [], False),  # no client address known
        ("not-an-address", None, None, [], False),
    ],
)
def test_metrics_access(
    client: str | None, authorization: str | None, token: str | None, networks: list[ipaddress.IPv4Network],
    allowed: bool,
) -> None:  # fmt: skip
    assert metrics_allowed(client, authorization, token, networks) is allowed
