from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.sources.spec import (
    Extract,
    Pin,
    SourceSpec,
    SourceType,
    VersionFrom,
    check_dests,
    check_download_url,
    current_pin,
    fingerprint,
    parse_lock,
    parse_version,
    read_version,
    render,
    render_lock,
    validate,
    version_file,
)

VENDOR = SourceSpec(
    name="vendor",
    type=SourceType.GITHUB_RELEASE,
    extract=Extract.TAR_GZ,
    dest="vendor",
    repo="owner/vendor-tool",
    tag="vendor-v{version}",
    asset="vendor-{version}.tar.gz",
    member="vendor-{version}",
    version="1.4.0",
)
API = "https://ghe.example.com/api/v3"
ASSET = f"{API}/repos/owner/vendor-tool/releases/assets/17"
TERRAFORM = SourceSpec(
    name="terraform",
    type=SourceType.HTTPS,
    extract=Extract.ZIP,
    dest="bin/terraform",
    url="https://releases.example.com/terraform/{version}/terraform_{version}_linux_arm64.zip",
    member="terraform",
    executable=True,
    version_from=VersionFrom("vendor", ".tool-versions", "terraform"),
)


def test_the_reference_sources_are_valid() -> None:
    validate(VENDOR, "src:vendor")
    validate(TERRAFORM, "src:terraform")
    assert render(VENDOR.asset or "", "1.4.0") == "vendor-1.4.0.tar.gz"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"url": "http://x/{version}"}, "must start with https://"),
        ({"url": None}, "needs `url`"),
        ({"repo": "o/r"}, "are for `github_release`"),
        ({"version": None, "version_from": None}, "exactly one of `version` and `version_from`"),
        ({"version": "1.0"}, "exactly one of"),
        ({"dest": "../up"}, "`dest` must be a relative path"),
        ({"dest": "/abs"}, "`dest` must be a relative path"),
        ({"member": "a/../b"}, "`member` must be a relative path"),
        ({"extract": Extract.NONE}, "`member` needs an archive"),
        ({"version_from": VersionFrom("v", "../x", "k")}, "`version_from` file"),
    ],
)
def test_invalid_https_sources_are_explained(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=f"src:terraform: .*{message}"):
        validate(dataclasses.replace(TERRAFORM, **changes), "src:terraform")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"asset": None}, "needs `repo`, `tag` and `asset`"),
        ({"repo": "no-slash"}, "`repo` must be `owner/name`"),
        ({"version": "1.0; rm -rf"}, "is not a version"),
        ({"url": "https://x"}, "`url` is for `https` sources"),
    ],
)
def test_invalid_github_sources_are_explained(changes: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        validate(dataclasses.replace(VENDOR, **changes), "src:vendor")


def test_overlapping_dests_name_both_sources() -> None:
    check_dests({"a": "bin/a", "b": "bin/b", "c": "vendor"}, "src:app")
    with pytest.raises(UserError, match=r"src:app: the sources 'tools' \(dest 'bin'\) and 'tf'"):
        check_dests({"tf": "bin/terraform", "tools": "bin"}, "src:app")
    with pytest.raises(UserError, match="overlap"):
        check_dests({"a": "x", "b": "x"}, "src:app")
    check_dests({"a": "bin", "b": "bin2"}, "src:app")


def test_read_version_takes_the_key_line_of_a_tool_versions_file(tmp_path: Path) -> None:
    path = tmp_path / ".tool-versions"
    path.write_text("# tools\nnodejs 22.1.0\nterraform 1.9.0 1.8.0  # pinned\n")
    assert read_version(path, "terraform", "src:tf") == "1.9.0"
    with pytest.raises(UserError, match="has no 'python' line"):
        read_version(path, "python", "src:tf")
    with pytest.raises(UserError, match="cannot read 'missing'"):
        read_version(tmp_path / "missing", "terraform", "src:tf")
    path.write_text("terraform $(curl)\n")
    with pytest.raises(UserError, match="is not a version"):
        read_version(path, "terraform", "src:tf")


def test_version_file_is_under_the_upstream_dest(tmp_path: Path) -> None:
    assert version_file(tmp_path, VENDOR, TERRAFORM) == tmp_path / "vendor" / ".tool-versions"


def test_the_fingerprint_covers_what_to_download_and_not_where_it_lands() -> None:
    base = fingerprint(VENDOR)
    assert fingerprint(dataclasses.replace(VENDOR, dest="elsewhere", member=None)) == base
    assert fingerprint(dataclasses.replace(VENDOR, executable=True)) == base
    assert fingerprint(dataclasses.replace(VENDOR, version="1.5.0")) != base
    assert fingerprint(dataclasses.replace(VENDOR, asset="x-{version}.tgz")) != base
    pin = Pin(base, "1.4.0", "https://x", "a" * 64, 1)
    other = dataclasses.replace(pin, sha256="b" * 64)
    assert fingerprint(TERRAFORM, pin) != fingerprint(TERRAFORM, other)


def test_the_lock_round_trips_and_renders_deterministically() -> None:
    pins = {
        "src:vendor": Pin(fingerprint(VENDOR), "1.4.0", "https://a", "a" * 64, 10),
        "src/b:tool": Pin("f" * 64, "2", "https://b", "b" * 64, 20),
    }
    content = render_lock(pins)
    assert parse_lock(content, "lambda-sources.lock") == pins
    assert render_lock(dict(reversed(list(pins.items())))) == content
    assert content.index(b"src/b:tool") < content.index(b"src:vendor")


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"sources": {"a": {"x": 1}}}'])
def test_a_malformed_lock_says_what_to_do(content: bytes) -> None:
    with pytest.raises(UserError, match="lambda-sources.lock is not a sources lock.*lambda-lock"):
        parse_lock(content, "lambda-sources.lock")


