"""hts_lib: the tested library behind *The Heavy-Tail Phenomenon in SGD*, an executable textbook.

Modules are named for the idea they hold; the theory modules need only numpy and scipy,
the deep-learning modules (``nets``, ``training``, ``data``, ``experiments``) import torch lazily.
"""

__version__ = "0.1.0"
