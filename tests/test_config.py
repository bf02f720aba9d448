"""Configuration: the seed's names and defaults, loud validation, no secrets in reprs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from praison_push.config import (
    AuthConfig,
    DeliveryConfig,
    GatewayConfig,
    HistoryConfig,
    LimitsConfig,
    PollingConfig,
    PresenceConfig,
    PushConfig,
    RedisConfig,
    TokenGrant,
)


def fields(model: BaseModel, *names: str) -> tuple[Any, ...]:
    return tuple(getattr(model, name) for name in names)


# --- seed defaults, exactly as the PraisonAI push documentation has them -------------------------


def test_push_config_seed_defaults() -> None:
    config = PushConfig()
    assert config.enabled is False  # opt-in, as in the seed
    assert config.redis is None
    assert isinstance(config.presence, PresenceConfig)
    assert isinstance(config.delivery, DeliveryConfig)
    assert isinstance(config.polling, PollingConfig)


def test_redis_config_seed_defaults() -> None:
    config = RedisConfig()
    assert fields(config, "url", "host", "port", "db", "password") == (
        None,
        "localhost",
        6379,
        0,
        None,
    )
    assert config.prefix == "praison:push:"
    assert config.max_connections == 20


def test_presence_config_seed_defaults() -> None:
    config = PresenceConfig()
    assert fields(
        config, "heartbeat_interval", "offline_timeout", "enabled", "broadcast_changes"
    ) == (15, 45, True, True)


def test_delivery_config_seed_defaults() -> None:
    config = DeliveryConfig()
    assert fields(
        config, "ack_timeout", "max_retries", "retry_backoff", "message_ttl", "store_backend"
    ) == (30, 3, 2.0, 86400, "memory")
    assert config.enabled is True


def test_polling_config_seed_defaults() -> None:
    assert fields(PollingConfig(), "enabled", "long_poll_timeout", "max_batch_size") == (
        True,
        30,
        100,
    )


def test_gateway_config_defaults_push_on() -> None:
    config = GatewayConfig()
    assert config.push.enabled is True  # a praison_push gateway exists to push
    assert (config.host, config.port) == ("127.0.0.1", 8765)
    assert config.auth.tokens == []
    assert config.auth.required is False
    assert config.auto_create_channels is True
    assert config.push.presence == PresenceConfig()


def test_limits_config_defaults() -> None:
    limits = LimitsConfig()
    assert limits.max_message_size == 64 * 1024
    assert limits.max_connections_per_user == 5
    assert limits.max_connections_per_org == 100
    assert limits.idle_timeout == 300.0
    assert limits.auth_timeout == 5.0
    assert limits.loopback_exempt is True
    assert limits.send_queue_max_frames >= 1
    assert limits.send_queue_max_bytes >= 1024


def test_history_config_defaults() -> None:
    history = HistoryConfig()
    assert (history.size, history.ttl, history.dedup_window) == (1000, 3600.0, 120.0)


def test_seed_style_nesting_works() -> None:
    config = GatewayConfig(
        push=PushConfig(
            enabled=True,
            redis=RedisConfig(host="redis.local", port=6380, password="pw"),
            presence=PresenceConfig(heartbeat_interval=5, offline_timeout=10),
            delivery=DeliveryConfig(max_retries=5),
            polling=PollingConfig(long_poll_timeout=10),
        )
    )
    assert config.push.redis is not None
    assert config.push.redis.connection_url() == "redis://redis.local:6380/0"
    assert config.push.presence.offline_timeout == 10


def test_each_default_section_is_a_fresh_object() -> None:
    first, second = GatewayConfig(), GatewayConfig()
    assert first.push is not second.push
    assert first.auth.tokens is not second.auth.tokens


# --- redis ---------------------------------------------------------------------------------------


def test_redis_url_wins_over_host_and_port() -> None:
    assert RedisConfig(url="redis://x:1/2", host="ignored").connection_url() == "redis://x:1/2"
    assert RedisConfig(db=3).connection_url() == "redis://localhost:6379/3"


# --- validation names the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "field"),
    [
        (RedisConfig, {"port": 0}, "port"),
        (RedisConfig, {"port": 70000}, "port"),
        (RedisConfig, {"max_connections": 0}, "max_connections"),
        (RedisConfig, {"db": -1}, "db"),
        (PresenceConfig, {"heartbeat_interval": 0}, "heartbeat_interval"),
        (DeliveryConfig, {"ack_timeout": 0}, "ack_timeout"),
        (DeliveryConfig, {"max_retries": -1}, "max_retries"),
        (DeliveryConfig, {"retry_backoff": 0.5}, "retry_backoff"),
        (DeliveryConfig, {"store_backend": "disk"}, "store_backend"),
        (DeliveryConfig, {"ack_timeout": 0.01}, "ack_timeout"),
        (DeliveryConfig, {"message_ttl": 0}, "message_ttl"),
        (DeliveryConfig, {"max_pending_per_client": 0}, "max_pending_per_client"),
        (DeliveryConfig, {"channels": [""]}, "channels"),
        (PollingConfig, {"max_batch_size": 0}, "max_batch_size"),
        (LimitsConfig, {"max_message_size": 10}, "max_message_size"),
        (LimitsConfig, {"max_connections": 0}, "max_connections"),
        (LimitsConfig, {"idle_timeout": 0}, "idle_timeout"),
        (LimitsConfig, {"auth_timeout": -1}, "auth_timeout"),
        (LimitsConfig, {"send_queue_max_bytes": 10}, "send_queue_max_bytes"),
        (HistoryConfig, {"size": -1}, "size"),
        (HistoryConfig, {"ttl": 0}, "ttl"),
        (GatewayConfig, {"port": -1}, "port"),
        (GatewayConfig, {"push": {"enabled": "maybe"}}, "push.enabled"),
        (GatewayConfig, {"limits": {"max_channels": 0}}, "limits.max_channels"),
    ],
)
def test_invalid_values_name_the_field(
    model: type[BaseModel], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model(**kwargs)
    locs = [".".join(str(part) for part in error["loc"]) for error in info.value.errors()]
    assert field in locs
    assert field.split(".")[-1] in str(info.value)


def test_offline_timeout_must_not_undercut_the_heartbeat() -> None:
    with pytest.raises(ValidationError, match=r"offline_timeout \(10\).*heartbeat_interval \(15\)"):
        PresenceConfig(offline_timeout=10)
    assert PresenceConfig(heartbeat_interval=10, offline_timeout=10).offline_timeout == 10


@pytest.mark.parametrize(
    ("model", "typo"),
    [
        (GatewayConfig, "auto_create_channel"),
        (PushConfig, "enable"),
        (RedisConfig, "hostname"),
        (PresenceConfig, "heartbeat"),
        (DeliveryConfig, "ack_timeout_s"),
        (PollingConfig, "timeout"),
        (AuthConfig, "token"),
        (LimitsConfig, "max_message_bytes"),
        (HistoryConfig, "length"),
        (TokenGrant, "user"),
    ],
)
def test_extra_fields_are_forbidden(model: type[BaseModel], typo: str) -> None:
    kwargs: dict[str, Any] = {typo: 1}
    if model is TokenGrant:
        kwargs["token"] = "t"
    with pytest.raises(ValidationError) as info:
        model(**kwargs)
    assert info.value.errors()[0]["type"] == "extra_forbidden"
    assert typo in str(info.value)


def test_assignment_is_validated() -> None:
    limits = LimitsConfig()
    with pytest.raises(ValidationError, match="idle_timeout"):
        limits.idle_timeout = -5
    limits.idle_timeout = 1.5
    assert limits.idle_timeout == 1.5


# --- auth and secrets ----------------------------------------------------------------------------


def test_auth_tokens_accept_plain_strings_and_grants() -> None:
    auth = AuthConfig(tokens=["s1", TokenGrant(token="s2", user_id="u", org_id="o")])
    assert auth.required is True
    first, second = auth.tokens
    assert isinstance(first, SecretStr)
    assert first.get_secret_value() == "s1"
    assert isinstance(second, TokenGrant)
    assert second.token.get_secret_value() == "s2"
    assert (second.user_id, second.org_id) == ("u", "o")


def test_a_single_token_string_is_a_list_of_one() -> None:
    auth = AuthConfig.model_validate({"tokens": "solo"})
    assert [token.get_secret_value() for token in auth.tokens] == ["solo"]  # type: ignore[union-attr]


def test_grant_from_a_plain_dict() -> None:
    auth = AuthConfig.model_validate({"tokens": [{"token": "s", "user_id": "u"}]})
    grant = auth.tokens[0]
    assert isinstance(grant, TokenGrant)
    assert grant.user_id == "u"
    assert grant.org_id is None


@pytest.mark.parametrize("secret", ["hunter2-token", "grant-secret-xyz", "redis-pass-123"])
def test_secrets_never_appear_in_repr_or_str(secret: str) -> None:
    config = GatewayConfig(
        push=PushConfig(redis=RedisConfig(password="redis-pass-123")),
        auth=AuthConfig(tokens=["hunter2-token", TokenGrant(token="grant-secret-xyz")]),
    )
    for text in (
        repr(config),
        str(config),
        repr(config.auth),
        repr(config.auth.tokens),
        repr(config.push.redis),
        repr(config.auth.tokens[1]),
    ):
        assert secret not in text
    assert secret not in config.model_dump_json()
    assert "**********" in repr(config.auth)


def test_redis_url_with_a_password_stays_out_of_reprs() -> None:
    from praison_push.config import GatewayConfig, PushConfig, RedisConfig

    config = GatewayConfig(push=PushConfig(redis=RedisConfig(url="redis://:hunter2@db:6379/0")))
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)


def test_runs_config_defaults_and_bounds() -> None:
    from praison_push.config import RunsConfig

    runs = GatewayConfig().runs
    assert (runs.approval_timeout, runs.approvers) == (300.0, [])
    for bad in (0, -1):
        with pytest.raises(ValidationError, match="approval_timeout"):
            RunsConfig(approval_timeout=bad)
    with pytest.raises(ValidationError, match="approver"):
        RunsConfig(approver=["typo"])  # type: ignore[call-arg]
