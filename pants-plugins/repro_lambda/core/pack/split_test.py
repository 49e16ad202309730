from __future__ import annotations

from repro_lambda.core.pack.split import split_into_batches

NAMES = [f"src/python/scale:fn{i:03d}" for i in range(500)]


def test_every_name_is_in_exactly_one_batch_of_about_the_size() -> None:
    batches = split_into_batches(NAMES, size=64)
    assert sorted(name for batch in batches for name in batch) == sorted(NAMES)
    assert len(batches) == 8
    assert max(map(len, batches)) < 2 * 64
    assert all(list(batch) == sorted(batch) for batch in batches)


def test_few_names_make_one_batch() -> None:
    assert split_into_batches(["b", "a", "a"], size=64) == [("a", "b")]


def test_a_new_name_changes_only_its_own_batch() -> None:
    before = set(split_into_batches(NAMES[:-1], size=64))
    after = set(split_into_batches(NAMES, size=64))
    (changed,) = after - before
    assert NAMES[-1] in changed
    assert len(before - after) == 1
