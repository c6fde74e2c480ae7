"""A pid file left by a killed service never blocks a start (devstack.procutil), with real processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from devstack.procutil import clear_stale_pid_file, command_line, process_alive


def test_a_zombie_is_not_alive_and_its_pid_file_is_removed(tmp_path: Path) -> None:
    """A child that exited but was not reaped yet (a zombie) holds no pid file."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child.pid)  # exited, not reaped: a zombie
    pid_file = tmp_path / "svc.pid"
    pid_file.write_text(str(child.pid))
    assert clear_stale_pid_file(pid_file, "python")
    assert not pid_file.exists()
    child.wait()
    assert not process_alive(child.pid)


def test_a_live_process_of_the_service_keeps_its_pid_file(tmp_path: Path) -> None:
    """The pid of a running process of that program is respected (the service itself says it runs)."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while "sleep" not in command_line(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # a busy machine may not show the new program's command line at once
        pid_file = tmp_path / "svc.pid"
        pid_file.write_text(str(child.pid))
        assert not clear_stale_pid_file(pid_file, "sleep")
        assert pid_file.exists()
        assert clear_stale_pid_file(pid_file, "nx-27017")  # a reused pid: another program
        assert not pid_file.exists()
    finally:
        child.kill()
        child.wait()


def test_garbage_or_missing_pid_files(tmp_path: Path) -> None:
    """An unreadable pid file is removed; a missing one is nothing to do."""
    pid_file = tmp_path / "svc.pid"
    assert not clear_stale_pid_file(pid_file, "nx-27017")
    pid_file.write_text("not a pid")
    assert clear_stale_pid_file(pid_file, "nx-27017")
    assert not pid_file.exists()
