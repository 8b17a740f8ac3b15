"""The local runtime: the topology on moto, with Lambda-like functions and event source mappings."""
