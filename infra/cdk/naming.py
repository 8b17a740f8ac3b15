"""Construct ids derived from topology names, so a name is written once."""


def construct_id(name: str) -> str:
    """`order-api` -> `OrderApi`: a CloudFormation-friendly id for a topology name."""
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))
