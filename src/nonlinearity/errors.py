"""Errors that stop a run before any work, each with a one-line message."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class NonlinearityError(Exception):
    """Base class: the message is the whole story, shown as one line."""


class ConfigError(NonlinearityError, ValueError):
    """A parameter is out of range or names something that does not exist."""


class DataUnavailableError(NonlinearityError, FileNotFoundError):
    """The data set's files are missing and cannot be fetched."""


def check_settings(
    params: Mapping[str, Any] | None, valid: Iterable[str], prefix: str
) -> dict[str, Any]:
    """`params` as a dict, or a ConfigError naming the first key not in `valid`:
    `<prefix>.<key> is not a setting; did you mean '<close>'? valid: a, b, c`."""
    from .params import unknown_setting  # params imports this module

    params, valid = dict(params or {}), sorted(valid)
    if unknown := sorted(set(params) - set(valid), key=str):
        raise unknown_setting(unknown[0], valid, prefix)
    return params


def one_line(exc: BaseException) -> NonlinearityError | None:
    """The first `NonlinearityError` in an exception's cause/context chain, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, NonlinearityError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class RawFormatError(NonlinearityError, ValueError):
    """A raw data file does not match its format: the file, the line, expected vs found."""
