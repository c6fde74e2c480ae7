"""Where an order's CPU goes: py-spy on every Python process of the stack during one bench_load rate.

    .venv/bin/python scripts/profile_load.py --rate 45            # prints the summary; raw profiles in var/profile
    .venv/bin/python scripts/profile_load.py --rate 2 --seconds 30

Runs ``scripts/bench_load.py`` at one offered rate (its own stack on free ports, no idle sampling,
no database count), and once the load is on samples every Python process of that stack that works
under the load (above 2% of a core: the supervisor, the pollers, the relay, nx-27017, the busy
function workers; Tansu is Rust and is measured by CPU time only) with ``py-spy record --format
raw`` at 50 Hz for ``--seconds``. Prints, per process kind,
its CPU in ms per order accepted (from /proc over the same window) and the frames where its samples
spend their own time. Needs ``py-spy`` (a dev requirement) and root or ptrace rights.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def kind(pid: int, function_of: dict[int, str]) -> str:
    line = cmdline(pid)
    for pattern, name in ((r"tansu", "Tansu"), (r"nx-27017", "nx-27017"), (r"moto_server", "moto"),
                          (r"-m realtime_relay", "relay"), (r"-m devstack\.pollers", "pollers"),
                          (r"-m devstack up", "supervisor")):
        if re.search(pattern, line):
            return name
    if "devstack.worker" in line:
        return function_of.get(pid, "function worker")
    return ""


def worker_functions(pids: list[int]) -> dict[int, str]:
    """Which function each worker serves, from its environment (AWS_LAMBDA_FUNCTION_NAME)."""
    out = {}
    for pid in pids:
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
                out[pid] = item.split(b"=", 1)[1].decode()
    return out


def self_frames(raw: Path) -> collections.Counter[str]:
    """py-spy's raw (collapsed) stacks: the innermost frame of each stack, weighted by its samples."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        counts[re.sub(r"\s*\(/.*?([^/]+:\d+)\)", r" (\1)", leaf)] += int(n)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=45.0, help="offered orders/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to sample once the load is on")
    parser.add_argument("--top", type=int, default=6, help="frames to print per process kind")
    parser.add_argument("--out", default=str(ROOT / "var" / "profile"), help="folder for the raw profiles")
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    warmup = 5.0
    bench = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "bench_load.py"), "--rates", f"{args.rate:g}", "--idle", "0",
         "--db-orders", "0", "--warmup", f"{warmup:g}", "--seconds", f"{args.seconds + 4:g}",
         "--svg", str(out / "load.svg")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert bench.stdout is not None
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert bench.stdout is not None
        for line in bench.stdout:
            lines.append(line)
            print(line, end="", flush=True)
            if line.startswith("offered accepted/s"):
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not started.wait(300):
        bench.kill()
        print("bench_load never started its load", file=sys.stderr)
        return 1
    time.sleep(warmup + 1)
    pids = descendants(bench.pid)
    functions = worker_functions(pids)
    kinds = {pid: k for pid in pids if (k := kind(pid, functions))}
    # Sample only the processes that work under this load (a py-spy per idle worker would cost more
    # CPU than it tells): those above 2% of a core over a second, Tansu (Rust) excepted.
    first = {pid: cpu_seconds(pid) for pid in kinds}
    time.sleep(1.0)
    busy = {pid for pid in kinds if cpu_seconds(pid) - first[pid] > 0.02 and kinds[pid] != "Tansu"}
    before = {pid: cpu_seconds(pid) for pid in kinds}
    spies = []
    for pid, name in kinds.items():
        if pid not in busy:
            continue
        raw = out / f"{name}-{pid}.txt"
        spies.append((pid, name, raw, subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--duration", f"{args.seconds:g}", "--rate", "50",
             "--format", "raw", "--nonblocking", "--output", str(raw)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    t0 = time.monotonic()
    for *_, proc in spies:
        proc.wait()
    window = time.monotonic() - t0
    used = {pid: cpu_seconds(pid) - before[pid] for pid in kinds}
    bench.wait()
    reader.join(5)
    accepted_rate = args.rate
    for line in lines:
        m = re.match(r"\s*(\d+)\s+([\d.]+)\s+([\d.]+)", line)
        if m and float(m.group(1)) == round(args.rate):
            accepted_rate = float(m.group(2))
    orders = accepted_rate * window
    by_kind: dict[str, float] = collections.defaultdict(float)
    for pid, seconds in used.items():
        by_kind[kinds[pid]] += seconds
    print(f"\nCPU per order accepted over {window:.0f} s at {accepted_rate:.1f} orders/s "
          f"(load average {os.getloadavg()[0]:.1f}):")
    for name, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        if seconds * 1000 / orders >= 0.05:
            print(f"  {name:32s} {seconds * 1000 / orders:6.1f} ms")
    print(f"  {'all':32s} {sum(by_kind.values()) * 1000 / orders:6.1f} ms")
    frames: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for _, name, raw, _ in spies:
        if raw.exists():
            frames[name] += self_frames(raw)
    print("\nwhere each process kind spends its own time (py-spy, share of its samples, idle excluded):")
    for name, _seconds in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        counts = frames.get(name)
        if not counts:
            continue
        total = sum(counts.values())
        print(f"  {name} ({total} samples)")
        for frame, n in counts.most_common(args.top):
            print(f"    {100 * n / total:5.1f}%  {frame[:150]}")
    print(f"\nraw profiles: {out}")
    return bench.returncode or 0


if __name__ == "__main__":
    raise SystemExit(main())
