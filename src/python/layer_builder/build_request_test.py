import json

import pytest
from layer_builder.build_request import (
    MAX_REQUIREMENTS,
    PYTHON_VERSIONS,
    BuildRequest,
    InvalidBuildRequest,
    parse_build_request,
)


def body(**fields) -> bytes:
    request = {"requirements": "numpy==2.2.6", "python_version": "3.13", "architectures": ["arm64"]}
    return json.dumps({**request, **fields}).encode()


def problems(data: bytes) -> list[str]:
    try:
        parse_build_request(data)
    except InvalidBuildRequest as error:
        return error.problems
    raise AssertionError("the request was accepted")


def test_a_request_as_the_reference_sends_it() -> None:
    request = parse_build_request(
        body(
            requirements="numpy==1.26.4\nrequests[socks]>=2.32 ; python_version >= '3.9'  # http",
            architectures=["x86_64", "arm64"],
            single_file=False,
        )
    )
    assert request == BuildRequest(
        ("numpy==1.26.4", 'requests[socks]>=2.32; python_version >= "3.9"'),
        "3.13",
        ("x86_64", "arm64"),
        single_file=False,
    )
    assert request.runtime == "python3.13"
    assert BuildRequest.from_json(request.to_json()) == request


def test_single_file_is_the_default() -> None:
    assert parse_build_request(body()).single_file is True


@pytest.mark.parametrize(
    "line",
    [
        "--index-url https://evil.example/simple",
        "-e git+https://github.com/psf/requests",
        "-r other.txt",
        "--extra-index-url=https://evil.example",
        "requests --hash=sha256:abc",
        "git+https://github.com/psf/requests",
        "requests @ https://evil.example/requests.whl",
        "./local/package",
        "/abs/path.whl",
        "file:///tmp/x.whl",
        "requests==2.32.4 \\",
        "requests; python_version > '3' --index-url x",
        "requests; os_name == 'posix' or --index-url",
    ],
)
def test_only_specifiers_are_accepted(line: str) -> None:
    (problem,) = problems(body(requirements=f"six==1.16.0\n{line}\n"))
    assert problem.startswith("line 2: ")


@pytest.mark.parametrize(
    "line",
    [
        "x-1.0-py3-none-any.whl",
        "X-1.0-PY3-NONE-ANY.WHL",
        "x-1.0.tar.gz",
        "x-1.0.tgz",
        "x-1.0.tar.bz2",
        "x-1.0.tar.xz",
        "x.zip",
        "x-1.0.tar",
        "x-1.0-py3-none-any.whl ; python_version >= '3.9'",
        "x-1.0-py3-none-any.whl[extra]",
    ],
)
def test_archive_file_names_are_refused(line: str) -> None:
    # pip installs a requirement that names an archive file from its working directory.
    (problem,) = problems(body(requirements=f"six==1.16.0\n{line}\n"))
    assert problem.startswith("line 2: ") and "is the name of an archive file" in problem


def test_an_invalid_marker_is_refused() -> None:
    (problem,) = problems(body(requirements="six; platform_thing == 'x'"))
    assert "not a valid requirement" in problem


def test_every_problem_is_reported() -> None:
    found = problems(
        json.dumps(
            {
                "requirements": "six\nsix==1.16.0",
                "python_version": "2.7",
                "architectures": ["aarch64"],
                "single_file": "yes",
                "index_url": "https://evil.example",
            }
        ).encode()
    )
    assert len(found) == 5
    assert "unknown field `index_url`" in found[0]
    assert "`six` is already required on line 1" in found[1]
    assert f"one of {', '.join(PYTHON_VERSIONS)}" in found[2]
    assert "`architectures`" in found[3]
    assert "`single_file`" in found[4]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (body(requirements=""), "text of a requirements.txt"),
        (body(requirements="# only a comment\n\n"), "names no requirement"),
        (body(requirements="a" * 20000), "over 16384 bytes"),
        (body(requirements="six\n" + "#\n" * 1000), "over 1000 lines"),
        (body(requirements="\n".join(f"p{i}" for i in range(MAX_REQUIREMENTS + 1))), "at most"),
        (body(architectures=[]), "`architectures`"),
        (body(architectures=["arm64", "arm64"]), "`architectures`"),
        (b" " * (64 * 1024 + 1), "over 65536 bytes"),
    ],
)
def test_limits_and_shapes(data: bytes, expected: str) -> None:
    assert any(expected in problem for problem in problems(data))


def test_a_runtime_lambda_no_longer_updates_is_refused(monkeypatch) -> None:
    import datetime

    from layer_builder import build_request

    monkeypatch.setattr(build_request, "today", lambda: datetime.date(2027, 6, 1))
    (problem,) = problems(body(python_version="3.9"))
    assert "no longer accepts updates" in problem and "move to python3.14" in problem
