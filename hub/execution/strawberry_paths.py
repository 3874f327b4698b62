"""Recognising strawberry's resolver wrappers, so that the executor can skip them.

Written against strawberry-graphql 0.341.2 on graphql-core 3.3.2
(``WRITTEN_AGAINST``; pyproject.toml pins the same ranges, and
tests/test_executor.py fails when the installed versions leave them or when
the wrappers of a known strawberry field are no longer recognised). What is
read of strawberry's internals, all of it made by
``GraphQLCoreConverter.from_resolver`` (strawberry/schema/schema_converter.py):

- A field without a resolver, field extension or exception handler gets the
  resolver ``_get_basic_result`` (marked ``_is_default``), whose closure holds
  the ``StrawberryField``; it returns ``field.get_result(source, info=None,
  args=[], kwargs={})``, i.e. ``field.default_resolver(source,
  field.python_name)``. :func:`_strawberry_attribute` recognises it; the
  field is then read with ``getattr`` inlined (``_ATTR``) or by calling the
  configured default resolver (``_CALL_DEFAULT``).
- A field with a resolver gets ``_resolver``/``_async_resolver``, local
  functions of ``from_resolver`` whose free variables are
  ``_call_with_exception_handling``, ``_get_result_with_extensions``,
  ``_strawberry_info_from_graphql`` and ``field_exception_handlers``; the
  closures of those hold the field, the converter (its ``config`` and
  ``scalar_registry``) and the list of extension functions.
  :class:`_StrawberryCall` recognises it and makes the call the wrapper makes
  (``_STRAWBERRY``), with one ``Info`` and one argument conversion
  (``strawberry.types.arguments.convert_arguments``) per field and level.

Recognition is by identity: the closures must hold that very field, and the
classes and methods must be strawberry's own (``StrawberryField.get_result``,
``StrawberryResolver.__call__``). A resolver wrapping strawberry's (the
access policy's masks), a permission (a field extension) or anything else of
another shape is called through its ``resolve``, as graphql-core calls it. So
a strawberry release that reshapes these pieces keeps the answers right but
silently drops the fast paths: hence the pins and the test.

graphql-core is in ``WRITTEN_AGAINST`` too: the other modules of the
executor use its 3.3 internals (``Executor.build``, ``collect_fields`` and
``collect_subfields`` with their ``grouped_field_set``, field details'
``fragment_variable_values``, ``GraphQLResolveInfo``'s positional fields and
``GraphQLResolveInfoHelpers``, the built-in scalars' ``serialize_*``
functions as their ``coerce_output_value``).

Nothing here imports another module of hub.execution.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

STRAWBERRY_DEFINITION = "strawberry-definition"

#: The releases this module (and the executor) was written and tested
#: against, per distribution: (the lowest, the first one excluded).
#: pyproject.toml's ``[project] dependencies`` pin the same ranges.
WRITTEN_AGAINST: dict[str, tuple[str, str]] = {
    "strawberry-graphql": ("0.341.2", "0.342"),
    "graphql-core": ("3.3.2", "3.4"),
}

# How a strawberry field's raw values are read, for ``_Field.mode`` (fields.py
# adds graphql-core's own modes: 0 ``__typename``, 3 default resolver, 4 any
# other ``resolve``; -1 an unknown field).
_ATTR, _CALL_DEFAULT, _STRAWBERRY = 1, 2, 5


def version_problems() -> list[str]:
    """One line per distribution installed outside ``WRITTEN_AGAINST`` (none: all is well)."""
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    for name, (low, high) in WRITTEN_AGAINST.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            problems.append(f"{name} is not installed (the executor needs >={low},<{high})")
            continue
        if not _release(low) <= _release(installed) < _release(high):
            problems.append(
                f"{name} {installed} is installed, but hub/execution/strawberry_paths.py reads"
                f" its internals and was written against >={low},<{high}: read the wrappers"
                " again (see its docstring), then change WRITTEN_AGAINST and pyproject.toml"
                " together")
    return problems


def _release(text: str) -> tuple[int, ...]:
    """``"0.341.2"`` -> ``(0, 341, 2)``; a pre-release counts as its release."""
    match = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(p) for p in match.group().split(".")) if match else ()


def _strawberry_attribute(field_def: Any) -> tuple[int, Any, str] | None:
    """How to read a strawberry field that has no resolver, without its wrapper.

    Strawberry (``GraphQLCoreConverter.from_resolver``) gives a basic field
    (no resolver, no field extensions, no exception handler) the resolver
    ``_get_basic_result``, which returns ``field.get_result(source, info=None,
    args=[], kwargs={})``, i.e. ``field.default_resolver(source,
    field.python_name)`` (``getattr`` unless the schema config says otherwise).
    """
    resolve = field_def.resolve
    definition: Any = (field_def.extensions or {}).get(STRAWBERRY_DEFINITION)
    if resolve is None or definition is None:
        return None
    if getattr(resolve, "__name__", None) != "_get_basic_result" \
            or not getattr(resolve, "_is_default", False):
        return None
    closure = getattr(resolve, "__closure__", None) or ()
    if not any(_cell(c) is definition for c in closure):
        return None
    if getattr(definition, "base_resolver", True) is not None or getattr(definition, "extensions", True):
        return None
    try:
        from strawberry.types.field import StrawberryField
    except ImportError:  # pragma: no cover - strawberry made the field
        return None
    if type(definition).get_result is not StrawberryField.get_result:
        return None
    name = getattr(definition, "python_name", None)
    reader = getattr(definition, "default_resolver", None)
    if not isinstance(name, str) or reader is None:
        return None
    return (_ATTR if reader is getattr else _CALL_DEFAULT), reader, name


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


def _cells(fn: Any) -> dict[str, Any]:
    code = getattr(fn, "__code__", None)
    closure = getattr(fn, "__closure__", None) or ()
    if code is None or len(code.co_freevars) != len(closure):
        return {}
    return {name: _cell(c) for name, c in zip(code.co_freevars, closure)}


_RESOLVER_CELLS = frozenset(("_call_with_exception_handling", "_get_result_with_extensions",
                             "_strawberry_info_from_graphql", "field_exception_handlers"))


class _StrawberryCall:
    """A strawberry resolver, called as strawberry's wrapper calls it, minus the wrapper.

    For a field with a resolver, strawberry 0.341 (``from_resolver``) makes
    ``_resolver``/``_async_resolver``: build ``Info(_raw_info=info,
    _field=field)``, convert the arguments (``get_arguments`` ->
    ``convert_arguments``), add ``self``/``parent``/``root``/``info`` as the
    resolver's signature asks, run the field extensions' chain, and call
    ``field.get_result`` -> ``base_resolver(*args, **kwargs)``. With no field
    extension and no exception handler that chain is empty, so the same call
    can be made with one Info and one argument conversion per field and level.
    Recognised only when every piece is the one expected (closure cells,
    classes, methods); anything else is called through ``resolve``.
    """

    __slots__ = (
        "batch",
        "call",
        "config",
        "definition",
        "extra",
        "info_class",
        "info_name",
        "scalars",
        "self_param",
    )
    batch: Any
    call: Any
    config: Any
    definition: Any
    extra: tuple[str, ...]
    info_class: Any
    info_name: str | None
    scalars: Any
    self_param: bool

    @classmethod
    def detect(cls, field_def: Any) -> _StrawberryCall | None:
        try:
            from strawberry.types.field import StrawberryField
            from strawberry.types.fields.resolver import StrawberryResolver
        except ImportError:  # pragma: no cover - strawberry is a dependency
            return None
        resolve = field_def.resolve
        definition: Any = (field_def.extensions or {}).get(STRAWBERRY_DEFINITION)
        name = getattr(resolve, "__name__", None)
        if definition is None or name not in ("_resolver", "_async_resolver") \
                or not getattr(resolve, "__qualname__", "").endswith(f"from_resolver.<locals>.{name}"):
            return None
        cells = _cells(resolve)
        if set(cells) != _RESOLVER_CELLS or cells["field_exception_handlers"] != ():
            return None
        info_cells = _cells(cells["_strawberry_info_from_graphql"])
        ext_cells = _cells(cells["_get_result_with_extensions"])
        converter = info_cells.get("self")
        if info_cells.get("field") is not definition or ext_cells.get("field") is not definition \
                or ext_cells.get("self") is not converter or ext_cells.get("extension_functions") != []:
            return None
        assert definition is not None  # (the identity checks above narrowed it to the cells' type)
        if type(definition).get_result is not StrawberryField.get_result or definition.extensions:
            return None
        resolver = definition.base_resolver
        if resolver is None or type(resolver).__call__ is not StrawberryResolver.__call__:
            return None
        config = getattr(converter, "config", None)
        scalars = getattr(converter, "scalar_registry", None)
        info_class = getattr(config, "info_class", None)
        if config is None or scalars is None or info_class is None:
            return None
        out = cls()
        out.definition, out.config, out.scalars, out.info_class = definition, config, scalars, info_class
        func = resolver.wrapped_func  # what StrawberryResolver.__call__ calls
        out.call = func if callable(func) else resolver
        #: The resolver's form for a whole level (``hub.futures.per_level``), or None.
        out.batch = getattr(func, "__per_level__", None)
        out.self_param = resolver.self_parameter is not None
        out.extra = tuple(p.name for p in (resolver.parent_parameter, resolver.root_parameter)
                          if p is not None)
        out.info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
        return out

    def kwargs(self, raw: dict[str, Any], info: Any) -> dict[str, Any]:
        from strawberry.types.arguments import convert_arguments

        return convert_arguments(raw, self.definition.arguments, scalar_registry=self.scalars,
                                 config=self.config, info=info)

    def call_level(self, raw: dict[str, Any], info: Any, sources: list[Any]) -> Any:
        """The resolver's values for every source at once, from its form for a whole
        level (``batch``: called as ``batch(sources, **kwargs)``, it gives one value per
        source); None when it has none or its arguments differ per source (then
        ``call_each``). The values are a list, or what stands for one (``hub.futures.LoadEach``,
        one value per source)."""
        batch = self.batch
        if batch is None or not self.self_param or self.extra:
            return None
        sinfo = self.info_class(_raw_info=info, _field=self.definition)
        try:
            kwargs = self.kwargs(raw, sinfo)
        except Exception as err:  # noqa: BLE001 - the same error for every item
            return [err] * len(sources)
        if not all(_immutable(v) for v in kwargs.values()):
            return None
        if self.info_name is not None:
            kwargs[self.info_name] = sinfo
        try:
            values = batch(sources, **kwargs)
            if len(values) != len(sources):
                raise TypeError(f"{self.definition.name}'s per-level resolver gave {len(values)} "
                                f"values for {len(sources)} objects")
        except Exception as err:  # noqa: BLE001 - a field error for every item
            return [err] * len(sources)
        return values

    def call_each(self, raw: dict[str, Any], info: Any, sources: list[Any],
                  append: Callable[[Any], None]) -> None:
        """Call the resolver for every source, with the field's raw arguments
        ``raw`` and graphql-core's ``info``: ``append`` its value or its error."""
        sinfo = self.info_class(_raw_info=info, _field=self.definition)
        call = self.call
        try:
            kwargs = self.kwargs(raw, sinfo)
        except Exception as err:  # noqa: BLE001 - the same error for every item
            for _ in sources:
                append(err)
            return
        shared = all(_immutable(v) for v in kwargs.values())
        if self.info_name is not None:
            kwargs[self.info_name] = sinfo
        if shared and not self.extra:
            if self.self_param:
                for s in sources:
                    try:
                        append(call(s, **kwargs))
                    except Exception as err:  # noqa: BLE001
                        append(err)
            else:
                for _s in sources:
                    try:
                        append(call(**kwargs))
                    except Exception as err:  # noqa: BLE001
                        append(err)
            return
        first: dict[str, Any] | None = kwargs
        for s in sources:
            try:
                if shared:
                    kw = dict(kwargs)
                elif first is not None:  # the conversion made above, for the first item
                    kw, first = first, None
                else:
                    kw = self.kwargs(raw, sinfo)
                if self.info_name is not None:
                    kw[self.info_name] = sinfo
                for name in self.extra:
                    kw[name] = s
                append(call(s, **kw) if self.self_param else call(**kw))
            except Exception as err:  # noqa: BLE001
                append(err)


def _immutable(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool) or isinstance(value, Enum)
