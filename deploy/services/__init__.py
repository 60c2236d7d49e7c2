"""The inference services: render, install, start, swap and wait for each engine's container on a
host."""
