"""Floor 2, the budgets: the ``budget`` marker, the ``[tool.convbudget]`` table,
which limit applies to a measurement, and a measurement against its limits.
"""
