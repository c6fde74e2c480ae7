"""The per-connection protocol state machine of the relay, without services."""

from __future__ import annotations

import json

import pytest

from realtime_relay.anonymous import AnonymousCap
from realtime_relay.session import CLOSE_UNAUTHENTICATED, Close, Reply, Session, Subscribe, Unsubscribe
from realtime_relay.settings import RelaySettings, parse_origins
from shop.auth import tokens
from shop.errors import Unauthorized

SECRET = "unit-test-secret-0123456789abcdef0123"
OTHER = "another-secret-0123456789abcdef-0123"


def verify(token: str) -> tokens.Claims:
    return tokens.verify(token, secret=SECRET)


def token(role: str = "customer", user: str = "u1", ttl: int | None = None) -> str:
    return tokens.issue(user, role, f"{user}@x", secret=SECRET, ttl=ttl)


def authed(role: str = "customer") -> Session:
    s = Session(verify)
    assert isinstance(s.receive(json.dumps({"type": "auth", "token": token(role)}))[0], Reply)
    return s


def test_auth_first_message() -> None:
    """A valid token as the first frame authenticates with the role from the token."""
    s = Session(verify)
    (reply,) = s.receive(json.dumps({"type": "auth", "token": token("admin", "boss")}))
    assert reply == Reply({"type": "authenticated", "userId": "boss", "role": "admin"})


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"type": "auth", "token": "garbage"}),
        json.dumps({"type": "auth"}),
        json.dumps({"type": "auth", "token": 7}),
    ],
)
def test_a_bad_or_missing_token_closes_4401(frame: str) -> None:
    """Bad or missing tokens close with 4401, before or after an anonymous subscription alike."""
    (action,) = Session(verify).receive(frame)
    assert isinstance(action, Close) and action.code == CLOSE_UNAUTHENTICATED
    anonymous = Session(verify)
    anonymous.receive(json.dumps({"type": "subscribe", "channel": "inventory"}))
    (action,) = anonymous.receive(frame)
    assert isinstance(action, Close) and action.code == CLOSE_UNAUTHENTICATED
    assert anonymous.claims is None


def test_a_new_socket_needs_an_identity_until_it_authenticates_or_subscribes_to_a_public_channel() -> None:
    """The server closes a socket with 4401 while it ``needs_identity`` past the time limit."""
    s = Session(verify)
    assert s.anonymous and s.needs_identity
    assert s.receive(json.dumps({"type": "ping"})) == [Reply({"type": "pong"})]
    assert s.needs_identity  # a ping is no reason to stay
    assert s.receive(json.dumps({"type": "subscribe", "channel": "inventory", "since": "c1"})) == [
        Subscribe("inventory", "c1")]
    assert s.anonymous and not s.needs_identity
    assert s.receive(json.dumps({"type": "unsubscribe", "channel": "inventory"}))[0] == Unsubscribe("inventory")
    assert s.needs_identity  # left its last public channel: the time limit starts again
    assert not authed().needs_identity


@pytest.mark.parametrize(("channel", "code"), [("orders", "unauthorized"), ("admin", "forbidden")])
def test_an_anonymous_socket_may_subscribe_to_public_channels_only(channel: str, code: str) -> None:
    """CONTRACT §3: `orders` answers `unauthorized`, `admin` `forbidden`; the socket stays usable."""
    s = Session(verify)
    (reply,) = s.receive(json.dumps({"type": "subscribe", "channel": channel}))
    assert isinstance(reply, Reply) and reply.body["code"] == code and reply.body["channel"] == channel
    assert s.channels == set() and s.needs_identity
    assert s.receive(json.dumps({"type": "subscribe", "channel": "inventory"})) == [Subscribe("inventory", None)]


@pytest.mark.parametrize("frame", ["not json", json.dumps([1, 2]), json.dumps({"type": "dance"}),
                                   json.dumps({"type": "subscribe", "channel": "all"})])
