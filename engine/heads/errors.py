"""The errors a head raises: one line each, fit to show a coordinator, saying what to change."""

from __future__ import annotations


class HeadError(ValueError):
    """A head was asked for something it cannot do (unknown name, bad parameters)."""


class ParamError(HeadError):
    """A fix parameter that cannot work: names the parameter and what to write instead."""
