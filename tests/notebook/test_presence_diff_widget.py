"""``PresenceList`` stays right when a busy channel's joins and leaves arrive batched
as one ``presence_diff`` (PROTOCOL.md §8): a real gateway, the blocking client, and
the widget's messages replayed into :class:`~.helpers.FrontEnd` as ``widgets.js`` applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from support import Recorder as Calls
from support import timeout

from praison_push.config import GatewayConfig, PresenceConfig, PushConfig
from praison_push.notebook.widgets import PresenceList, StreamWidget
from praison_push.server import GatewayThread
from praison_push.sync import PushClient

from .helpers import FrontEnd, Recorder, wait_until

pytestmark = pytest.mark.usefixtures("deterministic_widgets")


def test_presence_list_shows_joins_and_leaves_that_arrive_as_a_diff(
    gateway_factory: Callable[..., GatewayThread], widgets: list[StreamWidget]
) -> None:
    # At most 5 members, so 5 presence frames at once per interval: o1's and o2's joins
    # go at once, o3's and o4's come as one diff; the leaves that follow that diff (its
    # 5 frames spent the next interval's budget) come as one diff too. Half a second
    # (scaled): ample for the clients to join (or leave) within one interval, each a
    # round trip of milliseconds; the test waits out two intervals.
    presence = PresenceConfig(broadcast_interval=timeout(0.5), max_broadcast_members=5)
    gateway = gateway_factory(GatewayConfig(push=PushConfig(enabled=True, presence=presence)))
    names = ["o1", "o2", "o3", "o4"]
    with PushClient(gateway.url, client_id="watcher") as watcher:
        others = [PushClient(gateway.url, client_id=name) for name in names]
        try:
            for other in others:
                other.connect()
            diffs = Calls()
            watcher.on("presence_diff")(diffs)
            presence = PresenceList(watcher, "room")
            widgets.append(presence)
            recorder = Recorder(presence)
            page = FrontEnd(presence.snapshot)

            def shown() -> list[str]:
                return sorted(row["client_id"] for row in presence.clients)

            def on_page() -> list[str]:
                presence.flush()
                for delta in recorder.deltas[len(applied) :]:
                    page.apply(delta)
                    applied.append(delta)
                return sorted(row["client_id"] for row in page.rows("clients"))

            applied: list[dict[str, Any]] = []
            assert shown() == ["watcher"]
            for other in others:
                other.subscribe("room")
            wait_until(lambda: shown() == ["o1", "o2", "o3", "o4", "watcher"], what="the joins")
            (joined,) = diffs.wait_threaded(1)
            assert sorted(e["client_id"] for e in joined["data"]["joins"]) == ["o3", "o4"]
            assert on_page() == ["o1", "o2", "o3", "o4", "watcher"]

            for other in others[:3]:
                other.unsubscribe("room")
            wait_until(lambda: shown() == ["o4", "watcher"], what="the leaves")
            _, left = diffs.wait_threaded(2)
            assert sorted(e["client_id"] for e in left["data"]["leaves"]) == ["o1", "o2", "o3"]
            assert on_page() == ["o4", "watcher"]
        finally:
            for other in others:
                other.disconnect()
