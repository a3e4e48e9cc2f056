"""snowbench: snowsync's throughput, memory and cold-start benchmark on the local stack.

Run it through scripts/bench (`python -m snowbench`, __main__.py); the phases and figures are
described in the README's "Benchmark" section.
"""
