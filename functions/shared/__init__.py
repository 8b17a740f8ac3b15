"""Cross-cutting concerns of every function: observability, settings, AWS clients, messages."""
