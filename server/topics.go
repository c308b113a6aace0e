package server

import (
	"context"

	ssebridgev1 "github.com/ssebridge/ssebridge/gen/ssebridge/v1"
	"github.com/ssebridge/ssebridge/pubsub"
)

// ListTopics lists the topics whose names start with req.Prefix, sorted by
// name.
func (s *Service) ListTopics(ctx context.Context, req *ssebridgev1.ListTopicsRequest) (*ssebridgev1.ListTopicsResponse, error) {
	infos, err := s.broker.Topics(ctx, req.GetPrefix())
	if err != nil {
		return nil, s.callError(ctx, "ListTopics", err)
	}
	resp := &ssebridgev1.ListTopicsResponse{Topics: make([]*ssebridgev1.Topic, 0, len(infos))}
	for _, t := range infos {
		resp.Topics = append(resp.Topics, toTopic(t))
	}
	return resp, nil
}

// GetTopic describes one topic: INVALID_ARGUMENT for a name that cannot be
// a topic, NOT_FOUND for a topic that does not exist.
func (s *Service) GetTopic(ctx context.Context, req *ssebridgev1.GetTopicRequest) (*ssebridgev1.GetTopicResponse, error) {
	const method = "GetTopic"
	if err := pubsub.ValidateTopic(req.GetTopic()); err != nil {
		return nil, s.callError(ctx, method, err)
	}
	info, err := s.broker.Topic(ctx, req.GetTopic())
	if err != nil {
		return nil, s.callError(ctx, method, err)
	}
	return &ssebridgev1.GetTopicResponse{Topic: toTopic(info)}, nil
}
