"""`make bench`: what each function costs as Lambda bills it, against a hand-written boto3
handler making the same AWS calls (baselines/), and what the queue does for the API under a
burst (load.py). See docs/performance.md."""
