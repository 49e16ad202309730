"""Builds shared and run through a real REAPI server, BuildGrid on 127.0.0.1 with no auth.

Remote cache: two checkouts at different paths, each with its own empty Pants store and named
caches, no local process cache, its own home and Pants install, and its interpreters, node and
npm at paths of its own. Remote execution: BuildGrid's Execution service (on a throwaway
PostgreSQL) with two test-only workers, `reapi_worker.py`, on this machine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.checkout import Build, copy_checkout, run_pants
from e2e.reapi_server import buildgrid, install_buildgrid, remote_execution
from repro_lambda.core.testutil import find_python

UMASK = 0o022
TZ = "UTC"
_COUNTER_RE = re.compile(r"^\s+(\w+): (\d+)$", re.M)
SHARED_MODULE = "src/python/shared/responses.py"
# Every example lambda and layer (`::` would add the plugin's own wheel, which Pants builds with
# the interpreter's path in its key).
EXAMPLES = ("src::", "//:lambdas")
PYTHON_VERSIONS = ("3.9", "3.10", "3.11", "3.12", "3.13")


def counters(output: str) -> dict[str, int]:
    """The counters `--stats-log` printed at the end of `output`."""
    return {name: int(value) for name, value in _COUNTER_RE.findall(output.rsplit("Counters:")[-1])}


@pytest.fixture(scope="module")
def buildgrid_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = find_python("3.13")
    if python is None:
        pytest.skip("BuildGrid needs Python 3.13, which is not on PATH or in pyenv")
    return install_buildgrid(python, tmp_path_factory.mktemp("buildgrid") / "venv")


@pytest.fixture(scope="module")
def remote_store(buildgrid_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A BuildGrid server with CAS, ByteStream and ActionCache, no auth."""
    with buildgrid(buildgrid_venv, tmp_path_factory.mktemp("store")) as address:
        yield address


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
    env: dict[str, str]

    def package(self, *remote_options: str) -> tuple[Build, dict[str, int]]:
        """Package the examples with `remote_options`; also Pants' counters."""
        build = run_pants(
            self.checkout,
            *remote_options,
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
        return build, counters(build.output)


def _server(address: str, *options: str) -> tuple[str, ...]:
    return (f"--remote-store-address={address}", "--remote-instance-name=main", *options)


def test_a_second_machine_builds_nothing_the_first_built(
    buildroot: Path, remote_store: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        a = Machine(Path(tmp, "a/repo"), Path(tmp, "a/caches"), {})
        b_root = Path(tmp, "b/deeper")
        b = Machine(b_root / "repo", b_root / "caches", _elsewhere(b_root))
        cache = _server(remote_store, "--remote-cache-read", "--remote-cache-write")
        for machine in (a, b):
            copy_checkout(buildroot, machine.checkout, umask=UMASK)

        first, written = a.package(*cache)
        assert written["remote_cache_write_attempts"] > 0, first.output
        assert written["remote_cache_write_errors"] == 0, first.output

        second, read = b.package(*cache)
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
        edited, reread = b.package(*cache)
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


@pytest.fixture(scope="module")
def remote_executor(
    buildgrid_venv: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A BuildGrid server with Execution (and Bots) and two workers."""
    with remote_execution(buildgrid_venv, tmp_path_factory.mktemp("execution")) as address:
        yield address


def _interpreter_directories() -> list[str]:
    """The directories of this machine's interpreters themselves (not pyenv's shims, which need
    pyenv's environment)."""
    directories = []
    for version in PYTHON_VERSIONS:
        python = find_python(version)
        if python:
            executable = subprocess.run(
                [python, "-c", "import sys; print(sys.executable)"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            directories.append(os.path.dirname(executable))
    return directories


def test_every_packaging_process_runs_remotely(
    buildroot: Path, remote_executor: str, first_build: Build
) -> None:
    node = shutil.which("node")
    assert node, "the Node.js examples need node on PATH"
    with tempfile.TemporaryDirectory(prefix="repro-lambda-e2e-", ignore_cleanup_errors=True) as tmp:
        machine = Machine(Path(tmp, "repo"), Path(tmp, "caches"), {})
        copy_checkout(buildroot, machine.checkout, umask=UMASK)
        worker_caches = Path(tmp, "worker-caches")
        worker_caches.mkdir()
        build, ran = machine.package(
            *_server(remote_executor, "--remote-execution"),
            f"--remote-execution-address={remote_executor}",
            # the named caches, on the workers
            f"--remote-execution-append-only-caches-base-path={worker_caches}",
            "--process-execution-remote-parallelism=8",
            # the workers' tools: `<PATH>` and `<PYENV>` would be read from no environment
            f"--python-bootstrap-search-path={json.dumps(_interpreter_directories())}",
            f"--nodejs-lambda-executable-search-paths={json.dumps([os.path.dirname(node)])}",
        )
        # every process ran on a worker, none here, and every one succeeded
        assert ran["local_execution_requests"] == 0, ran
        assert 0 < ran["remote_execution_success"] == ran["remote_execution_requests"], ran
        # the same bytes as the local build
        built, local = build.artifact_digests(), first_build.artifact_digests()
        assert built and {path: local.get(path) for path in built} == built
