"""Settings: each resource field tied to its environment variable, validated once, at load.

Why a mechanism: Dagster 1.13 builds a resource for a run from the run config when there is
one, and for every field the run config leaves out it takes the **class's** default, not the
value (or ``EnvVar``) the definitions gave the instance (dagster-io/dagster#12898). So
``PrivacySettings(min_cohort_size=EnvVar.int("MIN_COHORT_SIZE"))`` plus run config
``{epsilon: 2}`` ran with k = 5 although ``MIN_COHORT_SIZE=20``; and a field without a class
default would arrive as the raw ``EnvVar`` object (an ``IntEnvVar`` reads as 0). The rules:

* Every field is declared with :meth:`Setting.field`: it has no class default but a
  ``default_factory`` that reads and validates the field's variable. Dagster's config schema
  then carries no class default to override the instance with, and a resource built without a
  value reads the environment.
* :class:`SettingsResource` validates every explicit value (code or run config) with the
  setting's own rule in a ``mode="wrap"`` validator. ``EnvVar`` objects pass through untouched
  there (an "after" validator would see them already converted: ``IntEnvVar`` → 0).
* :meth:`SettingsResource.setup_for_execution` replaces any ``EnvVar`` Dagster left unresolved
  (the fields a partial run config did not set) by its variable's validated value.
* :func:`check_environment` (called by ``build_resources``, so by the code location and the
  ``benchmarking`` command) validates every variable at load and raises one
  :class:`SettingError` naming each bad variable, its value and the rule.

A new setting is one :class:`Setting` (variable, default, parser) and one
``name: T = SETTING.field()`` line; a parser takes text or a value and returns the valid value
or raises ``ValueError`` with the rule (see :func:`integer`, :func:`number`, :func:`choice`).
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dagster as dg
from pydantic import Field, ValidationInfo, ValidatorFunctionWrapHandler, field_validator

Parser = Callable[[Any], Any]
_INTEGER = re.compile(r"^[+-]?[0-9]+$")  # ASCII digits only: int() also takes "1_0" and "५०"
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


class SettingError(ValueError):
    """One or more settings are unusable; the message names each variable, value and rule."""


def is_env_var(value: Any) -> bool:
    """A Dagster ``EnvVar`` or ``IntEnvVar`` (the two share no base class but this property)."""
    return isinstance(value, dg.EnvVar) or type(value).__name__ == "IntEnvVar"


@dataclass(frozen=True)
class Setting:
    """One setting: its environment variable (or none), its default and its rule.

    ``default`` is a value or a function of nothing (defaults derived from other variables,
    such as the paths under ``BENCHMARKING_DATA_DIR``). ``as_env`` says how
    :meth:`env_value` hands a set variable to Dagster: ``"str"`` as ``EnvVar``, ``"int"`` as
    ``EnvVar.int`` (so the UI shows where the value came from and a secret stays out of it),
    ``None`` as the checked value (Dagster has no float ``EnvVar``). ``secret`` keeps the value
    out of messages.
    """

    env: str | None
    default: Any
    parse: Parser
    description: str
    as_env: Literal["str", "int"] | None = "str"
    secret: bool = False
    show: Callable[[str], str] | None = None  # how to quote a secret value in a message

    def default_value(self) -> Any:
        value = self.default() if callable(self.default) else self.default
        return self.parse(value)

    def raw(self) -> str | None:
        """The variable's text, or None when it is unset or blank (blank means "default")."""
        if self.env is None:
            return None
        text = os.environ.get(self.env)
        return text if text and text.strip() else None

    def quote(self, value: Any) -> str:
        if self.secret:
            return self.show(str(value)) if self.show else "(value not shown)"
        return repr(value)

    def from_env(self) -> Any:
        """The variable's validated value, else the default's; :class:`SettingError` if bad."""
        text = self.raw()
        try:
            return self.default_value() if text is None else self.parse(text)
        except ValueError as exc:
            if text is None:
                what = self.env or self.description
                raise SettingError(f"the default of {what}: {exc}") from None
            raise SettingError(f"{self.env}={self.quote(text)}: {exc}") from None

    def check(self, value: Any, where: str) -> Any:
        """An explicit value (code or run config), validated; the error names ``where``."""
        try:
            return self.parse(value)
        except ValueError as exc:
            via = f" (environment variable {self.env})" if self.env else ""
            raise SettingError(f"{where}{via} = {self.quote(value)}: {exc}") from None

    def resolve(self, value: Any, where: str) -> Any:
        """``value`` with an ``EnvVar`` replaced by its variable's validated value."""
        if not is_env_var(value):
            return value
        name = value.env_var_name
        if name == self.env:
            return self.from_env()
        text = os.environ.get(name)
        if not text:
            return self.default_value()
        return self.check(text, f"{where} (from {name})")

    def env_value(self) -> Any:
        """What :func:`build_resources` passes: ``EnvVar`` when the variable is set (after
        validating its value now, at load), else the validated default."""
        value = self.from_env()
        if self.raw() is None or self.as_env is None:
            return value
        return dg.EnvVar.int(self.env) if self.as_env == "int" else dg.EnvVar(self.env)

    def field(self, **kwargs: Any) -> Any:
        """The pydantic field: no class default, a factory reading the variable."""
        via = f" ({self.env})" if self.env else ""
        return Field(default_factory=self.from_env, description=self.description + via, **kwargs)


