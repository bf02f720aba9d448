"""What went wrong between ``ChatAgent`` and its model server, as a run error a person reads.

The ``openai`` SDK raises one exception class per kind of failure; each
becomes an :class:`~.events.AgentError` with a code of
:class:`~praison_push.protocol.runs.RunErrorCode` and a message naming the
model, the server's host and the HTTP status — never the API key, and never
the URL's credentials. Imported only once a ``ChatAgent`` talks to its model.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import openai

from ..protocol.runs import RunErrorCode
from .events import AgentError

__all__ = ["model_errors"]

#: Longest piece of the server's own error message quoted.
_QUOTE = 300


def _said(exc: Any) -> str:
    """The server's own words, when it gave any (short, on one line)."""
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, str):
        message = getattr(exc, "message", None) or ""
    message = " ".join(str(message).split())
    return f": {message[:_QUOTE]}" if message else ""


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return round(float(value) * scale, 3)
        except ValueError:
            continue
    return None


@contextlib.contextmanager
def model_errors(model: str, host: str, timeout: float, retries: int) -> Iterator[None]:
    """Turn the SDK's failures inside the block into :class:`AgentError`\\ s."""
    where = f"model {model!r} at {host}"
    try:
        yield
    except openai.APITimeoutError as exc:
        raise AgentError(
            RunErrorCode.MODEL_TIMEOUT,
            f"{where} did not answer within {timeout:g}s ({retries} retries)",
        ) from exc
    except openai.APIConnectionError as exc:
        raise AgentError(
            RunErrorCode.MODEL_UNAVAILABLE,
            f"could not reach {where} ({retries} retries): {type(exc.__cause__ or exc).__name__}",
        ) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise AgentError(
            RunErrorCode.MODEL_UNAUTHORIZED,
            f"{where} refused the credentials (HTTP {exc.status_code}): check the api_key",
            {"status": exc.status_code},
        ) from exc
    except openai.NotFoundError as exc:
        raise AgentError(
            RunErrorCode.MODEL_NOT_FOUND,
            f"{where} was not found (HTTP 404){_said(exc)}",
            {"status": 404},
        ) from exc
    except openai.RateLimitError as exc:
        details: dict[str, Any] = {"status": 429}
        retry_after = _retry_after(exc)
        if retry_after is not None:
            details["retry_after"] = retry_after
        raise AgentError(
            RunErrorCode.RATE_LIMITED,
            f"{where} is rate limiting (HTTP 429, {retries} retries){_said(exc)}",
            details,
        ) from exc
    except openai.APIStatusError as exc:
        status = exc.status_code
        code = RunErrorCode.MODEL_UNAVAILABLE if status >= 500 else RunErrorCode.MODEL_ERROR
        tried = f", {retries} retries" if status >= 500 else ""
        raise AgentError(
            code, f"{where} failed (HTTP {status}{tried}){_said(exc)}", {"status": status}
        ) from exc
    except openai.APIError as exc:  # an error record inside the stream
        raise AgentError(
            RunErrorCode.MODEL_ERROR, f"{where} reported an error mid-stream{_said(exc)}"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AgentError(
            RunErrorCode.MODEL_ERROR, f"{where} sent a malformed stream: {exc}"
        ) from exc
