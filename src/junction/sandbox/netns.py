"""Create a listening TCP socket *inside* another process's network namespace.

This is how the egress proxy reaches a sandbox: the sandbox gets an empty network
namespace (only ``lo``), and Junction opens ``127.0.0.1:3128`` in that namespace while
the sandbox is still blocked before exec. The socket is served by Junction's own event
loop, so no trusted helper process runs inside the sandbox, no AF_UNIX socket is needed
there, and the only thing the sandbox can connect to is that proxy.

Joining the namespace needs ``CAP_SYS_ADMIN`` over it. As root a short-lived thread
does ``setns(CLONE_NEWNET)`` and exits. Unprivileged, a one-shot helper process (single
threaded, so it may join a user namespace) enters the namespace's owning user namespace
— which the caller owns, since its bwrap created it — then the network namespace, and
hands the socket back over ``SCM_RIGHTS``.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import subprocess
import sys
import threading

from junction.sandbox.errors import SandboxUnavailable

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
NS_GET_USERNS = 0xB701

_HELPER = r"""
import ctypes, fcntl, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
pid, port, channel = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
user = fcntl.ioctl(net, 0xB701)
for fd, flag in ((user, 0x10000000), (net, 0x40000000)):
    if libc.setns(fd, flag) != 0:
        raise SystemExit(f"setns: {os.strerror(ctypes.get_errno())}")
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", port))
sock.listen(128)
socket.send_fds(socket.socket(fileno=channel), [b"k"], [sock.fileno()])
"""


def _listen_here(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def _listen_as_root(pid: int, port: int) -> socket.socket:
    result: list[socket.socket | BaseException] = []

    def enter() -> None:  # this thread dies in the sandbox's namespace; nothing reuses it
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET)")
            finally:
                os.close(fd)
            result.append(_listen_here(port))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=enter, name="junction-netns", daemon=True)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _listen_via_helper(pid: int, port: int) -> socket.socket:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with ours, theirs:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _HELPER, str(pid), str(port), str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            capture_output=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"netns helper failed: {done.stderr.decode(errors='replace')[-300:]}")
        _msg, fds, _flags, _addr = socket.recv_fds(ours, 16, 1)
    return socket.socket(fileno=fds[0])


async def listen_in_netns(pid: int, port: int) -> socket.socket:
    """A non-blocking listening socket on 127.0.0.1:``port`` in ``pid``'s network namespace."""
    try:
        if os.geteuid() == 0:
            sock = await asyncio.to_thread(_listen_as_root, pid, port)
        else:
            sock = await asyncio.to_thread(_listen_via_helper, pid, port)
    except OSError as exc:
        raise SandboxUnavailable(
            f"could not open the egress proxy inside the sandbox's network namespace: {exc}"
        ) from exc
    sock.setblocking(False)
    return sock
