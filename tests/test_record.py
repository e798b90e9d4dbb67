"""fastscp.record.Record: the data classes behave as the dataclasses they replace."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Dict, List, Optional

import pytest

from fastscp import AssociationInfo, ServerConfig
from fastscp.record import Record, field


class Point(Record):
    x: int
    y: int = 0
    tags: List[str] = field(default_factory=list)


class Frozen(Record, frozen=True):
    name: str
    size: Optional[int] = None


def test_init_positional_keyword_and_defaults():
    p = Point(1)
    assert (p.x, p.y, p.tags) == (1, 0, [])
    assert Point(1, 2, ["a"]).tags == ["a"] and Point(y=3, x=4).x == 4
    assert Point(1).tags is not Point(1).tags          # a fresh default per instance


@pytest.mark.parametrize("args, kwargs, message", [
    ((), {}, "missing required argument: 'x'"),
    ((1, 2, [], 4), {}, "takes 3 positional arguments but 4 were given"),
    ((1,), {"x": 2}, "multiple values for argument 'x'"),
    ((1,), {"z": 2}, "unexpected keyword argument 'z'"),
])
def test_init_refuses_what_a_dataclass_refuses(args, kwargs, message):
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_eq_repr_hash():
    assert Point(1, 2) == Point(1, 2) and Point(1, 2) != Point(2, 1)
    assert Point(1) != Frozen("a") and Point(1) != (1, 0, [])
    assert repr(Point(1, tags=["t"])) == "Point(x=1, y=0, tags=['t'])"
    with pytest.raises(TypeError):
        hash(Point(1))                                  # mutable: unhashable, as a dataclass
    assert hash(Frozen("a", 1)) == hash(Frozen("a", 1)) and len({Frozen("a"), Frozen("a")}) == 1


def test_frozen_refuses_assignment():
    f = Frozen("a")
    with pytest.raises(AttributeError):
        f.name = "b"
    with pytest.raises(AttributeError):
        del f.size
    p = Point(1)
    p.y = 5
    assert p.y == 5


def test_dataclasses_functions_work():
    assert dataclasses.is_dataclass(Point) and dataclasses.is_dataclass(Point(1))
    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y", "tags"]
    assert [f.name for f in dataclasses.fields(Frozen("a"))] == ["name", "size"]
    assert dataclasses.replace(Point(1, 2), y=7) == Point(1, 7)
    assert dataclasses.asdict(Frozen("a", 3)) == {"name": "a", "size": 3}
    changed = dataclasses.replace(Frozen("a"), size=2)
    assert type(changed) is Frozen and changed.size == 2


def test_public_records_keep_their_api():
    config = ServerConfig(port=11112, ae_title="X")
    assert config.port == 11112 and config.max_pdu == 16384
    assert config == ServerConfig(port=11112, ae_title="X") and config != ServerConfig()
    assert dataclasses.replace(config, port=1).port == 1
    assert "output_directory" in {f.name for f in dataclasses.fields(ServerConfig)}
    info = AssociationInfo("A", "B", "127.0.0.1", 104)
    assert info.peer_host_name == "" and dataclasses.asdict(info)["calling_ae_title"] == "A"
    with pytest.raises(AttributeError):
        info.peer_port = 1                              # type: ignore[misc]
    assert pickle.loads(pickle.dumps(info)) == info and copy.deepcopy(config) == config


def test_inherited_fields_come_first():
    class Point3(Point):
        z: Dict[str, int] = field(default_factory=dict)

    p = Point3(1, 2, [], {"a": 1})
    assert (p.x, p.y, p.z) == (1, 2, {"a": 1}) and "Point3(x=1, y=2, tags=[], z=" in repr(p)
    assert Point3(1).tags == [] and Point3(1).z == {}
    assert dataclasses.replace(Point3(1, 2), x=3) == Point3(3, 2)
