"""Deprecated alias of :mod:`hts_lib.book.student` (removed in hts_lib 0.3)."""

from hts_lib._deprecated import alias

__getattr__, __dir__ = alias(__name__)

if __name__ == "__main__":
    import sys

    from hts_lib.book.student import main

    sys.exit(main())
