"""moto's server, with DynamoDB requests made atomic.

moto's server handles requests on threads, and its DynamoDB backend has no locking: two
concurrent conditional updates of one item can both read the old value, both pass their
condition, and one write is lost (two pizzas stored at once counted as one; two
reservations both taking the last unit of stock). DynamoDB itself serializes writes to an
item, and our idempotency and stock rules rely on that. So DynamoDB requests run one at a
time here; everything else (SQS long polls above all) stays concurrent.

Usage: python emulator_server.py -H 127.0.0.1 -p 4566   (the arguments of moto_server)
"""

import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_dynamodb = threading.Lock()
_call_action = DynamoHandler.call_action


def _one_at_a_time(self):
    with _dynamodb:
        return _call_action(self)


DynamoHandler.call_action = _one_at_a_time

if __name__ == "__main__":
    main()
