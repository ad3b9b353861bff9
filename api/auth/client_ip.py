"""The caller's IP address, believing ``X-Forwarded-For`` only from configured proxies.

Anyone can send ``X-Forwarded-For``; only a proxy we run appends a truthful hop. So the header is
read only when the direct peer is in ``server.trusted_proxies``, and then from the right: the first
address that is not itself a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _parse_ip(value: str) -> str | None:
    """``value`` as a canonical IP string, or None when it is not an IP address."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


class ClientIpResolver:
    """Resolve the client IP of a request.

    Args:
        trusted_proxies: IPs or CIDRs of the reverse proxies in front of the API.

    Source: RFC 7239 §5.2 and the de-facto ``X-Forwarded-For`` semantics (each proxy appends
        the address it received the request from).
    """

    def __init__(self, trusted_proxies: Iterable[str]):
        self._trusted: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in trusted_proxies
        )

    def _is_trusted(self, ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str | None:
        """The client IP, or None when the peer is not an IP address (e.g. a Unix socket).

        Args:
            peer: the address of the TCP peer (``request.client.host``).
            forwarded_for: every ``X-Forwarded-For`` header value, in the order received.
        """
        current = _parse_ip(peer or "")
        if current is None or not self._is_trusted(current):
            return current
        hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            ip = _parse_ip(hop)
            if ip is None:
                # A garbled hop: stop at the last address a trusted proxy vouched for.
                return current
            current = ip
            if not self._is_trusted(ip):
                return ip
        return current
