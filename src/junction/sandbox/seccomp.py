"""A small seccomp-BPF program, assembled in pure Python, for ``bwrap --seccomp FD``.

The filter (x86_64 and aarch64; any other audit arch, including the i386/x32/arm32
compat ABIs, is killed):

* ``ptrace``, ``process_vm_readv/writev``, ``kcmp``, ``pidfd_getfd``, ``process_madvise``
  → EPERM (no inspecting or hijacking other processes);
* ``unshare`` and ``clone`` with any ``CLONE_NEW*`` flag → EPERM (in particular no new
  user namespace; bwrap's ``--disable-userns`` enforces the same in the kernel);
  ``clone3`` → ENOSYS (its flags live in memory seccomp cannot read; libc then falls
  back to ``clone``); ``setns`` → EPERM;
* ``socket`` with a family other than AF_INET, AF_INET6, AF_NETLINK → EAFNOSUPPORT
  (so no AF_UNIX socket can connect to anything; ``socketpair`` stays allowed, it only
  makes an anonymous connected pair, which Python's asyncio and libuv need);
* ``io_uring_*`` → EPERM (io_uring can create sockets without the ``socket`` syscall);
* kernel-attack-surface and admin calls → EPERM: ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``keyctl``/``add_key``/``request_key``, ``kexec_*``, module loading,
  ``mount``/``umount2``/``pivot_root``/``chroot`` and the new mount API, ``swapon``/
  ``swapoff``, ``reboot``, ``acct``, ``quotactl``, ``syslog``, ``lookup_dcookie``,
  ``open_by_handle_at``/``name_to_handle_at``;
* everything else is allowed (the namespaces, dropped capabilities and rlimits do the rest).
"""

from __future__ import annotations

import os
import platform
import struct
from dataclasses import dataclass

# BPF opcodes (linux/filter.h) and seccomp constants (linux/seccomp.h, linux/audit.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS, EAFNOSUPPORT = 1, 38, 97
AF_INET, AF_INET6, AF_NETLINK = 2, 10, 16
X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET; unshare also NEWTIME (0x80).
CLONE_NS_FLAGS = 0x7E020000
UNSHARE_NS_FLAGS = CLONE_NS_FLAGS | 0x80

OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args are little-endian u64

DENIED = (
    "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd process_madvise setns "
    "io_uring_setup io_uring_enter io_uring_register bpf perf_event_open userfaultfd "
    "keyctl add_key request_key kexec_load kexec_file_load init_module finit_module "
    "delete_module mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig "
    "fsmount fspick mount_setattr swapon swapoff reboot acct quotactl syslog "
    "lookup_dcookie open_by_handle_at name_to_handle_at"
).split()


@dataclass(frozen=True)
class Arch:
    name: str
    audit_arch: int
    x32_bit: bool  # reject syscall numbers with the x32 bit (x86_64 only)
    numbers: dict[str, int]


X86_64 = Arch(
    "x86_64",
    0xC000003E,
    True,
    dict(ptrace=101, process_vm_readv=310, process_vm_writev=311, kcmp=312, pidfd_getfd=438,
         process_madvise=440, setns=308, io_uring_setup=425, io_uring_enter=426,
         io_uring_register=427, bpf=321, perf_event_open=298, userfaultfd=323, keyctl=250,
         add_key=248, request_key=249, kexec_load=246, kexec_file_load=320, init_module=175,
         finit_module=313, delete_module=176, mount=165, umount2=166, pivot_root=155,
         chroot=161, open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432,
         fspick=433, mount_setattr=442, swapon=167, swapoff=168, reboot=169, acct=163,
         quotactl=179, syslog=103, lookup_dcookie=212, open_by_handle_at=304,
         name_to_handle_at=303, unshare=272, clone=56, clone3=435, socket=41),
)  # fmt: skip
AARCH64 = Arch(
    "aarch64",
    0xC00000B7,
    False,
    dict(ptrace=117, process_vm_readv=270, process_vm_writev=271, kcmp=272, pidfd_getfd=438,
         process_madvise=440, setns=268, io_uring_setup=425, io_uring_enter=426,
         io_uring_register=427, bpf=280, perf_event_open=241, userfaultfd=282, keyctl=219,
         add_key=217, request_key=218, kexec_load=104, kexec_file_load=294, init_module=105,
         finit_module=273, delete_module=106, mount=40, umount2=39, pivot_root=41, chroot=51,
         open_tree=428, move_mount=429, fsopen=430, fsconfig=431, fsmount=432, fspick=433,
         mount_setattr=442, swapon=224, swapoff=225, reboot=142, acct=89, quotactl=60,
         syslog=116, lookup_dcookie=18, open_by_handle_at=265, name_to_handle_at=264,
         unshare=97, clone=220, clone3=435, socket=198),
)  # fmt: skip
ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


