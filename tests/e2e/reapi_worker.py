"""A REAPI worker (bot) for BuildGrid, which serves the Remote Workers API but ships no bot.

    python reapi_worker.py --server grpc://127.0.0.1:PORT --instance main --work-dir DIR
        [--bot-id ID]

It runs one action at a time, in a fresh directory under DIR, with exactly the action's
environment, and stores its outputs, stdout and stderr in the server's CAS. A command that fails
is a result, not an error. SIGTERM kills the running action and stops the worker. It runs with
the Python of a venv with BuildGrid installed, for BuildGrid's generated protos and gRPC."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as rex
from buildgrid._protos.build.bazel.remote.execution.v2.remote_execution_pb2_grpc import (
    ContentAddressableStorageStub,
)
from buildgrid._protos.google.bytestream.bytestream_pb2 import ReadRequest, WriteRequest
from buildgrid._protos.google.bytestream.bytestream_pb2_grpc import ByteStreamStub
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, worker_pb2
from buildgrid._protos.google.devtools.remoteworkers.v1test2.bots_pb2_grpc import BotsStub
from buildgrid._protos.google.rpc import code_pb2

# Blobs up to this size travel in batches of at most this size (and BATCH_COUNT blobs), larger
# ones through ByteStream: gRPC's and BuildGrid's message limit is 4 MiB.
BATCH_BYTES = 2 * 1024 * 1024
BATCH_COUNT = 500
CHUNK_BYTES = 1024 * 1024
# How long UpdateBotSession may wait for work, and how often a running lease is reported (the
# server gives up on a bot after its `bot-session-keepalive-timeout`).
POLL_SECONDS = 20
KEEPALIVE_SECONDS = 10
# The keys BuildGrid matches on by default; a job without them runs on any bot.
PROPERTIES = {"OSFamily": "linux", "ISA": "x86-64"}
RETRYABLE = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE)
# BuildGrid assigns leases ACTIVE; PENDING ones are offers to accept.
ACCEPTABLE = (bots_pb2.LeaseState.PENDING, bots_pb2.LeaseState.ACTIVE)

# a blob to store: its digest, and its content or the file with it
Blob = tuple[rex.Digest, bytes | Path]


class Stopped(Exception):
    """The worker is stopping, so runs nothing more."""


def _digest_of(data: bytes) -> rex.Digest:
    return rex.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def _batches(digests: Iterable[rex.Digest]) -> Iterator[list[rex.Digest]]:
    batch: list[rex.Digest] = []
    size = 0
    for digest in digests:
        if batch and (size + digest.size_bytes > BATCH_BYTES or len(batch) == BATCH_COUNT):
            yield batch
            batch, size = [], 0
        batch.append(digest)
        size += digest.size_bytes
    if batch:
        yield batch


class Cas:
    """An instance's CAS, through the ContentAddressableStorage and ByteStream services."""

    def __init__(self, channel: grpc.Channel, instance: str) -> None:
        self._cas = ContentAddressableStorageStub(channel)
        self._bytestream = ByteStreamStub(channel)
        self._instance = instance
        self._prefix = f"{instance}/" if instance else ""

    def read(self, digests: Iterable[rex.Digest]) -> Iterator[tuple[rex.Digest, bytes]]:
        """Each distinct blob of `digests`, in any order."""
        small = []
        for digest in {digest.hash: digest for digest in digests}.values():
            if digest.size_bytes == 0:
                yield digest, b""
            elif digest.size_bytes > BATCH_BYTES:
                name = f"{self._prefix}blobs/{digest.hash}/{digest.size_bytes}"
                chunks = self._bytestream.Read(ReadRequest(resource_name=name))
                yield digest, b"".join(chunk.data for chunk in chunks)
            else:
                small.append(digest)
        for batch in _batches(small):
            request = rex.BatchReadBlobsRequest(instance_name=self._instance, digests=batch)
            for response in self._cas.BatchReadBlobs(request).responses:
                if response.status.code != code_pb2.OK:
                    raise RuntimeError(f"cannot read {response.digest}: {response.status}")
                yield response.digest, response.data

    def read_one(self, digest: rex.Digest) -> bytes:
        """The blob of `digest`."""
        return next(self.read([digest]))[1]

    def write(self, blobs: dict[str, Blob]) -> None:
        """Stores those of `blobs` (by hash) that the CAS is missing."""
        digests = [digest for digest, _ in blobs.values()]
        missing: list[rex.Digest] = []
        for start in range(0, len(digests), BATCH_COUNT):
            request = rex.FindMissingBlobsRequest(
                instance_name=self._instance, blob_digests=digests[start : start + BATCH_COUNT]
            )
            missing += self._cas.FindMissingBlobs(request).missing_blob_digests

        def content(digest: rex.Digest) -> bytes:
            source = blobs[digest.hash][1]
            return source if isinstance(source, bytes) else source.read_bytes()

        for digest in missing:
            if digest.size_bytes > BATCH_BYTES:
                self._write_stream(digest, content(digest))
        for batch in _batches(d for d in missing if d.size_bytes <= BATCH_BYTES):
            requests = [
                rex.BatchUpdateBlobsRequest.Request(digest=digest, data=content(digest))
                for digest in batch
            ]
            request = rex.BatchUpdateBlobsRequest(instance_name=self._instance, requests=requests)
            for response in self._cas.BatchUpdateBlobs(request).responses:
                if response.status.code != code_pb2.OK:
                    raise RuntimeError(f"cannot write {response.digest}: {response.status}")

    def _write_stream(self, digest: rex.Digest, data: bytes) -> None:
        name = f"{self._prefix}uploads/{uuid.uuid4()}/blobs/{digest.hash}/{digest.size_bytes}"
        requests = (
            WriteRequest(
                resource_name=name,
                write_offset=offset,
                data=data[offset : offset + CHUNK_BYTES],
                finish_write=offset + CHUNK_BYTES >= len(data),
            )
            for offset in range(0, len(data), CHUNK_BYTES)
        )
        self._bytestream.Write(requests)


