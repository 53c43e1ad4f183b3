"""Quotas that hold when a workspace is copied, and the inode quota (issue 8), on the
real bubblewrap sandbox: links made by sandboxed code, copies made by Junction."""

from __future__ import annotations

import pytest

from junction.sandbox import Limits, QuotaExceeded
from tests.sandbox.conftest import FAST, Boxes

MiB = 2**20


async def test_hard_links_stay_links_when_a_workspace_is_copied(secure: Boxes) -> None:
    limits = Limits(**{**FAST.to_json(), "disk_bytes": 24 * MiB})
    source = await secure.new(limits)
    done = await source.run(
        "head -c 4M /dev/urandom > data && mkdir d && "
        "for i in $(seq 50); do ln data d/link$i; done; stat -c %h data"
    )
    assert done.stdout.strip() == b"51", done.stderr
    usage = await source.disk_usage()
    assert usage < 5 * MiB  # 51 names, one file
    target = await secure.new(limits)
    await target.copy_from(source)  # 50 copies of 4 MiB would be 200 MiB against 24
    assert await target.disk_usage() < 5 * MiB
    check = await target.run("stat -c %h data d/link50 && cmp data d/link7 && echo same")
    assert check.stdout.split() == [b"51", b"51", b"same"], check.stderr
    snapshot = await source.snapshot(source.id + "-snap")
    try:
        assert await snapshot.disk_usage() < 5 * MiB
    finally:
        await snapshot.destroy()


async def test_a_copy_never_passes_the_quota(secure: Boxes) -> None:
    big = await secure.new(Limits(**{**FAST.to_json(), "disk_bytes": 64 * MiB}))
    await big.run("head -c 10M /dev/zero > a && head -c 10M /dev/zero > b")
    small = await secure.new(Limits(**{**FAST.to_json(), "disk_bytes": 12 * MiB}))
    with pytest.raises(QuotaExceeded):
        await small.copy_from(big)
    assert await small.disk_usage() <= 12 * MiB


async def test_the_inode_quota(secure: Boxes) -> None:
    box = await secure.new(Limits(**{**FAST.to_json(), "max_files": 200}))
    done = await box.run("for i in $(seq 100000); do : > f$i; done; echo finished")
    assert done.result.killed_reason == "disk_quota" and b"finished" not in done.stdout
    with pytest.raises(QuotaExceeded, match="200 files"):
        await box.write_file("one-more.txt", b"x")
    cleaned = await box.run("rm -f f*; echo cleaned")
    assert b"cleaned" in cleaned.stdout  # an over-limit workspace can be cleaned up
    await box.write_file("fits.txt", b"x")
    many = await secure.new(Limits(**{**FAST.to_json(), "max_files": 5000}))
    await many.run("mkdir t && cd t && for i in $(seq 300); do : > f$i; done")
    with pytest.raises(QuotaExceeded, match="files, directories and links"):
        await box.copy_from(many)
