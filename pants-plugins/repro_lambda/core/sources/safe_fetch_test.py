from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_releases import ReleaseServer, Route, release_server

from repro_lambda.core.contract import UserError
from repro_lambda.core.sources.safe_fetch import (
    FetchPolicy,
    fetch,
    fetch_pinned,
    github_asset_url,
    github_headers,
    redacted,
    system_resolver,
)

BODY = b"release bytes\n" * 1000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReleaseServer]:
    with release_server(tmp_path_factory.mktemp("ca")) as server:
        yield server


@pytest.fixture
def policy(server: ReleaseServer) -> FetchPolicy:
    """The test-only loosening: loopback allowed, the test CA trusted."""
    return FetchPolicy(allow_loopback=True, ca_file=server.ca_file)


def get(url: str, policy: FetchPolicy, **kwargs) -> bytes:
    out = io.BytesIO()
    fetch(url, out, policy, **kwargs)
    return out.getvalue()


def test_fetch_returns_the_body_and_its_digest(server: ReleaseServer, policy: FetchPolicy) -> None:
    url = server.serve("/tool-1.0.tar.gz", BODY)
    out = io.BytesIO()
    downloaded = fetch(url, out, policy)
    assert out.getvalue() == BODY
    assert (downloaded.sha256, downloaded.size) == (hashlib.sha256(BODY).hexdigest(), len(BODY))


def test_the_address_guard_refuses_the_loopback_server_unless_tests_allow_it(
    server: ReleaseServer,
) -> None:
    url = server.serve("/guarded", BODY)
    with pytest.raises(UserError, match=r"refusing to connect to '127.0.0.1'.*loopback"):
        get(url, FetchPolicy(ca_file=server.ca_file))


def test_a_pinned_fetch_with_another_digest_names_both(
    server: ReleaseServer, policy: FetchPolicy
) -> None:
    url = server.serve("/pinned", BODY)
    wrong = "0" * 64
    actual = hashlib.sha256(BODY).hexdigest()
    with pytest.raises(UserError, match=f"has sha256 {actual}.*lock pins sha256 {wrong}"):
        fetch_pinned(url, io.BytesIO(), policy, wrong, len(BODY))
    fetch_pinned(url, io.BytesIO(), policy, actual, len(BODY))


def test_only_https_is_fetched_also_after_a_redirect(
    server: ReleaseServer, policy: FetchPolicy
) -> None:
    with pytest.raises(UserError, match="only https://"):
        get(f"http://127.0.0.1:{server.port}/plain", policy)
    url = server.redirect("/to-http", f"http://127.0.0.1:{server.port}/plain")
    with pytest.raises(UserError, match=r"refusing http://127.0.0.1:\d+/plain: only https://"):
        get(url, policy)
    assert not any(r.path == "/plain" for r in server.requests)


def test_authorization_is_kept_on_the_same_host_and_dropped_on_another(
    server: ReleaseServer, policy: FetchPolicy
) -> None:
    server.serve("/same-host-target", BODY)
    server.serve("/other-host-target", BODY)
    same = server.redirect("/same-host", server.url("/same-host-target"))
    other = server.redirect("/other-host", server.url("/other-host-target", host="localhost"))
    headers = {"Authorization": "Bearer the-token"}
    assert get(same, policy, headers=headers) == BODY
    assert get(other, policy, headers=headers) == BODY
    seen = {r.path: r.headers.get("Authorization") for r in server.requests}
    assert seen["/same-host-target"] == "Bearer the-token"
    assert seen["/other-host"] == "Bearer the-token"
    assert seen["/other-host-target"] is None


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    server: ReleaseServer,
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"evil.example": ["93.184.216.34", "10.0.0.7"]}.get(host) or system_resolver(
            host, port
        )

    policy = FetchPolicy(allow_loopback=True, ca_file=server.ca_file, resolver=resolver)
    with pytest.raises(UserError, match=r"'evil.example'.*10.0.0.7, a private"):
        get("https://evil.example/x", policy)
    url = server.redirect("/to-evil", "https://evil.example/x")
    with pytest.raises(UserError, match="evil.example"):
        get(url, policy)


