#!/usr/bin/env python3
"""Where a cold start's first run goes, with the pre-warm pool on or off.

Starts `wow-runtime` (a private artifact cache), then makes N cold starts one after another, as
the cold-start experiment does at 1 concurrent: a new sandbox, `/init` shipping MODULE, its first
`/run`. Every request asks for the executor's step timing (`x-wow-trace-timing: 1`); the script
prints the median of each `/run` step (`Server-Timing`) and of the client's own round trips,
leaving out the first ten cold starts (they are slower while the machine warms up).

    scripts/cold-start-steps.py target/release/wow-runtime target/artifacts/wasm32-wasip1/noop.wasm 300 true
    scripts/cold-start-steps.py target/release/wow-runtime target/artifacts/wasm32-wasip1/noop.wasm 300 false

An optional fifth argument is the runs' parameters as JSON (default `{}`).
"""

import base64
import collections
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SKIP = 10


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    runtime, module, n, prewarm = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    params = json.loads(sys.argv[5]) if len(sys.argv) == 6 else {}
    if n <= SKIP:
        sys.exit(f"N must be above {SKIP}: the first {SKIP} cold starts are left out")
    code = base64.b64encode(open(module, "rb").read()).decode()
    init = json.dumps({"value": {"binary": True, "code": code}})
    run = json.dumps({"value": params})
    steps = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="wow-steps-") as tmp:
        proc = subprocess.Popen(
            [runtime, "--listen", "127.0.0.1:0", "--cache-dir", f"{tmp}/cache",
             "--prewarm", prewarm, "--quiet-guests"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            addr = proc.stdout.readline().strip().removeprefix("wow-runtime listening on ")
            host, port = addr.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port))
            conn.connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def post(path, body):
                t = time.perf_counter()
                conn.request("POST", path, body, {"content-type": "application/json",
                                                  "x-wow-trace-timing": "1"})
                r = conn.getresponse()
                data = r.read()
                took = (time.perf_counter() - t) * 1e6
                if r.status != 200:
                    sys.exit(f"POST {path}: HTTP {r.status}: {data[:200]!r}")
                return took, r.getheader("server-timing") or ""

            for i in range(n):
                init_us, _ = post(f"/c{i}/init", init)
                run_us, timing = post(f"/c{i}/run", run)
                if i < SKIP:
                    continue
                steps["client: /init"].append(init_us)
                steps["client: /run"].append(run_us)
                for part in timing.split(","):
                    name, _, ms = part.strip().partition(";dur=")
                    if ms:
                        steps[f"/run {name}"].append(float(ms) * 1000)
        finally:
            proc.terminate()
            proc.wait()
    print(f"{n - SKIP} cold starts of {module}, pre-warm pool {prewarm}: medians, µs")
    for name, values in steps.items():
        print(f"  {name:<24} {statistics.median(values):8.1f}")


if __name__ == "__main__":
    main()
