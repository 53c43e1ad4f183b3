"""Containment tests against the real bubblewrap sandbox. Each one tries to get out.

Every test uses the ``secure`` fixture, which afterwards checks that the host is
healthy: the test process can still fork, allocate and run, and no sandboxed process
outlived its exec.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from junction.sandbox import (
    EgressRule,
    FileNotFoundInSandbox,
    Limits,
    NetworkPolicy,
    PathOutsideWorkspace,
    QuotaExceeded,
    Sandbox,
    SandboxBackend,
)
from junction.sandbox.local import LocalSandbox
from tests.sandbox.conftest import SECRET, Boxes, EchoServer

MiB = 2**20


def host_dir(box: Sandbox) -> Path:
    assert isinstance(box, LocalSandbox)
    return box.workspace.root


async def test_cannot_read_host_files(secure: Boxes, data_dir: Path) -> None:
    victim = await secure.new()
    await victim.write_file("secret.txt", SECRET.encode())
    box = await secure.new()
    probes = [
        "/etc/shadow", "/etc/gshadow", "/root", "/home", "/var/lib/postgresql",
        str(data_dir / "junction.db"), str(host_dir(victim) / "secret.txt"),
        "/proc/1/root/etc/shadow", "/run", "/var/run/docker.sock", "/sys/fs/cgroup",
    ]  # fmt: skip
    done = await box.run(" ; ".join(f"ls -d {p} 2>/dev/null && echo FOUND {p}" for p in probes))
    assert b"FOUND" not in done.stdout, done.stdout
    done = await box.run(
        "grep -rs --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr -l "
        f"{SECRET} / ; ls /; ls /etc"
    )
    assert SECRET.encode() not in done.stdout and b"secret.txt" not in done.stdout
    top = set(done.stdout.split(b"\n"))
    assert {b"home", b"root", b"var", b"run", b"srv", b"opt", b"mnt"}.isdisjoint(top)
    assert b"shadow" not in done.stdout


async def test_identity_and_privileges(secure: Boxes) -> None:
    box = await secure.new()
    done = await box.run(
        "id -u; cat /proc/self/oom_score_adj; "
        "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; "
        "ls /proc | grep -c '^[0-9]'"
    )
    lines = done.stdout.decode().split("\n")
    assert lines[0] == "1000"
    assert lines[1] == "1000", "host OOM pressure must take sandboxed processes first"
    assert "CapEff:\t0000000000000000" in lines and "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines and "Seccomp:\t2" in lines
    assert int(lines[-2]) <= 3  # only this exec's processes are visible
    marker = f"sleep {30 + os.getpid() % 1000}"
    async with box.exec(f"echo up; {marker}") as run:
        await run.__anext__()
        uids: set[str] = set()
        for _ in range(100):
            uids = _uids_of(marker)
            if uids:
                break
            await asyncio.sleep(0.02)
        assert uids, "the sandboxed process was not found from the host"
        assert "0" not in uids, "sandboxed processes must not be root on the host"


def _uids_of(cmdline: str) -> set[str]:
    uids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().replace(b"\0", b" ").strip() != cmdline.encode():
                    continue
            with open(f"/proc/{pid}/status") as f:
                uids |= {line.split()[1] for line in f if line.startswith("Uid:")}
        except OSError:
            continue
    return uids


async def test_cannot_write_outside_workspace(secure: Boxes) -> None:
    box = await secure.new()
    marker = f"junction-escape-{os.getpid()}"
    done = await box.run(
        f"for d in / /usr /etc /bin /dev /proc /var; do touch $d/{marker} 2>/dev/null "
        f"&& echo WROTE $d; done; echo tmp > /tmp/{marker} && cat /tmp/{marker}"
    )
    assert b"WROTE" not in done.stdout
    assert done.stdout.endswith(b"tmp\n")  # the private /tmp works…
    for directory in ("/", "/usr", "/etc", "/tmp", "/var"):
        assert not os.path.exists(os.path.join(directory, marker))  # …and is not the host's
    done = await box.run(f"ln /etc/passwd hard 2>&1; ls hard 2>&1; cat /tmp/{marker} 2>&1")
    assert b"No such file" in done.stdout  # /tmp did not persist; no hard link was made


async def test_no_network_by_default(secure: Boxes) -> None:
    box = await secure.new()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        script = f"""
