"""The child program of the slug-collision scenario: one flow run (`im2be-qa-rig run`).

Usage: python _slug_flow.py FLOW_ID SPEC_NAME OUTPUT_DIR

It writes OUTPUT_DIR/run-FLOW_ID/report.json (the flow's report, naming the flow) and
prints one line to stdout, as the real flow runner writes its run folder and logs.
Standard library only, so it can run with `python -I -S` (fast start-up).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    flow_id, spec_name, output_dir = argv
    run_dir = Path(output_dir) / f"run-{flow_id}"
    run_dir.mkdir(parents=True, exist_ok=True)
    report = {"flow_id": int(flow_id), "spec": spec_name, "passed": True}
    (run_dir / "report.json").write_text(json.dumps(report), encoding="utf-8")
    print(f"flow {flow_id} ({spec_name}) finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
