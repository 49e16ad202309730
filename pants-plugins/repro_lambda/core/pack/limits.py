"""AWS Lambda size limits: a hard error for the unzipped size, a warning for direct upload."""

from __future__ import annotations

from repro_lambda.core.contract import UserError

LAMBDA_UNZIPPED_LIMIT = 262_144_000
"""Bytes a function's unzipped code and layers may take (250 MiB)."""

DIRECT_UPLOAD_LIMIT = 52_428_800
"""Bytes of zip that can be uploaded directly to Lambda rather than through S3 (50 MiB)."""


def check_unzipped_size(function_bytes: int, layers_bytes: int = 0) -> None:
    """Raise UserError when the artifact and the layers it uses would be over Lambda's unzipped size
    limit.
    """
    total = function_bytes + layers_bytes
    if total <= LAMBDA_UNZIPPED_LIMIT:
        return
    if not layers_bytes:
        raise UserError(
            f"artifact is {function_bytes:,} bytes uncompressed, over the AWS Lambda limit of "
            f"{LAMBDA_UNZIPPED_LIMIT:,} bytes; move dependencies into layers or trim them"
        )
    raise UserError(
        f"function is {function_bytes:,} bytes uncompressed and its layers {layers_bytes:,}:"
        f" {total:,} together, over the AWS Lambda limit of {LAMBDA_UNZIPPED_LIMIT:,} bytes; trim"
        " the function's dependencies or its layers"
    )


def direct_upload_warning(zip_size: int) -> str | None:
    """Return a warning when the zip is too large for direct upload, else None."""
    if zip_size <= DIRECT_UPLOAD_LIMIT:
        return None
    return (
        f"zip is {zip_size:,} bytes, over the {DIRECT_UPLOAD_LIMIT:,}-byte direct upload limit;"
        " publish via S3"
    )
