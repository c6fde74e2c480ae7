"""The protocol state machine of one connection: (un)subscribe, anonymously to public channels or
after authenticating to any. No I/O.

:meth:`Session.receive` turns one client frame into actions the I/O layer carries out; the
token is never echoed or logged. Role comes only from the verified token. A socket that has not
authenticated is anonymous: it may subscribe to the public channels (``inventory``) and send
``auth`` at any time to become its user's socket; until it has done one or the other it
:attr:`~Session.needs_identity` (the server closes it with 4401 after ``RELAY_AUTH_TIMEOUT``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from realtime_relay.mapping import ADMIN, CHANNELS, PUBLIC_CHANNELS
from shop.auth.caller import ROLE_ADMIN
from shop.auth.tokens import Claims
from shop.errors import Unauthorized

CLOSE_UNAUTHENTICATED = 4401
#: An anonymous socket over its source address's cap (``RELAY_ANONYMOUS_PER_ADDRESS``).
CLOSE_TOO_MANY_ANONYMOUS = 4408
CLOSE_SLOW = 4429
CLOSE_GOING_AWAY = 1001


@dataclass(frozen=True, slots=True)
class Reply:
    """Send this JSON object to the client."""

    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with this code."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Register on a channel, replaying from ``since`` when given."""

    channel: str
    since: str | None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Leave a channel."""

    channel: str


Action = Reply | Close | Subscribe | Unsubscribe


def error(code: str, message: str, **extra: Any) -> Reply:
    """The error frame of the relay."""
    return Reply({"type": "error", "code": code, "message": message, **extra})


class Session:
    """One connection's state: who it is (once authenticated; anonymous before) and its channels."""

    __slots__ = ("channels", "claims", "verify")

    def __init__(self, verify: Callable[[str], Claims]) -> None:
        self.verify = verify
        self.claims: Claims | None = None
        self.channels: set[str] = set()

    @property
    def user_id(self) -> str:
        """The authenticated user id (empty before authentication)."""
        return self.claims.user_id if self.claims else ""

    @property
    def anonymous(self) -> bool:
        """Not authenticated (yet)."""
        return self.claims is None

    @property
    def needs_identity(self) -> bool:
        """Anonymous and on no public channel: such a socket has no reason to stay open."""
        return self.claims is None and not self.channels & PUBLIC_CHANNELS

    def authenticate(self, token: object) -> list[Action]:
        """Check a token (first message or ``?token=``)."""
        if not isinstance(token, str) or not token:
            return [Close(CLOSE_UNAUTHENTICATED, "token required")]
        try:
            self.claims = self.verify(token)
        except Unauthorized as exc:
            return [Close(CLOSE_UNAUTHENTICATED, exc.code)]
        return [Reply({"type": "authenticated", "userId": self.claims.user_id, "role": self.claims.role})]

    def reauthenticate(self, token: object) -> list[Action]:
        """A fresh token on an authenticated connection: it moves the expiry (the server closes with
        4401 at the token's ``exp``). It must be the same user's: a token for another user, or one
        that does not check out, closes the connection (4401) rather than switching identity under
        live subscriptions. A token whose role is no longer admin leaves the ``admin`` channel."""
        previous = self.claims
        actions = self.authenticate(token)
        if previous is None or self.claims is None or isinstance(actions[0], Close):
            return actions
        if self.claims.user_id != previous.user_id:
            self.claims = previous
            return [Close(CLOSE_UNAUTHENTICATED, "token is for another user")]
        if ADMIN in self.channels and self.claims.role != ROLE_ADMIN:
            self.channels.discard(ADMIN)
            actions.insert(0, Unsubscribe(ADMIN))
        return actions

    def receive(self, text: str | bytes) -> list[Action]:
        """The actions for one client frame."""
        message = _parse(text)
        if message is None:
            return [error("bad_request", "frames must be JSON objects with a string type")]
        kind = message["type"]
        if kind == "auth":
            if self.claims is None:  # an anonymous socket becomes its user's, subscriptions kept
                return self.authenticate(message.get("token"))
            return self.reauthenticate(message.get("token"))
        if kind == "ping":
            return [Reply({"type": "pong"})]
        if kind in ("subscribe", "unsubscribe"):
            channel = message.get("channel")
            if channel not in CHANNELS:
                return [error("bad_request", f"channel must be one of {list(CHANNELS)}, got {channel!r}")]
            if kind == "unsubscribe":
                self.channels.discard(channel)
                return [Unsubscribe(channel), Reply({"type": "unsubscribed", "channel": channel})]
            if channel == ADMIN and (self.claims is None or self.claims.role != ROLE_ADMIN):
                return [error("forbidden", "the admin channel needs the admin role", channel=channel)]
            if self.claims is None and channel not in PUBLIC_CHANNELS:
                return [error("unauthorized", f"the {channel} channel needs a signed-in user: send auth first",
                              channel=channel)]
            since = message.get("since")
            if since is not None and not isinstance(since, str):
                return [error("bad_request", "since must be a cursor string", channel=channel)]
            self.channels.add(channel)
            return [Subscribe(channel, since or None)]
        return [error("bad_request", f"unknown message type {kind!r}")]


def _parse(text: str | bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message
