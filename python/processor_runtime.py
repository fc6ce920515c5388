"""
Sandboxed runtime for user "generic processor" scripts.

A warm interpreter (the "zygote") imports numpy, rasterio and friends once, then forks one sandboxed child
per run, so a run costs a fork instead of a Python start-up plus imports (~0.17 s). The script still runs
exactly as `python script.py <input_path> <output_path> <parameters_json>` would: `__name__ == "__main__"`,
`sys.argv`, exit codes, stdout/stderr. Every run starts from the pristine zygote, so nothing leaks between
runs.

Each run (see `supervise`):
  supervisor  fork of the zygote; new mount, network, PID, IPC and UTS namespaces; builds a root file
              system on a tmpfs holding only the system and Python directories (read-only), the run's own
              working directory (read-write), /tmp and a few /dev nodes; collects stdout/stderr with a cap;
              enforces the wall-clock limit; writes result.json.
  script      pid 1 of the new PID namespace (when it exits, the kernel kills whatever it forked), chrooted,
              as an unprivileged user of its own (so the process limit counts only its processes and
              nothing of other users is readable), with limits on address space, CPU time, file size,
              processes and open files; no network interface but a down loopback.

Protocol on stdin/stdout, one JSON object per line:
  -> {"op": "run", "id", "script", "args", "cwd", "bind_rw": [dirs], "state_dir", "limits": {...}}
  -> {"op": "cancel", "id"}
  <- {"event": "ready", "pid", "sandbox": {...}, "preimported": [...]}   once, after the imports
  <- {"event": "done", "id"}    the run's result is in <state_dir>/result.json, its log in <state_dir>/run.log

Also a CLI for processor authors, the same code path as the pipeline:
  python processor_runtime.py serve
  python processor_runtime.py check <script.py>        (upload validation: compiles, has a __main__ guard)
"""

import ast
import ctypes
import errno
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time

# Modules a processor typically imports, loaded once by the zygote. Extra ones: PROCESSOR_PREIMPORT.
PREIMPORT = ["geo_processor", "asyncio", "inspect", "io", "json", "logging", "pathlib", "random", "runpy", "traceback", "typing", "math", "numpy", "numpy.random", "rasterio", "rasterio.features", "rasterio.warp", "rasterio.windows"]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_RELATIME = 1 << 21
MNT_DETACH = 2
SYS_PIVOT_ROOT = 155  # x86_64
SYS_CAPSET = 126
LINUX_CAPABILITY_VERSION_3 = 0x20080522
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

STDOUT_TAIL_BYTES = 64 * 1024
# Size of a prepared run's private tmpfs (root and /tmp) until its request says otherwise.
DEFAULT_TMP_MB = int(os.environ.get("PROCESSOR_TMP_MB", "256"))
LOG_READ_CHUNK = 64 * 1024

libc = ctypes.CDLL(None, use_errno=True)


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags):
    _check(libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source, target, fstype, flags, data=None):
    enc = lambda value: value.encode() if value is not None else None  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def pivot_root(new_root):
    """Makes new_root the root of this mount namespace and detaches the old one: unlike chroot, nothing of
    the machine's file system stays reachable, even for a process with capabilities in its namespace."""
    os.chdir(new_root)
    _check(libc.syscall(ctypes.c_long(SYS_PIVOT_ROOT), b".", b"."), "pivot_root")
    _check(libc.umount2(b".", ctypes.c_int(MNT_DETACH)), "umount old root")
    os.chdir("/")


def drop_capabilities():
    """No capabilities left, in any namespace (matters when the script runs as root of a user namespace)."""
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(libc.syscall(ctypes.c_long(SYS_CAPSET), header, data), "capset")


def locked_flags(path):
    """Flags a bind mount of path must keep on remount (a user namespace may not clear them)."""
    flags = os.statvfs(path).f_flag
    kept = 0
    for statvfs_flag, mount_flag in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME), (4096, MS_RELATIME)):
        if flags & statvfs_flag:
            kept |= mount_flag
    return kept