import socket
for target in [("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", 5432), ("127.0.0.1", {port}),
               ("10.0.0.1", 80), ("169.254.169.254", 80)]:
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(target)
        print("CONNECTED", target)
    except OSError as exc:
        print("blocked", target, exc.errno)
try:
    print("RESOLVED", socket.getaddrinfo("example.com", 80))
except OSError:
    print("no dns")
print(open("/proc/net/dev").read().count(":"))
"""
        done = await box.run(["python3", "-c", script])
        assert b"CONNECTED" not in done.stdout and b"RESOLVED" not in done.stdout
        assert b"no dns" in done.stdout
        assert done.stdout.strip().endswith(b"1"), "only the loopback interface exists"
        curl = await box.run("curl -sS -m 3 http://example.com/ 2>&1; env | grep -i proxy")
        assert curl.result.exit_code != 0 and b"proxy" not in curl.stdout.lower()
    finally:
        listener.close()


async def test_proxy_refuses_unlisted_and_private(secure: Boxes, echo_server: EchoServer) -> None:
    policy = NetworkPolicy((EgressRule("allowed.invalid"), EgressRule("localhost")))
    box = await secure.new(network=policy)
    done = await box.run(
        "curl -sS -m 5 http://example.com/; echo; "
        "curl -sS -m 5 http://localhost:5432/ --noproxy '' ; echo; "
        f"curl -sS -m 5 {echo_server.url}/ ; echo; "
        "curl -sS -m 5 https://example.com/ 2>&1; echo; "
        "curl -sS -m 5 --noproxy '*' http://93.184.215.14/ 2>&1"
    )
    out = done.stdout.decode()
    assert "host 'example.com' is not on this sandbox's egress allowlist" in out
    assert "'localhost' resolves to" in out and "not reachable from sandboxes" in out
    assert "host '127.0.0.2' is not on this sandbox's egress allowlist" in out
    assert "403" in out  # CONNECT to example.com refused too
    assert "Couldn't connect" in out or "Failed to connect" in out  # no direct route
    assert echo_server.seen == []


async def test_proxy_refuses_private_ip_even_with_wildcard(secure: Boxes) -> None:
    box = await secure.new(network=NetworkPolicy((EgressRule("*"),)))
    relay = """
import socket, sys
for line in sys.argv[1:]:
    s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
    s.sendall(line.encode() + b"\\r\\n\\r\\n")
    print(line.split()[1], s.recv(200).split(b"\\r\\n")[0].decode())
