"""Store-level failures that callers turn into CLI messages or API codes."""


class StoreError(Exception):
    """Base: the message is one sentence meant for a person."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class Forbidden(StoreError):
    pass


class Invalid(StoreError):
    pass
