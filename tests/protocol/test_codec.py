"""The codec: untrusted text in, a typed frame or a ``FrameError`` out (PROTOCOL.md §2, §6)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from praison_push.protocol import ErrorCode, FrameError, decode_client_frame, decode_object
from praison_push.protocol import frames as f
from praison_push.protocol.codec import (
    MAX_NESTING_DEPTH,
    encode_frame,
    encode_json,
    is_shallow,
    validate_client_frame,
)


def refused(raw: str | bytes, **kwargs: Any) -> FrameError:
    """Decode ``raw`` and return the :class:`FrameError` it must raise."""
    with pytest.raises(FrameError) as info:
        decode_client_frame(raw, **kwargs)
    return info.value


def frame(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


# --- encoding ------------------------------------------------------------------------------------


def test_encode_json_is_compact_and_keeps_unicode() -> None:
    assert encode_json({"a": [1, 2], "b": "é✓"}) == '{"a":[1,2],"b":"é✓"}'


def test_encode_json_refuses_nan() -> None:
    with pytest.raises(ValueError):
        encode_json(float("nan"))


def test_encode_frame_leaves_out_none_fields() -> None:
    text = encode_frame(f.ErrorFrame(code="bad_frame", message="m"))
    assert json.loads(text) == {"type": "error", "code": "bad_frame", "message": "m"}


# --- not a JSON object ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["not json", "{", "", "{'single': 'quotes'}", b'{"type": "\xff"}'],
    ids=["text", "truncated", "empty", "python-repr", "bad-utf8-bytes"],
)
def test_not_json_is_bad_frame(raw: str | bytes) -> None:
    error = refused(raw)
    assert error.code is ErrorCode.BAD_FRAME
    assert "not valid JSON" in error.message
    assert error.field is None


@pytest.mark.parametrize("raw", ["[]", '[{"type":"ping"}]', "1", '"ping"', "null", "true"])
def test_json_that_is_not_an_object_is_bad_frame(raw: str) -> None:
    error = refused(raw)
    assert error.code is ErrorCode.BAD_FRAME
    assert "must be a JSON object" in error.message


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_numbers_are_bad_frame(literal: str) -> None:
    # Accepting them would store a publication the gateway can never encode again.
    error = refused('{"type":"channel.publish","channel":"a","data":' + literal + "}")
    assert error.code is ErrorCode.BAD_FRAME


def test_finite_floats_still_parse() -> None:
    parsed = decode_client_frame('{"type":"channel.publish","channel":"a","data":[1.5,-2e3]}')
    assert isinstance(parsed, f.ChannelPublishFrame)
    assert parsed.data == [1.5, -2000.0]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\ud83d"])
def test_unpaired_surrogate_escapes_are_bad_frame(escape: str) -> None:
    raw = '{"type":"channel.publish","channel":"a","data":"' + escape + '"}'
    assert refused(raw).code is ErrorCode.BAD_FRAME
    assert refused(raw.encode()).code is ErrorCode.BAD_FRAME


def test_paired_surrogate_escapes_and_other_escapes_are_fine() -> None:
    raw = '{"type":"channel.publish","channel":"a","data":"\\ud83d\\ude00 \\u00e9"}'
    parsed = decode_client_frame(raw)
    assert isinstance(parsed, f.ChannelPublishFrame)
    assert parsed.data == "😀 é"


def nested(depth: int) -> Any:
    """A JSON value ``depth`` containers deep, alternating arrays and objects."""
    value: Any = 0
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_nesting_up_to_the_limit_is_accepted() -> None:
    # The frame object is level 1, so data may be MAX_NESTING_DEPTH - 1 containers deep.
    data = nested(MAX_NESTING_DEPTH - 1)
    parsed = decode_client_frame(frame(type="channel.publish", channel="c", data=data))
    assert isinstance(parsed, f.ChannelPublishFrame)
    assert parsed.data == data


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH, 500])
def test_deeper_nesting_is_bad_frame(depth: int) -> None:
    # Deep enough to pass the parser but not to be encoded again from deep in the gateway.
    error = refused(frame(type="channel.publish", channel="c", data=nested(depth)))
    assert error.code is ErrorCode.BAD_FRAME
    assert error.details == {"max_depth": MAX_NESTING_DEPTH}
    assert str(MAX_NESTING_DEPTH) in error.message


def test_nesting_beyond_the_parser_is_bad_frame() -> None:
    for raw in ("[" * 100_000, '{"type":"ping","data":' + "[" * 5000 + "]" * 5000 + "}"):
        assert refused(raw).code is ErrorCode.BAD_FRAME


def test_wide_frames_are_not_deep() -> None:
    data = {"rows": [[n, {"v": [n]}] for n in range(2000)]}
    parsed = decode_client_frame(frame(type="channel.publish", channel="c", data=data))
    assert isinstance(parsed, f.ChannelPublishFrame)


# --- type ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [{}, {"type": 1}, {"type": None}, {"type": ["ping"]}, {"channel": "a"}],
    ids=["empty", "number", "null", "list", "missing"],
)
def test_missing_or_non_string_type_is_invalid_field(obj: dict[str, Any]) -> None:
    error = refused(json.dumps(obj))
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.field == "type"
    assert error.to_error_fields()["details"] == {"field": "type"}


def test_unknown_type_is_named_and_truncated() -> None:
    error = refused(frame(type="channel.explode"))
    assert error.code is ErrorCode.UNKNOWN_TYPE
    assert "'channel.explode'" in error.message
    assert error.details == {"type": "channel.explode"}
    long_type = "x" * 1000
    assert refused(frame(type=long_type)).details == {"type": "x" * 64}


# --- fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "channel.subscribe"}, "channel"),
        ({"type": "channel.publish"}, "channel"),
        ({"type": "message_nack"}, "event_id"),
        ({"type": "auth"}, "token"),
        ({"type": "channel.subscribe", "channel": "a", "since": {"offset": 1}}, "since.epoch"),
    ],
)
def test_missing_field_is_named(obj: dict[str, Any], field: str) -> None:
    error = refused(json.dumps(obj))
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.field == field
    assert error.message == f"field '{field}' is required"


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "channel.publish", "channel": "a", "id": 5}, "id"),
        ({"type": "message_ack", "event_id": 7}, "event_id"),
        ({"type": "auth", "token": 1234}, "token"),
        ({"type": "presence.heartbeat", "status": True}, "status"),
        ({"type": "channel.subscribe", "channel": "a", "filters": {"k": 1}}, "filters.k"),
        ({"type": "channel.subscribe", "channel": "a", "since": "1"}, "since"),
        (
            {"type": "channel.subscribe", "channel": "a", "since": {"offset": "1", "epoch": "e"}},
            "since.offset",
        ),
        ({"type": "channel.history", "channel": "a", "limit": 1.0}, "limit"),
        ({"type": "channel.create", "channel": "a", "metadata": []}, "metadata"),
        ({"type": "message_ack", "event_ids": "e1"}, "event_ids"),
    ],
)
def test_wrong_typed_field_is_named_strictly(obj: dict[str, Any], field: str) -> None:
    # Strict: a number is not a string, "1" is not an int, 1.0 is not an int.
    error = refused(json.dumps(obj))
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.field == field
    assert error.message.startswith(f"field '{field}': ")
    assert error.details["field"] == field


@pytest.mark.parametrize(
    ("obj", "field", "details"),
    [
        ({"type": "channel.history", "channel": "a", "limit": 20_000}, "limit", {"le": 10_000}),
        ({"type": "channel.history", "channel": "a", "limit": 0}, "limit", {"ge": 1}),
        (
            {"type": "channel.subscribe", "channel": "a", "since": {"offset": -1, "epoch": "e"}},
            "since.offset",
            {"ge": 0},
        ),
        ({"type": "presence.heartbeat", "status": ""}, "status", {"min_length": 1}),
        ({"type": "presence.heartbeat", "status": "s" * 65}, "status", {"max_length": 64}),
        ({"type": "message_ack", "event_ids": [""]}, "event_ids.0", {"min_length": 1}),
    ],
)
def test_constraint_violations_carry_the_bound(
    obj: dict[str, Any], field: str, details: dict[str, Any]
) -> None:
    error = refused(json.dumps(obj))
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.field == field
    assert error.details == {**details, "field": field}


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "ping", "ref": "r" * 129}, "ref"),
        ({"type": "ping", "ref": 1.5}, "ref"),
        ({"type": "ping", "ref": True}, "ref"),
        ({"type": "ping", "ref": {"a": 1}}, "ref"),
        ({"type": "ping", "id": [1]}, "id"),
    ],
)
def test_bad_correlation_key_names_the_field_itself(obj: dict[str, Any], field: str) -> None:
    error = refused(json.dumps(obj))
    assert error.code is ErrorCode.INVALID_FIELD
    assert error.field == field


@pytest.mark.parametrize("ref", ["r" * 128, "", 0, -5, 2**40])
def test_valid_refs_are_kept(ref: str | int) -> None:
    parsed = decode_client_frame(frame(type="ping", ref=ref, id=ref))
    assert isinstance(parsed, f.PingFrame)
    assert parsed.ref == ref
    assert parsed.id == ref


# --- channel names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "channel",
    [
        "has space",
        "x" * 500,
        "x" * 201,
        "",
        "tab\there",
        "semi;colon",
        "ünïcode",
        "$",
        "$$double",
        "new\nline",
        "trailing\n",
    ],
)
def test_bad_channel_names_get_the_channel_rule(channel: str) -> None:
    for kind in ("channel.subscribe", "channel.publish", "channel.create", "channel.history"):
        error = refused(frame(type=kind, channel=channel))
        assert error.code is ErrorCode.INVALID_FIELD
        assert error.field == "channel"
        assert "1-200 characters of [A-Za-z0-9_.:@#/-]" in error.message
        assert error.details == {"field": "channel", "max_length": 200}


def test_non_string_channel_gets_the_channel_rule() -> None:
    error = refused(frame(type="channel.subscribe", channel=42))
    assert error.field == "channel"
    assert error.code is ErrorCode.INVALID_FIELD


@pytest.mark.parametrize(
    "channel",
    ["a", "x" * 200, "$" + "x" * 200, "$dead-letter", "org:1/room_2.a@b#c-d", "executions:run-1"],
)
def test_good_channel_names_are_accepted(channel: str) -> None:
    parsed = decode_client_frame(frame(type="channel.subscribe", channel=channel))
    assert isinstance(parsed, f.ChannelSubscribeFrame)
    assert parsed.channel == channel
    assert f.CHANNEL_NAME_PATTERN.match(channel)


def test_presence_query_channel_is_optional_but_checked() -> None:
    assert decode_client_frame(frame(type="presence.query")) == f.PresenceQueryFrame()
    assert refused(frame(type="presence.query", channel="a b")).field == "channel"


# --- size ----------------------------------------------------------------------------------------


def test_too_large_names_max_message_size() -> None:
    raw = frame(type="channel.publish", channel="a", data="x" * 1000)
    error = refused(raw, max_size=256)
    assert error.code is ErrorCode.TOO_LARGE
    assert error.limit == "max_message_size"
    assert "max_message_size=256" in error.message
    assert error.details == {"max": 256, "size": len(raw), "limit": "max_message_size"}
    assert error.to_error_fields()["code"] == "too_large"


def test_size_counts_utf8_bytes_not_characters() -> None:
    raw = frame(type="channel.publish", channel="a", data="é" * 200)
    assert len(raw) < 300 < len(raw.encode())
    assert refused(raw, max_size=300).details["size"] == len(raw.encode())
    assert refused(raw.encode(), max_size=300).details["size"] == len(raw.encode())


def test_frame_exactly_at_the_limit_is_accepted() -> None:
    raw = frame(type="ping")
    assert decode_client_frame(raw, max_size=len(raw)) == f.PingFrame()
    assert refused(raw, max_size=len(raw) - 1).code is ErrorCode.TOO_LARGE


def test_size_is_checked_before_parsing() -> None:
    assert refused("not json" * 100, max_size=10).code is ErrorCode.TOO_LARGE


# --- success paths -------------------------------------------------------------------------------


def test_bytes_input_decodes_like_text() -> None:
    raw = frame(type="channel.publish", channel="a", data={"k": [1, "é"]}, ref="r1")
    assert decode_client_frame(raw.encode()) == decode_client_frame(raw)


def test_unknown_fields_are_ignored() -> None:
    parsed = decode_client_frame(frame(type="ping", future_field={"x": 1}))
    assert parsed == f.PingFrame()


def test_ref_and_data_are_echoed_untouched() -> None:
    data = {"nested": [1, 2.5, None, True, "s"], "empty": {}}
    parsed = decode_client_frame(frame(type="channel.publish", channel="c", data=data, ref=7))
    assert isinstance(parsed, f.ChannelPublishFrame)
    assert parsed.ref == 7
    assert parsed.data == data


def test_every_client_frame_type_decodes() -> None:
    samples: list[dict[str, Any]] = [
        {"type": "auth", "token": "t"},
        {"type": "channel.create", "channel": "c", "metadata": {"k": 1}},
        {
            "type": "channel.subscribe",
            "channel": "c",
            "since": {"offset": 3, "epoch": "e"},
            "filters": {"agent_id": "a"},
        },
        {"type": "channel.unsubscribe", "channel": "c"},
        {"type": "channel.publish", "channel": "c", "data": 1, "id": "k", "echo": True},
        {"type": "channel.list"},
        {"type": "channel.history", "channel": "c", "limit": 5},
        {"type": "presence.heartbeat", "status": "away", "metadata": {"m": 1}},
        {"type": "presence.query", "channel": "c"},
        {"type": "message_ack", "event_id": "e", "event_ids": ["e", "f"], "reply": False},
        {"type": "message_nack", "event_id": "e", "reason": "unparseable"},
        {"type": "execute", "agent_id": "demo", "input": "hi", "session_id": "s", "stream": False},
        {"type": "execution.cancel", "execution_id": "x"},
        {"type": "execution.approve", "execution_id": "x", "tool_call_id": "c", "approved": True},
        {"type": "ping", "id": "p"},
        {"type": "pong", "id": 3},
        {"type": "auth.refresh", "token": "t"},
    ]
    assert {sample["type"] for sample in samples} == set(f.CLIENT_FRAME_TYPES)
    for sample in samples:
        parsed = decode_client_frame(json.dumps(sample))
        assert isinstance(parsed, f.CLIENT_FRAME_TYPES[sample["type"]])
        assert parsed.type == sample["type"]
        assert parsed.model_dump(exclude_none=True, exclude={"ref"}) == sample


def test_an_approval_must_say_true_or_false() -> None:
    """``approved: "yes"`` (or 1) is refused, naming the field: no answer by coercion."""
    for value in ("yes", 1, None):
        with pytest.raises(FrameError) as caught:
            decode_client_frame(
                frame(type="execution.approve", execution_id="x", tool_call_id="c", approved=value)
            )
        assert caught.value.field == "approved"


def test_validate_client_frame_takes_a_parsed_object() -> None:
    assert validate_client_frame({"type": "channel.list", "ref": "x"}) == f.ChannelListFrame(
        ref="x"
    )


def test_decode_object_returns_any_object() -> None:
    assert decode_object('{"type": "whatever", "n": 1}') == {"type": "whatever", "n": 1}
    assert decode_object(b"{}", max_size=2) == {}


def test_frames_are_immutable() -> None:
    parsed = decode_client_frame(frame(type="ping"))
    assert isinstance(parsed, BaseModel)
    with pytest.raises(ValueError):
        parsed.ref = "x"  # type: ignore[misc]


@pytest.mark.parametrize("raw", ['{"a": [1, 2, {"b": 3}]}', b'{"a": [[[]]]}'])
def test_a_frame_with_few_brackets_is_shallow(raw: str | bytes) -> None:
    assert is_shallow(raw)


def test_a_frame_with_many_brackets_is_walked_and_still_refused_when_too_deep() -> None:
    deep = '{"type": "channel.publish", "channel": "c", "data": ' + "[" * 120 + "]" * 120 + "}"
    assert not is_shallow(deep)
    with pytest.raises(FrameError, match="nests deeper"):
        decode_client_frame(deep)
    # Brackets in strings only make the count cautious: such a frame is walked, and passes.
    wide = json.dumps({"type": "channel.publish", "channel": "c", "data": "[" * 200})
    assert not is_shallow(wide)
    assert decode_client_frame(wide).data == "[" * 200  # type: ignore[union-attr]


# --- one encoding on every path (issue 13, finding 5) ----

_SURROGATE_PUBLISH = '{"type":"channel.publish","channel":"c","data":"\\ud800"}'


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_utf16_and_utf32_bytes_are_bad_frame(encoding: str) -> None:
    # json.loads(bytes) sniffs these; the surrogate check looked for ASCII b"\\u" only.
    for text in (_SURROGATE_PUBLISH, '{"type":"ping"}'):
        error = refused(text.encode(encoding))
        assert error.code is ErrorCode.BAD_FRAME
        assert "UTF-8" in error.message


def test_a_raw_surrogate_in_text_is_bad_frame() -> None:
    # Text decoded leniently (surrogateescape) may hold one without any escape.
    error = refused('{"type":"ping","id":"\udcff"}')
    assert error.code is ErrorCode.BAD_FRAME
    assert "UTF-8" in error.message


def test_a_utf8_bom_is_bad_frame() -> None:
    assert refused(b'\xef\xbb\xbf{"type":"ping"}').code is ErrorCode.BAD_FRAME
