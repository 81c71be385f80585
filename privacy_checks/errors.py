"""Errors the engine raises for a user's mistake.

The pytest layer turns :class:`PrivacyInputError` into ``pytest.UsageError`` (exit code 4, no
traceback); the CLI prints it and exits 4. Messages name the file, key or line and the fix.
"""


class PrivacyInputError(Exception):
    """Bad input from the user: a file, option or config value that cannot be used as given."""
