"""The load generator of `make bench`: complete sign-ins against a running tfa, from other processes.

    python bench/driver.py flows --port P --users FILE --concurrency 4 --duration 20
    python bench/driver.py bare  --port P --concurrency 4 --duration 10 --max-id 1000
    python bench/driver.py totp  --port P --users FILE --samples 300

Prints one JSON object on stdout. Only talks to 127.0.0.1.

A flow is what a person does: sign-in page → password → verification page → authenticator code →
the security page (must answer 200 and show the user's email) → sign-out (must redirect to the
sign-in page), and — on every `--check-every`th flow — the old session cookie must no longer open
the security page. Anything else counts as a failure, with its reason.

The client stands in for a browser behind the TLS-terminating proxy of a production deployment: it
sends X-Forwarded-Proto: https (tfa runs with PROXY_COUNT=1), a same-origin https Referer (Flask-WTF
checks it on secure requests), and returns cookies marked Secure over the loopback connection,
exactly as the proxy hands them to tfa.
"""
import argparse
import http.client
import json
import multiprocessing
import re
import sys
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

import pyotp

HOST = "127.0.0.1"
STEPS = ("login_page", "password", "verify_page", "totp", "protected", "logout")
_INPUT = re.compile(r"<input[^>]*>")
_VALUE = re.compile(r'value="([^"]*)"')


class FlowError(Exception):
    def __init__(self, step, reason):
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


