"""The ``env`` of an inline environment (REFERENCE 8.2): variables for its commands.

``env`` maps a POSIX name to ``"value"`` or ``{"value": "…"}``. ``{"credential": id}``
is refused: a stored credential is bound to its ``trusted_domains`` and only the
egress proxy may send it, to those hosts; a variable would hand the secret to any code
in the sandbox, which could send it anywhere (docs/environments.md). Names the
sandbox's network policy and layout rely on (``PATH``, ``HOME``, the proxy and CA
variables) cannot be set. The values are kept with the environment encrypted (they
may be secrets) and are never echoed back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from junction.errors import BadRequest
from junction.redact import SEALED_ENV, public_environment

MAX_ENV_VARS = 64
MAX_ENV_BYTES = 32 * 1024  # names and values together, UTF-8
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "FTP_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
    }
)


def parse_env(value: Any) -> dict[str, str]:
    """The validated variables of ``environment.env`` (400 naming the entry otherwise)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("environment.env must map variable names to values")
    if len(value) > MAX_ENV_VARS:
        raise BadRequest(f"environment.env has {len(value)} variables, at most {MAX_ENV_VARS}")
    out: dict[str, str] = {}
    size = 0
    for name, item in value.items():
        field = f"environment.env.{name}"
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise BadRequest(
                f"{field}: a variable name is letters, digits and '_', not starting with a "
                "digit (at most 128 characters)"
            )
        if name.upper() in RESERVED:
            raise BadRequest(
                f"{field}: {name} is set by the sandbox (its layout and network policy rely "
                "on it) and cannot be overridden"
            )
        out[name] = _value_of(field, item)
        size += len(name.encode()) + len(out[name].encode())
    if size > MAX_ENV_BYTES:
        raise BadRequest(
            f"environment.env holds {size} bytes of names and values, at most {MAX_ENV_BYTES}"
        )
    return out


def _value_of(field: str, item: Any) -> str:
    if isinstance(item, dict):
        unknown = sorted(set(item) - {"value", "credential"})
        if unknown:
            raise BadRequest(f"{field}: unknown key '{unknown[0]}' (use 'value')")
        if item.get("credential") is not None:
            raise BadRequest(
                f"{field}.credential: a stored credential is only sent by the egress proxy "
                "to its trusted_domains; as a variable any code in the sandbox could send it "
                "anywhere. Name it on a network.allowlist entry ('credential') instead, or "
                "pass the value itself"
            )
        item = item.get("value")
    if not isinstance(item, str):
        raise BadRequest(f'{field} must be a string or {{"value": "..."}}')
    if "\x00" in item:
        raise BadRequest(f"{field} must not contain a NUL character")
    return item


def redact(spec: Any) -> Any:
    """An ``environment`` field to echo: the ``env`` values replaced."""
    return public_environment(spec)


def seal_spec(spec: Any, seal: Callable[[dict[str, Any]], str], field: str) -> Any:
    """An environment object to keep at rest (an agent's ``base_environment``, a
    trigger's ``interaction.environment``): its ``env`` validated, the values sealed
    under the server's key beside the names with ``[redacted]`` values. Anything but an
    object with ``env`` is returned unchanged."""
    if not isinstance(spec, dict):
        return spec
    if SEALED_ENV in spec:
        raise BadRequest(f"{field}: unknown key '{SEALED_ENV}'")
    if spec.get("env") is None:
        return spec
    try:
        values = parse_env(spec["env"])
    except BadRequest as exc:  # name the field the client sent
        raise BadRequest(exc.message.replace("environment.env", f"{field}.env", 1)) from None
    if not values:
        return {k: v for k, v in spec.items() if k != "env"}
    return {**public_environment(spec), SEALED_ENV: seal(values)}


def open_spec(spec: Any, unseal: Callable[[str], dict[str, Any]]) -> Any:
    """An environment object kept by :func:`seal_spec`, with its ``env`` values back
    (for the run that uses it; never for a reply)."""
    if not isinstance(spec, dict) or SEALED_ENV not in spec:
        return spec
    out = {k: v for k, v in spec.items() if k != SEALED_ENV}
    out["env"] = unseal(spec[SEALED_ENV])
    return out
