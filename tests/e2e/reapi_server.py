"""Throwaway REAPI services for e2e tests, on 127.0.0.1 and Unix sockets only: a PostgreSQL
cluster, a BuildGrid server (CAS, ByteStream and ActionCache, plus Execution and Bots when given a
database) and `reapi_worker.py` workers for it.

Only the standard library is used here: BuildGrid and the workers run in subprocesses, from a
venv with BuildGrid installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

INSTANCE = "main"
WORKER = Path(__file__).with_name("reapi_worker.py")
REQUIREMENTS = Path(__file__).with_name("buildgrid-requirements.txt")
# Pants sends up to 128 concurrent RPCs by default; BuildGrid's default limit is lower.
_SERVER = """\
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
thread-pool-size: 200
maximum-concurrent-rpcs: 200
instances:
  - name: {instance}
    storages:
      - !disk-storage &cas
        path: {cas}
    caches:
      - !lru-action-cache &ac
        storage: *cas
        max-cached-refs: 100000
        allow-updates: true
"""
_EXECUTION = """\
    connections:
      - !sql-connection &sql
        connection-string: {sql}
    schedulers:
      - !sql-scheduler &scheduler
        sql: *sql
        storage: *cas
        action-cache: *ac
        # a worker that stops calling is given up on, and its job requeued, after this long
        bot-session-keepalive-timeout: 60
        # how often (in seconds) jobs are assigned and the database is polled for changes to
        # jobs and bots: each adds up to that much to an action's time (default 1)
        poll-interval: 0.2
        bot-poll-interval: 0.2
        assigners:
          - !priority-age-assigner
            interval: 0.2
"""
_SERVICES = """\
    services:
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
      - !action-cache
        cache: *ac
"""
_EXECUTION_SERVICE = """\
      - !execution
        scheduler: *scheduler
"""
# A throwaway cluster needs no durability.
_POSTGRES_CONF = """
listen_addresses = ''
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def install_buildgrid(python: str, venv: Path) -> Path:
    """A venv at `venv` for `python` (3.13, which BuildGrid needs) with BuildGrid installed from
    hash-pinned wheels, reading no pip configuration of the host."""
    subprocess.run([python, "-m", "venv", venv], check=True)
    pip: list[str | Path] = [venv / "bin/pip", "install", "--isolated", "--quiet"]
    subprocess.run(
        [*pip, "--only-binary=:all:", "--require-hashes", "--no-deps", "-r", REQUIREMENTS],
        env={"PIP_CONFIG_FILE": os.devnull, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return venv


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _postgres_bin() -> Path:
    if pg_ctl := shutil.which("pg_ctl"):
        return Path(pg_ctl).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise FileNotFoundError("PostgreSQL's pg_ctl is neither on PATH nor in /usr/lib/postgresql")
    return versions[-1].parent


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster that listens only on a Unix socket in a private directory;
    yields an SQLAlchemy connection string for its `postgres` database (trust authentication).

    PostgreSQL refuses to run as root, so as root the cluster belongs to and runs as the
    `postgres` user, in a new directory of its own under the system temporary directory (whose
    parents it can traverse, unlike those of pytest's `tmp_path`)."""
    bindir = _postgres_bin()
    # short, as socket paths are limited to 107 bytes; mode 0700, so only its owner (and root)
    # can connect
    root = Path(tempfile.mkdtemp(prefix="reapi-pg-"))
    as_owner: list[str | Path] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "postgres.log"
    try:
        subprocess.run(
            [*as_owner, bindir / "initdb", "--auth=trust", "--username=postgres", "--no-sync"]
            + ["--encoding=UTF8", "--locale=C", "-D", data],
            check=True,
            capture_output=True,
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_POSTGRES_CONF.format(socket_dir=root))
        pg_ctl = [*as_owner, bindir / "pg_ctl", "-D", data, "--wait", "--silent"]
        started = subprocess.run([*pg_ctl, "-l", log, "start"], capture_output=True, text=True)
        if started.returncode:
            raise RuntimeError(f"PostgreSQL did not start:\n{started.stderr}{log.read_text()}")
        try:
            yield f"postgresql+psycopg://postgres@/postgres?host={root}"
        finally:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=True)
    finally:
        shutil.rmtree(root)


def buildgrid_config(port: int, cas: Path, sql: str | None = None) -> str:
    """A BuildGrid config for one instance, `main`, on 127.0.0.1:`port` without auth: CAS,
    ByteStream and ActionCache on disk storage at `cas`, plus Execution and Bots services with a
    scheduler on the PostgreSQL database at `sql`, if given."""
    config = _SERVER.format(port=port, instance=INSTANCE, cas=cas)
    if sql is None:
        return config + _SERVICES
    return config + _EXECUTION.format(sql=sql) + _SERVICES + _EXECUTION_SERVICE


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"BuildGrid exited:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"BuildGrid did not listen on {port}:\n{log.read_text()}")


@contextmanager
def _running(args: Sequence[str | Path], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess writing to `log`, terminated (then killed, if need be) afterwards."""
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def buildgrid(venv: Path, root: Path, sql: str | None = None) -> Iterator[str]:
    """A BuildGrid server from `venv`, configured by `buildgrid_config` with its CAS, config and
    log under `root`; yields its address. Given `sql`, first migrates that database to
    BuildGrid's schema."""
    bgd = venv / "bin/bgd"
    if sql is not None:
        subprocess.run([bgd, "migrate", "apply", sql], check=True, capture_output=True)
    port = free_port()
    config = root / "bgd.yml"
    config.write_text(buildgrid_config(port, root / "cas", sql))
    log = root / "server.log"
    with _running([bgd, "server", "start", config], log) as server:
        _wait_for(port, server, log)
        yield f"grpc://127.0.0.1:{port}"


@contextmanager
def workers(
    venv: Path, address: str, root: Path, count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` workers for the server at `address`, each with its scratch directory and log
    under `root`."""
    with ExitStack() as stack:
        processes = []
        for index in range(count):
            work_dir = root / f"worker-{index}"
            work_dir.mkdir()
            args: list[str | Path] = [venv / "bin/python", WORKER, "--server", address]
            args += ["--instance", INSTANCE]
            args += ["--work-dir", work_dir, "--bot-id", f"worker-{index}"]
            processes.append(stack.enter_context(_running(args, root / f"worker-{index}.log")))
        yield processes


@contextmanager
def remote_execution(venv: Path, root: Path, worker_count: int = 2) -> Iterator[str]:
    """A PostgreSQL cluster, a BuildGrid server with Execution and `worker_count` workers;
    yields the server's address."""
    with (
        postgres() as sql,
        buildgrid(venv, root, sql) as address,
        workers(venv, address, root, worker_count),
    ):
        yield address
