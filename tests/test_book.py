"""hts_lib.book.glue (module hts_lib.book.prose): numbers for the prose."""

import numpy as np
import pytest

from hts_lib.book import glue


def test_glue_returns_value_and_unwraps_numpy_scalars(capsys):
    assert glue("x_float", 1.5) == 1.5
    out = glue("x_numpy", np.float64(2.25))
    assert type(out) is float and out == 2.25
    assert type(glue("x_int", np.int64(3))) is int


def test_glue_rejects_bad_names():
    with pytest.raises(ValueError, match="name must be an identifier"):
        glue("not a name", 1)
