"""Drop stale numba caches of the simulator's compiled loops when a file they inline changes.

Why: numba keys a cached function on its *own* source file only (a documented limitation), but
the market and execution loops inline the book's functions and the Hawkes package's kernel.
After a change to ``simulator/book/core.py`` (say, one more slot in the ``meta`` vector), a cached
loop would keep running the old inlined book against new arrays, which segfaults. This guard
hashes every source the compiled loops depend on and, when the hash changed, deletes the cache
indexes of the dependent packages so numba recompiles them. Numba tolerates cache files that
disappear under it, so concurrent processes are safe; a read-only tree or a relocated
``NUMBA_CACHE_DIR`` simply skips the guard.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
_SOURCES = (
    "book/core.py",
    "market/engine.py",
    "market/cancels.py",
    "market/model.py",
    "execution/engine.py",
    "execution/catchup.py",
    "execution/reaction.py",
    "hawkes/multiscale.py",
    "hawkes/simulate.py",
    "hawkes/params.py",
)
_CACHED_PACKAGES = ("book", "market", "execution")


def ensure_fresh_caches() -> bool:
    """Delete dependent cache indexes if any dependency changed since the last check; True if it did."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("NUMBA_DISABLE_JIT"):
        return False
    h = hashlib.sha256()
    for rel in _SOURCES:
        p = _ROOT / rel
        h.update(rel.encode())
        h.update(p.read_bytes() if p.exists() else b"<missing>")
    digest = h.hexdigest()
    stamp = _ROOT / "book" / "__pycache__" / "numba_deps.sha256"
    try:
        if stamp.exists() and stamp.read_text().strip() == digest:
            return False
        for pkg in _CACHED_PACKAGES:
            for f in (_ROOT / pkg / "__pycache__").glob("*.nbi"):
                f.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(digest + "\n")
        tmp.replace(stamp)
    except OSError:
        return False
    return True
