"""The code-mender agent's patch: what a fix changed in the workspace, as a unified diff.

Before a fix starts, Junction snapshots the workspace in a git repository of its own
(``.code-mender/git``, inside the workspace, so a workspace's own ``.git`` is left
alone; repository sources are copied without theirs). When the fix ends, ``git diff``
between that snapshot and the workspace is the patch: paths relative to the workspace
root, ``a/``/``b/`` prefixes, applicable with ``git apply`` (or ``patch -p1``). Build
artefacts (``__pycache__``, ``*.pyc``, tool caches) are left out. All of it runs in the
sandbox, under its limits.
"""

from __future__ import annotations

from junction.sandbox.base import Sandbox
from junction.sandbox.errors import SandboxError

#: a larger patch is not inlined in the answer (``patch_error`` says so)
MAX_PATCH_BYTES = 1024 * 1024
GIT = (
    "git --git-dir=.code-mender/git --work-tree=. -c safe.directory='*' "
    "-c user.name=code-mender -c user.email=code-mender@junction.invalid "
    "-c core.autocrlf=false -c commit.gpgsign=false -c core.hooksPath=/dev/null"
)
_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LC_ALL": "C"}
_EXCLUDE = "/.code-mender/\n__pycache__/\n*.py[co]\n.pytest_cache/\n.mypy_cache/\n.ruff_cache/\n"

SNAPSHOT = f"""set -e
mkdir -p .code-mender
if [ ! -d .code-mender/git ]; then
  {GIT} init -q
  printf '%s' '{_EXCLUDE}' > .code-mender/git/info/exclude
fi
{GIT} add -A
{GIT} commit -q --allow-empty --no-verify -m "code-mender: before the fix"
"""

DIFF = f"""set -e
{GIT} add -A
{GIT} diff --cached --name-only HEAD
printf '\\0'
{GIT} diff --cached --binary HEAD
"""


class PatchError(Exception):
    pass


async def snapshot(box: Sandbox) -> None:
    """Record the workspace as it is now: the patch will be relative to this."""
    try:
        done = await box.run(SNAPSHOT, env=_ENV, timeout=120)
    except SandboxError as exc:
        raise PatchError(f"the workspace could not be snapshotted: {exc}") from None
    if done.exit_code != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        raise PatchError(f"the workspace could not be snapshotted: {tail}")


async def collect(box: Sandbox) -> tuple[str, list[str]]:
    """The patch since the last snapshot and the files it changes."""
    try:
        done = await box.run(DIFF, env=_ENV, timeout=120)
    except SandboxError as exc:
        raise PatchError(f"the patch could not be computed: {exc}") from None
    if done.exit_code != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-300:]
        raise PatchError(f"the patch could not be computed: {tail}")
    names, _, patch = done.stdout.partition(b"\0")
    files = [n for n in names.decode("utf-8", "replace").splitlines() if n]
    if len(patch) > MAX_PATCH_BYTES:
        raise PatchError(
            f"the patch is {len(patch)} bytes, over {MAX_PATCH_BYTES}: download the changed "
            "files from the environment instead"
        )
    return patch.decode("utf-8", "replace"), files
