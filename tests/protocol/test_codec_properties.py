"""Property tests of the codec (issue 13, Build 8): any text or bytes → a typed frame or
a typed error, never another exception; whatever is accepted can be encoded again; text
and its UTF-8 bytes decode to the same result; the one-step decode of acknowledgements
and pings (issue 12) accepts nothing the full decode does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from praison_push.protocol import FrameError
from praison_push.protocol.codec import (
    EXACT_FRAME_TYPES,
    decode_client_frame,
    decode_exact_frame,
    decode_object,
    encode_json,
)
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


# --- decode_exact_frame: one step for the frames that hold nothing free-form ----------

#: JSON texts Python's json takes and a JSON parser should not, or that need care.
odd_values = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "1" + "0" * 400 + ".5", '"\\ud800"', "[[[[[[1]]]]]]"]
)


@st.composite
def exact_frame_texts(draw: st.DrawFn) -> str:
    """Frame texts that lead with an exact type; fields plausible, wrong, junk or odd,
    an odd value sometimes hidden by a repeat of its key (the parsers keep the last)."""
    fields = {"type": draw(st.sampled_from(sorted(EXACT_FRAME_TYPES)))}
    for name in draw(st.lists(frame_fields | st.sampled_from(["reply", "junk"]), unique=True)):
        fields[name] = draw(
            json_value
            | st.lists(st.text(max_size=8), max_size=3)
            | st.sampled_from(["e-1", "c", 7, True])
        )
    text = json.dumps(fields, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    odd = draw(st.none() | odd_values)
    if odd is not None:  # a value json.dumps would not write, first or last
        key = draw(st.sampled_from(["junk", "ref", "id", "event_id", "event_ids", "limit"]))
        if draw(st.booleans()):
            text = text[:-1] + f', "{key}": {odd}}}'
        else:
            text = f'{{"type": "{fields["type"]}", "{key}": {odd}, ' + text[1:]
    return text


@SETTINGS
@given(exact_frame_texts())
@example('{"type":"message_ack","event_ids":["a","b"],"reply":false,"junk":NaN}')
@example('{"type":"message_ack","event_id":"a","junk":1e400}')
@example('{"type":"ping","type":"channel.publish","channel":"c","data":NaN}')
@example('{"type":"message_nack","event_id":"a","reason":"\\ud800"}')
# A repeated key: both parsers keep the last value; only json.loads saw the first.
@example('{"type":"ping","id":NaN,"id":1}')
@example('{"type":"ping","ref":Infinity,"ref":2}')
@example('{"type":"presence.query","limit":1e400,"limit":5}')
@example('{"type":"message_ack","event_ids":[NaN],"event_ids":["a"]}')
@example('{"type":"ping","id" :NaN,"id":1}')
@example('{"type":"ping","ref":' + "1" * 5000 + "}")
@example('{"type":"ping","id":' + "[" * 150 + "]" * 150 + ',"id":1}')
def test_the_one_step_decode_accepts_only_what_the_full_decode_accepts_alike(text: str) -> None:
    """Issue 12: the one-step decode is a shortcut, never a second opinion — whatever
    it accepts, decode_object + validate_client_frame accept, giving an equal frame."""
    exact = decode_exact_frame(text, max_size=64 * 1024)
    if exact is not None:
        assert exact == decode_client_frame(text, max_size=64 * 1024)
        assert type(exact) is CLIENT_FRAME_TYPES[exact.type]


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"message_ack","event_ids":["e-1","e-2"],"reply":false}',
        '{"type": "ping", "id": 3, "ref": "r"}',  # json.dumps' default separators
        '{"type":"message_nack","event_id":"e-1","reason":"bad input"}',
    ],
)
def test_the_package_s_acks_and_pings_take_the_one_step_decode(text: str) -> None:
    frame = decode_exact_frame(text, max_size=1024)
    assert frame is not None
    assert frame == decode_client_frame(text, max_size=1024)


@pytest.mark.parametrize(
    ("text", "max_size"),
    [
        ('{"type":"channel.publish","channel":"c","data":1}', 1024),  # free-form data
        ('{"ref":1,"type":"ping"}', 1024),  # type not first
        ('{"type":"ping","id":"\u00e9"}', 1024),  # not ASCII: the full decode checks it
        ('{"type":"ping","id":"abcdef"}', 10),  # over max_size: the full decode words it
        ('{"type":"ping","junk":1}', 1024),  # a key the frame does not define
        ('{"type":"ping","id":1,"id":2}', 1024),  # a key repeated
        ('{ "type":"ping"}', 1024),  # not opened as the package's clients open it
        ('{"type":"channel.unsubscribe","channel":"a:b"}', 1024),  # a colon in a name
        ('{"type":"message_nack","event_id":"e","reason":"a:b"}', 1024),  # a colon in a string
        ('{"type":"message_ack","event_id":""}', 1024),  # invalid: the full decode words it
    ],
)
def test_everything_else_is_left_to_the_full_decode(text: str, max_size: int) -> None:
    assert decode_exact_frame(text, max_size=max_size) is None
    assert decode_exact_frame(text.encode(), max_size=max_size) is None
