"""Property tests of the codec (issue 13, Build 8): any text or bytes → a typed frame or
a typed error, never another exception; whatever is accepted can be encoded again; text
and its UTF-8 bytes decode to the same result."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from praison_push.protocol import FrameError
from praison_push.protocol.codec import decode_client_frame, decode_object, encode_json
from praison_push.protocol.frames import CLIENT_FRAME_TYPES

#: As many examples as the profile says (tests/conftest.py: 100 here, 400 on CI).
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
frame_fields = st.sampled_from(
    [
        "channel",
        "data",
        "ref",
        "since",
        "limit",
        "cursor",
        "token",
        "event_id",
        "event_ids",
        "filters",
        "metadata",
        "status",
        "agent_id",
        "input",
        "execution_id",
        "id",
        "echo",
    ]
)


@st.composite
def client_frames(draw: st.DrawFn) -> dict[str, Any]:
    """Frames that look like client frames: a known type, plausible field names."""
    frame: dict[str, Any] = {"type": draw(st.sampled_from(sorted(CLIENT_FRAME_TYPES)))}
    for name in draw(st.lists(frame_fields, max_size=5, unique=True)):
        frame[name] = draw(json_value | st.sampled_from(["news", "a:b", "$x", "\ud800"]))
    return frame


def outcome(raw: str | bytes) -> tuple[str, Any]:
    """``("frame", its encoding)`` or ``("error", code)``; anything else escapes."""
    try:
        frame = decode_client_frame(raw, max_size=64 * 1024)
    except FrameError as exc:
        return "error", exc.code
    text = frame.model_dump_json(exclude_none=True)
    text.encode("utf-8")  # accepted means encodable again
    return "frame", text


@SETTINGS
@given(st.text(max_size=300))
@example('{"type":"channel.publish","channel":"c","data":"\\ud800"}')
@example('{"type":"ping","id":"\udcff"}')
def test_any_text_is_a_frame_or_a_typed_error(raw: str) -> None:
    outcome(raw)


@SETTINGS
@given(st.binary(max_size=300))
@example('{"type":"channel.publish","channel":"c","data":"\\ud800"}'.encode("utf-16"))
@example('{"type":"ping"}'.encode("utf-32-le"))
def test_any_bytes_are_a_frame_or_a_typed_error(raw: bytes) -> None:
    outcome(raw)


@SETTINGS
@given(client_frames(), st.booleans())
def test_frame_shaped_input_is_accepted_only_when_it_can_be_encoded_again(
    frame: dict[str, Any], ascii_only: bool
) -> None:
    try:
        text = json.dumps(frame, ensure_ascii=ascii_only)
    except (ValueError, UnicodeEncodeError):
        return
    kind, _ = outcome(text)
    try:
        obj = decode_object(text)
    except FrameError:
        assert kind == "error"
        return
    encode_json(obj).encode("utf-8")


@SETTINGS
@given(client_frames() | st.text(max_size=200).map(lambda t: {"type": t}))
def test_text_and_its_utf8_bytes_decode_alike(frame: dict[str, Any]) -> None:
    text = json.dumps(frame, ensure_ascii=False)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        assert outcome(text)[0] == "error"  # a raw surrogate: refused as text too
        return
    assert outcome(text) == outcome(data)
    for encoding in ("utf-16", "utf-32"):
        assert outcome(text.encode(encoding)) == ("error", outcome("\x00")[1])