def _field_setting(field: Any) -> Setting | None:
    factory = getattr(field, "default_factory", None)
    owner = getattr(factory, "__self__", None)
    return owner if isinstance(owner, Setting) else None


@functools.cache
def settings_of(cls: type) -> dict[str, Setting]:
    """Field name → :class:`Setting` of a :class:`SettingsResource` subclass."""
    return {
        name: spec
        for name, field in cls.model_fields.items()
        if (spec := _field_setting(field)) is not None
    }


class SettingsResource(dg.ConfigurableResource):
    """A resource whose fields are :class:`Setting` s (see the module docstring).

    Subclasses that override :meth:`setup_for_execution` call ``super()`` first.
    """

    @field_validator("*", mode="wrap")
    @classmethod
    def _validate_setting(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if is_env_var(value):
            return value  # Dagster resolves it; setup_for_execution validates it
        spec = settings_of(cls).get(info.field_name or "")
        if spec is None:
            return handler(value)
        return handler(spec.check(value, f"{cls.__name__}.{info.field_name}"))

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        for name, spec in settings_of(type(self)).items():
            value = getattr(self, name)
            if is_env_var(value):
                # The runtime copy Dagster built for this run only (models are frozen).
                object.__setattr__(self, name, spec.resolve(value, f"{type(self).__name__}.{name}"))

    def resolved(self) -> SettingsResource:
        """The same resource with every ``EnvVar`` replaced by its validated value, for use
        outside a run (the ``benchmarking`` command)."""
        cls = type(self)
        specs = settings_of(cls)
        values = {}
        for name in cls.model_fields:
            value = getattr(self, name)
            spec = specs.get(name)
            values[name] = spec.resolve(value, f"{cls.__name__}.{name}") if spec else value
        return cls(**values)


def check_environment(settings: Iterable[Setting]) -> None:
    """Validate every variable now; one :class:`SettingError` listing every bad one."""
    problems = []
    for spec in settings:
        try:
            spec.from_env()
        except SettingError as exc:
            problems.append(str(exc))
    if problems:
        raise SettingError("; ".join(problems))


# ---------------------------------------------------------------------------------- parsers
def integer(low: int | None = None, high: int | None = None) -> Parser:
    """A whole number in ``[low, high]``; text must be ASCII digits (``1_0``, ``५०`` refused)."""

    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("is not a whole number")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INTEGER.match(value.strip()):
            number = int(value.strip())
        else:
            raise ValueError("is not a whole number")
        _check_range(number, low, high)
        return number

    return parse


def number(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> Parser:
    """A finite number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""

    def parse(value: Any) -> float:
        if isinstance(value, bool):
            raise ValueError("is not a number")
        if isinstance(value, int | float):
            result = float(value)
        elif isinstance(value, str) and _NUMBER.match(value.strip()):
            result = float(value.strip())
        else:
            raise ValueError("is not a number")
        if not math.isfinite(result):
            raise ValueError("is not a finite number")
        if low_open and low is not None and result <= low:
            raise ValueError(f"must be greater than {low:g}")
        _check_range(result, None if low_open else low, high)
        return result

    return parse


def _check_range(value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ValueError(f"must be at least {low:g}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high:g}")


def choice(options: Sequence[str]) -> Parser:
    """One of ``options`` (case and surrounding spaces ignored)."""

    def parse(value: Any) -> str:
        text = str(value).strip().lower() if isinstance(value, str) else None
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text

    return parse


def subset(options: Sequence[str]) -> Parser:
    """A list of distinct members of ``options`` (text: comma-separated)."""

    def parse(value: Any) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError(f"must be a list drawn from {', '.join(options)}")
        chosen = [str(i).strip().lower() for i in items if str(i).strip()]
        unknown = sorted(set(chosen) - set(options))
        if unknown:
            raise ValueError(f"unknown {', '.join(unknown)}; choose from {', '.join(options)}")
        return list(dict.fromkeys(chosen))

    return parse


def http_url(value: Any) -> str:
    """An ``http(s)://host…`` URL."""
    from urllib.parse import urlsplit

    text = str(value).strip() if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return text
