#!/usr/bin/python3
"""A small SMTP relay for the SMTP transport tests (run it with /usr/bin/python3: it needs
Debian's python3-aiosmtpd).

Listens on 127.0.0.1:<port> and writes each accepted message to <out>/<n>.eml exactly as
received (CRLF line endings, dot-stuffing undone), with its envelope in <n>.env:
"MAIL FROM address", one line per recipient, then "connection <k>" (k counts connections).
The .env file is written before the .eml one, each by rename, before the 250 reply is sent.
Recipients whose local part is "unknown" get "550 5.1.1 user unknown". With --auth USER:PASS
the relay requires AUTH (also without TLS) and answers wrong credentials with 535. With
--idle-timeout SECONDS it closes connections idle that long (default 300). Prints READY once
listening; runs until SIGTERM or SIGINT.
"""

import argparse
import logging
import os
import signal
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

MESSAGES_MAX = 10000


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.messages = 0
        self.connections = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("unknown@"):
            return "550 5.1.1 user unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.messages >= MESSAGES_MAX:
            return "452 4.3.1 too many messages for this test relay"
        if not hasattr(session, "test_connection"):
            self.connections += 1
            session.test_connection = self.connections
        self.messages += 1
        base = os.path.join(self.out_dir, "%06d" % self.messages)
        lines = [envelope.mail_from] + list(envelope.rcpt_tos)
        lines.append("connection %d" % session.test_connection)
        write_atomically(base + ".env", ("\n".join(lines) + "\n").encode("utf-8"))
        write_atomically(base + ".eml", envelope.original_content)
        return "250 2.0.0 Ok: queued"


def write_atomically(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as file:
        file.write(data)
    os.rename(temporary, path)


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)
    return authenticate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--auth", default="")
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    args = parser.parse_args()
    # Quiet in test output: aiosmtpd warns about AUTH without TLS, which these tests want.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    options = dict(timeout=args.idle_timeout)
    if args.auth:
        user, _, password = args.auth.partition(":")
        options.update(authenticator=make_authenticator(user, password), auth_required=True,
                       auth_require_tls=False)
    controller = Controller(Handler(args.out), hostname="127.0.0.1", port=args.port, **options)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    controller.start()
    try:
        print("READY", flush=True)
        while True:
            signal.pause()
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
