"""``natskern kv ...`` against natskern with JetStream: commands in process, ``watch`` a subprocess."""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import time
from pathlib import Path

import nats

from natskern import Broker
from tests.cli.conftest import Cli, cli_env


def cli(url: str, home: Path, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    """Run ``natskern <args> -s url`` (in process, as tests/cli/conftest.py's ``cli``)."""
    done = Cli(home)(*args, "-s", url, input=stdin)
    return done.returncode, done.stdout, done.stderr


def test_kv_commands(thread_url: str, tmp_path: Path) -> None:
    rc, out, err = cli(thread_url, tmp_path, "kv", "add", "cfg", "--history", "5")
    assert rc == 0, err
    assert "Information for Key-Value Store Bucket cfg" in out and "History Kept: 5" in out
    assert (cli(thread_url, tmp_path, "kv", "put", "cfg", "a", "one"))[1] == "one\n"
    rc, out, _ = cli(thread_url, tmp_path, "kv", "put", "cfg", "b", stdin=b"from stdin")
    assert rc == 0 and out == "\n"
    rc, out, _ = cli(thread_url, tmp_path, "kv", "get", "cfg", "a", "--raw")
    assert (rc, out) == (0, "one")
    rc, out, _ = cli(thread_url, tmp_path, "kv", "get", "cfg", "a")
    assert re.match(r"cfg > a revision: 1 created @ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n", out)
    assert "\none\n" in out
    rc, _, err = cli(thread_url, tmp_path, "kv", "create", "cfg", "a", "x")
    assert rc != 0 and err == "natskern: error: nats: wrong last sequence: 1\n"
    assert (cli(thread_url, tmp_path, "kv", "update", "cfg", "a", "two", "1"))[0] == 0
    rc, _, err = cli(thread_url, tmp_path, "kv", "update", "cfg", "a", "three", "1")
    assert rc != 0 and err == "natskern: error: nats: wrong last sequence: 3\n"
    rc, out, _ = cli(thread_url, tmp_path, "kv", "ls", "cfg")
    assert sorted(out.split()) == ["a", "b"]
    rc, out, _ = cli(thread_url, tmp_path, "kv", "history", "cfg", "a")
    assert "History for cfg > a" in out and "PUT" in out and "two" in out
    assert (cli(thread_url, tmp_path, "kv", "del", "cfg", "b", "-f"))[0] == 0
    rc, _, err = cli(thread_url, tmp_path, "kv", "get", "cfg", "b")
    assert rc != 0 and "key not found" in err
    assert (cli(thread_url, tmp_path, "kv", "purge", "cfg", "a", "-f"))[0] == 0
    assert (cli(thread_url, tmp_path, "kv", "compact", "cfg", "-f"))[0] == 0
    rc, out, _ = cli(thread_url, tmp_path, "kv", "ls", "cfg")
    assert out == "No keys found in bucket\n"
    rc, out, _ = cli(thread_url, tmp_path, "kv", "ls", "-n")
    assert out == "cfg\n"
    rc, out, _ = cli(thread_url, tmp_path, "kv", "ls")
    assert "Key-Value Buckets" in out and "cfg" in out
    rc, out, _ = cli(thread_url, tmp_path, "kv", "status", "cfg")
    assert "JetStream Stream: KV_cfg" in out
    assert (cli(thread_url, tmp_path, "kv", "rm", "cfg", "-f"))[0] == 0
    rc, out, _ = cli(thread_url, tmp_path, "kv", "ls")
    assert out == "No Key-Value buckets found\n"


async def test_kv_watch_command(broker: Broker, url: str, tmp_path: Path) -> None:
    kv = await broker.kv("w", create=True)
    await kv.put("a", b"1")
    await kv.delete("a")
    await kv.put("b", b"2")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "natskern.cli", "kv", "watch", "w", "-s", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli_env(tmp_path),
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        lines = [(await asyncio.wait_for(proc.stdout.readline(), 30)).decode() for _ in range(2)]
        nc = await nats.connect(url)
        await (await nc.jetstream().key_value("w")).put("c", b"live")
        await nc.close()
        lines.append((await asyncio.wait_for(proc.stdout.readline(), 30)).decode())
    finally:
        proc.terminate()
        await proc.wait()
    tails = [line.split("] ", 1)[1] for line in lines]
    assert tails == ["DELETE w > a\n", "PUT w > b: 2\n", "PUT w > c: live\n"]


def test_kv_revert_and_edit(thread_url: str, tmp_path: Path) -> None:
    """``kv revert`` puts an old revision's value back; ``kv edit`` saves through $EDITOR."""
    assert cli(thread_url, tmp_path, "kv", "add", "ed", "--history", "5")[0] == 0
    cli(thread_url, tmp_path, "kv", "put", "ed", "k", "first")
    cli(thread_url, tmp_path, "kv", "put", "ed", "k", "second")
    rc, out, err = cli(thread_url, tmp_path, "kv", "revert", "ed", "k", "1", "-f")
    assert rc == 0, err
    assert out == "ed > k reverted to revision 1: new revision 3\n"
    assert cli(thread_url, tmp_path, "kv", "get", "ed", "k", "--raw")[1] == "first"
    rc, _, err = cli(thread_url, tmp_path, "kv", "revert", "ed", "k", "9", "-f")
    assert rc != 0 and "revision 9 of key k not found" in err

    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nopen(sys.argv[1], 'ab').write(b' edited')\n")
    env = {"EDITOR": f"{sys.executable} {editor}"}

    def edit(key: str) -> tuple[int, str, str]:
        done = Cli(tmp_path)("kv", "edit", "ed", key, "-s", thread_url, env=env)
        return done.returncode, done.stdout, done.stderr

    rc, out, err = edit("k")
    assert (rc, out) == (0, "ed > k saved: revision 4\n"), err
    assert cli(thread_url, tmp_path, "kv", "get", "ed", "k", "--raw")[1] == "first edited"
    rc, out, err = edit("fresh")  # a key that does not exist yet is created
    assert rc == 0 and out == "ed > fresh saved: revision 5\n", err
    assert cli(thread_url, tmp_path, "kv", "get", "ed", "fresh", "--raw")[1] == " edited"
    done = Cli(tmp_path)("kv", "edit", "ed", "k", "-s", thread_url, env={"EDITOR": ""})
    assert done.returncode != 0 and "set EDITOR" in done.stderr


def test_kv_mirror_source_republish_commands(thread_url: str, tmp_path: Path) -> None:
    """``kv add --mirror / --source / --republish-*``: natscli's flags, nats.go's streams."""
    run = functools.partial(cli, thread_url, tmp_path)
    assert run("kv", "add", "orig", "--history", "3")[0] == 0
    assert run("kv", "put", "orig", "a", "one")[0] == 0
    assert run("kv", "put", "orig", "b", "two")[0] == 0
    rc, out, err = run("kv", "add", "mir", "--history", "3", "--mirror", "orig")
    assert rc == 0, err
    assert "Mirror Information" in out and "Origin Bucket: orig" in out
    rc, out, err = run("kv", "add", "agg", "--source", "orig", "--metadata", "team=x")
    assert rc == 0, err
    assert "Sources Information" in out and "Source Bucket: orig" in out and "team: x" in out
    for _ in range(200):  # until both have copied the two values
        mir, agg = run("kv", "ls", "mir")[1], run("kv", "ls", "agg")[1]
        if sorted(mir.split()) == sorted(agg.split()) == ["a", "b"]:
            break
        time.sleep(0.02)
    assert sorted(run("kv", "ls", "mir")[1].split()) == ["a", "b"]
    assert run("kv", "get", "mir", "a", "--raw")[1] == "one"
    assert run("kv", "get", "agg", "b", "--raw")[1] == "two"
    # a put through the mirror lands in the origin
    assert run("kv", "put", "mir", "c", "three")[0] == 0
    for _ in range(200):  # until mirrored: with mirror_direct the mirror may answer
        if run("kv", "get", "mir", "c", "--raw")[1] == "three":  # the origin's direct gets
            break
        time.sleep(0.02)
    assert run("kv", "get", "orig", "c", "--raw")[1] == "three"
    rc, out, _ = run("kv", "history", "mir", "a")
    assert "History for mir > a" in out and "one" in out
    rc, _, err = run("kv", "add", "bad", "--mirror", "orig", "--source", "orig")
    assert rc != 0 and "not both" in err
    rc, out, err = run(
        "kv", "add", "rp", "--republish-source", ">", "--republish-destination", "out.>",
        "--republish-headers", "--compress",
    )  # fmt: skip
    assert rc == 0, err
    assert "Republishing: > to out.>" in out and "Headers Only: true" in out
    assert "Compressed: true" in out
