import contextlib
import dataclasses
import hashlib
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest
from layer_builder import service as service_module
from layer_builder.build_request import parse_build_request
from layer_builder.builder import BuildFailed
from layer_builder.local import (
    FileArtifactStore,
    Limits,
    LocalService,
    ServiceError,
    SqliteBuildStore,
    main,
    serve,
)
from layer_builder.service import BuildRecord, Settings, Status
from layer_builder.testutil import http, raw_http, wait_for

SIX = {
    "requirements": "six==1.16.0",
    "python_version": "3.13",
    "architectures": ["x86_64", "arm64"],
}
BODY = json.dumps(SIX).encode()
KEY = f"builds/{'0' * 32}/combined-python3.13-arm64.zip"


class Started(NamedTuple):
    url: str
    port: int
    local: LocalService


@pytest.fixture
def service(tmp_path: Path, pex_settings) -> Iterator:
    def start(clock=time.time, workers=2, limits=Limits(), **settings) -> Started:
        service_settings = Settings(pex=pex_settings, **settings)
        data = tmp_path / "data"
        server, local = serve(data, "127.0.0.1", 0, service_settings, workers, clock, limits)
        started.append((server, local))
        port = server.server_address[1]
        return Started(f"http://127.0.0.1:{port}", port, local)

    started: list = []
    yield start
    for server, local in started:
        server.shutdown()
        server.server_close()
        local.close()


@pytest.fixture
def stand_in_builds(service, monkeypatch) -> Iterator[threading.Event]:
    """Builds that wait until the event is set, then fail without going to the index."""
    release = threading.Event()

    def build_layers(*args, **kwargs):
        release.wait(60)
        raise BuildFailed("the test's stand-in build ran")

    monkeypatch.setattr(service_module, "build_layers", build_layers)
    yield release
    release.set()


def request(
    port: int,
    method: str = "GET",
    path: str = "/options",
    headers: Mapping[str, str | None] | None = None,
    body: bytes = b"",
) -> bytes:
    """An HTTP/1.1 request as bytes: the service's Host and, with a body, JSON and its length;
    `headers` add to or replace those (None leaves one out). Values are sent as Latin-1."""
    fields: dict = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    if body:
        fields |= {"Content-Type": "application/json", "Content-Length": str(len(body))}
    fields |= headers or {}
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items() if v)]
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body


def recorded(tmp_path: Path) -> int:
    """How many builds the service under `tmp_path` has recorded."""
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / "builds.sqlite3")) as db:
        count: int = db.execute("SELECT count(*) FROM builds").fetchone()[0]
    return count


def test_submit_build_and_download(service) -> None:
    url, _, _ = service()
    status, page = http("GET", f"{url}/")
    assert status == 200 and b'<form id="build-form">' in page

    before = int(time.time())
    status, queued = http("POST", f"{url}/builds", SIX)
    assert status == 202 and queued["status"] == "QUEUED"
    assert before + 24 * 3600 <= queued["expires_at"] <= int(time.time()) + 24 * 3600

    build = wait_for(lambda: http("GET", f"{url}/builds/{queued['build_id']}")[1])
    assert build["status"] == "COMPLETED", build
    assert build["requirements"] == ["six==1.16.0"] and build["single_file"] is True
    assert sorted(build["pins"]) == ["python3.13-arm64", "python3.13-x86_64"]
    files = {f["filename"]: f for f in build["files"]}
    assert sorted(files) == ["combined-python3.13-arm64.zip", "combined-python3.13-x86_64.zip"]
    for f in files.values():
        status, data = http("GET", f["download_url"])
        assert status == 200
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f["size"], f["sha256"])
        assert f["download_url_expires_at"] <= int(time.time()) + 3600

    link = files["combined-python3.13-arm64.zip"]["download_url"]
    status, answer = http("GET", link.replace("signature=", "signature=0"))
    assert status == 403 and "signature" in answer["error"]
    other = link.replace("arm64", "x86_64")  # the signature of another file's link
    assert http("GET", other)[0] == 403