@pytest.mark.parametrize(
    "address, kind",
    [
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("192.168.1.1", "private"),
        ("172.16.0.1", "private"),
        ("169.254.10.10", "link-local"),
        ("100.64.0.1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "private"),
        # IPv6 forms that carry an IPv4 address, which is the one to judge
        ("::127.0.0.1", "loopback"),
        ("::169.254.169.254", "cloud metadata"),
        ("::10.0.0.1", "private"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4
        ("2002:c0a8:0101::1", "private"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
        ("64:ff9b:1::5db8:d822", "private"),  # local-use NAT64
        ("fec0::1", "private"),  # site-local
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    with pytest.raises(UserError, match=kind):
        FetchPolicy().check_address("host", address)
    # loopback is allowed only by the test option, and nothing else is
    if kind == "loopback":
        FetchPolicy(allow_loopback=True).check_address("host", address)
    else:
        with pytest.raises(UserError):
            FetchPolicy(allow_loopback=True).check_address("host", address)


def test_public_addresses_pass() -> None:
    FetchPolicy().check_address("host", "93.184.216.34")
    FetchPolicy().check_address("host", "2606:4700::1111")
    FetchPolicy().check_address("host", "64:ff9b::5db8:d822")  # NAT64 of 93.184.216.34
    FetchPolicy().check_address("host", "2002:5db8:d822::1")  # 6to4 of 93.184.216.34


def test_each_checked_address_is_tried_in_turn(server: ReleaseServer) -> None:
    """An IPv6 address first, on an IPv4-only runner (or any address that does not answer),
    does not fail the fetch: the next checked address is tried."""
    url = server.serve("/dual-stack", BODY)
    for addresses in (["::1", "127.0.0.1"], ["127.0.0.2", "127.0.0.1"]):
        policy = FetchPolicy(
            allow_loopback=True, ca_file=server.ca_file, resolver=lambda h, p: addresses
        )
        assert get(url, policy) == BODY
    nothing = FetchPolicy(allow_loopback=True, resolver=lambda h, p: ["::1", "127.0.0.2"])
    with pytest.raises(UserError, match=r"cannot connect to '127.0.0.1' at any of its addresses"):
        get(url, nothing)


def test_the_whole_fetch_is_bounded_in_time(server: ReleaseServer) -> None:
    """A server that answers a byte at a time, each well within the socket timeout, cannot
    hold a fetch past its deadline."""
    server.routes["/slow"] = Route(body=BODY[:200], drip_seconds=0.05)
    policy = FetchPolicy(allow_loopback=True, ca_file=server.ca_file, deadline_seconds=1)
    with pytest.raises(
        UserError, match=r"GET https://127.0.0.1:\d+/slow did not finish within 1 seconds"
    ):
        get(server.url("/slow"), policy)


def test_downloads_stop_at_the_bound(server: ReleaseServer, policy: FetchPolicy) -> None:
    url = server.serve("/big", BODY)
    with pytest.raises(UserError, match="larger than the download bound of 100 bytes"):
        get(url, policy, max_bytes=100)


def test_errors_do_not_show_a_presigned_query(server: ReleaseServer, policy: FetchPolicy) -> None:
    url = server.url("/missing") + "?X-Amz-Signature=secret"
    with pytest.raises(UserError) as error:
        get(url, policy)
    assert "404" in str(error.value) and "secret" not in str(error.value)
    assert redacted(url) == server.url("/missing")


def test_redirect_loops_end(server: ReleaseServer, policy: FetchPolicy) -> None:
    url = server.redirect("/loop", server.url("/loop"))
    with pytest.raises(UserError, match="more than 10 redirects"):
        get(url, policy)


def test_a_github_release_asset_downloads_through_the_api(
    server: ReleaseServer, policy: FetchPolicy
) -> None:
    server.github_release("owner/tool", "v1.4.0", {"tool-1.4.0.tar.gz": BODY})
    api = server.url("")
    asset = github_asset_url(api, "owner/tool", "v1.4.0", "tool-1.4.0.tar.gz", "tok", policy)
    headers = {"Accept": "application/octet-stream", **github_headers("tok")}
    assert get(asset, policy, headers=headers) == BODY
    by_path = {r.path: r.headers for r in server.requests}
    assert by_path["/repos/owner/tool/releases/tags/v1.4.0"]["Authorization"] == "Bearer tok"
    assert by_path["/repos/owner/tool/releases/assets/1"]["Authorization"] == "Bearer tok"
    assert "Authorization" not in by_path["/blobs/owner/tool/v1.4.0/tool-1.4.0.tar.gz"]


def test_a_missing_release_or_asset_is_explained(
    server: ReleaseServer, policy: FetchPolicy, tmp_path: Path
) -> None:
    server.github_release("owner/tool", "v2", {"a.zip": b"a"})
    api = server.url("")
    with pytest.raises(UserError, match=r"no asset 'b.zip' \(it has: a.zip\)"):
        github_asset_url(api, "owner/tool", "v2", "b.zip", None, policy)
    with pytest.raises(UserError, match="release 'v3' of owner/tool.*REPRO_LAMBDA_SOURCES_TOKEN"):
        github_asset_url(api, "owner/tool", "v3", "a.zip", None, policy)
