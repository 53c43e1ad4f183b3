"""TLS interception for egress rules that inject headers into HTTPS requests.

A rule with ``headers`` or a ``credential_id`` needs the proxy to see the HTTP request,
also when the sandbox speaks HTTPS. For those hosts (and only those) the proxy
terminates the sandbox's TLS with a certificate issued on the fly by
:class:`InterceptionCA`, makes its own verified TLS connection to the real server, and
forwards the request with the headers set. Every other CONNECT is a blind tunnel.

The CA is created in memory when the backend starts; its private key never leaves
Junction's process. Sandboxes trust its certificate (it is added to the bundle in the
sandbox's private ``/etc/ssl/certs`` and named by ``NODE_EXTRA_CA_CERTS``,
``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE``), and nothing else trusts it. The upstream
connection verifies the server against the host's CA store (plus an optional extra CA
file), so interception never weakens what the sandbox could otherwise check itself.
Only HTTP/1.1 is offered (ALPN), one request per connection.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LEAF_DAYS = 7
CA_NAME = "Junction sandbox egress CA"
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


class InterceptionCA:
    """An in-memory CA that issues short-lived server certificates for allowlisted hosts."""

    def __init__(self, scratch_dir: Path) -> None:
        self._scratch = scratch_dir  # ssl can only load certificates from files
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        public = self._key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(CA_NAME))
            .issuer_name(_name(CA_NAME))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(CA_KEY_USAGE, critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._contexts: dict[str, tuple[datetime.datetime, ssl.SSLContext]] = {}
        self._lock = threading.Lock()

    def server_context(self, host: str) -> ssl.SSLContext:
        """A server-side context presenting a certificate for ``host`` (cached)."""
        now = datetime.datetime.now(datetime.UTC)
        with self._lock:
            cached = self._contexts.get(host)
            if cached is not None and cached[0] > now + datetime.timedelta(days=1):
                return cached[1]
            expires = now + datetime.timedelta(days=LEAF_DAYS)
            context = self._issue(host, now, expires)
            if len(self._contexts) > 1000:
                self._contexts.clear()
            self._contexts[host] = (expires, context)
            return context

    def _issue(
        self, host: str, now: datetime.datetime, expires: datetime.datetime
    ) -> ssl.SSLContext:
        san: x509.GeneralName
        try:
            san = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(self.cert.subject)
            .public_key(self._leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(expires)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        pem = leaf.public_bytes(serialization.Encoding.PEM) + self._leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        fd, path = tempfile.mkstemp(dir=self._scratch, suffix=".pem")
        try:
            os.write(fd, pem)
            os.close(fd)
            context.load_cert_chain(path)
        finally:
            os.unlink(path)
        return context


def upstream_context(extra_ca_file: Path | None = None) -> ssl.SSLContext:
    """How the proxy verifies real servers: the host's CA store (+ an optional extra CA)."""
    context = ssl.create_default_context()
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=str(extra_ca_file))
    context.set_alpn_protocols(["http/1.1"])
    return context
