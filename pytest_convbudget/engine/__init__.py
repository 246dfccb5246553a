"""Floor 1, the engine: what a model costs.

Formulas (pure integer functions of shapes), the registry of op kinds, the
watchers that see a forward run (module hooks and a ``TorchFunctionMode``),
the profiler that drives them, and the results it returns. The only floor
that imports torch; this ``__init__`` imports nothing, so the torch-free
modules here (``results``, ``kinds``, ``formulas``) load without it.
"""