class Processes:
    """Starts the actions' processes, each in a process group of its own, until killed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: subprocess.Popen[bytes] | None = None
        self._killed = False

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._killed:
                raise Stopped()
            self._current = subprocess.Popen(args, start_new_session=True, **kwargs)
            return self._current

    def kill(self) -> None:
        """Kills the running process's group, if any, and refuses to start any more."""
        with self._lock:
            self._killed = True
            if self._current is not None and self._current.poll() is None:
                os.killpg(self._current.pid, signal.SIGKILL)


def _materialise(
    directories: dict[str, rex.Directory],
    digest: rex.Digest,
    path: Path,
    files: dict[str, list[tuple[Path, bool]]],
) -> None:
    """Creates the directory `digest` at `path` with its subdirectories and symlinks, and adds
    its files to `files`, by hash, to be written."""
    path.mkdir(exist_ok=True)
    directory = directories[digest.hash]
    for file in directory.files:
        files.setdefault(file.digest.hash, []).append((path / file.name, file.is_executable))
    for symlink in directory.symlinks:
        (path / symlink.name).symlink_to(symlink.target)
    for subdirectory in directory.directories:
        _materialise(directories, subdirectory.digest, path / subdirectory.name, files)


def _file_blob(path: Path, blobs: dict[str, Blob]) -> rex.Digest:
    """Adds the file at `path` to `blobs`; returns its digest."""
    with path.open("rb") as file:
        sha256 = hashlib.file_digest(file, "sha256").hexdigest()
        digest = rex.Digest(hash=sha256, size_bytes=os.fstat(file.fileno()).st_size)
    blobs[digest.hash] = (digest, path)
    return digest


def _directory(
    path: Path, blobs: dict[str, Blob], children: dict[str, rex.Directory]
) -> rex.Directory:
    """The `Directory` at `path`, adding its files to `blobs` and its subdirectories, recursively,
    to `children`, by digest."""
    directory = rex.Directory()
    for entry in sorted(os.scandir(path), key=lambda entry: entry.name):
        child = Path(entry.path)
        if entry.is_symlink():
            directory.symlinks.add(name=entry.name, target=os.readlink(child))
        elif entry.is_dir():
            subdirectory = _directory(child, blobs, children)
            digest = _digest_of(subdirectory.SerializeToString(deterministic=True))
            children[digest.hash] = subdirectory
            directory.directories.add(name=entry.name, digest=digest)
        else:
            digest = _file_blob(child, blobs)
            executable = bool(entry.stat().st_mode & 0o100)
            directory.files.add(name=entry.name, digest=digest, is_executable=executable)
    return directory


