"""What the servers' smoke scripts share: ok/FAIL lines, a harness's env
file, and running a harness command (python3 stdlib only)."""
import os
import subprocess

failures = []


def ok(name, detail=""):
    print(f"ok   {name}" + (f": {detail}" if detail else ""), flush=True)


def bad(name, detail=""):
    failures.append(name)
    print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)


def check(name, cond, detail=""):
    (ok if cond else bad)(name, detail)
    return cond


def read_env(path):
    """KEY=VALUE lines of a harness's env file."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


def harness(script, *args, timeout=60):
    r = subprocess.run(["bash", script, *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{os.path.basename(script)} {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
    return r
