"""moto's server with HTTP keep-alive: one connection serves a client's requests in turn.

Werkzeug's development server closes the connection after every response, because
Python's `http.server` cannot tell where an unread request body ends and the next request
begins; it even reads the socket for 10 ms after each response to drain such a body. So
every request the functions and the runner send opened a TCP connection and started a
server thread, and every SDK client opened one again: a fixed cost on each of the few
hundred requests of an order, paid under the one interpreter's lock.

Here a request whose body has a declared length (what every AWS SDK sends) is read whole
before moto sees it, so nothing of it is left on the socket; its connection stays open
for the client's next request, and the drain, which would read that next request, is
skipped. Anything else (HTTP/1.0, a chunked body, a client asking to close) is answered
and closed as before.

Importing this module installs it; the answers are moto's own.
"""

import io
import selectors
import threading
import types

import moto.server
import werkzeug.serving
from moto.moto_server.werkzeug_app import MotoRequestHandler

# Whether the request this thread is answering keeps its connection.
_answering = threading.local()


class KeepAliveRequestHandler(MotoRequestHandler):
    # A response leaves in two writes (its head, then its body). On a connection that
    # stays open, Nagle's algorithm would hold the body back until the client acknowledged
    # the head, and a client delays that acknowledgement by up to 40 ms.
    disable_nagle_algorithm = True

    def make_environ(self):
        environ = super().make_environ()
        length = self.headers.get("Content-Length", "0").strip()
        _answering.keeps_connection = (
            self.request_version == "HTTP/1.1"
            and "Transfer-Encoding" not in self.headers
            and self.headers.get("Connection", "").lower() != "close"
            and length.isdigit()
        )
        if _answering.keeps_connection:
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(int(length)))
        return environ

    def send_header(self, keyword, value):
        keeps = getattr(_answering, "keeps_connection", False)
        if keeps and keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def handle_one_request(self):
        _answering.keeps_connection = False
        super().handle_one_request()


class _NothingToDrain:
    """The selector werkzeug drains a request's unread body with, for a request read whole."""

    def register(self, *_args, **_kwargs):
        return None

    def select(self, *_args, **_kwargs):
        return []

    def close(self):
        return None


def _drain_selector():
    if getattr(_answering, "keeps_connection", False):
        return _NothingToDrain()
    return selectors.DefaultSelector()


werkzeug.serving.selectors = types.SimpleNamespace(DefaultSelector=_drain_selector, EVENT_READ=selectors.EVENT_READ)
moto.server.MotoRequestHandler = KeepAliveRequestHandler
