"""Forbid a process to write files, but beneath one folder: Linux's Landlock, where there.

The learner's process (:mod:`jaxbp.exercises.child`) calls :func:`forbid_writes`
after it has imported JAX and before it imports the learner's file.  From then
on nothing it runs can create, change or remove a file outside its own
temporary folder: not the grader's installed code, not a teacher's report
folder or its saved grades, not another student's submission.  Reading is
untouched.  Landlock (Linux 5.13 and later) needs no privileges; where it is
missing (another OS, an older kernel, a container that blocks it) the call
returns ``False`` and the time and memory limits are what remain.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
import sys

__all__ = ["forbid_writes"]

# landlock_create_ruleset, landlock_add_rule, landlock_restrict_self: the same on x86-64
# and arm64 (the generic syscall table)
_CALLS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
_WRITE_FILE, _TRUNCATE = 1 << 1, 1 << 14
_WRITES_V1 = (
    (1 << 1)  # WRITE_FILE
    | (1 << 4)  # REMOVE_DIR
    | (1 << 5)  # REMOVE_FILE
    | (1 << 6)  # MAKE_CHAR
    | (1 << 7)  # MAKE_DIR
    | (1 << 8)  # MAKE_REG
    | (1 << 9)  # MAKE_SOCK
    | (1 << 10)  # MAKE_FIFO
    | (1 << 11)  # MAKE_BLOCK
    | (1 << 12)  # MAKE_SYM
)
_REFER = 1 << 13  # ABI 2: linking or renaming across folders
_PR_SET_NO_NEW_PRIVS = 38


def _add_rule(libc, add_rule: int, ruleset: int, path: str, access: int, flags: int) -> bool:
    fd = os.open(path, os.O_PATH | flags)
    try:
        attr = ctypes.create_string_buffer(struct.pack("<Qi", access, fd))  # packed, 12 bytes
        return libc.syscall(add_rule, ruleset, 1, attr, 0) == 0  # LANDLOCK_RULE_PATH_BENEATH
    finally:
        os.close(fd)


def forbid_writes(allowed: str) -> bool:
    """From now on, this process writes files only beneath ``allowed`` (and ``/dev/null``).

    Returns whether the restriction is in force (``False``: no Landlock here).
    """
    calls = _CALLS.get(platform.machine()) if sys.platform == "linux" else None
    if calls is None:
        return False
    create, add_rule, restrict = calls
    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(create, None, ctypes.c_size_t(0), 1)  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        return False
    writes = _WRITES_V1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = ctypes.create_string_buffer(struct.pack("<Q", writes))  # handled_access_fs only
    ruleset = libc.syscall(create, attr, ctypes.c_size_t(8), 0)
    if ruleset < 0:
        return False
    try:
        file_writes = _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0)
        ok = _add_rule(libc, add_rule, ruleset, allowed, writes, os.O_DIRECTORY)
        ok = ok and _add_rule(libc, add_rule, ruleset, os.devnull, file_writes, 0)
        ok = ok and libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
        return ok and libc.syscall(restrict, ruleset, 0) == 0
    finally:
        os.close(ruleset)
