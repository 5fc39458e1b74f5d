"""The real execution backend: scenario variants on the stock asyncio loop or uvloop.

`execute.run_copies` runs copies of a variant at once on a fresh real loop with a
`RealRunContext` per copy; `worker` is the process the stress supervisor drives;
`leaks` checks what a run left behind; `loopwatch` catches a blocked real loop.
"""
