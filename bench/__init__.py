"""Benchmarks: what a deploy and a smoke run cost, side by side with Ansible (see docs/benchmarks.md)."""
