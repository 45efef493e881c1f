#!/usr/bin/env python3
"""What a warm `distinct` sandbox adds to the executor's memory, by kind of mapping.

Starts `wow-runtime` (pre-warm pool off, a private artifact cache), reads /proc/PID/smaps, makes
N sandboxes of one module, each with its own custom section (so each compiles and keeps its own
code, as the memory experiment's `distinct` series does), gives each one /run, and prints what
each kind of mapping grew by, per sandbox: anonymous executable (compiled code), anonymous
read-only (the rest of the compiled image), anonymous read-write (heap), file-backed (the
executor's own binary), and the machine's shared memory (copy-on-write images of linear memory,
which RSS does not show).

    scripts/sandbox-memory.py target/release/wow-runtime target/artifacts/wasm32-wasip1/hash.wasm 100
"""

import base64
import collections
import http.client
import json
import re
import subprocess
import sys
import tempfile
import time


def leb(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def tagged(wasm, i):
    """The module with one more custom section, so that every sandbox's code is distinct."""
    name, payload = b"wowbench-action", f"sandbox-{i}".encode()
    content = leb(len(name)) + name + payload
    return wasm + b"\x00" + leb(len(content)) + content


def by_mapping(pid):
    kinds = collections.Counter()
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                parts = line.split()
                perms, path = parts[1], (parts[5] if len(parts) > 5 else "")
                if "memfd" in path:
                    kind = f"memfd {perms}"
                elif path.startswith("/"):
                    kind = f"file {perms}"
                else:
                    kind = f"anonymous {perms}" if not path else f"{path} {perms}"
            elif line.startswith("Rss:"):
                kinds[kind] += int(line.split()[1])
    return kinds


def shmem_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Shmem:"):
                return int(line.split()[1])
    return 0


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    runtime, module, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    wasm = open(module, "rb").read()
    with tempfile.TemporaryDirectory(prefix="wow-memory-") as tmp:
        proc = subprocess.Popen(
            [runtime, "--listen", "127.0.0.1:0", "--cache-dir", f"{tmp}/cache",
             "--prewarm", "false", "--quiet-guests"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            first = proc.stdout.readline()
            addr = first.strip().removeprefix("wow-runtime listening on ")
            host, port = addr.rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port))

            def post(path, body):
                conn.request("POST", path, body, {"content-type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200:
                    sys.exit(f"POST {path}: HTTP {r.status}: {data[:200]!r}")

            before, shm_before = by_mapping(proc.pid), shmem_kib()
            for i in range(n):
                code = base64.b64encode(tagged(wasm, i)).decode()
                post(f"/d{i}/init", json.dumps({"value": {"binary": True, "code": code}}))
                post(f"/d{i}/run", json.dumps({"value": {"iterations": 1000}}))
            time.sleep(1)
            after, shm_after = by_mapping(proc.pid), shmem_kib()
        finally:
            proc.terminate()
            proc.wait()
    print(f"what {n} distinct sandboxes of {module} added, KiB per sandbox")
    total = 0
    for kind in sorted(set(before) | set(after), key=lambda k: before[k] - after[k]):
        grew = (after[kind] - before[kind]) / n
        total += grew
        if abs(grew) >= 0.5:
            print(f"  {kind:<24} {grew:+8.1f}")
    print(f"  {'RSS, all mappings':<24} {total:+8.1f}")
    print(f"  {'machine Shmem':<24} {(shm_after - shm_before) / n:+8.1f}  (not in RSS)")


if __name__ == "__main__":
    main()
