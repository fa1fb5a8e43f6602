"""``GET /`` content negotiation and facts (api/home.py): which Accept headers get the
HTML page, and that every URL comes from the public URL setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from strongroom.api.home import _prefers_html, overview, render_html
from strongroom.settings import Settings

FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (FIREFOX, True),
        (CHROME, True),
        ("text/html", True),
        ("TEXT/HTML", True),
        ("text/*", True),
        ("text/html;q=0.5, application/json;q=0.4", True),
        ("", False),  # no header: a script
        ("*/*", False),  # curl: a tie goes to JSON
        ("application/json", False),
        ("application/json, text/html", False),  # a tie
        ("text/html;q=0.4, application/json;q=0.5", False),
        ("text/html;q=0, */*", False),  # html refused outright
        ("text/*;q=0.9, text/html;q=0.1, application/json;q=0.2", False),  # the specific range counts
        ("text/html;q=bogus", False),
        ("text/html;q=7, application/json", False),  # q is clamped to 1: a tie
        ("image/png", False),  # neither acceptable: JSON anyway
        (",,;;q=,", False),
        ("application/json;q=0.1," * 100 + "text/html", False),  # only the first 64 ranges count
    ],
)
def test_which_accept_headers_get_the_page(accept: str, html: bool) -> None:
    assert _prefers_html(accept) is html


def test_every_url_comes_from_the_public_url_and_the_region(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, public_url="https://reg.example/", region="eu-west-3")
    facts = overview(settings)
    assert facts["oci"]["endpoint"] == "https://reg.example/v2/"
    assert facts["oci"]["registry"] == "reg.example"
    assert facts["login"]["podman"] == "podman login reg.example"
    assert facts["login"]["aws"] == (
        "aws ecr get-login-password --endpoint-url https://reg.example --region eu-west-3 "
        "| podman login --username AWS --password-stdin reg.example"
    )
    plain = overview(Settings(data_dir=tmp_path, host="10.0.0.5", port=5001))
    assert plain["login"]["podman"] == "podman login --tls-verify=false 10.0.0.5:5001"


def test_the_page_escapes_what_it_shows(tmp_path: Path) -> None:
    facts = overview(Settings(data_dir=tmp_path, public_url='https://reg.example/"><script>x</script>'))
    page = render_html(facts)
    assert "<script" not in page
    assert "&lt;script&gt;" in page
