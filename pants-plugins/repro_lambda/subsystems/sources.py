"""`[lambda-sources]`: where the sources lock is, and how downloads are made."""

from __future__ import annotations

from pants.option.option_types import BoolOption, StrOption
from pants.option.subsystem import Subsystem
from pants.util.docutil import bin_name
from pants.util.strutil import softwrap

from repro_lambda.core.sources.safe_fetch import GITHUB_API, FetchPolicy


class LambdaSources(Subsystem):
    options_scope = "lambda-sources"
    help = softwrap(
        f"""
        Pinned external sources (`lambda_source` targets): the lock `{bin_name()} lambda-lock`
        writes, and GitHub's API.
        """
    )

    lockfile = StrOption(
        default="lambda-sources.lock",
        help=softwrap(
            f"""
            The sources lock, relative to the build root: the version, download URL, sha256 and
            size of every `lambda_source` of the repository, written by
            `{bin_name()} lambda-lock`. Commit it.
            """
        ),
    )
    github_api_url = StrOption(
        default=GITHUB_API,
        advanced=True,
        help="GitHub's REST API, for `github_release` sources (GitHub Enterprise has its own).",
    )
    test_allow_loopback = BoolOption(
        default=False,
        advanced=True,
        help=softwrap(
            """
            For tests only: let downloads connect to loopback addresses (127.0.0.0/8, ::1), for
            a release server on 127.0.0.1. Private, link-local and metadata addresses stay
            refused. Never set it in a real repository.
            """
        ),
    )
    test_ca_file = StrOption(
        default=None,
        advanced=True,
        help="For tests only: a PEM CA file to trust instead of the system's certificates.",
    )

    @property
    def policy(self) -> FetchPolicy:
        return FetchPolicy(allow_loopback=self.test_allow_loopback, ca_file=self.test_ca_file)