"""
    done = await box.run(
        ["python3", "-c", relay,
         "CONNECT 127.0.0.1:5432 HTTP/1.1", "CONNECT [::1]:5432 HTTP/1.1",
         "CONNECT 10.1.2.3:443 HTTP/1.1", "CONNECT 169.254.169.254:80 HTTP/1.1",
         "CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1", "GET http://127.0.0.1:5432/ HTTP/1.1",
         "CONNECT 0.0.0.0:5432 HTTP/1.1", "GET / HTTP/1.1",
         "POST http://x.invalid/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked"]
    )  # fmt: skip
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 9, done.stderr
    assert all(line.endswith("403 Forbidden") for line in lines[:7]), lines
    assert all(line.endswith("400 Bad Request") for line in lines[7:]), lines


async def test_allowlisted_request_gets_headers_and_secret_stays_out(
    bwrap_private: SandboxBackend, echo_server: EchoServer
) -> None:
    rule = EgressRule("127.0.0.2", headers={"X-Project": "p1"}, credential_id="test-cred")
    box = await bwrap_private.create("cred-" + os.urandom(4).hex(), network=NetworkPolicy((rule,)))
    try:
        url = echo_server.url
        done = await box.run(
            f"curl -sS -m 5 {url}/ok?x=1 -H 'Authorization: forged' -d payload; echo; "
            'python3 -c "import urllib.request as u; '
            f"print(u.urlopen('{url}/py').read())\"; "
            "env; cat /proc/self/environ; ls -la /workspace /tmp; "
            "grep -rs --exclude-dir=proc --exclude-dir=sys --exclude-dir=usr -l sk-test- / ; "
            "curl -sS -m 5 http://127.0.0.1:5432/ 2>&1 | head -c 200; echo; "  # NO_PROXY: direct
            "curl -sS -m 5 -x http://127.0.0.1:3128 http://127.0.0.3:1/ 2>&1"  # not on the list
        )
        out = done.stdout.decode()
        assert '"path": "/ok?x=1"' in out and '"body": "payload"' in out
        seen = echo_server.seen
        assert len(seen) == 2
        for headers in seen:
            assert headers["Authorization"] == f"Bearer {SECRET}"
            assert headers["X-Project"] == "p1"
            assert "Proxy-Connection" not in headers
        assert SECRET not in out.replace(f'"Authorization": "Bearer {SECRET}"', "")
        assert "Failed to connect to 127.0.0.1" in out or "Couldn't connect" in out
        assert "host '127.0.0.3' is not on this sandbox's egress allowlist" in out
        files = {e.path for e in await box.list_files(".", recursive=True)}
        assert files == set()
    finally:
        await box.destroy()


async def test_fork_bomb_is_contained(secure: Boxes) -> None:
    box = await secure.new(Limits(wall_seconds=4, max_processes=32, cpu_seconds=10))
    start = time.monotonic()
    done = await box.run("bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", timeout=4)
    assert time.monotonic() - start < 8
    assert b"survived" in done.stdout or done.result.timed_out
    assert b"Resource temporarily unavailable" in done.stderr or b"fork" in done.stderr


async def test_memory_bomb_is_contained(secure: Boxes) -> None:
    box = await secure.new(Limits(wall_seconds=20, memory_bytes=256 * MiB))
    done = await box.run(["python3", "-c", "x = bytearray(2 * 1024**3); print('allocated')"])
    assert b"allocated" not in done.stdout and b"MemoryError" in done.stderr
    many = (
        "for i in 1 2 3 4; do python3 -c 'import time; x = bytearray(200 * 2**20); "
        'x[::4096] = b"1" * len(x[::4096]); time.sleep(1)\' & done; wait; echo done'
    )
    done = await box.run(many)
    assert done.result.exit_code == 0  # each bounded; with cgroups the sum is bounded too
    shm = await box.run("head -c 300M /dev/zero > /dev/shm/fill; echo rc=$?; df -k /dev/shm /tmp")
    assert b"rc=0" not in shm.stdout  # the RAM-backed mounts are size-capped


async def test_disk_fill_past_quota(secure: Boxes) -> None:
    box = await secure.new(Limits(wall_seconds=30, disk_bytes=20 * MiB))
    done = await box.run("head -c 50M /dev/zero > big; echo rc=$?; ls -l big")
    assert b"rc=0" not in done.stdout
    assert await box.disk_usage() <= 20 * MiB + MiB
    await box.delete_file("big")
    done = await box.run("for i in $(seq 200); do head -c 1M /dev/zero > f$i; done; echo finished")
    usage = await box.disk_usage()
    assert done.result.killed_reason == "disk_quota" or b"finished" in done.stdout
    assert usage < 20 * MiB * 3, "overshoot is bounded by one monitoring interval"
    with pytest.raises(QuotaExceeded):
        await box.write_file("more.bin", b"x" * MiB)
    again = await box.run("echo x > one_more; echo rc=$?; rm -f f*; echo cleaned")
    assert b"cleaned" in again.stdout  # an over-quota workspace can still be cleaned up
    assert await box.disk_usage() < MiB


async def test_runaway_cpu_is_killed(secure: Boxes) -> None:
    box = await secure.new(Limits(wall_seconds=40, cpu_seconds=1))
    done = await box.run(["python3", "-c", "while True: pass"])
    assert done.result.killed_reason == "cpu_limit" and done.result.cpu_seconds >= 0.9


async def test_seccomp_blocks_escapes(secure: Boxes) -> None:
    box = await secure.new()
    script = r"""
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def call(name, *args):
    rc = getattr(libc, name)(*args)
    return "ok" if rc >= 0 else errno.errorcode[ctypes.get_errno()]
