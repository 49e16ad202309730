"""AWS Lambda size limits: a hard error for the unzipped size, a warning for direct upload."""

from __future__ import annotations

from repro_lambda.core.errors import PackError

LAMBDA_UNZIPPED_LIMIT = 262_144_000
"""Bytes a function's unzipped code and layers may take (250 MiB)."""

DIRECT_UPLOAD_LIMIT = 52_428_800
"""Bytes of zip that can be uploaded directly to Lambda rather than through S3 (50 MiB)."""


def check_unzipped_size(uncompressed_size: int) -> None:
    """Raise PackError when the artifact would be over Lambda's unzipped size limit."""
    if uncompressed_size > LAMBDA_UNZIPPED_LIMIT:
        raise PackError(
            f"artifact is {uncompressed_size:,} bytes uncompressed, over the AWS Lambda limit of "
            f"{LAMBDA_UNZIPPED_LIMIT:,} bytes; move dependencies into layers or trim them"
        )


def direct_upload_warning(zip_size: int) -> str | None:
    """Return a warning when the zip is too large for direct upload, else None."""
    if zip_size <= DIRECT_UPLOAD_LIMIT:
        return None
    return f"zip is {zip_size:,} bytes, over the {DIRECT_UPLOAD_LIMIT:,}-byte direct upload limit; publish via S3"
