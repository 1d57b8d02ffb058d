"""Keep OpenBLAS single-threaded while the fitter runs.

scipy's L-BFGS-B makes many tiny BLAS calls per iteration; with OpenBLAS's default thread pool on
a small, shared machine each call pays a thread wake-up, which measured here as ~10x the whole
optimiser's own cost (about 2 ms per iteration on a 9-parameter problem). This does what
threadpoolctl does, without the dependency: find the OpenBLAS libraries mapped into the process
and set their thread count through their exported setter, restoring it afterwards.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
            "openblas_get_num_threads64_", "openblas_get_num_threads")


def _openblas_handles() -> list[tuple[ctypes.CDLL, str, str]]:
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return []
    paths = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                    if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    out = []
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        setter = next((s for s in _SETTERS if hasattr(lib, s)), None)
        getter = next((g for g in _GETTERS if hasattr(lib, g)), None)
        if setter and getter:
            out.append((lib, setter, getter))
    return out


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    handles = _openblas_handles()
    saved = [int(getattr(lib, g)()) for lib, _, g in handles]
    for lib, s, _ in handles:
        getattr(lib, s)(ctypes.c_int(1))
    try:
        yield
    finally:
        for (lib, s, _), n in zip(handles, saved, strict=True):
            getattr(lib, s)(ctypes.c_int(n))
