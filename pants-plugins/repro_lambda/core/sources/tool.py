"""The source tool: `fetch` a pinned download, or `stage` one at its `dest` in a directory.

Each is one cacheable process: `fetch` is keyed by the pin (URL, sha256, size), `stage` by the
download's digest and where it lands. Neither ever sees a token: private downloads are fetched
by the plugin itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Sequence

from repro_lambda.core.contract import ToolArgumentParser, UserError, report_user_error
from repro_lambda.core.sources.safe_extract import stage
from repro_lambda.core.sources.safe_fetch import ASSET_ACCEPT, FetchPolicy, fetch_pinned
from repro_lambda.core.sources.spec import Extract


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = ToolArgumentParser(
        prog="python -m repro_lambda.core.sources.tool", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="download a pinned file")
    fetch.add_argument("--name", required=True, help="the source, for messages")
    fetch.add_argument("--url", required=True)
    fetch.add_argument("--sha256", required=True)
    fetch.add_argument("--size", type=int, required=True)
    fetch.add_argument("--output", type=Path, required=True)
    fetch.add_argument("--github-asset", action="store_true", help="a GitHub release asset URL")
    fetch.add_argument("--allow-loopback", action="store_true", help="tests only")
    fetch.add_argument("--ca-file", help="tests only: the CA to trust instead of the system's")
    staging = commands.add_parser("stage", help="place a download at its dest")
    staging.add_argument("--name", required=True, help="the source, for messages")
    staging.add_argument("--download", type=Path, required=True)
    staging.add_argument("--extract", required=True, choices=[e.value for e in Extract])
    staging.add_argument("--dest", required=True)
    staging.add_argument("--member")
    staging.add_argument("--executable", action="store_true")
    staging.add_argument("--output-dir", type=Path, required=True)
    try:
        args = parser.parse_args(argv)
        try:
            if args.command == "fetch":
                policy = FetchPolicy(allow_loopback=args.allow_loopback, ca_file=args.ca_file)
                headers = ASSET_ACCEPT if args.github_asset else {}
                with args.output.open("wb") as out:
                    fetch_pinned(args.url, out, policy, args.sha256, args.size, headers=headers)
            else:
                stage(
                    args.download,
                    Extract(args.extract),
                    args.dest,
                    args.output_dir,
                    member=args.member,
                    executable=args.executable,
                )
        except UserError as error:
            raise UserError(f"source {args.name!r}: {error}") from None
    except (UserError, OSError) as error:
        return report_user_error(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
