"""The order domain: plain functions over Pydantic models, no Lambda events and no HTTP."""

from shared.lifecycle import pause_collection_for_init

pause_collection_for_init()  # first, before the handlers' imports: see shared.lifecycle
