"""Reference data shipped with the engine (read with :mod:`importlib.resources`)."""
