package descriptors

import (
	"context"

	"google.golang.org/grpc"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// The reflection service's gRPC methods, v1 and v1alpha. The two versions
// have the same messages under different package names, so the same wire
// form: one client speaks both, with v1's message types.
const (
	v1Method      = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	v1alphaMethod = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
)

// reflectionStream is one call of a reflection method.
type reflectionStream struct {
	s      grpc.ClientStream
	cancel context.CancelFunc
}

// openReflection starts a call of method, v1Method or v1alphaMethod, on
// conn.
func openReflection(ctx context.Context, conn grpc.ClientConnInterface, method string) (*reflectionStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		cancel()
		return nil, err
	}
	return &reflectionStream{s: s, cancel: cancel}, nil
}

// ask sends req and returns its response, or the error it answers.
func (s *reflectionStream) ask(req *rpb.ServerReflectionRequest) (*rpb.ServerReflectionResponse, error) {
	if err := s.s.SendMsg(req); err != nil {
		return nil, err
	}
	resp := new(rpb.ServerReflectionResponse)
	if err := s.s.RecvMsg(resp); err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, errorResponse(e.GetErrorCode(), e.GetErrorMessage())
	}
	return resp, nil
}

// listServices returns the names of the server's services.
func (s *reflectionStream) listServices() ([]string, error) {
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

// files returns the serialized files that define symbol, or the file named
// filename when symbol is "".
func (s *reflectionStream) files(symbol, filename string) ([][]byte, error) {
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

func (s *reflectionStream) close() {
	s.s.CloseSend()
	s.cancel()
}
