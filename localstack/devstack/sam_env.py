"""What ``sam local invoke`` needs to run the shop's functions against the running local stack.

A SAM CLI container runs on Docker's default bridge (``--docker-network host`` is ignored by
SAM CLI 1.170), where ``127.0.0.1`` is the container itself. ``dev.py up --for-containers``
therefore starts the database, broker and AWS emulator on the bridge's gateway address (an
address of this machine that its containers reach too, never every interface), and
:func:`env_vars` writes SAM's ``--env-vars`` file pointing each function there.

SAM CLI passes a function only the variables its template entry declares (with the values of
this file overriding the template's), plus its own ``AWS_*`` credentials and region.
"""

from __future__ import annotations

import fcntl
import socket
import struct
from collections.abc import Mapping

from devstack.template import App

BRIDGE_INTERFACE = "docker0"
_SIOCGIFADDR = 0x8915

#: The stack's service addresses a function reads (``shop.config``), as the state file holds them.
STACK_VARIABLES = ("MONGODB_URI", "KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "JWT_SECRET_ID")


def bridge_address(interface: str = BRIDGE_INTERFACE) -> str | None:
    """The IPv4 address of ``interface`` on this machine (Docker's bridge gateway), or None without one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def env_vars(app: App, stack_env: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """SAM's ``--env-vars`` document: per function, each variable its template entry declares.

    The value is the running stack's (service addresses), else a ``DEVSTACK_ENV_*`` override the
    stack also applies, else the template's own.
    """
    out: dict[str, dict[str, str]] = {}
    for name, spec in sorted(app.functions.items()):
        declared = dict(spec.environment)
        for key in declared:
            if key in STACK_VARIABLES and stack_env.get(key):
                declared[key] = stack_env[key]
            elif key in overrides:
                declared[key] = overrides[key]
        out[name] = declared
    return out


def loopback_only(stack_env: Mapping[str, str]) -> bool:
    """Whether the stack's services listen on loopback only (unreachable from a container)."""
    return any(h in stack_env.get(k, "") for k in STACK_VARIABLES for h in ("127.0.0.1", "localhost"))