class Browser:
    """One person's browser: its own cookies, one connection per request (gunicorn sync closes them)."""

    def __init__(self, port, timeout=30):
        self.port = port
        self.timeout = timeout
        self.cookies = {}

    def request(self, method, path, form=None):
        conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
        origin = f"https://{HOST}:{self.port}"
        headers = {
            "Host": f"{HOST}:{self.port}",
            "User-Agent": "tfa-bench/1 (driver)",
            "Accept": "text/html",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": HOST,
            "Referer": origin + "/",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter()
        try:
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        elapsed = time.perf_counter() - start
        for raw in response.headers.get_all("Set-Cookie") or ():
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return response, data.decode("utf-8", "replace"), elapsed


def csrf_token(html):
    for tag in _INPUT.findall(html):
        if 'name="csrf_token"' in tag:
            match = _VALUE.search(tag)
            if match:
                return match.group(1)
    return None


def location_path(response):
    return urlsplit(response.headers.get("Location") or "").path


class Recorder:
    def __init__(self):
        self.latency = {}  # step -> [seconds]
        self.sql = {}  # step -> [statements]
        self.key_setups = {}  # worker pid -> [values seen]
        self.decrypts = {}  # step -> [count]
        self.hash_cpu = {}  # step -> [seconds of password hashing CPU in the worker]

    def add(self, step, response, elapsed):
        self.latency.setdefault(step, []).append(elapsed)
        sql = response.headers.get("X-SQL-Count")
        if sql is not None:
            self.sql.setdefault(step, []).append(int(sql))
            pid = response.headers.get("X-Worker-Pid", "?")
            values = self.key_setups.setdefault(pid, [])
            value = int(response.headers.get("X-Key-Setups", "0"))
            if value not in values:
                values.append(value)
            self.decrypts.setdefault(step, []).append(int(response.headers.get("X-Decrypts", "0")))
            self.hash_cpu.setdefault(step, []).append(int(response.headers.get("X-Hash-CPU-us", "0")) / 1e6)

    def merge(self, other):
        for mine, theirs in ((self.latency, other["latency"]), (self.sql, other["sql"]),
                             (self.decrypts, other["decrypts"]), (self.hash_cpu, other["hash_cpu"])):
            for key, values in theirs.items():
                mine.setdefault(key, []).extend(values)
        for pid, values in other["key_setups"].items():
            mine = self.key_setups.setdefault(pid, [])
            mine.extend(v for v in values if v not in mine)

    def as_dict(self):
        return {"latency": self.latency, "sql": self.sql, "key_setups": self.key_setups, "decrypts": self.decrypts,
                "hash_cpu": self.hash_cpu}


def _expect(step, response, status, path=None):
    if response.status != status:
        raise FlowError(step, f"HTTP {response.status} (expected {status})")
    if path is not None and location_path(response) != path:
        raise FlowError(step, f"redirect to {location_path(response) or 'nowhere'} (expected {path})")


def start_sign_in(browser, user, rec):
    """Sign-in page, password, verification page: returns the verification form's CSRF token."""
    response, html, t = browser.request("GET", "/login")
    rec.add("login_page", response, t)
    _expect("login_page", response, 200)
    token = csrf_token(html)
    if not token:
        raise FlowError("login_page", "no CSRF token")
    response, _, t = browser.request("POST", "/login", {"email": user["email"], "password": user["password"],
                                                          "csrf_token": token})
    rec.add("password", response, t)
    _expect("password", response, 303, "/login/verify")
    response, html, t = browser.request("GET", "/login/verify")
    rec.add("verify_page", response, t)
    _expect("verify_page", response, 200)
    if "Verify your identity" not in html:
        raise FlowError("verify_page", "not the verification page")
    token = csrf_token(html)
    if not token:
        raise FlowError("verify_page", "no CSRF token")
    return token


def pass_totp(browser, user, token, rec):
    code = pyotp.TOTP(user["secret"]).now()
    response, _, t = browser.request("POST", "/login/verify", {"code": code, "csrf_token": token})
    rec.add("totp", response, t)
    _expect("totp", response, 303, "/")


def finish_and_sign_out(browser, user, rec, check_old_session):
    response, html, t = browser.request("GET", "/account/security")
    rec.add("protected", response, t)
    _expect("protected", response, 200)
    if f">{user['email']}<" not in html or "Password and authentication" not in html:
        raise FlowError("protected", "the page does not show the signed-in user")
    token = csrf_token(html)
    if not token:
        raise FlowError("protected", "no sign-out form")
    old_cookies = dict(browser.cookies)
    response, _, t = browser.request("POST", "/logout", {"csrf_token": token})
    rec.add("logout", response, t)
    _expect("logout", response, 303, "/login")
    if check_old_session:
        old = Browser(browser.port)
        old.cookies = old_cookies
        response, _, _ = old.request("GET", "/account/security")
        if response.status not in (302, 303) or location_path(response) != "/login":
            raise FlowError("after_logout", f"old session still opens the security page (HTTP {response.status})")


_LOADED = {}  # path -> users, read once before the workers fork (not inside the timed window)


def load_users(path):
    if path not in _LOADED:
        with open(path) as f:
            _LOADED[path] = [json.loads(line) for line in f if line.strip()]
    return _LOADED[path]


def _users_for(worker, workers, users, start, count):
    """This worker's share of users[start:start+count], each used once at most."""
    return [users[i % len(users)] for i in range(start + worker, start + count, workers)]


def _flow_worker(args):
    worker, opts = args
    users = load_users(opts["users"])
    mine = _users_for(worker, opts["concurrency"], users, opts["start"], opts["count"])
    rec = Recorder()
    flows = failures = 0
    reasons = {}
    deadline = time.monotonic() + opts["duration"]
    last = -1  # offset (from --start) of the last user this worker used
    for n, user in enumerate(mine):
        if time.monotonic() >= deadline or (opts["max_flows"] and n >= opts["max_flows"]):
            break
        last = worker + n * opts["concurrency"]
        browser = Browser(opts["port"])
        try:
            token = start_sign_in(browser, user, rec)
            pass_totp(browser, user, token, rec)
            check = opts["check_every"] and (n % opts["check_every"] == 0)
            finish_and_sign_out(browser, user, rec, check)
            flows += 1
        except FlowError as error:
            failures += 1
            reasons[str(error)] = reasons.get(str(error), 0) + 1
        except (OSError, http.client.HTTPException) as error:
            failures += 1
            reasons[f"connection: {error}"] = reasons.get(f"connection: {error}", 0) + 1
    else:
        if mine and time.monotonic() < deadline and not opts["max_flows"]:
            reasons["users exhausted before the end"] = 1
    return {"flows": flows, "failures": failures, "reasons": reasons, "used": last + 1, **rec.as_dict()}


def _bare_worker(args):
    worker, opts = args
    rec = Recorder()
    requests = failures = 0
    reasons = {}
    deadline = time.monotonic() + opts["duration"]
    n = worker
    while time.monotonic() < deadline:
        user_id = 1 + n % opts["max_id"]
        n += opts["concurrency"]
        browser = Browser(opts["port"])
        try:
            response, body, t = browser.request("GET", f"/bare/{user_id}")
            if response.status != 200 or "@" not in body or "session" not in browser.cookies:
                raise FlowError("bare", f"HTTP {response.status}")
            rec.add("bare", response, t)
            requests += 1
        except (FlowError, OSError, http.client.HTTPException) as error:
            failures += 1
            reasons[str(error)] = reasons.get(str(error), 0) + 1
    return {"flows": requests, "failures": failures, "reasons": reasons, "used": 0, **rec.as_dict()}


def _prepare_worker(args):
    """Growth run, first half: bring users to the verification page (not timed)."""
    worker, opts = args
    users = load_users(opts["users"])
    mine = _users_for(worker, opts["concurrency"], users, opts["start"], opts["count"])
    rec = Recorder()
    ready, reasons = [], {}
    for user in mine:
        browser = Browser(opts["port"])
        try:
            token = start_sign_in(browser, user, rec)
            ready.append({"user": user, "cookies": browser.cookies, "token": token})
        except (FlowError, OSError, http.client.HTTPException) as error:
            reasons[str(error)] = reasons.get(str(error), 0) + 1
    return ready, reasons


def run_parallel(target, opts):
    n = opts["concurrency"]
    if n == 1:
        results = [target((0, opts))]
    else:
        with multiprocessing.get_context("fork").Pool(n) as pool:
            results = pool.map(target, [(i, opts) for i in range(n)])
    return results


def combine(results, elapsed):
    rec = Recorder()
    total = {"flows": 0, "failures": 0, "reasons": {}, "users_used": 0}
    for r in results:
        total["flows"] += r["flows"]
        total["failures"] += r["failures"]
        total["users_used"] = max(total["users_used"], r["used"])
        for k, v in r["reasons"].items():
            total["reasons"][k] = total["reasons"].get(k, 0) + v
        rec.merge(r)
    total["elapsed"] = elapsed
    total.update(rec.as_dict())
    return total


def cmd_flows(opts):
    started = time.monotonic()
    results = run_parallel(_flow_worker, opts)
    return combine(results, time.monotonic() - started)


def cmd_bare(opts):
    started = time.monotonic()
    results = run_parallel(_bare_worker, opts)
    return combine(results, time.monotonic() - started)


def cmd_totp(opts):
    """Growth run: prepare `samples` sign-ins in parallel, then time their TOTP steps one at a time."""
    opts = dict(opts, count=opts["samples"])
    started = time.monotonic()
    prepared, reasons = [], {}
    for ready, why in run_parallel(_prepare_worker, opts):
        prepared.extend(ready)
        for k, v in why.items():
            reasons[k] = reasons.get(k, 0) + v
    rec = Recorder()
    flows, failures = 0, len(reasons) and sum(reasons.values())
    timed_started = time.monotonic()
    for item in prepared:
        browser = Browser(opts["port"])
        browser.cookies = item["cookies"]
        try:
            pass_totp(browser, item["user"], item["token"], rec)
            # Not timed: the sign-in really ended signed in.
            response, html, _ = browser.request("GET", "/account/security")
            if response.status != 200 or f">{item['user']['email']}<" not in html:
                raise FlowError("protected", f"HTTP {response.status}, not signed in")
            flows += 1
        except (FlowError, OSError, http.client.HTTPException) as error:
            failures += 1
            reasons[str(error)] = reasons.get(str(error), 0) + 1
    result = combine([{"flows": flows, "failures": failures, "reasons": reasons, "used": opts["samples"],
                       **rec.as_dict()}], time.monotonic() - started)
    result["timed_elapsed"] = time.monotonic() - timed_started
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("flows", "bare", "totp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", help="JSON lines: email, password, secret")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (flows, bare)")
    parser.add_argument("--start", type=int, default=0, help="first user to use")
    parser.add_argument("--count", type=int, default=0, help="users available from --start (flows)")
    parser.add_argument("--max-flows", type=int, default=0, help="stop each worker after this many flows")
    parser.add_argument("--check-every", type=int, default=1, help="check the old session after sign-out every Nth flow")
    parser.add_argument("--max-id", type=int, default=1, help="bare: user ids 1..N")
    parser.add_argument("--samples", type=int, default=200, help="totp: sign-ins to time")
    opts = vars(parser.parse_args(argv))
    if opts["mode"] != "bare" and not opts["users"]:
        parser.error("--users is required")
    if opts["users"]:
        load_users(opts["users"])
    if opts["mode"] == "flows" and not opts["count"]:
        opts["count"] = len(load_users(opts["users"])) - opts["start"]
    result = {"flows": cmd_flows, "bare": cmd_bare, "totp": cmd_totp}[opts["mode"]](opts)
    result["mode"] = opts["mode"]
    result["concurrency"] = opts["concurrency"]
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
