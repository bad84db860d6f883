"""How every service hands its handlers their dependencies: cosmicpython's ``bootstrap`` +
``inject_dependencies``. A handler is a plain function of its message and keyword-only named
dependencies; each service's ``bootstrap.py`` builds a frozen ``Deps`` (one field per dependency, named as
the handlers name their parameters) when it starts, and the adapters (Kafka subscribers, HTTP controllers)
call handlers bound to it, so no adapter lists a handler's dependencies by hand.

The subscribers exist before the service starts (FastStream registers them when the app is built, and the
AsyncAPI document is read from them) while the connections open only at start, so they hold an
``Injector``: the lifespan puts the opened ``Deps`` in with ``serving(deps)`` and takes them out at
shutdown. Decision record: docs/adr/0008-one-composition-root-per-service.md.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

D = TypeVar("D")
R = TypeVar("R")


class ServiceNotStarted(RuntimeError):
    """A handler was called before the service's lifespan opened its dependencies (or after it closed)."""


def _dependency_names(handler: Callable[..., Any]) -> tuple[str, ...]:
    """The handler's keyword-only parameters: where its named dependencies are declared."""
    return tuple(
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    )


def _select(names: tuple[str, ...], deps: object, given: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(deps, name) for name in names if name not in given and hasattr(deps, name)}


def inject_dependencies(handler: Callable[..., R], deps: object) -> Callable[..., R]:
    """``handler`` with every keyword-only parameter that ``deps`` has an attribute of that name bound to
    it; the caller passes the rest (the message, request fields)."""
    names = _dependency_names(handler)
    return functools.partial(handler, **_select(names, deps, {}))


class Injector(Generic[D]):
    """The service's ``Deps`` while it runs, for adapters built before it started."""

    def __init__(self, deps: D | None = None) -> None:
        """``deps``: already open (tests, scripts); a service starts empty and opens them in its lifespan."""
        self._deps = deps

    @contextlib.contextmanager
    def serving(self, deps: D) -> Iterator[D]:
        self._deps = deps
        try:
            yield deps
        finally:
            self._deps = None

    @property
    def deps(self) -> D:
        if self._deps is None:
            raise ServiceNotStarted("the service has not started: its connections are not open")
        return self._deps

    def inject(self, handler: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
        """``handler`` bound, at each call, to the dependencies of the running service."""
        names = _dependency_names(handler)

        @functools.wraps(handler)
        async def call(*args: Any, **kwargs: Any) -> R:
            return await handler(*args, **kwargs, **_select(names, self.deps, kwargs))

        return call
