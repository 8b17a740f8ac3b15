"""Moved to infra.tools.ops; this name stays until infra/local imports the state file from there."""

from infra.tools.ops import DEFAULT_STATE_FILE as DEFAULT_STATE_FILE
