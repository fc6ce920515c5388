"""Drives python/processor_runtime.py as whatever user runs this script (the tests run it as an unprivileged
user, so the runtime uses its user-namespace mode). Usage: sandbox_as_user.py RUNTIME SCRIPT [PARAMETERS_JSON]
Runs the script once in the sandbox and prints {"ready": ..., "outcome": ..., "log": ...} as one JSON line."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

runtime, script = sys.argv[1], sys.argv[2]
parameters = sys.argv[3] if len(sys.argv) > 3 else "{}"
base = tempfile.mkdtemp(prefix="geo-userns-")
try:
    work = os.path.join(base, "run")
    os.makedirs(os.path.join(work, "output"))
    shutil.copy(script, os.path.join(work, os.path.basename(script)))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    server = subprocess.Popen([sys.executable, runtime, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    ready = json.loads(server.stdout.readline())
    request = {
        "op": "run", "id": "one", "script": os.path.join(work, os.path.basename(script)),
        "args": [os.path.join(work, "input.tif"), os.path.join(work, "output", "out.tif"), parameters],
        "cwd": work, "bind_rw": [work], "state_dir": os.path.join(base, "state"),
        "limits": {"timeout_s": 10, "memory_mb": 256, "max_processes": 16, "max_log_bytes": 1 << 20, "max_file_bytes": 1 << 24, "tmp_mb": 16},
    }
    os.makedirs(request["state_dir"])
    server.stdin.write((json.dumps(request) + "\n").encode())
    server.stdin.flush()
    server.stdout.readline()
    with open(os.path.join(base, "state", "result.json")) as handle:
        outcome = json.load(handle)
    with open(os.path.join(base, "state", "run.log")) as handle:
        log = handle.read()
    server.stdin.close()
    server.wait(timeout=10)
    print(json.dumps({"ready": ready, "outcome": outcome, "log": log}))
finally:
    shutil.rmtree(base, ignore_errors=True)