def test_bad_requests(service) -> None:
    url, _, _ = service()
    status, answer = http("POST", f"{url}/builds", {**SIX, "requirements": "-e ."})
    assert status == 400 and answer["problems"][0].startswith("line 1: pip options")
    assert http("GET", f"{url}/builds/{'0' * 32}")[0] == 404
    assert http("GET", f"{url}/builds")[0] == 405
    assert http("GET", f"{url}/nothing")[0] == 404
    assert http("GET", f"{url}/downloads/../.secret?expires=9999999999&signature=0")[0] == 404
    status, options = http("GET", f"{url}/options")
    assert options["architectures"] == ["x86_64", "arm64"] and "3.14" in options["python_versions"]


def test_a_failed_build_says_why(service) -> None:
    url, _, _ = service()
    _, queued = http("POST", f"{url}/builds", {**SIX, "requirements": "PyYAML==5.4.1"})
    build = wait_for(lambda: http("GET", f"{url}/builds/{queued['build_id']}")[1])
    assert build["status"] == "FAILED"
    assert build["message"].startswith("`PyYAML==5.4.1` has no wheel for python3.13")
    assert "files" not in build


def test_links_and_builds_expire(service) -> None:
    now = [time.time()]
    url, _, local = service(clock=lambda: now[0], ttl_seconds=7200, url_seconds=600)
    _, queued = http("POST", f"{url}/builds", {**SIX, "architectures": ["arm64"]})
    build = wait_for(lambda: http("GET", f"{url}/builds/{queued['build_id']}")[1])
    (zip_file,) = build["files"]
    stored = local.artifacts.root / "builds" / build["build_id"] / zip_file["filename"]
    assert stored.is_file()

    now[0] = zip_file["download_url_expires_at"]
    status, answer = http("GET", zip_file["download_url"])
    assert status == 403 and "expired" in answer["error"]
    _, fresh = http("GET", f"{url}/builds/{build['build_id']}")
    assert http("GET", fresh["files"][0]["download_url"])[0] == 200

    now[0] = build["expires_at"]
    assert http("GET", f"{url}/builds/{build['build_id']}")[0] == 404
    assert not stored.exists()


def test_only_json_bodies_are_accepted(service, tmp_path: Path) -> None:
    # A page on any site can POST these three kinds with a plain form or fetch, unasked.
    _, port, _ = service()
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        post = request(port, "POST", "/builds", {"Content-Type": kind}, BODY)
        status, answer = raw_http(port, post)
        assert status == 415 and "application/json" in answer["error"], (kind, answer)
    assert recorded(tmp_path) == 0

    invalid = json.dumps({**SIX, "requirements": "-e ."}).encode()
    post = request(
        port, "POST", "/builds", {"Content-Type": "application/json; charset=utf-8"}, invalid
    )
    assert raw_http(port, post)[0] == 400  # past the guards, refused by the request's checks


def test_only_the_service_own_origin_may_call_it(service, tmp_path: Path) -> None:
    _, port, _ = service()
    for origin in (
        "http://evil.example",
        "null",
        f"https://127.0.0.1:{port}",
        f"http://127.0.0.1:{port + 1}",
    ):
        post = request(port, "POST", "/builds", {"Origin": origin}, BODY)
        status, answer = raw_http(port, post)
        assert status == 403 and "Origin" in answer["error"], (origin, answer)
        assert raw_http(port, request(port, headers={"Origin": origin}))[0] == 403
    assert recorded(tmp_path) == 0

    invalid = json.dumps({**SIX, "requirements": "-e ."}).encode()
    for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        assert (
            raw_http(port, request(port, "POST", "/builds", {"Origin": origin}, invalid))[0] == 400
        )


def test_only_the_service_own_host_names_reach_it(service, tmp_path: Path) -> None:
    # After DNS rebinding, a page on evil.example reaches 127.0.0.1 with `Host: evil.example`.
    _, port, _ = service()
    link = f"/downloads/{KEY}?expires=9999999999&signature=0"
    for path in ("/", "/options", f"/builds/{'0' * 32}", link):
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", None):
            status, answer = raw_http(port, request(port, "GET", path, {"Host": host}))
            assert status == 421 and "Host" in answer["error"], (path, host, answer)
    post = request(port, "POST", "/builds", {"Host": f"evil.example:{port}"}, BODY)
    assert raw_http(port, post)[0] == 421
    two_hosts = request(port).replace(
        b"\r\n\r\n", f"\r\nHost: evil.example:{port}\r\n\r\n".encode()
    )
    assert raw_http(port, two_hosts)[0] == 421
    assert recorded(tmp_path) == 0

    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
        assert raw_http(port, request(port, headers={"Host": host}))[0] == 200


