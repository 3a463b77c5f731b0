"""The one base of every error the user can fix: the CLI prints its one-line message and exits with 2.

It lives at the package root, below every layer, so that any module can raise a user error without importing
upwards. Each exception keeps its own module and its builtin base (ValueError, OSError, ...): this only adds
the common ancestor the CLI catches.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (a file, a flag, a run directory, a refused consent): one line, exit 2, nothing lost."""
