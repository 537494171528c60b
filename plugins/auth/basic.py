"""Token, user/password (plain or bcrypt), nkey users, accounts and ``no_auth_user``.

Mirrors nats-server's authorization rules: users of the ``[auth]`` section
belong to the global account, users listed under ``[accounts.NAME]`` to that
account; a client that presents no credentials is bound to ``no_auth_user``
when one is set.  Decisions are synchronous (the ``authenticate`` hook is
``firstresult``); bcrypt checks cost a few milliseconds per connection.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any

from natskern.kernel import const
from natskern.kernel.core.accounts import Identity
from natskern.kernel.core.permissions import Permissions
from natskern.kernel.errors import ConfigError
from natskern.kernel.hookspecs import hookimpl
from natskern.kernel.state import StateKey
from natskern.plugins.auth.certmap import candidate_names, peer_certificate
from natskern.plugins.auth.schema import ACCOUNTS, AUTH

log = logging.getLogger("natskern.auth")

_BCRYPT = re.compile(r"^\$2[abxy]\$\d{2}\$")


@dataclass(frozen=True)
class _User:
    name: str
    password: str
    account: str
    permissions: Permissions | None
    connection_types: frozenset[str]


def password_matches(stored: str, given: str) -> bool:
    """Compare a presented password with a plain or bcrypt-hashed one."""
    if _BCRYPT.match(stored):
        import bcrypt

        try:
            return bcrypt.checkpw(given.encode(), stored.encode())
        except ValueError:
            return False
    return hmac.compare_digest(stored.encode(), given.encode())


def decode_user_nkey(public_key: str) -> bytes | None:
    """The raw ed25519 key of an nkey user's public key ``U...``; None if it is not one.

    An encoded public key is base32 (no padding) of a prefix byte, the 32-byte
    key and a little-endian CRC16 of both.
    """
    import nkeys

    text = public_key.strip()
    try:
        data = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(data) != 35 or data[0] != nkeys.PREFIX_BYTE_USER:
        return None
    if bytes(nkeys.crc16_checksum(data[:33])) != data[33:]:
        return None
    return data[1:33]


def verify_nkey_signature(public_key: str, nonce: str, signature: str) -> bool:
    """Check an nkey user's signature over the INFO nonce (RawURL or std base64)."""
    import nacl.signing

    raw_key = decode_user_nkey(public_key)
    if raw_key is None:
        return False
    sig = signature.strip()
    padded = sig + "=" * (-len(sig) % 4)
    try:
        raw = (
            base64.urlsafe_b64decode(padded)
            if ("-" in sig or "_" in sig)
            else base64.b64decode(padded)
        )
        nacl.signing.VerifyKey(raw_key).verify(nonce.encode(), raw)
    except Exception:  # bad base64, wrong length, BadSignatureError
        return False
    return True


