import base64
import dataclasses
import functools
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pex
import pytest
from layer_builder.build_request import BuildRequest
from layer_builder.builder import (
    BuildFailed,
    Deadline,
    InvalidSettings,
    PexSettings,
    build_layers,
    scrub,
)
from layer_builder.sdists import CrossDownloads, SdistFailed, build_sdists, fetch_pinned

from repro_lambda.core.install.extension_audit import read_elf
from repro_lambda.core.install.pex_args import (
    DOWNLOAD,
    LOCK_CREATE,
    PIP_VERSION,
    VENV_CREATE,
    index_args,
    lock_wheels_args,
    pex3_argv,
    resolve_args,
    venv_flat_args,
)

ELF_MACHINES = {"x86_64": 62, "arm64": 183}  # e_machine: EM_X86_64, EM_AARCH64


def test_one_zip_per_package_and_architecture(tmp_path: Path, pex_settings) -> None:
    request = BuildRequest(("six==1.16.0", "MarkupSafe==3.0.2"), "3.13", ("x86_64", "arm64"), False)
    built = build_layers(request, tmp_path / "a", pex_settings)

    names = [z.path.name for z in built.zips]
    assert names == [
        "six-python3.13-x86_64.zip",
        "markupsafe-python3.13-x86_64.zip",
        "six-python3.13-arm64.zip",
        "markupsafe-python3.13-arm64.zip",
    ]
    for z in built.zips:
        data = z.path.read_bytes()
        assert (z.size, z.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        with zipfile.ZipFile(z.path) as archive:
            paths = archive.namelist()
            assert all(p.startswith("python/lib/python3.13/site-packages/") for p in paths)
            extensions = [p for p in paths if p.endswith(".so")]
            for extension in extensions:
                elf = archive.read(extension)
                assert int.from_bytes(elf[18:20], "little") == ELF_MACHINES[z.architecture]
        assert bool(extensions) == z.path.name.startswith("markupsafe")

    # The pins: each platform's wheels, with the sha256 pex checked them against.
    wheels = {p: {pin["wheel"]: pin for pin in pins} for p, pins in built.pins.items()}
    assert sorted(wheels) == ["python3.13-arm64", "python3.13-x86_64"]
    arm = [w for w in wheels["python3.13-arm64"] if w.startswith("MarkupSafe-3.0.2-cp313-cp313")]
    assert arm and "aarch64" in arm[0]
    assert wheels["python3.13-x86_64"]["six-1.16.0-py2.py3-none-any.whl"]["sha256"] == (
        "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
    )

    # Another build of the same request, elsewhere, gives the same bytes.
    again = build_layers(request, tmp_path / "b", pex_settings)
    assert [z.sha256 for z in again.zips] == [z.sha256 for z in built.zips]


def test_a_combined_zip_holds_every_package(tmp_path: Path, pex_settings) -> None:
    request = BuildRequest(("six==1.16.0", "idna==3.7"), "3.12", ("arm64",), True)
    (built,) = build_layers(request, tmp_path, pex_settings).zips
    assert built.path.name == "combined-python3.12-arm64.zip"
    with zipfile.ZipFile(built.path) as archive:
        tops = {p.split("/")[4] for p in archive.namelist()}
    assert {"six.py", "idna", "six-1.16.0.dist-info", "idna-3.7.dist-info"} <= tops
    metadata = json.loads((built.path.with_suffix(".json")).read_text())
    assert metadata["sha256"] == built.sha256


def test_a_requirement_without_a_wheel_fails_naming_it_and_the_platform(
    tmp_path: Path, pex_settings
) -> None:
    # PyYAML 5.4.1 publishes no wheel for CPython 3.13, and its sdist needs Cython < 3 to build.
    request = BuildRequest(("six==1.16.0", "PyYAML==5.4.1"), "3.13", ("x86_64",), True)
    with pytest.raises(BuildFailed) as failure:
        build_layers(request, tmp_path, pex_settings)
    message = str(failure.value)
    assert message.startswith("`PyYAML==5.4.1` has no wheel for python3.13 x86_64")
    assert "glibc 2.34" in message


def test_an_unreachable_index_is_not_a_missing_wheel(tmp_path: Path, pex_settings) -> None:
    offline = dataclasses.replace(pex_settings, index_url="https://127.0.0.1:9/simple/")
    request = BuildRequest(("six==1.16.0",), "3.13", ("x86_64",), True)
    with pytest.raises(
        BuildFailed, match=r"^Cannot reach the package index https://127\.0\.0\.1:9"
    ):
        build_layers(request, tmp_path, offline)


def wheel(directory: Path, name: str, version: str = "1.0") -> Path:
    """A pure-Python wheel of one empty module."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files = {
        f"{name}.py": b"",
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(
        f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).decode().rstrip('=')},"
        f"{len(d)}\n"
        for p, d in files.items()
    )
    with zipfile.ZipFile(path, "w") as archive:
        for p, d in files.items():
            archive.writestr(p, d)
        archive.writestr(f"{dist_info}/RECORD", f"{record}{dist_info}/RECORD,,\n")
    return path


def test_a_requirement_never_installs_a_file_of_the_working_directory(
    tmp_path: Path, monkeypatch, pex_settings
) -> None:
    # The request check refuses archive names; this checks the build's own guard behind it.
    planted = wheel(tmp_path, "planted")
    monkeypatch.chdir(tmp_path)
    request = BuildRequest((planted.name,), "3.13", ("x86_64",), True)
    with pytest.raises(BuildFailed) as failure:
        build_layers(request, tmp_path / "build", pex_settings)
    assert "planted" in str(failure.value)


def test_a_build_stops_at_its_deadline(tmp_path: Path, pex_settings) -> None:
    with socket.socket() as silent:  # an index that accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        hanging = dataclasses.replace(
            pex_settings, index_url=f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        )
        request = BuildRequest(("six==1.16.0",), "3.13", ("x86_64",), True)
        started = time.monotonic()
        with pytest.raises(BuildFailed, match=r"^The build took longer than its 4 s: "):
            build_layers(request, tmp_path, hanging, Deadline.after(4))
        assert time.monotonic() - started < 15  # pip alone would wait 15 s per try, 5 times

    with pytest.raises(BuildFailed, match=r"^The build took longer than its 0 s: "):
        build_layers(request, tmp_path / "late", pex_settings, Deadline.after(0))


TOKEN = "s3cret-index-token"


@dataclass
class PrivateIndex:
    """A PEP 503 index on 127.0.0.1 of one project, `private`, behind HTTP basic authentication."""

    url: str
    authorizations: list[str]
    """The Authorization header of each request, or "" for none."""


@pytest.fixture
def private_index(tmp_path: Path) -> Iterator[PrivateIndex]:
    package = wheel(tmp_path, "private")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    expected = "Basic " + base64.b64encode(f"builder:{TOKEN}".encode()).decode()
    authorizations: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorizations.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != expected:
                self._send(401, "text/plain", b"who are you?", {"WWW-Authenticate": "Basic"})
            elif self.path == "/simple/private/":
                link = f'<a href="/files/{package.name}#sha256={digest}">{package.name}</a>'
                self._send(200, "text/html", f"<!DOCTYPE html><html><body>{link}</body></html>")
            elif self.path == f"/files/{package.name}":
                self._send(200, "application/octet-stream", package.read_bytes())
            else:
                self._send(404, "text/plain", b"no such project")

        def _send(self, status: int, kind: str, body, headers: dict | None = None) -> None:
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for name, value in {"Content-Type": kind, **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield PrivateIndex(f"http://127.0.0.1:{server.server_address[1]}/simple/", authorizations)
    server.shutdown()
    server.server_close()


def test_index_credentials_come_from_a_netrc_and_never_show(
    tmp_path: Path, monkeypatch, pex_settings, private_index: PrivateIndex
) -> None:
    # pex fetches its pip from PyPI once per cache: the private index has only `private`.
    build_layers(
        BuildRequest(("six==1.16.0",), "3.13", ("x86_64",), True), tmp_path / "warm", pex_settings
    )
    netrc = tmp_path / "index.netrc"
    netrc.write_text(f"machine 127.0.0.1 login builder password {TOKEN}\n")
    settings = dataclasses.replace(pex_settings, index_url=private_index.url, netrc=netrc)
    processes: list[dict] = []
    popen = subprocess.Popen

    def recording(args, **kwargs):
        processes.append({"args": args, **kwargs})
        return popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording)

    request = BuildRequest(("private==1.0",), "3.13", ("arm64",), True)
    (built,) = build_layers(request, tmp_path / "ok", settings).zips
    with zipfile.ZipFile(built.path) as archive:
        assert "python/lib/python3.13/site-packages/private.py" in archive.namelist()
    assert private_index.authorizations and all(private_index.authorizations)

    missing = BuildRequest(("private==1.0", "absent==2.0"), "3.13", ("arm64",), True)
    with pytest.raises(BuildFailed) as failure:
        build_layers(missing, tmp_path / "failed", settings)
    assert "absent" in str(failure.value) and TOKEN not in str(failure.value)
    assert processes and all(TOKEN not in repr(p) for p in processes)  # argv and environment
    for process in processes:
        assert Path(process["cwd"]).is_relative_to(tmp_path)


def test_an_index_url_with_credentials_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings) as refused:
        PexSettings(tmp_path, index_url=f"https://builder:{TOKEN}@pypi.example/simple/")
    assert TOKEN not in str(refused.value) and "netrc" in str(refused.value)


def test_scrub_removes_url_credentials_and_secrets() -> None:
    text = (
        f"pip --index-url https://builder:{TOKEN}@pypi.example/simple/ failed\n"
        f"Looking in indexes: HTTP://{TOKEN}@other.example:8080/simple\n"
        f"401 for {TOKEN}; a short one: abc"
    )
    scrubbed = scrub(text, [TOKEN, "abc"])
    assert TOKEN not in scrubbed and "s3cret" not in scrubbed
    assert "https://***@pypi.example/simple/" in scrubbed
    assert "HTTP://***@other.example:8080/simple" in scrubbed
    assert scrubbed.endswith("a short one: abc")  # too short to be a secret


class _Stop(Exception):
    pass


def test_the_pex_command_lines_are_the_plugins(tmp_path: Path, monkeypatch) -> None:
    """For an index and platforms, the builder locks and installs with the arguments the plugin's
    rules get from `pex_args` for the same inputs: wheels only, that index and never PyPI, a flat
    install, the plugin's pip."""
    index = "https://mirror.example/manylinux/simple/"
    argvs: list[list[str]] = []

    class Succeeded:
        pid, returncode = 0, 0

        def __enter__(self) -> "Succeeded":
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def communicate(self, timeout: float | None = None) -> tuple[str, str]:
            return "", ""

    def popen(args, **kwargs):
        argvs.append(list(args))
        if len(argvs) > 1:  # the first install: enough
            raise _Stop
        (tmp_path / "w" / "lock.json").write_text('{"locked_resolves": []}')  # of wheels only
        return Succeeded()

    monkeypatch.setattr(subprocess, "Popen", popen)
    settings = PexSettings(tmp_path / "root", index_url=index, cert="/etc/ca.pem")
    request = BuildRequest(("six==1.16.0",), "3.13", ("x86_64", "arm64"), True)
    with pytest.raises(_Stop):
        build_layers(request, tmp_path / "w", settings)

    workdir = (tmp_path / "w").resolve()
    lock = str(workdir / "lock.json")
    platforms = [str(workdir / "platforms" / f"python3.13-{a}.json") for a in ("x86_64", "arm64")]
    site_packages = str(workdir / "combined-python3.13-x86_64" / "site-packages")

    def plugin_argv(subcommand: tuple[str, str], args: tuple[str, ...]) -> list[str]:
        pex_dir = str(Path(pex.__file__).parent.parent)
        resolve = resolve_args(PIP_VERSION, "/etc/ca.pem")
        return list(
            pex3_argv(
                sys.executable,
                pex_dir,
                subcommand,
                args,
                tmpdir=str(workdir / "tmp"),
                resolve=resolve,
            )
        )

    lock_args = lock_wheels_args(lock, platforms, ["six==1.16.0"], repos=index_args([index]))
    install_args = venv_flat_args(
        site_packages, lock, ["six==1.16.0"], complete_platforms=platforms[:1]
    )
    assert argvs == [plugin_argv(LOCK_CREATE, lock_args), plugin_argv(VENV_CREATE, install_args)]
    locking, installing = argvs
    assert {"--no-build", "--no-pypi", f"--index={index}", "--pip-version=23.1.2"} <= set(locking)
    assert not any("pypi.org" in arg for arg in locking)
    assert {"--no-build", "--layout=flat", f"--lock={lock}"} <= set(installing)


def test_an_sdist_only_requirement_is_built_for_the_runtime(tmp_path: Path, pex_settings) -> None:
    """sgmllib3k publishes only an sdist: it is locked, built by Python 3.13 and installed, and
    the pins name the sdist; a second build elsewhere gives the same bytes."""
    request = BuildRequest(("sgmllib3k==1.0.0",), "3.13", ("x86_64", "arm64"), True)
    built = build_layers(request, tmp_path / "a", pex_settings)
    for z in built.zips:
        with zipfile.ZipFile(z.path) as archive:
            names = archive.namelist()
        assert "python/lib/python3.13/site-packages/sgmllib.py" in names
    for pins in built.pins.values():
        assert [pin["wheel"] for pin in pins] == ["sgmllib3k-1.0.0.tar.gz"]
    again = build_layers(request, tmp_path / "b", pex_settings)
    assert [z.sha256 for z in again.zips] == [z.sha256 for z in built.zips]


def test_a_download_that_is_not_the_locked_sdist_is_refused(tmp_path: Path) -> None:
    """Whatever the index serves for an sdist, only the bytes with the lock's sha256 are built."""
    platform = tmp_path / "python3.13-x86_64.json"
    platform.write_text(json.dumps({"compatible_tags": ["cp313-cp313-manylinux_2_34_x86_64"]}))
    url = "https://files.example/sgmllib3k-1.0.0.tar.gz"
    resolve = {
        "platform_tag": ["cp313", "cp313", "manylinux_2_34_x86_64"],
        "locked_requirements": [
            {
                "project_name": "sgmllib3k",
                "version": "1.0.0",
                "artifacts": [{"algorithm": "sha256", "hash": "0" * 64, "url": url}],
            }
        ],
    }
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"locked_resolves": [resolve]}))

    def run_pex(command, options, failure) -> None:
        if command == DOWNLOAD:
            (dest,) = (o.split("=", 1)[1] for o in options if o.startswith("--dest-dir="))
            Path(dest).mkdir(parents=True)
            Path(dest, "sgmllib3k-1.0.0.tar.gz").write_bytes(b"something else")

    with pytest.raises(SdistFailed, match="^The download of `sgmllib3k==1.0.0` is not the sdist"):
        build_sdists(
            run_pex,
            tmp_path,
            "python3.13",
            {"x86_64": platform},
            lock,
            CrossDownloads(tmp_path / "cross"),
        )


