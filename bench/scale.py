"""One process against its own stack: the product (run.py, as `make run` starts it) beside a bare aiohttp server
on the same database driver doing the least work, measured in the same run and printed side by side with goals.

    python bench/scale.py [--database sqlite|postgresql|both] [--visitors 100] [--seconds 8] [--rounds 30]
                          [--sockets 10000] [--socket-clients 2] [--cold-starts 3]
                          [--busy-visitors 20] [--busy-messages 5] [--parts throughput,relay,sockets,cold,busy]
                          [--profile DIR] [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Parts (each bounded in time; all of them take about 3–5 minutes at the default sizes):
- throughput: N visitors in AI mode, each sending its next message as soon as the answer to the previous one
  reached its WebSocket (the widget's path); the bare server answers in the HTTP response (read the session,
  insert the visitor's row, insert the answer's row);
- relay: one message at a time, visitor → the Bot API call, and a Telegram update → the widget's socket
  (the fake Bot API runs in this process as its own server; the product is in webhook mode);
- sockets: N idle widget WebSockets held by several client processes: server memory per socket, open rate,
  and a message reaching one socket while all are held; the bare server is a plain aiohttp WebSocket server
  taking the token in the URL; a product socket counts as open once it answered the widget's first frame (the
  token) with "ready", so authentication and the replay check are part of what opening one costs;
- cold: run.py started on a migrated database until /healthz answers 200, beside the bare server's start;
- busy: 20 visitors × 5 messages within one second to one manager, against a fake Bot API that enforces Telegram's
  flood limits: delivered, in order, 429s, Bot API sends and when the last arrived, with the outbox's pacing and,
  as the same-run reference, without it.

The machine may be shared: only the same-run ratios mean much. `--profile DIR` samples each server's event loop
with py-spy during the measured windows and prints its top costs (the raw samples stay in DIR).

The machinery lives in bench/scaling/ (support: databases, servers, the visitor's side of the API; bare: the bare
server; measures: what is timed; parts: what each part runs and prints); this script stays the one entry.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scaling.bare import serve_bare  # noqa: E402
from bench.scaling.measures import socket_client  # noqa: E402
from bench.scaling.parts import PARTS  # noqa: E402
from bench.scaling.support import Databases, raise_fd_limit  # noqa: E402

log = logging.getLogger("bench")


# Frames every event-loop sample passes through: they say nothing about where the time goes.
LOOP_FRAMES = ("main (run.py)", "<module>", "Runner.run", "run (asyncio", "BaseEventLoop.", "Handle._run",
               "serve_bare", "run_app", "_run_app")


def print_profiles(directory: Path, top: int) -> None:
    """Each sampled server's top costs: own time by function, and time inside the project's functions."""
    for path in sorted(directory.glob("*.txt")):
        own: dict[str, int] = {}
        inside: dict[str, int] = {}
        total = 0
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
            frames = [frame.replace(str(ROOT) + "/", "") for frame in frames]
            if not any(frame.startswith("BaseEventLoop.run_forever") for frame in frames):
                continue  # database driver threads wait on queues there; the event loop is what serves
            total += count
            own[frames[-1]] = own.get(frames[-1], 0) + count
            for frame in set(frames):
                if not frame.startswith(LOOP_FRAMES) and "(<" not in frame:
                    inside[frame] = inside.get(frame, 0) + count
        if not total:
            continue
        print(f"--- {path.stem}: {total} samples of the event loop thread while measured (250/s)")
        print("    own time:")
        for frame, count in sorted(own.items(), key=lambda item: -item[1])[:top]:
            print(f"    {100 * count / total:5.1f} %  {frame}")
        print("    inside the project's functions (cumulative):")
        for frame, count in sorted(inside.items(), key=lambda item: -item[1])[:top]:
            print(f"    {100 * count / total:5.1f} %  {frame}")


async def main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    engines = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="ilpo-scale-"))
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"bench/scale.py: parts {','.join(parts)} on {', '.join(engines)}; the product is run.py, "
          f"the baseline a bare aiohttp server on the same driver, both in this run")
    try:
        for engine in engines:
            dbs = Databases(engine, args.admin_url, workdir)
            try:
                for part in parts:
                    started = time.perf_counter()
                    await PARTS[part](dbs, args, workdir)
                    log.info("%s on %s took %.1f s", part, engine, time.perf_counter() - started)
            finally:
                dbs.drop_all()
    finally:
        if args.profile is not None:
            print_profiles(args.profile, args.profile_top)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-bare":
        serve_bare(sys.argv[2], int(sys.argv[4]))
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "--socket-client":
        socket_client(sys.argv[2], sys.argv[3], sys.argv[4], concurrency=100)
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--parts", default="throughput,relay,sockets,cold,busy")
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--relay-gap", type=float, default=2.0,
                        help="seconds between relay rounds, so the per-chat pacing never holds one back")
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--socket-clients", type=int, default=2)
    parser.add_argument("--cold-starts", type=int, default=3)
    parser.add_argument("--busy-visitors", type=int, default=20)
    parser.add_argument("--busy-messages", type=int, default=5)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    log.setLevel(logging.INFO)
    asyncio.run(main(parser.parse_args()))
