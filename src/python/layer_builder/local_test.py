import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from layer_builder.local import serve
from layer_builder.service import Settings
from layer_builder.testutil import http, wait_for

SIX = {
    "requirements": "six==1.16.0",
    "python_version": "3.13",
    "architectures": ["x86_64", "arm64"],
}


@pytest.fixture
def service(tmp_path: Path, pex_settings) -> Iterator:
    def start(clock=time.time, **settings):
        settings = Settings(pex=pex_settings, **settings)
        server, local = serve(tmp_path / "data", "127.0.0.1", 0, settings, workers=2, clock=clock)
        started.append((server, local))
        return f"http://127.0.0.1:{server.server_address[1]}", local

    started: list = []
    yield start
    for server, local in started:
        server.shutdown()
        local.queue.shutdown()


def test_submit_build_and_download(service) -> None:
    url, _ = service()
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
    url, _ = service()
    status, answer = http("POST", f"{url}/builds", {**SIX, "requirements": "-e ."})
    assert status == 400 and answer["problems"][0].startswith("line 1: pip options")
    assert http("GET", f"{url}/builds/{'0' * 32}")[0] == 404
    assert http("GET", f"{url}/builds")[0] == 405
    assert http("GET", f"{url}/nothing")[0] == 404
    assert http("GET", f"{url}/downloads/../.secret?expires=9999999999&signature=0")[0] == 404
    status, options = http("GET", f"{url}/options")
    assert options["architectures"] == ["x86_64", "arm64"] and "3.14" in options["python_versions"]


def test_a_failed_build_says_why(service) -> None:
    url, _ = service()
    _, queued = http("POST", f"{url}/builds", {**SIX, "requirements": "PyYAML==5.4.1"})
    build = wait_for(lambda: http("GET", f"{url}/builds/{queued['build_id']}")[1])
    assert build["status"] == "FAILED"
    assert build["message"].startswith("`PyYAML==5.4.1` has no wheel for python3.13")
    assert "files" not in build


def test_links_and_builds_expire(service) -> None:
    now = [time.time()]
    url, local = service(clock=lambda: now[0], ttl_seconds=7200, url_seconds=600)
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
