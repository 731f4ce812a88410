"""A producer process for the tests: ``python -m tests.distributed.producer_main URL QUEUE JSON``.

JSON is a list of ``[url, priority]``; each is submitted fire-and-forget,
a few milliseconds apart (so two producers interleave); prints the ids.
"""

from __future__ import annotations

import json
import sys
import time

from netstack import RedisQueue, Scheduler


def main() -> None:
    url, name, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    ids = []
    with Scheduler(queue=RedisQueue(url, name, want_results=False)) as scheduler:
        for target, priority in spec:
            ids.append(scheduler.submit(target, {"priority": priority}).request_id)
            time.sleep(0.002)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
