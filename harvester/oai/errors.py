"""OAI-PMH protocol errors, one class per code of the specification.

Quotes are from OAI-PMH 2.0, section 3.6 "Error and Exception Conditions"
(https://www.openarchives.org/OAI/openarchivesprotocol.html#ErrorConditions).
"""

from __future__ import annotations

from harvester.errors import OAIError


class OAIProtocolError(OAIError):
    """An ``<error code="...">`` answered by a repository."""

    code = ""

    def __init__(self, message: str = "", *, url: str | None = None) -> None:
        self.message = message.strip()
        self.url = url
        where = f" from {url}" if url else ""
        super().__init__(f"OAI-PMH {self.code or 'error'}{where}: {self.message or '(no message)'}")


class BadArgument(OAIProtocolError):
    """ "The request includes illegal arguments, is missing required arguments, includes a
    repeated argument, or values for arguments have an illegal syntax." """

    code = "badArgument"


class BadResumptionToken(OAIProtocolError):
    """ "The value of the resumptionToken argument is invalid or expired."

    The harvest restarts the list from its last checkpointed datestamp.
    """

    code = "badResumptionToken"


class BadVerb(OAIProtocolError):
    """ "Value of the verb argument is not a legal OAI-PMH verb, the verb argument is
    missing, or the verb argument is repeated." """

    code = "badVerb"


class CannotDisseminateFormat(OAIProtocolError):
    """ "The metadata format identified by the value given for the metadataPrefix argument
    is not supported by the item or by the repository." """

    code = "cannotDisseminateFormat"


class IdDoesNotExist(OAIProtocolError):
    """ "The value of the identifier argument is unknown or illegal in this repository." """

    code = "idDoesNotExist"


class NoRecordsMatch(OAIProtocolError):
    """ "The combination of the values of the from, until, set and metadataPrefix arguments
    results in an empty list."

    Not a failure: the list requests treat it as an empty success and never raise it.
    """

    code = "noRecordsMatch"


class NoMetadataFormats(OAIProtocolError):
    """ "There are no metadata formats available for the specified item." """

    code = "noMetadataFormats"


class NoSetHierarchy(OAIProtocolError):
    """ "The repository does not support sets." """

    code = "noSetHierarchy"


class UnknownOAIError(OAIProtocolError):
    """An error code the specification does not define; ``code`` holds what was sent."""

    def __init__(self, message: str = "", *, code: str = "", url: str | None = None) -> None:
        self.code = code
        super().__init__(message, url=url)


ERRORS: dict[str, type[OAIProtocolError]] = {
    cls.code: cls
    for cls in (
        BadArgument,
        BadResumptionToken,
        BadVerb,
        CannotDisseminateFormat,
        IdDoesNotExist,
        NoRecordsMatch,
        NoMetadataFormats,
        NoSetHierarchy,
    )
}


def error_for(code: str, message: str, *, url: str | None = None) -> OAIProtocolError:
    """The exception for an OAI error code (``UnknownOAIError`` for undefined codes)."""
    cls = ERRORS.get(code)
    if cls is None:
        return UnknownOAIError(message, code=code, url=url)
    return cls(message, url=url)
