"""A local Microsoft Entra ID token endpoint for tests, over HTTPS.

Answers POST /TENANT/oauth2/v2.0/token (client secret, client certificate
assertion or federated workload identity assertion) and, for managed
identity, GET requests in the App Service protocol, with a bearer token for
Azure Storage: an unsigned JWT whose audience is https://storage.azure.com,
which Azurite accepts in `--oauth basic` mode. Each request's grant is
appended to a JSON Lines log so tests can see which flow the agent used.

Usage: token-server.py PORT CERT KEY LOG
"""
import base64
import json
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, cert, key, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        tenant = self.path.strip("/").split("/")[0]
        flow = "client_secret" if "client_secret" in form else (
            "client_assertion" if "client_assertion" in form else "unknown")
        with open(log, "a") as f:
            f.write(json.dumps({"tenant": tenant, "client_id": form.get("client_id", [""])[0],
                                "flow": flow, "scope": form.get("scope", [""])[0]}) + "\n")
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": f"https://sts.windows.net/{tenant}/",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
                  "oid": "00000000-0000-0000-0000-0000000000aa", "tid": tenant,
                  "appid": form.get("client_id", [""])[0]}
        token = b64({"alg": "RS256", "typ": "JWT"}) + "." + b64(claims) + ".c2lnbmF0dXJl"
        body = json.dumps({"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                           "access_token": token}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        # Managed identity, App Service protocol (IDENTITY_ENDPOINT and
        # IDENTITY_HEADER): GET ?api-version=2019-08-01&resource=...
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if not self.headers.get("X-IDENTITY-HEADER"):
            self.send_response(401)
            self.end_headers()
            return
        resource = query.get("resource", [""])[0]
        client_id = query.get("client_id", ["system-assigned"])[0]
        with open(log, "a") as f:
            f.write(json.dumps({"tenant": "", "client_id": client_id, "flow": "managed_identity",
                                "scope": resource}) + "\n")
        now = int(time.time())
        claims = {"aud": "https://storage.azure.com", "iss": "https://sts.windows.net/mi/",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600,
                  "oid": "00000000-0000-0000-0000-0000000000bb", "tid": "mi", "appid": client_id}
        token = b64({"alg": "RS256", "typ": "JWT"}) + "." + b64(claims) + ".c2lnbmF0dXJl"
        body = json.dumps({"access_token": token, "expires_on": str(now + 3600),
                           "token_type": "Bearer", "resource": resource}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
