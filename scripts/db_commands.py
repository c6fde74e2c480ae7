"""Count the database commands the shop sends, by command and collection, through a TCP proxy.

Start a database, this proxy in front of it, and the stack pointed at the proxy; then take a
count before and after some work (``kill -USR1`` writes the counts so far as JSON)::

    .venv/bin/nx-27017 --data-dir /tmp/nx -p 27117 &
    .venv/bin/python scripts/db_commands.py --listen 27017 --server 27117 --out /tmp/db-commands.json &
    MONGODB_URI=mongodb://127.0.0.1:27017 python3 dev.py up

Only MongoDB's OP_MSG requests are counted (every driver of MongoDB 3.6 and later sends those);
the answers pass through untouched.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import struct
from pathlib import Path

import bson

OP_MSG = 2013
HEADER = 16


def command_of(message: bytes) -> str | None:
    """``"<command> <collection>"`` of an OP_MSG request, from its body section; None for anything else."""
    _length, _request, _reply_to, opcode = struct.unpack_from("<iiii", message, 0)
    body = HEADER + 4  # after the flag bits
    if opcode != OP_MSG or message[body] != 0:
        return None
    size = struct.unpack_from("<i", message, body + 1)[0]
    doc = bson.decode(message[body + 1:body + 1 + size])
    name = next(iter(doc))
    target = doc[name]
    return f"{name} {target}" if isinstance(target, str) else name


class Proxy:
    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.counts: collections.Counter[str] = collections.Counter()

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.server_port)
        await asyncio.gather(self._requests(reader, server_writer), self._answers(server_reader, writer))

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(HEADER)
                message = header + await reader.readexactly(struct.unpack_from("<i", header, 0)[0] - HEADER)
                name = command_of(message)
                if name is not None:
                    self.counts[name] += 1
                writer.write(message)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


async def serve(args: argparse.Namespace) -> None:
    proxy = Proxy(args.server)
    out = Path(args.out)

    def dump() -> None:
        out.write_text(json.dumps(dict(proxy.counts.most_common()), indent=1))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, dump)
    server = await asyncio.start_server(proxy.client, "127.0.0.1", args.listen)
    print(f"counting commands on 127.0.0.1:{args.listen} → 127.0.0.1:{args.server}; kill -USR1 writes {out}",
          flush=True)
    async with server:
        await server.serve_forever()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, required=True, help="port the stack connects to")
    parser.add_argument("--server", type=int, required=True, help="port of the real database")
    parser.add_argument("--out", default="db-commands.json", help="where kill -USR1 writes the counts")
    asyncio.run(serve(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
