"""A TCP fault proxy between clients and Redis: pass, stall, or cut_reply (forward the
request, drop the reply and close: "the connection died during acknowledge")."""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class FaultProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.mode = "pass"
        self.target = (host, target_port)
        self.cut = 0  # replies dropped so far
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind((host, 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self._closing = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        armed = False
        try:
            while not self._closing:
                if self.mode == "stall":
                    select.select([], [], [], 0.01)
                    continue
                for source in select.select([client, upstream], [], [], 0.05)[0]:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        upstream.sendall(data)
                        armed = armed or self.mode == "cut_reply"
                    elif armed:
                        self.mode = "pass"
                        self.cut += 1
                        return  # the reply is dropped and the connection closed
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._closing = True
        self.server.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
