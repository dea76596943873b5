"""glibc malloc's large-block threshold for a long-running API or worker process.

Why: glibc serves an allocation at or above ``M_MMAP_THRESHOLD`` with a mapping of its own and
unmaps it on free. The threshold starts at 128 KiB, but by default it *rises* to the size of any
such block that is freed (up to 32 MiB), and so does the heap's trim threshold: after that,
blocks of that size come from a heap arena and stay resident once freed. argon2id's working
memory, 19 MiB per hash (``domain/users/security.py``), is such a block. The first hash (the
dummy hash, at import) raised the threshold; every later hash then left 19 MiB resident in the
arena of each thread that ever hashed. Measured on ``orderflow api`` (docs/decisions.md,
"Password hashing memory"): 131 MiB idle, 152 MiB after one registration, 229 MiB after eight
concurrent logins, never given back.

Setting the threshold explicitly turns the adjustment off (mallopt(3)). 1 MiB keeps the
frequent mid-sized buffers (export payloads, response bodies) in the heap and maps anything
larger, which is rare and, like a password hash's memory, short-lived.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# From glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 1024 * 1024


def return_large_blocks_to_os() -> bool:
    """Call first thing in a server process, before anything allocates large blocks. False
    where the C library is not glibc (nothing to change there)."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    # mallopt returns 1 on success. The trim threshold is set too: the adjustment may already
    # have raised it, and then a freed block at the heap's top would stay resident.
    return bool(
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)
        and libc.mallopt(M_TRIM_THRESHOLD, 2 * LARGE_BLOCK_BYTES)
    )
