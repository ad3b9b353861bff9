"""What crosses a process boundary, in one place (docs/DESIGN.md §2).

The API, the workers, the workflows and the activities all speak through this package: workflow
ids (:mod:`contracts.workflow_ids`), the input and output dataclasses of every workflow and
activity, activity names with typed stubs (call targets for ``workflow.execute_activity``),
signal/update/query names, and typed starters (:mod:`contracts.starters`).

Only pure code lives here: it imports ``domain/`` and Temporal's types, never ``db``, ``chains``,
``activities``, ``workflows`` or ``api``, so workflow sandboxes can import it passed through.
"""
