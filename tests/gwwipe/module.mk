# What OpenSSL leaves of the gateway's TLS exchanges with the broker in the
# memory it frees: a program of its own, because its allocator hooks must
# be in place before OpenSSL allocates anything.
UNITS += gwwipe
test_gwwipe_SRCS := tests/gwwipe/main.c tests/gateway/pki.c
test_gwwipe_LIBS := gateway common
# Recursive: GATEWAY_LDLIBS is set by gateway/module.mk, included later.
test_gwwipe_LDLIBS = $(GATEWAY_LDLIBS)
