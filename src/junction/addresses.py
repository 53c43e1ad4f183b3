"""The one address check for every outbound connection a tenant can aim (SSRF).

Used by the ``url_context`` fetcher (:mod:`junction.tools.fetch`), the sandbox egress
proxy (:mod:`junction.sandbox.egress`), repository sources and OAuth2 token refresh. An
address is refused when it is not a public unicast address: unspecified, loopback,
link-local, multicast, private, reserved, shared (CGNAT), documentation ranges, site-local;
IPv4 addresses embedded in IPv6 are judged by the IPv4 address (IPv4-mapped ``::ffff:0:0/96``,
IPv4-compatible ``::/96``, 6to4 ``2002::/16``, Teredo ``2001::/32``, NAT64 ``64:ff9b::/96``
and ``64:ff9b:1::/48``); and any address of this host itself is refused too (a host with a
public address would otherwise be reachable through it) unless it lies in a network the
operator allowed explicitly.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_FLAGS = ("unspecified", "loopback", "link_local", "multicast", "private", "reserved")
#: how long the host's own address list is reused before it is read again
HOST_ADDRESSES_TTL = 10.0


class UnsafeAddress(OSError):
    """A host is, or resolves to, an address that must not be reached."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside ``ip`` (mapped, compatible, 6to4, Teredo, NAT64)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _NAT64_LOCAL or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is (``"loopback"`` …), or ``None`` when
    it is a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = embedded_ipv4(ip)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner is not None:
                return f"{inner} {embedded} embedded in IPv6"
    for flag in _FLAGS:
        if getattr(ip, f"is_{flag}"):
            return flag.replace("_", "-")
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    if not ip.is_global:
        return "not globally routable"
    return None


def numeric_host(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is a literal one, ``None`` for a name.
    :class:`UnsafeAddress` for the legacy numeric spellings (``2130706433``, ``0x7f.1``,
    ``127.1``) that resolvers would turn into an address behind the caller's back."""
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(bare)
    except OSError:
        if ":" in bare:
            raise UnsafeAddress(f"'{host}' is not a valid IP address") from None
        return None
    raise UnsafeAddress(
        f"'{host}' is a numeric spelling of {ipaddress.IPv4Address(packed)}: "
        "use a host name or a dotted-quad address"
    )


def _read_host_networks() -> tuple[IPNetwork, ...]:
    """This host's own addresses: IPv4 from the kernel's local routing table (every
    ``host LOCAL`` entry), IPv6 from ``/proc/net/if_inet6``; the host name's addresses
    as a fallback where ``/proc`` lacks them."""
    nets: set[IPNetwork] = set()
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as handle:
            last = ""
            for line in handle:
                text = line.strip()
                if text.startswith("|-- "):
                    last = text[4:]
                elif text.endswith("host LOCAL") and last and text.startswith("/"):
                    prefix = text.split()[0][1:]
                    nets.add(ipaddress.ip_network(f"{last}/{prefix}", strict=False))
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as handle:
            for line in handle:
                raw = line.split()[0]
                nets.add(ipaddress.ip_network(int(raw, 16).to_bytes(16, "big")))
    except (OSError, ValueError, IndexError):
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            nets.add(ipaddress.ip_network(str(info[4][0]).split("%", 1)[0]))
    except (OSError, ValueError):
        pass
    return tuple(nets)


_host_cache: tuple[float, tuple[IPNetwork, ...]] = (0.0, ())


def host_networks() -> tuple[IPNetwork, ...]:
    """This host's own addresses (networks for ``127.0.0.0/8``-style local routes),
    re-read at most every :data:`HOST_ADDRESSES_TTL` seconds."""
    global _host_cache
    stamp, nets = _host_cache
    now = time.monotonic()
    if not nets or now - stamp > HOST_ADDRESSES_TTL:
        nets = _read_host_networks()
        _host_cache = (now, nets)
    return nets


def is_host_address(ip: IPAddress) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := embedded_ipv4(ip)) is not None:
        candidates.append(embedded)
    return any(c.version == n.version and c in n for c in candidates for n in host_networks())


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be reached: public ones that are not this host's own, plus
    ``allow_networks`` (for an intranet host an operator trusts), or every address with
    ``allow_private`` (development and tests only)."""

    allow_private: bool = False
    allow_networks: tuple[IPNetwork, ...] = ()

    def problem(self, ip: IPAddress) -> str | None:
        if self.allow_private:
            return None
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return None
        problem = address_problem(ip)
        if problem is None and is_host_address(ip):
            return "an address of this host"
        return problem

    def check(self, host: str, addresses: list[IPAddress]) -> None:
        """:class:`UnsafeAddress` unless every one of ``addresses`` is allowed."""
        for ip in addresses:
            problem = self.problem(ip)
            if problem is not None:
                raise UnsafeAddress(
                    f"{host} resolves to {ip}, which is not a public address ({problem})"
                )
