"""The service layer: what the API does for a request, framework-free.

Each module is one area (``deposits``, ``withdrawals``, ``kyc``, ``payouts``, ``operations``,
``reserves``, ``system``, ``tokens``). A service takes typed inputs (a database session, the
process's :class:`services.state.AppState`, the acting user and plain values), returns results
and raises :class:`domain.errors.DomainError` subclasses whose ``code`` ``api/errors.py`` turns
into a status. Services never import FastAPI or ``api``.

Every operation follows one order: **record, commit, then start** its workflow. Workflow ids
are deterministic and a start reuses a running workflow (:mod:`services.temporal_gateway`), so a
start that fails after the commit is repeated safely by a retry of the same request.
"""
