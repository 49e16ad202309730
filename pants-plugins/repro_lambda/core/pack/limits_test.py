"""Tests for the Lambda size limits."""

from __future__ import annotations

import re

import pytest

from repro_lambda.core.contract import UserError
from repro_lambda.core.pack.limits import (
    DIRECT_UPLOAD_LIMIT,
    LAMBDA_UNZIPPED_LIMIT,
    check_unzipped_size,
    direct_upload_warning,
)


def test_limits_match_aws() -> None:
    assert LAMBDA_UNZIPPED_LIMIT == 262_144_000
    assert DIRECT_UPLOAD_LIMIT == 52_428_800


def test_unzipped_size_at_limit_is_accepted() -> None:
    check_unzipped_size(LAMBDA_UNZIPPED_LIMIT)


def test_unzipped_size_over_limit_names_size_limit_and_remedy() -> None:
    with pytest.raises(UserError) as error:
        check_unzipped_size(LAMBDA_UNZIPPED_LIMIT + 1)
    message = str(error.value)
    assert "262,144,001 bytes" in message
    assert "262,144,000 bytes" in message
    assert "layers" in message


def test_direct_upload_warning_only_above_limit() -> None:
    assert direct_upload_warning(DIRECT_UPLOAD_LIMIT) is None
    warning = direct_upload_warning(DIRECT_UPLOAD_LIMIT + 1)
    assert warning is not None
    assert "direct upload limit" in warning
    assert "publish via S3" in warning


def test_unzipped_size_counts_the_layers() -> None:
    check_unzipped_size(LAMBDA_UNZIPPED_LIMIT - 70_000_000, 70_000_000)
    start = (
        "function is 200,000,000 bytes uncompressed and its layers 70,000,000: 270,000,000"
        " together, over the AWS Lambda limit of 262,144,000 bytes; "
    )
    with pytest.raises(UserError, match=f"^{re.escape(start)}"):
        check_unzipped_size(200_000_000, 70_000_000)


def test_unzipped_size_without_layers_keeps_the_artifact_message() -> None:
    with pytest.raises(UserError, match=r"^artifact is 262,144,001 bytes uncompressed"):
        check_unzipped_size(LAMBDA_UNZIPPED_LIMIT + 1, 0)