class _Assembler:
    """Straight-line BPF with forward jumps to named labels, resolved at the end."""

    def __init__(self) -> None:
        self.code: list[tuple[int, int | str, int | str, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: int | str = 0, jf: int | str = 0) -> None:
        self.code.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (code, jt, jf, k) in enumerate(self.code):
            offsets = []
            for target in (jt, jf):
                offset = target if isinstance(target, int) else self.labels[target] - index - 1
                if not 0 <= offset <= 255:
                    raise ValueError(f"BPF jump out of range at instruction {index}")
                offsets.append(offset)
            out += struct.pack("<HBBI", code, offsets[0], offsets[1], k & 0xFFFFFFFF)
        return bytes(out)


def build_filter(arch: Arch) -> bytes:
    """The filter for ``arch`` as raw ``struct sock_filter`` records."""
    n = arch.numbers
    asm = _Assembler()
    asm.op(LD_W_ABS, OFF_ARCH)
    asm.op(JEQ_K, arch.audit_arch, 0, "kill")
    asm.op(LD_W_ABS, OFF_NR)
    if arch.x32_bit:
        asm.op(JGE_K, X32_SYSCALL_BIT, "enosys", 0)
    for name in DENIED:
        asm.op(JEQ_K, n[name], "eperm", 0)
    asm.op(JEQ_K, n["clone3"], "enosys", 0)
    asm.op(JEQ_K, n["clone"], "clone", 0)
    asm.op(JEQ_K, n["unshare"], "unshare", 0)
    asm.op(JEQ_K, n["socket"], "socket", 0)
    asm.op(RET_K, RET_ALLOW)
    asm.label("clone")
    asm.op(LD_W_ABS, OFF_ARG0)
    asm.op(JSET_K, CLONE_NS_FLAGS, "eperm", "allow")
    asm.label("unshare")
    asm.op(LD_W_ABS, OFF_ARG0)
    asm.op(JSET_K, UNSHARE_NS_FLAGS, "eperm", "allow")
    asm.label("socket")
    asm.op(LD_W_ABS, OFF_ARG0)
    asm.op(JEQ_K, AF_INET, "allow", 0)
    asm.op(JEQ_K, AF_INET6, "allow", 0)
    asm.op(JEQ_K, AF_NETLINK, "allow", 0)
    asm.op(RET_K, RET_ERRNO | EAFNOSUPPORT)
    asm.label("allow")
    asm.op(RET_K, RET_ALLOW)
    asm.label("eperm")
    asm.op(RET_K, RET_ERRNO | EPERM)
    asm.label("enosys")
    asm.op(RET_K, RET_ERRNO | ENOSYS)
    asm.label("kill")
    asm.op(RET_K, RET_KILL_PROCESS)
    return asm.assemble()


def host_arch() -> Arch | None:
    return ARCHES.get(platform.machine().lower())


def filter_fd(program: bytes) -> int:
    """A memfd holding ``program``, positioned at 0 (bwrap reads it to EOF)."""
    fd = os.memfd_create("junction-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
