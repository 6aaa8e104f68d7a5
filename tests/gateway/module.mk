# The gateway/ unit tests: one program, one cmocka group per file.
UNITS += gateway
test_gateway_SRCS := $(wildcard tests/gateway/*.c)
test_gateway_LIBS := gateway common
# Recursive: GATEWAY_LDLIBS is set by gateway/module.mk, included later.
test_gateway_LDLIBS = $(GATEWAY_LDLIBS)
