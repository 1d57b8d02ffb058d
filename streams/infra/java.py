"""Finding a Java runtime of the right version.

Why a search and not just ``java`` on PATH: Apicurio Registry 3.3 is compiled for Java 21 while the
broker needs 17; machines often have several JDKs side by side under /usr/lib/jvm.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path


class JavaNotFound(RuntimeError):
    pass


@lru_cache(maxsize=32)
def java_version(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def candidates() -> list[str]:
    found: list[str] = []
    for env in ("MICROEXEC_JAVA", "JAVA_HOME"):
        value = os.environ.get(env)
        if value:
            path = Path(value)
            found.append(str(path / "bin" / "java") if path.is_dir() else str(path))
    on_path = shutil.which("java")
    if on_path:
        found.append(on_path)
    for jvm_root in (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm")):
        if jvm_root.is_dir():
            found.extend(str(p / "bin" / "java") for p in sorted(jvm_root.iterdir()) if (p / "bin" / "java").exists())
    unique: list[str] = []
    for item in found:
        if item not in unique and os.access(item, os.X_OK):
            unique.append(item)
    return unique


def find_java(min_version: int) -> tuple[str, int]:
    """The first candidate (explicit settings first, then PATH) with at least ``min_version``."""
    seen = []
    for java in candidates():
        version = java_version(java)
        seen.append(f"{java} ({version or 'unknown'})")
        if version >= min_version:
            return java, version
    detail = ", ".join(seen) or "none found on PATH, JAVA_HOME or /usr/lib/jvm"
    raise JavaNotFound(f"need Java {min_version}+; found: {detail}. Install a JDK or set MICROEXEC_JAVA.")


def best_java(min_version: int) -> tuple[str, int] | None:
    """The newest candidate at or above ``min_version``, or None."""
    best: tuple[str, int] | None = None
    for java in candidates():
        version = java_version(java)
        if version >= min_version and (best is None or version > best[1]):
            best = (java, version)
    return best
