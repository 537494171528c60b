"""nats-server config keys onto natskern's configuration model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import nkeys
import pytest
from natskern.kernel.errors import ConfigError

from natskern.natsconf import ConfTranslateError, parse_text, translate, translate_report
from natskern.natsconf.walker import Translation

USER_SEED = b"SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
USER_NKEY = nkeys.from_seed(USER_SEED).public_key.decode()
BCRYPT = "$2a$11$W2zko751KUvVy59mUTWmpOdWjpEm5qhcCZRd05GjI/sSOT.xtiHyG"
USERS = "authorization { users: [{user: a, %s}] }"


def report(text: str) -> Translation:
    return translate_report(parse_text(text, "t.conf"), source="t.conf")


def model(text: str) -> dict[str, Any]:
    return report(text).model


def problems(text: str) -> list[str]:
    with pytest.raises(ConfTranslateError) as err:
        report(text)
    return err.value.problems


# -- server, listeners, logging ----------------------------------------------------------


def test_nats_server_defaults_are_written_out() -> None:
    assert model("") == {"tcp": {"host": "0.0.0.0", "port": 4222}}
    assert model("port: 0")["tcp"]["port"] == 4222  # 0 means "the default" in nats-server
    assert model("port: -1")["tcp"]["port"] == -1


@pytest.mark.parametrize(
    ("text", "tcp"),
    [
        ('listen: "127.0.0.1:4333"', {"host": "127.0.0.1", "port": 4333}),
        ("listen: 127.0.0.1:4333", {"host": "127.0.0.1", "port": 4333}),
        ("listen: 4333", {"host": "0.0.0.0", "port": 4333}),
        ('listen: ":4333"', {"host": "0.0.0.0", "port": 4333}),
        ('listen: "[::1]:4333"', {"host": "::1", "port": 4333}),
        ("host: 127.0.0.1\nport: 4333", {"host": "127.0.0.1", "port": 4333}),
        ("net: 127.0.0.1", {"host": "127.0.0.1", "port": 4222}),
        ('listen: "127.0.0.1:4333"\nport: 5000', {"host": "127.0.0.1", "port": 5000}),
    ],
)
def test_client_listener(text: str, tcp: dict[str, Any]) -> None:
    assert model(text)["tcp"] == tcp


def test_monitoring_listens_on_the_client_host_by_default() -> None:
    assert model("host: 127.0.0.1\nhttp_port: 8222")["monitoring"] == {
        "enabled": True,
        "host": "127.0.0.1",
        "port": 8222,
    }
    assert model('http: "10.0.0.1:8333"')["monitoring"] == {
        "enabled": True,
        "host": "10.0.0.1",
        "port": 8333,
    }
    assert model("monitor_port: -1")["monitoring"]["port"] == -1
    assert model("http_port: 0")["monitoring"]["enabled"] is False


def test_server_limits_and_timers() -> None:
    server = model(
        """
        server_name: edge-1
        max_payload: 2MB
        max_pending: 100MB
        max_control_line: 8KB
        max_conn: 100
        max_subs: 10
        ping_interval: "30s"
        ping_max: 3
        write_deadline: "1.5s"
        lame_duck_duration: "1m"
        lame_duck_grace_period: "5s"
        """
    )["server"]
    assert server == {
        "name": "edge-1",
        "max_payload": 2 * 1024 * 1024,
        "max_pending": 100 * 1024 * 1024,
        "max_control_line": 8192,
        "max_connections": 100,
        "max_subscriptions": 10,
        "ping_interval": 30.0,
        "ping_max": 3,
        "write_deadline": 1.5,
        "lame_duck_duration": 60.0,
        "lame_duck_grace_period": 5.0,
    }


def test_bare_number_durations_are_seconds_with_a_warning() -> None:
    tr = report("ping_interval: 2m\nwrite_deadline: 5")
    # The unit pitfall: unquoted 2m is two million, read as seconds like nats-server does.
    assert tr.model["server"]["ping_interval"] == 2_000_000.0
    assert tr.model["server"]["write_deadline"] == 5.0
    assert len(tr.warnings) == 2
    assert tr.warnings[0].startswith('t.conf:1: key "ping_interval": 2000000 should be converted')


def test_lame_duck_rules() -> None:
    assert "minimum is 30 seconds" in problems('lame_duck_duration: "10s"')[0]
    assert "duration string" in problems("lame_duck_duration: 40")[0]


def test_logging_keys() -> None:
    conf = model(
        'debug: true\ntrace: yes\nlogtime: off\nlog_file: "/tmp/n.log"\npidfile: /tmp/n.pid\n'
        "syslog: false"
    )
    assert conf["logging"] == {
        "debug": True,
        "trace": True,
        "logtime": False,
        "file": "/tmp/n.log",
        "pid_file": "/tmp/n.pid",
        "syslog": False,
    }


def test_payload_cannot_exceed_pending() -> None:
    found = problems("max_pending: 1KB\n\nmax_payload: 2KB")
    assert found == ["t.conf:3: max_payload (2048) cannot be higher than max_pending (1024)"]


# -- authorization ---------------------------------------------------------------------


def test_single_user_and_token() -> None:
    assert model("authorization { user: a, password: b, timeout: 3 }")["auth"] == {
        "user": "a",
        "password": "b",
        "timeout": 3.0,
    }
    assert model('authorization { token: "s3cr3t", timeout: "500ms" }')["auth"] == {
        "token": "s3cr3t",
        "timeout": 0.5,
    }
    assert model("authorization { username: a, pass: b }")["auth"] == {"user": "a", "password": "b"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("authorization { user: a, password: b, token: t }", "user/password and a token"),
        ("authorization { user: a, users: [{user: b}] }", "single user/password and a users array"),
        ("authorization { token: t, users: [{user: b}] }", "token and a users array"),
        ("authorization { users: [{user: a}, {user: a}] }", 'duplicate user "a"'),
        ("authorization { users: [{password: x}] }", "needs a user or an nkey"),
        ("authorization { users: [{nkey: UABAD}] }", "not a valid public nkey"),
        (
            "authorization { users: [{user: a, account: x}] }",
            'unknown key "authorization.users[0].account"',
        ),
        ("authorization { users: [{user: a, clients: [BOGUS]}] }", "invalid connection types"),
        (
            "authorization { users: [{user: a, permissions: {publish: 'a..b'}}] }",
            "not a valid subject",
        ),
        (
            "authorization { users: [{user: a, permissions: {publish: {allowx: a}}}] }",
            "publish.allowx",
        ),
        ("authorization { users: [{user: a, permissions: {foo: 1}}] }", "permissions.foo"),
        ("authorization { timeout: abc }", "expected a duration"),
        ("authorization { foo: 1 }", 'unknown key "authorization.foo"'),
        ("authorization: 5", "expected a map"),
    ],
)
def test_authorization_problems(text: str, fragment: str) -> None:
    found = problems(text)
    assert any(fragment in line for line in found), found
    assert all(line.startswith("t.conf:1: ") for line in found)


def test_users_with_every_permission_form() -> None:
    auth = model(
        f"""
        authorization {{
          default_permissions: {{ publish: "SANDBOX.*", subscribe: ["PUBLIC.>", "_INBOX.>"] }}
          ADMIN = {{ pub: ">", sub: ">" }}
          users: [
            {{ user: admin, password: "{BCRYPT}", permissions: $ADMIN }}
            {{ user: svc, pass: x, permissions: {{
                 publish: {{ allow: "svc.>", deny: ["svc.secret"] }}
                 subscribe: {{ allow: ["req.* workers"], deny: "req.admin" }}
                 allow_responses: {{ max: 5, expires: "1m" }} }} }}
            {{ nkey: {USER_NKEY}, permission: {{ import: "in.>", export: "out.>",
               publish_allow_responses: true }}, allowed_connection_types: [standard, WEBSOCKET] }}
          ]
        }}
        """
    )["auth"]
    assert auth["default_permissions"] == {
        "publish": {"allow": ["SANDBOX.*"]},
        "subscribe": {"allow": ["PUBLIC.>", "_INBOX.>"]},
    }
    admin, svc, nkey_user = auth["users"]
    assert admin["password"].startswith("$2a$11$")
    assert admin["permissions"] == {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    assert svc == {
        "user": "svc",
        "password": "x",
        "permissions": {
            "publish": {"allow": ["svc.>"], "deny": ["svc.secret"]},
            "subscribe": {"allow": ["req.* workers"], "deny": ["req.admin"]},
            "allow_responses": {"max": 5, "expires": 60.0},
        },
    }
    assert nkey_user == {
        "nkey": USER_NKEY,
        "permissions": {
            "publish": {"allow": ["in.>"]},
            "subscribe": {"allow": ["out.>"]},
            "allow_responses": True,
        },
        "allowed_connection_types": ["STANDARD", "WEBSOCKET"],
    }


# -- accounts --------------------------------------------------------------------------


def test_accounts_users_exports_imports_jetstream() -> None:
    conf = model(
        """
        accounts {
          USER: {
            jetstream: enabled
            users: [{user: local, password: a}]
            imports: [
              {service: {account: SERVICE, subject: "service.>"}, to: "imports.SERVICE.>"}
              {stream: {account: SERVICE, subject: "events.>"}, prefix: ev}
            ]
            mappings: { "orders.*": "orders.{{wildcard(1)}}.v2" }
          }
          SERVICE: {
            js: { max_mem: 1G, max_file: "10G", max_streams: 5, consumers: -1 }
            users: [{user: service, password: b}]
            exports: [
              {service: "service.>", response_type: Stream, threshold: "2s", accounts: [USER]}
              {stream: "events.>"}
            ]
          }
          SYS: { users: [{user: admin, password: c}] }
          OFF: { jetstream: false }
        }
        system_account: SYS
        no_auth_user: local
        """
    )
    accounts = conf["accounts"]
    assert accounts["USER"]["jetstream"] == "enabled"
    assert accounts["USER"]["imports"] == [
        {"service": {"account": "SERVICE", "subject": "service.>"}, "to": "imports.SERVICE.>"},
        {"stream": {"account": "SERVICE", "subject": "events.>"}, "prefix": "ev"},
    ]
    assert accounts["USER"]["mappings"] == {"orders.*": "orders.{{wildcard(1)}}.v2"}
    assert accounts["SERVICE"]["jetstream"] == {
        "max_memory": 10**9,
        "max_store": 10 * 2**30,
        "max_streams": 5,
        "max_consumers": -1,
    }
    assert accounts["SERVICE"]["exports"] == [
        {
            "service": "service.>",
            "response_type": "stream",
            "response_threshold": 2.0,
            "accounts": ["USER"],
        },
        {"stream": "events.>"},
    ]
    assert accounts["OFF"] == {"jetstream": "disabled"}
    assert conf["auth"] == {"system_account": "SYS", "no_auth_user": "local"}


def test_accounts_as_a_list_of_names() -> None:
    assert model("accounts: [A, B]")["accounts"] == {"A": {}, "B": {}}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("accounts { $G: {} }", "reserved account"),
        ("accounts { A: { foo: 1 } }", 'unknown key "accounts.A.foo"'),
        ("accounts { A: { jetstream: 5 } }", "expected enabled, disabled"),
        ("accounts { A: { jetstream: {foo: 1} } }", "accounts.A.jetstream.foo"),
        ("accounts { A: { nkey: ABC } }", "not a valid public nkey for an account"),
        ("accounts { A: { exports: [{bogus: x}] } }", "exports[0].bogus"),
        ("accounts { A: { exports: [{accounts: [B]}] } }", "exactly one of stream or service"),
        ("accounts { A: { imports: [{stream: {account: NOPE, subject: x}}] } }", '"NOPE"'),
        ("accounts { A: { imports: [{service: {account: A}}] } }", "needs subject"),
        ("accounts { A: { users: [{user: a}] }, B: { users: [{user: a}] } }", 'duplicate user "a"'),
        ("accounts { A: {} }\nsystem_account: NOPE", 'account "NOPE" is not defined'),
        ("accounts { A: { users: [{user: a}] } }\nno_auth_user: zz", '"zz" is not a user'),
    ],
)
def test_account_problems(text: str, fragment: str) -> None:
    found = problems(text)
    assert any(fragment in line for line in found), found


# -- mappings ----------------------------------------------------------------------------


def test_mappings_simple_and_weighted() -> None:
    conf = model(
        """
        mappings {
          foo: bar
          "bar": [ {destination: "bar.v1", weight: 80%}, {dest: "bar.v2", weight: 20} ]
          cl: {destination: "cl.east", weight: 100, cluster: east}
        }
        """
    )
    assert conf["mappings"] == {
        "foo": "bar",
        "bar": [{"destination": "bar.v1", "weight": 80}, {"destination": "bar.v2", "weight": 20}],
        "cl": [{"destination": "cl.east", "weight": 100, "cluster": "east"}],
    }
    assert model("maps { a: b }")["mappings"] == {"a": "b"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("mappings { c: [{destination: d, weight: 60%}, {dest: e, weight: 50}] }", "exceeds 100"),
        ("mappings { c: [{destination: d}] }", "missing weight"),
        ("mappings { c: [{weight: 5}] }", "needs a destination"),
        ("mappings { c: [{destination: d, weight: 101}] }", "from 0 to 100"),
        ("mappings { c: 5 }", "expected a destination subject"),
        ('mappings { "a..b": c }', "not a valid subject"),
    ],
)
def test_mapping_problems(text: str, fragment: str) -> None:
    assert any(fragment in line for line in problems(text))


# -- tls, websocket, jetstream, cluster --------------------------------------------------


@pytest.fixture
def pem_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("-----BEGIN PLACEHOLDER-----\n")
    return tmp_path


def test_tls_block(pem_files: Path) -> None:
    tr = report(
        """
        tls {
          cert_file: cert.pem
          key_file: "key.pem"
          ca_file: ca.pem
          verify: true
          timeout: "3s"
          handshake_first: true
          cipher_suites: ["TLS_AES_128_GCM_SHA256"]
        }
        """
    )
    assert tr.model["tls"] == {
        "cert_file": "cert.pem",
        "key_file": "key.pem",
        "ca_file": "ca.pem",
        "verify": True,
        "timeout": 3.0,
        "handshake_first": True,
    }
    assert any('"tls.cipher_suites" is ignored' in line for line in tr.ignored)


def test_tls_verify_and_map_requires_and_maps_client_certificates(pem_files: Path) -> None:
    tr = report("tls { cert_file: cert.pem, key_file: key.pem, verify_and_map: true }")
    assert tr.model["tls"]["verify"] is True
    assert tr.model["tls"]["verify_and_map"] is True
    assert not any("verify_and_map" in line for line in tr.ignored)


def test_tls_options_nats_server_refuses_are_refused(pem_files: Path) -> None:
    base = "tls { cert_file: cert.pem, key_file: key.pem, %s }"
    known = problems(base % "verify_cert_and_check_known_urls: true")
    assert any("verify_cert_and_check_known_urls not supported in this context" in p for p in known)
    for key in ("cert_store", "cert_match"):
        found = problems(base % f'{key}: "WindowsCurrentUser"')
        assert any(f"{key} not compatible with current operating system" in p for p in found)


def test_tls_problems(pem_files: Path) -> None:
    assert any(
        "no such file" in p for p in problems("tls { cert_file: nope.pem, key_file: key.pem }")
    )
    assert any("cert_file and key_file are required" in p for p in problems("tls { verify: true }"))
    assert any('unknown key "tls.foo"' in p for p in problems("tls { foo: 1 }"))


def test_websocket(pem_files: Path) -> None:
    assert model("websocket { port: 8080, no_tls: true, compression: true }")["websocket"] == {
        "port": 8080,
        "no_tls": True,
        "compression": True,
        "enabled": True,
    }
    ws = model('ws { listen: "127.0.0.1:8443", tls { cert_file: cert.pem, key_file: key.pem } }')
    assert ws["websocket"] == {
        "host": "127.0.0.1",
        "port": 8443,
        "tls": {"cert_file": "cert.pem", "key_file": "key.pem"},
        "enabled": True,
    }
    assert any("tls {} block or no_tls" in p for p in problems("websocket { port: 8080 }"))
    tr = report("websocket { port: 8080, no_tls: true, authorization { token: x } }")
    assert any('"websocket.authorization" is ignored' in line for line in tr.ignored)


@pytest.mark.parametrize(
    ("text", "jetstream"),
    [
        ("jetstream: enabled", {"enabled": True}),
        ("jetstream: true", {"enabled": True}),
        ("jetstream: disabled", {"enabled": False}),
        ("jetstream {}", {"enabled": True}),
        ("jetstream { enabled: false }", {"enabled": False}),
        (
            'jetstream { store_dir: "/data", max_mem: 1G, max_file: "10G", domain: hub }',
            {
                "enabled": True,
                "store_dir": "/data",
                "max_memory": 10**9,
                "max_store": 10 * 2**30,
                "domain": "hub",
            },
        ),
        ("store_dir: /data", {"store_dir": "/data"}),
    ],
)
def test_jetstream(text: str, jetstream: dict[str, Any]) -> None:
    assert model(text)["jetstream"] == jetstream


def test_jetstream_problems() -> None:
    assert any("'enabled' or 'disabled'" in p for p in problems("jetstream: foo"))
    assert any("must end in K, M, G, T" in p for p in problems('jetstream { max_mem: "1GB" }'))
    found = problems('store_dir: "/a"\njetstream { store_dir: "/b" }')
    assert found[0].startswith("t.conf:2: ") and "duplicate store_dir" in found[0]


def test_cluster_is_accepted_and_reported_as_not_implemented() -> None:
    tr = report(
        "cluster {\n name: c1\n listen: 0.0.0.0:6222\n routes: [nats://a:6222]\n"
        " authorization { user: r, password: p }\n}"
    )
    assert tr.model["cluster"] == {
        "name": "c1",
        "listen": "0.0.0.0:6222",
        "routes": ["nats://a:6222"],
    }
    assert any("clustering is not implemented yet" in line for line in tr.ignored)
    assert model("cluster { port: 6333 }")["cluster"] == {"listen": "0.0.0.0:6333"}


# -- unknown, ignored and unsupported keys -------------------------------------------------


def test_documented_keys_are_accepted_and_reported_as_ignored() -> None:
    tr = report(
        "server_tags: [a]\nmqtt { port: 1883 }\ngateway { name: g }\nleafnodes { port: 7422 }\n"
        "client_advertise: x\nhttps_port: 8443\nno_header_support: true"
    )
    assert len(tr.ignored) == 7
    assert tr.ignored[0] == 't.conf:1: key "server_tags" is ignored: not implemented by natskern'


def test_operator_mode_is_refused() -> None:
    assert "JWT/operator mode is not supported" in problems("operator: /x.jwt")[0]


def test_every_problem_is_reported_in_file_order() -> None:
    found = problems("port: 1\nfoo: 1\nmax_payload: abc\nauthorization { bar: 2 }\n")
    assert found == [
        't.conf:2: unknown key "foo"',
        't.conf:3: key "max_payload": expected a size, got "abc"',
        't.conf:4: unknown key "authorization.bar"',
    ]


def test_keys_used_as_variables_are_not_unknown() -> None:
    assert model("PORT: 4333\nport: $PORT")["tcp"]["port"] == 4333
    assert problems("UNUSED: 1") == ['t.conf:1: unknown key "UNUSED"']


def test_keys_match_case_insensitively() -> None:
    assert model("PORT: 4333\nAuthorization { USER: a, Password: b }") == {
        "tcp": {"host": "0.0.0.0", "port": 4333},
        "auth": {"user": "a", "password": "b"},
    }


def test_translate_logs_warnings_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="natskern.natsconf"):
        conf = translate(
            parse_text("ping_interval: 30\nserver_tags: [x]", "t.conf"), source="t.conf"
        )
    assert conf["server"]["ping_interval"] == 30.0
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.WARNING, messages[0][1]) == messages[0]
    assert "should be converted to a duration" in messages[0][1]
    assert any("server_tags" in text for _, text in messages)


def test_translate_errors_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r't\.conf:1: unknown key "nope"'):
        translate(parse_text("nope: 1", "t.conf"), source="t.conf")
