"""Exports of the inventory to other systems (Kubernetes)."""
