"""pytest configuration: the deprecated 0.1 module aliases are not collected for doctests."""

from hts_lib._deprecated import MOVED

collect_ignore = [name.replace(".", "/") + ".py" for name in MOVED if name != "hts_lib.checks"]
collect_ignore.append("hts_lib/checks")
