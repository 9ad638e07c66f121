"""The SMTP server of the mail benchmarks: aiosmtpd in a process of its own, counting.

Spawned, so it shares neither the event loop nor the GIL with the senders it
measures; it reports its own CPU time so a run can tell when it was the limit.
"""

from __future__ import annotations

import asyncio
import socket
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from typing import Any


class Counter:
    def __init__(self, count: Synchronized[int]) -> None:
        self.count = count

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.count.get_lock():
            self.count.value += 1
        return "250 2.0.0 OK"


def serve(port: int, ready: EventType, stop: EventType, count: Synchronized[int], cpu: Any) -> None:
    from aiosmtpd.smtp import SMTP

    async def run() -> None:
        loop = asyncio.get_running_loop()
        handler = Counter(count)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench.sto.example"), "127.0.0.1", port
        )
        ready.set()
        await asyncio.to_thread(stop.wait)
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    cpu.value = time.process_time()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
