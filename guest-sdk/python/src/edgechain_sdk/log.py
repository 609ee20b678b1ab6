"""Log to the host's diagnostic stream (JSON on stderr), tagged with the link
name. Messages below the host's log level are dropped cheaply; the host
rate-limits each plugin (50 lines/s). ``print()`` also works: the host logs
plugin stdout/stderr lines with the link name."""

from __future__ import annotations

import enum

from . import _sys

__all__ = ["Level", "log", "trace", "debug", "info", "warn", "warning", "error"]


class Level(enum.IntEnum):
    """Severity of a log message (the WIT ``level`` enum)."""

    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4


def log(level: Level, message: str) -> None:
    """Log ``message`` at ``level``."""
    if _sys.BUILDING:
        _sys.refuse("log.log")
    _sys.host().log(int(level), str(message))


def trace(message: str) -> None:
    """Log at trace level."""
    log(Level.TRACE, message)


def debug(message: str) -> None:
    """Log at debug level."""
    log(Level.DEBUG, message)


def info(message: str) -> None:
    """Log at info level."""
    log(Level.INFO, message)


def warn(message: str) -> None:
    """Log at warn level."""
    log(Level.WARN, message)


warning = warn


def error(message: str) -> None:
    """Log at error level."""
    log(Level.ERROR, message)
