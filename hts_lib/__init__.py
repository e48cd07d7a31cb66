"""hts_lib: the tested library behind *The Heavy-Tail Phenomenon in SGD*, an executable textbook.

The module map (each subpackage's ``__init__`` lists its public API):

- ``hts_lib.recursion``: exact and Monte Carlo theory of random linear recursions: the scalar Kesten
  recursion, one-dimensional SGD, the exact engine for Gaussian data, Monte Carlo h(s) and rho, bounds,
  finite data sets.
- ``hts_lib.simulate``: the batched chain engine, online and offline SGD, the paper's synthetic protocol.
- ``hts_lib.tails``: tail-index estimators and laws with known tails.
- ``hts_lib.nn``: data, networks, training, sharpness and the experiment runner (the only part that
  imports torch).
- ``hts_lib.book``: glued numbers, the figure style, answer checks, the student edition.
- ``hts_lib.validation``: the argument checks every public function uses.

``import hts_lib`` imports none of them. The flat module names of hts_lib 0.1 (``hts_lib.theory``,
``hts_lib.kesten``, ``hts_lib.checks``, ...) still work through deprecated aliases until 0.3.
"""

__version__ = "0.2.0"
