"""The request's closed choices (method, backend, device, precision, units), each checked once, when the
request is built (:func:`choose`); everywhere after that they are members of these enums."""
from __future__ import annotations

from enum import Enum
from typing import Type, TypeVar

from .errors import OptionError


class Choice(str, Enum):
    """A closed set of option values; equal to (and printed as) its string value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Method(Choice):
    MODEL = "model"
    OTSU = "otsu"


class Backend(Choice):
    ONNX = "onnx"
    TORCH = "torch"


class Device(Choice):
    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Precision(Choice):
    """Which bundled model runs when the request names none: ``auto`` = int8 for ONNX Runtime on the CPU."""

    AUTO = "auto"
    FP32 = "fp32"
    INT8 = "int8"


class Units(Choice):
    AUTO = "auto"
    DB = "db"
    LINEAR = "linear"
    AMPLITUDE = "amplitude"


C = TypeVar("C", bound=Choice)


def values(kind: Type[Choice]) -> tuple[str, ...]:
    """The string values of a choice, in order (for argument parsers and QGIS enums)."""
    return tuple(member.value for member in kind)


def choose(kind: Type[C], option: str, value: object) -> C:
    """``value`` as a member of ``kind``; OptionError naming ``option`` when it is not one."""
    try:
        return kind(value)
    except ValueError:
        choices = " or ".join(f"{{{option}={v}}}" for v in values(kind))
        raise OptionError(option, value, f"unknown {{{option}}} {value!r}", f"use {choices}") from None
