"""The error of a dataset that cannot be loaded or sampled (one line: what and where)."""


class DataError(ValueError):
    """A dataset that cannot be loaded; the one-line message says what and where."""
