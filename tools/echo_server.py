#!/usr/bin/python3
"""The bundled echo upstream for the quick start: a python3-websockets server
that sends every message back.

Usage: /usr/bin/python3 tools/echo_server.py [--host 127.0.0.1] [--port 8090]
Prints "echo server listening on HOST:PORT" once it accepts connections
(--port 0 lets the kernel pick the port).
"""

import argparse
import asyncio
import signal

import websockets


async def echo(ws):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, args.host, args.port, max_size=None) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"echo server listening on {host}:{port}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
