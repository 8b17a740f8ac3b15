"""Infrastructure: the topology, the CDK app built from it, and the local runtime built from it."""
