"""Context files: natscli's format and place, read and written by both tools."""

from __future__ import annotations

import json
import stat
import sys

# A context exactly as natscli (jsm.go natscontext) writes it: every key, struct
# order, two-space indent, HTML-escaped, no trailing newline.  "future_key"
# stands for a field a newer natscli may add: it must survive a rewrite.
NATSCLI_FILE = """{
  "description": "Team \\u003cdev\\u003e \\u0026 friends",
  "url": "%s",
  "socks_proxy": "",
  "token": "",
  "user": "",
  "password": "",
  "creds": "",
  "nkey": "",
  "cert": "",
  "key": "",
  "ca": "",
  "nsc": "",
  "jetstream_domain": "",
  "jetstream_api_prefix": "",
  "jetstream_event_prefix": "",
  "inbox_prefix": "",
  "user_jwt": "",
  "user_seed": "",
  "color_scheme": "",
  "tls_first": false,
  "windows_cert_store": "",
  "windows_cert_match_by": "",
  "windows_cert_match": "",
  "windows_ca_certs_match": null,
  "future_key": "kept"
}"""


def test_add_writes_natscli_format(cli):
    result = cli(
        "context",
        "add",
        "dev",
        "-s",
        "nats://127.0.0.1:4333",
        "--user",
        "a",
        "--password",
        "b",
        "--description",
        "Team <dev> & friends",
    )
    assert result.returncode == 0, result.stderr
    assert 'NATS Configuration Context "dev"' in result.stdout
    assert "Password: *" in result.stdout and "b\n" not in result.stdout
    path = cli.context_dir / "dev.json"
    expected = (NATSCLI_FILE % "nats://127.0.0.1:4333").replace(',\n  "future_key": "kept"', "")
    expected = expected.replace('"user": ""', '"user": "a"').replace(
        '"password": ""', '"password": "b"'
    )
    assert path.read_text() == expected
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_natscli_file_is_read_used_and_kept(cli, gnatsd):
    cli.context_dir.mkdir(parents=True)
    (cli.context_dir / "team.json").write_text(NATSCLI_FILE % gnatsd.url)
    (cli.context_dir.parent / "context.txt").write_text("team\n")
    listing = cli("context", "ls")
    assert listing.returncode == 0, listing.stderr
    assert "team*" in listing.stdout and "Team <dev> & friends" in listing.stdout
    # The selected context is used for connecting.
    assert cli("pub", "ctx.test", "x").returncode == 0
    # Updating it keeps the unknown key and the exact layout.
    assert cli("context", "add", "team", "--description", "Team <dev> & friends").returncode == 0
    assert (cli.context_dir / "team.json").read_text() == NATSCLI_FILE % gnatsd.url
    shown = json.loads(cli("context", "info", "team", "--json").stdout)
    assert shown["name"] == "team" and shown["url"] == gnatsd.url


def test_select_ls_rm_cycle(cli):
    for port, name in ((4001, "one"), (4002, "two")):
        assert cli("context", "add", name, "-s", f"nats://127.0.0.1:{port}").returncode == 0
    assert cli("context", "ls", "--names").stdout == "one\ntwo\n"
    assert cli("context", "select", "one").returncode == 0
    assert cli("ctx", "switch", "two").returncode == 0
    root = cli.context_dir.parent
    assert (root / "context.txt").read_text() == "two"
    assert (root / "previous-context.txt").read_text() == "one"
    assert "two*" in cli("context", "ls").stdout
    removed = cli("context", "rm", "two", "--force")
    assert removed.returncode == 0
    assert not (root / "context.txt").exists()
    assert cli("context", "rm", "one", "-f").returncode == 0
    assert cli("context", "ls").stdout.strip() == "No known contexts"


def test_flags_and_env_override_context_fields(cli, gnatsd):
    assert cli("context", "add", "wrong", "-s", "nats://127.0.0.1:1", "--select").returncode == 0
    assert cli("pub", "x", "y").returncode != 0
    assert cli("pub", "x", "y", "-s", gnatsd.url).returncode == 0
    assert cli("pub", "x", "y", env={"NATS_URL": gnatsd.url}).returncode == 0
    assert cli("--server", gnatsd.url, "pub", "x", "y").returncode == 0


def test_context_given_as_json_path(cli, gnatsd, tmp_path):
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps({"url": gnatsd.url}))
    result = cli("pub", "x", "y", "--context", str(path))
    assert result.returncode == 0, result.stderr


def test_missing_selected_context_is_unselected(cli, gnatsd):
    root = cli.context_dir.parent
    root.mkdir(parents=True)
    (root / "context.txt").write_text("gone")
    result = cli("pub", "x", "y", "-s", gnatsd.url)
    assert result.returncode == 0, result.stderr
    assert 'The selected context "gone" was not found, unselecting it' in result.stderr
    assert not (root / "context.txt").exists()


def test_edit_with_editor(cli, tmp_path):
    assert cli("context", "add", "ed", "-s", "nats://127.0.0.1:4222").returncode == 0
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import json, sys\n"
        "p = sys.argv[1]\n"
        "d = json.load(open(p))\n"
        "d['description'] = 'edited'\n"
        "json.dump(d, open(p, 'w'))\n"
    )
    result = cli("context", "edit", "ed", env={"EDITOR": f"{sys.executable} {editor}"})
    assert result.returncode == 0, result.stderr
    saved = json.loads((cli.context_dir / "ed.json").read_text())
    assert saved["description"] == "edited"
    assert list(saved)[:2] == ["description", "url"]


def test_user_without_password_is_stored_as_token(cli):
    assert cli("context", "add", "tok", "--user", "s3cret").returncode == 0
    saved = json.loads((cli.context_dir / "tok.json").read_text())
    assert (saved["user"], saved["token"]) == ("", "s3cret")
