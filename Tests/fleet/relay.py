#!/usr/bin/env python3
"""The devices' path to the broker, which the fleet harness can cut (docs/fleet.md).

A TCP relay on loopback: every connection to --listen is piped to --upstream unchanged (TLS passes
through end to end: the devices still verify the broker's certificate). SIGUSR1 cuts the path —
open connections are reset and new ones refused — as a failed load balancer or a broker outage looks
to the gateways, while the BAL's consumers, connected to the broker directly, stay subscribed.
SIGUSR2 restores it. Prints "relay ready" once listening.
"""
import argparse
import asyncio
import signal
import socket


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", type=int, required=True)
    a = ap.parse_args()
    conns = set()

    async def handle(r, w):
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", a.upstream)
        except OSError:
            w.close()
            return
        pair = (w, uw)
        conns.add(pair)
        try:
            await asyncio.gather(pipe(r, uw), pipe(ur, w))
        finally:
            conns.discard(pair)

    server = None

    async def open_path():
        nonlocal server
        server = await asyncio.start_server(handle, "127.0.0.1", a.listen, reuse_address=True, backlog=4096)

    def cut():
        server.close()
        for w, uw in list(conns):
            for x in (w, uw):
                s = x.get_extra_info("socket")
                if s is not None:  # RST, not FIN: the gateway sees the link drop at once
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                x.close()
        conns.clear()

    loop = asyncio.get_running_loop()
    await open_path()
    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, lambda: loop.create_task(open_path()))
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print("relay ready", flush=True)
    await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
