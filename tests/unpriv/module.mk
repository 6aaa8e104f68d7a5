# The unpriv/ unit tests: one program, one cmocka group per file, against a
# fake keyholder (fakekh.c) that speaks the real protocol.
UNITS += unpriv
test_unpriv_SRCS := $(wildcard tests/unpriv/*.c)
test_unpriv_LIBS := unpriv imsg policy common
# Recursive: UNPRIV_LDLIBS is set by unpriv/module.mk, included later.
test_unpriv_LDLIBS = $(UNPRIV_LDLIBS) -lseccomp -lcap