def _report(session: bots_pb2.BotSession, completed: bots_pb2.Lease) -> None:
    """Puts `completed` in `session` in place of its lease, or adds it if the server cancelled
    that lease (then it ignores the report)."""
    for lease in session.leases:
        if lease.id == completed.id:
            lease.CopyFrom(completed)
            return
    session.leases.append(completed)


class Worker:
    """Runs the actions of the leases that BuildGrid assigns to one bot session."""

    def __init__(self, channel: grpc.Channel, instance: str, work_dir: Path, bot_id: str) -> None:
        self._bots = BotsStub(channel)
        self._cas = Cas(channel, instance)
        self._instance = instance
        self._work_dir = work_dir
        self._bot_id = bot_id
        self._processes = Processes()

    def serve(self) -> None:
        """Takes leases and reports on them, until interrupted."""
        properties = [worker_pb2.Device.Property(key=k, value=v) for k, v in PROPERTIES.items()]
        device = worker_pb2.Device(handle=self._bot_id, properties=properties)
        session = bots_pb2.BotSession(
            bot_id=self._bot_id,
            status=bots_pb2.BotStatus.OK,
            worker=worker_pb2.Worker(devices=[device]),
        )
        request = bots_pb2.CreateBotSessionRequest(parent=self._instance, bot_session=session)
        session = self._call(self._bots.CreateBotSession, request)
        running: dict[str, Future[bots_pb2.Lease]] = {}
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                while True:
                    session = self._step(session, running, pool)
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
                self._processes.kill()

    def _step(
        self,
        session: bots_pb2.BotSession,
        running: dict[str, Future[bots_pb2.Lease]],
        pool: ThreadPoolExecutor,
    ) -> bots_pb2.BotSession:
        """Starts the session's new leases, waits until one ends or for KEEPALIVE_SECONDS, and
        sends the server the session's leases, ended or alive; returns the session it sends back,
        maybe with new leases (after up to POLL_SECONDS without any)."""
        for lease in session.leases:
            if lease.id not in running and lease.state in ACCEPTABLE:
                lease.state = bots_pb2.LeaseState.ACTIVE
                work = bots_pb2.Lease(id=lease.id, payload=lease.payload)
                running[lease.id] = pool.submit(self.execute, work)
        if running:
            wait(running.values(), KEEPALIVE_SECONDS, return_when=FIRST_COMPLETED)
        for lease_id, future in list(running.items()):
            if future.done():
                del running[lease_id]
                _report(session, future.result())
        request = bots_pb2.UpdateBotSessionRequest(name=session.name, bot_session=session)
        return self._call(self._bots.UpdateBotSession, request)

    @staticmethod
    def _call(rpc: Any, request: Any) -> bots_pb2.BotSession:
        """Calls a Bots RPC, again while the server is unavailable or slow."""
        while True:
            try:
                return rpc(request, timeout=POLL_SECONDS)
            except grpc.RpcError as error:
                if error.code() not in RETRYABLE:
                    raise
                time.sleep(1)

    def execute(self, lease: bots_pb2.Lease) -> bots_pb2.Lease:
        """Runs the lease's action; returns the lease completed with its `ActionResult`, or with an
        error if the worker failed."""
        lease.state = bots_pb2.LeaseState.COMPLETED
        scratch = Path(tempfile.mkdtemp(dir=self._work_dir))
        try:
            result, code = self._execute(self._action(lease.payload), scratch)
            lease.result.Pack(result)
            lease.status.code = code
        except Stopped:
            raise
        except Exception as error:
            # retried on another bot, up to the scheduler's `max-job-attempts`
            print(f"lease {lease.id} failed: {error!r}", flush=True)
            lease.status.code = code_pb2.INTERNAL
            lease.status.message = f"{self._bot_id}: {error!r}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return lease

    def _action(self, payload: Any) -> rex.Action:
        """The Action in `payload`, or that its Digest names."""
        action, digest = rex.Action(), rex.Digest()
        if payload.Unpack(action):
            return action
        if not payload.Unpack(digest):
            raise ValueError(f"unknown lease payload {payload.type_url}")
        return rex.Action.FromString(self._cas.read_one(digest))

    def _execute(self, action: rex.Action, scratch: Path) -> tuple[rex.ActionResult, int]:
        """Runs `action` in `scratch`; returns its result, and the status for the lease:
        DEADLINE_EXCEEDED if it ran out of time, else OK."""
        command = rex.Command.FromString(self._cas.read_one(action.command_digest))
        root = scratch / "root"
        self._fetch_input_root(action.input_root_digest, root)
        cwd = root / command.working_directory
        cwd.mkdir(parents=True, exist_ok=True)
        outputs = list(command.output_paths) or [
            *command.output_files,
            *command.output_directories,
        ]
        for output in outputs:
            (cwd / output).parent.mkdir(parents=True, exist_ok=True)
        env = {variable.name: variable.value for variable in command.environment_variables}
        timeout = action.timeout.ToTimedelta().total_seconds() or None
        code = code_pb2.OK
        with (scratch / "stdout").open("wb") as stdout, (scratch / "stderr").open("wb") as stderr:
            try:
                process = self._processes.start(
                    list(command.arguments),
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                )
            except OSError as error:  # the program is missing or not executable
                stderr.write(f"{error}\n".encode())
                exit_code = 127
            else:
                try:
                    exit_code = process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    exit_code = process.wait()
                    code = code_pb2.DEADLINE_EXCEEDED
        result = self._store_outputs(cwd, outputs, scratch)
        result.exit_code = exit_code
        return result, code

    def _fetch_input_root(self, digest: rex.Digest, root: Path) -> None:
        """Creates the directory `digest` at `root`, reading its directories level by level."""
        directories: dict[str, rex.Directory] = {}
        level = [digest]
        while level:
            found = {d.hash: rex.Directory.FromString(data) for d, data in self._cas.read(level)}
            directories.update(found)
            level = [
                child.digest
                for directory in found.values()
                for child in directory.directories
                if child.digest.hash not in directories
            ]
        files: dict[str, list[tuple[Path, bool]]] = {}
        _materialise(directories, digest, root, files)
        wanted = [file.digest for d in directories.values() for file in d.files]
        for blob, data in self._cas.read(wanted):
            for path, executable in files[blob.hash]:
                path.write_bytes(data)
                path.chmod(0o755 if executable else 0o644)

    def _store_outputs(self, cwd: Path, outputs: list[str], scratch: Path) -> rex.ActionResult:
        """An `ActionResult` for the outputs that exist, with stdout and stderr, all stored."""
        blobs: dict[str, Blob] = {}
        result = rex.ActionResult(
            stdout_digest=_file_blob(scratch / "stdout", blobs),
            stderr_digest=_file_blob(scratch / "stderr", blobs),
        )
        result.execution_metadata.worker = self._bot_id
        for output in sorted(set(outputs)):
            path = cwd / output
            if path.is_dir():
                children: dict[str, rex.Directory] = {}
                root = _directory(path, blobs, children)
                tree = rex.Tree(root=root, children=list(children.values()))
                data = tree.SerializeToString(deterministic=True)
                digest = _digest_of(data)
                blobs[digest.hash] = (digest, data)
                result.output_directories.add(path=output, tree_digest=digest)
            elif path.is_file():
                executable = bool(path.stat().st_mode & 0o100)
                digest = _file_blob(path, blobs)
                result.output_files.add(path=output, digest=digest, is_executable=executable)
        self._cas.write(blobs)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="grpc://HOST:PORT")
    parser.add_argument("--instance", default="")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--bot-id", default=f"{socket.gethostname()}-{os.getpid()}")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    channel = grpc.insecure_channel(args.server.removeprefix("grpc://"))
    worker = Worker(channel, args.instance, args.work_dir, args.bot_id)
    try:
        worker.serve()
    except KeyboardInterrupt:
        pass
    finally:
        channel.close()


if __name__ == "__main__":
    main()
