"""The execution environment's init, as the garbage collector sees it.

Init allocates tens of thousands of objects that live as long as the environment (modules,
classes, models, clients). Collections triggered during the imports walk them again and again
and free next to nothing, and every full collection after init walks them once more. So a
component's package pauses collection for init (only in an execution environment: Lambda and
the local runtime set AWS_LAMBDA_FUNCTION_NAME; tests and tools are left alone), and the first
invocation moves everything init built to the permanent generation (`gc.freeze()`) and turns
collection back on. Init's own garbage is a few cycles, kept rather than paying a full
collection on the first invocation. See docs/performance.md.
"""

from __future__ import annotations

import gc
import os

_state = {"paused": False, "done": False}


def pause_collection_for_init() -> None:
    """Called first thing in a component's package: no collection until init is done."""
    if "AWS_LAMBDA_FUNCTION_NAME" in os.environ and gc.isenabled() and not _state["done"]:
        gc.disable()
        _state["paused"] = True


def init_done() -> None:
    """Called by every invocation (only the first does anything): freeze, collect again."""
    if _state["done"]:
        return
    _state["done"] = True
    gc.freeze()
    if _state["paused"]:
        gc.enable()
