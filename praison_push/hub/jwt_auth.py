"""JSON Web Tokens, checked with PyJWT (the ``jwt`` extra), imported only when configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import JWTConfig
from .principal import AuthError, Principal

__all__ = ["JWTVerifier"]


def _import_jwt() -> Any:
    try:
        import jwt
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "jwt":
            raise
        raise ModuleNotFoundError(
            "AuthConfig.jwt needs the jwt extra: pip install 'praison-push[jwt]'", name=exc.name
        ) from None
    return jwt


def _strings(value: Any, claim: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise AuthError(f"claim {claim!r} must be a string or a list of strings")


class JWTVerifier:
    """Verifies a JWT's signature and claims, and makes its :class:`Principal`.

    Raises (at construction):
        ModuleNotFoundError: PyJWT is not installed.
        ValueError: The key or the JWKS file cannot be read.
    """

    def __init__(self, config: JWTConfig) -> None:
        self._jwt = _import_jwt()
        self._config = config
        self._key: Any = None
        self._jwks: dict[str, Any] = {}
        if config.secret is not None:
            self._key = config.secret.get_secret_value()
        elif config.public_key is not None:
            self._key = config.public_key
        elif config.jwks_file is not None:
            self._jwks = self._read_jwks(config.jwks_file)

    def __repr__(self) -> str:
        return f"<JWTVerifier {self._config.algorithms}>"

    def _read_jwks(self, path: str) -> dict[str, Any]:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            keys = self._jwt.PyJWKSet.from_dict(data).keys
        except (OSError, ValueError, self._jwt.PyJWTError) as exc:
            raise ValueError(f"JWTConfig.jwks_file {path!r} cannot be read: {exc}") from None
        return {str(key.key_id): key.key for key in keys}

    def _key_for(self, token: str) -> Any:
        if not self._jwks:
            return self._key
        try:
            kid = self._jwt.get_unverified_header(token).get("kid")
        except self._jwt.PyJWTError:
            raise AuthError("invalid token") from None
        if kid is None and len(self._jwks) == 1:
            return next(iter(self._jwks.values()))
        key = self._jwks.get(str(kid))
        if key is None:
            raise AuthError("invalid token: no key for its 'kid'")
        return key

    def verify(self, token: str) -> Principal:
        """The principal the token stands for.

        Raises:
            AuthError: ``token_expired`` past ``exp``; ``invalid_token`` otherwise.
        """
        jwt, config = self._jwt, self._config
        required = ["exp"] if config.require_exp else []
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=config.algorithms,
                audience=config.audience,
                issuer=config.issuer,
                leeway=config.leeway,
                options={"require": required, "verify_aud": config.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired", "token_expired") from None
        except jwt.PyJWTError as exc:
            # PyJWT's messages name the failed check, never the token.
            raise AuthError(f"invalid token: {exc}") from None
        user = claims.get(config.user_claim)
        org = claims.get(config.org_claim)
        if user is not None and not isinstance(user, str):
            raise AuthError(f"claim {config.user_claim!r} must be a string")
        if org is not None and not isinstance(org, str):
            raise AuthError(f"claim {config.org_claim!r} must be a string")
        channels = claims.get(config.channels_claim)
        exp = claims.get("exp")
        try:
            return Principal(
                user_id=user,
                org_id=org,
                permissions=frozenset(
                    _strings(claims.get(config.permissions_claim), "permissions")
                ),
                channels=None
                if channels is None
                else tuple(_strings(channels, config.channels_claim)),
                expires_at=float(exp) if isinstance(exp, (int, float)) else None,
            )
        except ValueError as exc:
            raise AuthError(f"invalid token: {exc}") from None
