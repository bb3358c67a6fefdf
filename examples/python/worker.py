#!/usr/bin/env python3
"""A worker for lro in Python, with nothing but the standard library.

It runs the operations of one kind that an `lro serve` declares (see
examples/kinds.yaml), over lro's HTTP/JSON Workers API:

  POST /v1/workers:claim    claim an operation (a long poll: it returns the
                            moment one is started)
  POST /v1/workers:renew    keep the lease alive and report progress; the
                            answer says whether the operation was cancelled
  POST /v1/workers:finish   end it with a response or an error
  POST /v1/workers:release  give it back, when the worker stops

The work here counts to the request's "n", one step every "step_ms"
milliseconds, reporting {"done": i, "total": n} as the operation's metadata,
and returns {"counted": n}; "fail" fails it with that message. Run it as

  LRO_HTTP=http://127.0.0.1:8080 python3 examples/python/worker.py example.count

and stop it with Ctrl-C or SIGTERM: it releases the operation it holds, which
runs again at once on another worker. Against a server with TLS and
authentication (docs/security.md), give it the CA and a worker's token:

  LRO_HTTP=https://lro.example.com:8443 LRO_TLS_CA=ca.pem LRO_TOKEN=... \
    python3 examples/python/worker.py example.count
"""

import json
import os
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request

SERVER = os.environ.get("LRO_HTTP", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ.get("LRO_TOKEN", "")
# The CA that signed the server's certificate, if not one the system trusts.
TLS = ssl.create_default_context(cafile=os.environ.get("LRO_TLS_CA") or None)
WORKER = "python-%d" % os.getpid()


class Stop(Exception):
    """Raised by the signal handler: the worker is asked to stop."""


def on_signal(signum, frame):
    raise Stop()


def call(method, body, timeout=60):
    """POSTs body to /v1/workers:<method> and returns the decoded answer.

    An HTTP error raises RuntimeError with Google's JSON error message."""
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = "Bearer " + TOKEN
    req = urllib.request.Request(
        "%s/v1/workers:%s" % (SERVER, method),
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )
    try:
        context = TLS if SERVER.startswith("https:") else None
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail)["error"]["message"]
        except (ValueError, KeyError):
            pass
        raise RuntimeError("%s: HTTP %d: %s" % (method, e.code, detail)) from None


def seconds(duration):
    """Parses a protobuf JSON duration such as "10s" or "0.333s"."""
    return float(duration.rstrip("s"))


class Lease:
    """One claimed operation: its name and lease token, and when to renew."""

    def __init__(self, op):
        self.name = op["name"]
        self.token = op["leaseToken"]
        self.every = seconds(op.get("heartbeatInterval", "10s"))
        self.next = time.monotonic() + self.every
        self.cancelled = op.get("cancelRequested", False)

    def ref(self):
        return {"name": self.name, "leaseToken": self.token}

    def renew(self, metadata=None, force=False):
        """Renews the lease when it is due (or when forced, to report
        progress at once), with metadata if given. Returns False once the
        lease is lost: the worker must stop without writing."""
        if not force and time.monotonic() < self.next:
            return True
        item = self.ref()
        if metadata is not None:
            item["metadata"] = metadata
        state = call("renew", {"worker": WORKER, "leases": [item]})["leases"][0]
        self.next = time.monotonic() + self.every
        if state["state"] == "CANCEL_REQUESTED":
            self.cancelled = True
        return state["state"] != "LOST"

    def finish(self, result):
        item = dict(self.ref(), **result)
        status = call("finish", {"worker": WORKER, "results": [item]})["results"][0]
        if status.get("code", 0) != 0:
            print("finish %s: %s" % (self.name, status.get("message")), file=sys.stderr)

    def release(self):
        call("release", {"worker": WORKER, "leases": [self.ref()]})


def run(lease, request):
    """Does the work of one operation under its lease."""
    n = int(request.get("n", 10))
    step = request.get("step_ms", 100) / 1000
    if request.get("fail"):
        # An error is a google.rpc.Status: 9 is FAILED_PRECONDITION.
        lease.finish({"error": {"code": 9, "message": request["fail"]}})
        return
    for i in range(n):
        if lease.cancelled:
            # Any error ends a cancelled operation as CANCELLED.
            lease.finish({"error": {"code": 1, "message": "cancelled at step %d" % i}})
            return
        time.sleep(step)
        # Report progress at every tenth of the way, and renew when due.
        tenth = max(1, n // 10)
        progress = {"done": i + 1, "total": n}
        if not lease.renew(progress, force=(i + 1) % tenth == 0):
            print("lost the lease of %s; stopping it" % lease.name, file=sys.stderr)
            return
    lease.finish({"response": {"counted": n}, "metadata": {"done": n, "total": n}})


def main():
    kinds = sys.argv[1:]
    if not kinds:
        sys.exit("usage: worker.py KIND...")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("worker %s claiming %s from %s" % (WORKER, ", ".join(kinds), SERVER), flush=True)
    lease = None
    try:
        while True:
            claimed = call("claim", {"worker": WORKER, "kinds": kinds, "max": 1, "wait": "30s", "json": True})
            for op in claimed.get("operations", []):
                lease = Lease(op)
                print("running %s (attempt %d)" % (lease.name, op["attempt"]), flush=True)
                run(lease, op.get("input") or {})
                lease = None
    except Stop:
        if lease is not None:
            lease.release()
            print("released %s" % lease.name, flush=True)
    print("worker %s stopped" % WORKER, flush=True)


if __name__ == "__main__":
    main()
