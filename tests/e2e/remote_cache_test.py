"""Two machines share builds through a real REAPI server: BuildGrid (CAS, ActionCache and
ByteStream, no auth) on 127.0.0.1, and two checkouts at different paths, each with its own empty
Pants store and named caches, no local process cache, its own home and Pants install, and its
interpreters, node and npm at paths of its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants
from repro_lambda.core.testutil import find_python

UMASK = 0o022
TZ = "UTC"
REQUIREMENTS = Path(__file__).with_name("buildgrid-requirements.txt")
# Pants sends up to 128 concurrent RPCs by default; BuildGrid's default limit is lower.
_CONFIG = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
thread-pool-size: 200
maximum-concurrent-rpcs: 200
instances:
  - name: main
    storages:
      - !disk-storage &cas
        path: {cas}
    caches:
      - !lru-action-cache &ac
        storage: *cas
        max-cached-refs: 100000
        allow-updates: true
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
"""
_COUNTER_RE = re.compile(r"^\s+(\w+): (\d+)$", re.M)
SHARED_MODULE = "src/python/shared/responses.py"
# Every example lambda and layer (`::` would add the plugin's own wheel, which Pants builds with
# the interpreter's path in its key).
EXAMPLES = ("src::", "//:lambdas")
PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"BuildGrid exited:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"BuildGrid did not listen on {port}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def remote_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A BuildGrid server, installed from hash-pinned wheels into a Python 3.13 venv."""
    python = find_python("3.13")
    if python is None:
        pytest.skip("BuildGrid needs Python 3.13, which is not on PATH or in pyenv")
    root = tmp_path_factory.mktemp("buildgrid")
    subprocess.run([python, "-m", "venv", root / "venv"], check=True)
    subprocess.run(
        [
            root / "venv/bin/pip",
            "install",
            "--isolated",
            "--quiet",
            "--only-binary=:all:",
            "--require-hashes",
            "--no-deps",
            "-r",
            REQUIREMENTS,
        ],
        env={"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    port = _free_port()
    config = root / "bgd.yml"
    config.write_text(_CONFIG.format(port=port, cas=root / "cas"))
    log = root / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [root / "venv/bin/bgd", "server", "start", config], stdout=out, stderr=out
        )
    try:
        _wait_for(port, server, log)
        yield f"grpc://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _elsewhere(root: Path) -> dict[str, str]:
    """Pants options and variables that put a machine's home, Pants install, interpreters (venvs
    of the host's), node and npm at paths of its own under `root`."""
    pythons = []
    for version in PYTHON_VERSIONS:
        python = find_python(version)
        if python:
            venv = root / "pythons" / version
            subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
            pythons.append(str(venv / "bin"))
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "the Node.js examples need node and npm on PATH"
    nodejs = root / "nodejs"
    nodejs.mkdir(parents=True)
    (nodejs / "node").symlink_to(node)
    (nodejs / "npm").symlink_to(os.path.realpath(npm))
    home = root / "home"
    home.mkdir(parents=True)
    return {
        "HOME": str(home),
        "REPRO_LAMBDA_CACHE_DIR": str(root / "launcher"),
        "PANTS_PYTHON_BOOTSTRAP_SEARCH_PATH": json.dumps(pythons),
        "PANTS_NODEJS_LAMBDA_EXECUTABLE_SEARCH_PATHS": json.dumps([str(nodejs)]),
    }


@dataclass(frozen=True)
class Machine:
    checkout: Path
    caches: Path
    remote_store: str
    env: dict[str, str]

    def package(self) -> tuple[Build, dict[str, int]]:
        build = run_pants(
            self.checkout,
            "--remote-cache-read",
            "--remote-cache-write",
            f"--remote-store-address={self.remote_store}",
            "--remote-instance-name=main",
            "--stats-log",
            "--no-stats-memory-summary",
            "package",
            *EXAMPLES,
            umask=UMASK,
            tz=TZ,
            env={
                "PANTS_LOCAL_STORE_DIR": str(self.caches / "lmdb_store"),
                "PANTS_NAMED_CACHES_DIR": str(self.caches / "named_caches"),
                **self.env,
            },
        )
        counters = build.output.rsplit("Counters:", 1)[1]
        return build, {name: int(value) for name, value in _COUNTER_RE.findall(counters)}


def test_a_second_machine_builds_nothing_the_first_built(
    buildroot: Path, remote_store: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        a = Machine(Path(tmp, "a/repo"), Path(tmp, "a/caches"), remote_store, {})
        b_root = Path(tmp, "b/deeper")
        b = Machine(b_root / "repo", b_root / "caches", remote_store, _elsewhere(b_root))
        for machine in (a, b):
            copy_checkout(buildroot, machine.checkout, umask=UMASK)

        first, written = a.package()
        assert written["remote_cache_write_attempts"] > 0, first.output
        assert written["remote_cache_write_errors"] == 0, first.output

        second, read = b.package()
        # every cacheable process (installs, npm, compiles, packs) was a remote hit, and none of
        # them was even started on B: B ran no more than A's uncacheable processes, those that
        # find interpreters, node and npm (A finds node twice, as /bin is /usr/bin here)
        assert read["remote_cache_requests"] == written["remote_cache_requests"]
        assert read["remote_cache_requests_cached"] == read["remote_cache_requests"], read
        assert read["remote_cache_speculation_local_completed_first"] == 0, read
        assert read["remote_cache_write_attempts"] == 0, read
        uncacheable = written["local_execution_requests"] - written["remote_cache_requests"]
        assert read["local_execution_requests"] <= uncacheable, (read, written)
        before = second.artifact_digests()  # read now: the next build rewrites dist/
        assert before == first.artifact_digests()

        module = b.checkout / SHARED_MODULE
        module.write_text(module.read_text() + "\nEDITED = True\n")
        edited, reread = b.package()
        after = edited.artifact_digests()
        changed = {name.split("/")[0] for name in after if after[name] != before[name]}
        dependents = run_pants(
            b.checkout, "dependents", "--transitive", SHARED_MODULE, umask=UMASK, tz=TZ, env=b.env
        ).output.split()
        # `src/python/greeter:greeter` is packaged into dist/src.python.greeter/
        packaged = {name.split("/")[0] for name in after}
        dependent_dirs = {address.split(":")[0].replace("/", ".") for address in dependents}
        assert changed and changed == dependent_dirs & packaged, (changed, dependents)
        # only their processes ran again
        assert 0 < reread["remote_cache_requests_uncached"] < read["remote_cache_requests"]
