"""Where deliveries may go: the outbound address policy of ``url_context``
(:mod:`junction.tools.fetch`), applied when a destination is registered (a clear 400)
and again at every connect (the vetting resolver), so a name that later resolves to a
private address (DNS rebinding) is still refused.

https is required unless the operator allows http; loopback, private, link-local and
other non-public addresses are refused unless allowed (``allow_private`` or the CIDRs of
``allow_networks``); credentials in the URL are refused.
"""

from __future__ import annotations

import ipaddress

import aiohttp
from yarl import URL

from junction.config import WebhookSettings
from junction.errors import BadRequest
from junction.tools.fetch import (
    AddressPolicy,
    Lookup,
    UnsafeAddress,
    VettingResolver,
    numeric_host,
    system_lookup,
)

MAX_URI_LENGTH = 2048


def policy_of(settings: WebhookSettings) -> AddressPolicy:
    return AddressPolicy(
        settings.allow_private,
        tuple(ipaddress.ip_network(n, strict=False) for n in settings.allow_networks),
    )


class Destinations:
    def __init__(self, settings: WebhookSettings, lookup: Lookup | None = None) -> None:
        self.settings = settings
        self.policy = policy_of(settings)
        self.lookup: Lookup = lookup or system_lookup

    async def check(self, raw: object, field: str = "uri") -> str:
        """``raw`` as an acceptable destination, or :class:`BadRequest` saying why not."""
        if not isinstance(raw, str) or not raw.strip():
            raise BadRequest(f"'{field}' must be an absolute https URL")
        if len(raw) > MAX_URI_LENGTH:
            raise BadRequest(f"'{field}' is longer than {MAX_URI_LENGTH} characters")
        try:
            url = URL(raw.strip())
        except (ValueError, TypeError) as exc:
            raise BadRequest(f"'{field}' is not a valid URL: {exc}") from None
        allowed = ("https", "http") if self.settings.allow_http else ("https",)
        if url.scheme not in allowed or not url.host:
            raise BadRequest(
                f"'{field}' must be an absolute {' or '.join(allowed)} URL (got '{raw}')"
                + (
                    ""
                    if self.settings.allow_http
                    else "; plain http needs the operator's JUNCTION_WEBHOOK_ALLOW_HTTP=1"
                )
            )
        if url.user is not None or url.password is not None:
            raise BadRequest(f"'{field}' must not carry credentials")
        try:
            ip = numeric_host(url.host)
            hosts = [str(ip)] if ip is not None else await self.lookup(url.host, url.port or 443)
        except UnsafeAddress as exc:
            raise BadRequest(f"'{field}' is refused: {exc}") from None
        except OSError as exc:
            raise BadRequest(
                f"'{field}': the host '{url.host}' cannot be resolved ({exc})"
            ) from None
        for text in hosts:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            problem = self.policy.problem(address)
            if problem is not None:
                raise BadRequest(
                    f"'{field}' is refused: {url.host} is {address}, not a public address "
                    f"({problem}); the operator can allow it with JUNCTION_WEBHOOK_ALLOW_PRIVATE=1 "
                    "or JUNCTION_WEBHOOK_ALLOW_NETWORKS"
                )
        return str(url)

    def session(self) -> aiohttp.ClientSession:
        """The dispatcher's HTTP client: every connect goes through the vetting resolver;
        no cookies, no proxies from the environment."""
        connector = aiohttp.TCPConnector(
            resolver=VettingResolver(self.lookup, self.policy),
            use_dns_cache=False,
            limit=max(self.settings.concurrency, 8),
            limit_per_host=max(self.settings.concurrency, 8),
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds),
        )

    def numeric_problem(self, raw: str) -> str | None:
        """At send time: a numeric host (which skips the resolver) checked again."""
        try:
            url = URL(raw)
            ip = numeric_host(url.host or "")
        except (ValueError, UnsafeAddress) as exc:
            return str(exc)
        if ip is None:
            return None
        problem = self.policy.problem(ip)
        return f"{ip} is not a public address ({problem})" if problem else None
