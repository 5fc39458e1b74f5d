"""Integrations with the tools users already run: the pytest plugin and Hypothesis.

May import: explore, the world, the engine and the foundations. Never stress,
report or cli.
"""