def enter_user_namespace(flags):
    """Without root: a user namespace where this user is root gives the same isolation (namespaces, mounts)."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER | flags)
    with open("/proc/self/setgroups", "w") as handle:
        handle.write("deny")
    with open("/proc/self/uid_map", "w") as handle:
        handle.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as handle:
        handle.write(f"0 {gid} 1")


def prctl(option, value):
    _check(libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def emit(message):
    # One write of a short line: atomic on a pipe, so lines of concurrent supervisors never interleave.
    os.write(1, (json.dumps(message) + "\n").encode())


# ------------------------------------------------------------------------------------------ root file system


def readonly_dirs():
    """System and Python directories the script may read: everything else of the machine stays invisible."""
    candidates = ["/usr", "/etc", "/opt"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.isdir(top) and not os.path.islink(top):
            candidates.append(top)
    own_dir = os.path.dirname(os.path.realpath(__file__))  # the runtime's folder of the repository: not needed
    for path in [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))] + sys.path:
        if path and os.path.isdir(path) and os.path.realpath(path) != own_dir:
            candidates.append(os.path.realpath(path))
    for variable in ("GDAL_DATA", "PROJ_LIB", "PROJ_DATA"):
        if os.environ.get(variable) and os.path.isdir(os.environ[variable]):
            candidates.append(os.path.realpath(os.environ[variable]))
    chosen = []
    for path in sorted(set(candidates), key=len):
        if path == "/" or any(path == kept or path.startswith(kept + "/") for kept in chosen):
            continue
        chosen.append(path)
    return chosen


def build_root(root, tmp_megabytes):
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_megabytes}m,mode=0755")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            os.symlink(os.readlink(top), root + top)
    for path in readonly_dirs():
        target = root + path
        os.makedirs(target, mode=0o755, exist_ok=True)
        mount(path, target, None, MS_BIND | MS_REC)
        mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | locked_flags(path))
    os.makedirs(root + "/dev", mode=0o755)
    for node in ("null", "zero", "full", "random", "urandom"):
        open(root + "/dev/" + node, "w").close()
        mount("/dev/" + node, root + "/dev/" + node, None, MS_BIND)
    os.makedirs(root + "/proc", mode=0o555)
    os.makedirs(root + "/tmp", mode=0o777, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)


# ------------------------------------------------------------------------------------------ the script


def run_script(request, root, uid, stdout_fd, stderr_fd, channels):
    """Runs in the child that is pid 1 of the new PID namespace: the script (or, in lifecycle mode, the warm
    processor serving calls until it is stopped). Never returns."""
    code = 1
    lifecycle = request.get("mode") == "lifecycle"
    timing_fd = channels["timing"]
    try:
        limits = request["limits"]
        # A mount namespace of its own: pivot_root would otherwise move the supervisor's root too.
        unshare(CLONE_NEWNS)
        pivot_root(root)
        os.chdir(request["cwd"])
        os.dup2(stdout_fd, 1)
        os.dup2(stderr_fd, 2)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        # Only our own descriptors are closed: the ones the pre-imported libraries hold (PROJ's database, ...)
        # stay valid, or a library would later use a number that now belongs to the script's files.
        for fd in {null, stdout_fd, stderr_fd} - {0, 1, 2}:
            os.close(fd)
        if not lifecycle:
            os.close(channels["requests"])
            os.close(channels["responses"])
        # How long the script's own code ran, reported after it; informational only (never used for limits).
        timing = os.fdopen(timing_fd, "w")
        os.setsid()
        memory = limits["memory_mb"] * 1024 * 1024
        # The address-space limit counts what the zygote already mapped (numpy, GDAL): add it.
        address_space = memory + mapped_bytes()
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if not lifecycle:
            # A warm process lives for many calls: its time limit is the supervisor's wall clock per call.
            cpu = int(limits["timeout_s"]) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits["max_file_bytes"], limits["max_file_bytes"]))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["max_processes"], limits["max_processes"]))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # Changing the user cleared the parent-death signal: set it again, then make sure the supervisor did
        # not die before it was set (its lifeline pipe then reads as closed).
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if select.select([channels["lifeline"]], [], [], 0)[0]:
            os._exit(137)
        os.close(channels["lifeline"])
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        drop_capabilities()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.update({"HOME": request["cwd"], "TMPDIR": "/tmp", "PWD": request["cwd"]})
        import io

        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="backslashreplace")
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True)
        # Forks share the zygote's random state; a fresh interpreter would not.
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        script = request["script"]
        sys.argv = [script] + list(request["args"])
        sys.path[0] = os.path.dirname(script)
        import runpy

        script_started = time.monotonic()
        if lifecycle:
            timing.close()
            code = lifecycle_host(script, channels["requests"], channels["responses"])
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:  # noqa: BLE001
                    pass
            os._exit(code)
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_request:
            if exit_request.code is None:
                code = 0
            elif isinstance(exit_request.code, int):
                code = exit_request.code & 0xFF
            else:
                print(exit_request.code, file=sys.stderr)
                code = 1
        except BaseException:  # noqa: BLE001 - report anything the script raised, as python would
            import traceback

            traceback.print_exc()
            code = 1
    except BaseException as error:  # noqa: BLE001 - sandbox set-up failed: say so on stderr
        try:
            os.write(2, f"sandbox set-up failed: {error}\n".encode())
        except OSError:
            pass
        code = 125
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
        try:
            if os.getpid() == 1:  # not from processes the script forked: they end here too
                timing.write("%.3f\n" % ((time.monotonic() - script_started) * 1000))
                timing.flush()
        except BaseException:  # noqa: BLE001 - the script closed it or never started
            pass
        os._exit(code)


# ------------------------------------------------------------------------------------------ lifecycle processors

LIFECYCLE_FUNCTIONS = ("setup", "validate", "process", "process_batch", "cleanup")


class LineReader:
    """Newline-delimited messages from a pipe, buffered: several may arrive in one read."""

    def __init__(self, fd):
        self.fd = fd
        self.buffer = b""
        self.eof = False

    def read_available(self):
        """One read (the caller's select said the pipe is readable); returns the complete lines."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
        self.buffer += chunk
        return self.take_lines()

    def take_lines(self):
        *lines, self.buffer = self.buffer.split(b"\n")
        return [line for line in lines if line.strip()]

    def readline(self):
        """Blocks until one whole line (b"" at end of file); the rest stays buffered."""
        while b"\n" not in self.buffer:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                self.eof = True
                return b""
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line + b"\n"


def write_all(fd, data):
    while data:
        written = os.write(fd, data)
        data = data[written:]


def call_user(function, *args):
    """Calls a processor function; awaits it when it is async (the base framework's methods are)."""
    import geo_processor

    return geo_processor._resolve(function(*args))


def accepts_arguments(function, count):
    """Whether function can be called with `count` positional arguments (seed 001's setup() takes none)."""
    import inspect

    try:
        inspect.signature(function).bind(*([None] * count))
        return True
    except TypeError:
        return False
    except ValueError:  # no signature (a builtin): assume it does
        return True


class LoadedProcessor:
    """The hooks of a lifecycle file, from its top-level functions or its BaseProcessor subclass."""

    def __init__(self, namespace):
        import geo_processor

        base = geo_processor.BaseProcessor
        classes = [value for value in namespace.values() if isinstance(value, type) and issubclass(value, base) and value is not base and value.__module__ == "__processor__"]
        self.instance = None
        if classes and not callable(namespace.get("process")):
            # The most derived one, if the file defines a small hierarchy.
            leaf = [cls for cls in classes if not any(other is not cls and issubclass(other, cls) for other in classes)]
            self.instance = leaf[0]()
            cls = type(self.instance)
            self.setup = self.instance.setup
            self.validate = self.instance.validate if cls.validate is not base.validate else None
            self.process = self.instance.process
            self.process_batch = getattr(self.instance, "process_batch", None)
            self.cleanup = self.instance.cleanup
        else:
            self.setup = namespace.get("setup")
            self.validate = namespace.get("validate")
            self.process = namespace.get("process")
            self.process_batch = namespace.get("process_batch")
            self.cleanup = namespace.get("cleanup")
        if not callable(self.process):
            raise TypeError("the processor defines no process(input_path, output_path, parameters, state) function")
        self.state = None

    def run_setup(self, parameters):
        if self.instance is not None:
            self.instance.parameters = dict(parameters or {})
            result = call_user(self.setup, parameters) if accepts_arguments(self.setup, 1) else call_user(self.setup)
            self.state = self.instance
            return result
        if callable(self.setup):
            self.state = call_user(self.setup, parameters)
        return None

    def with_state(self, *args):
        return args if self.instance is not None else args + (self.state,)


def input_info(path):
    """What validate() gets about an input: its size, bands, type and georeferencing."""
    info = {"path": path}
    try:
        import rasterio

        with rasterio.open(path) as dataset:
            info.update(
                width=dataset.width, height=dataset.height, count=dataset.count, dtype=dataset.dtypes[0], dtypes=list(dataset.dtypes),
                crs=dataset.crs.to_string() if dataset.crs else None, transform=list(dataset.transform)[:6], nodata=dataset.nodata,
                bounds=list(dataset.bounds), size_bytes=os.path.getsize(path),
            )
    except Exception as error:  # noqa: BLE001 - validate() decides what an unreadable input means
        info["error"] = str(error)
    return info


def describe_exception(error):
    import geo_processor

    validation = isinstance(error, geo_processor.ValidationError) or type(error).__name__ == "ValidationError"
    message = str(getattr(error, "message", None) or error) or type(error).__name__
    return {"ok": False, "kind": "validation" if validation else "error", "message": message if validation else f"{type(error).__name__}: {message}"}


def lifecycle_host(script, requests_fd, responses_fd):
    """The warm processor, pid 1 of its sandbox: loads the file once, runs setup, then answers calls (one at a
    time) until it is told to clean up or its request pipe closes. Returns the exit code."""
    import runpy
    import traceback

    reader = LineReader(requests_fd)
    processor = None

    def respond(message):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        write_all(responses_fd, (json.dumps(message, default=str) + "\n").encode())

    while True:
        line = reader.readline()
        if not line:
            return 0
        request = json.loads(line)
        op = request.get("op")
        started = time.monotonic()
        try:
            if op == "setup":
                namespace = runpy.run_path(script, run_name="__processor__")
                processor = LoadedProcessor(namespace)
                processor.run_setup(request.get("parameters") or {})
                respond({"call": request["call"], "ok": True, "user_ms": round((time.monotonic() - started) * 1000, 3), "batch": callable(processor.process_batch)})
            elif op == "process":
                items = request["items"]
                outcomes = [None] * len(items)
                valid = []
                for index, item in enumerate(items):
                    if processor.validate is not None:
                        try:
                            item["input_info"] = input_info(item["input_path"])
                            call_user(processor.validate, *processor.with_state(item["input_info"]))
                        except Exception as error:  # noqa: BLE001 - the item's outcome
                            outcomes[index] = describe_exception(error)
                            continue
                    valid.append(index)
                if request.get("batch") and callable(processor.process_batch) and len(valid) > 1:
                    batch = [items[index] for index in valid]
                    try:
                        results = call_user(processor.process_batch, *processor.with_state(batch))
                        results = list(results) if results is not None else [None] * len(batch)
                        if len(results) != len(batch):
                            raise ValueError(f"process_batch returned {len(results)} results for {len(batch)} items")
                        for index, result in zip(valid, results):
                            outcomes[index] = {"ok": True, "result": result if isinstance(result, dict) else ({"value": result} if result is not None else None)}
                    except Exception as error:  # noqa: BLE001 - every item of the batch fails with it
                        traceback.print_exc()
                        failure = describe_exception(error)
                        for index in valid:
                            outcomes[index] = failure
                else:
                    for index in valid:
                        item = items[index]
                        try:
                            result = call_user(processor.process, *processor.with_state(item["input_path"], item["output_path"], item.get("parameters") or {}))
                            outcomes[index] = {"ok": True, "result": result if isinstance(result, dict) else ({"value": result} if result is not None else None)}
                        except Exception as error:  # noqa: BLE001 - the item's outcome
                            traceback.print_exc()
                            outcomes[index] = describe_exception(error)
                respond({"call": request["call"], "ok": True, "items": outcomes, "user_ms": round((time.monotonic() - started) * 1000, 3)})
            elif op == "cleanup":
                if processor is not None and callable(processor.cleanup):
                    call_user(processor.cleanup, *processor.with_state())
                respond({"call": request["call"], "ok": True, "user_ms": round((time.monotonic() - started) * 1000, 3)})
                return 0
            else:
                respond({"call": request.get("call"), "ok": False, "message": f"unknown op {op}"})
        except SystemExit as exit_request:
            code = exit_request.code if isinstance(exit_request.code, int) else (0 if exit_request.code is None else 1)
            print(f"the processor called exit({exit_request.code!r})", file=sys.stderr)
            return code & 0xFF
        except Exception as error:  # noqa: BLE001 - setup or cleanup raised: the warm process ends with it
            traceback.print_exc()
            respond({"call": request.get("call"), "ok": False, **describe_exception(error)})
            if op == "setup":
                return 1


def mapped_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


# ------------------------------------------------------------------------------------------ the supervisor


def chown_tree(path, uid):
    os.chown(path, uid, uid)
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), uid, uid)


