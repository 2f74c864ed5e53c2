#!/usr/bin/env python3
"""Replay the seed's example session against a running strop-server and check every answer.

    python3 .ci/seed_session.py [--wait SECONDS] [--username NAME] BASE_URL

The session is the one in the seed's "What does the microservice do?" section (GET /,
register, authenticate, reverse, piglatin, get-history), made with `requests` as the seed
did. Each answer must be HTTP 200 with exactly the seed's JSON; where the seed's values
vary (the token, the times) their form is checked instead. The history entries may carry
only the SPEC's two additions, `id` and `timestamp`, and those are checked too.

Used by the GitLab `seed-session` job (against the pushed image) and by
.ci/compose-contract (against a local server started with the compose environment).
Exit status 0 when every step matches, 1 at the first mismatch, 2 when the server never
became healthy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time

import requests

REVERSE_IN = "This is my string to reverse"
REVERSE_OUT = "esrever ot gnirts ym si sihT"
PIGLATIN_IN = "This is my string to convert to piglatin"
PIGLATIN_OUT = "Isthay isway myay ingstray otay onvertcay otay iglatinpay"

TOKEN_RE = re.compile(r"[0-9a-f]{32}")
# RFC 1123 in GMT exactly as the seed shows it: 'Sat, 10 Apr 2021 19:59:53 GMT'.
RFC1123_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT"
)
# RFC 3339 UTC with milliseconds: '2021-04-10T19:59:53.123Z'.
RFC3339_MS_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
ENTRY_KEYS = {"function", "id", "input", "output", "time", "timestamp", "user"}
# Server and checker may run on different hosts (CI services): allow some clock skew.
CLOCK_SLACK = dt.timedelta(minutes=5)
TIMEOUT = 10


class Mismatch(Exception):
    pass


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Mismatch(what)


def call(session: requests.Session, method: str, url: str, **kw) -> object:
    resp = session.request(method, url, timeout=TIMEOUT, **kw)
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    expect(
        resp.status_code == 200,
        f"{method} /{path}: status {resp.status_code}, body {resp.text[:500]!r}",
    )
    ctype = resp.headers.get("Content-Type", "")
    expect(ctype.startswith("application/json"), f"{method} /{path}: Content-Type {ctype!r}")
    try:
        return resp.json()
    except ValueError:
        raise Mismatch(f"{method} /{path}: body is not JSON: {resp.text[:500]!r}") from None


def check_exact(step: str, got: object, want: object) -> None:
    expect(got == want, f"{step}: got {got!r}, want {want!r}")
    print(f"ok  {step} -> {got!r}")


def wait_healthy(base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    last = "no answer yet"
    while True:
        try:
            resp = requests.get(f"{base}/healthz", timeout=2)
            if resp.status_code == 200:
                print(f"ok  server healthy at {base}")
                return
            last = f"status {resp.status_code}"
        except requests.RequestException as err:
            last = type(err).__name__
        if time.monotonic() >= deadline:
            print(f"FAIL: {base}/healthz not 200 after {seconds:.0f}s ({last})", file=sys.stderr)
            sys.exit(2)
        time.sleep(0.5)


def check_entry(i: int, entry: object, want: dict, user: str, started: dt.datetime) -> None:
    step = f"GET /get-history entry {i}"
    expect(isinstance(entry, dict), f"{step}: not an object: {entry!r}")
    expect(set(entry) == ENTRY_KEYS, f"{step}: keys {sorted(entry)}, want {sorted(ENTRY_KEYS)}")
    for key, value in {**want, "user": user}.items():
        expect(entry[key] == value, f"{step}: {key} = {entry[key]!r}, want {value!r}")
    expect(
        isinstance(entry["id"], int) and not isinstance(entry["id"], bool),
        f"{step}: id {entry['id']!r} is not an integer",
    )
    expect(
        isinstance(entry["time"], str) and RFC1123_RE.fullmatch(entry["time"]) is not None,
        f"{step}: time {entry['time']!r} is not RFC 1123 GMT like 'Sat, 10 Apr 2021 19:59:53 GMT'",
    )
    expect(
        isinstance(entry["timestamp"], str)
        and RFC3339_MS_RE.fullmatch(entry["timestamp"]) is not None,
        f"{step}: timestamp {entry['timestamp']!r} is not RFC 3339 UTC with milliseconds",
    )
    when = dt.datetime.strptime(entry["time"], "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=dt.timezone.utc
    )
    stamp = dt.datetime.strptime(entry["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc
    )
    expect(
        when == stamp.replace(microsecond=0),
        f"{step}: time {entry['time']!r} and timestamp {entry['timestamp']!r} disagree",
    )
    now = dt.datetime.now(dt.timezone.utc)
    expect(
        started - CLOCK_SLACK <= stamp <= now + CLOCK_SLACK,
        f"{step}: timestamp {entry['timestamp']} is not the time of this session ({now:%c} UTC)",
    )
    print(f"ok  {step} -> {entry!r}")


def run(base: str, username: str, password: str) -> None:
    started = dt.datetime.now(dt.timezone.utc)
    s = requests.Session()

    check_exact("GET /", call(s, "GET", f"{base}/"), {"message": "System online."})

    creds = {"username": username, "password": password}
    check_exact(
        "POST /register",
        call(s, "POST", f"{base}/register", json=creds),
        {"message": f'User "{username}" registered succesfully.'},
    )

    got = call(s, "POST", f"{base}/authenticate", json=creds)
    expect(
        isinstance(got, dict) and set(got) == {"token"},
        f"POST /authenticate: got {got!r}, want {{'token': <32 lowercase hex>}}",
    )
    token = got["token"]
    expect(
        isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None,
        f"POST /authenticate: token {token!r} is not 32 lowercase hex digits",
    )
    print("ok  POST /authenticate -> {'token': <32 lowercase hex>}")

    # The seed sends the bare token; SPEC §1 also accepts the Bearer form.
    auth = {"Authorization": token}
    check_exact(
        "POST /reverse",
        call(s, "POST", f"{base}/reverse", headers=auth, json={"input": REVERSE_IN}),
        {"output": REVERSE_OUT},
    )
    check_exact(
        "POST /piglatin",
        call(s, "POST", f"{base}/piglatin", headers=auth, json={"input": PIGLATIN_IN}),
        {"output": PIGLATIN_OUT},
    )

    got = call(s, "GET", f"{base}/get-history", headers=auth)
    expect(
        isinstance(got, dict) and set(got) == {"history"},
        f"GET /get-history: keys {sorted(got) if isinstance(got, dict) else got!r}, "
        "want ['history']",
    )
    history = got["history"]
    expect(
        isinstance(history, list) and len(history) == 2,
        f"GET /get-history: want the 2 entries of this session, got {history!r}",
    )
    check_entry(0, history[0], {"function": "reverse", "input": REVERSE_IN, "output": REVERSE_OUT},
                username, started)
    check_entry(1, history[1],
                {"function": "piglatin", "input": PIGLATIN_IN, "output": PIGLATIN_OUT},
                username, started)
    expect(history[0]["id"] < history[1]["id"], "GET /get-history: not oldest first by id")

    bearer = call(s, "GET", f"{base}/get-history", headers={"Authorization": f"Bearer {token}"})
    expect(bearer == got, f"GET /get-history with 'Bearer <token>': got {bearer!r}, want {got!r}")
    print("ok  GET /get-history with 'Authorization: Bearer <token>' -> the same history")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="e.g. http://localhost or http://strop:5000")
    parser.add_argument("--wait", type=float, default=0,
                        help="seconds to wait for /healthz to answer 200 first")
    parser.add_argument("--username", default="wonsun",
                        help="user to register (must not exist yet; default: the seed's)")
    parser.add_argument("--password", default="password")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")

    if args.wait > 0:
        wait_healthy(base, args.wait)
    try:
        run(base, args.username, args.password)
    except Mismatch as err:
        print(f"FAIL: {err}", file=sys.stderr)
        return 1
    except requests.RequestException as err:
        print(f"FAIL: request error: {err}", file=sys.stderr)
        return 1
    print("seed session: all steps match")
    return 0


if __name__ == "__main__":
    sys.exit(main())
