"""The CDK app, built entirely from `infra.topology`: `python -m infra.cdk.app` synthesizes it."""
