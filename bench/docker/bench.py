#!/usr/bin/env python3
"""Driver for bench/docker/run.sh (stdlib only). Talks to 127.0.0.1 and the local
Docker socket (through the docker CLI). Every wait has a deadline."""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

RUN_ID = os.environ["RUN_ID"]
WORK = os.environ["WORK"]
BIN = os.environ["BIN"]
IMAGE = os.environ["IMAGE"]
N = int(os.environ.get("N", "20"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
LABEL = RUN_ID.replace("-", "_")  # AUTOHEAL_CONTAINER_LABEL: unique per run
PROCS = []


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def docker(*args, timeout=60, check=True):
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}...: {r.stderr.strip()}")
    return r.stdout


def wait_until(what, fn, timeout, every=0.2):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Events:
    """`docker events` for this run's containers, collected in a thread."""

    def __init__(self):
        self.items = []
        self.lock = threading.Lock()
        self.p = subprocess.Popen(
            ["docker", "events", "--format", "{{json .}}",
             "--filter", "type=container", "--filter", f"label=ahbench.run={RUN_ID}"],
            stdout=subprocess.PIPE, text=True)
        PROCS.append(self.p)
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.5)  # let the stream attach before anything happens

    def _read(self):
        for line in self.p.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            e["name"] = e.get("Actor", {}).get("Attributes", {}).get("name")
            with self.lock:
                self.items.append(e)

    def mark(self):
        with self.lock:
            return len(self.items)

    def find(self, start, name, status):
        """(index, event) of the first event for `name` with `status` at or after `start`."""
        with self.lock:
            for i in range(start, len(self.items)):
                e = self.items[i]
                if e["name"] == name and e.get("status") == status:
                    return i, e
        return None

    def since(self, start):
        with self.lock:
            return list(self.items[start:])


