"""Every Pants 2.17 behaviour the plugin works around, in one register (`WORKAROUNDS`), and the
small workarounds themselves.

Each entry says what Pants does, where the plugin works around it, the upstream issue, when the
workaround can go, and its canary: a test that fails once Pants no longer behaves so. A port to a
newer Pants starts here: run `workarounds_test.py` (it runs every canary's module), then fix or
drop each workaround whose canary fails.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from pants.base.build_root import BuildRoot
from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.core.util_rules.source_files import SourceFiles
from pants.engine.addresses import Address
from pants.engine.env_vars import CompleteEnvironmentVars
from pants.engine.fs import Digest, DigestSubset, PathGlobs
from pants.engine.internals.options_parsing import _Options
from pants.engine.internals.session import SessionValues
from pants.engine.process import InteractiveProcess
from pants.engine.rules import Get, collect_rules, rule
from pants.option.global_options import GlobalOptions
from pants.util.frozendict import FrozenDict

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workaround:
    """A Pants 2.17 behaviour the plugin works around."""

    behaviour: str
    workaround: str
    upstream: str
    remove_when: str
    canary: str
    """The test that fails once Pants no longer behaves so: `path/to/module_test.py::test_name`,
    relative to `pants-plugins/repro_lambda/`."""


WORKAROUNDS = (
    Workaround(
        behaviour="Pants' default pex (2.1.137) cannot install locked wheels for a Python other"
        " than its own from an empty cache, and knows no Python newer than 3.12.",
        workaround="`[lambda-pex]` (`subsystems/pex.py`): every install and lock runs a pex of"
        " the plugin's own, pinned by sha256; `util_rules/platform_lock.py`: `lambda-lock`"
        " derives a strict per-platform lock from each resolve's lockfile.",
        upstream="pex-tool/pex#2395 (fixed in pex 2.3.1)",
        remove_when="Pants' default pex is 2.3.1 or newer and its lockfiles pin cp313 wheels.",
        canary="workarounds_test.py::test_pants_default_pex_predates_the_fix",
    ),
    Workaround(
        behaviour="A local sandbox shows shared copies of large files (512 KiB and more) as"
        " executable, whatever their digest says.",
        workaround="`util_rules/pack.py`: the packer reads the executable files from the"
        " payload's digest entries (`__executables`), not from the sandbox.",
        upstream="none found",
        remove_when="A large file that is not executable in its digest is not in the sandbox.",
        canary="workarounds_test.py::test_large_files_show_as_executable_in_a_local_sandbox",
    ),
    Workaround(
        behaviour="Globs follow symlinks, and digests hold no symlinks.",
        workaround="`without_symlinks`: a manifest or Node.js lambda's files leave out what is"
        " (under) a symlink, with a warning, as the reference design's packer does.",
        upstream="pantsbuild/pants#10271",
        remove_when="Globs can keep symlinks as symlinks (then pack them as the design says).",
        canary="workarounds_test.py::test_globs_follow_symlinks",
    ),
    Workaround(
        behaviour="With a remote cache, a process starts locally at once, racing the lookup.",
        workaround="`WAIT_FOR_REMOTE_CACHE_MILLIS` on every cacheable process of the plugin.",
        upstream="pantsbuild/pants#16921",
        remove_when="Never while Pants races by default; keep it as the per-process setting.",
        canary="workarounds_test.py::test_processes_can_wait_for_the_remote_cache",
    ),
    Workaround(
        behaviour="The engine remembers a downloaded file's digest by its URL's path, and asks"
        " for no file it remembers.",
        workaround="`external/rules.py` `_fetch_with_token`: a private download reaches the"
        " store through a `file://` URL named by its pin, probed first, so a warm run fetches"
        " nothing.",
        upstream="none found (it is how `NativeDownloadFile` caches)",
        remove_when="Pants can store bytes fetched by a rule, or fetch with a secret header.",
        canary="workarounds_test.py::test_the_engine_remembers_a_download_by_its_path",
    ),
    Workaround(
        behaviour="A `PublishRequest` rule cannot ask for the command line's `Specs`: `deploy`"
        " reaches it without them.",
        workaround="`command_line_specs` parses them again from Pants' private `_Options`,"
        " relative to the invoking shell's `PWD`, so one process publishes the whole run.",
        upstream="none found",
        remove_when="`publish` hands its requests the specs, or publishes in one batch.",
        canary="workarounds_test.py::test_command_line_specs_are_read_relative_to_the_shell"
        "_directory",
    ),
    Workaround(
        behaviour="`InteractiveProcess` copies its `env` into a `FrozenDict`, whose repr (logged"
        " at debug level) shows the values.",
        workaround="`with_secret_env`: the frozen `Process` gets an env whose repr hides them.",
        upstream="none found",
        remove_when="A process's repr hides its environment's values.",
        canary="workarounds_test.py::test_pants_shows_environment_values_in_a_process_repr",
    ),
)


WAIT_FOR_REMOTE_CACHE_MILLIS = 10_000
"""How long a cacheable process of the plugin waits for the remote cache's answer before it starts
locally: the lookup is bounded by `[GLOBAL].remote_cache_rpc_timeout_millis` and a miss starts
the process at once, so a machine does not spend its cores building what it is about to
download."""


@dataclass(frozen=True)
class CommandLineSpecs:
    """The command line's specs, or None if they are unknown (no `PWD`, or `--changed-since`)."""

    specs: Optional[Specs]


@rule
async def command_line_specs(
    options: _Options,
    session_values: SessionValues,
    build_root: BuildRoot,
    global_options: GlobalOptions,
) -> CommandLineSpecs:
    pwd = session_values[CompleteEnvironmentVars].get("PWD")
    if not pwd or not options.options.specs:
        return CommandLineSpecs(None)
    try:
        parser = SpecsParser(root_dir=build_root.path, working_dir=os.path.realpath(pwd))
        specs = parser.parse_specs(
            options.options.specs,
            description_of_origin="CLI arguments",
            unmatched_glob_behavior=global_options.unmatched_cli_globs,
        )
    except SpecsParser.BadSpecError:
        return CommandLineSpecs(None)
    return CommandLineSpecs(specs)


class SecretEnv(FrozenDict[str, str]):
    """Environment values that never appear in a repr."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({sorted(self)!r})"


def with_secret_env(process: InteractiveProcess, env: Mapping[str, str]) -> InteractiveProcess:
    """`process`, running with `env`, which its repr does not show."""
    object.__setattr__(process.process, "env", SecretEnv(env))
    return process


def _symlinked(build_root: BuildRoot, root: str, files: Sequence[str]) -> list[str]:
    """The files that are, or are under, a symlink below `root`."""
    found = []
    for path in files:
        parts = os.path.relpath(path, root or ".").split(os.sep)
        prefixes = (os.path.join(root, *parts[: i + 1]) for i in range(len(parts)))
        if any(os.path.islink(os.path.join(build_root.path, p)) for p in prefixes):
            found.append(path)
    return found


async def without_symlinks(
    address: Address, sources: SourceFiles, root: str, build_root: BuildRoot
) -> Digest:
    """`sources` but the files that are, or are under, a symlink below `root`."""
    links = _symlinked(build_root, root, sources.files)
    if not links:
        return sources.snapshot.digest
    for link in links:
        logger.warning(f"{address}: skipped symlink {link}: only regular files are packed")
    kept = [path for path in sources.files if path not in links]
    return await Get(Digest, DigestSubset(sources.snapshot.digest, PathGlobs(kept)))


def rules():
    return collect_rules()
