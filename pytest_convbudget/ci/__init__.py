"""Floor 3, the CI gate's data: run files and baselines, the comparison of two
runs, the one verdict (:class:`~.verdict.RunReport`) every format renders, and
whether a run covered the whole suite.
"""
