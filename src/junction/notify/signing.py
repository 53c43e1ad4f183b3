"""Signing deliveries.

Static webhooks: Standard Webhooks 1.0 — ``webhook-signature`` holds one
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` per valid secret, space
separated (several during a rotation). A secret is ``whsec_`` + base64 of 32 random bytes.

Dynamic (per-request) webhooks: an RS256 JWT in ``webhook-signature`` whose claims bind
the delivery (``webhook_id``, ``body_sha256``) to the destination (``aud``); the public
keys are served as a JWKS document at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

PREFIX = "whsec_"
JWT_LIFETIME = 300  # seconds


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def truncated(secret: str) -> str:
    """What the API shows of a secret: enough to tell secrets apart, useless to sign."""
    return f"{PREFIX}…{secret[-4:]}"


def sign(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    parts = []
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix(PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


def new_rsa_key() -> tuple[str, str, str]:
    """A fresh RS256 key: (kid, private PEM, public JWK as JSON)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    kid = "jk_" + secrets.token_hex(8)
    public.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return kid, pem, json.dumps(public, sort_keys=True)


def sign_jwt(
    private_pem: str, kid: str, *, issuer: str, audience: str, message_id: str, body: bytes
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + JWT_LIFETIME,
        "jti": message_id,
        "webhook_id": message_id,
        "body_sha256": base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("="),
    }
    return jwt.encode(claims, private_pem, algorithm="RS256", headers={"kid": kid})
