"""The failure classes of minke, their CLI exit codes and HTTP statuses.

Every module raises one of these with the id, path or digest it is about in a short
lowercase message.  The CLI turns them into ``Error: <message>`` and an exit code; the API
server into an HTTP status with Docker's ``{"message": ...}`` body.  Never return False for
failure.

::

    MinkeError                      exit 125   HTTP 500  engine error
    ├── NotFound                    exit 125   HTTP 404  no such image / container / blob
    ├── AlreadyExists               exit 125   HTTP 409  name or tag already taken
    ├── Conflict                    exit 125   HTTP 409  in use (image used by a container)
    ├── InvalidArgument             exit 125   HTTP 400  bad flag value, reference, JSON
    │   ├── InvalidReference                            image reference rejected
    │   └── CorruptData                                 digest/size mismatch, bad archive
    ├── FailedPrecondition          exit 125   HTTP 409  illegal state transition
    ├── PermissionDenied            exit 125   HTTP 403
    ├── Unavailable                 exit 125   HTTP 503  registry or runtime unreachable
    ├── Unsupported                 exit 125   HTTP 501  unknown media type, missing feature
    ├── CannotRun                   exit 126             command found but not executable
    └── CommandNotFound             exit 127             command not found in the image

Commands that are not ``run``/``create``/``start`` exit 1 on an engine error, as the
Docker CLI does; the CLI decides that, not the error.
"""

from __future__ import annotations


class MinkeError(Exception):
    """Base of every failure minke reports to a user."""

    exit_code = 125
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(MinkeError):
    http_status = 404


class AlreadyExists(MinkeError):
    http_status = 409


class Conflict(MinkeError):
    http_status = 409


class InvalidArgument(MinkeError):
    http_status = 400


class InvalidReference(InvalidArgument):
    pass


class CorruptData(InvalidArgument):
    pass


class FailedPrecondition(MinkeError):
    http_status = 409


class PermissionDenied(MinkeError):
    http_status = 403


class Unavailable(MinkeError):
    http_status = 503


class Unsupported(MinkeError):
    http_status = 501


class CannotRun(MinkeError):
    exit_code = 126


class CommandNotFound(MinkeError):
    exit_code = 127
