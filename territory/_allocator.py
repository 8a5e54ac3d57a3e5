"""Memory given back to the system as soon as it is freed, set by the ``territory`` command.

glibc's ``malloc`` gives a block of 128 KiB or more its own memory map, returned to the
system when the block is freed; but each time such a block is freed it raises that threshold
to the block's size (up to 32 MiB). After a run's first large arrays, numpy's temporaries of a
few MiB (the density raster's spans, the map's coordinates, the GeoPackage's columns) come
from the heap instead, and their memory stays with the process once they are freed: the next
step's peak adds to it. Fixed at 1 MiB (which also stops the raising), every block of 1 MiB or
more is returned when freed. Measured on all of France (docs/benchmarks.md): peak 898 -> 777 MiB,
0.35-0.5 s more (the maps of the large blocks); DuckDB's 256 KiB blocks stay below it and keep
being recycled by the heap (thresholds of 256 KiB, 4 and 16 MiB gained nothing more).

Arrow's buffers (the registries read, the commune grid, the tables handed to GDAL) come from
its own allocator (mimalloc), which keeps what it frees: Arrow is put on the system allocator,
so that the threshold above applies to them too. Measured: a département run with the national
registry files 728 -> 676 MiB, all of France 764 -> 730 MiB and 0.35 s faster.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

#: glibc's ``M_MMAP_THRESHOLD`` option of ``mallopt`` (malloc.h)
_M_MMAP_THRESHOLD = -3
LARGE_BLOCK_BYTES = 1 << 20


def return_freed_memory() -> bool:
    """Have glibc map every block of :data:`LARGE_BLOCK_BYTES` or more on its own, so that
    freeing it returns its memory, and Arrow allocate through it; return whether glibc's
    threshold was set (False off glibc, where only Arrow's allocator changes)."""
    # Arrow reads its default allocator from the environment when it first allocates: pyarrow
    # (41 MiB) is imported by the code that needs it, not for this
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))
