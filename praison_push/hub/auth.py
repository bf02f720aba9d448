"""Token checks: static tokens, JWTs, or your own function; nothing secret logged.

:class:`Authenticator` maps what a client presented to a :class:`Principal`,
or refuses it with an :class:`AuthError` saying why (``invalid_token``,
``token_expired``, ``auth_required``). Static tokens are compared in constant
time; a JWT is checked by :mod:`.jwt_auth` (PyJWT, the ``jwt`` extra). A
gateway given ``authenticate=`` (see :data:`AuthenticateHook`) lets that
function decide instead.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..config import AuthConfig, TokenGrant
from .principal import OPERATOR, AuthError, Principal

if TYPE_CHECKING:
    from .jwt_auth import JWTVerifier

__all__ = ["AuthError", "AuthRequest", "AuthenticateHook", "Authenticator"]

logger = logging.getLogger("praison_push.hub")


@dataclass(frozen=True)
class AuthRequest:
    """What a transport knows of the request a token came with.

    Attributes:
        transport: ``websocket``, ``sse`` or another transport's name.
        peer: The remote address (``""`` when unknown).
        path: The request path below the gateway's mount point.
        headers: Request headers, lower-case names (``authorization`` left out).
    """

    transport: str = "websocket"
    peer: str = ""
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


AuthenticateHook = Callable[[str | None, AuthRequest], Principal | None]
"""``authenticate(token, request) -> Principal | None``: your own check. Return the
principal to accept, ``None`` (or raise :class:`AuthError`) to refuse. It runs on
the event loop: keep it quick (no blocking I/O)."""


class Authenticator:
    """Maps a presented token to a :class:`Principal`, or refuses it.

    Every configured static token is compared with :func:`hmac.compare_digest`,
    and all of them are compared every time, so the time taken says nothing
    about which token nearly matched. A token matching none is tried as a JWT
    when :class:`~praison_push.config.JWTConfig` is set.

    Args:
        config: The gateway's authentication settings.
        hook: Your own check, which then decides alone.
    """

    def __init__(self, config: AuthConfig, hook: AuthenticateHook | None = None) -> None:
        self._grants: list[tuple[bytes, Principal]] = []
        self._hook = hook
        for entry in config.tokens:
            if isinstance(entry, TokenGrant):
                secret = entry.token.get_secret_value()
                principal = Principal(entry.user_id, entry.org_id)
                if principal.anonymous:
                    principal = OPERATOR
            else:
                secret = entry.get_secret_value()
                principal = OPERATOR
            self._grants.append((secret.encode("utf-8"), principal))
        self._jwt: JWTVerifier | None = None
        if config.jwt is not None:
            from .jwt_auth import JWTVerifier

            self._jwt = JWTVerifier(config.jwt)

    def __repr__(self) -> str:
        jwt = " jwt" if self._jwt is not None else ""
        hook = " hook" if self._hook is not None else ""
        return f"<Authenticator tokens={len(self._grants)}{jwt}{hook}>"

    @property
    def has_hook(self) -> bool:
        """Whether your own ``authenticate`` decides (it may accept no token at all)."""
        return self._hook is not None

    @property
    def required(self) -> bool:
        """Whether connections must present a token (or pass your hook)."""
        return bool(self._grants) or self._jwt is not None or self._hook is not None

    def login(self, token: str | None, request: AuthRequest | None = None) -> Principal:
        """The principal for ``token``.

        With no authentication configured everyone is the operator.

        Raises:
            AuthError: The token is missing, invalid or expired.
        """
        if self._hook is not None:
            try:
                principal = self._hook(token, request or AuthRequest())
            except AuthError:
                raise
            except Exception:
                # A bug in the hook refuses the client; it is the operator's to see.
                logger.exception("the authenticate hook failed")
                raise AuthError("authentication failed") from None
            if principal is None:
                message = "invalid token" if token else "a valid token is required"
                raise AuthError(message, "invalid_token" if token else "auth_required")
            return principal
        if not self.required:
            return OPERATOR
        if token is None:
            raise AuthError("a valid token is required", "auth_required")
        presented = token.encode("utf-8", "surrogatepass")
        found: Principal | None = None
        for secret, principal in self._grants:
            if hmac.compare_digest(presented, secret) and found is None:
                found = principal
        if found is not None:
            return found
        if self._jwt is not None and token.count(".") == 2:
            return self._jwt.verify(token)
        raise AuthError("invalid token")

    def check(self, token: str | None, request: AuthRequest | None = None) -> Principal | None:
        """The principal for ``token``, or ``None`` when it is not accepted."""
        try:
            return self.login(token, request)
        except AuthError:
            return None
