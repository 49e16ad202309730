"""The error raised for problems the user has to fix."""

from __future__ import annotations


class PackError(ValueError):
    """A user-facing packing error; the CLI prints it as one `error:` line and exits 2."""
