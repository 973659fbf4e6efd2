from . import assigners, match_costs  # noqa: F401
