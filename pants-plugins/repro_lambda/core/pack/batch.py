"""Command-line entry point: pack several zips in one process, each exactly as `pack` would.

The batch file is a `PackBatch` as JSON: members, each a `PackJob` and the path of its messages
file. A member's `error:` and `warning:` lines go to its messages file, so that an error fails
only its member; the files members share (those of one third-party install) are compressed once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from repro_lambda.core.contract import (
    PackBatch,
    ToolArgumentParser,
    UserError,
    read_fields,
    report_user_error,
)
from repro_lambda.core.pack.packer import run
from repro_lambda.core.pack.zip_writer import CompressionMemo


def main(argv: Sequence[str] | None = None) -> int:
    """Pack every member of the batch; return 2 after one `error:` line if the batch is bad."""
    parser = ToolArgumentParser(prog="python -m repro_lambda.core.pack.batch", description=__doc__)
    parser.add_argument("batch", type=Path, help="the JSON batch file")
    try:
        path = parser.parse_args(argv).batch
        batch = read_fields(PackBatch, json.loads(path.read_text(encoding="utf-8")), str(path))
    except (UserError, OSError, ValueError) as error:
        return report_user_error(error)
    memo = CompressionMemo()
    for member in batch.members:
        _, messages = run(member.job, memo)
        messages_file = Path(member.messages)
        messages_file.parent.mkdir(parents=True, exist_ok=True)
        messages_file.write_text("".join(f"{line}\n" for line in messages), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
