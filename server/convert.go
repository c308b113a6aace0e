package server

import (
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// This file converts between the domain types of package pubsub and the
// API's messages.

func toMessage(req *ssebridgev1.PublishRequest) pubsub.Message {
	return pubsub.Message{
		Topic:          req.GetTopic(),
		Type:           req.GetType(),
		Data:           req.GetData(),
		IdempotencyKey: req.GetIdempotencyKey(),
	}
}

func toPublishResponse(r pubsub.Receipt) *ssebridgev1.PublishResponse {
	p := new(receiptParts)
	p.fill(r)
	return &p.resp
}

// receiptParts is a PublishResponse and its timestamp, allocated as one
// object: a publish allocates once for its receipt, not once per message.
type receiptParts struct {
	resp ssebridgev1.PublishResponse
	time timestamppb.Timestamp
}

func (p *receiptParts) fill(r pubsub.Receipt) {
	p.time.Seconds, p.time.Nanos = r.Time.Unix(), int32(r.Time.Nanosecond())
	p.resp.Id, p.resp.Sequence, p.resp.Time, p.resp.Duplicate = r.ID, r.Sequence, &p.time, r.Duplicate
}

// toPublishAck returns the acknowledgement of PublishStream's event index,
// published with receipt r, allocated as one object with its response.
func toPublishAck(index uint64, r pubsub.Receipt) *ssebridgev1.PublishAck {
	p := new(struct {
		ack ssebridgev1.PublishAck
		receiptParts
	})
	p.fill(r)
	p.ack.Index, p.ack.Result = index, &p.resp
	return &p.ack
}

// toSubscribeResponse converts an event or, when e.Gap is set, a gap notice.
func toSubscribeResponse(e *pubsub.Event) *ssebridgev1.SubscribeResponse {
	if g := e.Gap; g != nil {
		return &ssebridgev1.SubscribeResponse{Item: &ssebridgev1.SubscribeResponse_Gap{Gap: &ssebridgev1.Gap{
			Reason: toGapReason(g.Reason),
			Topics: g.Topics,
			Id:     e.ID,
			// The cursor is echoed as sent; bytes that are not UTF-8 (a
			// malformed cursor) become U+FFFD, which proto can marshal.
			LastEventId: strings.ToValidUTF8(g.LastEventID, "\uFFFD"),
		}}}
	}
	return &ssebridgev1.SubscribeResponse{Item: &ssebridgev1.SubscribeResponse_Event{Event: &ssebridgev1.Event{
		Id:       e.ID,
		Topic:    e.Topic,
		Type:     e.Type,
		Data:     e.Data,
		Sequence: e.Sequence,
		Time:     timestamppb.New(e.Time),
	}}}
}

func toGapReason(r pubsub.GapReason) ssebridgev1.GapReason {
	switch r {
	case pubsub.GapCursorTooOld:
		return ssebridgev1.GapReason_GAP_REASON_CURSOR_TOO_OLD
	case pubsub.GapCursorUnknown:
		return ssebridgev1.GapReason_GAP_REASON_CURSOR_UNKNOWN
	case pubsub.GapCursorMalformed:
		return ssebridgev1.GapReason_GAP_REASON_CURSOR_MALFORMED
	}
	return ssebridgev1.GapReason_GAP_REASON_UNSPECIFIED
}

func toTopic(t pubsub.TopicInfo) *ssebridgev1.Topic {
	return &ssebridgev1.Topic{
		Name:           t.Name,
		RetainedEvents: uint64(max(t.Retained, 0)),
		LastSequence:   t.LastSequence,
		Subscribers:    uint64(max(t.Subscribers, 0)),
		LastEventId:    t.LastEventID,
	}
}
