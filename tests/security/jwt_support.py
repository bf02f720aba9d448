"""Tokens for the security tests: HS256 and RS256 JWTs, minted with PyJWT."""

from __future__ import annotations

import json
import math
import time
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from support import timeout

SECRET = "test-jwt-secret-0123456789abcdef0123456789"
AUDIENCE, ISSUER = "praison-push", "https://issuer.test"


def hs256(
    sub: str | None = "alice", org: str | None = None, ttl: float = 300, **claims: Any
) -> str:
    """An HS256 token signed with :data:`SECRET`; ``ttl`` < 0 makes an expired one."""
    # Rounded up: a token is never shorter-lived than ``ttl`` (exp is whole seconds).
    body: dict[str, Any] = {"aud": AUDIENCE, "iss": ISSUER, "exp": math.ceil(time.time() + ttl)}
    if sub is not None:
        body["sub"] = sub
    if org is not None:
        body["org"] = org
    body.update(claims)
    return str(jwt.encode(body, SECRET, algorithm="HS256"))


#: The ``ttl`` of a token a test waits to see expire: ``exp`` is whole seconds, so it
#: lives between this and a second more (0.8 s on average), ample to open a session.
SHORT_TTL = timeout(0.3)


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> str:
    key = rsa_key().public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def write_jwks(path: Path, kid: str = "k1") -> Path:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key().public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    path.write_text(json.dumps({"keys": [jwk]}))
    return path


def rs256(
    sub: str = "alice", org: str | None = None, kid: str | None = "k1", ttl: float = 300
) -> str:
    body: dict[str, Any] = {
        "sub": sub,
        "aud": AUDIENCE,
        "iss": ISSUER,
        "exp": int(time.time() + ttl),
    }
    if org is not None:
        body["org"] = org
    headers = {"kid": kid} if kid else None
    return str(jwt.encode(body, rsa_key(), algorithm="RS256", headers=headers))