def test_the_queue_is_bounded(service, stand_in_builds, tmp_path: Path) -> None:
    url, _, _ = service(workers=1, limits=Limits(max_pending=2))
    builds = [http("POST", f"{url}/builds", SIX)[1]["build_id"] for _ in range(2)]
    status, answer = http("POST", f"{url}/builds", SIX)
    assert status == 429 and "2 builds are queued or running" in answer["error"]
    assert recorded(tmp_path) == 2

    stand_in_builds.set()
    for build_id in builds:
        assert wait_for(lambda: http("GET", f"{url}/builds/{build_id}")[1])["status"] == "FAILED"
    assert http("POST", f"{url}/builds", SIX)[0] == 202


def test_a_connection_that_sends_nothing_is_dropped(service) -> None:
    _, port, _ = service()
    headers = {"Content-Type": "application/json", "Content-Length": "100"}
    promised = request(port, "POST", "/builds", headers)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(promised)
        assert connection.recv(1) == b""  # closed, not held
    assert time.monotonic() - started < Limits().request_timeout + 5


def test_connections_beyond_the_limit_are_turned_away(service) -> None:
    _, port, _ = service(limits=Limits(max_connections=2))
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        status, answer = raw_http(port, request(port))
        assert status == 503 and "connections" in answer["error"]
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 10
    while raw_http(port, request(port))[0] != 200:
        assert time.monotonic() < deadline, "the idle connections' places were not freed"
        time.sleep(0.1)


