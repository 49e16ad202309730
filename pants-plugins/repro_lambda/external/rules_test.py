"""`lambda_source`: `lambda-lock` pins, `package` fetches, verifies and stages, from an HTTPS
release server on 127.0.0.1 with a test CA."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from fake_releases import ReleaseServer, Route, release_server, tar_gz, zip_of
from pants.core.goals.package import BuiltPackage
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.rules import QueryRule
from pants.testutil.rule_runner import RuleRunner

from repro_lambda.core.sources.spec import TOKEN_ENV_VAR
from repro_lambda.external import rules as external_rules
from repro_lambda.goals.lock import LambdaLock
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.nodejs.rules import NodeLambdaFieldSet
from repro_lambda.testutil import ENV_INHERIT, lambda_options, make_rule_runner

LOCK = "lambda-sources.lock"
# An AArch64 Linux executable's ELF header, and a little more.
AARCH64_ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\xb7\x00" + bytes(40)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseServer]:
    with release_server(tmp_path_factory.mktemp("ca")) as server:
        yield server


def publish_release(server: ReleaseServer, vendor: str, terraform: str) -> None:
    """The vendor tool's tarball (its `.tool-versions` names terraform's version), and
    terraform's zip."""
    server.serve(
        f"/vendor/vendor-{vendor}.tar.gz",
        tar_gz(
            {
                f"vendor-{vendor}/.tool-versions": f"terraform {terraform}\n".encode(),
                f"vendor-{vendor}/lib/vendor_tool.py": f"VERSION = {vendor!r}\n".encode(),
                "NOTICE": b"outside the member",
            }
        ),
    )
    server.serve(
        f"/terraform/{terraform}/terraform_{terraform}_linux_arm64.zip",
        zip_of({"terraform": AARCH64_ELF + terraform.encode(), "LICENSE": b"BUSL"}),
    )


def sources_build(server: ReleaseServer, vendor: str = "1.4.0") -> str:
    return dedent(
        f"""\
        lambda_source(
            name="vendor",
            type="https",
            url="{server.url('/vendor/vendor-{version}.tar.gz')}",
            version="{vendor}",
            extract="tar.gz",
            member="vendor-{{version}}",
            dest="vendor",
        )
        lambda_source(
            name="terraform",
            type="https",
            url="{server.url('/terraform/{version}/terraform_{version}_linux_arm64.zip')}",
            version_from={{"source": ":vendor", "file": ".tool-versions", "key": "terraform"}},
            extract="zip",
            member="terraform",
            dest="bin/terraform",
            executable=True,
        )
        """
    )


APP_BUILD = dedent(
    """\
    python_sources()
    lambda_artifact(
        name="fn",
        handler="app.handler.lambda_handler",
        runtime="python3.12",
        architecture="arm64",
        external_sources=["3rdparty/tools:vendor", "3rdparty/tools:terraform"],
    )
    """
)
FN = Address("src/python/app", target_name="fn")


def options(server: ReleaseServer, loopback: bool = True) -> list[str]:
    return [
        *lambda_options(),
        f"--lambda-sources-test-ca-file={server.ca_file}",
        f"--lambda-sources-github-api-url={server.url('')}",
        *(["--lambda-sources-test-allow-loopback"] if loopback else []),
    ]


def make_runner(server: ReleaseServer, env: dict[str, str] | None = None) -> RuleRunner:
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            "3rdparty/tools/BUILD": sources_build(server),
            "src/python/app/BUILD": APP_BUILD,
            "src/python/app/__init__.py": "",
            "src/python/app/handler.py": "def lambda_handler(event, context):\n    return 1\n",
        }
    )
    rule_runner.set_options(options(server), env=env, env_inherit=ENV_INHERIT)
    return rule_runner


def lock(rule_runner: RuleRunner, server: ReleaseServer, env: dict[str, str] | None = None) -> str:
    result = rule_runner.run_goal_rule(
        LambdaLock,
        global_args=options(server),
        args=["::"],
        env=env,
        env_inherit=ENV_INHERIT,
    )
    rule_runner.set_options(options(server), env=env, env_inherit=ENV_INHERIT)
    return result.stdout


def package(rule_runner: RuleRunner, address: Address = FN) -> zipfile.ZipFile:
    field_set = LambdaArtifactFieldSet.create(rule_runner.get_target(address))
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = rule_runner.request(DigestContents, [built.digest])
    (zip_bytes,) = [fc.content for fc in contents if fc.path.endswith(".zip")]
    return zipfile.ZipFile(io.BytesIO(zip_bytes))


def pins(rule_runner: RuleRunner) -> dict[str, dict]:
    sources: dict[str, dict] = json.loads(Path(rule_runner.build_root, LOCK).read_text())["sources"]
    return sources


