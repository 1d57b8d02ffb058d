"""Apicurio Registry for the local stack, with its schemas on disk beside the broker's data.

Why on disk: records carry only a schema id. A registry that keeps schemas in memory (Apicurio's
default, H2 ``jdbc:h2:mem:``) forgets them on every `microexec infra down` / `up` while the broker
keeps its records: every Avro record then fails to decode, and fresh registrations can hand out
the ids old records carry, so an old record may even decode against the wrong schema.

Why a file-backed H2 database and not KafkaSQL (a journal topic on the broker, as Karapace keeps
``_schemas``): both Apicurio lines we run (3.3.x on Java 21+, 3.0.x on Java 17) accept
``apicurio.datasource.url`` with ``jdbc:h2:file:``, it needs no broker to start, and it adds no
topic that tests listing the broker's topics would see. The database is tied to the broker's
KRaft cluster id (``registry/<cluster id>/``): a broker formatted afresh (``--fresh``, or its data
deleted by hand) gets an empty registry too, so schemas never outlive or predate their records.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from streams.infra import maven
from streams.infra.java import best_java, find_java

REGISTRY_VERSION_JAVA21 = "3.3.3"  # compiled for Java 21 (class file 65)
REGISTRY_VERSION_JAVA17 = "3.0.9"  # the newest line that still runs on Java 17


def registry_choice() -> tuple[str, str]:
    """(registry version, java) — 3.3.3 where a Java 21+ exists, else the Java 17 line."""
    wanted = os.environ.get("MICROEXEC_REGISTRY_VERSION")
    java21 = best_java(21)
    if wanted:
        java, _ = find_java(21 if wanted.startswith("3.3") else 17)
        return wanted, java
    if java21 is not None:
        return REGISTRY_VERSION_JAVA21, java21[0]
    java17, _ = find_java(17)
    print(f"note: Apicurio Registry {REGISTRY_VERSION_JAVA21} needs Java 21+ and none was found; "
          f"using {REGISTRY_VERSION_JAVA17}, which runs on Java 17")
    return REGISTRY_VERSION_JAVA17, java17


def fetch_registry(cache: Path, version: str) -> Path:
    """The unpacked registry under ``cache`` (downloaded from Maven Central once)."""
    target = cache / f"apicurio-registry-{version}"
    if (target / ".complete").exists():
        return target
    downloads = cache / "downloads"
    print(f"fetching Apicurio Registry {version} from Maven Central")
    with maven.progress_bar() as progress:
        archive = maven.fetch("io.apicurio", "apicurio-registry-app", version, downloads, ext="tar.gz",
                              classifier="all", progress=progress)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    extract_archive(archive, target)
    (target / ".complete").write_text(version)
    return target


def extract_archive(archive: Path, target: Path) -> None:
    """Unpack a downloaded tar under ``target``, refusing members that would land outside it.

    Why by hand where the interpreter lacks it: the ``data`` extraction filter exists from CPython
    3.11.4 / 3.12 on, and Debian 12's system Python (3.11.2, what a clean machine's ``python3`` is)
    has no ``filter`` argument at all, so the registry could not be installed there.
    """
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
            return
        members = tar.getmembers()
        for member in members:
            check_member(member, target)
        tar.extractall(target, members=members)  # every member checked above


def check_member(member: tarfile.TarInfo, target: Path) -> None:
    """Raise unless ``member`` is a plain file, directory or in-tree link under ``target``."""
    root = target.resolve()
    dest = (root / member.name).resolve()
    if not dest.is_relative_to(root):
        raise ValueError(f"archive member {member.name!r} would be written outside {root}")
    if member.issym() or member.islnk():
        base = dest.parent if member.issym() else root
        link = (base / member.linkname).resolve()
        if os.path.isabs(member.linkname) or not link.is_relative_to(root):
            raise ValueError(f"archive member {member.name!r} links outside {root}: {member.linkname!r}")
    elif not (member.isfile() or member.isdir()):
        raise ValueError(f"archive member {member.name!r} is neither a file, a directory nor a link")


def registry_jar(root: Path) -> Path | None:
    for pattern in ("quarkus-run.jar", "*-runner.jar", "quarkus-app/quarkus-run.jar"):
        found = sorted(root.glob(pattern))
        if found:
            return found[0]
    return None


def kraft_cluster_id(kafka_data: Path) -> str | None:
    """The cluster id the storage tool wrote into ``meta.properties`` (None before formatting)."""
    try:
        text = (kafka_data / "meta.properties").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "cluster.id":
            return value.strip() or None
    return None


def database_dir(home: Path, cluster_id: str) -> Path:
    return home / "registry" / cluster_id


def prepare_database(home: Path, kafka_data: Path) -> Path:
    """The H2 database file stem for the broker's current cluster; databases of other clusters go.

    Prints a note when the broker holds records but the registry has nothing for them (a stack
    started before schemas were kept on disk): those records cannot be decoded."""
    cluster_id = kraft_cluster_id(kafka_data)
    if cluster_id is None:
        raise RuntimeError(f"no KRaft cluster id in {kafka_data / 'meta.properties'}: start the broker first")
    root = home / "registry"
    if root.is_dir():
        for stale in root.iterdir():
            if stale.name != cluster_id:
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
    target = database_dir(home, cluster_id)
    if not target.exists() and any(kafka_data.glob("*-*")):
        print("note: the registry starts empty while the broker keeps records written by a registry that kept "
              "its schemas in memory; those records cannot be decoded (`microexec infra up --fresh` starts "
              "both empty)")
    target.mkdir(parents=True, exist_ok=True)
    return target / "schemas"


def datasource_url(db_stem: Path) -> str:
    """``WRITE_DELAY=0``: H2 otherwise flushes commits up to 500 ms later, so a registry killed
    right after a registration (SIGKILL after a hung shutdown) would lose a schema whose id a
    producer has already written into records."""
    return f"jdbc:h2:file:{db_stem};WRITE_DELAY=0"


def registry_argv(java: str, jar: Path, *, host: str, port: int, db_stem: Path, home: Path) -> list[str]:
    return [java, "-Xms128m", "-Xmx768m", f"-Dmicroexec.home={home}",
            f"-Dquarkus.http.port={port}", f"-Dquarkus.http.host={host}",
            # Quarkus' management interface (health, metrics) listens on 0.0.0.0:9000 by default: a
            # second stack (a test's private one) could not start, and nothing here uses it.
            f"-Dquarkus.management.host={host}", "-Dquarkus.management.port=0",
            "-Dapicurio.storage.kind=sql", "-Dapicurio.storage.sql.kind=h2",
            f"-Dapicurio.datasource.url={datasource_url(db_stem)}",
            "-jar", str(jar)]
