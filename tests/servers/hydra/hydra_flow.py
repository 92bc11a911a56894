#!/usr/bin/env python3
"""HTTP side of hydra-harness.sh: Hydra's admin API and OAuth 2.0 flows.

python3 stdlib only. Every command takes the harness workdir first and reads
<workdir>/env (written by `hydra-harness.sh start`) for the URLs.

    hydra_flow.py create-client <workdir> <client-id> [--secret S] [--auth basic|post|private_key_jwt]
                  [--jwks-file FILE] [--scope "mail offline"]
                  [--grant-types client_credentials,refresh_token] [--access-token-ttl DUR]
    hydra_flow.py set-ttl <workdir> <client-id> <DUR>
    hydra_flow.py client-token <workdir> <client-id> <client-secret> [scope]   -> access token
    hydra_flow.py refresh-token <workdir> <client-id> <client-secret> <subject> [scope]  -> refresh token
    hydra_flow.py revoke <workdir> <client-id> <client-secret> <token>

Errors go to stderr with the HTTP status and body; exit status 1.
"""
import argparse
import base64
import http.cookiejar
import json
import os
import secrets
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import smoke  # noqa: E402

TIMEOUT = 10  # seconds per HTTP request; Hydra answers in milliseconds


class Failure(Exception):
    pass


def read_env(workdir):
    path = os.path.join(workdir, "env")
    try:
        return smoke.read_env(path)
    except OSError as e:
        raise Failure(f"cannot read {path} (is the harness started?): {e}")


def tls_context(env):
    ca = env.get("HYDRA_CA_FILE", "")
    if not ca:
        return None
    ctx = ssl.create_default_context(cafile=ca)
    # The trust anchor may be the server's own (non-CA) certificate.
    ctx.verify_flags |= getattr(ssl, "VERIFY_X509_PARTIAL_CHAIN", 0)
    return ctx


