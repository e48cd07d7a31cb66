"""The book's glue: glued numbers, the figure style, answer checks, the student edition.

Modules:

- ``prose``: ``glue``, numbers computed in a chapter and quoted in its prose.
- ``plotting``: the book's figure style and plots.
- ``checks``: answer checks for the coding exercises.
- ``student``: the student edition (solutions removed).
- ``grading``: ``hts-grade``, grading a class's submitted notebooks with the answer checks.
"""

from hts_lib.book.checks import check, exercises
from hts_lib.book.plotting import (  # noqa: F401
    PALETTE,
    animation_html,
    hill_plot,
    pareto_qq_plot,
    plot_moment_function,
    plot_moment_paths,
    plot_phase_diagram,
    plot_protocol_table,
    plot_survival,
    plot_tail_index_curves,
    plot_tail_index_sweep,
    reference_slope,
    survival_fit_plot,
    survival_function,
    use_book_style,
)
from hts_lib.book.prose import (  # noqa: F401
    glue,
)

__all__ = [
    'glue',
    'PALETTE',
    'use_book_style',
    'survival_function',
    'plot_survival',
    'hill_plot',
    'survival_fit_plot',
    'plot_protocol_table',
    'plot_tail_index_sweep',
    'pareto_qq_plot',
    'plot_phase_diagram',
    'plot_tail_index_curves',
    'plot_moment_function',
    'plot_moment_paths',
    'reference_slope',
    'animation_html',
    'check',
    'exercises',
]
