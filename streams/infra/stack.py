"""`microexec infra up | down | status`: a single-node KRaft broker and a schema registry on loopback.

Why this shape: CI and developer machines have Java but no Docker engine. Everything lives under
one cache directory (jars, data, logs, pid files), ``up`` is idempotent, and ``down`` stops only
processes whose command line points into that directory, so it never kills a stranger that
happens to reuse a pid. The registry keeps its schemas in a file database tied to the broker's
data (streams/infra/registry.py), so a restart of the stack loses neither records nor the schemas
that decode them; ``--fresh`` wipes both.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from streams.infra import maven, registry
from streams.infra.java import JavaNotFound, find_java

# Re-exported: the registry's version choice has always been reachable as stack.registry_choice().
from streams.infra.registry import REGISTRY_VERSION_JAVA17, REGISTRY_VERSION_JAVA21, registry_choice  # noqa: F401

LOCK_FILE = Path(__file__).with_name("kafka-jars.lock")
KAFKA_VERSION = "4.3.1"


class InfraError(RuntimeError):
    """A start-up problem with a message that says what to do."""


@dataclass(frozen=True)
class StackConfig:
    """Where the stack lives and listens. ``cache`` (default: ``home``) holds the downloaded jars, so a
    second, private stack (a test's) can share them with the usual one and download nothing."""

    home: Path
    host: str = "127.0.0.1"
    kafka_port: int = 9092
    controller_port: int = 9093
    registry_port: int = 8081
    cache: Path | None = None

    @classmethod
    def from_env(cls) -> StackConfig:
        home = Path(os.path.expanduser(os.environ.get("MICROEXEC_HOME") or "~/.cache/microexec")).resolve()

        def port(name: str, default: int) -> int:
            raw = os.environ.get(name) or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise InfraError(f"{name}={raw!r} is not a TCP port")
            return int(raw)

        return cls(home=home, kafka_port=port("MICROEXEC_KAFKA_PORT", 9092),
                   controller_port=port("MICROEXEC_CONTROLLER_PORT", 9093),
                   registry_port=port("MICROEXEC_REGISTRY_PORT", 8081))

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def registry_url(self) -> str:
        return f"http://{self.host}:{self.registry_port}/apis/ccompat/v7"

    @property
    def downloads(self) -> Path:
        return self.cache or self.home

    @property
    def kafka_libs(self) -> Path:
        return self.downloads / f"kafka-{KAFKA_VERSION}" / "libs"

    @property
    def kafka_data(self) -> Path:
        return self.home / "kafka" / "data"

    @property
    def registry_data(self) -> Path:
        return self.home / "registry"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"


# ---------------------------------------------------------------------------- processes
def pid_alive(pid: int) -> bool:
    """Also reaps ``pid`` when it is our own exited child (a stack started from inside a test):
    an unreaped zombie answers signal 0, and ``down`` then waited its full 30 s per service."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (the usual case: `infra up` ran in another process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(pid: int, cfg: StackConfig) -> bool:
    """True when ``pid`` is a live process started from this stack's directory."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return pid_alive(pid)
    return str(cfg.home) in cmdline


# What tells the stack's two services apart on a command line that names the stack's home.
_SERVICE_MARKERS = {"kafka": "kafka.Kafka", "registry": "-Dquarkus.http.port="}


def stack_processes(cfg: StackConfig, name: str) -> list[int]:
    """Every live process of service ``name`` of this stack, found by its command line (an exact
    ``-Dmicroexec.home=<home>`` argument and the service's marker), whatever the pid file says.

    Why: the pid file is one process's word. A start that raced a restart (a retry after a
    process that had not yet answered) could leave a second broker running whose pid no file
    holds, and ``down`` then left it running: tests that kill and restart the broker leaked JVMs."""
    home_arg = f"-Dmicroexec.home={cfg.home}"
    marker = _SERVICE_MARKERS[name]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
        if home_arg in args and any(marker in arg for arg in args) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return sorted(found)


def running_pid(cfg: StackConfig, name: str) -> int | None:
    """The service's pid: the pid file's when that process is ours and alive, else a process of this
    stack found by its command line (adopted: the pid file is rewritten), else None."""
    path = cfg.pid_file(name)
    pid = None
    if path.exists():
        try:
            pid = int(path.read_text().strip())
        except ValueError:
            pid = None
    if pid is not None and pid_alive(pid) and _ours(pid, cfg):
        return pid
    if not Path("/proc").is_dir():
        return None
    others = stack_processes(cfg, name)
    if not others:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(others[0]))
    return others[0]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def spawn(cfg: StackConfig, name: str, argv: list[str], cwd: Path) -> int:
    """Start ``argv`` detached (own session, log in run/), recording its pid as service ``name``."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    log = cfg.log_file(name).open("ab")
    proc = subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    cfg.pid_file(name).write_text(str(proc.pid))
    return proc.pid


def stop_service(cfg: StackConfig, name: str, timeout: float = 30.0) -> bool:
    """SIGTERM (after SIGCONT) every process of service ``name`` of this stack, the pid file's and any
    found by its command line; SIGKILL what is left after ``timeout``; False when nothing ran."""
    pids = set(stack_processes(cfg, name)) if Path("/proc").is_dir() else set()
    pid = running_pid(cfg, name)
    if pid is not None:
        pids.add(pid)
    cfg_pid = cfg.pid_file(name)
    if not pids:
        cfg_pid.unlink(missing_ok=True)
        return False
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGCONT)  # a paused (SIGSTOPped) service cannot act on SIGTERM
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    for p in pids:
        if pid_alive(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    cfg_pid.unlink(missing_ok=True)
    return True


def log_tail(cfg: StackConfig, name: str, lines: int = 25) -> str:
    path = cfg.log_file(name)
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------------------- downloads
def fetch_kafka(cfg: StackConfig) -> Path:
    coords = maven.read_lock(LOCK_FILE)
    missing = [c for c in coords if not (cfg.kafka_libs / f"{c[1]}-{c[2]}.jar").exists()]
    if missing:
        print(f"fetching {len(missing)} Kafka {KAFKA_VERSION} jars from Maven Central into {cfg.kafka_libs}")
        with maven.progress_bar() as progress:
            for group, artifact, version in missing:
                maven.fetch(group, artifact, version, cfg.kafka_libs, progress=progress)
    return cfg.kafka_libs


def fetch_registry(cfg: StackConfig, version: str) -> Path:
    return registry.fetch_registry(cfg.downloads, version)


# ---------------------------------------------------------------------------- kafka
def kraft_cluster_id() -> str:
    """A 22-character url-safe base64 cluster id, as KRaft wants, that does not start with '-'.

    Why the loop: one id in 64 starts with '-', and the storage tool's argument parser then reads
    it as an option ("argument --cluster-id/-t: expected one argument"); CI hit exactly that. Kafka's
    own Uuid.randomUuid() draws again for the same reason."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _server_properties(cfg: StackConfig, data_dir: Path) -> str:
    h = cfg.host
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{h}:{cfg.controller_port}",
        f"listeners=PLAINTEXT://{h}:{cfg.kafka_port},CONTROLLER://{h}:{cfg.controller_port}",
        f"advertised.listeners=PLAINTEXT://{h}:{cfg.kafka_port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        "num.partitions=6",
        "auto.create.topics.enable=false",
        "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=10",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=10",
        "group.initial.rebalance.delay.ms=0",
        "log.cleaner.backoff.ms=1000",  # compaction shows up within seconds on a dev stack
        "log.retention.ms=-1",  # feeds stamp event time: replayed history is older than any retention
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "",
    ])


