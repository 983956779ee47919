"""One error hierarchy and the exit codes it maps to.

Every error a user can see derives from :class:`FnfError` and carries the exit code the CLI
returns for it, so the command layer has exactly one place that turns failures into codes.
"""

from __future__ import annotations

# Exit codes are part of the interface: crontabs, Render and scripts test them.
EXIT_OK = 0
"""The run did its work or stopped as planned (deadline reached, stream busy, nothing to do)."""
EXIT_RUN_FAILED = 1
"""The run itself failed: store unreachable, lease lost, internal error."""
EXIT_USAGE = 2
"""Usage or configuration error; nothing was run and nothing was changed."""
EXIT_NO_CLIENTS = 3
"""The stream has no clients, so nothing was processed (a typo in --stream, or clients not assigned)."""
EXIT_SIGHUP = 129
"""Stopped by SIGHUP (the terminal went away); state recorded, the next run resumes there."""
EXIT_SIGINT = 130
"""Stopped by SIGINT; state recorded, the next run resumes where this one stopped."""
EXIT_SIGTERM = 143
"""Stopped by SIGTERM; state recorded, the next run resumes where this one stopped."""


class FnfError(Exception):
    """Base of every error fnf reports to a user."""

    exit_code = EXIT_RUN_FAILED


class UsageError(FnfError):
    """Bad input from the user: a flag, a setting, a file. Raised before anything changes."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A setting (environment, .env or flag) has a value fnf cannot accept."""


class HandlerError(UsageError):
    """A job type's handler cannot be resolved: bad import path, missing command."""


class ImportFileError(UsageError):
    """A clients CSV file has rows fnf cannot accept; nothing was imported."""


class StoreError(FnfError):
    """The store cannot be read or written (unreachable, corrupt, locked too long)."""


class StoreUnavailableError(StoreError):
    """The store stayed unreachable past the retry budget; the run stops as interrupted."""


class SchemaError(StoreError):
    """The store lacks a table or field fnf needs (``fnf schema check`` lists them all).

    Found before a run starts, nothing has changed: a set-up error, like a bad setting.
    """

    exit_code = EXIT_USAGE


class StoppedBeforeStartError(FnfError):
    """A stop signal arrived before the run took its stream: nothing was started or changed."""

    def __init__(self, message: str, signum: int | None) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum if signum else EXIT_RUN_FAILED


class LeaseLostError(FnfError):
    """Another run took over this run's stream; this run must stop without writing more."""


class ProcessServerError(FnfError):
    """The process that starts and watches the clients' work ended under the run (killed from
    outside): the clients in flight were stopped, and the run fails so that the next one redoes them."""
