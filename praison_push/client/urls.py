"""Gateway URL helpers: add the ``client_id`` query parameter, hide secrets in logs.

A gateway URL may carry a token (``?token=…``, PROTOCOL.md §2) or a password in
its userinfo, so every URL that reaches a log line, a repr or an exception
message goes through :func:`redact_url` first.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_url", "with_query"]

#: Query parameters whose values are credentials.
_SECRET_PARAMS = frozenset({"token", "access_token", "auth", "auth_token", "password", "key"})


def with_query(url: str, **params: str | None) -> str:
    """Return ``url`` with ``params`` set in its query, keeping every other parameter.

    A parameter already present is replaced (so a reconnect never sends two
    ``client_id`` values); ``None`` values are left out.
    """
    parts = urlsplit(url)
    names = {name for name, value in params.items() if value is not None}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    query.extend((k, v) for k, v in params.items() if v is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact_url(url: str) -> str:
    """``url`` with credential query values and any userinfo password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else netloc
    if any(k.lower() in _SECRET_PARAMS for k, _ in query):
        redacted = [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in query]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(redacted, safe="*")))
    return urlunsplit(parts._replace(netloc=netloc))