class Authenticator:
    """The compiled auth configuration of one broker."""

    def __init__(
        self, auth: dict[str, Any], accounts: dict[str, Any], *, tls_map: bool = False
    ) -> None:
        #: ``tls { verify_and_map }``: a client's certificate names its user.
        self.tls_map = tls_map
        self.token: str = auth["token"]
        self.single_user: str = auth["user"]
        self.single_password: str = auth["password"]
        if self.token and (self.single_user or auth["users"]):
            raise ConfigError("auth: token cannot be combined with user or users")
        if self.single_user and auth["users"]:
            raise ConfigError("auth: user/password cannot be combined with users")
        self.users: dict[str, _User] = {}
        self.nkeys: dict[str, _User] = {}
        default_perms = auth.get("default_permissions")
        for entry in auth["users"]:
            self._add_user(entry, const.GLOBAL_ACCOUNT, default_perms)
        for name, account in accounts.items():
            perms = account.get("default_permissions", default_perms)
            for entry in account.get("users", []):
                self._add_user(entry, name, perms)
        self.no_auth_user: _User | None = None
        if auth["no_auth_user"]:
            self.no_auth_user = self.users.get(auth["no_auth_user"])
            if self.no_auth_user is None:
                raise ConfigError(
                    f"auth.no_auth_user: no user {auth['no_auth_user']!r} is configured"
                )

    def _add_user(self, entry: dict[str, Any], account: str, default_perms: Any) -> None:
        perms = Permissions.from_config(entry.get("permissions", default_perms))
        types = frozenset(t.upper() for t in entry.get("allowed_connection_types", []))
        if "nkey" in entry:
            user = _User(entry["nkey"], "", account, perms, types)
            if entry["nkey"] in self.nkeys:
                raise ConfigError(f"auth: nkey {entry['nkey']} is configured twice")
            self.nkeys[entry["nkey"]] = user
            return
        name = entry["user"]
        if name in self.users:
            raise ConfigError(f"auth: user {name!r} is configured twice")
        self.users[name] = _User(name, entry.get("password", ""), account, perms, types)

    @property
    def enabled(self) -> bool:
        """Whether any credential is configured (then every client must authenticate)."""
        return bool(self.token or self.single_user or self.users or self.nkeys)

    def identify(self, client: Any, options: dict[str, Any]) -> Identity | bool:
        """The identity for a CONNECT, or False when refused."""
        if self.tls_map and self.users:
            peercert = peer_certificate(client)
            if peercert is not None:
                return self._mapped_identity(client, options, peercert)
        # An empty string is no credential: nats-server compares each with "".
        nkey = options.get("nkey") or None
        if nkey and self.nkeys:
            user = self.nkeys.get(nkey)
            nonce = getattr(client, "nonce", "")
            if user is None or not nonce:
                return False
            if not verify_nkey_signature(nkey, nonce, str(options.get("sig") or "")):
                return False
            return self._identity(user, client, method="nkey")
        username = options.get("user") or None
        password = options.get("pass") or None
        token = options.get("auth_token") or None
        if self.token:
            if token is not None and hmac.compare_digest(str(token).encode(), self.token.encode()):
                return Identity(account=const.GLOBAL_ACCOUNT, extra={"auth": "token"})
            if token is None and username is None and self.no_auth_user is not None:
                return self._identity(self.no_auth_user, client, method="no_auth_user")
            return False
        if self.single_user:
            if (
                username == self.single_user
                and password is not None
                and password_matches(self.single_password, str(password))
            ):
                return Identity(account=const.GLOBAL_ACCOUNT, user=username)
            return False
        if username is not None:
            user = self.users.get(str(username))
            if user is None or not password_matches(user.password, str(password or "")):
                return False
            return self._identity(user, client, method="user")
        if password is None and token is None and self.no_auth_user is not None:
            # (nats-server: no user, password or token; an nkey nobody has is ignored.)
            # nats-server then fills the user's name and configured password into the
            # client's options, which a later CONNECT is merged over: so does this.
            options["user"] = self.no_auth_user.name
            options["pass"] = self.no_auth_user.password
            return self._identity(self.no_auth_user, client, method="no_auth_user")
        return False

    def _mapped_identity(
        self, client: Any, options: dict[str, Any], peercert: dict[str, Any]
    ) -> Identity | bool:
        """``verify_and_map``: the first certificate name that is a configured user.

        As in nats-server 2.9, a CONNECT that names a user itself is refused:
        the user comes from the certificate.  No matching user refuses too.
        """
        if options.get("user"):
            log.debug(
                "user %r in CONNECT, but verify_and_map takes it from the certificate",
                options.get("user"),
            )
            return False
        for name in candidate_names(peercert):
            user = self.users.get(name)
            if user is not None:
                return self._identity(user, client, method="tls")
        log.debug("no user for the client certificate (tried %s)", candidate_names(peercert))
        return False

    @staticmethod
    def _identity(user: _User, client: Any, *, method: str) -> Identity | bool:
        if user.connection_types and client.conn_type not in user.connection_types:
            return False
        return Identity(
            account=user.account,
            user=user.name,
            permissions=user.permissions,
            extra={"auth": method},
        )


_STATE_KEY = "auth"
_AUTHENTICATOR: StateKey[Authenticator] = StateKey(_STATE_KEY)


@hookimpl
def config_schema() -> dict[str, Any]:
    """The ``[auth]`` and ``[accounts]`` sections."""
    return {"auth": AUTH, "accounts": ACCOUNTS}


@hookimpl
def configure(broker: Any, config: dict[str, Any]) -> None:
    """Compile the users and accounts; demand auth when any credential exists."""
    _apply(broker, config)


@hookimpl
def reload(broker: Any, old: dict[str, Any], new: dict[str, Any], changes: Any) -> None:
    """New users, passwords or permissions: compile them again and re-check every session."""
    if not changes.touches("auth", "accounts", "tls"):
        return
    _apply(broker, new)
    broker.reauthorize()


def _apply(broker: Any, config: dict[str, Any]) -> None:
    auth = config["auth"]
    accounts = config.get("accounts", {})
    tls_map = bool(config.get("tls", {}).get("verify_and_map"))
    authenticator = Authenticator(auth, accounts, tls_map=tls_map)
    for name in accounts:
        broker.get_account(name)
    broker.system_account_name = auth["system_account"]
    if auth["system_account"] != const.SYSTEM_ACCOUNT and auth["system_account"] not in accounts:
        raise ConfigError(
            f"auth.system_account: no account {auth['system_account']!r} is configured"
        )
    broker.auth_timeout = auth["timeout"]
    _AUTHENTICATOR.set(broker, authenticator)
    broker.release_auth(source=_STATE_KEY)
    if authenticator.enabled:
        broker.require_auth(
            nonce=bool(authenticator.nkeys),
            source=_STATE_KEY,
            advertise=authenticator.no_auth_user is None,
        )


@hookimpl
def authenticate(broker: Any, client: Any, options: dict[str, Any]) -> Any:
    """Answer for every client when credentials are configured; else let others decide."""
    authenticator = _AUTHENTICATOR.get(broker)
    if authenticator is None or not authenticator.enabled:
        return None
    return authenticator.identify(client, options)
