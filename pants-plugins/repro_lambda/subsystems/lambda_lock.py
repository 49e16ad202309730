"""`[lambda-lock]`: the `lambda-lock` goal's options, which `package` also reads (`only_binary`)."""

from __future__ import annotations

from pants.engine.goal import GoalSubsystem
from pants.option.option_types import StrListOption
from pants.util.docutil import bin_name
from pants.util.strutil import help_text, softwrap


class LambdaLockSubsystem(GoalSubsystem):
    name = "lambda-lock"
    help = help_text(
        f"""
        Write each resolve's Lambda platform lock, next to its lockfile, and the sources lock.

        For every resolve that `lambda_artifact` and `lambda_layer` targets install from, lock
        one wheel per requirement for each runtime × architecture in use, at the versions of the
        resolve's lockfile, with sha256 hashes; where a version publishes no wheel for a
        platform, lock its sdist (sha256 and size), which `{bin_name()} package` builds into a
        wheel for the runtime, unless `only_binary` refuses it. Run it after
        `{bin_name()} generate-lockfiles`, or when a lambda or layer gains a requirement or a new
        runtime or architecture; `{bin_name()} package` says when it is due.

        Then compile the hashed requirements lock of each `lambda_manifest` pip lambda from the
        `requirements.in` in its `source_dir`, with uv (see `[lambda-uv]`), for its runtime's
        Python and its architecture's manylinux platform, wheels only; npm lambdas install from
        their package-lock.json as it is.

        Then download every `lambda_source` (resolving `version_from`), and record its version,
        URL, sha256 and size in `[lambda-sources].lockfile`, rewritten atomically and only if a
        pin changed.
        """
    )

    only_binary = StrListOption(
        default=[],
        help=softwrap(
            f"""
            Projects that must install from wheels: never lock their sdists (`*` for all). By
            default an sdist is locked where its version publishes no wheel for a platform, and
            `{bin_name()} package` builds it, sandboxed and pinned (see `[lambda-sdist-build]`).
            """
        ),
    )