def explain(code, killed_by, stderr_tail, limits, result=None):
    """A reason a processor author understands, from how the run ended."""
    tail = stderr_tail.decode("utf-8", "replace")
    last_line = next((line.strip() for line in reversed(tail.splitlines()) if line.strip()), "")
    if killed_by == "timeout":
        return f"the processor ran longer than the time limit of {limits['timeout_s']} s and was stopped"
    if killed_by == "log_limit":
        return f"the processor printed more than {limits['max_log_bytes'] // (1024 * 1024)} MB to stdout/stderr and was stopped"
    if killed_by == "cancelled":
        return "the run was cancelled"
    if code == 0:
        return None
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        return f"the processor ran out of memory (limit {limits['memory_mb']} MB): {last_line}"
    if "File too large" in tail:
        return f"the processor wrote a file larger than the limit of {limits['max_file_bytes'] // (1024 * 1024)} MB: {last_line}"
    if "Resource temporarily unavailable" in tail and ("fork" in tail or "BlockingIOError" in tail or "Thread" in tail):
        return f"the processor started more than {limits['max_processes']} processes or threads: {last_line}"
    if "Network is unreachable" in tail or "name resolution" in tail or "Name or service not known" in tail:
        return f"the processor tried to use the network, which processors cannot: {last_line}"
    if code == 125:
        return f"the sandbox could not be set up: {last_line}"
    if code < 0:
        signum = -code
        if signum == signal.SIGXCPU:
            return f"the processor used more CPU time than the limit of {limits['timeout_s']} s"
        if signum == signal.SIGKILL:
            return "the processor was killed (SIGKILL), most likely for using too much memory"
        return f"the processor was killed by signal {signal.Signals(signum).name}"
    # The contract's template prints {"status": "error", "message": ...} before exiting 1: that is its message.
    said = (result or {}).get("message") or (result or {}).get("error")
    if isinstance(said, str) and said.strip():
        return f"the processor exited with code {code}: {said.strip()[:2000]}"
    return f"the processor exited with code {code}: {last_line}" if last_line else f"the processor exited with code {code}"


