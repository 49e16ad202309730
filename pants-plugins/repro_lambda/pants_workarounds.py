"""The two Pants 2.17 behaviours `publish` works around, in one place.

`pants_workarounds_test.py` fails loudly if a Pants upgrade changes what they rely on.

1. A `PublishRequest` rule cannot ask for the command line's `Specs`: the `deploy` goal reaches it
   without them, so the rule graph refuses it. `command_line_specs` parses the specs again from
   Pants' private `_Options`, relative to the invoking shell's `PWD` (as Pants itself does).
2. `InteractiveProcess` copies its `env` into a plain `FrozenDict`, whose repr (which Pants logs at
   debug level) shows the values. `with_secret_env` puts a repr that hides them on the frozen
   `Process` instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from pants.base.build_root import BuildRoot
from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.engine.env_vars import CompleteEnvironmentVars
from pants.engine.internals.options_parsing import _Options
from pants.engine.internals.session import SessionValues
from pants.engine.process import InteractiveProcess
from pants.engine.rules import collect_rules, rule
from pants.option.global_options import GlobalOptions
from pants.util.frozendict import FrozenDict


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


def rules():
    return collect_rules()
