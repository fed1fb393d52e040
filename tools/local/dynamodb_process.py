"""DynamoDB in a moto process of its own, beside the one that serves everything else.

moto's server runs on one interpreter: every request waits for the one before it to let go
of Python's lock, so under load its CPU time is every request's latency, and it uses one
core of the machine. DynamoDB (with its streams) is about half of that time during an
order, and it shares nothing with the other services but the tables' definitions. So the
emulator runs two processes:

- the **main process** answers at the emulator's address, serves every other service, and
  hands each DynamoDB or DynamoDB Streams request (by its `X-Amz-Target`) to the second
  process over a kept-alive connection, returning its answer unchanged;
- the **DynamoDB process** holds the tables and their items. The main process keeps a
  copy of each table without items, under the same stream label, for what reads tables
  there (CloudFormation's `Ref` and `GetAtt`, Lambda's stream mappings): its
  CloudFormation creates and deletes a stack's tables in the DynamoDB process first, and a
  table created, deleted or given a stream through the API is copied once the DynamoDB
  process has answered.

Clients see one endpoint, as before. If either process dies, the other stops too, so a
half-working emulator is never reused. `EMULATOR_PROCESSES=1` keeps one process.
"""

import atexit
import contextlib
import ctypes
import ctypes.util
import dataclasses
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

# The flag the main process starts the DynamoDB process with.
DYNAMODB_PROCESS_FLAG = "--dynamodb-process"
# The services the DynamoDB process answers, by the prefix of their `X-Amz-Target`.
_DYNAMODB_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
# The main process's own requests to the DynamoDB process (not AWS paths).
_CLOUDFORMATION_PATH = "/_pizza-shop/dynamodb/cloudformation-table"
_WHO_PATH = "/_pizza-shop/dynamodb/pid"
# Headers of one hop that a forwarded exchange does not carry on, and the ones werkzeug
# writes itself.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"}
_WRITTEN_BY_SERVER = {"date", "server"}
# How often each process looks whether the other is still there.
_WATCH_EVERY = 0.5


def wanted() -> bool:
    """Whether this emulator splits DynamoDB off (unless `EMULATOR_PROCESSES=1`)."""
    return os.environ.get("EMULATOR_PROCESSES", "2") != "1"


def is_dynamodb_request(environ) -> bool:
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith(_DYNAMODB_TARGETS)


# --- the main process ---------------------------------------------------------------


def start(script: str) -> tuple[str, int]:
    """Starts the DynamoDB process on a free local port and waits until it answers as
    itself; this process exits if it dies, and it stops with this one. Returns its address."""
    stop_with_parent = _parent_death_signal()
    for _ in range(3):
        address = ("127.0.0.1", free_port())
        process = subprocess.Popen(
            [sys.executable, script, DYNAMODB_PROCESS_FLAG, "-H", address[0], "-p", str(address[1])],
            preexec_fn=stop_with_parent,
        )
        if _answers_as(process, address):
            atexit.register(_stop, process)
            threading.Thread(target=_exit_when_gone, args=(process,), name="dynamodb-watch", daemon=True).start()
            return address
        # The port was taken between choosing it and binding it: another one.
        process.kill()
        process.wait()
    raise RuntimeError("the DynamoDB process could not start (see the lines above)")


def forward_to(address: tuple[str, int]) -> None:
    """Hands every DynamoDB request to the process at `address`, and keeps this process's
    copies of its tables."""
    forward = _Forwarder(address)
    dispatch = DomainDispatcherApplication.__call__

    def dispatch_or_forward(self, environ, start_response):
        if not is_dynamodb_request(environ):
            return dispatch(self, environ, start_response)
        body, answer = forward.relay(environ, start_response)
        try:
            _copy_api_change(environ["HTTP_X_AMZ_TARGET"], body, answer)
        except Exception as err:  # noqa: BLE001 (the client has its answer; the copy is ours)
            logging.getLogger(__name__).warning("could not copy a table change into the main process: %s", err)
        return [answer.body]

    DomainDispatcherApplication.__call__ = dispatch_or_forward
    _mirror_cloudformation_tables(forward)


@dataclasses.dataclass
class _Answer:
    status: int
    reason: str
    headers: list
    body: bytes


