"""Floor 4, the renderers: every sentence a person reads (``phrases``), and every
output format (``outputs``: the terminal text, the PR comment, the comparison
JSON, the HTML page in ``html/``), drawn from one :class:`~..ci.verdict.RunReport`.
"""
