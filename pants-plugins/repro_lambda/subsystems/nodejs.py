"""`[nodejs-lambda]`: the `node` and `npm` that install Node.js lambdas' dependencies."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pants.core.util_rules.search_paths import ExecutableSearchPathsOptionMixin
from pants.core.util_rules.system_binaries import (
    BinaryPathRequest,
    BinaryPaths,
    BinaryPathTest,
    SearchPath,
)
from pants.engine.process import Process, ProcessCacheScope, ProcessResult
from pants.engine.rules import Get, MultiGet, collect_rules, rule
from pants.option.option_types import StrOption
from pants.option.subsystem import Subsystem
from pants.util.logging import LogLevel
from pants.util.strutil import softwrap

from repro_lambda.errors import LambdaUserError
from repro_lambda.util_rules.host_tools import HostBinary, HostBinaryRequest


class NodeJsLambda(Subsystem):
    options_scope = "nodejs-lambda"
    help = softwrap(
        """
        The `node` and `npm` that install the dependencies of `nodejs_lambda_artifact` targets.

        Their versions, not their paths, are part of the install's cache key: upgrading either
        reinstalls, and machines with the same versions in other places share installs.
        """
    )

    registry = StrOption(
        default="https://registry.npmjs.org/",
        advanced=True,
        help=softwrap(
            """
            The npm registry `npm ci` uses, an https URL: every package a `package-lock.json`
            installs must come from it, with an `integrity`. Neither the user's nor the global
            npmrc of the host applies to the install (only the built-in one of the npm found,
            like the npm itself): set the registry here, and a CA bundle with
            `[GLOBAL].ca_certs_path`.
            """
        ),
    )

    class EnvironmentAware(ExecutableSearchPathsOptionMixin, Subsystem.EnvironmentAware):
        executable_search_paths_help = "Directories to look for `node` and `npm` in."


class NodeJsNotFound(LambdaUserError):
    """`node` or `npm` is not on `[nodejs-lambda].executable_search_paths`."""


@dataclass(frozen=True)
class NodeJs:
    """The `node` binary, npm's CLI script (run with that node), each linked by its version, and
    both versions."""

    node: HostBinary
    npm: HostBinary
    versions: str

    def npm_argv(self, *args: str) -> tuple[str, ...]:
        return (self.node.path, self.npm.path, *args)


def _version_process(argv: tuple[str, ...], name: str) -> Process:
    return Process(
        argv,
        description=f"Checking the {name} version",
        level=LogLevel.DEBUG,
        env={"PATH": os.path.dirname(argv[0]), "npm_config_update_notifier": "false"},
        cache_scope=ProcessCacheScope.PER_RESTART_SUCCESSFUL,
    )


@rule(desc="Finding node and npm", level=LogLevel.DEBUG)
async def find_nodejs(subsystem: NodeJsLambda.EnvironmentAware) -> NodeJs:
    search_path = SearchPath(subsystem.executable_search_path)
    # npm is a `#!/usr/bin/env node` script, which fails a test run with an empty env: it is
    # run with the node found here instead.
    node_paths, npm_paths = await MultiGet(
        Get(
            BinaryPaths,
            BinaryPathRequest(
                binary_name="node", search_path=search_path, test=BinaryPathTest(["--version"])
            ),
        ),
        Get(BinaryPaths, BinaryPathRequest(binary_name="npm", search_path=search_path)),
    )
    if not node_paths.first_path or not npm_paths.first_path:
        missing = " and ".join(
            n for n, p in (("node", node_paths), ("npm", npm_paths)) if not p.first_path
        )
        raise NodeJsNotFound(
            f"Cannot find {missing} on `[nodejs-lambda].executable_search_paths` "
            f"({', '.join(search_path)}): "
            "install Node.js (20 or 22, with npm) or point the option at it."
        )
    node, npm = node_paths.first_path.path, npm_paths.first_path.path
    node_version, npm_version = await MultiGet(
        Get(ProcessResult, _version_process((node, "--version"), "node")),
        Get(ProcessResult, _version_process((node, npm, "--version"), "npm")),
    )
    node_version_text = node_version.stdout.decode().strip()
    npm_version_text = npm_version.stdout.decode().strip()
    # npm's script runs from where it really is, so that it finds its own modules.
    node_binary, npm_binary = await MultiGet(
        Get(HostBinary, HostBinaryRequest(node, f"node-{node_version_text}")),
        Get(HostBinary, HostBinaryRequest(os.path.realpath(npm), f"npm-{npm_version_text}")),
    )
    versions = f"node {node_version_text}, npm {npm_version_text}"
    return NodeJs(node=node_binary, npm=npm_binary, versions=versions)


def rules():
    return collect_rules()
