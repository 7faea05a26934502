"""Copied as `sitecustomize.py` first on PYTHONPATH by tests/test_network.py: no connection may leave this machine.

Every connect and name lookup for a non-loopback address fails with ENETUNREACH and is appended,
with the code that tried it, to the file named by BRIEFBOT_NET_LOG at that moment (a driver running
several commands points it at one log per command). Loopback stays open, so a server can be asked
over 127.0.0.1.
"""

import errno
import ipaddress
import os
import socket
import traceback

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_local(host) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): an address to bind to, no lookup
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]").split("%")[0]
    if host.lower() in _LOCAL_NAMES or host == "":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # any other name means a DNS lookup
    return address.is_loopback or address.is_unspecified


def _refuse(what: str, target) -> None:
    stack = "".join(traceback.format_stack(limit=12)[:-2])
    with open(os.environ["BRIEFBOT_NET_LOG"], "a", encoding="utf-8") as log:
        log.write(f"--- pid {os.getpid()}: {what} {target!r}\n{stack}")
    raise OSError(errno.ENETUNREACH, f"network access blocked by the test: {what} {target!r}")


def _guard_connect(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse("connect", address)
        return real(self, address)

    return connect


def _guard_lookup(real, what):
    def lookup(host, *args, **kwargs):
        if not _is_local(host):
            _refuse(what, host)
        return real(host, *args, **kwargs)

    return lookup


def _guard_create_connection(real):
    def create_connection(address, *args, **kwargs):
        if not _is_local(address[0]):
            _refuse("create_connection", address)
        return real(address, *args, **kwargs)

    return create_connection


socket.socket.connect = _guard_connect(socket.socket.connect)
socket.socket.connect_ex = _guard_connect(socket.socket.connect_ex)
socket.create_connection = _guard_create_connection(socket.create_connection)
socket.getaddrinfo = _guard_lookup(socket.getaddrinfo, "getaddrinfo")
socket.gethostbyname = _guard_lookup(socket.gethostbyname, "gethostbyname")
socket.gethostbyname_ex = _guard_lookup(socket.gethostbyname_ex, "gethostbyname_ex")
