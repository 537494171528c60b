"""A client session's handshake: CONNECT, authentication and the identity it binds.

nats-server's ``processConnect`` and the account/permission binding that follows it,
as :class:`Handshake`, a part of :class:`~natskern.kernel.core.client.Client` (its only
subclass) kept apart from the session's I/O and routing: CONNECT decoded into
nats-server's typed ``ClientOpts``, credentials checked on every CONNECT, an account
named in CONNECT refused, the ``no_auth_user`` gate before CONNECT, re-binding after a
config reload, and the authentication timeout.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

from natskern.kernel.core.accounts import Account, Identity
from natskern.kernel.protocol.encode import go_quote
from natskern.kernel.protocol.typedjson import (
    BOOL,
    INT,
    PERMISSION,
    STR,
    TypedJSONError,
    decode_struct,
)

if TYPE_CHECKING:
    from natskern.kernel.core.client import Client
    from natskern.kernel.core.permissions import Permissions, SubjectPermission
    from natskern.kernel.core.subscription import DeliverCallback, Subscription
    from natskern.kernel.protocol.parser import Parser
    from natskern.kernel.server import Broker

__all__ = ["CONNECT_FIELDS", "OK", "Handshake"]

log = logging.getLogger("natskern.client")

#: nats-server's ``ClientOpts``: the fields a CONNECT sets, by JSON name, with their Go kind.
CONNECT_FIELDS: dict[str, int] = {
    **dict.fromkeys(("echo", "verbose", "pedantic", "tls_required", "new_account"), BOOL),
    **dict.fromkeys(("headers", "no_responders"), BOOL),
    **dict.fromkeys(("nkey", "jwt", "sig", "auth_token", "user", "pass"), STR),
    **dict.fromkeys(("name", "lang", "version", "account"), STR),
    "protocol": INT,
    "import": PERMISSION,
    "export": PERMISSION,
}

OK = b"+OK\r\n"


class Handshake:
    """CONNECT and the identity a session binds: the part of ``Client`` that does it."""

    # (attributes and methods of Client)
    broker: Broker
    parser: Parser
    account: Account
    identity: Identity | None
    permissions: Permissions | None
    pub_perm: SubjectPermission | None
    sub_perm: SubjectPermission | None
    replies: dict[bytes, list[float]] | None
    subs: dict[bytes, Subscription]
    connect_opts: dict[str, Any]
    connect_received: bool
    closed: bool
    gated: bool
    user: str
    protocol: int
    verbose: bool
    pedantic: bool
    echo: bool
    headers: bool
    no_responders: bool
    name: str
    lang: str
    version: str

    if TYPE_CHECKING:  # Client's methods this part calls

        def close(self, reason: str, err: str | None = None) -> None: ...
        def send(self, data: bytes) -> None: ...
        def send_error(self, text: str) -> None: ...
        def log_prefix(self) -> str: ...
        def remove_subscription(self, sub: Subscription) -> None: ...
        def _update_pub_checks(self) -> None: ...
        def _filtered_delivery(
            self, sub: Subscription, perm: SubjectPermission
        ) -> DeliverCallback: ...

    def _auth_timeout(self) -> None:
        if self.gated and not self.closed:
            self.close("Authentication Timeout", "Authentication Timeout")

    def proto_connect(self, arg: bytes) -> None:
        """CONNECT: options, authentication, account binding.

        As nats-server: the JSON is decoded into typed fields (see
        ``natskern.kernel.protocol.typedjson``; what does not decode closes the connection
        without a word) over the options of the previous CONNECT; then credentials, then a
        requested ``account`` (refused), the protocol version, no_responders without
        headers, and ``+OK`` if verbose.
        """
        try:
            sent = decode_struct(arg, CONNECT_FIELDS)
        except TypedJSONError:
            self.close("Protocol Violation")  # nats-server closes without a word
            return
        # Absent keys keep their current values: nats-server unmarshals every CONNECT into
        # the same options (a second ``CONNECT {}`` changes nothing).
        opts = {**self.connect_opts, **sent}
        # Credentials are checked before the other fields, as nats-server does, on every
        # CONNECT (a later one with bad credentials is refused; the binding stays).
        identity = self.broker.authenticate(cast("Client", self), opts)
        if identity is None:
            user = opts.get("user") or opts.get("nkey") or ""
            who = f' - User "{user}"' if user else ""
            if not user and not any(opts.get(k) for k in ("pass", "auth_token", "jwt")):
                who = " - no credentials given"
            log.error("%s - authentication error%s", self.log_prefix(), who)
            self.close("Authentication Failure", "Authorization Violation")
            return
        if opts.get("account") or opts.get("new_account"):
            # nats-server: naming an account in CONNECT is an authorization violation.
            log.error("%s - authentication error - account requested", self.log_prefix())
            self.close("Authentication Failure", "Authorization Violation")
            return
        protocol = opts.get("protocol", self.protocol)
        if protocol < 0 or protocol > 1:
            self.close("Protocol Violation", "invalid client protocol")
            return
        self.protocol = protocol
        self.connect_opts = opts
        self.verbose = opts.get("verbose", self.verbose)
        self.pedantic = opts.get("pedantic", self.pedantic)
        self.echo = opts.get("echo", self.echo)
        self.headers = opts.get("headers", self.headers)
        self.no_responders = opts.get("no_responders", self.no_responders)
        self.name = opts.get("name", self.name)
        self.lang = opts.get("lang", self.lang)
        self.version = opts.get("version", self.version)
        if self.no_responders and not self.headers:
            self.close("Protocol Violation", "no responders requires headers support")
            return
        if not self.connect_received:
            self._open(identity)
        elif identity.user != self.user and identity.account == self.account.name:
            # Another user of the same account: nats-server registers it (its permissions
            # apply from here; the subscriptions stay).
            self.pub_perm = self.sub_perm = None
            self.replies = None
            self.bind(identity)
        self._update_pub_checks()
        self.parser.headers = self.headers
        self.parser.pedantic = self.pedantic
        if self.verbose:
            self.send(OK)

    def _open(self, identity: Identity) -> None:
        """Authenticated: join the identity's account and stop gating."""
        self.bind(identity)
        self.connect_received = True
        self.gated = False
        self.parser.gated = False
        self.broker.session_opened(cast("Client", self))

    def proto_before_connect(self) -> bool:
        """An operation before CONNECT while auth is required: only a no_auth_user passes.

        nats-server binds such a session to its ``no_auth_user`` at the operation's first
        byte and treats CONNECT as received; anything else is refused at once.
        """
        identity = self.broker.authenticate(cast("Client", self), {})
        if identity is None or identity.extra.get("auth") != "no_auth_user":
            return False
        # nats-server records the user name (not its password) as if CONNECT had sent it:
        # a later CONNECT without credentials is then refused.
        self.connect_opts = {"user": identity.user} if identity.user else {}
        self._open(identity)
        self._update_pub_checks()
        return True

    def bind(self, identity: Identity) -> None:
        """Join the identity's account and adopt its permissions."""
        self.identity = identity
        self.user = identity.user
        account = self.broker.get_account(identity.account)
        if account is not self.account:
            self.account.clients.discard(self)
            self.account = account
        account.clients.add(cast("Client", self))
        perms = identity.permissions
        self.permissions = perms
        if perms is not None:
            self.pub_perm = perms.publish
            self.sub_perm = perms.subscribe
            if perms.allow_responses:
                self.replies = {}

    def rebind(self, identity: Identity) -> None:
        """Adopt ``identity``'s permissions after a config reload (the account stays).

        Subscriptions the new permissions refuse are removed with the ``-ERR``
        nats-server sends; the others get (or lose) their delivery filter.
        """
        self.pub_perm = self.sub_perm = None
        self.replies = None
        self.bind(identity)
        self._update_pub_checks()
        perm = self.sub_perm
        for sub in list(self.subs.values()):
            if perm is not None and not perm.allows_subscribe(sub.subject, sub.queue):
                self.remove_subscription(sub)
                text, sid = sub.subject.decode("utf-8", "replace"), sub.sid.decode()
                self.send_error(
                    f"Permissions Violation for Subscription to {go_quote(sub.subject)}"
                    f" (sid {go_quote(sub.sid)})"
                )
                log.info(
                    'Removed sub "%s" (sid "%s") for User "%s" - not authorized',
                    text,
                    sid,
                    self.user,
                )
            elif perm is not None and perm.needs_delivery_filter(sub.subject):
                sub.callback = self._filtered_delivery(sub, perm)
            else:
                sub.callback = None

    def _gate_violation(self) -> None:
        self.close("Authentication Failure", "Authorization Violation")
