"""Publishing a workflow's stage to operators (search attribute ``CustodyStage``) and to queries.

A workflow upserts search attributes only when its start request carried them: the API and the
schedules always do, while the time-skipping test server (which cannot register custom search
attributes, docs/DESIGN.md §8) starts workflows without them. An unregistered key would otherwise make the
workflow task retry forever.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes as sa


def publish_stage(stage: str) -> None:
    """Set ``CustodyStage`` (when registered at start) and the UI's current details line."""
    if workflow.info().typed_search_attributes.get(sa.STAGE) is not None:
        workflow.upsert_search_attributes([sa.STAGE.value_set(stage)])
    workflow.set_current_details(f"stage: {stage}")
