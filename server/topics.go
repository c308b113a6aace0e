package server

import (
	"context"
	"errors"
	"fmt"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// ListTopics lists the topics whose names start with req.Prefix and that
// the caller may read, sorted by name. Reading follows the rule of
// subscribing (auth.Grant.CanSubscribe): anonymous callers see the public
// topics, a token the topics its subscribe patterns match. A credential
// that is present but invalid is refused with UNAUTHENTICATED.
func (s *Service) ListTopics(ctx context.Context, req *ssebridgev1.ListTopicsRequest) (*ssebridgev1.ListTopicsResponse, error) {
	const method = "ListTopics"
	grant, err := s.grant(ctx)
	if err != nil {
		return nil, s.callError(ctx, method, err)
	}
	infos, err := s.broker.Topics(ctx, req.GetPrefix())
	if err != nil {
		return nil, s.callError(ctx, method, err)
	}
	resp := &ssebridgev1.ListTopicsResponse{Topics: make([]*ssebridgev1.Topic, 0, len(infos))}
	for _, t := range infos {
		if grant.CanSubscribe(t.Name) {
			resp.Topics = append(resp.Topics, toTopic(t))
		}
	}
	return resp, nil
}

// GetTopic describes one topic: INVALID_ARGUMENT for a name that cannot be
// a topic, UNAUTHENTICATED for a credential that is present but invalid,
// and NOT_FOUND for a topic that does not exist or that the caller may not
// read (as for ListTopics). The two NOT_FOUND answers are the same, so that
// they do not reveal whether a topic the caller may not read exists.
func (s *Service) GetTopic(ctx context.Context, req *ssebridgev1.GetTopicRequest) (*ssebridgev1.GetTopicResponse, error) {
	const method = "GetTopic"
	topic := req.GetTopic()
	if err := pubsub.ValidateTopic(topic); err != nil {
		return nil, s.callError(ctx, method, err)
	}
	grant, err := s.grant(ctx)
	if err != nil {
		return nil, s.callError(ctx, method, err)
	}
	if !grant.CanSubscribe(topic) {
		return nil, s.callError(ctx, method, topicNotFound(topic))
	}
	info, err := s.broker.Topic(ctx, topic)
	if errors.Is(err, pubsub.ErrTopicNotFound) {
		err = topicNotFound(topic) // the same words whatever the broker says
	}
	if err != nil {
		return nil, s.callError(ctx, method, err)
	}
	return &ssebridgev1.GetTopicResponse{Topic: toTopic(info)}, nil
}

// topicNotFound is the error of GetTopic on a topic that does not exist
// and on one the caller may not read: one error for both.
func topicNotFound(topic string) error {
	return fmt.Errorf("%w: %q", pubsub.ErrTopicNotFound, topic)
}
