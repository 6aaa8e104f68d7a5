# Provider documents carry a schema; captures come from end users' browsers.
FUZZ += schema
fuzz_schema_SRCS := fuzz/schema/fuzz_schema.c
fuzz_schema_LIBS := unpriv
fuzz_schema_LDLIBS := -ljansson
