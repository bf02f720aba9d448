"""Text in, typed frame out — or a :class:`FrameError` naming what is wrong.

The codec is the single place where untrusted bytes become frames, for the
gateway (client frames) and the client (server frames). It never raises
anything but :class:`FrameError`, so a bad frame can always be answered with
an ``error`` frame while the connection stays up (PROTOCOL.md §6).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from .codes import ErrorCode
from .errors import FrameError
from .frames import CLIENT_FRAME_TYPES, MAX_CHANNEL_NAME_LENGTH, ClientFrame

__all__ = [
    "MAX_NESTING_DEPTH",
    "decode_client_frame",
    "decode_exact_frame",
    "decode_object",
    "encodable",
    "encode_frame",
    "encode_json",
    "is_shallow",
]

_CHANNEL_RULE = (
    f"must be 1-{MAX_CHANNEL_NAME_LENGTH} characters of [A-Za-z0-9_.:@#/-] "
    "(optionally after a leading '$')"
)

#: How deeply a client frame may nest objects and arrays (the frame itself is level 1).
#: Far deeper than real payloads, far below the interpreter's recursion limit, so
#: whatever the gateway accepts it can encode again from any call depth.
MAX_NESTING_DEPTH = 100

_UNION_TAG = re.compile(r"^(constrained-)?(str|int|float|bool|list\[.*\]|dict\[.*\])$")

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


#: One decoder for every frame: ``json.loads`` with hooks would build a new one per call.
_decode = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float).decode


def _encodable(obj: Any) -> bool:
    try:
        encode_json(obj).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(obj: Any) -> Any:
    """``obj`` itself when it encodes as UTF-8 JSON, else a copy with every surrogate
    code point (which UTF-8 cannot carry) replaced by U+FFFD.

    For what the gateway publishes itself (agents' text may come from
    ``bytes.decode(..., "surrogateescape")``): clients' frames are refused instead.
    """
    if _encodable(obj):
        return obj
    return _scrubbed(obj)


def _scrubbed(obj: Any) -> Any:
    if isinstance(obj, str):
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {_scrubbed(key): _scrubbed(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrubbed(value) for value in obj]
    return obj


def _nesting_exceeds(obj: dict[str, Any], limit: int) -> bool:
    # Level by level, not recursive: a hostile frame cannot exhaust the stack here.
    level: list[Any] = [obj]
    for _ in range(limit):
        level = [
            child
            for value in level
            for child in (value.values() if isinstance(value, dict) else value)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


def _text_of(raw: str | bytes) -> str:
    """The frame's text: bytes must be UTF-8, text must be encodable as UTF-8.

    ``json.loads`` would sniff UTF-16 and UTF-32 in bytes; every frame — text,
    binary or an HTTP body — is UTF-8 JSON, so one rule holds on every path and
    the surrogate check below sees the same text whatever the transport.
    """
    if isinstance(raw, bytes):
        # A NUL byte never appears in UTF-8 JSON (control characters are escaped):
        # it is the mark of UTF-16/UTF-32, which is valid UTF-8 when it is ASCII.
        if b"\x00" in raw:
            raise FrameError(
                ErrorCode.BAD_FRAME,
                "frame is not valid JSON: a NUL byte (UTF-16 or UTF-32?); frames are UTF-8",
            )
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FrameError(
                ErrorCode.BAD_FRAME, f"frame is not valid JSON: not UTF-8 (byte {exc.start})"
            ) from None
    if not raw.isascii():
        # Text read leniently (surrogateescape, a server's own decoding) may hold a
        # raw surrogate, which could be stored but never sent. isascii() is O(1).
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FrameError(
                ErrorCode.BAD_FRAME, f"frame is not valid JSON: not UTF-8 (character {exc.start})"
            ) from None
    return raw


def encode_json(obj: Any) -> str:
    """Compact JSON, the one encoding used on every wire (no NaN, UTF-8 kept)."""
    return _dumps(obj)


def encode_frame(frame: BaseModel) -> str:
    """Encode a frame model, leaving out fields that are ``None``."""
    return frame.model_dump_json(exclude_none=True)


def decode_object(raw: str | bytes, *, max_size: int | None = None) -> dict[str, Any]:
    """Parse one frame's text into a JSON object.

    Python's ``json`` accepts more than JSON: ``NaN``/``Infinity`` (and numbers
    that overflow to infinity) and ``\\ud800``-style unpaired surrogate
    escapes. The gateway could store such a frame but never encode it again, so
    one publish would break every later delivery and history read of its
    channel; they are refused here as ``bad_frame``, as is nesting too deep for
    the parser itself.

    Args:
        raw: The frame text (or UTF-8 bytes).
        max_size: Reject frames longer than this many bytes before parsing.

    Raises:
        FrameError: ``too_large`` (naming ``max_message_size``) or ``bad_frame``.
    """
    if max_size is not None:
        # A character is 1 to 4 bytes: most frames are measured without encoding them.
        size = len(raw)
        if not isinstance(raw, bytes) and size <= max_size < 4 * size:
            size = len(raw.encode("utf-8", "surrogatepass"))
        if size > max_size:
            raise FrameError(
                ErrorCode.TOO_LARGE,
                f"frame of {size} bytes exceeds max_message_size={max_size}",
                limit="max_message_size",
                details={"max": max_size, "size": size},
            )
    text = _text_of(raw)
    try:
        obj = _decode(text)
    except (ValueError, RecursionError) as exc:
        raise FrameError(ErrorCode.BAD_FRAME, f"frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise FrameError(
            ErrorCode.BAD_FRAME, f"frame must be a JSON object, got {type(obj).__name__}"
        )
    # Only a backslash-u escape can decode to an unpaired surrogate (raw ones were
    # refused by _text_of): most frames skip this.
    if "\\u" in text and not _encodable(obj):
        raise FrameError(ErrorCode.BAD_FRAME, "frame is not valid JSON: unpaired surrogate escape")
    return obj


def decode_client_frame(raw: str | bytes, *, max_size: int | None = None) -> ClientFrame:
    """Turn one client frame's text into its model (PROTOCOL.md §2).

    Raises:
        FrameError: ``too_large``, ``bad_frame``, ``unknown_type`` or
            ``invalid_field`` (with ``field`` set to the dotted path).
    """
    obj = decode_object(raw, max_size=max_size)
    return validate_client_frame(obj, shallow=is_shallow(raw))


def is_shallow(raw: str | bytes) -> bool:
    """Whether the frame text cannot nest deeper than :data:`MAX_NESTING_DEPTH`.

    Each level opens a bracket, so few brackets settle it (brackets inside
    strings only make the count cautious) — counted in C, without walking the
    object. Half the limit leaves room for a dialect translation that wraps a
    frame's fields a level or two deeper.
    """
    if isinstance(raw, bytes):
        return raw.count(b"{") + raw.count(b"[") <= MAX_NESTING_DEPTH // 2
    return raw.count("{") + raw.count("[") <= MAX_NESTING_DEPTH // 2


def validate_client_frame(obj: dict[str, Any], *, shallow: bool = False) -> ClientFrame:
    """Validate an already-parsed JSON object as a client frame.

    ``shallow``: the caller knows the frame cannot nest too deep (:func:`is_shallow`).

    Raises:
        FrameError: as :func:`decode_client_frame`; ``bad_frame`` for a frame
            nested deeper than :data:`MAX_NESTING_DEPTH`, which the gateway could
            store but not reliably encode again.
    """
    if not shallow and _nesting_exceeds(obj, MAX_NESTING_DEPTH):
        raise FrameError(
            ErrorCode.BAD_FRAME,
            f"frame nests deeper than {MAX_NESTING_DEPTH} levels",
            details={"max_depth": MAX_NESTING_DEPTH},
        )
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise FrameError(
            ErrorCode.INVALID_FIELD, "field 'type' is required and must be a string", field="type"
        )
    model = CLIENT_FRAME_TYPES.get(kind)
    if model is None:
        raise FrameError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown frame type {kind[:64]!r}",
            details={"type": kind[:64]},
        )
    try:
        return model.model_validate(obj)  # type: ignore[return-value]
    except ValidationError as exc:
        raise _field_error(exc) from None


def _field_error(exc: ValidationError) -> FrameError:
    """Describe the first validation failure in terms of the wire field."""
    first = exc.errors(include_url=False, include_input=False)[0]
    # A union's failure names the member type in its location ("constrained-str",
    # "list[str]"): that is pydantic's vocabulary, not a wire field.
    loc = tuple(part for part in first["loc"] if not _UNION_TAG.match(str(part)))
    field = ".".join(str(part) for part in loc)
    kind = first["type"]
    if loc[:1] == ("channel",) and kind != "missing":
        return FrameError(
            ErrorCode.INVALID_FIELD,
            f"field 'channel' {_CHANNEL_RULE}",
            field="channel",
            details={"max_length": MAX_CHANNEL_NAME_LENGTH},
        )
    if kind == "missing":
        message = f"field '{field}' is required"
    else:
        message = f"field '{field}': {first['msg']}"
    details: dict[str, Any] = {}
    ctx = first.get("ctx") or {}
    for key in ("max_length", "min_length", "le", "ge"):
        if key in ctx:
            details[key] = ctx[key]
    return FrameError(ErrorCode.INVALID_FIELD, message, field=field, details=details)


# --- one step from text to frame, for the frames that allow it -----------------------

#: The client frames that hold nothing free-form: every field a string, an integer,
#: a boolean or a list of strings. Acknowledgements, pings and pongs are most of a
#: busy gateway's inbound frames.
EXACT_FRAME_TYPES = frozenset(
    {
        "auth",
        "auth.refresh",
        "channel.unsubscribe",
        "channel.list",
        "presence.query",
        "message_ack",
        "message_nack",
        "execute",
        "execution.cancel",
        "execution.approve",
        "ping",
        "pong",
    }
)

#: How a frame opens when its ``type`` comes first, written as this package's
#: clients and ``json.dumps`` write it; the shortcut looks no further.
_COMPACT_LEAD = '{"type":"'
_SPACED_LEAD = '{"type": "'


def decode_exact_frame(raw: str | bytes, *, max_size: int) -> ClientFrame | None:
    """The frame in ``raw``, parsed and validated in one step — or ``None``.

    Only for ASCII text within ``max_size`` that opens ``{"type":"`` (or
    ``{"type": "``) with one of :data:`EXACT_FRAME_TYPES`, and whose every colon
    follows a key of the frame given once; for anything else, or an invalid
    frame, ``None``: the caller then takes :func:`decode_object` and
    :func:`validate_client_frame`, which accept every frame this accepts, with
    the same fields, and word the error for the rest. It costs about two
    thirds of what they do (no dict built first, no Python float hook).

    Why the same: pydantic's JSON parser, like ``json.loads``, takes values the
    full decode then refuses (``NaN``, ``1e400``), and both keep only the last
    value of a repeated key. With every key once, and each a field of a frame
    that holds nothing free-form, every value sits in a typed field, which
    refuses such values itself.
    """
    if not isinstance(raw, str) or not raw.isascii() or len(raw) > max_size:
        return None
    if raw.startswith(_COMPACT_LEAD):
        start = len(_COMPACT_LEAD)
    elif raw.startswith(_SPACED_LEAD):
        start = len(_SPACED_LEAD)
    else:
        return None
    kind = raw[start : raw.find('"', start)]
    if kind not in EXACT_FRAME_TYPES:
        return None
    try:
        frame = CLIENT_FRAME_TYPES[kind].model_validate_json(raw)
    except ValidationError:
        return None
    # A colon is a key's or sits in a string. As many colons as fields given: no
    # key was unknown (the model ignores it) or repeated (its first value was
    # never checked), nothing nested. A colon in a string sends the frame the long
    # way, which is all it costs.
    if raw.count(":") != len(frame.model_fields_set):
        return None
    return frame  # type: ignore[return-value]
