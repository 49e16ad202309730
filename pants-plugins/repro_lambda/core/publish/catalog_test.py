"""Tests of the catalog: deterministic bytes, bounded history, preserved entries and atomic, minimal
writes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.publish.catalog import (
    CatalogEntry,
    empty_catalog,
    load_catalog,
    render_catalog,
    update_catalog,
    write_catalog,
)


def entry(
    name: str, sha256: str, *, section: str = "lambdas", store: str = "s3://bucket"
) -> CatalogEntry:
    return CatalogEntry(
        section=section,
        logical_name=name,
        sha256=sha256,
        store=store,
        bucket=store.removeprefix("s3://") if store.startswith("s3://") else None,
        key=f"{section}/{name}/{sha256}.zip",
        code_sha256=f"b64-{sha256}",
        size=len(sha256),
        runtime="python3.12",
        architecture="x86_64",
        handler="app.handler" if section == "lambdas" else None,
        lambda_at_edge=False,
    )


def publish_in_turn(*sha256s: str, history_limit: int = 10) -> dict[str, Any]:
    """The `orders` entry after publishing `sha256s` one after the other."""
    catalog = empty_catalog()
    for sha256 in sha256s:
        catalog = update_catalog(catalog, [entry("orders", sha256)], history_limit)
    orders: dict[str, Any] = catalog["lambdas"]["orders"]
    return orders


def history_of(*sha256s: str, history_limit: int = 10) -> list[str]:
    return [
        item["sha256"] for item in publish_in_turn(*sha256s, history_limit=history_limit)["history"]
    ]


def test_new_entry_records_everything_terraform_needs() -> None:
    catalog = update_catalog(empty_catalog(), [entry("orders", "aaa")], 10)
    assert catalog == {
        "schema_version": 1,
        "layers": {},
        "lambdas": {
            "orders": {
                "current": "aaa",
                "store": "s3://bucket",
                "bucket": "bucket",
                "key": "lambdas/orders/aaa.zip",
                "code_sha256": "b64-aaa",
                "size": 3,
                "runtime": "python3.12",
                "architecture": "x86_64",
                "handler": "app.handler",
                "lambda_at_edge": False,
                "history": [],
            }
        },
    }
    assert json.loads(render_catalog(catalog))["lambdas"]["orders"]["current"] == "aaa"


def test_history_is_newest_first_with_where_each_zip_is() -> None:
    entry_after = publish_in_turn("aaa", "bbb", "ccc")
    assert entry_after["current"] == "ccc"
    assert entry_after["history"] == [
        {
            "sha256": "bbb",
            "bucket": "bucket",
            "key": "lambdas/orders/bbb.zip",
            "store": "s3://bucket",
        },
        {
            "sha256": "aaa",
            "bucket": "bucket",
            "key": "lambdas/orders/aaa.zip",
            "store": "s3://bucket",
        },
    ]


def test_history_is_bounded_deduplicated_and_never_holds_current() -> None:
    assert history_of("a", "b", "c", "d", "e", history_limit=3) == ["d", "c", "b"]
    assert history_of("a", "b", "c", "d", history_limit=0) == []
    assert history_of("a", "a", "a") == []
    assert history_of("a", "b", "a") == ["b"]
    assert history_of("a", "b", "c", "a", "b") == ["a", "c"]


def test_same_current_in_another_store_moves_without_history() -> None:
    catalog = update_catalog(empty_catalog(), [entry("orders", "aaa")], 10)
    moved = update_catalog(catalog, [entry("orders", "aaa", store="s3://other")], 10)["lambdas"][
        "orders"
    ]
    assert (moved["store"], moved["bucket"], moved["history"]) == ("s3://other", "other", [])


def test_unrelated_entries_and_sections_are_preserved_and_input_unchanged() -> None:
    catalog = {
        "schema_version": 1,
        "lambdas": {"billing": {"current": "bill", "custom": [1, 2]}},
        "layers": {"deps": {"current": "dep"}},
        "extra": {"kept": True},
    }
    original = json.loads(json.dumps(catalog))
    updated = update_catalog(
        catalog, [entry("orders", "aaa"), entry("tools", "ttt", section="layers")], 10
    )
    assert catalog == original
    assert updated["lambdas"]["billing"] == {"current": "bill", "custom": [1, 2]}
    assert updated["layers"]["deps"] == {"current": "dep"}
    assert updated["extra"] == {"kept": True}
    assert sorted(updated["lambdas"]) == ["billing", "orders"] and sorted(updated["layers"]) == [
        "deps",
        "tools",
    ]
    assert updated["layers"]["tools"]["handler"] is None


def test_rendering_is_deterministic_ascii_with_a_trailing_newline() -> None:
    entries = [
        entry("orders", "aaa"),
        entry("billing", "bbb"),
        entry("deps", "ddd", section="layers"),
    ]
    forwards = update_catalog(empty_catalog(), entries, 10)
    backwards = update_catalog(
        {"layers": {}, "lambdas": {}, "schema_version": 1}, entries[::-1], 10
    )
    text = render_catalog(forwards)
    assert text == render_catalog(backwards)
    assert text.endswith("}\n") and text.isascii()
    assert text.splitlines()[:3] == ["{", '  "lambdas": {', '    "billing": {']
    assert render_catalog({"schema_version": 1, "lambdas": {"é": {"current": "x"}}}).isascii()


def test_load_missing_catalog_is_empty(tmp_path: Path) -> None:
    assert load_catalog(tmp_path / "builds/catalog.json") == empty_catalog()


def test_load_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    catalog = update_catalog(empty_catalog(), [entry("orders", "aaa"), entry("orders", "bbb")], 10)
    path.write_text(render_catalog(catalog))
    assert load_catalog(path) == catalog


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is not valid JSON"),
        ('"text"', "not a JSON object"),
        ("{}", "unsupported schema_version None"),
        ('{"schema_version": true}', "unsupported schema_version True"),
        ('{"schema_version": "1"}', "unsupported schema_version '1'"),
        ('{"schema_version": 1, "layers": 3}', "'layers' is not an object"),
        ('{"schema_version": 1, "lambdas": {"x": "sha"}}', "lambdas.x has no string 'current'"),
        (
            '{"schema_version": 1, "lambdas": {"x": {"current": "a", "history": {}}}}',
            "lambdas.x.history is not",
        ),
        (
            '{"schema_version": 1, "lambdas": {"x": {"current": "a", "history": ["b"]}}}',
            "lambdas.x.history is not",
        ),
    ],
)
def test_load_rejects_invalid_catalogs(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(content)
    with pytest.raises(UserError, match=f"{path}.*{message}".replace("(", r"\(")):
        load_catalog(path)


def test_load_unreadable_catalog_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "catalog.json").mkdir()
    with pytest.raises(UserError, match="cannot read catalog"):
        load_catalog(tmp_path / "catalog.json")


def test_write_creates_directories_and_replaces_atomically(tmp_path: Path) -> None:
    path = tmp_path / "builds" / "catalog.json"
    first = update_catalog(empty_catalog(), [entry("orders", "aaa")], 10)
    assert write_catalog(path, first) is True
    assert path.read_text() == render_catalog(first)
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o664)
    inode = path.stat().st_ino
    second = update_catalog(first, [entry("orders", "bbb")], 10)
    assert write_catalog(path, second) is True
    assert path.read_text() == render_catalog(second)
    assert path.stat().st_ino != inode, "replaced by a new file, never rewritten in place"
    assert path.stat().st_mode & 0o777 == 0o664
    assert os.listdir(path.parent) == ["catalog.json"], "no temporary files are left"


def test_write_skips_unchanged_content(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    catalog = update_catalog(empty_catalog(), [entry("orders", "aaa")], 10)
    path.write_text(render_catalog(catalog))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert write_catalog(path, json.loads(path.read_text())) is False
    assert path.stat().st_mtime_ns == 1_000_000_000


def test_a_function_entry_names_its_layer_zips_and_a_layer_change_shows_in_it() -> None:
    science = {"logical_name": "science-python3.13-arm64", "sha256": "1" * 64, "s3_key": "k1"}
    newer = {**science, "sha256": "2" * 64, "s3_key": "k2"}
    report = dataclasses.replace(entry("report", "a" * 64), layers=[science])
    catalog = update_catalog(
        empty_catalog(), [report, entry("science", "c" * 64, section="layers")], 10
    )
    assert catalog["lambdas"]["report"]["layers"] == [science]
    assert "layers" not in catalog["layers"]["science"]
    rebuilt = dataclasses.replace(report, sha256="b" * 64, layers=[newer])
    assert update_catalog(catalog, [rebuilt], 10)["lambdas"]["report"]["layers"] == [newer]
