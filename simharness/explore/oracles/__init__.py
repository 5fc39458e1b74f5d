"""Reusable oracles: identical output under every schedule, parallel equals sequential.

May import: explore, the world, the engine and the foundations.
"""