def test_malformed_frames_before_auth_get_an_error_not_a_close(frame: str) -> None:
    """Anonymous or not, a bad frame is answered with an error; the time limit still applies."""
    s = Session(verify)
    (reply,) = s.receive(frame)
    assert isinstance(reply, Reply) and reply.body["code"] == "bad_request"
    assert s.needs_identity


def test_an_anonymous_socket_that_authenticates_keeps_its_subscriptions_and_gains_its_own() -> None:
    """`auth` on an anonymous socket makes it that user's socket without reconnecting."""
    s = Session(verify)
    s.receive(json.dumps({"type": "subscribe", "channel": "inventory"}))
    (reply,) = s.receive(json.dumps({"type": "auth", "token": token("customer", "shopper")}))
    assert reply == Reply({"type": "authenticated", "userId": "shopper", "role": "customer"})
    assert not s.anonymous and s.user_id == "shopper" and s.channels == {"inventory"}
    assert s.receive(json.dumps({"type": "subscribe", "channel": "orders"})) == [Subscribe("orders", None)]
    (refused,) = s.receive(json.dumps({"type": "subscribe", "channel": "admin"}))
    assert isinstance(refused, Reply) and refused.body["code"] == "forbidden"
    assert s.channels == {"inventory", "orders"}


def test_anonymous_cap_per_address() -> None:
    """At the cap an address is refused until one of its sockets authenticates or closes; others are not."""
    cap = AnonymousCap(2)
    assert cap.admit("10.0.0.1") and cap.admit("10.0.0.1")
    assert not cap.admit("10.0.0.1")
    assert cap.admit("10.0.0.2")
    cap.release("10.0.0.1")
    assert cap.admit("10.0.0.1") and not cap.admit("10.0.0.1")
    for _ in range(2):
        cap.release("10.0.0.1")
    cap.release("10.0.0.2")
    assert cap.counts == {}  # nothing kept for addresses that hold none


def test_expired_and_foreign_tokens_are_refused() -> None:
    """Expired or signed with another key: 4401, reason names the code, never the token."""
    expired = tokens.issue("u", "customer", "u@x", secret=SECRET, ttl=-10)
    (action,) = Session(verify).authenticate(expired)
    assert action == Close(CLOSE_UNAUTHENTICATED, "token_expired")
    foreign = tokens.issue("u", "admin", "u@x", secret=OTHER)
    (action,) = Session(verify).authenticate(foreign)
    assert isinstance(action, Close) and foreign not in action.reason


def test_admin_channel_is_decided_by_the_signed_role() -> None:
    """A customer whose user id contains 'admin' is still refused the admin channel."""
    s = Session(verify)
    s.authenticate(token("customer", "admin-lookalike"))
    (reply,) = s.receive(json.dumps({"type": "subscribe", "channel": "admin"}))
    assert isinstance(reply, Reply) and reply.body["code"] == "forbidden"
    assert authed("admin").receive(json.dumps({"type": "subscribe", "channel": "admin"})) == [Subscribe("admin", None)]


def test_subscribe_unsubscribe_ping() -> None:
    """Subscribe carries `since`; unsubscribe and ping are answered."""
    s = authed()
    subscribe = json.dumps({"type": "subscribe", "channel": "orders", "since": "c1"})
    assert s.receive(subscribe) == [Subscribe("orders", "c1")]
    assert s.channels == {"orders"}
    assert s.receive(json.dumps({"type": "unsubscribe", "channel": "orders"}))[0] == Unsubscribe("orders")
    assert s.channels == set()
    assert s.receive(json.dumps({"type": "ping"})) == [Reply({"type": "pong"})]