LOG4J2_YAML = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
"""


def _start_kafka(cfg: StackConfig, fresh: bool) -> None:
    java, _ = find_java(17)
    libs = fetch_kafka(cfg)
    kafka_dir = cfg.home / "kafka"
    data_dir = cfg.kafka_data
    if fresh:
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(cfg.registry_data, ignore_errors=True)
    kafka_dir.mkdir(parents=True, exist_ok=True)
    props = kafka_dir / "server.properties"
    props.write_text(_server_properties(cfg, data_dir))
    (kafka_dir / "log4j2.yaml").write_text(LOG4J2_YAML)
    classpath = f"{libs}/*"
    if not (data_dir / "meta.properties").exists():
        cluster_id = kraft_cluster_id()
        out = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                              "-c", str(props)], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise InfraError(f"formatting KRaft storage failed:\n{out.stdout}\n{out.stderr}")
    argv = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={kafka_dir / 'log4j2.yaml'}",
            f"-Dmicroexec.home={cfg.home}", "-cp", classpath, "kafka.Kafka", str(props)]
    spawn(cfg, "kafka", argv, kafka_dir)


def _start_registry(cfg: StackConfig) -> None:
    version, java = registry_choice()
    root = fetch_registry(cfg, version)
    jar = registry.registry_jar(root)
    if jar is None:
        raise InfraError(f"no runnable jar in {root}; delete it and run `microexec infra up` again")
    db_stem = registry.prepare_database(cfg.home, cfg.kafka_data)
    argv = registry.registry_argv(java, jar, host=cfg.host, port=cfg.registry_port, db_stem=db_stem, home=cfg.home)
    spawn(cfg, "registry", argv, root)


def _kafka_ready(cfg: StackConfig) -> bool:
    if not _port_open(cfg.host, cfg.kafka_port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": cfg.bootstrap}).list_topics(timeout=2)
    except Exception:
        return False
    return True


def _http(method: str, url: str, body: dict[str, object] | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def _registry_ready(cfg: StackConfig) -> bool:
    status, _ = _http("GET", f"{cfg.registry_url}/subjects")
    return status == 200


def wait_ready(cfg: StackConfig, name: str, ready: object, timeout: float) -> None:
    """Poll ``ready(cfg)`` until true; InfraError with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ready) and ready(cfg):
            return
        if running_pid(cfg, name) is None:
            raise InfraError(f"{name} exited during start-up; its log ({cfg.log_file(name)}) ends with:\n"
                             f"{log_tail(cfg, name)}")
        time.sleep(0.5)
    raise InfraError(f"{name} did not answer within {timeout:.0f}s; log: {cfg.log_file(name)}\n"
                     f"{log_tail(cfg, name)}")


