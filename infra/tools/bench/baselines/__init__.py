"""Hand-written boto3-only handlers, one per function: the yardstick of `make bench`.

Each makes the same AWS calls as its function for the bench's events (a unit test records
and compares them), with the least code that does: clients created at import, the
environment read directly, no validation library, no framework. They are not examples to
copy: they skip everything the real functions do for safety (request validation, problem
answers, idempotency races, partial-batch semantics beyond the happy path).
"""
