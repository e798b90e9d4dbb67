"""`Record`: the base of fastscp's data classes, in place of `dataclasses`.

`dataclasses` costs start-up time, which ``--inetd`` pays per association:
the module itself (it imports `inspect`, hence `ast`, `dis`, `tokenize`...)
and the source it generates and compiles for every class (together about
40 ms for the 20 classes the command line used).  A Record subclass is
declared as a dataclass is (annotated fields, defaults, ``field(default_factory=...)``;
``class X(Record, frozen=True)`` for ``@dataclass(frozen=True)``) and
behaves as one: an ``__init__`` taking the fields in order or by name (the
generic one here, or the class's own), ``==`` and ``repr`` over the fields,
hashable when frozen, assignment refused when frozen.  Type checkers see a
dataclass (PEP 681), and `dataclasses.fields`, `replace`, `asdict` work on
records: their ``__dataclass_fields__`` is made (by `dataclasses`) the
first time something asks for it.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, ClassVar, Dict, Tuple, TypeVar

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:                       # only type checkers read it; they know it under any Python
    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda cls: cls

_T = TypeVar("_T")


class _Factory:
    """A default made afresh for each instance."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is ``default_factory()``, called per instance
    (as `dataclasses.field`; the only use fastscp has for it)."""
    return _Factory(default_factory)  # type: ignore[return-value]


class _DataclassFields:
    """``__dataclass_fields__``, made on first use: the fields of a
    dataclass `dataclasses.make_dataclass` builds with the same names,
    annotations and defaults, so `dataclasses.fields`, `replace` and
    `asdict` work (``replace`` calls the record's own class)."""

    def __get__(self, instance: object, owner: "type[Record]") -> Dict[str, Any]:
        import dataclasses
        spec = []
        for name in owner._fields:
            if name in owner._factories:
                default: Any = dataclasses.field(default_factory=owner._factories[name])
            else:
                default = getattr(owner, name, dataclasses.MISSING)
                if default is not dataclasses.MISSING:
                    default = dataclasses.field(default=default)
            spec.append((name, owner._types[name], default) if default is not dataclasses.MISSING
                        else (name, owner._types[name]))
        shadow = dataclasses.make_dataclass(owner.__name__, spec, init=False, repr=False, eq=False,
                                            frozen=owner._frozen)
        fields: Dict[str, Any] = shadow.__dataclass_fields__  # type: ignore[attr-defined]
        type.__setattr__(owner, "__dataclass_fields__", fields)
        return fields


_MISSING = object()


@dataclass_transform(field_specifiers=(field,))
class Record:
    """The base class; see the module's description."""

    #: the fields in declaration order, those without a default, the
    #: default factories, the annotations (text), frozen or not
    _fields: ClassVar[Tuple[str, ...]] = ()
    _required: ClassVar[frozenset[str]] = frozenset()
    _factories: ClassVar[Dict[str, Callable[[], Any]]] = {}
    _types: ClassVar[Dict[str, str]] = {}
    _frozen: ClassVar[bool] = False

    def __init_subclass__(cls, frozen: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        types: Dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            for name, annotation in klass.__dict__.get("__annotations__", {}).items():
                if not str(annotation).startswith(("ClassVar", "typing.ClassVar")):
                    types[name] = str(annotation)
        cls._types = types
        cls._fields = tuple(types)
        cls._factories = {}
        for klass in reversed(cls.__mro__[1:]):           # the bases' factories
            cls._factories.update(klass.__dict__.get("_factories", {}))
        for name in cls._fields:
            default = cls.__dict__.get(name)
            if isinstance(default, _Factory):
                cls._factories[name] = default.make
                delattr(cls, name)
        cls._required = frozenset(n for n in cls._fields
                                  if n not in cls._factories and getattr(cls, n, _MISSING) is _MISSING)
        cls._frozen = frozen
        if frozen:
            cls.__setattr__ = Record._refuse_assignment  # type: ignore[method-assign,assignment]
            cls.__delattr__ = Record._refuse_assignment  # type: ignore[method-assign,assignment]
            cls.__hash__ = Record._hash  # type: ignore[method-assign,assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        fields = cls._fields
        if len(args) > len(fields):
            raise TypeError("%s() takes %d positional arguments but %d were given"
                            % (cls.__name__, len(fields), len(args)))
        values = self.__dict__
        for name, value in zip(fields, args):
            values[name] = value
        for name, value in kwargs.items():
            if name in values or name not in cls._types:
                raise TypeError("%s() got %s argument %r" % (
                    cls.__name__, "multiple values for" if name in values else "an unexpected keyword",
                    name))
            values[name] = value
        for name, make in cls._factories.items():
            if name not in values:
                values[name] = make()
        if len(values) < len(cls._required) or not cls._required.issubset(values):
            missing = [n for n in fields if n in cls._required and n not in values]
            raise TypeError("%s() missing required argument%s: %s" % (
                cls.__name__, "s" if len(missing) > 1 else "", ", ".join(map(repr, missing))))

    def _values(self) -> Tuple[Any, ...]:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    # as a dataclass: mutable records are not hashable, frozen ones are
    __hash__ = None  # type: ignore[assignment]

    def _hash(self) -> int:
        return hash(self._values())

    def _refuse_assignment(self, name: str, *value: object) -> None:
        raise AttributeError("cannot assign to field %r" % name)

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__qualname__,
                           ", ".join("%s=%r" % (name, getattr(self, name)) for name in self._fields))

    __dataclass_fields__: ClassVar[Dict[str, Any]] = _DataclassFields()  # type: ignore[assignment]
