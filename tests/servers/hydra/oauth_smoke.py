#!/usr/bin/env python3
"""Smoke test of the OAuth 2.0 test servers, independent of the product.

Starts the Hydra harness and a Dovecot harness whose oauth2 passdb introspects
Hydra's tokens, in fresh temporary directories, then checks that real tokens
log in over IMAPS with XOAUTH2 and OAUTHBEARER, that a revoked token is refused
at the next login, that a refresh token from the authorization-code flow
yields a working access token (and is rotated), and that Hydra's log counts
the token requests made. One line per check; exit status 1 if any failed.

    python3 tests/servers/hydra/oauth_smoke.py [--keep]

Exit 77 (ctest: skipped) when Hydra is not built (tests/servers/hydra/build-hydra.sh,
or bash tests/tools.sh), unless IMAPPROBE_TOOLS_PREBUILT says it must be (then
it fails) or HYDRA_BIN names a binary. The Dovecot harness runs as root or as
any user.

--keep (or IMAPPROBE_KEEP_WORKDIR=1) keeps the work directories for a look.
"""
import base64
import imaplib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SERVERS, "lib"))
from smoke import bad, check, failures, harness, ok, read_env  # noqa: E402

HYDRA_HARNESS = os.path.join(HERE, "hydra-harness.sh")
BUILD_HYDRA = os.path.join(HERE, "build-hydra.sh")
DOVECOT_HARNESS = os.path.join(SERVERS, "dovecot", "dovecot-harness.sh")
CLIENT_ID = "oauth"  # = the Dovecot user: a client_credentials token's sub is the client id
CLIENT_SECRET = "oauth-smoke-secret"



def token_request(hy, form):
    """POST to Hydra's token endpoint with client_secret_basic; returns (status, json)."""
    auth = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    req = urllib.request.Request(hy["HYDRA_TOKEN_URL"], data=urllib.parse.urlencode(form).encode(),
                                 headers={"Authorization": "Basic " + auth}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


class Imap:
    def __init__(self, dv):
        self.host, self.port = dv["IMAPS_HOST"], int(dv["IMAPS_PORT"])
        self.ctx = ssl.create_default_context(cafile=dv["CA_FILE"])

    def login(self, mech, user, token):
        """Returns (True, '') on OK, (False, server's reply) on NO."""
        if mech == "XOAUTH2":
            first = f"user={user}\x01auth=Bearer {token}\x01\x01"
        else:
            first = f"n,a={user},\x01host={self.host}\x01port={self.port}\x01auth=Bearer {token}\x01\x01"
        sent = []

        def respond(_challenge):
            # On failure the server sends an error continuation first; the
            # client answers it with an empty response to get the NO.
            sent.append(1)
            return first.encode() if len(sent) == 1 else b""

        m = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.ctx, timeout=10)
        try:
            m.authenticate(mech, respond)
            m.select("INBOX", readonly=True)
            return True, ""
        except imaplib.IMAP4.error as e:
            return False, str(e)
        finally:
            try:
                m.logout()
            except Exception:  # noqa: BLE001 - a refused session may already be closed
                pass


