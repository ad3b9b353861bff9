"""Local Esplora stand-in over an in-memory regtest chain (``custody sandbox bitcoin``)."""

from custody_sandbox.esplora.app import create_app, serve

__all__ = ["create_app", "serve"]
