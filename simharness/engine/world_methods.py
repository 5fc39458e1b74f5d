"""The loop methods the simulated world implements, and the ones simulation refuses.

A mixin of `ControlledLoop`: network and child-process methods are looked up in
`seam` (the world registers them; the engine never imports the world), and methods
that cannot be made deterministic raise `UnsupportedInSimulation`, recorded on the
loop so a run that caught the error still has no verdict. No asyncio private
attribute is touched here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simharness.engine import seam
from simharness.errors import UnsupportedInSimulation


class WorldMethods:
    """Network and subprocess methods through `seam`; refusals recorded in `unsupported`."""

    #: The first API the run used that simulation refuses (the run then has no verdict).
    unsupported: UnsupportedInSimulation | None = None

    def refuse(self, error: UnsupportedInSimulation) -> UnsupportedInSimulation:
        """Record that the run used an API simulation refuses; return `error` to raise.

        Recorded because scenario code may catch the error: the run still has no
        verdict, whatever the code did next.
        """
        if self.unsupported is None:
            self.unsupported = error
        return error

    def _world(self, method: str) -> Callable[..., Any]:
        try:
            return seam.handler(method)
        except UnsupportedInSimulation as error:
            raise self.refuse(error) from None

    # ----- network and child processes: handled by the world through `seam` ------------
    async def create_server(self, protocol_factory: Any, host: Any = None, port: Any = None,
                            **kwargs: Any) -> Any:
        return await self._world("create_server")(self, protocol_factory, host, port, **kwargs)

    async def create_connection(self, protocol_factory: Any, host: Any = None, port: Any = None,
                                **kwargs: Any) -> Any:
        return await self._world("create_connection")(self, protocol_factory, host, port, **kwargs)

    async def getaddrinfo(self, host: Any, port: Any, *, family: int = 0, type: int = 0,
                          proto: int = 0, flags: int = 0) -> Any:
        return await self._world("getaddrinfo")(self, host, port, family=family, type=type,
                                                 proto=proto, flags=flags)

    async def subprocess_exec(self, protocol_factory: Any, program: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._world("subprocess_exec")(self, protocol_factory, program, *args, **kwargs)

    async def subprocess_shell(self, protocol_factory: Any, cmd: Any, **kwargs: Any) -> Any:
        return await self._world("subprocess_shell")(self, protocol_factory, cmd, **kwargs)

    # ----- sockets the scenario made (simulated ones on the loop's thread) --------------
    async def sock_connect(self, sock: Any, address: Any) -> None:
        return await self._world("sock_connect")(self, sock, address)  # type: ignore[no-any-return]

    async def sock_accept(self, sock: Any) -> Any:
        return await self._world("sock_accept")(self, sock)

    async def sock_recv(self, sock: Any, n: int) -> Any:
        return await self._world("sock_recv")(self, sock, n)

    async def sock_recv_into(self, sock: Any, buf: Any) -> Any:
        return await self._world("sock_recv_into")(self, sock, buf)

    async def sock_sendall(self, sock: Any, data: Any) -> None:
        return await self._world("sock_sendall")(self, sock, data)  # type: ignore[no-any-return]

    async def connect_accepted_socket(self, protocol_factory: Any, sock: Any, **kwargs: Any) -> Any:
        return await self._world("connect_accepted_socket")(self, protocol_factory, sock, **kwargs)

    async def sendfile(self, transport: Any, file: Any, offset: int = 0, count: int | None = None,
                       *, fallback: bool = True) -> Any:
        return await self._world("sendfile")(self, transport, file, offset, count, fallback=fallback)



_UNSUPPORTED = {
    "add_reader": "raw file-descriptor readers", "add_writer": "raw file-descriptor writers",
    "remove_reader": "raw file-descriptor readers", "remove_writer": "raw file-descriptor writers",
    "sock_recvfrom": "UDP", "sock_recvfrom_into": "UDP",
    "sock_sendto": "UDP", "create_datagram_endpoint": "UDP", "create_unix_server": "Unix sockets",
    "create_unix_connection": "Unix sockets", "connect_read_pipe": "pipes", "connect_write_pipe": "pipes",
    "start_tls": "TLS",
}


def _unsupported(name: str, hint: str) -> Callable[..., Any]:
    def method(self: WorldMethods, *args: Any, **kwargs: Any) -> Any:
        raise self.refuse(UnsupportedInSimulation(f"loop.{name}()", f"{hint} cannot be made deterministic"))
    method.__name__ = name
    return method



for _name, _hint in _UNSUPPORTED.items():
    setattr(WorldMethods, _name, _unsupported(_name, _hint))
