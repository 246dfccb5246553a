"""Helpers of tests/test_docs.py: the documents' shown outputs, run and compared."""
