#!/usr/bin/env python3
"""Smoke test of the mail-flow test servers, independent of the product.

Starts the Dovecot harness and the Postfix harness in fresh temporary
directories, then checks submission -> queue -> LMTP -> Sieve -> IMAP end to end,
the special recipients, the refusals and the quota user. One line per check;
exit status 1 if any check failed, 77 (ctest: skipped) when not run as root.

    python3 tests/servers/postfix/mailflow_smoke.py [--keep]

--keep (or IMAPPROBE_KEEP_WORKDIR=1) keeps the work directories for a look.
"""
import base64
import imaplib
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SERVERS, "lib"))
from smoke import bad, check, failures, harness, ok, read_env  # noqa: E402

DOVECOT_HARNESS = os.path.join(SERVERS, "dovecot", "dovecot-harness.sh")
POSTFIX_HARNESS = os.path.join(HERE, "postfix-harness.sh")
ARRIVAL_TIMEOUT = 10.0  # seconds for a message to show up over IMAP
ABSENCE_WAIT = 3.0  # seconds a discarded/held message must stay away

RUN = uuid.uuid4().hex[:10]
sent_subjects = []


class Flow:
    def __init__(self, dv, pf):
        self.dv, self.pf = dv, pf
        self.ctx = ssl.create_default_context(cafile=pf["CA_FILE"])
        self.host = pf["SUBMISSION_HOST"]

    # ---------------------------------------------------------------- SMTP ---
    def submission(self, starttls=True):
        s = smtplib.SMTP(self.host, int(self.pf["SUBMISSION_PORT"]), timeout=10)
        s.ehlo("mailflow-smoke.test")
        if starttls:
            s.starttls(context=self.ctx)
            s.ehlo("mailflow-smoke.test")
        return s

    def smtps(self):
        s = smtplib.SMTP_SSL(self.host, int(self.pf["SMTPS_PORT"]), timeout=10, context=self.ctx)
        s.ehlo("mailflow-smoke.test")
        return s

    def login(self, s, mech, user=None, password=None):
        s.user = user or self.pf["SMTP_USER"]
        s.password = password or self.pf["SMTP_PASSWORD"]
        if mech == "PLAIN":
            return s.auth("PLAIN", s.auth_plain)
        return s.auth("LOGIN", s.auth_login, initial_response_ok=False)

    def message(self, rcpt, tag):
        subject = f"mailflow-smoke {RUN} {tag}"
        sent_subjects.append(subject)
        msg = (
            f"From: Smoke <{self.pf['RCPT_INBOX']}>\r\n"
            f"To: <{rcpt}>\r\n"
            f"Subject: {subject}\r\n"
            f"Message-ID: <{RUN}.{tag}@mailflow-smoke.test>\r\n"
            "\r\n"
            f"canary {tag}\r\n"
        )
        return subject, msg

    def send(self, s, rcpt, tag):
        """MAIL/RCPT/DATA; returns (subject, rcpt reply, data reply)."""
        subject, msg = self.message(rcpt, tag)
        code, resp = s.mail(self.pf["RCPT_INBOX"])
        if code != 250:
            return subject, (code, resp), None
        rr = s.rcpt(rcpt)
        if rr[0] not in (250, 251):
            s.rset()
            return subject, rr, None
        return subject, rr, s.data(msg.encode())

    # ---------------------------------------------------------------- IMAP ---
    def imap(self, user=None, password=None):
        m = imaplib.IMAP4_SSL(self.dv["IMAPS_HOST"], int(self.dv["IMAPS_PORT"]), ssl_context=self.ctx, timeout=10)
        m.login(user or self.dv["PROBE_USER"], password or self.dv["PROBE_PASSWORD"])
        return m

    def find(self, subject, mailbox="INBOX"):
        m = self.imap()
        try:
            typ, _ = m.select(f'"{mailbox}"', readonly=True)
            if typ != "OK":
                return []
            typ, data = m.search(None, "SUBJECT", f'"{subject}"')
            return data[0].split() if typ == "OK" and data and data[0] else []
        finally:
            m.logout()

    def wait_for(self, subject, mailbox="INBOX", timeout=ARRIVAL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            if self.find(subject, mailbox):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def cleanup(self):
        """Removes what this run sent (INBOX and Junk), and Junk itself if it is empty."""
        m = self.imap()
        try:
            for mailbox in ("INBOX", self.dv.get("JUNK_FOLDER", "Junk")):
                if m.select(f'"{mailbox}"')[0] != "OK":
                    continue
                typ, data = m.search(None, "SUBJECT", f'"mailflow-smoke {RUN}"')
                ids = data[0].split() if typ == "OK" and data and data[0] else []
                if ids:
                    m.store(b",".join(ids).decode(), "+FLAGS.SILENT", "(\\Deleted)")
                    m.expunge()
                left = m.select(f'"{mailbox}"')[1][0]
                m.close()
                if mailbox != "INBOX" and left == b"0":
                    m.delete(f'"{mailbox}"')
        finally:
            m.logout()


def smtp_error(fn):
    """Runs fn; returns (code, text) of an SMTP error reply, or (0, '') if none."""
    try:
        fn()
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode(errors="replace")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()))
        return code, text.decode(errors="replace")
    return 0, ""