def test_a_missing_or_stale_pin_names_the_command() -> None:
    pin = Pin(fingerprint(VENDOR), "1.4.0", ASSET, "a" * 64, 10)
    assert current_pin({"src:vendor": pin}, "src:vendor", VENDOR, None, "L", API) == pin
    with pytest.raises(UserError, match="src:vendor has no pin in L: run `pants lambda-lock`"):
        current_pin({}, "src:vendor", VENDOR, None, "L", API)
    bumped = dataclasses.replace(VENDOR, version="1.5.0")
    with pytest.raises(UserError, match="pin of src:vendor in L is stale.*lambda-lock"):
        current_pin({"src:vendor": pin}, "src:vendor", bumped, None, "L", API)


def test_a_pin_edited_away_from_its_declaration_is_refused() -> None:
    """A lock is a file a pull request can change: its URL and version must follow from the
    BUILD file, or a token and a swapped download would go where the edit says."""
    vendor = Pin(fingerprint(VENDOR), "1.4.0", ASSET, "a" * 64, 10)
    upstream = Pin("0" * 64, "1", "https://x", "b" * 64, 1)
    url = "https://releases.example.com/terraform/1.9.0/terraform_1.9.0_linux_arm64.zip"
    terraform = Pin(fingerprint(TERRAFORM, upstream), "1.9.0", url, "c" * 64, 10)
    assert current_pin({"t": terraform}, "t", TERRAFORM, upstream, "L", API) == terraform
    edits = [
        (VENDOR, vendor, None, {"url": ASSET.replace("ghe.example.com", "evil.example")}),
        (VENDOR, vendor, None, {"version": "1.3.0"}),
        (TERRAFORM, terraform, upstream, {"url": url.replace("releases.example", "evil.example")}),
        (TERRAFORM, terraform, upstream, {"url": url.replace("1.9.0", "1.8.0")}),
    ]
    for spec, pin, upstream_pin, edit in edits:
        edited = dataclasses.replace(pin, **edit)
        with pytest.raises(UserError, match="in L does not match its declaration: .*lambda-lock"):
            current_pin({"s": edited}, "s", spec, upstream_pin, "L", API)


@pytest.mark.parametrize(
    "url",
    [
        ASSET.replace("https://", "http://"),
        ASSET.replace("ghe.example.com", "ghe.example.com.evil.example"),
        ASSET.replace("ghe.example.com", "ghe.example.com:8443"),
        ASSET.replace("ghe.example.com", "token@ghe.example.com"),
        ASSET.replace("/api/v3", ""),
        ASSET.replace("owner/vendor-tool", "owner/other-tool"),
        ASSET + "?redirect=https://evil.example",
        ASSET + "#x",
        ASSET.replace("/17", "/17/../../../../uploads"),
        ASSET.replace("/17", "/１７"),  # fullwidth digits pass str.isdigit
        ASSET.replace("/17", "/"),
    ],
)
def test_a_github_asset_url_is_on_the_api_host_and_names_the_repo(url: str) -> None:
    check_download_url(VENDOR, "1.4.0", ASSET, API)
    check_download_url(
        VENDOR, "1.4.0", ASSET.replace("owner/vendor-tool", "Owner/Vendor-Tool"), API
    )
    with pytest.raises(UserError, match="is not a release asset of owner/vendor-tool"):
        check_download_url(VENDOR, "1.4.0", url, API)


def test_parse_version_reads_text_as_read_version_reads_the_file() -> None:
    assert parse_version("terraform 1.9.0\n", ".tool-versions", "terraform", "w") == "1.9.0"
    with pytest.raises(UserError, match="'.tool-versions' has no 'terraform' line"):
        parse_version("", ".tool-versions", "terraform", "w")
