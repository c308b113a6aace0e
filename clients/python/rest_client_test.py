# Copyright 2026 The ssebridge Authors
# SPDX-License-Identifier: Apache-2.0

"""The REST API and the SSE routes with Python's standard library only
(urllib, json), against the real ssebridge process: Python's json.dumps
escapes every non-ASCII character by default (ensure_ascii), and errors
have one shape on every route.

Run with Debian's interpreter: make test-python."""

import json
import unittest
import urllib.error
import urllib.request

from serverprocess import ServerProcess

MAX_DATA = 64 << 10  # large enough that escaping, not the 64 KiB overhead, decides
TIMEOUT = 20  # seconds


class RESTClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("--max-data-bytes", str(MAX_DATA))
        cls.base = "http://" + cls.server.http_addr

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def request(self, method, path, body=None):
        """request returns the status and the decoded JSON body."""
        data = None if body is None else body.encode("ascii")
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read())

    def reason(self, body):
        for d in body.get("details", []):
            if d.get("@type") == "type.googleapis.com/google.rpc.ErrorInfo" and d.get("domain") == "ssebridge":
                return d.get("reason")
        return None

    def field(self, body):
        for d in body.get("details", []):
            if d.get("@type") == "type.googleapis.com/google.rpc.BadRequest":
                return d["field_violations"][0]["field"]
        return None

    def test_escaped_data_at_the_limit(self):
        # "é" is 2 bytes of UTF-8 and 6 in the body: "\u00e9".
        at_limit = json.dumps({"data": "é" * (MAX_DATA // 2)})
        self.assertIn("\\u00e9", at_limit)
        status, body = self.request("POST", "/v1/topics/py.rest/events", at_limit)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["id"])

        over = json.dumps({"data": "é" * (MAX_DATA // 2) + "x"})
        status, body = self.request("POST", "/v1/topics/py.rest/events", over)
        self.assertEqual(status, 400, body)
        self.assertEqual((self.reason(body), self.field(body)), ("DATA_TOO_LARGE", "data"), body)

    def test_one_error_shape(self):
        # The same fault on the REST route and on the SSE route.
        rest = self.request("POST", "/v1/topics/a..b/events", json.dumps({"data": "x"}))
        sse = self.request("GET", "/v1/topics/a..b/events")
        for status, body in (rest, sse):
            self.assertEqual(status, 400, body)
            self.assertEqual(body["code"], 3, body)
            self.assertEqual((self.reason(body), self.field(body)), ("INVALID_TOPIC", "topic"), body)
        self.assertEqual(rest[1]["message"], sse[1]["message"])

        status, body = self.request("DELETE", "/v1/topics/a/events")
        self.assertEqual((status, self.reason(body)), (405, "METHOD_NOT_ALLOWED"), body)
        status, body = self.request("GET", "/nowhere")
        self.assertEqual((status, self.reason(body)), (404, "NOT_FOUND"), body)


if __name__ == "__main__":
    unittest.main()
