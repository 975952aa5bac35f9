"""The project's error tree, shared by every layer.

It lives in the bottom layer so that consensus, shards and node can all raise
the same errors; only ``transport/`` turns them into HTTP or gRPC statuses.

    DomainError
     ├── BadInput            the request is malformed or invalid       (400)
     ├── NotFound            a collection, point, index... is missing  (404)
     ├── AlreadyExists       the thing to create is already there      (409)
     ├── Forbidden           the caller may not do this                (403)
     ├── Unauthorized        no or wrong credentials                   (401)
     ├── PreconditionFailed  state does not allow the operation now    (412? mapped per transport)
     ├── ServiceUnavailable  a replica or the consensus is unreachable (503)
     ├── Timeout             the operation did not finish in time      (408)
     ├── RateLimited         too many requests                         (429)
     └── InternalError       a bug or an I/O failure                   (500)
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service reports to a client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(DomainError):
    """The request is malformed or asks for something invalid."""


class NotFound(DomainError):
    """A referenced collection, point, vector or index does not exist."""


class AlreadyExists(DomainError):
    """The object to create already exists."""


class Forbidden(DomainError):
    """The caller's credentials do not allow this operation."""


class Unauthorized(DomainError):
    """The caller gave no credentials or wrong ones."""


class PreconditionFailed(DomainError):
    """The current state does not allow the operation."""


class ServiceUnavailable(DomainError):
    """A needed component (replica, consensus) is not reachable now."""


class Timeout(DomainError):
    """The operation did not complete within its deadline."""


class RateLimited(DomainError):
    """The caller exceeded a configured rate limit."""


class InternalError(DomainError):
    """An unexpected failure inside the service."""
