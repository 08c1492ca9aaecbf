"""The one error type a user of closim sees: a bad config, spec or option, located precisely."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration, topology spec or command-line value that closim cannot use.

    ``str(err)`` is one line: ``FILE: key.path: what is wrong (got X)``. ``source`` is the file
    (or ``--set``, or None for an in-memory spec), ``key_path`` the dotted path inside it (or None).
    """

    def __init__(self, message: str, *, source: str | None = None, key_path: str | None = None):
        self.message = message
        self.source = source
        self.key_path = key_path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.key_path) if p]
        return ": ".join([*parts, self.message])

    def located(self, *, source: str | None = None, prefix: str | None = None) -> ConfigError:
        """A copy placed in ``source`` with ``prefix`` prepended to its key path."""
        key = ".".join(p for p in (prefix, self.key_path) if p) or None
        return ConfigError(self.message, source=source or self.source, key_path=key)
