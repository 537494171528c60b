"""Differential byte-level fuzzing against nats-server 2.9.10 (issue 14).

Seeded sessions of valid and mutated client protocol (CONNECT JSON with wrong types and
values, control bytes in every protocol line, header sizes of 0, split and dripped
writes; see ``tests/support/wirefuzz.py``) go to a default natskern and to nats-server
over raw TCP; every frame received after every write, and the write after which the
connection closed, must be the same.  A disagreement is shrunk to a minimal session,
printed in the failure.

``NATSKERN_FUZZ_SESSIONS`` (default 400) sets how many sessions run and
``NATSKERN_FUZZ_SEED`` (default 14) the first seed, e.g.::

    NATSKERN_FUZZ_SESSIONS=3000 NATSKERN_FUZZ_SEED=1000 pytest tests/core/test_fuzz_differential.py
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from tests.support.servers import NATS_SERVER, nats_server, natskern
from tests.support.wirefuzz import Session, Transcript, generate, play, shrink

SESSIONS = int(os.environ.get("NATSKERN_FUZZ_SESSIONS", "400"))
SEED = int(os.environ.get("NATSKERN_FUZZ_SEED", "14"))
#: Server pairs fuzzed side by side (each session has a pair to itself).
LANES = 4
#: How many times a disagreement is replayed before it counts (timing noise on a busy box).
REPLAYS = 2
#: Disagreements shrunk and printed (the others are counted).
SHOWN = 3

#: Token auth and no_auth_user: (natskern config, nats-server config).
TOKEN_CONF = ({"auth": {"token": "tok"}}, "authorization { token: tok }\n")
NO_AUTH_CONF = (
    {
        "auth": {
            "no_auth_user": "guest",
            "users": [
                {"user": "admin", "password": "adminpw"},
                {"user": "guest", "password": "guestpw", "permissions": {"publish": "public.>"}},
            ],
        }
    },
    """no_auth_user: guest
