"""Process helpers: children die with the supervisor, and a dead process's pid file never blocks a start."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent exits (no-op off Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process: a zombie (dead, not yet reaped by its parent) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        # /proc/<pid>/stat is "pid (comm) state ..."; comm may hold spaces, so split after the ")".
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): the signal check is all we have
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    """The process's command line, or "" when it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def clear_stale_pid_file(pid_file: Path, program: str) -> bool:
    """Remove ``pid_file`` unless it names a live ``program`` process; returns whether it was removed.

    A service killed with SIGKILL leaves its pid file behind, and its pid may stay a zombie (or be
    reused by another process), so the service's own "already running" check would refuse to start.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        pid = 0
    if pid > 0 and process_alive(pid) and program in command_line(pid):
        return False
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return True
