"""The peer harness's parts: data sets and fixed splits (data), tools (tools, runner), scores
(metrics) and the markdown table (report). The entry point is benchmarks/peer_harness.py."""
