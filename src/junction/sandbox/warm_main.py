"""The pre-started interpreter: runs *inside* a bubblewrap sandbox as its pid 1.

Not imported by Junction: :mod:`junction.sandbox.bwrap_warm` passes this file's source
to ``python3 -c`` with one argument, the number of an inherited ``AF_UNIX`` socket (one
end of a ``socketpair`` Junction made; nothing else can reach it). The program says
``R`` (ready) as soon as it runs, imports the stdlib modules worth having while it waits
(stopping when a command arrives), and takes exactly one request:
a length-prefixed ``marshal`` header ``{argv, env, cwd, fsize}`` sent with the command's
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

# Nothing is imported from the workspace while this program waits: code there runs only
# as the command, when `python3 -c` would run it.
CWD_ON_PATH = bool(sys.path) and sys.path[0] == ""
if CWD_ON_PATH:
    del sys.path[0]
BASELINE = set(sys.modules)
# Only C modules (and what start-up already loaded) until it has said it is ready, so a
# warm interpreter is ready about as soon as a cold `python3` would be.
import _signal  # noqa: E402
import _socket  # noqa: E402
import builtins  # noqa: E402
import marshal  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import site  # noqa: E402

# Imported while idle, one at a time, stopping as soon as a command arrives.
PRELOAD = (
    "re json math collections itertools functools datetime time random base64 textwrap "
    "pathlib csv subprocess"
).split()
PYTHONS = ("python3", "/usr/bin/python3")
START_ENV_PREFIXES = ("PYTHON", "LC_", "LD_")
START_ENV_KEYS = ("LANG", "LANGUAGE", "TZ", "PATH", "HOME")
FD_SIZE = 4


def startup_env(env: dict[str, str]) -> dict[str, str]:
    """The variables the interpreter (and what it pre-imported) read at start-up."""
    return {k: v for k, v in env.items() if k.startswith(START_ENV_PREFIXES) or k in START_ENV_KEYS}


def preload(sock: _socket.socket) -> None:
    # A command that waited for this interpreter is sent the moment it is ready: give it
    # a moment before importing anything.
    sock.settimeout(0.02)
    try:
        sock.recv(1, _socket.MSG_PEEK)
        return
    except TimeoutError:
        pass
    finally:
        sock.settimeout(None)
    for name in PRELOAD:
        try:
            sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
            return  # a command (or EOF) is waiting
        except BlockingIOError:
            pass
        try:
            __import__(name)
        except Exception:
            return


def receive(sock: _socket.socket) -> tuple[dict[str, object], list[int]]:
    space = _socket.CMSG_SPACE(3 * FD_SIZE)
    data, ancillary, _flags, _addr = sock.recvmsg(1 << 16, space)
    if not data:
        os._exit(0)  # Junction let go of this interpreter
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % FD_SIZE
            fds += [
                int.from_bytes(payload[i : i + FD_SIZE], sys.byteorder)
                for i in range(0, usable, FD_SIZE)
            ]
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        more = sock.recv(1 << 16)
        if not more:
            os._exit(0)
        data += more
    request = marshal.loads(data[4:])
    if len(fds) != 3 or not isinstance(request, dict):
        os._exit(1)
    return request, fds


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
    preloaded = {name.partition(".")[0] for name in set(sys.modules) - BASELINE}
    return not any(name.partition(".")[0] in preloaded for name in names)


def run_code(code: str, argv: "list[str]") -> None:
    main = type(sys)("__main__")
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
    sock = _socket.socket(fileno=int(sys.argv[1]))
    sock.sendall(b"R")
    preload(sock)
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
    _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
    _signal.signal(_signal.SIGXFSZ, _signal.SIG_DFL)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        os.write(2, f"bwrap: execvp {argv[0]}: {exc.strerror}\n".encode())
        os._exit(1)


main()
