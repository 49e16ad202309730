"""The error raised for problems the user has to fix."""

from __future__ import annotations


class UserError(ValueError):
    """A problem the user has to fix, raised by the packer, stores, catalog and publisher alike;
    their CLIs print it as one `error:` line and exit 2."""
