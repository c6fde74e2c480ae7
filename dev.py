#!/usr/bin/env python3
"""The project's two commands, runnable on a fresh machine that has only Python 3.11+.

    python3 dev.py up      create .venv, install what the stack needs, start the whole stack (Ctrl-C stops it)
    python3 dev.py test    create .venv, add the test tools, run lint, type and template checks and every test

Anything after the command goes to ``devstack`` (e.g. ``python3 dev.py reset``,
``python3 dev.py invoke HealthFunction -e events/platform-health.json``, ``python3 dev.py test -q tests/unit``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
SAM_VENV = ROOT / ".venv-sam"
#: what `up` installs (the stack's run-time needs) and what `test` adds (checkers, test tools)
RUNTIME = ("requirements.txt", "layers/shared/python/requirements.txt", "realtime_relay/requirements.txt",
           "pyproject.toml")
DEV = ("requirements-dev.txt",)
SAM_CLI = "aws-sam-cli==1.170.0"


def _python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _digest(files: tuple[str, ...], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for name in files:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _pip(env_dir: Path, what: str, args: list[str]) -> None:
    """One progress line per step; pip's own output goes to a log that is shown only on failure."""
    log = env_dir / "pip.log"
    print(f"==> installing {what} into {env_dir.name} (pip's log: {log.relative_to(ROOT)})", flush=True)
    started = time.monotonic()
    cmd = [str(_python(env_dir)), "-m", "pip", "install", "--disable-pip-version-check", *args]
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        rc = subprocess.call(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if rc != 0:
        print(f"✗ pip failed (exit {rc}); the end of {log}:", file=sys.stderr)
        print("".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:]), file=sys.stderr)
        raise SystemExit(rc)
    print(f"    done in {time.monotonic() - started:.0f} s", flush=True)


def _ensure(env_dir: Path, steps: list[tuple[str, str, str, list[str]]]) -> None:
    """Create ``env_dir`` if needed and run each (stamp, label, digest, pip args) step whose stamp is stale."""
    if not _python(env_dir).exists():
        print(f"==> creating {env_dir.name}", flush=True)
        venv.create(env_dir, with_pip=True)
    for key, label, digest, args in steps:
        stamp = env_dir / f".installed-{key}"
        if stamp.exists() and stamp.read_text() == digest:
            continue
        _pip(env_dir, label, args)
        stamp.write_text(digest)


def main() -> int:
    if sys.version_info < (3, 11):
        print("Python 3.11 or newer is required", file=sys.stderr)
        return 1
    args = sys.argv[1:] or ["up"]
    testing = args[0] == "test"
    steps = [("runtime", "the stack's packages", _digest(RUNTIME), ["-r", "requirements.txt", "-e", "."])]
    if testing:
        steps.append(("dev", "the test tools", _digest(RUNTIME + DEV), ["-r", "requirements-dev.txt"]))
    _ensure(VENV, steps)
    if testing and not os.environ.get("SHOP_SKIP_SAM_BUILD"):
        # SAM CLI lives in its own environment: its pins clash with the project's.
        _ensure(SAM_VENV, [("sam", "SAM CLI", hashlib.sha256(SAM_CLI.encode()).hexdigest(), [SAM_CLI])])
    os.execv(str(_python(VENV)), [str(_python(VENV)), "-m", "devstack", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
