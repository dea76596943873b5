"""A stand-in for Pyroscope's push endpoint that decodes what the real client sends.

Pyroscope itself cannot run here. The ``pyroscope-io`` client (1.4.0) POSTs
``/push.v1.PusherService/Push`` (Connect, ``application/proto``, ``Content-Encoding: gzip``):
a ``push.v1.PushRequest`` whose series carry the profile's labels (``__name__``,
``service_name``, the configured tags) and one ``RawSample`` each, a pprof ``Profile``. This
module decodes both with a protobuf wire-format reader and the field numbers of Pyroscope's
``push.proto``/``types.proto`` and pprof's ``profile.proto``, so a test sees stacks and labels,
not bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.receiver import RecordingServer, Reply, Request

PUSH_PATH = "/push.v1.PusherService/Push"
#: The profile type the Python client pushes, as Grafana's Pyroscope datasource names it
#: (``__name__:sample type:unit:period type:unit``): what traces-to-profiles must ask for.
CPU_PROFILE_TYPE = "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

Field = tuple[int, int | bytes]


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _fields(data: bytes) -> Iterator[Field]:
    """(field number, value) of one message: an int for varints, bytes otherwise."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise ValueError(f"protobuf wire type {wire} is not used by these messages")
        yield number, value


def _bytes(values: list[Field], number: int) -> list[bytes]:
    return [v for n, v in values if n == number and isinstance(v, bytes)]


def _int(values: list[Field], number: int) -> int:
    return next((v for n, v in values if n == number and isinstance(v, int)), 0)


def _ints(values: list[Field], number: int) -> list[int]:
    """A repeated integer field, packed (proto3's default) or not."""
    out: list[int] = []
    for n, v in values:
        if n != number:
            continue
        if isinstance(v, int):
            out.append(v)
            continue
        at = 0
        while at < len(v):
            item, at = _varint(v, at)
            out.append(item)
    return out


@dataclass(frozen=True)
class Frame:
    function: str
    filename: str
    line: int


@dataclass(frozen=True)
class Sample:
    frames: tuple[Frame, ...]  # leaf first, as pprof orders locations
    value: int
    labels: dict[str, str]


@dataclass(frozen=True)
class Profile:
    sample_type: tuple[str, str]  # (type, unit)
    period_type: tuple[str, str]
    period: int
    samples: tuple[Sample, ...]


def decode_pprof(data: bytes) -> Profile:
    """A pprof ``Profile`` (profile.proto) with locations and strings resolved."""
    values = list(_fields(data))
    strings = [s.decode() for s in _bytes(values, 6)]
    functions: dict[int, tuple[str, str]] = {}
    for raw in _bytes(values, 5):
        f = list(_fields(raw))
        functions[_int(f, 1)] = (strings[_int(f, 2)], strings[_int(f, 4)])
    locations: dict[int, list[Frame]] = {}
    for raw in _bytes(values, 4):
        loc = list(_fields(raw))
        lines = []
        for line_raw in _bytes(loc, 4):
            line = list(_fields(line_raw))
            name, filename = functions[_int(line, 1)]
            lines.append(Frame(name, filename, _int(line, 2)))
        locations[_int(loc, 1)] = lines
    samples = []
    for raw in _bytes(values, 2):
        s = list(_fields(raw))
        labels = {}
        for label_raw in _bytes(s, 3):
            label = list(_fields(label_raw))
            labels[strings[_int(label, 1)]] = strings[_int(label, 2)]
        stack = tuple(frame for loc in _ints(s, 1) for frame in locations[loc])
        samples.append(Sample(stack, sum(_ints(s, 2)), labels))

    def value_type(raw: bytes) -> tuple[str, str]:
        pair = list(_fields(raw))
        return strings[_int(pair, 1)], strings[_int(pair, 2)]

    return Profile(
        sample_type=value_type(_bytes(values, 1)[0]),
        period_type=value_type(_bytes(values, 11)[0]),
        period=_int(values, 12),
        samples=tuple(samples),
    )


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    profiles: tuple[Profile, ...]

    def profile_types(self) -> set[str]:
        """Each profile's type id as Grafana names it (see ``CPU_PROFILE_TYPE``)."""
        return {
            ":".join((self.labels["__name__"], *p.sample_type, *p.period_type))
            for p in self.profiles
        }


def decode_push(body: bytes) -> list[Series]:
    """A ``push.v1.PushRequest`` (gzip-compressed, as the client sends it)."""
    series = []
    for raw in _bytes(list(_fields(gzip.decompress(body))), 1):
        s = list(_fields(raw))
        labels = {}
        for pair_raw in _bytes(s, 1):
            pair = list(_fields(pair_raw))
            labels[_bytes(pair, 1)[0].decode()] = _bytes(pair, 2)[0].decode()
        profiles = tuple(decode_pprof(_bytes(list(_fields(r)), 1)[0]) for r in _bytes(s, 2))
        series.append(Series(labels, profiles))
    return series


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    series: list[Series]


class PyroscopeStandIn(RecordingServer):
    """Accepts pushes like Pyroscope's HTTP port (4040) and keeps them decoded."""

    def __init__(self) -> None:
        super().__init__()
        self.pushes: list[Push] = []

    def handle(self, request: Request) -> Reply:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.pushes.append(Push(request.path, headers, decode_push(request.body)))
        return Reply(200, {"content-type": "application/proto"})

    @property
    def url(self) -> str:
        return self.base_url

    def series(self, service_name: str) -> list[Series]:
        with self.lock:
            return [
                s
                for p in self.pushes
                for s in p.series
                if s.labels.get("service_name") == service_name
            ]

    def samples(self, service_name: str) -> list[tuple[Series, Sample]]:
        return [
            (s, sample)
            for s in self.series(service_name)
            for profile in s.profiles
            for sample in profile.samples
        ]
