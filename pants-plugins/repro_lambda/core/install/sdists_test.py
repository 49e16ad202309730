"""The sdists of a platform lock, and the lock an install reads once their wheels are built."""

from __future__ import annotations

import pytest

from repro_lambda.core.install.sdists import (
    BUILT_WHEELS,
    LockedSdist,
    locked_sdists,
    missing_from_build,
    refuses,
    unfit_wheel_message,
    wheel_fits,
    wheel_tags,
    with_built_wheels,
)

X86 = ["cp313", "cp313", "manylinux_2_34_x86_64"]
ARM = ["cp313", "cp313", "manylinux_2_34_aarch64"]
DOCOPT_URL = "https://files.example/docopt-0.6.2.tar.gz"


def requirement(name: str, version: str, url: str, sha256: str) -> dict:
    return {
        "project_name": name,
        "version": version,
        "artifacts": [{"algorithm": "sha256", "hash": sha256, "url": url}],
    }


def lock() -> dict:
    docopt = requirement("docopt", "0.6.2", DOCOPT_URL, "a" * 64)
    return {
        "locked_resolves": [
            {
                "platform_tag": X86,
                "locked_requirements": [
                    docopt,
                    requirement("six", "1.17.0", "https://f/six-1.17.0-py2.py3-none-any.whl", "b"),
                ],
            },
            {"platform_tag": ARM, "locked_requirements": [docopt]},
        ]
    }


def test_an_sdist_is_found_once_with_every_platform_that_installs_it() -> None:
    assert locked_sdists(lock()) == [
        LockedSdist(
            "docopt",
            "0.6.2",
            DOCOPT_URL,
            "a" * 64,
            ("-".join(ARM), "-".join(X86)),
        )
    ]
    (sdist,) = locked_sdists(lock())
    assert (sdist.pin, sdist.filename) == ("docopt==0.6.2", "docopt-0.6.2.tar.gz")


def test_only_the_platforms_resolve_is_pinned_to_the_built_wheel() -> None:
    original = lock()
    built = {"docopt==0.6.2": ("docopt-0.6.2-py2.py3-none-any.whl", "c" * 64)}
    derived = with_built_wheels(original, "-".join(ARM), built)
    x86, arm = (resolve["locked_requirements"] for resolve in derived["locked_resolves"])
    assert arm[0]["artifacts"] == [
        {
            "algorithm": "sha256",
            "hash": "c" * 64,
            "url": f"file://${{{BUILT_WHEELS}}}/docopt-0.6.2-py2.py3-none-any.whl",
        }
    ]
    assert x86 == original["locked_resolves"][0]["locked_requirements"]
    assert original == lock(), "the lock it was derived from is unchanged"


def test_wheel_tags_expand_compressed_tag_sets() -> None:
    assert wheel_tags("docopt-0.6.2-py2.py3-none-any.whl") == ["py2-none-any", "py3-none-any"]
    assert wheel_tags("x-1-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl") == [
        "cp313-cp313-manylinux_2_17_x86_64",
        "cp313-cp313-manylinux2014_x86_64",
    ]


@pytest.mark.parametrize(
    ("filename", "fits"),
    [
        ("docopt-0.6.2-py2.py3-none-any.whl", True),
        ("crcmod-1.7-cp313-cp313-linux_x86_64.whl", False),
        ("crcmod-1.7-cp313-cp313-manylinux_2_17_aarch64.whl", False),
        ("crcmod-1.7-cp313-cp313-manylinux_2_17_x86_64.whl", True),
    ],
)
def test_a_built_wheel_fits_only_a_platform_with_one_of_its_tags(filename: str, fits: bool) -> None:
    compatible = ["cp313-cp313-manylinux_2_17_x86_64", "cp313-none-any", "py3-none-any"]
    assert wheel_fits(filename, compatible) is fits


def test_only_binary_names_compare_as_pep_503_names() -> None:
    assert refuses(["Ruamel.YAML"], "ruamel-yaml")
    assert refuses(["*"], "docopt")
    assert not refuses(["docopt-ng"], "docopt")
    assert not refuses([], "docopt")


@pytest.mark.parametrize(
    ("output", "missing"),
    [
        ("Error: pg_config executable not found.\n", "the program pg_config (of libpq)"),
        ("error: command 'gcc' failed: No such file or directory", "the program gcc"),
        (
            "error: command '/usr/bin/x86_64-linux-gnu-gcc' failed",
            "the program x86_64-linux-gnu-gcc",
        ),
        (
            "src/_x.c:1:10: fatal error: libxml/xpath.h: No such file or directory",
            "the header libxml/xpath.h",
        ),
        ("/usr/bin/ld: cannot find -lssl: No such file", "the library libssl"),
        # Zig's words, and the builder itself as the compiler that failed
        (
            "h.c:1:10: fatal error: 'libxml/xpath.h' file not found\n"
            "error: command '/usr/bin/python3.13' failed with exit code 1",
            "the header libxml/xpath.h",
        ),
        (
            'error: unable to find dynamic system library "pq" using strategy paths_first.',
            "the library libpq",
        ),
        ("error: command '/root/.pyenv/versions/3.11.7/bin/python3.11' failed", None),
        ("the backend failed: ValueError: bad version", None),
    ],
)
def test_a_failed_build_names_what_the_sandbox_lacks(output: str, missing: str | None) -> None:
    assert missing_from_build(output) == missing


def test_an_unfit_wheel_is_refused_naming_it_the_platform_and_the_fix() -> None:
    message = unfit_wheel_message(
        "crcmod==1.7", "crcmod-1.7-cp313-cp313-linux_x86_64.whl", "python3.13-arm64"
    )
    assert message.startswith(
        "Building `crcmod==1.7` from its sdist gave crcmod-1.7-cp313-cp313-linux_x86_64.whl, which"
        " does not install on python3.13-arm64: its tags name another platform"
    )
