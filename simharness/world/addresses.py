"""Addresses on the simulated network: which names and literals resolve, to what.

Only loopback exists: "127.0.0.1" (and the rest of 127/8), "::1", "localhost", the
wildcards for servers, and the names a scenario declares with `hosts=` (each resolving
to loopback addresses, in order). `loop.getaddrinfo` answers from the same table.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

from simharness.engine.loop import ControlledLoop
from simharness.world.sockets import sockaddr

V4, V6 = socket.AF_INET, socket.AF_INET6
LOOPBACK = {V4: "127.0.0.1", V6: "::1"}
_NO_NETWORK = "the simulated network has only loopback hosts"


def is_wildcard(host: str) -> bool:
    return host in ("0.0.0.0", "::")


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _no_such_host(host: str) -> OSError:
    return socket.gaierror(socket.EAI_NONAME, f"Name or service not known: {host!r} ({_NO_NETWORK})")


def host_text(host: Any) -> str:
    if isinstance(host, bytes):
        return host.decode("idna")
    if not isinstance(host, str):
        raise TypeError(f"host must be a str, not {type(host).__name__}")
    return host


def port_number(port: Any) -> int:
    if port is None:
        return 0
    if isinstance(port, bytes):
        port = port.decode()
    if isinstance(port, str):
        if port.isdigit():
            port = int(port)
        else:
            try:
                return socket.getservbyname(port, "tcp")
            except OSError:
                raise socket.gaierror(socket.EAI_SERVICE, f"Servname not supported for ai_socktype: {port!r}") from None
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int or a str, not {type(port).__name__}")
    if not 0 <= port <= 65535:
        raise OverflowError("port must be 0-65535.")
    return port


def _filter(addresses: list[tuple[int, str]], family: int) -> list[tuple[int, str]]:
    chosen = [a for a in addresses if family in (0, a[0])]
    if not chosen:
        raise socket.gaierror(socket.EAI_ADDRFAMILY, "Address family for hostname not supported")
    return chosen


def _named(text: str) -> list[tuple[int, str]] | None:
    """The addresses the scenario's `hosts=` option gives the name `text` (None: no such name)."""
    loop = ControlledLoop.active
    table = loop.scenario_options.get("hosts") if loop is not None else None
    if not table or text.lower() not in table:
        return None
    return [(V4 if ":" not in address else V6, address) for address in table[text.lower()]]


def server_addresses(host: Any, family: int) -> list[tuple[int, str]]:
    """(family, address) pairs a server binds for `host` (None / "" = every interface)."""
    hosts = [host] if host is None or isinstance(host, (str, bytes)) else list(host)
    found: list[tuple[int, str]] = []
    for item in hosts:
        text = "" if item is None else host_text(item)
        if text == "":
            pairs = [(V4, "0.0.0.0"), (V6, "::")]
        elif text == "localhost":
            pairs = [(V4, "127.0.0.1"), (V6, "::1")]
        elif (named := _named(text)) is not None:
            pairs = named
        else:
            ip = _literal(text)
            if ip is None:
                raise _no_such_host(text)
            if not (ip.is_loopback or ip.is_unspecified):
                raise OSError(errno.EADDRNOTAVAIL, f"error while attempting to bind on address "
                              f"{(text, 0)!r}: cannot assign requested address ({_NO_NETWORK})")
            pairs = [(V4 if ip.version == 4 else V6, str(ip))]
        found.extend(p for p in pairs if p not in found)
    return _filter(found, family)


def connect_targets(host: Any, family: int) -> list[tuple[int, str]]:
    """(family, address) pairs a client tries for `host`, in order."""
    text = "localhost" if host is None else host_text(host)
    if text == "localhost":
        return _filter([(V4, "127.0.0.1"), (V6, "::1")], family)
    named = _named(text)
    if named is not None:
        return _filter(named, family)
    ip = _literal(text)
    if ip is None:
        raise _no_such_host(text)
    version = V4 if ip.version == 4 else V6
    if ip.is_unspecified:  # Linux connects 0.0.0.0 / :: to the loopback interface
        return _filter([(version, LOOPBACK[version])], family)
    if not ip.is_loopback:
        raise OSError(errno.ENETUNREACH, f"Connect call failed {sockaddr(version, str(ip), 0)[:1]}: "
                      f"network is unreachable ({_NO_NETWORK})")
    return _filter([(version, str(ip))], family)


async def getaddrinfo(loop: ControlledLoop, host: Any, port: Any, *, family: int = 0, type: int = 0,
                      proto: int = 0, flags: int = 0) -> list[tuple[Any, ...]]:
    """`loop.getaddrinfo` for the simulated network: loopback names and numeric addresses only."""
    if host is None and port is None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    number = port_number(port)
    if host is None:
        pairs = ([(V4, "0.0.0.0"), (V6, "::")] if flags & socket.AI_PASSIVE
                 else [(V4, "127.0.0.1"), (V6, "::1")])
    else:
        text = host_text(host)
        ip = _literal(text)
        if text == "localhost":
            pairs = [(V4, "127.0.0.1"), (V6, "::1")]
        elif (named := _named(text)) is not None:
            pairs = named
        elif ip is None:
            raise _no_such_host(text)
        else:  # numeric addresses resolve without any network, as in the real world
            pairs = [(V4 if ip.version == 4 else V6, str(ip))]
    kinds = ([(socket.SOCK_STREAM, socket.IPPROTO_TCP), (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
              (socket.SOCK_RAW, 0)] if type == 0
             else [(type, proto or {socket.SOCK_STREAM: socket.IPPROTO_TCP,
                                    socket.SOCK_DGRAM: socket.IPPROTO_UDP}.get(type, 0))])
    return [(socket.AddressFamily(fam), socket.SocketKind(kind), kind_proto, "", sockaddr(fam, address, number))
            for fam, address in _filter(pairs, family) for kind, kind_proto in kinds
            if proto in (0, kind_proto)]
