"""Exploration: many runs of a scenario, and what is made of them.

Lives here: the `runner` (explore and replay), `shrink`ing a failure, the failure
`store`, the `explain`ation of a failure against the default order, the `determinism`
check, `serialize` (results to JSON), and reusable `oracles`.

May import: the world, the engine and the foundations. Never integrations, stress,
report or cli.
"""