class NoRedirect(urllib.request.HTTPRedirectHandler):
    # The flow reads each Location itself: the login, consent and client
    # redirect URLs are dummies that nothing listens on.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    def __init__(self, workdir):
        self.env = read_env(workdir)
        self.public = self.env["HYDRA_PUBLIC_URL"]
        self.admin = self.env["HYDRA_ADMIN_URL"]
        self.jar = http.cookiejar.CookieJar()
        handlers = [NoRedirect(), urllib.request.HTTPCookieProcessor(self.jar)]
        ctx = tls_context(self.env)
        if ctx is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method, url, body=None, headers=None, ok=(200,)):
        """Returns (status, headers, body text); raises Failure on any status not in ok."""
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=TIMEOUT) as r:
                status, hdrs, text = r.status, r.headers, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            status, hdrs, text = e.code, e.headers, e.read().decode("utf-8", "replace")
        except urllib.error.URLError as e:
            raise Failure(f"{method} {url}: {e.reason}")
        if status not in ok:
            raise Failure(f"{method} {url}: HTTP {status}: {text.strip()}")
        return status, hdrs, text

    def admin_json(self, method, path, obj, ok=(200,)):
        body = json.dumps(obj).encode() if obj is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        _, _, text = self.request(method, self.admin + path, body, headers, ok)
        return json.loads(text) if text.strip() else {}

    def client_auth(self, client_id, secret, form):
        """Adds client authentication the way the client is registered (basic or post)."""
        c = self.admin_json("GET", "/admin/clients/" + urllib.parse.quote(client_id, safe=""), None)
        method = c.get("token_endpoint_auth_method", "client_secret_basic")
        if method == "client_secret_post":
            form = dict(form, client_id=client_id, client_secret=secret)
            return form, {}
        if method == "client_secret_basic":
            # RFC 6749 2.3.1: id and secret are form-encoded before base64.
            raw = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
            return form, {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        raise Failure(f"client {client_id} authenticates with {method}; this helper only does "
                      "client_secret_basic and client_secret_post")

    def post_form(self, url, client_id, secret, form, ok=(200,)):
        form, headers = self.client_auth(client_id, secret, form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.request("POST", url, urllib.parse.urlencode(form).encode(), headers, ok)

    def get_location(self, url):
        status, hdrs, text = self.request("GET", url, ok=(302, 303))
        loc = hdrs.get("Location")
        if not loc:
            raise Failure(f"GET {url}: HTTP {status} without Location: {text.strip()}")
        return urllib.parse.urljoin(url, loc)


def lifespans(dur, grants):
    keys = {
        "client_credentials": ["client_credentials_grant_access_token_lifespan"],
        "refresh_token": ["refresh_token_grant_access_token_lifespan"],
        "authorization_code": ["authorization_code_grant_access_token_lifespan"],
    }
    out = {}
    for g in grants:
        for k in keys.get(g, []):
            out[k] = dur
    return out


def cmd_create_client(a):
    c = Client(a.workdir)
    grants = [g for g in a.grant_types.split(",") if g]
    body = {
        "client_id": a.client_id,
        "grant_types": grants,
        "scope": a.scope,
        "response_types": ["code"] if "authorization_code" in grants else ["token"],
    }
    if "authorization_code" in grants:
        body["redirect_uris"] = [c.env["HYDRA_REDIRECT_URI"]]
    auth = {"basic": "client_secret_basic", "post": "client_secret_post",
            "private_key_jwt": "private_key_jwt"}[a.auth]
    body["token_endpoint_auth_method"] = auth
    if auth == "private_key_jwt":
        if not a.jwks_file:
            raise Failure("--auth private_key_jwt needs --jwks-file")
        with open(a.jwks_file, encoding="utf-8") as f:
            jwks = json.load(f)
        if "keys" not in jwks:  # a single JWK
            jwks = {"keys": [jwks]}
        body["jwks"] = jwks
        body["token_endpoint_auth_signing_alg"] = "RS256"
    else:
        if not a.secret:
            raise Failure(f"--auth {a.auth} needs --secret (at least 6 characters)")
        body["client_secret"] = a.secret
    if a.access_token_ttl:
        body.update(lifespans(a.access_token_ttl, ["client_credentials", "refresh_token",
                                                   "authorization_code"]))
    c.admin_json("POST", "/admin/clients", body, ok=(201,))


def cmd_set_ttl(a):
    c = Client(a.workdir)
    body = lifespans(a.duration, ["client_credentials", "refresh_token", "authorization_code"])
    c.admin_json("PUT", "/admin/clients/" + urllib.parse.quote(a.client_id, safe="") + "/lifespans",
                 body)


def cmd_client_token(a):
    c = Client(a.workdir)
    form = {"grant_type": "client_credentials"}
    if a.scope:
        form["scope"] = a.scope
    _, _, text = c.post_form(c.env["HYDRA_TOKEN_URL"], a.client_id, a.client_secret, form)
    print(json.loads(text)["access_token"])


def cmd_refresh_token(a):
    c = Client(a.workdir)
    scopes = a.scope.split()
    if "offline" not in scopes and "offline_access" not in scopes:
        raise Failure("the scope must contain offline (or offline_access), else Hydra issues no refresh token")
    redirect_uri = c.env["HYDRA_REDIRECT_URI"]
    state = secrets.token_urlsafe(16)
    url = c.env["HYDRA_AUTH_URL"] + "?" + urllib.parse.urlencode({
        "client_id": a.client_id, "response_type": "code", "scope": a.scope,
        "redirect_uri": redirect_uri, "state": state})

    def follow_to(prefix, url):
        # Hydra may bounce through its own URLs before handing over; the
        # cookies it sets on the way (CSRF, session) are what ties the steps.
        for _ in range(10):
            loc = c.get_location(url)
            if loc.startswith(prefix):
                return urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
            if not loc.startswith(c.public):
                raise Failure(f"unexpected redirect to {loc} (waiting for {prefix})")
            url = loc
        raise Failure(f"too many redirects waiting for {prefix}")

    def one(q, key, where):
        if key not in q:
            err = q.get("error_description", q.get("error", ["?"]))[0]
            raise Failure(f"no {key} in the redirect to {where}: {err}")
        return q[key][0]

    q = follow_to(c.env["HYDRA_LOGIN_URL"], url)
    challenge = one(q, "login_challenge", "the login URL")
    r = c.admin_json("PUT", "/admin/oauth2/auth/requests/login/accept?"
                     + urllib.parse.urlencode({"login_challenge": challenge}),
                     {"subject": a.subject, "remember": False})
    q = follow_to(c.env["HYDRA_CONSENT_URL"], r["redirect_to"])
    challenge = one(q, "consent_challenge", "the consent URL")
    r = c.admin_json("PUT", "/admin/oauth2/auth/requests/consent/accept?"
                     + urllib.parse.urlencode({"consent_challenge": challenge}),
                     {"grant_scope": scopes, "remember": False})
    q = follow_to(redirect_uri, r["redirect_to"])
    code = one(q, "code", "the client's redirect_uri")
    if q.get("state", [""])[0] != state:
        raise Failure("state in the redirect does not match")
    _, _, text = c.post_form(c.env["HYDRA_TOKEN_URL"], a.client_id, a.client_secret,
                             {"grant_type": "authorization_code", "code": code,
                              "redirect_uri": redirect_uri})
    tok = json.loads(text)
    if not tok.get("refresh_token"):
        raise Failure(f"token response without refresh_token (scope {tok.get('scope')!r})")
    print(tok["refresh_token"])


def cmd_revoke(a):
    c = Client(a.workdir)
    c.post_form(c.env["HYDRA_REVOKE_URL"], a.client_id, a.client_secret, {"token": a.token})


def cmd_delete_client(a):
    # 404 too: "make sure it is gone" is what tests want between cases.
    c = Client(a.workdir)
    c.request("DELETE", c.admin + "/admin/clients/" + urllib.parse.quote(a.client_id, safe=""),
              ok=(204, 404))


def cmd_delete_tokens(a):
    # Every access token of the client, as an administrator revoking an
    # application's access would: tokens a test never saw included.
    c = Client(a.workdir)
    c.request("DELETE", c.admin + "/admin/oauth2/tokens?client_id=" +
              urllib.parse.quote(a.client_id, safe=""), ok=(204,))


def main(argv):
    p = argparse.ArgumentParser(prog="hydra_flow.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("create-client")
    s.add_argument("workdir")
    s.add_argument("client_id")
    s.add_argument("--secret", default="")
    s.add_argument("--auth", choices=["basic", "post", "private_key_jwt"], default="basic")
    s.add_argument("--jwks-file", default="")
    s.add_argument("--scope", default="mail offline")
    s.add_argument("--grant-types", default="client_credentials,refresh_token")
    s.add_argument("--access-token-ttl", default="")
    s.set_defaults(fn=cmd_create_client)
    s = sub.add_parser("set-ttl")
    s.add_argument("workdir")
    s.add_argument("client_id")
    s.add_argument("duration")
    s.set_defaults(fn=cmd_set_ttl)
    s = sub.add_parser("client-token")
    s.add_argument("workdir")
    s.add_argument("client_id")
    s.add_argument("client_secret")
    s.add_argument("scope", nargs="?", default="mail")
    s.set_defaults(fn=cmd_client_token)
    s = sub.add_parser("refresh-token")
    s.add_argument("workdir")
    s.add_argument("client_id")
    s.add_argument("client_secret")
    s.add_argument("subject")
    s.add_argument("scope", nargs="?", default="mail offline")
    s.set_defaults(fn=cmd_refresh_token)
    s = sub.add_parser("revoke")
    s.add_argument("workdir")
    s.add_argument("client_id")
    s.add_argument("client_secret")
    s.add_argument("token")
    s.set_defaults(fn=cmd_revoke)
    for name, fn in (("delete-client", cmd_delete_client), ("delete-tokens", cmd_delete_tokens)):
        s = sub.add_parser(name)
        s.add_argument("workdir")
        s.add_argument("client_id")
        s.set_defaults(fn=fn)
    a = p.parse_args(argv)
    try:
        a.fn(a)
    except Failure as e:
        print(f"hydra_flow.py {a.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