class Autoheal:
    def __init__(self):
        self.port = free_port()
        self.data = os.path.join(WORK, "data")
        os.makedirs(self.data, exist_ok=True)
        env = dict(os.environ, AUTOHEAL_CONTAINER_LABEL=LABEL, AUTOHEAL_LOG_FORMAT="json")
        self.logf = open(os.path.join(WORK, "autoheal.log"), "w")
        self.cmdline = (f"AUTOHEAL_CONTAINER_LABEL={LABEL} AUTOHEAL_LOG_FORMAT=json "
                        f"{BIN} serve --listen 127.0.0.1:{self.port} --data-dir {self.data}")
        self.p = subprocess.Popen(
            [BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data],
            env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        PROCS.append(self.p)
        self.pid = self.p.pid
        log(f"autoheal pid {self.pid}: {self.cmdline}")

    def token(self):
        # The local token autoheal writes to its data directory at start.
        try:
            with open(os.path.join(self.data, "local-token")) as f:
                return f.read().strip()
        except OSError:
            return None

    def get(self, path):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        t = self.token()
        if t:
            req.add_header("Authorization", f"Bearer {t}")
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.load(r)

    def try_get(self, path):
        try:
            return self.get(path)
        except Exception:
            return None

    def targets(self):
        r = self.try_get("/api/v1/targets")
        if r is None:
            return None
        return {t["name"]: t for t in r["items"]}

    def alive(self):
        if self.p.poll() is not None:
            raise RuntimeError(f"autoheal exited with {self.p.returncode}; log: {self.logf.name}")
        return True


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return None


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def run_containers(names, labels, extra=(), parallel=4):
    def one(name):
        args = ["run", "-d", "--name", name, "--label", f"ahbench.run={RUN_ID}"]
        for k, v in labels.items():
            args += ["--label", f"{k}={v}"]
        docker(*args, *extra, IMAGE, timeout=120)
    with ThreadPoolExecutor(parallel) as ex:
        list(ex.map(one, names))


def health_of(names):
    out = docker("inspect", "--format", "{{.Name}} {{.State.Health.Status}}", *names)
    return dict(line.lstrip("/").split() for line in out.splitlines() if line)


# ---------------------------------------------------------------- reaction
class Hammer:
    """Failed logins at `rate` per second (open loop, a fresh unknown user
    each time) against autoheal's API while the reactions are measured."""

    def __init__(self, port, rate):
        self.port, self.rate = port, rate
        self.codes = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = []
        if rate > 0:
            t = threading.Thread(target=self._pace, daemon=True)
            t.start()
            self.threads.append(t)
            log(f"hammering {rate} failed logins/s")

    def _one(self, i):
        body = json.dumps({"login": f"nobody{i}", "password": "wrong password"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v1/auth/login",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code = r.status
        except urllib.error.HTTPError as e:
            code = e.code
        except Exception:
            code = "error"
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def _pace(self):
        start, i = time.monotonic(), 0
        while not self.done.is_set():
            due = start + i / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            threading.Thread(target=self._one, args=(i,), daemon=True).start()
            i += 1

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(timeout=5)

    def summary(self):
        with self.lock:
            return {"rate": self.rate, "answers": {str(k): v for k, v in self.codes.items()}}


def reaction():
    ncont = int(os.environ.get("REACTION_CONTAINERS", N))
    names = [f"{RUN_ID}-r{i:03d}" for i in range(ncont)]
    labels = {LABEL: "true", "autoheal.cooldown": "0s", "autoheal.max_actions": "1000"}
    ev = Events()
    log(f"starting {ncont} containers for {N} incidents")
    run_containers(names, labels)
    wait_until("containers healthy",
               lambda: all(s == "healthy" for s in health_of(names).values()), 120, 0.5)
    ah = Autoheal()
    wait_until("autoheal lists all containers as healthy", lambda: ah.alive() and (
        lambda t: t is not None and all(n in t and t[n]["phase"] == "healthy" for n in names))(
        ah.targets()), 120, 0.5)
    hammer = Hammer(ah.port, int(os.environ.get("HAMMER_LOGINS", "0")))
    samples = []
    for i in range(N):
        name = names[i % ncont]
        inc0 = ah.get(f"/api/v1/incidents?target={name}&limit=1")["items"]
        last_id = inc0[0]["id"] if inc0 else -1
        m = ev.mark()
        docker("exec", name, "touch", "/tmp/unhealthy")
        iu, unhealthy = wait_until(f"{name} unhealthy event",
                                   lambda: ev.find(m, name, "health_status: unhealthy"), 30, 0.05)
        ik, kill = wait_until(f"{name} kill event after unhealthy",
                              lambda: ah.alive() and ev.find(iu, name, "kill"), 60, 0.05)
        wait_until(f"{name} healthy again",
                   lambda: ev.find(ik, name, "health_status: healthy"), 60, 0.1)

        def recovered():
            items = ah.get(f"/api/v1/incidents?target={name}&limit=1")["items"]
            if items and items[0]["id"] != last_id and items[0]["resolution"] == "recovered":
                return items[0]
            return None
        inc = wait_until(f"{name} incident recovered", recovered, 60, 0.2)
        later = ev.since(iu)
        kills = sum(1 for e in later if e["name"] == name and e.get("status") == "kill")
        restarts = sum(1 for e in later if e["name"] == name and e.get("status") == "restart")
        att = inc["attempts"][0] if inc["attempts"] else {}
        s = {
            "i": i, "container": name,
            "reaction_ms": (kill["timeNano"] - unhealthy["timeNano"]) / 1e6,
            "event_to_opened_ms": inc["opened_at"] - unhealthy["timeNano"] / 1e6,
            "opened_to_action_ms": (att.get("started_at") or 0) - inc["opened_at"],
            "action_to_kill_ms": kill["timeNano"] / 1e6 - (att.get("started_at") or 0),
            "kill_signal": kill.get("Actor", {}).get("Attributes", {}).get("signal"),
            "incident": inc["id"], "attempts": len(inc["attempts"]),
            "mttr_ms": inc.get("duration_ms"), "kills": kills, "restarts": restarts,
        }
        samples.append(s)
        log(f"#{i:02d} {name} reaction {s['reaction_ms']:.1f} ms "
            f"(event->opened {s['event_to_opened_ms']:.0f}, opened->action "
            f"{s['opened_to_action_ms']:.0f}, action->kill {s['action_to_kill_ms']:.0f}) "
            f"incident {inc['id']} attempts {s['attempts']} mttr {s['mttr_ms']} ms "
            f"kills {kills} restarts {restarts}")
    hammer.stop()
    time.sleep(2)  # anything extra (a second restart) shows up in the events
    extra_kills = {n: sum(1 for e in ev.since(0) if e["name"] == n and e.get("status") == "kill")
                   for n in names}
    r = [s["reaction_ms"] for s in samples]
    summary = {
        "n": len(r), "containers": ncont,
        "reaction_ms": {"min": min(r), "p50": pct(r, 50), "p90": pct(r, 90), "max": max(r),
                        "mean": sum(r) / len(r)},
        "median_event_to_opened_ms": pct([s["event_to_opened_ms"] for s in samples], 50),
        "median_opened_to_action_ms": pct([s["opened_to_action_ms"] for s in samples], 50),
        "median_action_to_kill_ms": pct([s["action_to_kill_ms"] for s in samples], 50),
        "median_mttr_ms": pct([s["mttr_ms"] for s in samples if s["mttr_ms"] is not None], 50),
        "total_kill_events": sum(extra_kills.values()), "incidents": N,
        "hammer": hammer.summary(),
        "autoheal": ah.cmdline,
    }
    print("RESULT " + json.dumps({"samples": samples, "summary": summary}), flush=True)
    log("summary: " + json.dumps(summary))


# ---------------------------------------------------------------- watch200
def watch200():
    interval = os.environ.get("HEALTH_INTERVAL", "30s")
    window = float(os.environ.get("WINDOW", "60"))
    names = [f"{RUN_ID}-w{i:03d}" for i in range(N)]
    ev = Events()
    t = time.monotonic()
    log(f"starting {N} containers (health interval {interval})")
    run_containers(names, {LABEL: "true"}, extra=("--health-interval", interval))
    log(f"started in {time.monotonic() - t:.0f} s; waiting until all are healthy")

    def n_healthy():
        out = docker("ps", "-q", "--filter", f"label=ahbench.run={RUN_ID}",
                     "--filter", "health=healthy")
        return len(out.split())
    wait_until("all containers healthy", lambda: n_healthy() == N, 300, 2)
    ah = Autoheal()
    t0 = time.monotonic()
    listed = wait_until(f"autoheal lists {N} targets", lambda: ah.alive() and (
        lambda t: t if t is not None and sum(1 for n in names if n in t) == N else None)(
        ah.targets()), 120, 0.1)
    t_list = time.monotonic() - t0
    cpu_list = proc_cpu_ticks(ah.pid) / CLK_TCK
    rss_list = proc_status(ah.pid, "VmRSS")
    phases = {}
    for tg in listed.values():
        phases[tg["phase"]] = phases.get(tg["phase"], 0) + 1
    log(f"all {N} listed after {t_list:.2f} s, CPU so far {cpu_list:.2f} s, RSS {rss_list} kB, "
        f"phases {phases}")
    wait_until(f"all {N} targets healthy", lambda: (
        lambda t: t is not None and all(t[n]["phase"] == "healthy" for n in names))(ah.targets()),
        60, 0.5)
    t_healthy = time.monotonic() - t0
    cpu_healthy = proc_cpu_ticks(ah.pid) / CLK_TCK
    log(f"all healthy after {t_healthy:.2f} s, CPU so far {cpu_healthy:.2f} s")
    time.sleep(5)  # let the last API answers settle; nothing polls the API in the window
    dockerd = subprocess.run(["pgrep", "-xo", "dockerd"], capture_output=True, text=True)
    dpid = int(dockerd.stdout.split()[0]) if dockerd.returncode == 0 else None
    m = ev.mark()
    c0, d0, w0 = proc_cpu_ticks(ah.pid), dpid and proc_cpu_ticks(dpid), time.monotonic()
    rss = []
    while time.monotonic() - w0 < window:
        ah.alive()
        rss.append(proc_status(ah.pid, "VmRSS"))
        time.sleep(1)
    c1, d1, w1 = proc_cpu_ticks(ah.pid), dpid and proc_cpu_ticks(dpid), time.monotonic()
    events = ev.since(m)
    hwm = proc_status(ah.pid, "VmHWM")
    elapsed = w1 - w0
    tg = ah.targets()
    incidents = ah.get("/api/v1/incidents?limit=50")["items"]
    kinds = {}
    for e in events:
        kinds[e.get("status", "").split(":")[0]] = kinds.get(e.get("status", "").split(":")[0], 0) + 1
    summary = {
        "containers": N, "health_interval": interval,
        "discovery": {"seconds_to_list_all": round(t_list, 2), "cpu_s_at_list_all": cpu_list,
                      "rss_kb_at_list_all": rss_list, "seconds_to_all_healthy": round(t_healthy, 2),
                      "cpu_s_at_all_healthy": cpu_healthy, "phases_when_listed": phases},
        "idle": {"window_s": round(elapsed, 1), "cpu_s": (c1 - c0) / CLK_TCK,
                 "cpu_pct_of_one_core": 100 * (c1 - c0) / CLK_TCK / elapsed,
                 "rss_kb_min": min(rss), "rss_kb_max": max(rss), "rss_kb_end": rss[-1], "rss_kb_every_10s": rss[::10],
                 "vmhwm_kb": hwm,
                 "dockerd_cpu_pct_of_one_core": dpid and 100 * (d1 - d0) / CLK_TCK / elapsed,
                 "docker_events_in_window": len(events), "event_kinds": kinds},
        "after": {"healthy_targets": sum(1 for n in names if tg and tg[n]["phase"] == "healthy"),
                  "incidents": len(incidents)},
        "autoheal": ah.cmdline,
    }
    print("RESULT " + json.dumps(summary), flush=True)
    log("summary: " + json.dumps(summary, indent=1))


def main():
    def stop(*_):
        raise SystemExit(124)
    signal.signal(signal.SIGTERM, stop)
    try:
        {"reaction": reaction, "watch200": watch200}[sys.argv[1]]()
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.terminate()
        for p in PROCS:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
