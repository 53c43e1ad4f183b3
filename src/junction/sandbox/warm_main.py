"""The pre-started interpreter: runs *inside* a bubblewrap sandbox as its pid 1.

Not imported by Junction: :mod:`junction.sandbox.bwrap_warm` passes this file's source
to ``python3 -c`` with one argument, the number of an inherited ``AF_UNIX`` socket (one
end of a ``socketpair`` Junction made; nothing else can reach it). The program imports
the stdlib modules worth having, says ``R`` (ready) and waits for exactly one request:
a length-prefixed JSON header ``{argv, env, cwd, fsize}`` sent with the command's
stdin/stdout/stderr as ``SCM_RIGHTS``. It then becomes that command — used once, so
nothing of one execution can reach the next:

* the three fds become 0, 1, 2; the socket and every other fd are closed;
* ``RLIMIT_FSIZE`` is lowered to what the workspace quota leaves now (the other limits
  were set by ``prlimit`` at launch, as for a cold start); the environment is replaced;
  the working directory is changed;
* ``python3 -c CODE …`` runs here, in a fresh ``__main__``, when nothing the interpreter
  read at start-up differs (environment variables it reads, a user site directory that
  appeared since, a workspace file shadowing a pre-imported module); anything else is
  ``execvpe``'d, exactly as ``prlimit`` would have.
"""

import sys

# Nothing is imported from the workspace while this program sets up: code there runs
# only as the command, when `python3 -c` would run it.
CWD_ON_PATH = bool(sys.path) and sys.path[0] == ""
if CWD_ON_PATH:
    del sys.path[0]
BASELINE = set(sys.modules)
import base64  # noqa: E402,F401  (pre-imports: the stdlib modules code commonly uses)
import builtins  # noqa: E402
import collections  # noqa: E402,F401
import csv  # noqa: E402,F401
import datetime  # noqa: E402,F401
import functools  # noqa: E402,F401
import itertools  # noqa: E402,F401
import json  # noqa: E402
import math  # noqa: E402,F401
import os  # noqa: E402
import pathlib  # noqa: E402,F401
import random  # noqa: E402,F401
import re  # noqa: E402,F401
import resource  # noqa: E402
import signal  # noqa: E402
import site  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402,F401
import textwrap  # noqa: E402,F401
import time  # noqa: E402,F401
import types  # noqa: E402

PRELOADED = {name.partition(".")[0] for name in set(sys.modules) - BASELINE}
PYTHONS = ("python3", "/usr/bin/python3")
START_ENV_PREFIXES = ("PYTHON", "LC_", "LD_")
START_ENV_KEYS = ("LANG", "LANGUAGE", "TZ", "PATH", "HOME")


def startup_env(env: "dict[str, str]") -> "dict[str, str]":
    """The variables the interpreter (and what it pre-imported) read at start-up."""
    return {k: v for k, v in env.items() if k.startswith(START_ENV_PREFIXES) or k in START_ENV_KEYS}


def receive(sock: socket.socket) -> "tuple[dict[str, object], list[int]]":
    data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, 3)
    if not data:
        os._exit(0)  # Junction let go of this interpreter
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        more = sock.recv(1 << 16)
        if not more:
            os._exit(0)
        data += more
    return json.loads(data[4:]), fds


def can_run_here(argv: "list[str]", env: "dict[str, str]", launch_env: "dict[str, str]") -> bool:
    if len(argv) < 3 or argv[0] not in PYTHONS or argv[1] != "-c":
        return False
    if startup_env(env) != startup_env(launch_env):
        return False
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    if user_site and os.path.isdir(user_site) and user_site not in sys.path:
        return False
    try:
        names = os.listdir(".")
    except OSError:
        return False
    return not any(name.partition(".")[0] in PRELOADED for name in names)


def run_code(code: str, argv: "list[str]") -> None:
    main = types.ModuleType("__main__")
    loader = globals().get("__loader__")
    main.__dict__.update(__builtins__=builtins, __loader__=loader, __spec__=None)
    if CWD_ON_PATH:
        sys.path.insert(0, "")
    sys.modules["__main__"] = main
    sys.argv = ["-c", *argv[3:]]
    sys.orig_argv = list(argv)
    try:
        exec(compile(code, "<string>", "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # print it as `python3 -c` would: no frame of ours
        tb = exc.__traceback__
        exc.__traceback__ = tb.tb_next if tb is not None else None
        sys.excepthook(type(exc), exc, exc.__traceback__)
        failed = True
    else:
        failed = False
        # What the code printed is out now, not after the interpreter's shutdown (which
        # flushes whatever atexit handlers or threads still write, as for a cold start).
        try:
            sys.stdout.flush()
        except Exception:
            pass
    if failed:
        sys.exit(1)


def main() -> None:
    launch_env = dict(os.environ)
    sock = socket.socket(fileno=int(sys.argv[1]))
    sock.sendall(b"R")
    request, fds = receive(sock)
    sock.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    fsize = int(request["fsize"])  # type: ignore[call-overload]
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    env = {str(k): str(v) for k, v in dict(request["env"]).items()}  # type: ignore[call-overload]
    argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
    os.environ.clear()
    os.environ.update(env)
    os.chdir(str(request["cwd"]))
    if can_run_here(argv, env, launch_env):
        run_code(argv[2], argv)
        return
    # Signals Python ignores at start-up would stay ignored across exec; a cold start
    # runs the command with the default dispositions.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"bwrap: execvp {argv[0]}: {exc.strerror}\n".encode())
        os._exit(1)


main()
