# Provider documents come from operators and, through them, from anywhere.
FUZZ += provider
fuzz_provider_SRCS := fuzz/provider/fuzz_provider.c
fuzz_provider_LIBS := unpriv
fuzz_provider_LDLIBS := -ljansson
