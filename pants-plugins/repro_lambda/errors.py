"""The base of the plugin's errors: a problem in what the user asked for, which they have to fix.

Every error the plugin's rules raise for a target, a lock, a manifest or an option derives from
`LambdaUserError`; any other exception is a bug. A batch-mate's `LambdaUserError` fails only its
own `package` (see `util_rules/batches.py`); a bug fails the whole batch.
"""

from __future__ import annotations

from pants.engine.target import InvalidFieldException, InvalidTargetException


class LambdaUserError(Exception):
    """A problem the user has to fix, reported by Pants without a traceback."""


class LambdaFieldError(InvalidFieldException, LambdaUserError):
    """A field whose value the build cannot use (a handler no module provides, ...)."""


class LambdaTargetError(InvalidTargetException, LambdaUserError):
    """A target the build cannot use (a layer without requirements, a duplicate name, ...)."""
