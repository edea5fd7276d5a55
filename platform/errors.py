"""User-facing errors: each carries a one-line message naming the thing at fault.

Jobs catch `UnimoError` at the top and print it without a traceback; anything else is a
bug and keeps its traceback.
"""


class UnimoError(Exception):
    """Bad input from the user (a file, a URL, a config value). Exit code 1."""

    exit_code = 1


class ConfigError(UnimoError):
    """An unknown config key, a wrong type or a missing required value. Exit code 2."""

    exit_code = 2


class StorageError(UnimoError):
    """A URL that cannot be read or written."""
