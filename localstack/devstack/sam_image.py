"""A local stand-in for the AWS Lambda Python 3.11 base image, for machines that cannot pull it.

``sam local invoke`` runs each function in a container built from the Lambda runtime image
(``public.ecr.aws/lambda/python:3.11``). Where no registry is reachable, ``python3 dev.py
sam-image`` builds ``shop-lambda-python:3.11`` instead, from Debian's packages and PyPI only:

- ``debootstrap --variant=minbase --include=python3`` of Debian bookworm (Python 3.11) from the
  machine's own apt mirror, imported with ``docker import`` (no Dockerfile, no registry);
- the runtime interface client (``awslambdaric``) and ``boto3``, which the official image
  carries, installed by pip from wheels into ``/var/runtime``;
- ``/var/runtime/bootstrap``, the official image's entry: ``/var/task``, then the layers under
  ``/opt/python``, then ``/var/runtime`` on ``sys.path``, then awslambdaric's loop.

SAM CLI adds its runtime interface emulator on top (its ``-rapid-`` image) and runs that. The
image carries a digest of everything above in a label, so it is rebuilt only when one of those
inputs changes (``build`` returns at once otherwise).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

#: The project's own name: never the official one, so nobody mistakes it for AWS's image.
IMAGE = "shop-lambda-python:3.11"
SUITE = "bookworm"
#: What the official image carries for our functions, pinned.
RUNTIME_PACKAGES = ("awslambdaric==4.2.2", "boto3==1.44.18")
INPUTS_LABEL = "shop.sam-image.inputs"
NOTICE = (f"{IMAGE} is a local stand-in for the AWS Lambda Python 3.11 image (Debian {SUITE}'s Python "
          "and glibc, awslambdaric from PyPI), for machines that cannot pull public.ecr.aws/lambda/python:3.11")

BOOTSTRAP_SH = """#!/bin/sh
exec /usr/bin/python3 -u /var/runtime/bootstrap.py "$@"
"""

BOOTSTRAP_PY = f'''"""The runtime's entry: the task, the layers, the runtime on sys.path; awslambdaric's loop."""
import os
import sys

print({NOTICE!r}, file=sys.stderr, flush=True)
handler = sys.argv[1] if len(sys.argv) > 1 else os.environ["_HANDLER"]
task = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
sys.path[:0] = [task, "/opt/python/lib/python3.11/site-packages", "/opt/python"]
os.chdir(task)

from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], handler])
'''

#: The official image's configuration that matters to SAM CLI and the functions.
CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV TZ=:/etc/localtime",
    "ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin",
    "ENV LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "ENV LAMBDA_TASK_ROOT=/var/task",
    "ENV LAMBDA_RUNTIME_DIR=/var/runtime",
    "WORKDIR /var/task",
    'ENTRYPOINT ["/var/runtime/bootstrap"]',
)

#: Trimmed from the root file system: apt's caches and lists, documentation, translations.
TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info")


class ImageError(RuntimeError):
    """The stand-in image could not be built."""


def inputs_digest() -> str:
    """A digest of everything the image is built from."""
    h = hashlib.sha256()
    for part in (SUITE, *RUNTIME_PACKAGES, BOOTSTRAP_SH, BOOTSTRAP_PY, *CHANGES, *TRIM):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:24]


def debian_mirror(sources: Iterable[Path] = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))) -> str:
    """The first Debian mirror (URI serving ``SUITE``) in the machine's apt sources."""
    files: list[Path] = []
    for p in sources:
        files.extend(sorted(p.glob("*.list")) + sorted(p.glob("*.sources")) if p.is_dir() else [p])
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
                if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
                    return fields["URIs"].split()[0]
        else:  # one-line format: deb [options] URI suite components
            for line in text.splitlines():
                m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line.strip())
                if m and m.group(2) == SUITE:
                    return m.group(1)
    raise ImageError(f"no Debian {SUITE} mirror in the apt sources ({', '.join(str(p) for p in sources)})")


def _docker(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def image_digest_label(image: str = IMAGE) -> str | None:
    """The inputs digest on the local image, or None when there is no such image."""
    r = _docker("image", "inspect", image, "--format", f'{{{{ index .Config.Labels "{INPUTS_LABEL}" }}}}', check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def is_current(image: str = IMAGE) -> bool:
    return image_digest_label(image) == inputs_digest()


def _run(argv: list[str], what: str) -> None:
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{what} failed (exit {r.returncode}):\n{tail}")


def _rootfs(root: Path, mirror: str) -> None:
    if not shutil.which("debootstrap"):
        raise ImageError("debootstrap is not installed (as root: apt-get install debootstrap)")
    print(f"==> debootstrap {SUITE} (minbase + python3) from {mirror}", flush=True)
    _run(["debootstrap", "--variant=minbase", "--include=python3", SUITE, str(root), mirror], "debootstrap")
    print(f"==> pip install {' '.join(RUNTIME_PACKAGES)} into /var/runtime", flush=True)
    _run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
          "--target", str(root / "var" / "runtime"), "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
          "--python-version", "3.11", "--implementation", "cp", *RUNTIME_PACKAGES], "pip install")
    runtime = root / "var" / "runtime"
    (runtime / "bootstrap").write_text(BOOTSTRAP_SH)
    (runtime / "bootstrap").chmod(0o755)
    (runtime / "bootstrap.py").write_text(BOOTSTRAP_PY)
    for d in ("var/task", "opt"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for rel in TRIM:
        shutil.rmtree(root / rel, ignore_errors=True)


def _remove_derived() -> None:
    """SAM CLI's images derived from an older stand-in (it would keep using them)."""
    repo = IMAGE.split(":")[0]
    listed = _docker("image", "ls", repo, "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    for ref in listed:
        if "rapid" in ref.split(":", 1)[-1]:
            _docker("image", "rm", "-f", ref, check=False)


def build(*, force: bool = False) -> bool:
    """Build the image unless it is current; True when it was built."""
    if shutil.which("docker") is None:
        raise ImageError("docker is not installed (as root: apt-get install docker.io, then start dockerd)")
    if _docker("version", "--format", "{{.Server.Version}}", check=False).returncode != 0:
        raise ImageError("the Docker daemon is not running (start dockerd)")
    digest = inputs_digest()
    print(NOTICE, flush=True)
    if not force and image_digest_label() == digest:
        print(f"✓ {IMAGE} is up to date (inputs {digest})", flush=True)
        return False
    with tempfile.TemporaryDirectory(prefix="shop-sam-image-") as tmp:
        root = Path(tmp) / "rootfs"
        _rootfs(root, debian_mirror())
        print(f"==> docker import {IMAGE}", flush=True)
        changes = [a for c in (*CHANGES, f"LABEL {INPUTS_LABEL}={digest}") for a in ("--change", c)]
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", *changes, "-", IMAGE], stdin=tar.stdout,
                                  capture_output=True, text=True)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ImageError(f"docker import failed: {imported.stderr.strip()}")
    _remove_derived()
    print(f"✓ built {IMAGE} (inputs {digest})", flush=True)
    return True