authorization {
  users = [
    {user: admin, password: adminpw}
    {user: guest, password: guestpw, permissions: {publish: "public.>"}}
  ]
}
""",
)
pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server is not installed")


@dataclass
class Lane:
    """A nats-server and a natskern, each at (host, port)."""

    reference: tuple[str, int]
    ours: tuple[str, int]
    #: Disagreements that a replay did not reproduce (timing noise).
    noise: int = 0

    async def play(self, session: Session) -> tuple[Transcript, Transcript]:
        """The session against both servers at once: (nats-server's, natskern's)."""
        theirs, ours = await asyncio.gather(
            play(*self.reference, session), play(*self.ours, session)
        )
        return theirs, ours

    async def disagreement(self, session: Session) -> tuple[Transcript, Transcript] | None:
        """Both transcripts if they differ in every replay, else None."""
        for attempt in range(1 + REPLAYS):
            theirs, ours = await self.play(session)
            if theirs == ours:
                self.noise += attempt > 0
                return None
        return theirs, ours


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    return host, int(port)


@contextlib.asynccontextmanager
async def lanes(
    count: int, config: dict | None = None, conf_text: str | None = None
) -> AsyncIterator[list[Lane]]:
    """``count`` pairs of servers: nats-server processes and natskern brokers (default config)."""
    async with contextlib.AsyncExitStack() as stack:
        out = []
        for _ in range(count):
            url = stack.enter_context(nats_server(conf_text))
            broker = await stack.enter_async_context(natskern(config or {}))
            out.append(Lane(_address(url), _address(broker.listen_urls[0])))
        yield out


def report(session: Session, minimal: Session, theirs: Transcript, ours: Transcript) -> str:
    """A disagreement as text: the minimal session and both answers to it."""
    return (
        f"seed {session.seed}; minimal session:\n{minimal}\n"
        f"nats-server:\n{theirs}\nnatskern:\n{ours}\n"
    )


async def check(lane: Lane, sessions: list[Session]) -> list[str]:
    """Play ``sessions`` on ``lane``; the reports of those that disagree (shrunk)."""
    problems = []
    for session in sessions:
        found = await lane.disagreement(session)
        if found is None:
            continue
        if len(problems) >= SHOWN:
            problems.append(f"seed {session.seed}: disagreement (not shrunk)")
            continue

        async def fails(candidate: Session) -> bool:
            theirs, ours = await lane.play(candidate)
            return theirs != ours

        minimal = await shrink(session, fails)
        found = await lane.disagreement(minimal) or found
        problems.append(report(session, minimal, *found))
    return problems


@pytest.mark.parametrize("auth", ["none", "token", "no_auth_user"])
async def test_sessions_agree_with_nats_server(auth: str) -> None:
    # The default config gets most sessions; token auth and a no_auth_user with publish
    # permissions (most subjects are refused) a quarter each.
    token = b"tok" if auth == "token" else b""
    count = SESSIONS if auth == "none" else SESSIONS // 4
    seeds = range(SEED, SEED + count)
    sessions = [generate(random.Random(seed), seed, token) for seed in seeds]
    config, conf_text = {"none": ({}, None), "token": TOKEN_CONF}.get(auth, NO_AUTH_CONF)
    async with lanes(LANES, config, conf_text) as pairs:
        results = await asyncio.gather(
            *(check(lane, sessions[i :: len(pairs)]) for i, lane in enumerate(pairs))
        )
    problems = [p for result in results for p in result]
    noise = sum(lane.noise for lane in pairs)
    print(
        f"{auth}: {count} sessions from seed {SEED}: {len(problems)} disagree, {noise} not replayed"
    )
    assert not problems, f"{len(problems)} of {count} sessions disagree:\n" + "\n".join(problems)


# Minimal sessions of the disagreements issue 14 lists, and of those this fuzzer found;
# each failed before natskern was fixed.  (name, bytes, how they are written)
REGRESSIONS: list[tuple[str, bytes, str]] = [
    ("connect_verbose_number", b'CONNECT {"verbose":1}\r\nPING\r\n', "whole"),
    ("connect_name_number", b'CONNECT {"name":5}\r\nPING\r\n', "whole"),
    ("connect_protocol_string", b'CONNECT {"protocol":"1"}\r\nPING\r\n', "whole"),
    ("connect_protocol_float", b'CONNECT {"protocol":1.0}\r\nPING\r\n', "whole"),
    ("connect_nan", b'CONNECT {"x":NaN}\r\nPING\r\n', "whole"),
    ("connect_account", b'CONNECT {"account":"A"}\r\nPING\r\n', "whole"),
    ("connect_new_account", b'CONNECT {"new_account":true}\r\nPING\r\n', "whole"),
    ("connect_invalid_utf8", b'CONNECT {"":"\xfe"}\nPING\r\n', "whole"),
    ("connect_upper_case_key", b'CONNECT {"VERBOSE":false}\r\nPING\r\n', "whole"),
    ("connect_null", b"CONNECT null\r\nPING\r\n", "whole"),
    ("connect_null_field", b'CONNECT {"verbose":false,"verbose":null}\r\nPING\r\n', "whole"),
    ("connect_lf_before_json", b"CONNECT\n{}\r\nPING\r\n", "whole"),
    ("pub_tab_invalid_subject", b"PUB\t. 5\n", "whole"),
    ("pub_invalid_subject_then_bad_payload", b"PUB\t. 5\nhelloXPING\r\n", "split"),
    ("pub_lf_starts_subject", b"PUB \nfoo 2\r\nhi\r\nPING\r\n", "whole"),
    (
        "pub_form_feed_pedantic",
        b'CONNECT {"verbose":false}\r\nPUB a\x0cb 1\r\nx\r\nPING\r\n',
        "whole",
    ),
    ("sub_form_feed_subject", b"SUB o\x0c 1\r\nPING\r\n", "whole"),
    ("sub_duplicate_sid_invalid_subject", b"SUB a 1\r\nSUB a..b 1\r\nPING\r\n", "whole"),
    (
        "hpub_header_size_zero",
        b'CONNECT {"verbose":false,"headers":true}\r\nSUB a.b.c 1\r\nHPUB a.b.c 0 2\r\nhi\r\nPING\r\n',
        "whole",
    ),
    ("hmsg_from_client", b"HMSG a 1 2\r\n\r\nPING\r\n", "whole"),
    ("info_wrong_type", b'INFO {"port":"x"}\r\nPING\r\n', "whole"),
    ("split_after_bare_cr", b"PUB foo 5\r\r\nhello\r\nPING\r\n", "split@10"),
    (
        "sys_queue_subject_quoted_as_go",
        b"SUB \xff _sys_ 3\r\nSUB a\x0c _sys_ 4\r\nPING\r\n",
        "whole",
    ),
    (
        "wildcard_sub_after_a_literal_wildcard_subject_was_cached",
        b'CONNECT {"verbose":false}\r\n'
        + b"PUB > 0\r\n\r\n" * 2
        + b"PUB a 0\r\n\r\n" * 2
        + b"SUB > 1\r\nUNSUB 1\r\nPUB a 1\r\nx\r\nPING\r\n",
        "whole",
    ),
    (
        "size_tokens_with_leading_zeros_are_repeated",
        b'CONNECT {"verbose":false,"headers":true}\r\nSUB a 1\r\nPUB a r 05\r\nhello\r\n'
        b"HPUB a 012 014\r\nNATS/1.0\r\n\r\nhi\r\nHPUB a 0 02\r\nhi\r\nPING\r\n",
        "whole",
    ),
    (
        "no_responders_ignores_a_queue_subscription_on_the_reply",
        b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n'
        b"SUB _INBOX.x q 9\r\nPUB nobody _INBOX.x 2\r\nhi\r\nPING\r\n",
        "whole",
    ),
]


# The same with auth configured: (name, config, bytes).
AUTH_REGRESSIONS: list[tuple[str, tuple[dict, str], bytes]] = [
    ("unknown_op_before_connect", TOKEN_CONF, b"XYZ\r\n"),
    ("empty_line_before_connect", TOKEN_CONF, b"\r\n"),
    ("pub_before_connect_refused_at_its_first_byte", TOKEN_CONF, b"PUB foo 2\r\nh"),
    (
        "second_connect_with_bad_credentials",
        TOKEN_CONF,
        b'CONNECT {"auth_token":"tok","verbose":false}\r\nPING\r\n'
        b'CONNECT {"auth_token":"bad"}\r\nPING\r\n',
    ),
    ("no_auth_user_info_and_pub_before_connect", NO_AUTH_CONF, b"PUB public.a 1\r\nx\r\nPING\r\n"),
    (
        "connect_without_credentials_after_no_auth_user",
        NO_AUTH_CONF,
        b"PING\r\nCONNECT {}\r\nPING\r\n",
    ),
    (
        "second_connect_as_another_user_takes_its_permissions",
        NO_AUTH_CONF,
        b'CONNECT {"user":"admin","pass":"adminpw","verbose":false}\r\n'
        b'CONNECT {"user":"guest","pass":"guestpw"}\r\nPUB other 1\r\nx\r\nPING\r\n',
    ),
    (
        "no_auth_user_credentials_are_kept_for_the_next_connect",
        NO_AUTH_CONF,
        b'CONNECT {}\r\nCONNECT {"auth_token":"e"}\r\nPING\r\n',
    ),
    ("password_alone_is_no_no_auth_user", NO_AUTH_CONF, b'CONNECT {"pass":"1"}\r\nPING\r\n'),
    (
        "empty_credentials_are_none",
        NO_AUTH_CONF,
        b'CONNECT {"user":"","auth_token":"","nkey":"","verbose":false}\r\nPING\r\n',
    ),
    (
        "no_auth_user_then_bad_connect",
        NO_AUTH_CONF,
        b'SUB public.a 1\r\nCONNECT {"user":"admin","pass":"bad"}\r\nPING\r\n',
    ),
]


@pytest.mark.parametrize(
    ("conf", "data"), [r[1:] for r in AUTH_REGRESSIONS], ids=[r[0] for r in AUTH_REGRESSIONS]
)
async def test_auth_regression(conf: tuple[dict, str], data: bytes) -> None:
    config, conf_text = conf
    session = Session((data,))
    with nats_server(conf_text) as url:
        async with natskern(config) as broker:
            lane = Lane(_address(url), _address(broker.listen_urls[0]))
            found = await lane.disagreement(session)
    assert found is None, report(session, session, *found)


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    with nats_server() as url:
        yield url


@pytest.mark.parametrize(
    ("data", "mode"), [r[1:] for r in REGRESSIONS], ids=[r[0] for r in REGRESSIONS]
)
async def test_regression(data: bytes, mode: str, reference: str) -> None:
    cuts: tuple[int, ...] = ()
    if mode.startswith("split"):
        cuts = (int(mode[6:]) if "@" in mode else len(data) // 2,)
        mode = "split"
    session = Session((data,), mode, cuts)
    async with natskern({}) as broker:
        lane = Lane(_address(reference), _address(broker.listen_urls[0]))
        found = await lane.disagreement(session)
    assert found is None, report(session, session, *found)