def last_json_object(stdout_tail):
    for line in reversed(stdout_tail.decode("utf-8", "replace").splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def read_line(fd):
    """One newline-terminated line from a pipe (b"" at end of file)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            return b""
        data += chunk
    return data


def standby(control_fd, uid, root, zygote_pid):
    """A supervisor prepared before its request arrives (fork of the zygote, never returns): namespaces, the
    root file system and the script's process (pid 1 of the new PID namespace, waiting) are set up ahead, so a
    run only adds its own directory and starts. Then it runs the script, collects its output and reports; or,
    for a lifecycle processor, keeps it warm and relays calls to it (`supervise_warm`)."""
    # Dies with the zygote (which dies with the worker); a zygote that is already gone: nothing to do.
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    if os.getppid() != zygote_pid:
        os._exit(0)
    cancelled = []
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, lambda *_: cancelled.append(True))
    result = {"exit_code": None, "signal": None, "reason": None, "result": None, "log_bytes": 0, "duration_ms": None}
    prepared_error = None
    child = None
    try:
        # The zygote's request pipe is not ours to read; /dev/null keeps fd 0 taken so pipes get numbers > 2.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        namespaces = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        if uid is not None:
            unshare(namespaces)
        else:
            enter_user_namespace(namespaces)
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        build_root(root, DEFAULT_TMP_MB)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        go_r, go_w = os.pipe()
        timing_r, timing_w = os.pipe()
        # Lifecycle mode: calls in, answers out; the lifeline is never written, only held (see run_script).
        requests_r, requests_w = os.pipe()
        responses_r, responses_w = os.pipe()
        lifeline_r, lifeline_w = os.pipe()
        child = os.fork()
        if child == 0:
            for fd in (out_r, err_r, go_w, timing_r, requests_w, responses_r, lifeline_w, control_fd):
                os.close(fd)
            channels = {"timing": timing_w, "requests": requests_r, "responses": responses_w, "lifeline": lifeline_r}
            wait_and_run(go_r, root, uid, out_w, err_w, channels)
        for fd in (out_w, err_w, go_r, timing_w, requests_r, responses_w, lifeline_r):
            os.close(fd)
    except BaseException as error:  # noqa: BLE001 - reported with the request that comes
        prepared_error = error
    control = LineReader(control_fd)
    line = control.readline()
    if not line:  # the zygote is gone or shutting down
        if child:
            kill(child)
        os._exit(0)
    request = json.loads(line)
    state_dir = request["state_dir"]
    limits = request["limits"]
    started = time.monotonic()
    lifecycle = request.get("mode") == "lifecycle"
    try:
        if prepared_error:
            raise prepared_error
        for path in request["bind_rw"]:
            if uid is not None:
                chown_tree(path, uid)
            # The run's own directory, read-write, at the same path inside the sandbox.
            target = root + path
            os.makedirs(target, mode=0o755, exist_ok=True)
            mount(path, target, None, MS_BIND)
            mount(None, target, None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | locked_flags(path))
        if limits["tmp_mb"] != DEFAULT_TMP_MB:
            mount(None, root, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, f"size={limits['tmp_mb']}m")
        os.write(go_w, line)
        os.close(go_w)
        if lifecycle:
            os.close(timing_r)
            supervise_warm(request, child, control, uid, out_r, err_r, requests_w, responses_r, cancelled)
        killed_by, log_bytes, stdout_tail, stderr_tail = collect(child, out_r, err_r, limits, started, cancelled, os.path.join(state_dir, "run.log"))
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        printed = last_json_object(stdout_tail)
        timing = parse_timing(os.read(timing_r, 256))
        result.update(
            # Wall time of the script's own code (the rest of duration_ms is the sandbox's).
            script_ms=timing,
            exit_code=code if code >= 0 else None,
            signal=signal.Signals(-code).name if code < 0 else None,
            reason=explain(code, killed_by, stderr_tail, limits, printed),
            result=printed,
            log_bytes=log_bytes,
        )
    except BaseException as error:  # noqa: BLE001 - the run failed to start: report it, never crash the zygote
        if child:
            kill(child)
        result["reason"] = f"the processor sandbox failed: {error}"
        result["sandbox_error"] = True
        if lifecycle:
            result["fatal"] = True
            write_call_result(state_dir, request["call"], result)
            emit({"event": "warm-exit", "id": request["id"], "reason": result["reason"][:1500]})
            os._exit(0)
    result["duration_ms"] = round((time.monotonic() - started) * 1000, 2)
    try:
        with open(os.path.join(state_dir, "result.json"), "w") as handle:
            json.dump(result, handle)
        emit({"event": "done", "id": request["id"]})
    finally:
        os._exit(0)


def write_call_result(state_dir, call_id, result):
    """A call's answer, in a file next to the warm process's state (the event on stdout stays one short line)."""
    path = os.path.join(state_dir, f"call-{call_id}.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(result, handle, default=str)
    os.rename(path + ".tmp", path)


def supervise_warm(request, child, control, uid, out_r, err_r, requests_w, responses_r, cancelled):
    """Keeps a lifecycle processor warm (never returns): relays calls from the zygote's control pipe to it one
    at a time, with the wall-time limit per call (setup included), collects its stdout/stderr into the log of
    the call in progress, stops it past the log limit of its whole life, and reports how it ended."""
    state_dir = request["state_dir"]
    limits = request["limits"]
    warm_id = request["id"]
    queue = [{"op": "setup", "call": request["call"], "parameters": request.get("parameters") or {}}]
    current = None
    log_total = 0
    killed_by = None
    stopping = False
    between_calls = bytearray()  # output printed while no call ran: shown with the next call's log
    stderr_tail = bytearray()
    responses = LineReader(responses_r)
    streams = {out_r: "stdout", err_r: "stderr"}
    setup_ms = None

    def start_next():
        nonlocal current
        call = queue.pop(0)
        if call["op"] == "process":
            for item in call["items"]:
                # Each call brings its own directory inside the warm process's run directory.
                if uid is not None and item.get("dir"):
                    chown_tree(item["dir"], uid)
        current = {"call": call, "started": time.monotonic(), "log": bytearray(between_calls), "deadline": time.monotonic() + limits["timeout_s"]}
        between_calls.clear()
        try:
            write_all(requests_w, (json.dumps({key: value for key, value in call.items() if key != "dir"}) + "\n").encode())
        except OSError:
            pass  # it died: its exit is reported below

    def out_of_memory(outcome):
        message = outcome.get("message") or ""
        if message.startswith("MemoryError"):
            outcome["message"] = f"the processor ran out of memory (limit {limits['memory_mb']} MB): {message}"
        return outcome

    def finish(answer):
        nonlocal current, setup_ms
        call = current["call"]
        out_of_memory(answer)
        for outcome in answer.get("items") or []:
            if isinstance(outcome, dict):
                out_of_memory(outcome)
        elapsed = round((time.monotonic() - current["started"]) * 1000, 2)
        if call["op"] == "setup" and answer.get("ok"):
            setup_ms = elapsed
        result = {**answer, "op": call["op"], "duration_ms": elapsed, "log": current["log"].decode("utf-8", "replace"), "log_bytes": log_total}
        # A short answer travels in the event itself (one write under PIPE_BUF stays atomic); a long one in a file.
        line = (json.dumps({"event": "done", "id": call["call"], "answer": result}, default=str) + "\n").encode()
        if len(line) < 4000:
            os.write(1, line)
        else:
            write_call_result(state_dir, call["call"], result)
            emit({"event": "done", "id": call["call"]})
        current = None

    while True:
        if cancelled and killed_by is None:
            killed_by = "cancelled"
            kill(child)
        if current is None and queue and killed_by is None:
            start_next()
        now = time.monotonic()
        if current is not None and killed_by is None and now >= current["deadline"]:
            killed_by = "timeout"
            kill(child)
        watched = list(streams) + ([responses_r] if not responses.eof else []) + ([control.fd] if not control.eof else [])
        if not streams and responses.eof:
            break
        wait = max(0.02, min(1.0, current["deadline"] - now)) if current is not None else 1.0
        try:
            ready, _, _ = select.select(watched, [], [], wait)
        except InterruptedError:
            continue
        # Output first: what the processor printed before answering belongs to that call.
        for fd in [fd for fd in ready if fd in streams]:
            chunk = os.read(fd, LOG_READ_CHUNK)
            if not chunk:
                os.close(fd)
                del streams[fd]
                continue
            if streams[fd] == "stderr":
                stderr_tail += chunk
                del stderr_tail[: max(0, len(stderr_tail) - STDOUT_TAIL_BYTES)]
            if killed_by is not None:
                continue
            room = limits["max_log_bytes"] - log_total
            target = current["log"] if current is not None else between_calls
            target += chunk[:room]
            log_total += min(len(chunk), room)
            if len(chunk) > room:
                killed_by = "log_limit"
                target += b"\n[log truncated: output limit reached]\n"
                kill(child)
        if responses_r in ready:
            for line in responses.read_available():
                answer = json.loads(line)
                if current is not None and answer.get("call") == current["call"]["call"]:
                    finish(answer)
        if control.fd in ready:
            for line in control.read_available():
                message = json.loads(line)
                if message.get("op") == "cancel":
                    if current is not None and current["call"]["call"] == message.get("id") and killed_by is None:
                        killed_by = "cancelled"
                        kill(child)
                elif message.get("op") == "stop":
                    stopping = True
                    queue.append({"op": "cleanup", "call": message["call"]})
                elif message.get("op") == "process" and not stopping:
                    queue.append(message)
            if control.eof and killed_by is None:  # the zygote is gone: so is the worker
                killed_by = "cancelled"
                kill(child)
    try:
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
    except ChildProcessError:
        code = None
    phase = current["call"]["op"] if current is not None else None
    if killed_by is None and code == 0 and phase is None and stopping:
        reason = "stopped"
    else:
        reason = explain(code if code is not None else -signal.SIGKILL, killed_by, bytes(stderr_tail), limits) or f"the processor's warm process exited with code {code}"
        if killed_by == "timeout":
            reason = f"the processor's {phase or 'call'} ran longer than the time limit of {limits['timeout_s']} s and was stopped"
        elif phase == "setup":
            reason = f"setup failed: {reason}"
    failure = {"ok": False, "fatal": True, "reason": reason, "kind": "crash"}
    if current is not None:
        finish(failure)
    for call in queue:
        current = {"call": call, "started": time.monotonic(), "log": bytearray()}
        finish({**failure, "reason": f"the warm processor ended before this call ran: {reason}", "kind": "gone"})
    emit({"event": "warm-exit", "id": warm_id, "reason": reason[:1500], "setup_ms": setup_ms})
    os._exit(0)


def parse_timing(data):
    try:
        return float(data.split(b"\n", 1)[0])
    except ValueError:
        return None


def wait_and_run(go_fd, root, uid, stdout_fd, stderr_fd, channels):
    """The script's process, pid 1 of the run's PID namespace: mounts its /proc, waits for the request."""
    try:
        # Dies with its supervisor (set again after the change of user in run_script).
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        # While waiting: what a fresh process pays on its first raster read/write (copy-on-write faults,
        # allocator growth, GDAL's per-process state) is paid now instead of by the script.
        warm_up(size=256, directory=root + "/tmp")
        line = read_line(go_fd)
    except BaseException:  # noqa: BLE001
        os._exit(125)
    if not line:
        os._exit(0)
    os.close(go_fd)
    run_script(json.loads(line), root, uid, stdout_fd, stderr_fd, channels)


def collect(child, out_r, err_r, limits, started, cancelled, log_path):
    """Copies stdout+stderr into the run log up to the limit; stops the script at the time or log limit."""
    deadline = started + limits["timeout_s"]
    open_fds = {out_r: "stdout", err_r: "stderr"}
    tails = {"stdout": bytearray(), "stderr": bytearray()}
    log_bytes = 0
    killed_by = None
    with open(log_path, "wb") as log:
        while open_fds:
            if cancelled and killed_by is None:
                killed_by = "cancelled"
                kill(child)
            remaining = deadline - time.monotonic()
            if remaining <= 0 and killed_by is None:
                killed_by = "timeout"
                kill(child)
            try:
                ready, _, _ = select.select(list(open_fds), [], [], max(0.05, min(remaining, 1.0)))
            except InterruptedError:
                continue
            for fd in ready:
                chunk = os.read(fd, LOG_READ_CHUNK)
                if not chunk:
                    os.close(fd)
                    del open_fds[fd]
                    continue
                name = open_fds[fd]
                tail = tails[name]
                tail += chunk
                del tail[: max(0, len(tail) - STDOUT_TAIL_BYTES)]
                if killed_by is None:
                    room = limits["max_log_bytes"] - log_bytes
                    log.write(chunk[:room])
                    log_bytes += min(len(chunk), room)
                    if len(chunk) > room:
                        killed_by = "log_limit"
                        log.write(b"\n[log truncated: output limit reached]\n")
                        kill(child)
    return killed_by, log_bytes, bytes(tails["stdout"]), bytes(tails["stderr"])


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ------------------------------------------------------------------------------------------ the zygote


def probe_sandbox():
    """Checks once, in a throwaway child, that namespaces and mounts work here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        message = "ok"
        try:
            namespaces = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
            if os.geteuid() == 0:
                unshare(namespaces)
            else:
                enter_user_namespace(namespaces)
            mount(None, "/", None, MS_REC | MS_PRIVATE)
        except OSError as error:
            message = str(error)
        os.write(write_fd, message.encode())
        os._exit(0)
    os.close(write_fd)
    message = os.read(read_fd, 4096).decode()
    os.close(read_fd)
    os.waitpid(pid, 0)
    mode = "root" if os.geteuid() == 0 else "user-namespace"
    return {"available": message == "ok", "detail": message, "root": os.geteuid() == 0, "mode": mode}


def warm_up(size=32, directory=None):
    """Does once what every run's first raster access would do: register GDAL drivers, load PROJ, open,
    read and write a deflate GeoTIFF on disk (rasterio's environment set-up included)."""
    try:
        import numpy as np
        import rasterio
        from rasterio.transform import from_origin

        profile = {"driver": "GTiff", "width": size, "height": size, "count": 4, "dtype": "uint16", "crs": "EPSG:32633",
                   "transform": from_origin(500000, 5000000, 10, 10), "compress": "deflate", "tiled": size >= 256, "nodata": 0}
        with tempfile.TemporaryDirectory(dir=directory) as temporary:
            path = os.path.join(temporary, "warm.tif")
            with rasterio.open(path, "w", **profile) as dataset:
                dataset.write(np.ones((4, size, size), np.uint16))
            with rasterio.open(path) as dataset:
                data = dataset.read()
                copy = dataset.profile
            with rasterio.open(path, "w", **copy) as dataset:
                dataset.write(np.where(data > 0, data, 0).astype(data.dtype))
        rasterio.crs.CRS.from_epsg(4326).to_wkt()
    except Exception as error:  # noqa: BLE001 - a warm-up problem only costs speed
        print(f"processor runtime: warm-up failed: {error}", file=sys.stderr)


def serve():
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # never outlive the worker process
    except OSError:
        pass
    # The worker may have died before the line above: then this interpreter was already re-parented.
    expected_parent = os.environ.get("PROCESSOR_PARENT_PID")
    if expected_parent and os.getppid() != int(expected_parent):
        return
    started = time.monotonic()
    extra = [name for name in os.environ.get("PROCESSOR_PREIMPORT", "").split(",") if name.strip()]
    loaded = []
    for name in PREIMPORT + extra:
        try:
            __import__(name.strip())
            loaded.append(name.strip())
        except ImportError as error:
            print(f"processor runtime: cannot pre-import {name}: {error}", file=sys.stderr)
    warm_up()
    sandbox = probe_sandbox()
    uid_base = int(os.environ.get("PROCESSOR_UID_BASE", "200000"))
    uid_span = 10000
    running = {}
    warm = {}  # warm processes (lifecycle processors): id -> (supervisor pid, control pipe)
    counter = 0
    roots_dir = tempfile.mkdtemp(prefix="geo-processor-roots-")
    roots = {}
    spare = []

    def prepare():
        """Forks a supervisor that sets up its sandbox now and waits for a request on a pipe."""
        nonlocal counter
        counter += 1
        # A user id per run: its process limit counts only its own processes, and no file of another run is
        # writable by it. Without root (user-namespace mode) the run keeps this user's id, as root of its
        # own namespace.
        uid = uid_base + counter % uid_span if sandbox["root"] else None
        root = os.path.join(roots_dir, str(counter))
        os.mkdir(root)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            # Only the zygote may hold the write ends: a supervisor sees the end of its pipe when the zygote dies.
            for fd in [write_fd] + [other for _, other in spare] + [other for _, other in warm.values()]:
                os.close(fd)
            standby(read_fd, uid, root, zygote_pid)
        os.close(read_fd)
        roots[pid] = root
        return pid, write_fd

    zygote_pid = os.getpid()
    if sandbox["available"]:
        spare.append(prepare())
    emit({"event": "ready", "pid": os.getpid(), "sandbox": sandbox, "preimported": loaded, "startup_ms": round((time.monotonic() - started) * 1000)})
    buffer = b""
    while True:
        # Reap finished supervisors so their pids are never reused while still in `running`.
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for run_id, run_pid in list(running.items()):
                if run_pid == pid:
                    del running[run_id]
            for warm_id, (warm_pid, control) in list(warm.items()):
                if warm_pid == pid:
                    os.close(control)
                    del warm[warm_id]
            if pid in roots:
                # Only a mount point in the supervisor's own namespace: empty here.
                shutil.rmtree(roots.pop(pid), ignore_errors=True)
        ready, _, _ = select.select([0], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            for pid in list(running.values()) + [pid for pid, _ in spare] + [pid for pid, _ in warm.values()]:
                kill(pid)
            shutil.rmtree(roots_dir, ignore_errors=True)
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError as error:
                emit({"event": "error", "message": f"bad request: {error}"})
                continue
            if request.get("warm") and request.get("op") in ("process", "stop", "cancel"):
                # A call to a warm process: its supervisor queues it (or stops the process).
                target = warm.get(request["warm"])
                if target is None:
                    if request.get("op") != "cancel":
                        emit({"event": "done", "id": request.get("call"), "error": "the warm processor is not running"})
                    continue
                try:
                    write_all(target[1], line + b"\n")
                except OSError:
                    emit({"event": "done", "id": request.get("call"), "error": "the warm processor is not running"})
                continue
            if request.get("op") == "cancel":
                pid = running.get(request.get("id"))
                if pid:
                    try:
                        os.kill(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                continue
            if request.get("op") not in ("run", "warm"):
                emit({"event": "error", "id": request.get("id"), "message": "unknown op"})
                continue
            if not sandbox["available"]:
                reason = (
                    f"the processor sandbox is not available on this worker: {sandbox['detail']} "
                    "(it needs root, or unprivileged user namespaces: sysctl kernel.unprivileged_userns_clone=1)"
                )
                if request["op"] == "warm":
                    write_call_result(request["state_dir"], request["call"], {"ok": False, "fatal": True, "kind": "crash", "sandbox_error": True, "reason": reason, "log": ""})
                    emit({"event": "done", "id": request["call"]})
                    emit({"event": "warm-exit", "id": request["id"], "reason": reason[:1500]})
                else:
                    write_failure(request, reason)
                continue
            pid, control = spare.pop() if spare else prepare()
            os.write(control, line + b"\n")
            if request["op"] == "warm":
                warm[request["id"]] = (pid, control)
            else:
                os.close(control)
                running[request["id"]] = pid
            # The next run's supervisor gets ready while this one runs.
            spare.append(prepare())


def write_failure(request, reason):
    with open(os.path.join(request["state_dir"], "result.json"), "w") as handle:
        json.dump({"exit_code": None, "signal": None, "reason": reason, "result": None, "log_bytes": 0, "duration_ms": 0, "sandbox_error": True}, handle)
    emit({"event": "done", "id": request["id"]})


# ------------------------------------------------------------------------------------------ upload checks


def check(path):
    """Upload validation: the file compiles and is either a script (an `if __name__ == "__main__":` block at
    top level, seed 000's contract) or a lifecycle processor (top-level `process` and optionally `setup`,
    `validate`, `process_batch`, `cleanup`, or a class deriving from geo_processor.BaseProcessor)."""
    with open(path, "rb") as handle:
        source = handle.read()
    try:
        tree = ast.parse(source, filename=os.path.basename(path))
        compile(tree, os.path.basename(path), "exec")
    except SyntaxError as error:
        return {"ok": False, "message": f"line {error.lineno}: {error.msg}"}
    except ValueError as error:
        return {"ok": False, "message": str(error)}

    def is_main_guard(node):
        if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
            return False
        parts = [node.test.left] + list(node.test.comparators)
        names = [part.id for part in parts if isinstance(part, ast.Name)]
        values = [part.value for part in parts if isinstance(part, ast.Constant)]
        return names == ["__name__"] and values == ["__main__"] and isinstance(node.test.ops[0], ast.Eq)

    functions = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    lifecycle_functions = [name for name in LIFECYCLE_FUNCTIONS if name in functions]

    def base_name(expression):
        if isinstance(expression, ast.Name):
            return expression.id
        if isinstance(expression, ast.Attribute):
            return expression.attr
        return None

    # Classes deriving from BaseProcessor, directly or through another class of the file.
    processor_classes = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(base_name(base) == "BaseProcessor" or base_name(base) in processor_classes for base in node.bases):
            processor_classes[node.name] = node
    has_main = any(is_main_guard(node) for node in tree.body)
    # A seed-000 script stays a script even when it has helpers named like lifecycle functions: only a file
    # with setup + process, or with lifecycle functions and no entry point, or a BaseProcessor class is one.
    if "process" in functions and ("setup" in functions or not has_main):
        process_args = functions["process"].args
        if len(process_args.args) < 4 and process_args.vararg is None:
            return {"ok": False, "message": "a lifecycle processor's process() must take (input_path, output_path, parameters, state)"}
        return {"ok": True, "style": "lifecycle", "functions": lifecycle_functions}
    if processor_classes and "process" not in functions:
        methods = set()
        for node in processor_classes.values():
            methods |= {item.name for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
        if not methods & {"process", "process_frame"}:
            return {"ok": False, "message": f"a lifecycle processor must define process(): class {', '.join(processor_classes)} derives from BaseProcessor but defines neither process() nor process_frame()"}
        return {"ok": True, "style": "lifecycle", "functions": sorted(methods & set(LIFECYCLE_FUNCTIONS + ("process_frame", "validate_frame")))}
    if has_main:
        return {"ok": True, "style": "script"}
    if lifecycle_functions:
        return {"ok": False, "message": f"a lifecycle processor must define process(input_path, output_path, parameters, state) (the file defines {', '.join(lifecycle_functions)} but no process)"}
    return {"ok": False, "message": 'no `if __name__ == "__main__":` entry point at the top level of the script, and no lifecycle process() function'}


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "serve":
        serve()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        print(json.dumps(check(sys.argv[2])))
    else:
        print("usage: processor_runtime.py serve | check <script.py>", file=sys.stderr)
        sys.exit(2)