def instance_processes(pf_conf, dv_workdir):
    """Live (non-zombie) processes of this Postfix (by MAIL_CONFIG) or Dovecot (by config path)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"MAIL_CONFIG={pf_conf}".encode() in environ or (dv_workdir + "/") in cmdline:
            found.append(f"{pid} {cmdline.strip()}")
    return found


def run_checks(f, dv, pf, pf_wd):
    # (a) submission, STARTTLS, AUTH PLAIN, delivery to INBOX
    s = f.submission()
    feats = s.esmtp_features.get("auth", "").upper().split()
    check("587 offers PLAIN and LOGIN after STARTTLS", {"PLAIN", "LOGIN"} <= set(feats), " ".join(feats))
    code, _ = f.login(s, "PLAIN")
    check("587 STARTTLS + AUTH PLAIN", code == 235, f"{code}")
    t0 = time.monotonic()
    subject, rr, dr = f.send(s, pf["RCPT_INBOX"], "inbox")
    queued = re.search(rb"queued as ([0-9A-Za-z]+)", dr[1]) if dr else None
    check("DATA reply 250 with a queue id", dr is not None and dr[0] == 250 and queued is not None,
          f"{dr[0]} {dr[1].decode()}" if dr else f"RCPT {rr}")
    arrived = f.wait_for(subject)
    check("arrives in INBOX", arrived, f"{time.monotonic() - t0:.2f} s" if arrived else "not within 10 s")

    # (e) unknown user
    _, rr, _ = f.send(s, pf["RCPT_UNKNOWN"], "unknown")
    check("RCPT unknown user: 550 5.1.1", rr[0] == 550 and b"5.1.1" in rr[1], f"{rr[0]} {rr[1].decode()}")

    # (j') authenticated, outside domain: refused as well (nothing leaves the machine)
    _, rr, _ = f.send(s, pf["RCPT_OUTSIDE"], "outside-auth")
    check("authenticated RCPT outside imap.test refused", rr[0] >= 500, f"{rr[0]} {rr[1].decode()}")

    # (f) discard
    subject, rr, dr = f.send(s, pf["RCPT_DISCARD"], "discard")
    check("probe+discard: 250 at DATA", dr is not None and dr[0] == 250, f"{dr[0]} {dr[1].decode()}" if dr else f"RCPT {rr}")
    discard_subject = subject

    # (g) hold
    subject, rr, dr = f.send(s, pf["RCPT_HOLD"], "hold")
    check("probe+hold: 250 at DATA", dr is not None and dr[0] == 250, f"{dr[0]} {dr[1].decode()}" if dr else f"RCPT {rr}")
    hold_subject = subject

    # (h) junk
    subject, rr, dr = f.send(s, pf["RCPT_JUNK"], "junk")
    check("probe+junk: 250 at DATA", dr is not None and dr[0] == 250, f"{dr[0]} {dr[1].decode()}" if dr else f"RCPT {rr}")
    junk_subject = subject
    s.quit()

    junk = dv.get("JUNK_FOLDER", "Junk")
    check("probe+junk lands in Junk", f.wait_for(junk_subject, junk))
    check("probe+junk not in INBOX", not f.find(junk_subject))
    m = f.imap()
    typ, data = m._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
    typ, lines = m._untagged_response(typ, data, "LIST")
    m.logout()
    junk_line = [ln.decode() for ln in lines if ln and ln.decode().endswith(f" {junk}")]
    check("Junk has \\Junk in LIST", bool(junk_line) and "\\Junk" in junk_line[0], repr(junk_line))

    time.sleep(ABSENCE_WAIT)
    check("probe+discard never arrives", not f.find(discard_subject) and not f.find(discard_subject, junk))
    check("probe+hold not delivered before release", not f.find(hold_subject))
    held = subprocess.run(["postqueue", "-c", pf["POSTFIX_CONF_DIR"], "-j"], capture_output=True, text=True)
    check("probe+hold is in the hold queue", '"queue_name": "hold"' in held.stdout, held.stdout.strip()[:200])
    harness(POSTFIX_HARNESS, "release", pf_wd)
    t0 = time.monotonic()
    arrived = f.wait_for(hold_subject)
    check("probe+hold arrives after release", arrived, f"{time.monotonic() - t0:.2f} s" if arrived else "not within 10 s")

    # (b) implicit TLS + AUTH LOGIN
    s = f.smtps()
    code, _ = f.login(s, "LOGIN")
    check("465 implicit TLS + AUTH LOGIN", code == 235, f"{code}")
    subject, rr, dr = f.send(s, pf["RCPT_INBOX"], "smtps")
    s.quit()
    check("smtps message arrives", dr is not None and dr[0] == 250 and f.wait_for(subject))

    # (c) wrong password
    s = f.submission()
    code, text = smtp_error(lambda: f.login(s, "PLAIN", password="wrong-password"))
    check("wrong password: 535 5.7.8", code == 535 and "5.7.8" in text, f"{code} {text}")
    s.close()

    # (d) no AUTH before STARTTLS on 587
    s = f.submission(starttls=False)
    offered = "auth" in s.esmtp_features
    code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0probe\0" + f.pf["SMTP_PASSWORD"].encode()).decode())
    check("587: no AUTH before STARTTLS", not offered and 500 <= code < 600, f"offered={offered}, AUTH -> {code} {text.decode()}")
    code, text = s.docmd("MAIL", f"FROM:<{pf['RCPT_INBOX']}>")
    check("587: no MAIL before STARTTLS", 500 <= code < 600, f"{code} {text.decode()}")
    s.close()

    # (j) no relay without AUTH (after STARTTLS, so the TLS requirement is not what refuses)
    for label, conn in (("587", lambda: f.submission()), ("465", f.smtps)):
        s = conn()
        _, rr, _ = f.send(s, pf["RCPT_OUTSIDE"], "relay-" + label)
        check(f"{label}: no relay without AUTH", rr[0] >= 500 and b"Relay access denied" in rr[1], f"{rr[0]} {rr[1].decode()}")
        _, rr, _ = f.send(s, pf["RCPT_INBOX"], "noauth-" + label)
        check(f"{label}: no local delivery without AUTH", rr[0] >= 500, f"{rr[0]} {rr[1].decode()}")
        _, rr, dr = f.send(s, pf["RCPT_DISCARD"], "noauth-discard-" + label)
        check(f"{label}: special recipient needs AUTH too", rr[0] >= 500, f"{rr[0]} {rr[1].decode()}")
        s.quit()

    # (i) quota
    m = f.imap(dv["QUOTA_USER"], dv["QUOTA_PASSWORD"])
    typ, data = m.getquotaroot("INBOX")
    m.logout()
    quota = " ".join(x.decode() for x in data[1] if x) if typ == "OK" and len(data) > 1 else ""
    want_storage = f"STORAGE {dv['QUOTA_SEED_STORAGE_KB']} {dv['QUOTA_STORAGE_LIMIT_KB']}"
    want_msgs = f"MESSAGE {dv['QUOTA_SEED_MESSAGES']} {dv['QUOTA_MESSAGE_LIMIT']}"
    check("GETQUOTAROOT for the quota user", want_storage in quota and want_msgs in quota,
          f"{quota!r}, expected {want_storage} and {want_msgs}")
    m = f.imap()
    typ, data = m.getquotaroot("INBOX")
    m.logout()
    limits = [x for x in (data[1] if typ == "OK" and len(data) > 1 else []) if x and (b"STORAGE" in x or b"MESSAGE" in x)]
    check("probe has no quota limits", not limits, repr(limits))


def main():
    if os.geteuid() != 0:
        print("skip: the Postfix harness needs root")
        return 77
    keep = "--keep" in sys.argv[1:] or bool(os.environ.get("IMAPPROBE_KEEP_WORKDIR"))
    t_start = time.monotonic()
    dv_wd = tempfile.mkdtemp(prefix="mailflow-dovecot.")
    pf_wd = tempfile.mkdtemp(prefix="mailflow-postfix.")
    dv = pf = None
    try:
        harness(DOVECOT_HARNESS, "start", dv_wd)
        dv = read_env(os.path.join(dv_wd, "env"))
        t0 = time.monotonic()
        harness(POSTFIX_HARNESS, "start", pf_wd, "--dovecot", dv_wd)
        pf = read_env(os.path.join(pf_wd, "env"))
        ok("harnesses started", f"postfix in {time.monotonic() - t0:.2f} s; submission {pf['SUBMISSION_PORT']}, "
           f"smtps {pf['SMTPS_PORT']}, lmtp {dv['LMTP_PORT']}, auth {dv['AUTH_PORT']}")
        f = Flow(dv, pf)
        try:
            run_checks(f, dv, pf, pf_wd)
        finally:
            try:
                f.cleanup()
                ok("removed the mail this run sent")
            except Exception as e:  # noqa: BLE001 - report and go on to stop
                bad("cleanup", repr(e))
    except Exception as e:  # noqa: BLE001 - every failure is one line
        bad("unexpected error", str(e).strip())
        for log in (os.path.join(pf_wd, "logs", "postfix.log"), os.path.join(dv_wd, "logs", "main.log")):
            if os.path.exists(log):
                with open(log, errors="replace") as fh:
                    print(f"----- {log} (tail) -----\n" + "".join(fh.readlines()[-30:]))
    finally:
        for script, wd in ((POSTFIX_HARNESS, pf_wd), (DOVECOT_HARNESS, dv_wd)):
            try:
                harness(script, "stop", wd)
            except RuntimeError as e:
                bad(f"stop {os.path.basename(script)}", str(e).strip())
        # (k) nothing of this run keeps running
        left = instance_processes(os.path.join(pf_wd, "conf"), dv_wd)
        check("stop leaves no postfix/dovecot processes", not left, "; ".join(left))
        with open("/etc/postfix/main.cf", encoding="utf-8", errors="replace") if os.path.exists(
                "/etc/postfix/main.cf") else open(os.devnull) as fh:
            check("stop unregisters the config directory", pf_wd not in fh.read())
        if keep:
            print(f"kept {dv_wd} {pf_wd}")
        else:
            shutil.rmtree(pf_wd, ignore_errors=True)
            shutil.rmtree(dv_wd, ignore_errors=True)
    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s) in {time.monotonic() - t_start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
