"""What the plugin's tests share: a `RuleRunner` with the plugin's rules and the repository's
options.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pants.backend.python import target_types_rules
from pants.backend.python.dependency_inference import rules as python_dep_inference
from pants.backend.python.target_types import (
    PythonRequirementTarget,
    PythonSourcesGeneratorTarget,
    PythonSourceTarget,
)
from pants.backend.python.util_rules import pex, pex_from_targets, python_sources
from pants.core.goals import package
from pants.core.goals.package import BuiltPackage
from pants.core.target_types import FileTarget, ResourcesGeneratorTarget, ResourceTarget
from pants.core.target_types import rules as core_target_types_rules
from pants.engine.fs import Digest, DigestContents, FileContent
from pants.engine.internals.parametrize import Parametrize
from pants.engine.rules import QueryRule
from pants.engine.target import InferredDependencies
from pants.option.config import Config
from pants.testutil.rule_runner import RuleRunner

from repro_lambda import register
from repro_lambda.goals.lock import LambdaLock
from repro_lambda.goals.package import LambdaArtifactFieldSet
from repro_lambda.util_rules.handler import InferLambdaHandlerDependency

REPO_ROOT = Path(__file__).parents[2]
LAMBDAS_LOCK = "3rdparty/python/lambdas.lock"
PLATFORM_LOCK = "3rdparty/python/lambdas.lambda-platforms.lock"
ENV_INHERIT = {"PATH", "PYENV_ROOT", "HOME", "REPRO_LAMBDA_PEX"}


def numpy_lambda_files(requirement: str, runtime: str, architecture: str) -> dict[str, str]:
    """A `stats` lambda whose handler imports numpy, required as `requirement`; `runtime` and
    `architecture` are BUILD expressions (`"python3.12"`, `parametrize(...)`)."""
    return {
        "3rdparty/python/BUILD": (
            f'python_requirement(name="numpy", requirements=["{requirement}"])\n'
        ),
        "src/python/stats/BUILD": (
            'python_sources(name="lib")\n'
            "lambda_artifact(\n"
            '    name="stats",\n'
            '    handler="stats.handler.lambda_handler",\n'
            f"    runtime={runtime},\n"
            f"    architecture={architecture},\n"
            ")\n"
        ),
        "src/python/stats/handler.py": (
            "import numpy as np\n\n\n"
            "def lambda_handler(event, context):\n"
            '    return float(np.asarray(event["values"]).mean())\n'
        ),
    }


def _pex_cli_args() -> list[str]:
    """The repository's `[pex-cli]` options (pex served from disk), as flags."""
    pants_toml = REPO_ROOT / "pants.toml"
    config = Config.load([FileContent(str(pants_toml), pants_toml.read_bytes())], env=os.environ)
    (values,) = config.values
    return [
        f"--pex-cli-{option.replace('_', '-')}={config.get('pex-cli', option)[0]}"
        for option in sorted(values.section_to_values["pex-cli"])
    ]


# The CA bundle `./pants` hands Pants, if any: for the engine's downloads and pex's.
CA_CERTS = os.environ.get("PANTS_CA_CERTS_PATH")


def lambda_options() -> list[str]:
    """The global options of every test: the repository's, for a `src/python` source root."""
    return [
        *_pex_cli_args(),
        *([f"--ca-certs-path={CA_CERTS}"] if CA_CERTS else []),
        "--python-infer-use-rust-parser",
        "--source-root-patterns=['src/python']",
        "--python-enable-resolves",
        f"--python-resolves={{'lambdas': '{LAMBDAS_LOCK}'}}",
        "--python-default-resolve=lambdas",
        "--python-resolves-to-interpreter-constraints={'lambdas': ['CPython>=3.10,<3.14']}",
        "--python-interpreter-constraints=['CPython>=3.11,<3.13']",
        "--python-bootstrap-search-path=['<PYENV>', '<PATH>']",
    ]


def make_rule_runner(*extra_rules: QueryRule) -> RuleRunner:
    rule_runner = RuleRunner(
        rules=[
            *extra_rules,
            *register.rules(),
            *core_target_types_rules(),
            *package.rules(),
            *python_sources.rules(),
            *python_dep_inference.rules(),
            *target_types_rules.rules(),
            *pex.rules(),
            *pex_from_targets.rules(),
            QueryRule(BuiltPackage, [LambdaArtifactFieldSet]),
            QueryRule(DigestContents, [Digest]),
            QueryRule(InferredDependencies, [InferLambdaHandlerDependency]),
        ],
        target_types=[
            *register.target_types(),
            FileTarget,
            PythonRequirementTarget,
            PythonSourcesGeneratorTarget,
            PythonSourceTarget,
            ResourcesGeneratorTarget,
            ResourceTarget,
        ],
        objects={"parametrize": Parametrize},
        ca_certs_path=CA_CERTS,
    )
    rule_runner.set_options(lambda_options(), env_inherit=ENV_INHERIT)
    return rule_runner


def pants_lockfile(pins: dict[str, str]) -> str:
    """A minimal Pants lockfile for the `lambdas` resolve pinning `pins` (no artifacts)."""
    metadata = {
        "version": 3,
        "valid_for_interpreter_constraints": ["CPython<3.14,>=3.10"],
        "generated_with_requirements": [f"{name}=={version}" for name, version in pins.items()],
        "manylinux": "manylinux2014",
        "requirement_constraints": [],
        "only_binary": [],
        "no_binary": [],
    }
    locked_requirements = [
        {"project_name": name, "version": version, "artifacts": []}
        for name, version in pins.items()
    ]
    lock = {"locked_resolves": [{"locked_requirements": locked_requirements, "platform_tag": None}]}
    return "\n".join(
        [
            "// --- BEGIN PANTS LOCKFILE METADATA: DO NOT EDIT OR REMOVE ---",
            *(f"// {line}" for line in json.dumps(metadata, indent=2).splitlines()),
            "// --- END PANTS LOCKFILE METADATA ---",
            "",
            json.dumps(lock, indent=2),
            "",
        ]
    )


def run_lambda_lock(rule_runner: RuleRunner, *options: str) -> str:
    """Run `lambda-lock` on the whole build root with these `options` too; return its stdout,
    restoring the options."""
    result = rule_runner.run_goal_rule(
        LambdaLock, global_args=[*lambda_options(), *options], args=["::"], env_inherit=ENV_INHERIT
    )
    rule_runner.set_options(lambda_options(), env_inherit=ENV_INHERIT)
    return result.stdout
