"""The paper's Docker baseline: an OpenWhisk `dockerskeleton`-style action proxy.

It behaves as OpenWhisk's `actionproxy.py` does (the proxy of the `dockerskeleton` image the
paper's containers ran): Flask served by gevent's WSGI server on port 8080;

- `POST /init` stores the action: `value.code` base64 of a binary (`binary: true`) or of a zip
  holding `exec`, written to /action/exec; a second init is refused (403);
- `POST /run` spawns /action/exec for every activation, with the parameters as a JSON string as
  its first argument and on its stdin (the argument is left out past 131071 bytes, the kernel's
  MAX_ARG_STRLEN), the context fields as `__OW_<KEY>` environment variables, and answers the
  last line of its stdout, which must be a JSON object or array;
- one activation at a time: the spawn blocks gevent's only thread, so a second request waits
  until the first is answered, as in OpenWhisk's proxy (which is never sent two at once);
- `GET /health` answers 200 (readiness, polled as for every Docker series), and sockets send
  without delay (see `NoDelayHandler`); a malformed body gets a 400 as from `wow-proxy`, where
  OpenWhisk's proxy would run the action with `{}`.

The error strings and status codes are OpenWhisk's, the same as `wow-proxy`'s
(`runtime/protocol`). Only Flask, gevent and Python's standard library are used, all from
Debian's packages.
"""

import base64
import io
import json
import os
import socket
import subprocess
import sys
import zipfile

import flask
from gevent.pywsgi import WSGIHandler, WSGIServer

ACTION = "/action/exec"
SENTINEL = "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX"
MAX_ARG_STRLEN = 131071
MAX_PAYLOAD = 1024 * 1024

REINIT = "Cannot initialize the action more than once."
INIT_FAILED = "The action failed to generate or locate a binary. See logs for details."
NOT_INITIALIZED = "The action failed to locate a binary. See logs for details."
NOT_DICT_RESULT = "The action did not return a dictionary or array."
NOT_DICT_ARG = "The action did not receive a dictionary or array as an argument."
MISSING_CODE = "Missing main/no code to execute."
RESERVED_ENV = ("__OW_ACTIONLOOP", "__OW_WAIT_FOR_ACK")

proxy = flask.Flask(__name__)
proxy.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
state = {"initialized": False, "env": {}}


def complete(body, status):
    """A JSON response, with the log sentinel written as OpenWhisk's runtimes write it."""
    sys.stdout.write(SENTINEL + "\n")
    sys.stderr.write(SENTINEL + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    response = flask.jsonify(body)
    response.status_code = status
    return response


def error(msg, status):
    return complete({"error": msg}, status)


class NotJson(Exception):
    pass


def request_json():
    """The request body as a JSON object, None when it is JSON but not an object; NotJson when
    it is not JSON at all."""
    try:
        message = json.loads(flask.request.get_data())
    except ValueError:
        raise NotJson()
    return message if isinstance(message, dict) else None


@proxy.errorhandler(NotJson)
def not_json(_):
    return error("The request body is not valid JSON.", 400)


@proxy.route("/health", methods=["GET"])
def health():
    """Readiness, polled by the harness as for every Docker series (not in OpenWhisk's proxy,
    whose invoker waits for the port instead)."""
    return flask.jsonify({"ok": True})


@proxy.route("/init", methods=["POST"])
def init():
    if state["initialized"]:
        return error(REINIT, 403)
    message = request_json()
    if message is None or not isinstance(message.get("value"), dict):
        return error("The init body is not a JSON object with a 'value' object.", 400)
    value = message["value"]
    code = value.get("code")
    if not isinstance(code, str) or not code:
        return error(MISSING_CODE, 400)
    env = value.get("env") or {}
    if not isinstance(env, dict) or any(k in RESERVED_ENV for k in env):
        return error("The init env is not an object of allowed names.", 400)
    try:
        blob = base64.b64decode(code, validate=True) if value.get("binary") else code.encode()
    except ValueError:
        return error("The code is not valid base64.", 400)
    try:
        os.makedirs(os.path.dirname(ACTION), exist_ok=True)
        if blob[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                z.extractall(os.path.dirname(ACTION))
        else:
            with open(ACTION, "wb") as f:
                f.write(blob)
        os.chmod(ACTION, 0o755)
    except (OSError, zipfile.BadZipFile) as e:
        sys.stderr.write("init: %s\n" % e)
        return error(INIT_FAILED, 502)
    if not os.access(ACTION, os.X_OK):
        return error(INIT_FAILED, 502)
    state["env"] = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
    state["initialized"] = True
    return complete({"ok": True}, 200)


@proxy.route("/run", methods=["POST"])
def run():
    message = request_json()
    if message is None:
        return error(NOT_DICT_ARG, 404)
    args = message.get("value", {})
    if not isinstance(args, (dict, list)):
        return error(NOT_DICT_ARG, 404)
    if not state["initialized"]:
        return error(NOT_INITIALIZED, 502)
    env = dict(os.environ)
    env.update(state["env"])
    for k, v in message.items():
        if k == "value":
            continue
        name = "__OW_" + k.upper()
        if name in RESERVED_ENV:
            return error("The run context names a reserved variable: %s" % name, 400)
        env[name] = v if isinstance(v, str) else json.dumps(v)
    payload = json.dumps(args)
    argv = [ACTION] if len(payload) > MAX_ARG_STRLEN else [ACTION, payload]
    try:
        p = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        out, err = p.communicate(input=payload.encode())
    except OSError as e:
        return error("Internal error. %s" % e, 500)
    if err:
        sys.stderr.write(err.decode("utf-8", "replace"))
    lines = out.decode("utf-8", "replace").rstrip("\n").split("\n")
    for line in lines[:-1]:
        sys.stdout.write(line + "\n")
    last = lines[-1].strip()
    if len(last) > MAX_PAYLOAD:
        return error(
            "The action produced a response that exceeded the allowed length: %d > %d bytes."
            % (len(last), MAX_PAYLOAD),
            413,
        )
    try:
        result = json.loads(last)
    except ValueError:
        result = None
    if not isinstance(result, (dict, list)):
        return error(NOT_DICT_RESULT, 502)
    response = flask.Response(last, status=200, mimetype="application/json")
    sys.stdout.write(SENTINEL + "\n")
    sys.stderr.write(SENTINEL + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    return response


class NoDelayHandler(WSGIHandler):
    """Sends each write at once (TCP_NODELAY). gevent's server writes a response's head and body
    separately; with Nagle's algorithm a keep-alive client's delayed ACK then holds the body
    back 40 ms on every activation, a network artifact rather than a cost of the proxy."""

    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)


if __name__ == "__main__":
    WSGIServer(("0.0.0.0", 8080), proxy, log=None, handler_class=NoDelayHandler).serve_forever()
