"""Runs a command and prints, as JSON on stderr's last line, the peak RSS (KiB) of the largest process of its
tree that was waited for (getrusage RUSAGE_CHILDREN: the command itself or one of its children, such as Python)."""
import json
import resource
import subprocess
import sys

code = subprocess.run(sys.argv[1:]).returncode
print(json.dumps({"tree_max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}), file=sys.stderr)
sys.exit(code)