class _Forwarder:
    """Sends a request on to another server and answers with its answer; one kept-alive
    connection per server thread."""

    def __init__(self, address: tuple[str, int]):
        self._address = address
        self._connections = threading.local()

    def relay(self, environ, start_response) -> tuple[bytes, _Answer]:
        """Relays a WSGI request; returns its body and the answer (already started)."""
        stream = environ["wsgi.input"]
        length = environ.get("CONTENT_LENGTH")
        # A chunked body has no length; werkzeug marks its stream as ending with the body.
        body = stream.read() if environ.get("wsgi.input_terminated") else stream.read(int(length or 0))
        headers = {
            name[5:].replace("_", "-").title(): value
            for name, value in environ.items()
            if name.startswith("HTTP_") and name[5:].replace("_", "-").lower() not in _NOT_FORWARDED
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        headers["Content-Length"] = str(len(body))
        target = environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/"
        answer = self.exchange(environ["REQUEST_METHOD"], target, body, headers)
        start_response(f"{answer.status} {answer.reason}", answer.headers)
        return body, answer

    def exchange(self, method: str, target: str, body: bytes, headers: dict) -> _Answer:
        connection, reused = self._connection()
        try:
            connection.request(method, target, body, headers)
            response = connection.getresponse()
        except (ConnectionError, http.client.BadStatusLine):
            connection.close()
            self._connections.connection = None
            # A kept connection the other side had closed fails before the request is read:
            # worth one more try on a new one. A new connection's failure is the answer.
            if not reused:
                raise
            connection, _ = self._connection()
            connection.request(method, target, body, headers)
            response = connection.getresponse()
        kept = [
            (name, value)
            for name, value in response.getheaders()
            if name.lower() not in _NOT_FORWARDED and name.lower() not in _WRITTEN_BY_SERVER
        ]
        return _Answer(response.status, response.reason, kept, response.read())

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection = getattr(self._connections, "connection", None)
        if connection is not None:
            return connection, True
        connection = http.client.HTTPConnection(*self._address, timeout=120)
        self._connections.connection = connection
        return connection, False


# The main process's copies change one at a time (CloudFormation's and the API's).
_copies = threading.Lock()


def _mirror_cloudformation_tables(forward: _Forwarder) -> None:
    """CloudFormation in this process creates and deletes a stack's tables in the DynamoDB
    process first, then its copies here."""
    create, delete = Table.create_from_cloudformation_json, Table.delete

    def ask(request: dict) -> dict:
        body = json.dumps(request).encode()
        headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        answer = forward.exchange("POST", _CLOUDFORMATION_PATH, body, headers)
        reply = json.loads(answer.body)
        if answer.status != 200:
            # Raised here as moto raised it there, so CloudFormation reports it the same.
            raise JsonRESTError(reply.get("__type", "InternalFailure"), reply.get("message", ""))
        return reply

    def create_in_both(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        request = {
            "action": "create",
            "resource_name": resource_name,
            "cloudformation_json": cloudformation_json,
            "account_id": account_id,
            "region_name": region_name,
        }
        created = ask(request)
        with _copies:
            table = create(resource_name, cloudformation_json, account_id, region_name, **kwargs)
            _same_stream(table, created.get("stream_label"))
        return table

    # A stack's deletion deletes each of its resources by the resource's own `delete`.
    def delete_in_both(self, account_id, region_name):
        ask({"action": "delete", "table_name": self.name, "account_id": account_id, "region_name": region_name})
        with _copies:
            # The copy goes with the table; the API may have deleted both already.
            if self.name in dynamodb_backends[account_id][region_name].tables:
                delete(self, account_id, region_name)

    Table.create_from_cloudformation_json = classmethod(create_in_both)
    Table.delete = delete_in_both


def _copy_api_change(target: str, body: bytes, answer: _Answer) -> None:
    """A table the API created, deleted or gave a stream, as the DynamoDB process says it
    now is, copied without items."""
    action = target.rpartition(".")[2]
    if answer.status != 200 or action not in ("CreateTable", "DeleteTable", "UpdateTable"):
        return
    request, described = json.loads(body), json.loads(answer.body).get("TableDescription", {})
    # arn:aws:dynamodb:<region>:<account>:table/<name>
    _, _, _, region, account, _ = described.get("TableArn", "::::::").split(":", 5)
    backend = dynamodb_backends[account][region]
    name = request.get("TableName", "")
    with _copies:
        if action == "DeleteTable" or (action == "CreateTable" and name in backend.tables):
            backend.tables.pop(name, None)
        if action == "CreateTable":
            table = backend.create_table(
                name=name,
                schema=request.get("KeySchema", []),
                throughput=request.get("ProvisionedThroughput"),
                attr=request.get("AttributeDefinitions", []),
                global_indexes=request.get("GlobalSecondaryIndexes", []),
                indexes=request.get("LocalSecondaryIndexes", []),
                streams=request.get("StreamSpecification"),
                billing_mode=request.get("BillingMode", "PROVISIONED"),
                sse_specification=request.get("SSESpecification"),
                tags=request.get("Tags", []),
                deletion_protection_enabled=request.get("DeletionProtectionEnabled", False),
                warm_throughput=request.get("WarmThroughput"),
            )
            _same_stream(table, described.get("LatestStreamLabel"))
        elif action == "UpdateTable" and "StreamSpecification" in request and name in backend.tables:
            table = backend.tables[name]
            table.set_stream_specification(request["StreamSpecification"])
            _same_stream(table, described.get("LatestStreamLabel"))


def _same_stream(copy: Table, label: str | None) -> None:
    # A stream's ARN names its label: Lambda's mapping must name the stream the DynamoDB
    # process keeps.
    if label:
        copy.latest_stream_label = label


def _answers_as(process: subprocess.Popen, address: tuple[str, int]) -> bool:
    """Whether `process` answers at `address` within a minute (and not another process
    that took the port)."""
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
            connection = http.client.HTTPConnection(*address, timeout=2)
            connection.request("GET", _WHO_PATH)
            pid = json.loads(connection.getresponse().read()).get("pid")
            connection.close()
            return pid == process.pid
        time.sleep(0.05)
    return False


# Set when this process stops the DynamoDB process itself, at exit.
_stopping = threading.Event()


def _exit_when_gone(process: subprocess.Popen) -> None:
    process.wait()
    if _stopping.is_set():
        return
    print(f"emulator: the DynamoDB process exited ({process.returncode}); stopping", file=sys.stderr, flush=True)
    os._exit(1)


def free_port() -> int:
    """A local port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _parent_death_signal():
    """What the child runs before it starts: asks Linux to stop it when its parent dies.
    (Found before forking: loading a library in the child of a threaded parent can hang.)
    Elsewhere the child's own watch (`_exit_when_orphaned`) does it, a moment later."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
        return lambda: prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    return None


def _stop(process: subprocess.Popen) -> None:
    _stopping.set()
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# --- the DynamoDB process -----------------------------------------------------------


def serve_for_main_process(lock: threading.Lock) -> None:
    """Answers the main process's own requests (who this is; CloudFormation's tables, one
    at a time with every DynamoDB request under `lock`), and exits if it is orphaned."""
    dispatch = DomainDispatcherApplication.__call__

    def own_or_dispatch(self, environ, start_response):
        path = environ.get("PATH_INFO")
        if path == _WHO_PATH:
            status, reply = "200 OK", {"pid": os.getpid()}
        elif path == _CLOUDFORMATION_PATH:
            status, reply = _change_table(environ, lock)
        else:
            return dispatch(self, environ, start_response)
        body = json.dumps(reply).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    DomainDispatcherApplication.__call__ = own_or_dispatch
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), name="main-watch", daemon=True).start()


def _change_table(environ, lock: threading.Lock) -> tuple[str, dict]:
    request = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    account_id, region_name = request["account_id"], request["region_name"]
    try:
        with lock:
            if request["action"] == "create":
                table = Table.create_from_cloudformation_json(
                    request["resource_name"], request["cloudformation_json"], account_id, region_name
                )
                return "200 OK", {"stream_label": table.latest_stream_label}
            backend = dynamodb_backends[account_id][region_name]
            if request["table_name"] in backend.tables:
                backend.delete_table(request["table_name"])
            return "200 OK", {}
    except JsonRESTError as err:
        return f"{err.code} Error", {"__type": err.error_type, "message": err.message}
    except Exception as err:  # noqa: BLE001 (the main process raises it again)
        return "500 Error", {"__type": "InternalFailure", "message": f"{type(err).__name__}: {err}"}


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_EVERY)
    os._exit(0)
