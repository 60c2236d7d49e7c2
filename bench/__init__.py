"""Benchmarks: what a deploy and a smoke run cost, beside Ansible (docs/benchmarks.md)."""
