"""The emulator's connections stay open between requests, and each request is answered whole."""

import http.client
import json
import socket
import unittest

from real_emulator import SIGNED, free_port, start_emulator


def dynamodb_request(target, body):
    payload = json.dumps(body).encode()
    head = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{target}",
        "Authorization": SIGNED.format("dynamodb"),
        "Content-Length": str(len(payload)),
    }
    return head, payload


class KeepAliveTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.server = start_emulator(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.server.wait(timeout=10)

    def test_one_connection_answers_a_clients_requests_one_after_another(self):
        head, body = dynamodb_request("ListTables", {})
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        client.request("POST", "/", body, head)
        client.getresponse().read()
        connection = client.sock
        for _ in range(5):
            # Sent the moment the last answer is read: a drain of the socket after each
            # answer would take it for the rest of that request and swallow it.
            client.request("POST", "/", body, head)
            answer = client.getresponse()
            self.assertEqual((answer.status, json.loads(answer.read())), (200, {"TableNames": []}))
            self.assertIsNone(answer.getheader("Connection"))
        self.assertIs(client.sock, connection, "the client had to connect again")
        client.close()

    def test_requests_sent_at_once_on_one_connection_are_each_answered(self):
        head, body = dynamodb_request("ListTables", {})
        lines = ["POST / HTTP/1.1", "Host: localhost", *(f"{name}: {value}" for name, value in head.items())]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as connection:
            connection.sendall(request * 3)
            answers = b""
            while answers.count(b'{"TableNames"') < 3:
                chunk = connection.recv(65536)
                self.assertTrue(chunk, f"the connection closed after {answers.count(b'HTTP/1.1 200')} answers")
                answers += chunk
        self.assertEqual(answers.count(b"HTTP/1.1 200"), 3)

    def test_a_client_that_asks_to_close_is_closed(self):
        head, body = dynamodb_request("ListTables", {})
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        client.request("POST", "/", body, {**head, "Connection": "close"})
        answer = client.getresponse()
        self.assertEqual((answer.status, answer.getheader("Connection")), (200, "close"))
        answer.read()
        client.close()

    def test_a_chunked_body_is_read_and_its_connection_closed(self):
        head, body = dynamodb_request("ListTables", {})
        del head["Content-Length"]
        client = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        client.request("POST", "/", iter([body]), {**head, "Transfer-Encoding": "chunked"}, encode_chunked=True)
        answer = client.getresponse()
        self.assertEqual(json.loads(answer.read()), {"TableNames": []})
        self.assertEqual(answer.getheader("Connection"), "close")
        client.close()


if __name__ == "__main__":
    unittest.main()
