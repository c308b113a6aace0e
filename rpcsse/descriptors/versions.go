package descriptors

import (
	"context"

	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
)

// v1Client and v1alphaClient adapt the two versions of the reflection
// service to reflectionStream. Their messages are the same but for their
// package, so the two adapters are the same but for their types.

type v1Client struct{ c rpb.ServerReflectionClient }

type v1Stream struct {
	s      rpb.ServerReflection_ServerReflectionInfoClient
	cancel context.CancelFunc
}

func (c v1Client) open(ctx context.Context) (reflectionStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := c.c.ServerReflectionInfo(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &v1Stream{s: s, cancel: cancel}, nil
}

func (s *v1Stream) ask(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
	if err := s.s.Send(req); err != nil {
		return nil, err
	}
	resp, err := s.s.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, errorResponse(e.GetErrorCode(), e.GetErrorMessage())
	}
	return resp, nil
}

func (s *v1Stream) listServices() ([]string, error) {
	resp, err := s.ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	return names, nil
}

func (s *v1Stream) files(symbol, filename string) ([][]byte, error) {
	req := &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: filename}}
	if symbol != "" {
		req.MessageRequest = &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}
	}
	resp, err := s.ask(req)
	if err != nil {
		return nil, err
	}
	if resp.GetFileDescriptorResponse() == nil {
		return nil, errNoAnswer
	}
	return resp.GetFileDescriptorResponse().GetFileDescriptorProto(), nil
}

func (s *v1Stream) close() {
	s.s.CloseSend()
	s.cancel()
}

type v1alphaClient struct {
	c rpbalpha.ServerReflectionClient
}

type v1alphaStream struct {
	s      rpbalpha.ServerReflection_ServerReflectionInfoClient
	cancel context.CancelFunc
}

func (c v1alphaClient) open(ctx context.Context) (reflectionStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := c.c.ServerReflectionInfo(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &v1alphaStream{s: s, cancel: cancel}, nil
}

func (s *v1alphaStream) ask(req *rpbalpha.ServerReflectionRequest) (*rpbalpha.ServerReflectionResponse, error) {
	if err := s.s.Send(req); err != nil {
		return nil, err
	}
	resp, err := s.s.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, errorResponse(e.GetErrorCode(), e.GetErrorMessage())
	}
	return resp, nil
}

func (s *v1alphaStream) listServices() ([]string, error) {
	resp, err := s.ask(&rpbalpha.ServerReflectionRequest{MessageRequest: &rpbalpha.ServerReflectionRequest_ListServices{}})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	return names, nil
}

func (s *v1alphaStream) files(symbol, filename string) ([][]byte, error) {
	req := &rpbalpha.ServerReflectionRequest{MessageRequest: &rpbalpha.ServerReflectionRequest_FileByFilename{FileByFilename: filename}}
	if symbol != "" {
		req.MessageRequest = &rpbalpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}
	}
	resp, err := s.ask(req)
	if err != nil {
		return nil, err
	}
	if resp.GetFileDescriptorResponse() == nil {
		return nil, errNoAnswer
	}
	return resp.GetFileDescriptorResponse().GetFileDescriptorProto(), nil
}

func (s *v1alphaStream) close() {
	s.s.CloseSend()
	s.cancel()
}
