"""The order domain: plain functions over Pydantic models, no Lambda events and no HTTP."""
