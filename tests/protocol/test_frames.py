"""Frame models: the server→client half of the contract, and the package surface."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

import praison_push.protocol as protocol
from praison_push.protocol import PROTOCOL_VERSION, encode_frame
from praison_push.protocol import frames as f


def test_protocol_version() -> None:
    assert PROTOCOL_VERSION == "praison-push/1"
    assert f.ConnectedFrame.model_fields["protocol"].default == PROTOCOL_VERSION


def test_connected_frame_shape() -> None:
    frame = f.ConnectedFrame(client_id="c1", server_id="s1", heartbeat_interval=15)
    assert json.loads(encode_frame(frame)) == {
        "type": "connected",
        "client_id": "c1",
        "server_id": "s1",
        "protocol": "praison-push/1",
        "heartbeat_interval": 15.0,
        "resumed": False,
    }


def test_replies_echo_ref_and_allow_extra_fields() -> None:
    frame = f.ChannelPublishedFrame.model_validate(
        {
            "type": "channel.published",
            "channel": "c",
            "delivered": 1,
            "event_id": "e",
            "offset": 1,
            "ref": "r1",
            "future": True,
        }
    )
    assert frame.ref == "r1"
    assert json.loads(encode_frame(frame))["future"] is True


def test_channel_message_frame_requires_offset_and_epoch() -> None:
    with pytest.raises(ValidationError):
        f.ChannelMessageFrame.model_validate(
            {"channel": "c", "data": 1, "event_id": "e", "timestamp": 1.0, "source": None}
        )


def test_server_frames_have_their_wire_types() -> None:
    samples = [
        f.HelloErrorFrame(code="auth_required", message="m"),
        f.ErrorFrame(code="bad_frame", message="m", details={"field": "x"}),
        f.ChannelCreatedFrame(channel="c"),
        f.ChannelSubscribedFrame(channel="c", offset=0, epoch="e", recovered=True),
        f.ChannelUnsubscribedFrame(channel="c"),
        f.ChannelListReplyFrame(channels=["a"]),
        f.ChannelHistoryReplyFrame(channel="c", messages=[], offset=0, epoch="e"),
        f.PresenceHeartbeatAckFrame(),
        f.PresenceListFrame(
            channel=None,
            presence=[f.PresenceInfoModel(client_id="a", status="online", last_seen=1.0)],
        ),
        f.PresenceEventFrame(
            type="presence_join", channel="c", data={}, event_id="e", timestamp=1.0
        ),
        f.AckReceivedFrame(event_id=None, ok=True),
        f.NackReceivedFrame(event_id="e", ok=True),
    ]
    types = [json.loads(encode_frame(sample))["type"] for sample in samples]
    assert types == [
        "hello_error",
        "error",
        "channel.created",
        "channel.subscribed",
        "channel.unsubscribed",
        "channel.list",
        "channel.history",
        "presence.heartbeat_ack",
        "presence.list",
        "presence_join",
        "ack_received",
        "nack_received",
    ]


def test_since_model_is_strict() -> None:
    assert f.SinceModel(offset=0, epoch="e").offset == 0
    with pytest.raises(ValidationError):
        f.SinceModel.model_validate({"offset": "1", "epoch": "e"})
    with pytest.raises(ValidationError):
        f.SinceModel.model_validate({"offset": 1, "epoch": "e" * 65})


def test_channel_name_pattern() -> None:
    pattern = f.CHANNEL_NAME_PATTERN
    assert f.MAX_CHANNEL_NAME_LENGTH == 200
    assert pattern.match("a" * 200)
    assert not pattern.match("a" * 201)
    assert pattern.match("$dead-letter")
    assert not pattern.match("a b")


def test_package_exports_resolve() -> None:
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None
    for name in f.__all__:
        assert hasattr(f, name)
