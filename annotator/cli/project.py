"""Placeholder until this stage's commands land."""
