"""The engine: the controlled event loop and everything a single run needs.

Lives here: the loop (`loop`, the only module that touches asyncio's private
attributes), one run's `execution`, `schedule` encoding, the virtual `clock`, `trace`
observers, the blocked-loop `watchdog`, thread quiescence (`threads`), the default
`executor`, and the `strategies` that choose at each decision.

May import: the standard library and simharness's foundations (`errors`, `outcome`,
`scenario`). Never the world, explore, integrations, or anything above: the world
plugs in through `seam`.
"""