def run_checks(hy, dv, hy_wd):
    check("dovecot uses introspection", dv.get("OAUTH2_MODE") == "introspection"
          and dv.get("OAUTH2_INTROSPECTION_URL") == hy["HYDRA_INTROSPECT_URL"],
          f"OAUTH2_MODE={dv.get('OAUTH2_MODE')}")
    harness(HYDRA_HARNESS, "create-client", hy_wd, CLIENT_ID, "--secret", CLIENT_SECRET,
            "--grant-types", "client_credentials,refresh_token,authorization_code",
            "--scope", "mail offline")
    ok("created client", CLIENT_ID)
    imap = Imap(dv)

    # (a) client_credentials token: its sub is the client id = the Dovecot user
    status, tok = token_request(hy, {"grant_type": "client_credentials", "scope": "mail"})
    if not check("client_credentials token", status == 200 and tok.get("access_token"),
                 f"HTTP {status}, expires_in {tok.get('expires_in')}"):
        return
    at = tok["access_token"]
    good, why = imap.login("XOAUTH2", CLIENT_ID, at)
    check("XOAUTH2 login with the token", good, why)
    good, why = imap.login("OAUTHBEARER", CLIENT_ID, at)
    check("OAUTHBEARER login with the token", good, why)
    good, why = imap.login("XOAUTH2", "probe", at)
    check("XOAUTH2 as another user is refused", not good, why)

    # (b) revoked: Dovecot caches no auth result, so the next login introspects
    harness(HYDRA_HARNESS, "revoke", hy_wd, CLIENT_ID, CLIENT_SECRET, at)
    good, why = imap.login("XOAUTH2", CLIENT_ID, at)
    check("XOAUTH2 login with the revoked token is refused", not good, why)

    # (c) refresh token from the authorization-code flow (subject = Dovecot user)
    r = harness(HYDRA_HARNESS, "refresh-token", hy_wd, CLIENT_ID, CLIENT_SECRET, CLIENT_ID, "mail offline")
    rt = r.stdout.strip()
    if not check("refresh token from the authorization-code flow", rt.startswith("ory_rt_")):
        return
    status, tok = token_request(hy, {"grant_type": "refresh_token", "refresh_token": rt})
    if not check("refresh_token grant", status == 200 and tok.get("access_token"), f"HTTP {status}"):
        return
    check("refresh token rotated", tok.get("refresh_token", rt) != rt)
    good, why = imap.login("XOAUTH2", CLIENT_ID, tok["access_token"])
    check("XOAUTH2 login with the refreshed access token", good, why)
    status, again = token_request(hy, {"grant_type": "refresh_token", "refresh_token": rt})
    check("the used refresh token is refused (no grace period)",
          status == 400 and again.get("error") == "invalid_grant", f"HTTP {status} {again.get('error')}")

    # (d) Hydra's request log: client_credentials, authorization_code, 2 x refresh_token
    n = int(harness(HYDRA_HARNESS, "count-token-requests", hy_wd).stdout.strip())
    check("token requests counted from Hydra's log", n == 4, f"{n} (expected 4)")
    # Five logins, five introspections: Dovecot caches no auth result.
    with open(hy["HYDRA_LOG"], errors="replace") as fh:
        n = sum(1 for line in fh if "msg=completed handling request" in line
                and "method:POST path:/admin/oauth2/introspect " in line)
    check("every login introspected the token", n == 5, f"{n} introspection requests (expected 5)")


def hydra_available():
    if os.environ.get("HYDRA_BIN"):
        return True
    return subprocess.run(["bash", BUILD_HYDRA, "--check"], capture_output=True).returncode == 0


def main():
    if not hydra_available():
        if os.environ.get("IMAPPROBE_TOOLS_PREBUILT"):
            print("FAIL hydra is not built although IMAPPROBE_TOOLS_PREBUILT is set (bash tests/tools.sh)")
            return 1
        print("skip: hydra is not built (run: bash tests/servers/hydra/build-hydra.sh, ~2 min)")
        return 77
    keep = "--keep" in sys.argv[1:] or bool(os.environ.get("IMAPPROBE_KEEP_WORKDIR"))
    t_start = time.monotonic()
    hy_wd = tempfile.mkdtemp(prefix="oauth-hydra.")
    dv_wd = tempfile.mkdtemp(prefix="oauth-dovecot.")
    hy_pid = None
    try:
        t0 = time.monotonic()
        harness(HYDRA_HARNESS, "start", hy_wd)
        hy = read_env(os.path.join(hy_wd, "env"))
        hy_pid = int(hy["HYDRA_PID"])
        ok("hydra started", f"{time.monotonic() - t0:.2f} s; public {hy['HYDRA_PUBLIC_URL']}, "
           f"admin {hy['HYDRA_ADMIN_URL']}")
        t0 = time.monotonic()
        harness(DOVECOT_HARNESS, "start", dv_wd, "--oauth2-introspection-url", hy["HYDRA_INTROSPECT_URL"])
        dv = read_env(os.path.join(dv_wd, "env"))
        ok("dovecot started", f"{time.monotonic() - t0:.2f} s; imaps {dv['IMAPS_HOST']}:{dv['IMAPS_PORT']}")
        run_checks(hy, dv, hy_wd)
    except Exception as e:  # noqa: BLE001 - every failure is one line
        bad("unexpected error", str(e).strip())
        for log in (os.path.join(hy_wd, "hydra.log"), os.path.join(dv_wd, "logs", "main.log")):
            if os.path.exists(log):
                with open(log, errors="replace") as fh:
                    print(f"----- {log} (tail) -----\n" + "".join(fh.readlines()[-20:]))
    finally:
        for script, wd in ((DOVECOT_HARNESS, dv_wd), (HYDRA_HARNESS, hy_wd)):
            try:
                harness(script, "stop", wd)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                bad(f"stop {os.path.basename(script)}", str(e).strip())
        if hy_pid is not None:
            check("hydra stopped", not os.path.exists(f"/proc/{hy_pid}"), f"pid {hy_pid}")
        if keep:
            print(f"kept {hy_wd} {dv_wd}")
        else:
            shutil.rmtree(hy_wd, ignore_errors=True)
            shutil.rmtree(dv_wd, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s) in {time.monotonic() - t_start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
