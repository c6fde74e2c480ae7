#!/usr/bin/env python3
"""The project's two commands, runnable on a fresh machine that has only Python 3.11+.

    python3 dev.py up      create .venv, install, start the whole local stack (Ctrl-C stops it)
    python3 dev.py test    create .venv, install, run lint + type checks + template checks + all tests

Anything after the command goes to ``devstack`` (e.g. ``python3 dev.py reset``,
``python3 dev.py invoke HealthFunction -e events/platform-health.json``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
SAM_VENV = ROOT / ".venv-sam"
REQUIREMENT_FILES = ("requirements.txt", "requirements-dev.txt", "layers/shared/python/requirements.txt",
                     "realtime_relay/requirements.txt", "pyproject.toml")
SAM_CLI = "aws-sam-cli==1.170.0"


def _python(env_dir: Path) -> Path:
    return env_dir / "bin" / "python"


def _digest(extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for name in REQUIREMENT_FILES:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def _ensure(env_dir: Path, install: list[str], digest: str) -> None:
    stamp = env_dir / ".installed"
    if _python(env_dir).exists() and stamp.exists() and stamp.read_text() == digest:
        return
    if not _python(env_dir).exists():
        print(f"==> creating {env_dir.name}", flush=True)
        venv.create(env_dir, with_pip=True)
    print(f"==> installing into {env_dir.name} (first run takes a few minutes)", flush=True)
    pip = [str(_python(env_dir)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.check_call([*pip, "--upgrade", "pip"], cwd=ROOT)
    subprocess.check_call([*pip, *install], cwd=ROOT)
    stamp.write_text(digest)


def main() -> int:
    if sys.version_info < (3, 11):
        print("Python 3.11 or newer is required", file=sys.stderr)
        return 1
    args = sys.argv[1:] or ["up"]
    _ensure(VENV, ["-r", "requirements-dev.txt", "-e", "."], _digest())
    if args[0] == "test" and not os.environ.get("SHOP_SKIP_SAM_BUILD"):
        # SAM CLI lives in its own environment: its pins clash with the project's.
        _ensure(SAM_VENV, [SAM_CLI], hashlib.sha256(SAM_CLI.encode()).hexdigest())
    os.execv(str(_python(VENV)), [str(_python(VENV)), "-m", "devstack", *args])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
