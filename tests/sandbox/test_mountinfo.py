"""What a sandbox can learn about the host from its mount table (issue 8). Bind mounts
show their source path relative to the host file system in ``/proc/self/mountinfo``; a
kernel limit that no mount option hides (docs/sandbox.md). This pins down that the only
host paths visible are the read-only system directories and the backend's own root (the
workspace and the generated /etc), never the data directory's other contents."""

from __future__ import annotations

from pathlib import Path

from junction.sandbox import SandboxBackend
from tests.sandbox.conftest import Boxes


async def test_mountinfo_shows_no_host_path_outside_the_sandbox_root(
    secure: Boxes, secure_backend: SandboxBackend, data_dir: Path
) -> None:
    box = await secure.new()
    done = await box.run("cat /proc/self/mountinfo")
    assert done.result.exit_code == 0, done.stderr
    root = str(secure_backend.root)  # type: ignore[attr-defined]
    system = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
    sources = []
    for line in done.stdout.decode().splitlines():
        fields = line.split()
        source, target = fields[3], fields[4]
        sources.append(source)
        if source in ("/", "/newroot") or (source.startswith(system) and source == target):
            continue
        if source.startswith(("/null", "/zero", "/full", "/random", "/urandom", "/tty")):
            continue  # device nodes bound from the host's devtmpfs
        assert source.startswith(root + "/"), f"host path {source} visible at {target}"
    assert not any(str(data_dir / "junction.db") in s for s in sources)
    assert any(s.endswith("/workspace") for s in sources)  # the documented exposure
