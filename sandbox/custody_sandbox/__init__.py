"""Local stand-ins for the chains the engine talks to (development and tests only)."""