@pytest.mark.parametrize(
    "frame",
    ["{", json.dumps({"type": "subscribe", "channel": "all"}), json.dumps({"type": "dance"}),
     json.dumps({"type": "subscribe", "channel": "orders", "since": 5})],
)
def test_malformed_frames_after_auth_get_an_error_not_a_close(frame: str) -> None:
    """After auth, bad frames are answered with an error frame and the session stays usable."""
    s = authed()
    (reply,) = s.receive(frame)
    assert isinstance(reply, Reply) and reply.body["type"] == "error"
    assert s.receive(json.dumps({"type": "ping"})) == [Reply({"type": "pong"})]


def test_reauth_with_a_fresh_token_of_the_same_user_moves_the_expiry() -> None:
    """A fresh ``auth`` on an open connection replaces the claims (the server re-arms the 4401 deadline)."""
    s = Session(verify)
    s.authenticate(token(ttl=5))
    first = s.claims
    assert first is not None
    (reply,) = s.receive(json.dumps({"type": "auth", "token": token(ttl=3600)}))
    assert reply == Reply({"type": "authenticated", "userId": "u1", "role": "customer"})
    assert s.claims is not None and s.claims.expires_at > first.expires_at


@pytest.mark.parametrize(("fresh", "reason"), [
    (lambda: token(user="someone-else", ttl=3600), "token is for another user"),
    (lambda: tokens.issue("u1", "customer", "u1@x", secret=SECRET, ttl=-10), "token_expired"),
    (lambda: "garbage", "invalid_token"),
])
def test_reauth_for_another_user_or_with_a_bad_token_closes_4401(fresh: object, reason: str) -> None:
    """Identity never switches under live subscriptions; a bad fresh token is no better than none."""
    s = authed()
    before = s.claims
    (action,) = s.receive(json.dumps({"type": "auth", "token": fresh()}))  # type: ignore[operator]
    assert action == Close(CLOSE_UNAUTHENTICATED, reason)
    assert s.claims == before


def test_reauth_without_the_admin_role_leaves_the_admin_channel() -> None:
    """A fresh token whose role is no longer admin unsubscribes the admin channel first."""
    s = Session(verify)
    s.authenticate(token("admin", "boss"))
    s.receive(json.dumps({"type": "subscribe", "channel": "admin"}))
    actions = s.receive(json.dumps({"type": "auth", "token": token("customer", "boss")}))
    assert actions[0] == Unsubscribe("admin")
    assert actions[1] == Reply({"type": "authenticated", "userId": "boss", "role": "customer"})
    assert s.channels == set()


def test_verify_errors_other_than_unauthorized_propagate() -> None:
    """Only Unauthorized is a client error; anything else is a server bug and not swallowed."""
    def broken(token: str) -> tokens.Claims:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Session(broken).authenticate("t")
    assert issubclass(Unauthorized, Exception)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults, overrides, the origin allow-list parsing, and a bad value named by its variable."""
    for name, value in {"RELAY_PORT": "4000", "RELAY_ALLOWED_ORIGINS": "https://a.example/, https://b.example",
                        "RELAY_INSTANCE_ID": "r7", "RELAY_LOG_LEVEL": "debug", "RELAY_HOST": ""}.items():
        monkeypatch.setenv(name, value)
    s = RelaySettings()
    assert (s.port, s.host, s.instance_id, s.auth_timeout, s.log_level) == (4000, "0.0.0.0", "r7", 5.0, "DEBUG")
    assert s.allowed_origins == ("https://a.example", "https://b.example")
    assert parse_origins("*") == () and parse_origins("") == ()
    assert (s.anonymous_per_address, s.trusted_proxies) == (64, ())
    monkeypatch.setenv("RELAY_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
    assert RelaySettings().trusted_proxies == ("10.0.0.0/8", "192.0.2.1")
    for name, bad in {"RELAY_AUTH_TIMEOUT": "soon", "RELAY_ANONYMOUS_PER_ADDRESS": "0",
                      "RELAY_TRUSTED_PROXIES": "10.0.0.0/8, the-balancer"}.items():
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            RelaySettings()
        monkeypatch.delenv(name)
