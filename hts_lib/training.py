"""Deprecated alias of :mod:`hts_lib.nn.training` (removed in hts_lib 0.3)."""

from hts_lib._deprecated import alias

__getattr__, __dir__ = alias(__name__)
