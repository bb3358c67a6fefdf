package kindfile

import (
	"fmt"
	"os"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// RegisterDescriptorSets reads descriptor sets (protoc --include_imports
// --descriptor_set_out) and registers their files into
// protoregistry.GlobalFiles and their messages and enums, as dynamicpb
// types, into protoregistry.GlobalTypes, so that protojson, anypb and the
// HTTP transcoder resolve them as they do generated types. A file already
// registered under its path (google/protobuf/*, or one that an earlier set
// holds too) is used as it is, provided it defines the set's messages with
// the same fields; a file that redefines a registered name is an error
// naming the file, rather than the registry's panic.
func RegisterDescriptorSets(paths []string) error {
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("descriptor set: %w", err)
		}
		set := &descriptorpb.FileDescriptorSet{}
		if err := proto.Unmarshal(b, set); err != nil {
			return fmt.Errorf("descriptor set %s does not decode (want the output of protoc --include_imports --descriptor_set_out): %w", path, err)
		}
		if err := RegisterFileSet(path, set); err != nil {
			return err
		}
	}
	return nil
}

// RegisterFileSet registers the files of one descriptor set, named in
// errors by source, as RegisterDescriptorSets does.
func RegisterFileSet(source string, set *descriptorpb.FileDescriptorSet) error {
	byPath := make(map[string]*descriptorpb.FileDescriptorProto, len(set.GetFile()))
	for _, f := range set.GetFile() {
		byPath[f.GetName()] = f
	}
	done := make(map[string]bool, len(byPath))
	// visit registers a file after the files it imports, whatever their
	// order in the set.
	var visit func(f *descriptorpb.FileDescriptorProto) error
	visit = func(f *descriptorpb.FileDescriptorProto) error {
		if done[f.GetName()] {
			return nil
		}
		done[f.GetName()] = true
		for _, dep := range f.GetDependency() {
			if d, ok := byPath[dep]; ok {
				if err := visit(d); err != nil {
					return err
				}
			}
		}
		return registerFile(source, f)
	}
	for _, f := range set.GetFile() {
		if err := visit(f); err != nil {
			return err
		}
	}
	return nil
}

func registerFile(source string, f *descriptorpb.FileDescriptorProto) error {
	fd, buildErr := protodesc.NewFile(f, protoregistry.GlobalFiles)
	if prev, err := protoregistry.GlobalFiles.FindFileByPath(f.GetName()); err == nil {
		// A registered file that this protobuf runtime cannot rebuild from
		// the set (fd is nil: a descriptor.proto newer than the runtime,
		// say) is used as it is: the registered one is the one the runtime
		// knows.
		if fd != nil {
			if err := sameMessages(prev.Messages(), fd.Messages()); err != nil {
				return fmt.Errorf("descriptor set %s: file %s conflicts with the one already registered: %w", source, fd.Path(), err)
			}
		}
		return nil
	}
	if buildErr != nil {
		return fmt.Errorf("descriptor set %s: file %s: %w (build the set with protoc --include_imports)", source, f.GetName(), buildErr)
	}
	if err := noConflict(fd); err != nil {
		return fmt.Errorf("descriptor set %s: file %s: %w", source, fd.Path(), err)
	}
	if err := protoregistry.GlobalFiles.RegisterFile(fd); err != nil {
		return fmt.Errorf("descriptor set %s: file %s: %w", source, fd.Path(), err)
	}
	return registerTypes(source, fd.Path(), fd.Messages(), fd.Enums())
}

// noConflict checks what RegisterFile would panic over: a package or a
// top-level name that another file already defines.
func noConflict(fd protoreflect.FileDescriptor) error {
	for name := fd.Package(); name != ""; name = name.Parent() {
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName(name); err == nil {
			return fmt.Errorf("its package %s is the name of %s in %s", fd.Package(), d.FullName(), d.ParentFile().Path())
		}
	}
	check := func(d protoreflect.Descriptor) error {
		if prev, err := protoregistry.GlobalFiles.FindDescriptorByName(d.FullName()); err == nil {
			return fmt.Errorf("%s is already defined by %s", d.FullName(), prev.ParentFile().Path())
		}
		if _, err := protoregistry.GlobalTypes.FindMessageByName(d.FullName()); err == nil {
			return fmt.Errorf("%s is already a registered message", d.FullName())
		}
		return nil
	}
	for i := 0; i < fd.Messages().Len(); i++ {
		if err := check(fd.Messages().Get(i)); err != nil {
			return err
		}
	}
	for i := 0; i < fd.Enums().Len(); i++ {
		if err := check(fd.Enums().Get(i)); err != nil {
			return err
		}
	}
	for i := 0; i < fd.Services().Len(); i++ {
		if err := check(fd.Services().Get(i)); err != nil {
			return err
		}
	}
	for i := 0; i < fd.Extensions().Len(); i++ {
		if err := check(fd.Extensions().Get(i)); err != nil {
			return err
		}
	}
	return nil
}

// registerTypes registers the messages and enums, nested ones too.
func registerTypes(source, path string, msgs protoreflect.MessageDescriptors, enums protoreflect.EnumDescriptors) error {
	for i := 0; i < enums.Len(); i++ {
		if err := protoregistry.GlobalTypes.RegisterEnum(dynamicpb.NewEnumType(enums.Get(i))); err != nil {
			return fmt.Errorf("descriptor set %s: file %s: %w", source, path, err)
		}
	}
	for i := 0; i < msgs.Len(); i++ {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		if err := protoregistry.GlobalTypes.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
			return fmt.Errorf("descriptor set %s: file %s: %w", source, path, err)
		}
		if err := registerTypes(source, path, md.Messages(), md.Enums()); err != nil {
			return err
		}
	}
	return nil
}

// sameMessages checks that the registered messages (have) define every
// field of the set's (want), with the same number, name, cardinality and
// type: a registered file may be a newer version with more fields, but not
// a different one.
func sameMessages(have, want protoreflect.MessageDescriptors) error {
	for i := 0; i < want.Len(); i++ {
		w := want.Get(i)
		h := have.ByName(w.Name())
		if h == nil {
			return fmt.Errorf("the registered file has no message %s", w.FullName())
		}
		for j := 0; j < w.Fields().Len(); j++ {
			wf := w.Fields().Get(j)
			hf := h.Fields().ByNumber(wf.Number())
			if hf == nil || hf.Name() != wf.Name() || hf.Kind() != wf.Kind() || hf.Cardinality() != wf.Cardinality() ||
				typeName(hf) != typeName(wf) {
				return fmt.Errorf("field %s (number %d) differs from the registered one", wf.FullName(), wf.Number())
			}
		}
		if err := sameMessages(h.Messages(), w.Messages()); err != nil {
			return err
		}
	}
	return nil
}

// typeName is the message or enum type of a field, "" for scalars.
func typeName(f protoreflect.FieldDescriptor) protoreflect.FullName {
	switch {
	case f.Message() != nil:
		return f.Message().FullName()
	case f.Enum() != nil:
		return f.Enum().FullName()
	}
	return ""
}