print("ptrace", call("ptrace", 16, 1, 0, 0))
print("unshare_user", call("unshare", 0x10000000))
print("unshare_net", call("unshare", 0x40000000))
print("setns", call("setns", os.open("/proc/self/ns/net", os.O_RDONLY), 0))
print("clone3", call("syscall", 435, 0, 0))
for family in ("AF_UNIX", "AF_PACKET", "AF_VSOCK"):
    try:
        socket.socket(getattr(socket, family), socket.SOCK_STREAM)
        print(family, "ok")
    except OSError as exc:
        print(family, errno.errorcode[exc.errno])
a, b = socket.socketpair()
print("socketpair ok")
"""
    done = await box.run(["python3", "-c", script])
    out = dict(line.split(" ", 1) for line in done.stdout.decode().splitlines())
    assert out == {
        "ptrace": "EPERM", "unshare_user": "EPERM", "unshare_net": "EPERM",
        "setns": "EPERM", "clone3": "ENOSYS", "AF_UNIX": "EAFNOSUPPORT",
        "AF_PACKET": "EAFNOSUPPORT", "AF_VSOCK": "EAFNOSUPPORT", "socketpair": "ok",
    }, done.stderr  # fmt: skip
    tools = await box.run("unshare -U true; echo rc=$?; bwrap --ro-bind / / true; echo rc=$?")
    assert tools.stdout == b"rc=1\nrc=1\n"


async def test_path_traversal_through_file_api(secure: Boxes) -> None:
    box = await secure.new()
    await box.run("ln -s /etc/passwd link; ln -s / root; ln -s .. up; mkfifo pipe; mkdir d")
    for path in ("link", "root/etc/passwd", "up/x", "/etc/passwd", "../x", "d/../../x"):
        with pytest.raises(PathOutsideWorkspace):
            [c async for c in box.read_file(path)]
    for path in ("root/etc", "up"):
        with pytest.raises(PathOutsideWorkspace):
            await box.list_files(path, recursive=True)
    before = Path("/etc/passwd").read_bytes()
    for path in ("root/tmp/escaped", "up/escaped", "../escaped", "/tmp/escaped"):
        with pytest.raises(PathOutsideWorkspace):
            await box.write_file(path, b"x")
    for path in ("root/etc/passwd", "up/d"):
        with pytest.raises(PathOutsideWorkspace):
            await box.delete_file(path, recursive=True)
    with pytest.raises(FileNotFoundInSandbox):
        await asyncio.wait_for(box.read_file("pipe").__anext__(), 5)  # no hang on a FIFO
    await box.write_file("link", b"replaced")  # replaces the link itself, never its target
    await box.delete_file("root")  # removes the link, not /
    assert Path("/etc/passwd").read_bytes() == before and os.path.isdir("/etc")
    assert not os.path.exists("/tmp/escaped")
    names = {e.name: e.type for e in await box.list_files(".", recursive=True)}
    assert names == {"link": "file", "up": "symlink", "d": "directory"}
    await box.write_file("d/x", b"1")
    swap = "rm -rf d; ln -s /etc d"  # swap a directory for a symlink between calls
    await box.run(swap)
    with pytest.raises(PathOutsideWorkspace):
        [c async for c in box.read_file("d/passwd")]


async def test_timeout_and_cancel_kill_everything(secure: Boxes) -> None:
    box = await secure.new()
    done = await box.run("(sleep 60 &) ; setsid sleep 60 & nohup sleep 60 & sleep 60", timeout=1)
    assert done.result.timed_out
    run = box.exec("sleep 60 & sleep 60 & echo ready; wait")
    task = asyncio.ensure_future(run.__anext__())
    await task
    start = time.monotonic()
    await run.aclose()
    assert time.monotonic() - start < 1


async def test_https_credential_injection_by_interception(
    bwrap_private: SandboxBackend, tls_echo_server: EchoServer
) -> None:
    rule = EgressRule("127.0.0.2", headers={"X-Project": "p1"}, credential_id="test-cred")
    box = await bwrap_private.create("tls-" + os.urandom(4).hex(), network=NetworkPolicy((rule,)))
    try:
        url = tls_echo_server.url
        done = await box.run(
            f"curl -sS -v -m 5 {url}/secure -H 'Authorization: forged' -d body 2>err; echo; "
            "grep -i 'issuer' err; "
            'python3 -c "import urllib.request as u; '
            f"print(u.urlopen('{url}/py').read())\"; env"
        )
        out = done.stdout.decode()
        assert '"path": "/secure"' in out and '"body": "body"' in out, done.stderr
        assert "Junction sandbox egress CA" in out  # the sandbox verified the proxy's cert
        assert len(tls_echo_server.seen) == 2
        for headers in tls_echo_server.seen:
            assert headers["Authorization"] == f"Bearer {SECRET}"
            assert headers["X-Project"] == "p1"
        assert SECRET not in out.replace(f'"Authorization": "Bearer {SECRET}"', "")
    finally:
        await box.destroy()


async def test_https_without_injection_is_a_blind_tunnel(
    bwrap_private: SandboxBackend, tls_echo_server: EchoServer
) -> None:
    box = await bwrap_private.create(
        "tun-" + os.urandom(4).hex(), network=NetworkPolicy((EgressRule("127.0.0.2"),))
    )
    try:
        url = tls_echo_server.url
        done = await box.run(
            f"curl -sS -m 5 {url}/a 2>&1; echo; curl -sS -k -v -m 5 {url}/b 2>&1 | grep -i issuer"
        )
        out = done.stdout.decode()
        # The real server's certificate reaches the sandbox untouched: it is not trusted
        # there (curl refuses), and with -k curl shows the upstream CA, not Junction's.
        assert "certificate" in out.lower() and "Junction test upstream CA" in out
        assert [h.get("Authorization") for h in tls_echo_server.seen] == [None]
    finally:
        await box.destroy()


async def test_open_files_per_process_are_capped(secure: Boxes) -> None:
    box = await secure.new(Limits(wall_seconds=30))
    assert Limits().max_open_files == 1024  # the documented default
    script = (
        "import errno, resource\n"
        "print('limit', *resource.getrlimit(resource.RLIMIT_NOFILE))\n"
        "held = []\n"
        "try:\n"
        "    for _ in range(5000):\n"
        "        held.append(open('/dev/null'))\n"
        "except OSError as exc:\n"
        "    print('stopped', len(held), errno.errorcode[exc.errno])\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))\n"
        "    print('raised')\n"
        "except (ValueError, OSError):\n"
        "    print('cannot raise')\n"
    )
    done = await box.run(["python3", "-c", script])
    assert done.result.exit_code == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "limit 1024 1024"
    stopped = lines[1].split()
    assert stopped[0] == "stopped" and stopped[2] == "EMFILE"
    assert 1000 <= int(stopped[1]) < 1024  # a few descriptors are already open
    assert lines[2] == "cannot raise"
