"""Targets: the float functions pwlgen approximates (built-ins and grammar expressions)."""

from .registry import BUILTINS, builtin_names, get_target
from .target import Asymptote, Target, target_from_torch

__all__ = ["Asymptote", "Target", "BUILTINS", "builtin_names", "get_target", "target_from_torch"]
