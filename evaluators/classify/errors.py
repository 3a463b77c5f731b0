"""The error of a dataset that cannot be loaded or sampled (one line: what and where)."""

from promptclimb.errors import UserError


class DataError(UserError, ValueError):
    """A dataset that cannot be loaded; the one-line message says what and where."""