def test_artifacts_keep_to_their_quota(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts", "http://127.0.0.1:1", time.time, 100)
    layer = tmp_path / "layer.zip"
    layer.write_bytes(b"x" * 40)
    now = int(time.time())
    first, second, third = (f"builds/{c * 32}" for c in "abc")
    store.upload(f"{first}/one.zip", layer, now + 100)
    store.upload(f"{second}/one.zip", layer, now + 200)
    store.upload(f"{third}/one.zip", layer, now + 300)  # 120 bytes: the first build goes
    assert sorted(p.name for p in (store.root / "builds").iterdir()) == ["b" * 32, "c" * 32]
    query = store.download_url(f"{first}/one.zip", now + 50).split("?")[1]
    status, reason, _ = store.open_download(f"{first}/one.zip", query)
    assert status == 404 and "quota" in reason

    store.upload(f"{third}/two.zip", layer, now + 300)  # the second build goes
    with pytest.raises(BuildFailed, match="quota of 100 bytes"):
        store.upload(f"{third}/three.zip", layer, now + 300)  # a build's own zips stay
    assert sorted(p.name for p in (store.root / third).iterdir()) == ["one.zip", "two.zip"]


def test_refuses_to_listen_beyond_this_machine(tmp_path: Path, pex_settings, capsys) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.com"):
        with pytest.raises(ServiceError, match="loopback"):
            serve(tmp_path / "data", host, 0, Settings(pex=pex_settings), 1)
    with pytest.raises(SystemExit, match="^2$"):
        main(["--host", "0.0.0.0", "--data-dir", str(tmp_path / "data")])
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert "--host 0.0.0.0" in error and "no authentication" in error


def test_index_credentials_go_in_a_netrc_not_the_url(tmp_path: Path, capsys) -> None:
    index = "https://builder:s3cr3t-token@index.example/simple/"
    with pytest.raises(SystemExit, match="^2$"):
        main(["--index-url", index, "--data-dir", str(tmp_path / "data")])
    error = capsys.readouterr().err
    assert "--netrc" in error and "Traceback" not in error
    assert "s3cr3t-token" not in error


def test_requests_that_used_to_die_get_an_answer(service) -> None:
    _, port, _ = service()
    link = f"/downloads/{KEY}?expires=9999999999&signature=%C3%A9"
    status, answer = raw_http(port, request(port, "GET", link))
    assert status == 403 and "signature" in answer["error"]
    # `²` (0xB2 in Latin-1, as headers are read) passes str.isdigit but not int.
    for length in ("\xb2", "-1", "+5", "1e3", "5, 5"):
        post = request(port, "POST", "/builds", {"Content-Length": length}, b"{}")
        status, answer = raw_http(port, post)
        assert status == 400 and "Content-Length" in answer["error"], (length, answer)


def test_expiry_sweeps_can_race(tmp_path: Path) -> None:
    store = FileArtifactStore(tmp_path / "artifacts", "http://127.0.0.1:1", time.time)
    for build in range(300):
        for name in range(5):
            path = store.root / "builds" / f"{build:032x}" / f"{name}.zip"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
            os.utime(path, (1, 1))  # expired
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def sweep() -> None:
        barrier.wait()
        try:
            store.delete_expired(10)
        except Exception as e:
            errors.append(e)

    threads = [threading.Thread(target=sweep) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and list(store.root.glob("builds/*")) == []


def test_a_half_written_signing_key_is_refused(tmp_path: Path, capsys) -> None:
    secret = tmp_path / "data" / "artifacts" / ".secret"
    secret.parent.mkdir(parents=True)
    for key in ("", "ab" * 31, "zz" * 32):  # a crash before writing it; too short; not hex
        secret.write_text(key)
        with pytest.raises(ServiceError, match="at least 32 bytes"):
            FileArtifactStore(secret.parent, "http://127.0.0.1:1", time.time)
    with pytest.raises(SystemExit, match="^2$"):
        main(["--port", "0", "--data-dir", str(tmp_path / "data")])
    error = capsys.readouterr().err
    assert "Traceback" not in error and str(secret) in error


def test_concurrent_starts_agree_on_one_signing_key(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    barrier = threading.Barrier(8)
    links: list[str] = []

    def start() -> None:
        barrier.wait()
        links.append(FileArtifactStore(root, "http://127.0.0.1:1", time.time).download_url(KEY, 1))

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(links) == 8 and len(set(links)) == 1
    assert [p.name for p in root.iterdir()] == [".secret"]  # no temporary file left behind
    assert re.fullmatch("[0-9a-f]{64}", (root / ".secret").read_text())
    assert (root / ".secret").stat().st_mode & 0o777 == 0o600


def test_one_service_per_data_directory(service, tmp_path: Path, pex_settings) -> None:
    _, _, local = service()
    with pytest.raises(ServiceError, match="in use by another layer builder"):
        serve(tmp_path / "data", "127.0.0.1", 0, Settings(pex=pex_settings), 1)
    local.close()
    assert service().local.builds.unfinished(int(time.time())) == []


def test_builds_left_by_a_stopped_service_are_taken_up_at_start(
    service, stand_in_builds, tmp_path: Path
) -> None:
    (tmp_path / "data").mkdir()
    store = SqliteBuildStore(tmp_path / "data" / "builds.sqlite3")
    request_ = parse_build_request(BODY)
    now = int(time.time())

    def left(status: Status, expires_at: int = now + 3600) -> BuildRecord:
        record = BuildRecord(uuid.uuid4().hex, status, request_, now - 60, expires_at)
        store.put(record)
        return record

    queued, building, completed = left(Status.QUEUED), left(Status.BUILDING), left(Status.COMPLETED)
    expired = left(Status.QUEUED, expires_at=now)
    stand_in_builds.set()
    url, _, _ = service()

    def build(record: BuildRecord) -> dict:
        return wait_for(lambda: http("GET", f"{url}/builds/{record.build_id}")[1], timeout=30)

    assert build(queued)["status"] == "FAILED"
    assert build(queued)["message"] == "the test's stand-in build ran"  # it was built again
    assert build(building)["status"] == "FAILED"
    assert "stopped during this build" in build(building)["message"]
    assert build(completed)["status"] == "COMPLETED"
    assert http("GET", f"{url}/builds/{expired.build_id}")[0] == 404
    assert store.get(expired.build_id) is None
    # A record changes only from the statuses expected.
    assert not store.put_if(dataclasses.replace(completed, message="late"), (Status.BUILDING,))
    assert store.get(completed.build_id) == completed
