"""Infrastructure tests synthesize the CDK app; no AWS account or network is involved."""

import os

# jsii prints a large end-of-life banner for Node 20 on import unless this is set.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
