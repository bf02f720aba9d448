"""Organisation-scoped channel names (PROTOCOL.md §5), without a network."""

from __future__ import annotations

import pytest

from praison_push.hub import Principal
from praison_push.hub.scopes import (
    ORG_SCOPED,
    display_name,
    is_run_name,
    resolve_channel,
    visible_names,
)
from praison_push.protocol import ErrorCode, FrameError

ACME = Principal(user_id="alice", org_id="acme")
NOBODY = Principal()


def test_the_scoped_channels_are_the_specs_and_the_dead_letters() -> None:
    spec = {"executions", "agents", "notifications", "billing"}
    assert frozenset({*spec, "$dead-letter"}) == ORG_SCOPED


@pytest.mark.parametrize("name", sorted(ORG_SCOPED))
def test_a_scoped_channel_resolves_to_the_callers_org(name: str) -> None:
    assert resolve_channel(name, ACME) == f"{name}#acme"
    assert resolve_channel(f"{name}#acme", ACME) == f"{name}#acme"  # own scope, named
    assert resolve_channel(name, NOBODY) == name  # no org: the shared channel


@pytest.mark.parametrize(
    ("name", "principal"),
    [("executions#globex", ACME), ("billing#acme", NOBODY), ("agents#", ACME)],
)
def test_another_orgs_scope_is_forbidden(name: str, principal: Principal) -> None:
    with pytest.raises(FrameError) as caught:
        resolve_channel(name, principal)
    assert caught.value.code is ErrorCode.FORBIDDEN
    assert caught.value.field == "channel"
    assert name in caught.value.message


def test_run_channels_are_scoped_by_name() -> None:
    assert resolve_channel("executions:exec_1", ACME) == "executions:exec_1#acme"
    assert display_name("executions:exec_1#acme") == "executions:exec_1"
    assert resolve_channel("executions:exec_1#acme", ACME) == "executions:exec_1#acme"


@pytest.mark.parametrize("name", ["alerts", "room#1", "executions.x"])
def test_other_channels_pass_through(name: str) -> None:
    assert resolve_channel(name, ACME) == name
    assert display_name(name) == name


def test_display_name_drops_only_a_scope() -> None:
    assert display_name("executions#acme") == "executions"
    assert display_name("notifications#org#x") == "notifications"
    assert display_name("executions") == "executions"


def test_visible_names_show_what_the_caller_may_name() -> None:
    names = [
        "alerts",
        "$dead-letter",
        "executions:exec_1",
        "executions:exec_2#acme",
        "notifications",
        "notifications#acme",
        "billing#globex",
        "executions-log",
    ]
    assert visible_names(names, ACME) == ["alerts", "executions-log", "notifications"]
    assert visible_names(names, NOBODY) == ["alerts", "executions-log", "notifications"]


@pytest.mark.parametrize(
    ("name", "runs"),
    [
        ("executions", True),
        ("executions#acme", True),
        ("executions:exec_1", True),
        ("executions:exec_1#acme", True),
        ("executions-log", False),
        ("executionsnotes", False),
        ("my-executions", False),
    ],
)
def test_run_names_are_the_feed_and_the_run_channels_only(name: str, runs: bool) -> None:
    assert is_run_name(name) is runs


def test_users_without_an_org_are_scoped_to_themselves() -> None:
    """Issue 13, finding 4: the run feed of a user without an org is that user's own."""
    alice, bob = Principal(user_id="alice"), Principal(user_id="bob")
    assert resolve_channel("executions", alice) == "executions#~alice"
    assert resolve_channel("executions:exec_1", bob) == "executions:exec_1#~bob"
    with pytest.raises(FrameError):
        resolve_channel("executions#~alice", bob)
    assert visible_names(["notifications#~alice", "notifications#~bob"], alice) == ["notifications"]
    with pytest.raises(ValueError, match="org id"):
        Principal(user_id="mallory", org_id="~alice")
