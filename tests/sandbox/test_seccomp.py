"""The seccomp program, run through a tiny classic-BPF interpreter for both architectures
(the real kernel check for this machine's architecture is in test_security.py)."""

from __future__ import annotations

import struct

import pytest

from junction.sandbox import seccomp

ALLOW, KILL = seccomp.RET_ALLOW, seccomp.RET_KILL_PROCESS


def errno(value: int) -> int:
    return seccomp.RET_ERRNO | value


def run(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Evaluate the filter on one seccomp_data (nr, arch, ip=0, args=[arg0, 0, …])."""
    data = struct.pack("<iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    code = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        pc += 1
        if op == seccomp.LD_W_ABS:
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == seccomp.RET_K:
            return k
        else:
            taken = {
                seccomp.JEQ_K: acc == k,
                seccomp.JGE_K: acc >= k,
                seccomp.JSET_K: bool(acc & k),
            }[op]
            pc += jt if taken else jf


@pytest.mark.parametrize("arch", [seccomp.X86_64, seccomp.AARCH64], ids=lambda a: a.name)
def test_filter_decisions(arch: seccomp.Arch) -> None:
    program = seccomp.build_filter(arch)
    n = arch.numbers
    other_arch = 0x40000003  # i386: everything is killed
    assert run(program, other_arch, n["socket"], 2) == KILL
    for name in seccomp.DENIED:
        assert run(program, arch.audit_arch, n[name]) == errno(seccomp.EPERM), name
    assert run(program, arch.audit_arch, n["clone3"]) == errno(seccomp.ENOSYS)
    assert run(program, arch.audit_arch, n["unshare"], 0x10000000) == errno(seccomp.EPERM)
    assert run(program, arch.audit_arch, n["unshare"], 0x00000400) == ALLOW  # CLONE_FILES
    assert run(program, arch.audit_arch, n["clone"], 0x01200011) == ALLOW  # fork()
    assert run(program, arch.audit_arch, n["clone"], 0x10000000 | 17) == errno(seccomp.EPERM)
    assert run(program, arch.audit_arch, n["socket"], 1) == errno(seccomp.EAFNOSUPPORT)
    assert run(program, arch.audit_arch, n["socket"], 40) == errno(seccomp.EAFNOSUPPORT)
    for family in (2, 10, 16):
        assert run(program, arch.audit_arch, n["socket"], family) == ALLOW
    assert run(program, arch.audit_arch, 0) == ALLOW  # read / io_setup
    if arch.x32_bit:
        assert run(program, arch.audit_arch, 0x40000000 | 41, 1) == errno(seccomp.ENOSYS)
