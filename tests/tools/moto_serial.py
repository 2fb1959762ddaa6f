"""moto's server with its requests handled one at a time.

moto's DynamoDB transactions copy whole tables before they start and put the copies back when
one fails, without a lock: on its threaded server, two concurrent transactions can undo or
bring back each other's writes. DynamoDB itself runs transactions serializably. Handling one
request at a time gives the tests DynamoDB's isolation; connections are still accepted
concurrently.

Usage: python moto_serial.py HOST PORT (0: the system picks a free one); prints the port it
listens on, on a line of its own, once it is bound.
"""

import os
import sys
import threading

from werkzeug.serving import make_server

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

host, port = sys.argv[1], int(sys.argv[2])
lock = threading.Lock()
app = None


def one_at_a_time(environ, start_response):
    with lock:
        result = app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    return [body]


server = make_server(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)
os.environ.setdefault("MOTO_PORT", str(server.server_port))
app = DomainDispatcherApplication(create_backend_app)
print(server.server_port, flush=True)
server.serve_forever()
