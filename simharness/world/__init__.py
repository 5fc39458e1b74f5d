"""The simulated outside world a run talks to: network, processes, SQLite.

Lives here: the in-memory `network` and its stream `transport`, real child
`processes` with their `process_transport` and /proc reader `procstat`, and the
`sqlite` adapter for aiosqlite. Importing this package registers the world's
handlers with the engine's `seam` (the engine never imports the world).

May import: the engine and the foundations (`errors`, `outcome`, `scenario`).
"""

from __future__ import annotations

from simharness.engine import seam
from simharness.world import (addresses, network, processes, sendfile, socket_api,  # noqa: F401
                              sqlite)  # sqlite registers itself

seam.register("create_server", network.create_server)
seam.register("create_connection", network.create_connection)
seam.register("getaddrinfo", addresses.getaddrinfo)
seam.register("sendfile", sendfile.sendfile)
seam.register("subprocess_exec", processes.subprocess_exec)
seam.register("subprocess_shell", processes.subprocess_shell)
for _method in ("sock_connect", "sock_accept", "sock_recv", "sock_recv_into", "sock_sendall",
                "connect_accepted_socket"):
    seam.register(_method, getattr(socket_api, _method))
