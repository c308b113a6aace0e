# Copyright 2026 The ssebridge Authors
# SPDX-License-Identifier: Apache-2.0

"""The generated Python client (gen/python: protoc's Python output and
grpc_python_plugin's stubs) with Debian's python3-grpcio, against the real
ssebridge process: Publish, PublishStream, Subscribe, ListTopics, GetTopic,
their errors, and the end of a subscription at shutdown.

Run with Debian's interpreter, which has python3-grpcio and
python3-protobuf: make test-python."""

import datetime
import os
import sys
import unittest

from serverprocess import ROOT, ServerProcess

sys.path.insert(0, os.path.join(ROOT, "gen", "python"))

import grpc  # noqa: E402  (python3-grpcio)
from google.rpc import status_pb2  # noqa: E402  (generated into gen/python)
from ssebridge.v1 import events_pb2, events_pb2_grpc  # noqa: E402

CALL_TIMEOUT = 20  # seconds; bounds every call, streams included


def subscribe(stub, topics, last_event_id=""):
    """subscribe opens a Subscribe call and returns once the server has sent
    the response header, which it does once the subscription is registered:
    events published after that are delivered."""
    call = stub.Subscribe(events_pb2.SubscribeRequest(topics=topics, last_event_id=last_event_id),
                          timeout=CALL_TIMEOUT)
    call.initial_metadata()
    return call


class GeneratedClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("--history-size", "5")
        cls.channel = grpc.insecure_channel(cls.server.grpc_addr)
        cls.stub = events_pb2_grpc.EventServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()

    def test_publish_then_subscribe(self):
        sub = subscribe(self.stub, ["py.a", "py.b"])
        self.addCleanup(sub.cancel)
        sent = [
            events_pb2.PublishRequest(topic="py.a", type="order.created", data='{"id":1}'),
            events_pb2.PublishRequest(topic="py.b", data="line one\nline two\r\nline three"),
            events_pb2.PublishRequest(topic="py.a", type="utf8", data="👋🏽 漢字 e\u0301"),
            events_pb2.PublishRequest(topic="py.b", type="empty", data=""),
        ]
        before = datetime.datetime.now(datetime.timezone.utc)
        published = [self.stub.Publish(req, timeout=CALL_TIMEOUT) for req in sent]
        self.assertEqual([p.sequence for p in published], [1, 1, 2, 2])
        for p in published:
            self.assertTrue(p.id)
            self.assertFalse(p.duplicate)
            at = p.time.ToDatetime(tzinfo=datetime.timezone.utc)
            self.assertLess(abs((at - before).total_seconds()), 30, f"publish time {at}")

        for req, p in zip(sent, published):
            m = next(sub)
            self.assertEqual(m.WhichOneof("item"), "event")
            self.assertEqual(
                (m.event.id, m.event.topic, m.event.type, m.event.data, m.event.sequence, m.event.time),
                (p.id, req.topic, req.type, req.data, p.sequence, p.time))

    def test_idempotency_key(self):
        req = events_pb2.PublishRequest(topic="py.idem", data="once", idempotency_key="k-1")
        first = self.stub.Publish(req, timeout=CALL_TIMEOUT)
        again = self.stub.Publish(req, timeout=CALL_TIMEOUT)
        self.assertTrue(again.duplicate)
        self.assertEqual((again.id, again.sequence), (first.id, first.sequence))

    def test_publish_stream_acks_in_order_with_errors(self):
        sub = subscribe(self.stub, ["py.stream"])
        self.addCleanup(sub.cancel)
        events = [
            events_pb2.PublishRequest(topic="py.stream", data="s0"),
            events_pb2.PublishRequest(topic="not a topic!", data="s1"),
            events_pb2.PublishRequest(topic="py.stream", data="s2"),
        ]
        requests = (events_pb2.PublishStreamRequest(event=e) for e in events)
        acks = [a for res in self.stub.PublishStream(requests, timeout=CALL_TIMEOUT) for a in res.acks]
        self.assertEqual([a.index for a in acks], [0, 1, 2])
        self.assertTrue(acks[0].HasField("result") and acks[2].HasField("result"))
        self.assertFalse(acks[1].HasField("result"))
        self.assertEqual(acks[1].error.code, grpc.StatusCode.INVALID_ARGUMENT.value[0], acks[1].error.message)
        for i in (0, 2):
            m = next(sub)
            self.assertEqual((m.event.id, m.event.data), (acks[i].result.id, events[i].data))

    def test_resume_and_gap(self):
        ids = [self.stub.Publish(events_pb2.PublishRequest(topic=t, data=f"r{i}"), timeout=CALL_TIMEOUT).id
               for i, t in enumerate(["py.r1", "py.r2", "py.r1", "py.r2"])]
        resumed = subscribe(self.stub, ["py.r1", "py.r2"], last_event_id=ids[1])
        self.addCleanup(resumed.cancel)
        self.assertEqual([(m.event.id, m.event.data) for m in (next(resumed), next(resumed))],
                         [(ids[2], "r2"), (ids[3], "r3")])

        gapped = subscribe(self.stub, ["py.r1"], last_event_id="not-a-cursor")
        self.addCleanup(gapped.cancel)
        gap = next(gapped)
        self.assertEqual(gap.WhichOneof("item"), "gap")
        self.assertEqual(gap.gap.reason, events_pb2.GAP_REASON_CURSOR_MALFORMED)
        self.assertEqual(list(gap.gap.topics), ["py.r1"])
        self.assertEqual(gap.gap.last_event_id, "not-a-cursor")
        self.assertTrue(gap.gap.id)
        self.assertEqual(next(gapped).event.id, ids[0])

    def test_list_and_get_topics(self):
        last = self.stub.Publish(events_pb2.PublishRequest(topic="py.list.b", data="x"), timeout=CALL_TIMEOUT)
        self.stub.Publish(events_pb2.PublishRequest(topic="py.list.a", data="y"), timeout=CALL_TIMEOUT)
        listed = self.stub.ListTopics(events_pb2.ListTopicsRequest(prefix="py.list."), timeout=CALL_TIMEOUT)
        self.assertEqual([t.name for t in listed.topics], ["py.list.a", "py.list.b"])
        got = self.stub.GetTopic(events_pb2.GetTopicRequest(topic="py.list.b"), timeout=CALL_TIMEOUT).topic
        self.assertEqual((got.name, got.retained_events, got.last_sequence, got.last_event_id),
                         ("py.list.b", 1, 1, last.id))

    def test_errors_carry_status_codes_and_details(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.Publish(events_pb2.PublishRequest(topic="a..b", data="x"), timeout=CALL_TIMEOUT)
        err = caught.exception
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT, err.details())
        # The rich status travels in the trailers; google/rpc/status.proto is
        # generated into gen/python with the API.
        details = dict(err.trailing_metadata()).get("grpc-status-details-bin")
        self.assertIsNotNone(details, "INVALID_ARGUMENT carries a google.rpc.Status")
        status = status_pb2.Status.FromString(details)
        self.assertEqual(status.code, grpc.StatusCode.INVALID_ARGUMENT.value[0])
        self.assertEqual([d.type_url for d in status.details],
                         ["type.googleapis.com/google.rpc.ErrorInfo", "type.googleapis.com/google.rpc.BadRequest"])
        # google/rpc/error_details.proto is not generated: find the reason in
        # the ErrorInfo's bytes.
        self.assertIn(b"INVALID_TOPIC", status.details[0].value)

        with self.assertRaises(grpc.RpcError) as caught:
            self.stub.GetTopic(events_pb2.GetTopicRequest(topic="py.never"), timeout=CALL_TIMEOUT)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.NOT_FOUND)

        with self.assertRaises(grpc.RpcError) as caught:
            next(self.stub.Subscribe(events_pb2.SubscribeRequest(topics=[]), timeout=CALL_TIMEOUT))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


class ShutdownTest(unittest.TestCase):
    def test_subscription_ends_unavailable_and_server_exits_0(self):
        server = ServerProcess()
        self.addCleanup(server.stop)
        channel = grpc.insecure_channel(server.grpc_addr)
        self.addCleanup(channel.close)
        stub = events_pb2_grpc.EventServiceStub(channel)
        sub = subscribe(stub, ["py.shutdown"])
        p = stub.Publish(events_pb2.PublishRequest(topic="py.shutdown", data="before"), timeout=CALL_TIMEOUT)
        self.assertEqual(next(sub).event.id, p.id)

        server.stop()
        with self.assertRaises(grpc.RpcError) as caught:
            next(sub)
        self.assertEqual(caught.exception.code(), grpc.StatusCode.UNAVAILABLE, caught.exception.details())


if __name__ == "__main__":
    unittest.main()
