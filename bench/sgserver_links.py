"""How long the local tracker takes to create many shots in one sequence in one batch, now that each shot's
`sg_sequence` is mirrored in the sequence's `shots` (a write of the sequence and a change event per shot).

    .venv/bin/python bench/sgserver_links.py [--shots 620] [--runs 3]

Runs the batch in-process (the service, no HTTP) on a fresh server each run and prints the median wall time
with the load average; compare against a checkout before the paired links on the same machine, back to back.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from integrations.trackers.sgserver import start_in_thread

USER = {"type": "ApiUser", "id": 1}


def _one_run(shots: int) -> float:
    with tempfile.TemporaryDirectory() as home:
        server = start_in_thread(Path(home) / "sg", "bench", "bench-key")
        try:
            service = server.service
            project = service.create(USER, "Project", [{"field_name": "name", "value": "B"}], [], server.url)
            link = {"type": "Project", "id": project["id"]}
            fields = [{"field_name": "code", "value": "SQ"}, {"field_name": "project", "value": link}]
            sequence = service.create(USER, "Sequence", fields, [], server.url)
            calls = [
                {
                    "request_type": "create",
                    "type": "Shot",
                    "fields": [
                        {"field_name": "code", "value": f"SH{n:04d}"},
                        {"field_name": "project", "value": link},
                        {"field_name": "sg_sequence", "value": {"type": "Sequence", "id": sequence["id"]}},
                    ],
                }
                for n in range(shots)
            ]
            started = time.perf_counter()
            service.batch(USER, calls, server.url)
            return time.perf_counter() - started
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=620)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    before = os.getloadavg()[0]
    times = [_one_run(args.shots) for _ in range(args.runs)]
    print(
        f"batch of {args.shots} shots into one sequence: median {statistics.median(times):.2f} s "
        f"over {args.runs} runs (load {before:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )


if __name__ == "__main__":
    main()
