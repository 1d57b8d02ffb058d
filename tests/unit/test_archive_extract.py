"""The registry's archive is unpacked safely on interpreters with and without tarfile's filters."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from streams.infra.registry import check_member, extract_archive


def _tar(path: Path, members: list[tarfile.TarInfo], payload: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if m.isfile():
                m.size = len(payload)
                tar.addfile(m, io.BytesIO(payload))
            else:
                tar.addfile(m)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def test_plain_archive_unpacks(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar.gz", [_member("app", tarfile.DIRTYPE), _member("app/run.jar")])
    extract_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "app" / "run.jar").read_bytes() == b"x"


@pytest.mark.parametrize("member", [
    _member("../escape.txt"),
    _member("/etc/escape.txt"),
    _member("app/link", tarfile.SYMTYPE, "../../outside"),
    _member("app/abs", tarfile.SYMTYPE, "/etc/passwd"),
    _member("dev", tarfile.CHRTYPE),
], ids=["dotdot", "absolute", "symlink-out", "symlink-abs", "device"])
def test_escaping_members_are_refused_by_the_fallback(tmp_path: Path, member: tarfile.TarInfo) -> None:
    with pytest.raises(ValueError):
        check_member(member, tmp_path / "out")


def test_in_tree_link_is_accepted(tmp_path: Path) -> None:
    check_member(_member("app/lib/link", tarfile.SYMTYPE, "../run.jar"), tmp_path / "out")


def test_escaping_archive_writes_nothing_outside(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "b.tar.gz", [_member("../escape.txt")])
    with pytest.raises((ValueError, tarfile.TarError)):
        extract_archive(archive, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
