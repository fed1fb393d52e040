"""DynamoDB in a moto process of its own, beside the one that serves everything else.

moto's server runs on one interpreter: every request waits for the one before it to let go
of Python's lock, so under load its CPU time is every request's latency, and it uses one
core of the machine. DynamoDB (with its streams) is about half of that time during an
order, and it shares nothing with the other services but CloudFormation, which creates
the tables. So the emulator runs two processes:

- the **main process** answers at the emulator's address, serves every other service, and
  hands each DynamoDB or DynamoDB Streams request (by its `X-Amz-Target`) to the second
  process over a kept-alive connection, returning its answer unchanged;
- the **DynamoDB process** holds the tables and their items; when the main process's
  CloudFormation creates or deletes a table, it asks the DynamoDB process to do the same
  from the same resource properties, and keeps a copy without items for CloudFormation
  (its `Ref` and `GetAtt`) and for Lambda's stream mappings, under the same stream label.

Clients see one endpoint, as before. `EMULATOR_PROCESSES=1` keeps everything in one
process. The DynamoDB process stops when the main one does, even when it is killed.
"""

import atexit
import contextlib
import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

# The flag the main process starts the DynamoDB process with.
DYNAMODB_PROCESS_FLAG = "--dynamodb-process"
# The services the DynamoDB process answers, by the prefix of their `X-Amz-Target`.
_DYNAMODB_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
# Where the DynamoDB process hears about CloudFormation's tables (not an AWS path).
_CLOUDFORMATION_PATH = "/_pizza-shop/dynamodb/cloudformation-table"
# Headers of one hop that a forwarded exchange does not carry on, and the ones werkzeug
# writes itself.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
_WRITTEN_BY_SERVER = {"date", "server"}


def wanted() -> bool:
    """Whether this emulator splits DynamoDB off (unless `EMULATOR_PROCESSES=1`)."""
    return os.environ.get("EMULATOR_PROCESSES", "2") != "1"


def is_dynamodb_request(environ) -> bool:
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGETS)


# --- the main process ---------------------------------------------------------------


def start(script: str) -> tuple[str, int]:
    """Starts the DynamoDB process on a free local port, waits until it answers, and makes
    sure it stops with this one. Returns its address."""
    address = ("127.0.0.1", _free_port())
    process = subprocess.Popen(
        [sys.executable, script, DYNAMODB_PROCESS_FLAG, "-H", address[0], "-p", str(address[1])],
        preexec_fn=_stop_with_parent,
    )
    atexit.register(_stop, process)
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), socket.create_connection(address, timeout=1):
            return address
        if process.poll() is not None:
            raise RuntimeError(f"the DynamoDB process exited with {process.returncode} before answering")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the DynamoDB process did not answer at {address[0]}:{address[1]} within 60 s")
        time.sleep(0.05)


def forward_to(address: tuple[str, int]) -> None:
    """Hands every DynamoDB request to the process at `address`, and mirrors
    CloudFormation's tables there."""
    forward = _Forwarder(address)
    dispatch = DomainDispatcherApplication.__call__

    def dispatch_or_forward(self, environ, start_response):
        if is_dynamodb_request(environ):
            return forward(environ, start_response)
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = dispatch_or_forward
    _mirror_cloudformation_tables(forward)


class _Forwarder:
    """A WSGI app that sends a request on to another server and answers with its answer;
    one kept-alive connection per server thread."""

    def __init__(self, address: tuple[str, int]):
        self._address = address
        self._connections = threading.local()

    def __call__(self, environ, start_response):
        length = environ.get("CONTENT_LENGTH") or "0"
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else environ["wsgi.input"].read()
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name[5:].replace("_", "-").lower() not in _NOT_FORWARDED
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["Content-Length"] = str(len(body))
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
        status, reason, response_headers, answer = self.exchange(environ["REQUEST_METHOD"], target, body, headers)
        start_response(f"{status} {reason}", response_headers)
        return [answer]

    def exchange(self, method: str, target: str, body: bytes, headers: dict) -> tuple[int, str, list, bytes]:
        # A kept connection the other side has since closed fails before the request is
        # read: it is tried once more on a new one.
        for attempt in (1, 2):
            connection = self._connection(fresh=attempt > 1)
            try:
                connection.request(method, target, body, headers)
                response = connection.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                if attempt == 2:
                    raise
                continue
            kept = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in _NOT_FORWARDED and name.lower() not in _WRITTEN_BY_SERVER
            ]
            return response.status, response.reason, kept, answer
        raise AssertionError("unreachable")

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        connection = getattr(self._connections, "connection", None)
        if connection is None or fresh:
            connection = http.client.HTTPConnection(*self._address, timeout=120)
            self._connections.connection = connection
        return connection


def _mirror_cloudformation_tables(forward: _Forwarder) -> None:
    """CloudFormation in this process creates and deletes tables in the DynamoDB process,
    and keeps a copy without items here for its own references and Lambda's mappings."""
    create, delete = Table.create_from_cloudformation_json, Table.delete

    def ask(request: dict) -> dict:
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        status, _, _, answer = forward.exchange("POST", _CLOUDFORMATION_PATH, body, headers)
        if status != 200:
            raise RuntimeError(f"the DynamoDB process could not {request['action']} a table: {answer.decode()}")
        return json.loads(answer)

    def create_in_both(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        created = ask(
            {
                "action": "create",
                "resource_name": resource_name,
                "cloudformation_json": cloudformation_json,
                "account_id": account_id,
                "region_name": region_name,
            }
        )
        table = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
        if created.get("stream_label"):
            # A stream's ARN names its label: Lambda's mapping must name the stream the
            # DynamoDB process keeps.
            table.latest_stream_label = created["stream_label"]
        return table

    # A stack's deletion deletes each of its resources by the resource's own `delete`.
    def delete_in_both(self, account_id, region_name):
        ask({"action": "delete", "table_name": self.name, "account_id": account_id, "region_name": region_name})
        return delete(self, account_id, region_name)

    Table.create_from_cloudformation_json = classmethod(create_in_both)
    Table.delete = delete_in_both


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop_with_parent() -> None:
    """In the child, before it runs: the kernel stops it when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# --- the DynamoDB process -----------------------------------------------------------


def serve_cloudformation_tables(lock: threading.Lock) -> None:
    """Answers the main process's requests to create or delete CloudFormation's tables,
    one at a time with every other DynamoDB request (`lock`)."""
    dispatch = DomainDispatcherApplication.__call__

    def table_or_dispatch(self, environ, start_response):
        if environ.get("PATH_INFO") != _CLOUDFORMATION_PATH:
            return dispatch(self, environ, start_response)
        try:
            request = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            with lock:
                answer = _change_table(request)
            status, body = "200 OK", json.dumps(answer)
        except Exception as err:  # noqa: BLE001 (the main process reports it)
            status, body = "500 Internal Server Error", json.dumps({"error": f"{type(err).__name__}: {err}"})
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body.encode()]

    DomainDispatcherApplication.__call__ = table_or_dispatch


def _change_table(request: dict) -> dict:
    account_id, region_name = request["account_id"], request["region_name"]
    if request["action"] == "create":
        table = Table.create_from_cloudformation_json(
            request["resource_name"], request["cloudformation_json"], account_id, region_name
        )
        return {"stream_label": table.latest_stream_label}
    backend = dynamodb_backends[account_id][region_name]
    if request["table_name"] in backend.tables:
        backend.delete_table(request["table_name"])
    return {}
