// Package descriptors finds the descriptors of a backend's services for
// rpcsse's proxy mode: in a descriptor set file (Load), or through the
// backend's gRPC server reflection (Reflect).
package descriptors

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Load reads a descriptor set: a FileDescriptorSet written by
// `protoc --include_imports --descriptor_set_out`, or a buf image
// (`buf build -o FILE.binpb`), which has the same wire form. It returns
// the files and the full names of the services they define.
func Load(path string) (*protoregistry.Files, []protoreflect.FullName, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(b, &set); err != nil {
		return nil, nil, fmt.Errorf("descriptors: %s is not a descriptor set: %w", path, err)
	}
	if len(set.GetFile()) == 0 {
		return nil, nil, fmt.Errorf("descriptors: %s holds no files", path)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, nil, fmt.Errorf("descriptors: %s: %w (was it built with its imports, --include_imports?)", path, err)
	}
	return files, services(files), nil
}

// services returns the full names of the services files define.
func services(files *protoregistry.Files) []protoreflect.FullName {
	var names []protoreflect.FullName
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			names = append(names, fd.Services().Get(i).FullName())
		}
		return true
	})
	return names
}

// Reflect asks conn's server for its services and their files through gRPC
// server reflection, v1 or, when the server has only that, v1alpha. It
// leaves out the reflection and health services.
func Reflect(ctx context.Context, conn grpc.ClientConnInterface) (*protoregistry.Files, []protoreflect.FullName, error) {
	files, names, err := reflect(ctx, conn, v1Method)
	if status.Code(err) == codes.Unimplemented {
		files, names, err = reflect(ctx, conn, v1alphaMethod)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("descriptors: server reflection: %w", err)
	}
	return files, names, nil
}

// reflect fetches the services of the server and every file they need,
// through method.
func reflect(ctx context.Context, conn grpc.ClientConnInterface, method string) (*protoregistry.Files, []protoreflect.FullName, error) {
	st, err := openReflection(ctx, conn, method)
	if err != nil {
		return nil, nil, err
	}
	defer st.close()
	list, err := st.listServices()
	if err != nil {
		return nil, nil, err
	}
	byName := make(map[string]*descriptorpb.FileDescriptorProto)
	var names []protoreflect.FullName
	for _, svc := range list {
		if strings.HasPrefix(svc, "grpc.reflection.") || strings.HasPrefix(svc, "grpc.health.") {
			continue
		}
		names = append(names, protoreflect.FullName(svc))
		fds, err := st.files(svc, "")
		if err != nil {
			return nil, nil, fmt.Errorf("files of %s: %w", svc, err)
		}
		if err := addFiles(byName, fds); err != nil {
			return nil, nil, err
		}
	}
	if err := fetchImports(st, byName); err != nil {
		return nil, nil, err
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range byName {
		set.File = append(set.File, fd)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, nil, err
	}
	return files, names, nil
}

// addFiles decodes serialized files into byName.
func addFiles(byName map[string]*descriptorpb.FileDescriptorProto, raw [][]byte) error {
	for _, b := range raw {
		fd := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fd); err != nil {
			return fmt.Errorf("a file descriptor: %w", err)
		}
		byName[fd.GetName()] = fd
	}
	return nil
}

// fetchImports asks for every file that the files of byName import and it
// lacks, until none is missing.
func fetchImports(st *reflectionStream, byName map[string]*descriptorpb.FileDescriptorProto) error {
	for {
		var missing []string
		for _, fd := range byName {
			for _, dep := range fd.GetDependency() {
				if _, ok := byName[dep]; !ok && !slices.Contains(missing, dep) {
					missing = append(missing, dep)
				}
			}
		}
		if len(missing) == 0 {
			return nil
		}
		for _, name := range missing {
			fds, err := st.files("", name)
			if err != nil {
				return fmt.Errorf("file %s: %w", name, err)
			}
			if err := addFiles(byName, fds); err != nil {
				return err
			}
			if _, ok := byName[name]; !ok {
				return fmt.Errorf("file %s: not sent by the server", name)
			}
		}
	}
}

// errorResponse is the status of a reflection error response.
func errorResponse(code int32, msg string) error {
	return status.Error(codes.Code(code), msg)
}

var errNoAnswer = errors.New("descriptors: unexpected reflection response")
