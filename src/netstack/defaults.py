"""Options every request of a scheduler starts from (``Scheduler(default_options=...)``).

A request's own options are merged over the defaults, key by key: an option
the request sets wins; ``header`` is merged name by name (case-insensitive),
the request's own value winning. "Sets" means a key present in a mapping, or
a field of an ``HttpRequestOptions`` that differs from its default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from netstack.options import (
    DEFAULT_OPTIONS,
    OPTION_FIELDS,
    OPTION_KEYS,
    HttpRequestOptions,
    OptionsInput,
)
from netstack.validation import resolve_options

__all__ = ["OptionDefaults"]


def _given(options: object) -> dict[str, Any] | None:
    """The options ``options`` sets, by snake_case name; None when it is not options at all."""
    if options is None:
        return {}
    if isinstance(options, HttpRequestOptions):
        return {
            name: value
            for name in OPTION_FIELDS
            if (value := getattr(options, name)) != getattr(DEFAULT_OPTIONS, name)
        }
    if isinstance(options, Mapping):  # an unknown key stays, for resolve_options' 401
        return {
            (OPTION_KEYS.get(key, key) if isinstance(key, str) else key): value
            for key, value in options.items()
        }
    return None


class OptionDefaults:
    """Validated default options, and :meth:`apply` to merge a request's own over them."""

    __slots__ = ("_values", "options")

    def __init__(self, options: HttpRequestOptions | Mapping[str, Any]) -> None:
        #: The defaults as one HttpRequestOptions (HttpError 401 naming the field when invalid).
        self.options = resolve_options(cast("OptionsInput", options))
        given = _given(options) or {}
        self._values = {name: getattr(self.options, name) for name in given}

    def apply(self, options: OptionsInput) -> OptionsInput:
        """``options`` over the defaults; anything that is not options is left for validation."""
        given = _given(options)
        if given is None:
            return options
        merged = {**self._values, **given}
        default_header, own_header = self._values.get("header"), given.get("header")
        if default_header and isinstance(own_header, Mapping):
            own = {str(name).lower() for name in own_header}
            merged["header"] = {
                **{k: v for k, v in default_header.items() if k.lower() not in own},
                **own_header,
            }
        return cast("OptionsInput", merged)