def test_lock_then_package_bundles_both_sources_at_their_dests(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    rule_runner = make_runner(server)
    stdout = lock(rule_runner, server)
    assert "3rdparty/tools:terraform 1.9.0" in stdout and f"Wrote {LOCK}" in stdout
    pinned = pins(rule_runner)
    assert pinned["3rdparty/tools:vendor"]["version"] == "1.4.0"
    assert pinned["3rdparty/tools:terraform"]["url"].endswith("terraform_1.9.0_linux_arm64.zip")
    lock_bytes = Path(rule_runner.build_root, LOCK).read_bytes()
    assert f"Unchanged: {LOCK}" in lock(rule_runner, server)
    assert Path(rule_runner.build_root, LOCK).read_bytes() == lock_bytes

    archive = package(rule_runner)
    names = archive.namelist()
    assert {"app/handler.py", "bin/terraform", "vendor/.tool-versions"} <= set(names)
    assert "vendor/lib/vendor_tool.py" in names and "NOTICE" not in names
    assert archive.getinfo("bin/terraform").external_attr >> 16 == 0o100755
    assert archive.getinfo("vendor/.tool-versions").external_attr >> 16 == 0o100644
    assert archive.read("bin/terraform") == AARCH64_ELF + b"1.9.0"

    # re-packing for another reason fetches nothing again
    server.requests.clear()
    rebuilt = APP_BUILD.replace("    external_sources", '    hash_extra="2",\n    external_sources')
    rule_runner.write_files({"src/python/app/BUILD": rebuilt})
    assert package(rule_runner).comment == b"2"
    assert server.requests == []


def test_a_bumped_version_is_stale_until_relocked_and_cascades(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    publish_release(server, "1.5.0", "1.10.0")
    rule_runner = make_runner(server)
    lock(rule_runner, server)
    before = package(rule_runner).read("bin/terraform")
    rule_runner.write_files({"3rdparty/tools/BUILD": sources_build(server, vendor="1.5.0")})
    with pytest.raises(
        ExecutionError, match=r"pin of 3rdparty/tools:vendor in .* is stale.*lambda-lock"
    ):
        package(rule_runner)
    lock(rule_runner, server)
    assert pins(rule_runner)["3rdparty/tools:terraform"]["version"] == "1.10.0"
    archive = package(rule_runner)
    assert archive.read("bin/terraform") == AARCH64_ELF + b"1.10.0" != before
    assert archive.read("vendor/lib/vendor_tool.py") == b"VERSION = '1.5.0'\n"


def test_a_missing_pin_names_the_command(server: ReleaseServer) -> None:
    rule_runner = make_runner(server)
    with pytest.raises(ExecutionError, match=r"3rdparty/tools:vendor has no pin in .*lambda-lock"):
        package(rule_runner)


def test_a_download_that_is_not_the_pinned_one_is_refused(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    rule_runner = make_runner(server)
    lock(rule_runner, server)
    # the release is replaced upstream after it was locked
    server.serve("/vendor/vendor-1.4.0.tar.gz", tar_gz({"vendor-1.4.0/evil": b"x"}))
    try:
        with pytest.raises(ExecutionError) as error:
            package(rule_runner)
    finally:
        publish_release(server, "1.4.0", "1.9.0")
    message = str(error.value)
    expected = pins(rule_runner)["3rdparty/tools:vendor"]["sha256"]
    assert "Cannot fetch 3rdparty/tools:vendor: source 'vendor': the download of" in message
    assert f"the lock pins sha256 {expected}" in message


def test_without_the_test_option_the_loopback_server_is_refused(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    rule_runner = make_runner(server)
    with pytest.raises(ExecutionError, match="refusing to connect to '127.0.0.1'.*loopback"):
        rule_runner.run_goal_rule(
            LambdaLock,
            global_args=options(server, loopback=False),
            args=["::"],
            env_inherit=ENV_INHERIT,
        )


def test_names_are_unique_and_dests_do_not_overlap(server: ReleaseServer) -> None:
    rule_runner = make_runner(server)
    rule_runner.write_files(
        {
            "3rdparty/other/BUILD": dedent(
                f"""\
                lambda_source(name="vendor", type="https", url="{server.url('/x')}",
                              version="1", extract="none", dest="other")
                lambda_source(name="bin", type="https", url="{server.url('/y')}",
                              version="1", extract="none", dest="bin")
                """
            ),
            "src/python/app/BUILD": APP_BUILD.replace(
                '"3rdparty/tools:terraform"', '"3rdparty/tools:terraform", "3rdparty/other:vendor"'
            )
            + dedent(
                """\
                lambda_artifact(
                    name="overlap",
                    handler="app.handler.lambda_handler",
                    runtime="python3.12",
                    architecture="arm64",
                    external_sources=["3rdparty/tools:terraform", "3rdparty/other:bin"],
                )
                """
            ),
        }
    )
    with pytest.raises(
        ExecutionError,
        match=r"3rdparty/other:vendor and 3rdparty/tools:vendor have the same name|"
        r"3rdparty/tools:vendor and 3rdparty/other:vendor have the same name",
    ):
        package(rule_runner)
    with pytest.raises(
        ExecutionError,
        match=r"the sources 'bin' \(dest 'bin'\) and 'terraform' \(dest 'bin/terraform'\)",
    ):
        package(rule_runner, Address("src/python/app", target_name="overlap"))


def github_build(server: ReleaseServer) -> str:
    return dedent(
        """\
        lambda_source(
            name="vendor",
            type="github_release",
            repo="owner/vendor-tool",
            tag="vendor-v{version}",
            asset="vendor-{version}.tar.gz",
            version="2.0.0",
            extract="tar.gz",
            member="vendor-{version}",
            dest="vendor",
        )
        """
    )


def locked_github_runner(
    server: ReleaseServer, readme: bytes, token: str | None = "the-secret-token"
) -> RuleRunner:
    """An app with one `github_release` source, whose release holds `readme`, locked; the server's
    requests are those from the lock on."""
    server.github_release(
        "owner/vendor-tool",
        "vendor-v2.0.0",
        {"vendor-2.0.0.tar.gz": tar_gz({"vendor-2.0.0/README": readme})},
    )
    env = {TOKEN_ENV_VAR: token} if token else None
    rule_runner = make_runner(server, env=env)
    rule_runner.write_files(
        {
            "3rdparty/tools/BUILD": github_build(server),
            "src/python/app/BUILD": APP_BUILD.replace(', "3rdparty/tools:terraform"', ""),
        }
    )
    server.requests.clear()
    lock(rule_runner, server, env=env)
    return rule_runner


@pytest.mark.parametrize("token", [None, "the-secret-token"])
def test_a_github_release_is_locked_and_fetched_through_the_api(
    server: ReleaseServer, token: str | None
) -> None:
    rule_runner = locked_github_runner(server, b"vendor 2", token)
    assert pins(rule_runner)["3rdparty/tools:vendor"]["url"] == server.url(
        "/repos/owner/vendor-tool/releases/assets/1"
    )
    assert package(rule_runner).read("vendor/README") == b"vendor 2"
    expected = f"Bearer {token}" if token else None
    for request in server.requests:
        sent = request.headers.get("Authorization")
        if request.path.startswith("/blobs/"):
            assert sent is None  # another host: never sent there
        else:
            assert sent == expected
    assert any(r.path.startswith("/blobs/") for r in server.requests)


def edit_pin(rule_runner: RuleRunner, address: str, **changes: object) -> None:
    """Edit the committed lock, as a pull request can."""
    path = Path(rule_runner.build_root, LOCK)
    data = json.loads(path.read_text())
    data["sources"][address].update(changes)
    path.write_text(json.dumps(data))


def served(body: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}


def test_a_lock_edited_to_send_the_token_elsewhere_is_refused(server: ReleaseServer) -> None:
    rule_runner = locked_github_runner(server, b"vendor 2")
    # another host (localhost is not the API's 127.0.0.1) that serves the same bytes
    elsewhere = server.url("/repos/owner/vendor-tool/releases/assets/1", host="localhost")
    edit_pin(rule_runner, "3rdparty/tools:vendor", url=elsewhere)
    server.requests.clear()
    with pytest.raises(ExecutionError) as error:
        package(rule_runner)
    assert "the pin of 3rdparty/tools:vendor in lambda-sources.lock does not match its" in str(
        error.value
    )
    assert "is not a release asset of owner/vendor-tool on `[lambda-sources].github_api_url`" in (
        str(error.value)
    )
    assert server.requests == []  # the token went nowhere


def test_a_lock_edited_to_swap_the_download_is_refused(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    rule_runner = make_runner(server)
    lock(rule_runner, server)
    evil = tar_gz({"vendor-1.4.0/evil": b"x"})
    edit_pin(
        rule_runner,
        "3rdparty/tools:vendor",
        url=server.serve("/mirror/vendor-1.4.0.tar.gz", evil),
        **served(evil),
    )
    server.requests.clear()
    with pytest.raises(ExecutionError, match=r"vendor in .* does not match .* is not the declared"):
        package(rule_runner)
    assert server.requests == []

    # a `version_from` source's version is the one its upstream names, not the lock's
    lock(rule_runner, server)
    newer = zip_of({"terraform": AARCH64_ELF + b"1.10.0"})
    url = server.serve("/terraform/1.10.0/terraform_1.10.0_linux_arm64.zip", newer)
    edit_pin(rule_runner, "3rdparty/tools:terraform", version="1.10.0", url=url, **served(newer))
    with pytest.raises(
        ExecutionError,
        match=r"terraform in .* does not match .* version '1.10.0' is not '1.9.0', which"
        r" 3rdparty/tools:vendor names",
    ):
        package(rule_runner)


def test_lock_refuses_an_asset_url_the_api_gives_on_another_host(server: ReleaseServer) -> None:
    elsewhere = server.serve("/blobs/vendor.tar.gz", tar_gz({"vendor-2.0.0/README": b"x"}))
    listed = {"assets": [{"name": "vendor-2.0.0.tar.gz", "url": elsewhere}]}
    server.routes["/repos/owner/vendor-tool/releases/tags/vendor-v2.0.0"] = Route(
        body=json.dumps(listed).encode()
    )
    env = {TOKEN_ENV_VAR: "the-secret-token"}
    rule_runner = make_runner(server, env=env)
    rule_runner.write_files({"3rdparty/tools/BUILD": github_build(server)})
    server.requests.clear()
    with pytest.raises(ExecutionError, match="the GitHub API answered an asset URL that is not"):
        lock(rule_runner, server, env=env)
    assert [r.path for r in server.requests] == [
        "/repos/owner/vendor-tool/releases/tags/vendor-v2.0.0"
    ]


def test_a_private_download_is_written_where_only_this_run_reads_it(
    server: ReleaseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule_runner = locked_github_runner(server, b"private 2")
    seen: list[tuple[Path, int, int]] = []

    def fetch_pinned(url: str, out, *args, **kwargs) -> None:
        path = Path(os.readlink(f"/proc/self/fd/{out.fileno()}"))  # the file being written
        seen.append(
            (path, stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(path.parent.stat().st_mode))
        )
        return real(url, out, *args, **kwargs)

    real = external_rules.fetch_pinned
    monkeypatch.setattr(external_rules, "fetch_pinned", fetch_pinned)
    assert package(rule_runner).read("vendor/README") == b"private 2"
    ((path, file_mode, dir_mode),) = seen
    assert (file_mode, dir_mode) == (0o600, 0o700)
    sha256 = pins(rule_runner)["3rdparty/tools:vendor"]["sha256"]
    assert path.name.startswith(f".{sha256}.")  # written under a name no other run shares
    assert not path.exists() and not (path.parent / sha256).exists()  # gone once stored


def test_a_nodejs_lambda_bundles_its_sources_too(server: ReleaseServer) -> None:
    publish_release(server, "1.4.0", "1.9.0")
    rule_runner = make_rule_runner(QueryRule(BuiltPackage, [NodeLambdaFieldSet]))
    package_json = {"name": "fn", "version": "1.0.0"}
    lockfile = {
        "name": "fn",
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": True,
        "packages": {"": {"name": "fn", "version": "1.0.0"}},
    }
    rule_runner.write_files(
        {
            "3rdparty/tools/BUILD": sources_build(server),
            "src/nodejs/fn/BUILD": dedent(
                """\
                nodejs_lambda_artifact(
                    name="fn",
                    handler="index.handler",
                    runtime="nodejs22.x",
                    architecture="arm64",
                    external_sources=["3rdparty/tools:terraform", "3rdparty/tools:vendor"],
                )
                """
            ),
            "src/nodejs/fn/index.js": "exports.handler = async () => 1;\n",
            "src/nodejs/fn/package.json": json.dumps(package_json),
            "src/nodejs/fn/package-lock.json": json.dumps(lockfile),
        }
    )
    rule_runner.set_options(options(server), env_inherit=ENV_INHERIT)
    lock(rule_runner, server)
    field_set = NodeLambdaFieldSet.create(
        rule_runner.get_target(Address("src/nodejs/fn", target_name="fn"))
    )
    built = rule_runner.request(BuiltPackage, [field_set])
    contents = rule_runner.request(DigestContents, [built.digest])
    (zip_bytes,) = [fc.content for fc in contents if fc.path.endswith(".zip")]
    names = zipfile.ZipFile(io.BytesIO(zip_bytes)).namelist()
    assert {"index.js", "bin/terraform", "vendor/.tool-versions"} <= set(names)


def test_a_per_package_layer_cannot_take_sources(server: ReleaseServer) -> None:
    rule_runner = make_runner(server)
    rule_runner.write_files(
        {
            "src/python/layer/BUILD": dedent(
                """\
                lambda_layer(
                    name="tools",
                    runtimes=["python3.12"],
                    split="per-package",
                    external_sources=["3rdparty/tools:vendor"],
                )
                """
            )
        }
    )
    with pytest.raises(ExecutionError, match='external_sources` with `split="per-package"`'):
        rule_runner.get_target(Address("src/python/layer", target_name="tools"))
