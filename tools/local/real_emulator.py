"""For tests that start the emulator as a process of its own, as `emulator.sh` does."""

import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
from dynamodb_process import free_port

HERE = Path(__file__).resolve().parent
# A signature the emulator reads the service and region from (it checks no signature).
SIGNED = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=x"

__all__ = ["SIGNED", "client_settings", "free_port", "start_emulator"]


def start_emulator(port, **env):
    """The emulator on `port` (with `env` added to this process's), once DynamoDB answers."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "emulator_server.py"), "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = boto3.client("dynamodb", **client_settings(port))
    deadline = time.monotonic() + 60
    while True:
        try:
            client.list_tables()
            return server
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the emulator did not start") from None
            time.sleep(0.1)


def client_settings(port):
    """What a boto3 client needs to talk to the emulator on `port`."""
    return {
        "endpoint_url": f"http://127.0.0.1:{port}",
        "region_name": "us-east-1",
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test",
    }
