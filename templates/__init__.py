"""Jinja2 templates of the run scripts and service files (package data of tgi_infra)."""
