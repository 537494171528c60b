"""``verify_and_map``: the user a verified client certificate stands for.

nats-server (server/auth.go ``checkClientTLSCertSubject``) tries, in order,
the certificate's email SANs, its DNS SANs, its URI SANs, then its subject
as an RFC 2253 distinguished name (``CN=alice,O=Acme\\, Inc,C=US``: the RDNs
in reverse order of the certificate, short attribute names, RFC 2253
escaping), and takes the first one that names a configured user.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Python's ``getpeercert()`` attribute names -> RFC 2253 / Go short names.
_SHORT_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "streetAddress": "STREET",
    "postalCode": "POSTALCODE",
    "serialNumber": "SERIALNUMBER",
    "domainComponent": "DC",
    "userId": "UID",
}

_SPECIALS = set(',+"\\<>;')


def _escape(value: str) -> str:
    """RFC 2253 escaping of one attribute value."""
    out = []
    for i, ch in enumerate(value):
        leading = i == 0 and ch in "# "
        trailing = i == len(value) - 1 and ch == " "
        out.append("\\" + ch if ch in _SPECIALS or leading or trailing else ch)
    return "".join(out)


def rfc2253(subject: Iterable[Iterable[tuple[str, str]]]) -> str:
    """The RFC 2253 string of a ``getpeercert()["subject"]`` (last RDN first)."""
    rdns = [
        "+".join(f"{_SHORT_NAMES.get(key, key)}={_escape(value)}" for key, value in rdn)
        for rdn in subject
    ]
    return ",".join(reversed(rdns))


def candidate_names(peercert: dict[str, Any]) -> list[str]:
    """The names a certificate may map to, in nats-server's order (emails, DNS, URIs, DN)."""
    sans = peercert.get("subjectAltName", ())
    names = [value for kind in ("email", "DNS", "URI") for k, value in sans if k == kind]
    subject = peercert.get("subject")
    if subject:
        names.append(rfc2253(subject))
    return names


def peer_certificate(client: Any) -> dict[str, Any] | None:
    """The verified certificate a session's client presented over TLS, or None."""
    transport = getattr(client, "transport", None)
    if transport is None:
        return None
    cert = transport.get_extra_info("peercert")
    return cert or None