def test_an_sdist_with_extensions_is_cross_compiled_for_each_architecture(
    tmp_path: Path, pex_settings
) -> None:
    """crcmod publishes only an sdist with a C extension: the service builds it with the plugin's
    pinned Zig and Python headers for each architecture, the same bytes on a second build."""
    request = BuildRequest(("crcmod==1.7",), "3.13", ("x86_64", "arm64"), True)
    built = build_layers(request, tmp_path / "a", pex_settings)
    machines = set()
    for z in built.zips:
        with zipfile.ZipFile(z.path) as archive:
            (extension,) = [n for n in archive.namelist() if n.endswith(".so")]
            machines.add(read_elf(archive.read(extension)).machine)
        assert extension.startswith("python/lib/python3.13/site-packages/crcmod/_crcfunext.")
    assert machines == set(ELF_MACHINES.values())
    again = build_layers(request, tmp_path / "b", pex_settings)
    assert [z.sha256 for z in again.zips] == [z.sha256 for z in built.zips]


def test_a_cross_download_that_is_not_the_pinned_file_is_refused(tmp_path: Path) -> None:
    """Whatever a host serves for Zig or the Python headers, and whatever a cache holds, only the
    bytes with the pinned sha256 and size are used."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "headers.deb").write_bytes(b"not the pinned archive")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/headers.deb"
    pinned = hashlib.sha256(b"the pinned archive!!!!").hexdigest()
    cross = CrossDownloads(tmp_path / "cache")
    try:
        with pytest.raises(SdistFailed, match=r"^The download of .* is not the pinned file"):
            fetch_pinned(url, pinned, 22, cross)
        cached = tmp_path / "cache" / "downloads" / pinned / "headers.deb"
        assert not cached.exists()
        # a cached file that is not the pinned one is downloaded again, and refused again
        cached.parent.mkdir(parents=True)
        cached.write_bytes(b"planted in the cache!!")
        with pytest.raises(SdistFailed, match="is not the pinned file"):
            fetch_pinned(url, pinned, 22, cross)
    finally:
        server.shutdown()
