"""The ``territory`` command fixes glibc's threshold for large blocks and puts Arrow on the
system allocator (territory._allocator): a freed array of a few MiB gives its memory back
instead of staying with the process."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")

# a 16 MiB array freed (glibc then serves blocks up to 16 MiB from its heap), then a hundred
# arrays of 2 MiB, each beside a small one that stays: how much memory the process keeps
# once the hundred are freed
SCRIPT = """
import sys
import numpy as np
from territory._allocator import return_freed_memory
def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
if sys.argv[1] == "set":
    assert return_freed_memory()
big = np.ones(2 << 20)
del big
base = rss_mib()
arrays, small = [], []
for _ in range(100):
    arrays.append(np.ones(1 << 18))
    small.append(np.ones(1000))
del arrays
kept = rss_mib() - base
# imported after return_freed_memory(), as the run's writers do
import pyarrow as pa
print(kept, pa.default_memory_pool().backend_name)
"""


def _kept_mib(mode: str) -> tuple[int, str]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                         check=True)
    kept, arrow_allocator = out.stdout.split()
    return int(kept), arrow_allocator


def test_freed_large_arrays_give_their_memory_back() -> None:
    kept, arrow_allocator = _kept_mib("default")
    assert kept > 150  # what the command avoids: glibc keeps the 200 MiB
    assert arrow_allocator != "system"
    kept, arrow_allocator = _kept_mib("set")
    assert kept < 20
    assert arrow_allocator == "system"


def test_the_run_command_sets_it(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from territory import cli

    calls: list[bool] = []
    monkeypatch.setattr(cli, "return_freed_memory", lambda: calls.append(True) or True)
    monkeypatch.setattr("territory.run.run_maps", lambda settings: [])
    assert cli.main(["map", "--out", str(tmp_path / "out"), "--departement", "44"]) == 0
    assert calls == [True]


def test_arrow_already_imported_is_switched_too() -> None:
    script = ("import pyarrow as pa\nfrom territory._allocator import return_freed_memory\n"
              "return_freed_memory()\nprint(pa.default_memory_pool().backend_name)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "system"
