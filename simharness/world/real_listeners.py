"""Real TCP listeners on this machine, to tell a refused simulated connection from one
aimed at a real server the test started outside the simulation.

A test that starts a real server (a thread or a child process listening on a real
127.0.0.1 socket) and connects to it from the controlled loop cannot run in simulation:
the simulated network has no such listener, so the connection would be refused, a
failure the stock loop never shows. Such a connection is refused as unsupported instead
(no verdict). Read from /proc/net/tcp and tcp6 (Linux); elsewhere nothing is found.
"""

from __future__ import annotations

_LISTEN = "0A"


def real_listener_on(port: int) -> bool:
    """True when a real socket of this machine listens on TCP `port` (any address)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)  # the header
                for row in rows:
                    fields = row.split()
                    if len(fields) > 3 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False
