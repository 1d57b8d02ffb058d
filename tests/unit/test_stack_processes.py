"""The local stack finds its services by their command lines, not only by pid files: a broker whose
pid no file holds (a start that raced a restart) is still adopted by ``running_pid`` and stopped by
``down``, and another stack's processes are left alone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from streams.infra import stack


def _fake(home: Path, marker: str) -> subprocess.Popen[bytes]:
    """A process whose command line looks like one of the stack's JVMs (python ignores the extra args)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", f"-Dmicroexec.home={home}",
                             marker])


def _cfg(home: Path) -> stack.StackConfig:
    return stack.StackConfig(home=home, kafka_port=1, controller_port=2, registry_port=3, cache=home / "cache")


def test_a_broker_no_pid_file_names_is_adopted_and_stopped(tmp_path: Path) -> None:
    ours, theirs = _cfg(tmp_path / "a"), _cfg(tmp_path / "a2")  # a home that is a prefix of another
    broker, registry, other = _fake(ours.home, "kafka.Kafka"), _fake(ours.home, "-Dquarkus.http.port=3"), \
        _fake(theirs.home, "kafka.Kafka")
    try:
        time.sleep(0.3)
        assert stack.stack_processes(ours, "kafka") == [broker.pid]
        assert stack.stack_processes(ours, "registry") == [registry.pid]
        assert not ours.pid_file("kafka").exists()
        assert stack.running_pid(ours, "kafka") == broker.pid  # adopted
        assert ours.pid_file("kafka").read_text() == str(broker.pid)
        assert sorted(stack.down(ours)) == ["kafka", "registry"]
        assert broker.wait(10) is not None and registry.wait(10) is not None
        assert other.poll() is None  # the other stack's broker is untouched
        assert stack.running_pid(ours, "kafka") is None and stack.down(ours) == []
    finally:
        for proc in (broker, registry, other):
            proc.kill()
            proc.wait()
