"""Gateway configuration, with the seed's class names, fields and defaults.

``PushConfig``, ``RedisConfig``, ``PresenceConfig``, ``DeliveryConfig`` and
``PollingConfig`` carry the fields and defaults of the PraisonAI push
documentation, so ``GatewayConfig(push=PushConfig(redis=RedisConfig(...)))``
written for PraisonAI works here; ``PresenceConfig`` adds three fields (with
defaults) for big channels. praison_push adds ``AuthConfig``, ``LimitsConfig``
and ``HistoryConfig`` beside ``push`` on ``GatewayConfig``.

Decision: ``PushConfig().enabled`` is ``False`` as in the seed (push is opt-in
inside a larger PraisonAI gateway), but ``GatewayConfig()`` defaults to
``PushConfig(enabled=True)`` because a praison_push gateway exists to push.
With ``enabled=False`` channel and presence frames are refused with
``forbidden`` while pings keep working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "LOOPBACK_ORIGINS",
    "AuthConfig",
    "ChannelRule",
    "DeliveryConfig",
    "GatewayConfig",
    "HistoryConfig",
    "JWTConfig",
    "LimitsConfig",
    "MetricsConfig",
    "PollingConfig",
    "PresenceConfig",
    "PushConfig",
    "RedisConfig",
    "RunsConfig",
    "TokenGrant",
]


class _Config(BaseModel):
    # Typos in option names must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RedisConfig(_Config):
    """Redis connection for scale-out (seed: ``RedisConfig``)."""

    #: May carry a password (``redis://:secret@host``), so it stays out of reprs.
    url: str | None = Field(None, repr=False)
    host: str = "localhost"
    port: int = Field(6379, ge=1, le=65535)
    db: int = Field(0, ge=0)
    password: SecretStr | None = None
    prefix: str = "praison:push:"
    max_connections: int = Field(20, ge=1)

    def connection_url(self) -> str:
        """The URL to connect with: ``url`` when given, else built from host/port/db."""
        if self.url:
            return self.url
        return f"redis://{self.host}:{self.port}/{self.db}"


class PresenceConfig(_Config):
    """Presence tracking (seed: ``PresenceConfig``), and how changes are broadcast at scale.

    The first four fields are the seed's. praison_push adds three, so that a
    channel with thousands of members does not cost a frame per member for
    every member's join (PROTOCOL.md §8, "Presence at scale"):

    * ``broadcast_interval`` (1.0 s) and ``max_broadcast_members`` (1,000): within
      one interval a channel may send up to ``max_broadcast_members`` presence
      frames at once, as ``presence_join``/``presence_update``/``presence_leave``
      (so a small or quiet channel sees every change as it happens, as with
      PraisonAI). Changes past that wait for the end of the interval and go out
      as one frame (a ``presence_diff`` listing joins, updates and leaves, or the
      single-event frame when there is one change): a busy channel gets at most
      one batch per interval. ``broadcast_interval=0`` sends every change at once.
    * ``max_broadcast_members`` also bounds who hears changes at all: a channel
      with more members (distinct clients) gets no presence events; clients ask
      ``presence.query``.
    * ``no_broadcast_channels`` (none): channel-name patterns (``fnmatch``
      globs such as ``"public.*"``, matched against the name clients use)
      whose changes are never broadcast, like Centrifugo's ``join_leave: false``.
      At most 100 patterns of at most 200 characters.
    """

    enabled: bool = True
    heartbeat_interval: int = Field(15, gt=0)
    offline_timeout: int = Field(45, gt=0)
    broadcast_changes: bool = True
    broadcast_interval: float = Field(1.0, ge=0, le=60)
    max_broadcast_members: int = Field(1_000, ge=1)
    no_broadcast_channels: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("no_broadcast_channels")
    @classmethod
    def _patterns_are_names(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not 1 <= len(pattern) <= 200:
                raise ValueError(
                    f"a no_broadcast_channels pattern must be 1-200 characters, got {pattern!r}"
                )
        return patterns

    @model_validator(mode="after")
    def _timeout_after_heartbeat(self) -> PresenceConfig:
        if self.offline_timeout < self.heartbeat_interval:
            raise ValueError(
                f"offline_timeout ({self.offline_timeout}) must be >= heartbeat_interval "
                f"({self.heartbeat_interval})"
            )
        return self


class DeliveryConfig(_Config):
    """At-least-once delivery (seed: ``DeliveryConfig``; PROTOCOL.md §3 and §8).

    With ``enabled`` (the default, while push is enabled) every live delivery of
    a publication to a subscriber that connected with its own ``client_id`` is
    tracked until the client acknowledges it (``message_ack``): redelivered
    after ``ack_timeout × retry_backoff^n`` seconds (``_redelivered: true``,
    ``_retry_count: n``), published on ``$dead-letter`` after ``max_retries``
    redeliveries, after ``message_ttl`` seconds, or at once on ``message_nack``.
    ``enabled=False`` is plain pub/sub: the fan-out does no tracking at all.

    The seed's fields keep their names and defaults; praison_push adds:

    * ``channels``: channel-name patterns (``fnmatch`` globs such as
      ``"orders.*"``, matched against the name clients use) that narrow tracking
      to the matching channels; empty (the default) tracks every channel. Run
      channels (``executions…``) and gateway channels (``$…``) are never tracked.
    * ``store_path``: the SQLite file of ``store_backend="sqlite"``, the embedded
      durable store (pending deliveries survive a gateway restart and
      ``kill -9``). Giving a path without naming a backend chooses SQLite.
    * ``max_pending_per_client``: the most deliveries tracked for one client; past
      it the oldest goes to ``$dead-letter`` (reason ``overflow``), so a client
      that never acknowledges cannot grow the gateway's memory without bound.

    ``ack_timeout`` and ``message_ttl`` accept fractions of a second (at least
    0.05 s), which tests use; keep ``ack_timeout`` well above the client's
    acknowledgement batching (100 ms) in production.
    """

    enabled: bool = True
    ack_timeout: float = Field(30, ge=0.05, le=86_400)
    max_retries: int = Field(3, ge=0, le=100)
    retry_backoff: float = Field(2.0, ge=1.0, le=100.0)
    message_ttl: float = Field(86400, ge=0.05, le=30 * 86_400)
    store_backend: Literal["memory", "sqlite", "redis"] = "memory"
    store_path: str | None = Field(None, min_length=1, max_length=4096)
    channels: list[str] = Field(default_factory=list, max_length=100)
    max_pending_per_client: int = Field(10_000, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _path_chooses_sqlite(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("store_path") and "store_backend" not in data:
            return {**data, "store_backend": "sqlite"}
        return data

    @field_validator("channels")
    @classmethod
    def _patterns_are_names(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not 1 <= len(pattern) <= 200:
                raise ValueError(
                    f"a delivery channels pattern must be 1-200 characters, got {pattern!r}"
                )
        return patterns

    @model_validator(mode="after")
    def _path_matches_backend(self) -> DeliveryConfig:
        if self.store_backend == "sqlite" and not self.store_path:
            raise ValueError("store_backend='sqlite' needs store_path (the SQLite file to use)")
        if self.store_backend != "sqlite" and self.store_path:
            raise ValueError(
                f"store_path is only used by store_backend='sqlite', not {self.store_backend!r}"
            )
        return self

    @classmethod
    def from_store(cls, spec: str | None, *, enabled: bool = True) -> DeliveryConfig:
        """The configuration the command line's ``--store`` names.

        ``memory``, ``redis`` (the gateway's ``RedisConfig``) or ``sqlite:PATH``;
        ``None`` keeps the default (memory).

        Raises:
            ValueError: ``spec`` names no store.
        """
        if spec is None or spec == "memory":
            return cls(enabled=enabled)
        if spec == "redis":
            return cls(enabled=enabled, store_backend="redis")
        kind, _, path = spec.partition(":")
        if kind == "sqlite" and path:
            return cls(enabled=enabled, store_backend="sqlite", store_path=path)
        raise ValueError(f"--store {spec!r}: use memory, redis or sqlite:PATH")


class PollingConfig(_Config):
    """HTTP long-poll fallback (seed: ``PollingConfig``)."""

    enabled: bool = True
    long_poll_timeout: int = Field(30, gt=0)
    max_batch_size: int = Field(100, ge=1)


class PushConfig(_Config):
    """Push features (seed: ``PushConfig``; ``enabled`` is opt-in as in the seed)."""

    enabled: bool = False
    redis: RedisConfig | None = None
    presence: PresenceConfig = Field(default_factory=PresenceConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    polling: PollingConfig = Field(default_factory=PollingConfig)


class TokenGrant(_Config):
    """A token bound to an identity, so per-user and per-org limits apply to it."""

    token: SecretStr
    user_id: str | None = None
    org_id: str | None = None


Access = Literal["all", "owner", "operator", "nobody"]


class ChannelRule(_Config):
    """Who may do what on the channels whose names match ``pattern``.

    ``pattern`` is a glob (``*``, ``?``) matched against the name clients use,
    with placeholders ``{user_id}`` and ``{org_id}`` standing for one name
    segment (no ``:``). Each action (``subscribe``, ``publish``, ``presence``,
    ``history``) is open to ``all`` (every principal that connected),
    ``owner`` (the principal whose user and org are the placeholders' values;
    everyone for a pattern without placeholders), ``operator`` (static
    tokens without a user) or ``nobody``. Operators may do anything but
    ``nobody``; so may a principal holding ``permission`` (a JWT permission).
    """

    pattern: str = Field(min_length=1, max_length=200)
    subscribe: Access = "all"
    publish: Access = "all"
    presence: Access = "all"
    history: Access = "all"
    permission: str | None = None


_HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


class JWTConfig(_Config):
    """Accept JSON Web Tokens (the ``jwt`` extra: ``pip install 'praison-push[jwt]'``).

    HS256 (and HS384/512) with a shared ``secret``; RS256 (and the other
    public-key algorithms) with a PEM ``public_key`` or a ``jwks_file`` (a JSON
    Web Key Set on disk, keys picked by the token's ``kid``). Claims: ``sub`` →
    the user, ``org`` → the organisation, ``permissions`` (a list; ``dead_letter``
    reads ``$dead-letter``), ``channels`` (a list of channel-name patterns the
    token is limited to), ``exp`` (required unless ``require_exp=False``),
    ``aud`` and ``iss`` (checked when ``audience``/``issuer`` are set). The claim
    names are configurable.
    """

    algorithms: list[str] = Field(default_factory=lambda: ["HS256"], min_length=1)
    secret: SecretStr | None = None
    #: A PEM public key: not secret, but long; kept out of reprs.
    public_key: str | None = Field(None, repr=False)
    jwks_file: str | None = None
    audience: str | None = None
    issuer: str | None = None
    leeway: float = Field(0.0, ge=0, le=300)
    require_exp: bool = True
    user_claim: str = "sub"
    org_claim: str = "org"
    permissions_claim: str = "permissions"
    channels_claim: str = "channels"

    @model_validator(mode="after")
    def _keys_match_algorithms(self) -> JWTConfig:
        known = (*_HMAC_ALGORITHMS, *_KEY_ALGORITHMS)
        for algorithm in self.algorithms:
            if algorithm not in known:
                raise ValueError(f"JWTConfig.algorithms: {algorithm!r} is not one of {known}")
        hmac = any(a in _HMAC_ALGORITHMS for a in self.algorithms)
        keyed = any(a in _KEY_ALGORITHMS for a in self.algorithms)
        if hmac and keyed:
            raise ValueError("JWTConfig.algorithms: do not mix HMAC (HS*) and public-key ones")
        if hmac and self.secret is None:
            raise ValueError(f"JWTConfig: {self.algorithms} needs a secret")
        if keyed and (self.public_key is None) == (self.jwks_file is None):
            raise ValueError(f"JWTConfig: {self.algorithms} needs public_key or jwks_file (one)")
        return self


#: The browser origins a gateway admits by default: pages of this machine, any port.
LOOPBACK_ORIGINS = tuple(
    f"{scheme}://{host}:*"
    for host in ("localhost", "127.0.0.1", "[::1]")
    for scheme in ("http", "https")
)


class AuthConfig(_Config):
    """Who may connect, and from which browser pages.

    With no ``tokens`` the gateway is open (fine on 127.0.0.1; the CLI refuses
    other hosts without ``--insecure``). A plain string token is a shared
    secret with no identity (an operator: it may read ``$dead-letter``); a
    :class:`TokenGrant` names the user (and org) it stands for. Tokens are
    compared in constant time and never appear in logs or reprs.

    ``jwt``: accept JSON Web Tokens too (:class:`JWTConfig`).

    ``channel_rules``: who may subscribe, publish, query presence and read
    history per channel-name pattern (:class:`ChannelRule`); the first rule
    that matches decides, and these come before the built-in ones
    (``user:{user_id}:*`` and ``org:{org_id}:*`` for their owners,
    ``public:*`` for all, ``$dead-letter`` for operators and the
    ``dead_letter`` permission, other ``$`` channels for nobody).

    ``allowed_origins``: the browser pages (``Origin``) that may open a
    WebSocket or send a state-changing HTTP request, besides the gateway's own
    origin: ``scheme://host[:port]`` or ``scheme://host:*`` (any port),
    ``"null"`` for sandboxed pages, or ``"*"`` for every origin. By default
    ``localhost``, ``127.0.0.1`` and ``[::1]`` on any port. Requests without
    ``Origin`` (not from a browser page) are not affected.

    ``allowed_hosts``: host names a request reaching the gateway over a loopback
    address may carry in ``Host`` besides loopback names (a reverse proxy on the
    same machine forwarding its public name); ``"*"`` turns the check off.
    Refusing other names stops DNS rebinding.
    """

    tokens: list[SecretStr | TokenGrant] = Field(default_factory=list)
    jwt: JWTConfig | None = None
    channel_rules: list[ChannelRule] = Field(default_factory=list, max_length=1000)
    allowed_origins: list[str] = Field(default_factory=lambda: list(LOOPBACK_ORIGINS))
    allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            scheme, sep, rest = origin.partition("://")
            ok = origin in ("*", "null") or (
                sep and scheme in ("http", "https") and rest and "/" not in rest
            )
            if not ok:
                raise ValueError(
                    "an allowed_origins entry must be '*', 'null' or scheme://host[:port|:*] "
                    f"(http or https, no path), got {origin!r}"
                )
        return origins

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_names(cls, hosts: list[str]) -> list[str]:
        return [host.lower() for host in hosts]

    @field_validator("tokens", mode="before")
    @classmethod
    def _accept_plain_strings(cls, value: object) -> object:
        if isinstance(value, str):
            return [value]
        return value

    @property
    def required(self) -> bool:
        """Whether a token is needed to connect."""
        return bool(self.tokens) or self.jwt is not None


class LimitsConfig(_Config):
    """Resource limits; every one is enforced by the gateway (PROTOCOL.md §7)."""

    max_message_size: int = Field(64 * 1024, ge=256)
    max_connections: int = Field(100_000, ge=1)
    max_connections_per_ip: int = Field(1_000, ge=1)
    loopback_exempt: bool = True
    max_connections_per_user: int = Field(5, ge=1)
    max_connections_per_org: int = Field(100, ge=1)
    max_subscriptions_per_connection: int = Field(1_000, ge=1)
    max_channels: int = Field(100_000, ge=1)
    max_runs_per_connection: int = Field(16, ge=1)
    auth_timeout: float = Field(5.0, gt=0)
    idle_timeout: float = Field(300.0, gt=0)
    send_queue_max_frames: int = Field(4_096, ge=1)
    send_queue_max_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    header_timeout: float = Field(10.0, gt=0)
    """Seconds a new HTTP request (a WebSocket upgrade included) may take to send its
    whole request head; slower ones are closed (slowloris)."""
    body_timeout: float = Field(10.0, gt=0)
    """Seconds an HTTP request body may take to arrive once its head has (HTTP 408,
    ``limit_exceeded`` naming ``body_timeout``, past it)."""
    connect_rate_per_ip: float = Field(20.0, gt=0)
    """New TCP connections per second one IP may open, sustained (a token bucket;
    loopback peers are exempt while ``loopback_exempt``)."""
    connect_burst_per_ip: int = Field(100, ge=1)
    """New TCP connections one IP may open at once before ``connect_rate_per_ip`` applies."""
    publish_rate: float = Field(1_000.0, gt=0)
    """Publications per second one end user's connection may make, sustained (a
    token bucket); past it the client gets ``rate_limited`` with
    ``details.retry_after``. Operators (static tokens without a user, anyone on
    a gateway without auth) are not limited: they are the deployment's own
    services."""
    publish_burst: int = Field(2_000, ge=1)
    """Publications one connection may make at once before ``publish_rate`` applies."""
    presence_page_size: int = Field(100, ge=1, le=1000)
    """Entries of a ``presence.list`` page when the query names no ``limit``."""
    presence_page_max_bytes: int = Field(256 * 1024, ge=1024)
    """Most bytes of entries one ``presence.list`` page holds (at least one entry):
    a small query cannot ask for megabytes."""
    client_error_log_interval: float = Field(10.0, gt=0)
    """Seconds between two log records of one kind of client error (the next one
    counts those left out); client errors never log a traceback."""
    #: Seconds a replay in pages waits for a peer that takes none of its frames
    #: before closing with 1013 (a recovery never overflows the send queue).
    replay_stall_timeout: float = Field(30.0, gt=0, le=3_600)
    #: What happens to a subscriber whose send queue is full, per channel-name
    #: pattern (``fnmatch`` globs on the name clients use; the first match wins):
    #: ``"disconnect"`` (the default for every channel) closes it with 1013 and the
    #: client recovers from history; ``"drop"`` keeps it connected, drops the
    #: publications that do not fit and sends a ``channel_gap`` notice before the
    #: next one that does (for feeds where the latest value is what matters).
    slow_consumer_policies: dict[str, Literal["disconnect", "drop"]] = Field(
        default_factory=dict, max_length=100
    )

    @field_validator("slow_consumer_policies")
    @classmethod
    def _policy_patterns_are_names(cls, policies: dict[str, str]) -> dict[str, str]:
        for pattern in policies:
            if not 1 <= len(pattern) <= 200:
                raise ValueError(
                    f"a slow_consumer_policies pattern must be 1-200 characters, got {pattern!r}"
                )
        return policies


class HistoryConfig(_Config):
    """Per-channel history kept for recovery (``since``) and ``channel.history``.

    ``max_memory_bytes`` bounds what the in-memory store holds across *all*
    channels (about the frames' encoded bytes): past it, the history of the least recently written
    channels is dropped first (their offsets keep counting, so a later recovery
    there answers ``recovered: false``). Without it, publishing to many channels
    nobody listens on would hold ``size`` frames of each for ``ttl``.
    """

    size: int = Field(1_000, ge=0)
    ttl: float = Field(3_600.0, gt=0)
    dedup_window: float = Field(120.0, gt=0)
    max_memory_bytes: int = Field(128 * 1024 * 1024, ge=64 * 1024)


class RunsConfig(_Config):
    """Agent runs: how long an approval request waits, and who else may answer it."""

    approval_timeout: float = Field(300.0, gt=0)
    """Seconds a run waits for an answer to an approval request before it is a denial."""
    approvers: list[str] = Field(default_factory=list)
    """User ids (``TokenGrant.user_id``, a JWT ``sub``) that may answer any approval
    request of their organisation's runs, besides each run's requester."""


class MetricsConfig(_Config):
    """``GET /metrics`` (Prometheus text; needs the ``metrics`` extra)."""

    enabled: bool = True
    """Serve ``/metrics`` (404 when off)."""
    public: bool = False
    """Serve it without a token. By default it asks for the gateway's token, like
    every other route (an open gateway, with no tokens, serves it openly)."""


class GatewayConfig(_Config):
    """Everything a gateway needs; all sections have working defaults."""

    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    push: PushConfig = Field(default_factory=lambda: PushConfig(enabled=True))
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    history: HistoryConfig = Field(default_factory=HistoryConfig)
    runs: RunsConfig = Field(default_factory=RunsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    auto_create_channels: bool = True
    demo_agents: bool = True
