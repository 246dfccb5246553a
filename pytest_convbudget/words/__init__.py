"""Floor 0, the shared words: figures and their labels, device and kind names, the
cost model's version, the error classes a user can cause, and quantities.

Imports nothing of ours, and nothing heavy: every other floor may read it,
the plugin at start-up included.
"""
