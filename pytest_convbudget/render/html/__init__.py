"""The HTML page: ``view`` turns a run report into plain data, ``page`` draws it
with the template, style and script beside it. Loaded only when a page is asked for.
"""
