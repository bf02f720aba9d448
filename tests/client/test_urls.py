"""URL helpers: the ``client_id`` query parameter and redaction of secrets."""

from __future__ import annotations

import pytest

from praison_push.client.urls import redact_url, with_query


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://h/ws", "ws://h/ws?client_id=c1"),
        ("ws://h/ws?protocol=praison", "ws://h/ws?protocol=praison&client_id=c1"),
        ("ws://h/ws?client_id=old&x=1", "ws://h/ws?x=1&client_id=c1"),
        ("wss://h:8443/a/b?flag=", "wss://h:8443/a/b?flag=&client_id=c1"),
    ],
)
def test_with_query_sets_the_parameter_once(url: str, expected: str) -> None:
    assert with_query(url, client_id="c1") == expected


def test_with_query_skips_none() -> None:
    assert with_query("ws://h/ws?a=1", client_id=None) == "ws://h/ws?a=1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws://h/ws", "ws://h/ws"),
        ("ws://h/ws?token=abc&x=1", "ws://h/ws?token=***&x=1"),
        ("ws://h/ws?Access_Token=abc", "ws://h/ws?Access_Token=***"),
        ("ws://user:pw@h/ws", "ws://user:***@h/ws"),
        ("ws://user@h/ws", "ws://user@h/ws"),
        ("ws://[::1/ws", "<unparsable URL>"),
    ],
)
def test_redact_url_hides_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected
