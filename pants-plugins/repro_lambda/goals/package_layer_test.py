"""`lambda_layer` packaging, and functions that use layers: real wheels from PyPI (and the split
of a layer into zips, with its dependencies mocked)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from textwrap import dedent

import pytest
from pants.backend.python.target_types import PythonRequirementTarget
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.engine.addresses import Address
from pants.engine.fs import DigestContents
from pants.engine.internals.scheduler import ExecutionError
from pants.engine.target import DependenciesRequest, InvalidTargetException, Targets
from pants.testutil.rule_runner import MockGet, RuleRunner, run_rule_with_mocks

from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.goals.package_layer import (
    LambdaLayerFieldSet,
    LambdaLayerMismatch,
    _PackageGroups,
    package_groups,
)
from repro_lambda.target_types import LambdaLayerTarget
from repro_lambda.testutil import LAMBDAS_LOCK, REPO_ROOT, make_rule_runner, run_lambda_lock

ELF_MACHINE = {"x86_64": 62, "arm64": 183}
SCIENCE = Address("src/python/layers", target_name="science")
SPLIT = Address("src/python/layers", target_name="split")
SITE = "python/lib/python3.13/site-packages"

FILES = {
    LAMBDAS_LOCK: (REPO_ROOT / LAMBDAS_LOCK).read_text(),
    "3rdparty/python/BUILD": dedent(
        """\
        python_requirement(name="numpy", requirements=["numpy>=2.2,<2.3"])
        python_requirement(name="pydantic", requirements=["pydantic>=2.11,<3"])
        """
    ),
    "src/python/layers/BUILD": dedent(
        """\
        lambda_layer(
            name="science",
            dependencies=["3rdparty/python:numpy"],
            runtimes=["python3.13"],
            architectures=["x86_64", "arm64"],
        )
        lambda_layer(
            name="split",
            dependencies=["3rdparty/python:numpy", "3rdparty/python:pydantic"],
            runtimes=["python3.12"],
            layout="python",
            split="per-package",
        )
        """
    ),
    "src/python/report/BUILD": dedent(
        """\
        python_sources(name="lib")
        lambda_artifact(
            name="report",
            handler="report.main.handler",
            runtime="python3.13",
            architecture="arm64",
            layers=["src/python/layers:science"],
        )
        lambda_artifact(
            name="wrong",
            handler="report.main.handler",
            runtime="python3.13",
            architecture="arm64",
            layers=["3rdparty/python:numpy"],
        )
        lambda_artifact(
            name="old",
            handler="report.main.handler",
            runtime="python3.12",
            architecture="arm64",
            layers=["src/python/layers:science"],
        )
        """
    ),
    "src/python/report/__init__.py": "",
    "src/python/report/main.py": dedent(
        """\
        import numpy as np
        import pydantic


        def handler(event, context):
            return pydantic.TypeAdapter(float).validate_python(np.mean(event["values"]))
        """
    ),
}


@pytest.fixture(scope="module")
def rule_runner() -> RuleRunner:
    rule_runner = make_rule_runner()
    rule_runner.write_files(FILES)
    run_lambda_lock(rule_runner)
    return rule_runner


def zips(rule_runner: RuleRunner, built: BuiltPackage) -> dict[str, zipfile.ZipFile]:
    contents = {fc.path: fc.content for fc in rule_runner.request(DigestContents, [built.digest])}
    return {
        path: zipfile.ZipFile(io.BytesIO(content))
        for path, content in contents.items()
        if path.endswith(".zip")
    }


def package_layer(rule_runner: RuleRunner, address: Address) -> dict[str, zipfile.ZipFile]:
    target = rule_runner.get_target(address)
    return zips(
        rule_runner, rule_runner.request(BuiltPackage, [LambdaLayerFieldSet.create(target)])
    )


def dists(names: list[str], prefix: str) -> set[str]:
    """The distribution names whose `.dist-info` the zip holds under `prefix`."""
    return {
        name[len(prefix) :].split("/")[0].removesuffix(".dist-info").rsplit("-", 1)[0].lower()
        for name in names
        if name.startswith(prefix) and ".dist-info/" in name
    }


@pytest.mark.parametrize("architecture", ["x86_64", "arm64"])
def test_layer_per_runtime_and_architecture(rule_runner: RuleRunner, architecture: str) -> None:
    layers = package_layer(rule_runner, SCIENCE)
    assert sorted(layers) == [
        "src.python.layers/science-python3.13-arm64.zip",
        "src.python.layers/science-python3.13-x86_64.zip",
    ]
    names = layers[f"src.python.layers/science-python3.13-{architecture}.zip"].namelist()
    assert all(name.startswith(f"{SITE}/") for name in names)
    assert f"{SITE}/numpy/__init__.py" in names
    layer = layers[f"src.python.layers/science-python3.13-{architecture}.zip"]
    machines = {
        struct.unpack_from("<H", layer.read(n)[:20], 18)[0] for n in names if n.endswith(".so")
    }
    assert machines == {ELF_MACHINE[architecture]}


def test_per_package_layers_are_self_contained(rule_runner: RuleRunner) -> None:
    layers = package_layer(rule_runner, SPLIT)
    assert sorted(layers) == [
        "src.python.layers/split-numpy-python3.12-x86_64.zip",
        "src.python.layers/split-pydantic-python3.12-x86_64.zip",
    ]
    numpy_names = layers["src.python.layers/split-numpy-python3.12-x86_64.zip"].namelist()
    pydantic_names = layers["src.python.layers/split-pydantic-python3.12-x86_64.zip"].namelist()
    assert dists(numpy_names, "python/") == {"numpy"}
    assert {"pydantic", "pydantic_core", "typing_extensions", "annotated_types"} <= dists(
        pydantic_names, "python/"
    )
    assert "numpy" not in dists(pydantic_names, "python/")


def test_function_leaves_out_what_its_layers_provide(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(Address("src/python/report", target_name="report"))
    built = rule_runner.request(BuiltPackage, [LambdaArtifactFieldSet.create(target)])
    (function,) = zips(rule_runner, built).values()
    names = function.namelist()
    layer_names = package_layer(rule_runner, SCIENCE)[
        "src.python.layers/science-python3.13-arm64.zip"
    ].namelist()
    layer_files = {name[len(SITE) + 1 :] for name in layer_names}
    assert not layer_files & set(names)
    assert "report/main.py" in names
    assert {"pydantic", "pydantic_core"} <= dists(names, "")
    assert "numpy" not in dists(names, "")


def test_function_metadata_names_the_layer_zips_it_was_built_against(
    rule_runner: RuleRunner,
) -> None:
    def metadata(field_set: type[PackageFieldSet], address: Address) -> dict[str, dict]:
        built = rule_runner.request(
            BuiltPackage, [field_set.create(rule_runner.get_target(address))]
        )
        contents = rule_runner.request(DigestContents, [built.digest])
        return {c.path: json.loads(c.content) for c in contents if c.path.endswith(".json")}

    layer = metadata(LambdaLayerFieldSet, SCIENCE)[
        "src.python.layers/science-python3.13-arm64.json"
    ]
    function = metadata(LambdaArtifactFieldSet, Address("src/python/report", target_name="report"))
    assert function["src.python.report/report.json"]["layers"] == [
        {key: layer[key] for key in ("logical_name", "sha256", "s3_key")}
    ]


def test_layers_must_be_lambda_layers(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(Address("src/python/report", target_name="wrong"))
    with pytest.raises(ExecutionError) as exc_info:
        rule_runner.request(BuiltPackage, [LambdaArtifactFieldSet.create(target)])
    (error,) = exc_info.value.wrapped_exceptions
    assert (
        str(error)
        == "The `layers` field of src/python/report:wrong must name `lambda_layer` targets, but "
        "3rdparty/python:numpy is a `python_requirement`."
    )


def test_function_on_a_platform_its_layer_lacks(rule_runner: RuleRunner) -> None:
    target = rule_runner.get_target(Address("src/python/report", target_name="old"))
    with pytest.raises(ExecutionError) as exc_info:
        rule_runner.request(BuiltPackage, [LambdaArtifactFieldSet.create(target)])
    (error,) = exc_info.value.wrapped_exceptions
    assert isinstance(error, LambdaLayerMismatch)
    assert (
        str(error) == "src/python/report:old runs on python3.12 arm64, but its layer"
        " src/python/layers:science "
        "is built for runtimes ['python3.13'] and architectures ['x86_64', 'arm64']: add them to "
        "the layer, or use another layer."
    )


def _package_groups(split: str, requirements: list[str]) -> tuple:
    """`package_groups` of a layer whose direct dependencies are these requirements (mocked)."""
    layer = LambdaLayerTarget({"runtimes": ["python3.13"], "split": split}, SCIENCE)
    direct = Targets(
        [
            PythonRequirementTarget(
                {"requirements": [requirement]}, Address("3rdparty", target_name=f"r{i}")
            )
            for i, requirement in enumerate(requirements)
        ]
    )
    groups: _PackageGroups = run_rule_with_mocks(
        package_groups,
        rule_args=[LambdaLayerFieldSet.create(layer)],
        mock_gets=[MockGet(Targets, (DependenciesRequest,), lambda _: direct)],
    )
    return groups.groups


def test_combined_layer_is_one_zip_of_the_whole_closure() -> None:
    assert _package_groups("combined", ["numpy>=2", "pandas"]) == ((None, ()),)


def test_per_package_layer_is_one_zip_per_requirement_by_normalised_name() -> None:
    assert _package_groups("per-package", ["Typing_Extensions>=4", "numpy>=2"]) == (
        ("numpy", ("numpy>=2",)),
        ("typing-extensions", ("Typing_Extensions>=4",)),
    )


def test_layer_without_requirements() -> None:
    with pytest.raises(
        InvalidTargetException,
        match=r"^The `lambda_layer` target src/python/layers:science has no `python_requirement`",
    ):
        _package_groups("combined", [])


def test_zip_names_are_unique_across_layers() -> None:
    """Per-package layer `split` makes `split-numpy-…`, the name of layer `split-numpy`'s zip."""
    rule_runner = make_rule_runner()
    rule_runner.write_files(
        {
            **FILES,
            "src/python/layers/BUILD": FILES["src/python/layers/BUILD"]
            + 'lambda_layer(name="split-numpy", dependencies=["3rdparty/python:numpy"],'
            ' runtimes=["python3.12"])\n',
        }
    )
    expected = (
        "The layer {} makes a zip named `split-numpy-python3.12-x86_64`, as {} does: keys and"
        " catalog entries are named by it, so one would replace the other's. Set `logical_name`"
        " on one of them so that their zips' names differ."
    )
    split_numpy = Address("src/python/layers", target_name="split-numpy")
    for address, other in ((SPLIT, split_numpy), (split_numpy, SPLIT)):
        with pytest.raises(ExecutionError) as exc_info:
            package_layer(rule_runner, address)
        (error,) = exc_info.value.wrapped_exceptions
        assert str(error) == expected.format(address, other)