def _check_port_free(cfg: StackConfig, name: str, port: int) -> None:
    if running_pid(cfg, name) is None and _port_open(cfg.host, port):
        raise InfraError(f"port {cfg.host}:{port} is taken by another process; stop it or choose another "
                         f"port (MICROEXEC_KAFKA_PORT / MICROEXEC_CONTROLLER_PORT / MICROEXEC_REGISTRY_PORT)")


def up(cfg: StackConfig, *, fresh: bool = False, timeout: float = 180.0) -> None:
    """Start whatever is not running yet and wait until both answer."""
    try:
        find_java(17)
    except JavaNotFound as exc:
        raise InfraError(str(exc)) from exc
    if fresh:
        down(cfg)
    for name, port in (("kafka", cfg.kafka_port), ("kafka", cfg.controller_port), ("registry", cfg.registry_port)):
        _check_port_free(cfg, name, port)
    if running_pid(cfg, "kafka") is None:
        _start_kafka(cfg, fresh)
    if running_pid(cfg, "registry") is None:
        _start_registry(cfg)
    wait_ready(cfg, "kafka", _kafka_ready, timeout)
    wait_ready(cfg, "registry", _registry_ready, timeout)
    status, body = _http("PUT", f"{cfg.registry_url}/config", {"compatibility": "BACKWARD"})
    if status != 200:
        raise InfraError(f"setting the registry's global compatibility to BACKWARD failed: {status} {body}")


def down(cfg: StackConfig) -> list[str]:
    stopped = [name for name in ("registry", "kafka") if stop_service(cfg, name)]
    return stopped


def status(cfg: StackConfig) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, ready, where in (("kafka", _kafka_ready, cfg.bootstrap), ("registry", _registry_ready, cfg.registry_url)):
        pid = running_pid(cfg, name)
        out[name] = {"pid": pid, "address": where, "answers": bool(pid) and ready(cfg), "log": str(cfg.log_file(name))}
    return out


def env_lines(cfg: StackConfig) -> list[str]:
    return [f"export KAFKA_BOOTSTRAP_SERVERS={cfg.bootstrap}", f"export SCHEMA_REGISTRY_URL={cfg.registry_url}"]
