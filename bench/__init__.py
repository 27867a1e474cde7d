"""Benchmarks, run as scripts (`make bench`); `procs` starts the real processes they and the stack tests use."""
